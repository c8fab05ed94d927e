package syncscope

import (
	"strconv"
	"strings"
)

// value parses an operand that must be a value, not a condition.
func (p *parser) value() (*node, error) {
	pos := p.peek().pos
	x, err := p.unary()
	if err == nil && !isValue(x) {
		err = posErr(pos, "a condition cannot be compared (%s)", x.src)
	}
	return x, err
}

// unary parses a primary value and any -> / ->> steps after it.
func (p *parser) unary() (*node, error) {
	start := p.peek().pos
	x, err := p.primary()
	if err != nil {
		return nil, err
	}
	for p.peek().is("->") || p.peek().is("->>") {
		if !isValue(x) {
			return nil, posErr(p.peek().pos, "%s on a condition", p.peek().text)
		}
		op := p.next()
		k := p.next()
		var steps []pathStep
		switch k.kind {
		case tString:
			// As SQLite (3.45 on) reads it: a path when it starts with $, else one key, dots and all.
			if !strings.HasPrefix(k.text, "$") {
				steps = []pathStep{{key: k.text}}
			} else if steps, err = parsePath(k.text); err != nil {
				return nil, posErr(k.pos, "%v", err)
			}
		case tInt:
			n, err := strconv.Atoi(k.text)
			if err != nil {
				return nil, posErr(k.pos, "array index %s out of range", k.text)
			}
			steps = []pathStep{{index: n, isIdx: true}}
		default:
			return nil, posErr(k.pos, "expected a key ('k' or an index) after %s, found %s", op.text, describe(k))
		}
		x = p.span(&node{kind: nJSON, l: x, path: steps, text: op.text == "->>", flags: x.flags}, start)
	}
	return x, nil
}

func (p *parser) primary() (*node, error) {
	t := p.next()
	lit := func(v value) (*node, error) { return p.span(&node{kind: nLit, lit: v}, t.pos), nil }
	switch t.kind {
	case tString:
		return lit(value{k: kText, s: t.text})
	case tInt:
		return intLit(p, t, false)
	case tReal:
		f, _ := strconv.ParseFloat(t.text, 64)
		return lit(value{k: kReal, f: f})
	case tQuoted:
		if p.accept(".") {
			name := p.next()
			if name.kind != tIdent && name.kind != tQuoted {
				return nil, posErr(name.pos, "expected a column after %s., found %s", t.text, describe(name))
			}
			return p.column(t.text, name)
		}
		return p.column("", t)
	case tOp:
		switch {
		case t.is("-") && (p.peek().kind == tInt || p.peek().kind == tReal):
			n := p.next()
			if n.kind == tInt {
				return intLit(p, n, true)
			}
			f, _ := strconv.ParseFloat(n.text, 64)
			return p.span(&node{kind: nLit, lit: value{k: kReal, f: -f}}, t.pos), nil
		case t.is("("):
			if p.peek().is("SELECT") {
				return nil, posErr(t.pos, "a subquery is only supported as IN (SELECT …)")
			}
			x, err := p.or()
			if err != nil {
				return nil, err
			}
			if err := p.expect(")"); err != nil {
				return nil, err
			}
			x.src = "(" + x.src + ")"
			return x, nil
		}
		return nil, p.unexpected(t)
	case tEOF:
		return nil, posErr(t.pos, "unexpected end of query")
	}
	up := strings.ToUpper(t.text)
	switch up {
	case "TRUE":
		return lit(value{k: kInt, i: 1})
	case "FALSE":
		return lit(value{k: kInt, i: 0})
	case "NULL":
		return lit(value{})
	case "ARRAY", "ROW":
		if p.peek().is("[") || p.peek().is("(") {
			return nil, posErr(t.pos, "%s literals are not supported (use a JSON array string)", up)
		}
	}
	if c, ok := unsupportedWords[up]; ok {
		return nil, posErr(t.pos, "%s is not supported", c)
	}
	if reserved[up] {
		return nil, p.unexpected(t)
	}
	if p.peek().is(".") {
		p.next()
		name := p.next()
		if name.kind != tIdent && name.kind != tQuoted {
			return nil, posErr(name.pos, "expected a name after %s., found %s", t.text, describe(name))
		}
		if p.peek().is("(") {
			return p.call(t, strings.ToLower(t.text)+"."+strings.ToLower(name.text))
		}
		return p.qualified(t, name)
	}
	if p.peek().is("(") {
		return p.call(t, strings.ToLower(t.text))
	}
	return p.column("", t)
}

func intLit(p *parser, t token, neg bool) (*node, error) {
	s := t.text
	if neg {
		s = "-" + s
	}
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return p.span(&node{kind: nLit, lit: value{k: kInt, i: i}}, t.pos), nil
	}
	f, _ := strconv.ParseFloat(s, 64) // SQLite reads an integer literal past int64 as a real
	return p.span(&node{kind: nLit, lit: value{k: kReal, f: f}}, t.pos), nil
}

