package syncscope

import (
	"fmt"
	"strings"
)

// tokKind is the class of one SQL token.
type tokKind int

const (
	tEOF tokKind = iota
	tIdent
	tQuoted // "quoted identifier"
	tString // 'string literal'
	tInt
	tReal
	tOp // punctuation and operators
)

// token is one SQL token with its byte offset in the query text.
type token struct {
	kind tokKind
	text string // identifier (as written), unquoted string, number or operator
	pos  int
}

// is reports whether t is the keyword kw (case-insensitive) or the operator kw.
func (t token) is(kw string) bool {
	switch t.kind {
	case tIdent:
		return strings.EqualFold(t.text, kw)
	case tOp:
		return t.text == kw
	}
	return false
}

// ops lists the operators the lexer knows, longest first; the parser decides
// which of them the subset accepts, so an unsupported one is named, not garbled.
var ops = []string{"->>", "->", "::", "||", "&&", "<=", ">=", "!=", "<>", "==", "<<", ">>",
	"=", "<", ">", "(", ")", ",", ".", "*", "+", "-", "/", "%", "|", "&", "[", "]", ";"}

// lex splits a query into tokens.
func lex(src string) ([]token, error) {
	var toks []token
	i := 0
	for i < len(src) {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '-' && strings.HasPrefix(src[i:], "--"):
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case c == '/' && strings.HasPrefix(src[i:], "/*"):
			end := strings.Index(src[i+2:], "*/")
			if end < 0 {
				return nil, posErr(i, "unterminated comment")
			}
			i += end + 4
		case c == '_' || isLetter(c):
			j := i + 1
			for j < len(src) && (src[j] == '_' || isLetter(src[j]) || isDigit(src[j])) {
				j++
			}
			toks = append(toks, token{tIdent, src[i:j], i})
			i = j
		case isDigit(c):
			j := i
			for j < len(src) && isDigit(src[j]) {
				j++
			}
			kind := tInt
			if j < len(src) && src[j] == '.' && j+1 < len(src) && isDigit(src[j+1]) {
				kind = tReal
				j++
				for j < len(src) && isDigit(src[j]) {
					j++
				}
			}
			if j < len(src) && (src[j] == 'e' || src[j] == 'E') {
				return nil, posErr(i, "exponent in a number literal is not supported")
			}
			if j < len(src) && (isLetter(src[j]) || src[j] == '_') {
				return nil, posErr(i, "malformed number %q", src[i:j+1])
			}
			toks = append(toks, token{kind, src[i:j], i})
			i = j
		case c == '\'' || c == '"':
			s, n, ok := unquote(src[i:], c)
			if !ok {
				return nil, posErr(i, "unterminated %s", map[byte]string{'\'': "string", '"': "quoted identifier"}[c])
			}
			kind := tString
			if c == '"' {
				kind = tQuoted
			}
			toks = append(toks, token{kind, s, i})
			i += n
		default:
			op := ""
			for _, o := range ops {
				if strings.HasPrefix(src[i:], o) {
					op = o
					break
				}
			}
			if op == "" {
				return nil, posErr(i, "unexpected character %q", rune(c))
			}
			toks = append(toks, token{tOp, op, i})
			i += len(op)
		}
	}
	return append(toks, token{tEOF, "", len(src)}), nil
}

// unquote reads a quoted string starting at s[0] == q, where a doubled quote
// stands for one; it returns the text, the bytes consumed and whether it ended.
func unquote(s string, q byte) (string, int, bool) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		if s[i] != q {
			b.WriteByte(s[i])
			continue
		}
		if i+1 < len(s) && s[i+1] == q {
			b.WriteByte(q)
			i++
			continue
		}
		return b.String(), i + 1, true
	}
	return "", 0, false
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }

// sqlError is a problem at a byte offset of one query; Parse turns the offset
// into a line of the config file.
type sqlError struct {
	pos int
	msg string
}

func (e *sqlError) Error() string { return e.msg }

func posErr(pos int, format string, args ...any) error {
	return &sqlError{pos, fmt.Sprintf(format, args...)}
}