// call parses the parameter functions of the subset; fn is lower-case.
func (p *parser) call(t token, fn string) (*node, error) {
	p.next() // (
	var arg *token
	if !p.peek().is(")") {
		a := p.next()
		arg = &a
	}
	if err := p.expect(")"); err != nil {
		if arg != nil && arg.kind == tString {
			return nil, posErr(t.pos, "%s() takes at most one argument", fn)
		}
		return nil, err
	}
	n := &node{}
	needKey := func() (string, error) {
		if arg == nil || arg.kind != tString {
			return "", posErr(t.pos, "%s() takes one string argument", fn)
		}
		return arg.text, nil
	}
	noArg := func() error {
		if arg != nil {
			return posErr(t.pos, "%s() takes no argument", fn)
		}
		return nil
	}
	var err error
	switch fn {
	case "auth.user_id", "request.user_id":
		err = noArg()
		n.kind, n.flags = nUserID, fAuth
	case "auth.parameter":
		var k string
		k, err = needKey()
		n.kind, n.flags, n.path = nClaims, fAuth, []pathStep{{key: k}}
	case "auth.parameters", "request.jwt":
		err = noArg()
		n.kind, n.flags = nClaims, fAuth
	case "subscription.parameter", "connection.parameter":
		_, err = needKey()
		n.kind, n.flags = nClient, fClient
	case "subscription.parameters", "connection.parameters", "request.parameters":
		err = noArg()
		n.kind, n.flags = nClient, fClient
	default:
		return nil, posErr(t.pos, "function %s() is not supported", fn)
	}
	if err != nil {
		return nil, err
	}
	legacy := strings.HasPrefix(fn, "request.")
	switch {
	case legacy && p.mode == modeStream:
		return nil, posErr(t.pos, "%s() is sync rules syntax; streams use auth.*, subscription.* and connection.*", fn)
	case !legacy && p.mode != modeStream:
		return nil, posErr(t.pos, "%s() is sync streams syntax; bucket parameter queries use request.*", fn)
	case p.mode == modeData:
		return nil, posErr(t.pos, "%s() in a data query is not supported (data queries use bucket.*)", fn)
	}
	return p.span(n, t.pos), nil
}

// qualified resolves q.name: bucket.p, token_parameters.k, or table.column.
func (p *parser) qualified(q, name token) (*node, error) {
	switch strings.ToLower(q.text) {
	case "bucket":
		if p.mode != modeData {
			return nil, posErr(q.pos, "bucket.%s is only valid in a data query", name.text)
		}
		return p.span(&node{kind: nBucket, name: ident(name), flags: fBucket}, q.pos), nil
	case "token_parameters":
		if p.mode != modeParam {
			return nil, posErr(q.pos, "token_parameters.%s is only valid in a parameter query", name.text)
		}
		if ident(name) == "user_id" {
			return p.span(&node{kind: nUserID, flags: fAuth}, q.pos), nil
		}
		// Legacy custom claims lived under the token's "parameters" claim.
		return p.span(&node{kind: nClaims, flags: fAuth, path: []pathStep{{key: "parameters"}, {key: ident(name)}}}, q.pos), nil
	case "auth", "subscription", "connection", "request":
		return nil, posErr(q.pos, "%s.%s is a function: write %s.%s(…)", q.text, name.text, q.text, name.text)
	}
	return p.column(ident(q), name)
}

// column makes a column reference; a qualifier must name the query's table.
// Columns of a parameter query's items are resolved after FROM is read.
func (p *parser) column(qual string, t token) (*node, error) {
	n := p.span(&node{kind: nCol, name: ident(t), flags: fRow}, t.pos)
	n.qual = qual
	if p.mode == modeParam && p.table == "" {
		return n, nil
	}
	return n, p.check(n, t.pos)
}

// check verifies a column's qualifier against the table in scope.
func (p *parser) check(n *node, pos int) error {
	if p.table == "" {
		return posErr(pos, "column %s in a query without FROM", n.name)
	}
	if qual := n.qual; qual != "" {
		if qual != p.table && qual != p.alias {
			if p.outer != "" && qual == p.outer {
				return posErr(pos, "a correlated subquery (reference to %s.%s) is not supported", qual, n.name)
			}
			return posErr(pos, "unknown table %s", qual)
		}
		n.qual = ""
	}
	return nil
}

// resolve checks the columns of an expression parsed before FROM was known.
func (p *parser) resolve(n *node) error {
	if n == nil {
		return nil
	}
	if n.kind == nCol {
		return p.check(n, 0)
	}
	if err := p.resolve(n.l); err != nil {
		return err
	}
	return p.resolve(n.r)
}

// parsePath reads a JSON path of the subset: $ followed by .key, ."key" and [n].
func parsePath(path string) ([]pathStep, error) {
	var steps []pathStep
	i := 1
	for i < len(path) {
		switch path[i] {
		case '.':
			i++
			if i < len(path) && path[i] == '"' {
				end := strings.IndexByte(path[i+1:], '"')
				if end < 0 {
					return nil, errPath(path)
				}
				steps = append(steps, pathStep{key: path[i+1 : i+1+end]})
				i += end + 2
				continue
			}
			j := i
			for j < len(path) && path[j] != '.' && path[j] != '[' {
				j++
			}
			if j == i {
				return nil, errPath(path)
			}
			steps = append(steps, pathStep{key: path[i:j]})
			i = j
		case '[':
			end := strings.IndexByte(path[i:], ']')
			if end < 0 {
				return nil, errPath(path)
			}
			n, err := strconv.Atoi(path[i+1 : i+end])
			if err != nil || n < 0 {
				return nil, errPath(path)
			}
			steps = append(steps, pathStep{index: n, isIdx: true})
			i += end + 1
		default:
			return nil, errPath(path)
		}
	}
	return steps, nil
}

func errPath(path string) error {
	return &sqlError{msg: "JSON path " + strconv.Quote(path) + " is not supported ($, .key, .\"key\", [n])"}
}
