// Package wire is the JSON machinery of the guest SDK's side of the
// host↔guest wire: a lexer that decodes exactly as encoding/json with
// UseNumber does (object values as map[string]any, numbers as json.Number,
// invalid UTF-8 as U+FFFD, the last of duplicate keys wins) and an encoder
// of plain values, both without reflection. encoding/json works by
// reflection, which costs ~15× more inside wasm than natively and was most of
// a guest call's time (docs/benchmarks.md).
//
// It is internal so that a guest author sees only the SDK (package guest):
// the Request decoder, the Response encoder and the raw-object API there are
// built on it. It knows none of the SDK's types.
package wire

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// maxDepth is encoding/json's nesting limit.
const maxDepth = 10000

type wireError struct {
	off int
	msg string
}

func (e *wireError) Error() string { return fmt.Sprintf("%s at offset %d", e.msg, e.off) }

// Decoder reads JSON from B, at I. Its methods read one value each, as
// encoding/json with UseNumber would.
type Decoder struct {
	B     []byte
	I     int
	Depth int
	ASCII bool // the last string read was all ASCII, without escapes
}

func (d *Decoder) Errf(format string, args ...any) error {
	return &wireError{off: d.I, msg: fmt.Sprintf(format, args...)}
}

func (d *Decoder) WS() {
	for d.I < len(d.B) {
		switch d.B[d.I] {
		case ' ', '\t', '\n', '\r':
			d.I++
		default:
			return
		}
	}
}

// peek returns the next non-space byte, or 0 at the end.
func (d *Decoder) Peek() byte {
	d.WS()
	if d.I < len(d.B) {
		return d.B[d.I]
	}
	return 0
}

func (d *Decoder) Expect(c byte) error {
	if d.Peek() != c {
		if d.I >= len(d.B) {
			return d.Errf("unexpected end of JSON input")
		}
		return d.Errf("invalid character %q, want %q", d.B[d.I], c)
	}
	d.I++
	return nil
}

// literal consumes null, true or false.
func (d *Decoder) Literal(word string) bool {
	if len(d.B)-d.I >= len(word) && string(d.B[d.I:d.I+len(word)]) == word {
		d.I += len(word)
		return true
	}
	return false
}

// null consumes a null if one comes next.
func (d *Decoder) Null() bool {
	return d.Peek() == 'n' && d.Literal("null")
}

// object calls field for each key of an object; field must consume the value.
func (d *Decoder) Object(field func(key []byte) error) error {
	if err := d.Expect('{'); err != nil {
		return err
	}
	if d.Depth++; d.Depth > maxDepth {
		return d.Errf("exceeded max depth")
	}
	if d.Peek() == '}' {
		d.I++
		d.Depth--
		return nil
	}
	for {
		if d.Peek() != '"' {
			return d.Errf("object key is not a string")
		}
		key, err := d.StrBytes()
		if err != nil {
			return err
		}
		if err := d.Expect(':'); err != nil {
			return err
		}
		if err := field(key); err != nil {
			return err
		}
		switch d.Peek() {
		case ',':
			d.I++
		case '}':
			d.I++
			d.Depth--
			return nil
		default:
			return d.Errf("after object value: want , or }")
		}
	}
}

// array calls elem for each element; elem must consume the value.
func (d *Decoder) Array(elem func() error) error {
	if err := d.Expect('['); err != nil {
		return err
	}
	if d.Depth++; d.Depth > maxDepth {
		return d.Errf("exceeded max depth")
	}
	if d.Peek() == ']' {
		d.I++
		d.Depth--
		return nil
	}
	for {
		if err := elem(); err != nil {
			return err
		}
		switch d.Peek() {
		case ',':
			d.I++
		case ']':
			d.I++
			d.Depth--
			return nil
		default:
			return d.Errf("after array element: want , or ]")
		}
	}
}

// FieldName matches a key to one of a struct's JSON names as encoding/json
// does: exactly, or else ignoring ASCII case. "" means unknown.
func FieldName(key []byte, names ...string) string {
	for _, n := range names {
		if string(key) == n {
			return n
		}
	}
	for _, n := range names {
		if foldEqual(key, n) {
			return n
		}
	}
	return ""
}

// foldEqual compares as encoding/json's foldName does: ASCII letters
// upper-cased, other runes to the smallest rune of their fold set.
func foldEqual(a []byte, b string) bool {
	return string(fold(nil, a)) == string(fold(nil, []byte(b)))
}

func fold(out, in []byte) []byte {
	for i := 0; i < len(in); {
		if c := in[i]; c < utf8.RuneSelf {
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			out = append(out, c)
			i++
			continue
		}
		r, n := utf8.DecodeRune(in[i:])
		for {
			r2 := unicode.SimpleFold(r)
			if r2 <= r {
				r = r2
				break
			}
			r = r2
		}
		out = utf8.AppendRune(out, r)
		i += n
	}
	return out
}

// objectInto decodes an object into *m as encoding/json does into a
// map[string]any field: null sets it to nil, an object adds to it.
func (d *Decoder) ObjectInto(m *map[string]any) error {
	if d.Null() {
		*m = nil
		return nil
	}
	if d.Peek() != '{' {
		return d.Errf("want an object")
	}
	if *m == nil {
		*m = make(map[string]any, 8)
	}
	return d.Fields(*m)
}

func (d *Decoder) Fields(m map[string]any) error {
	return d.Object(func(key []byte) error {
		v, err := d.Value()
		if err != nil {
			return err
		}
		m[string(key)] = v
		return nil
	})
}

// rawObject keeps an object's bytes (null: nil); a repeated key's last
// value wins.
func (d *Decoder) RawObject(p *[]byte) error {
	if d.Null() {
		*p = nil
		return nil
	}
	if d.Peek() != '{' {
		return d.Errf("want an object")
	}
	start := d.I
	if err := d.SkipObject(); err != nil {
		return err
	}
	*p = d.B[start:d.I:d.I]
	return nil
}

// skipObject consumes an object by its brackets and strings only, in one
// loop: the members are checked when read (Members, Fields), not here.
func (d *Decoder) SkipObject() error {
	b := d.B
	depth := 0
	for i := d.I; i < len(b); {
		switch b[i] {
		case '"':
			i++
			for {
				for i+8 <= len(b) && !special8(load64(b, i)) {
					i += 8
				}
				if i >= len(b) {
					break
				}
				c := b[i]
				if c == '"' {
					break
				}
				if c == '\\' {
					i++
				}
				i++
			}
			if i >= len(b) {
				d.I = len(b)
				return d.Errf("unexpected end of JSON input")
			}
			i++ // the closing quote
		case '{', '[':
			if depth++; depth > maxDepth {
				d.I = i
				return d.Errf("exceeded max depth")
			}
			i++
		case '}', ']':
			i++
			if depth--; depth == 0 {
				d.I = i
				return nil
			}
		default:
			i++
		}
	}
	d.I = len(b)
	return d.Errf("unexpected end of JSON input")
}

// skipRaw consumes and checks one value without building it.
func (d *Decoder) SkipRaw() error {
	switch c := d.Peek(); {
	case c == '{':
		return d.Object(func([]byte) error { return d.SkipRaw() })
	case c == '[':
		return d.Array(d.SkipRaw)
	case c == '"':
		_, err := d.StrBytes()
		return err
	case c == '-' || ('0' <= c && c <= '9'):
		_, err := d.NumberSpan()
		return err
	case c == 't' && d.Literal("true"), c == 'f' && d.Literal("false"), c == 'n' && d.Literal("null"):
		return nil
	case c == 0:
		return d.Errf("unexpected end of JSON input")
	}
	return d.Errf("invalid character %q looking for beginning of value", d.B[d.I])
}

// end finishes a scan: a stop by the callback is no error, and nothing but
// space may follow the value.
func (d *Decoder) End(err error) error {
	if err == ErrStop {
		return nil
	}
	if err == nil {
		if d.WS(); d.I != len(d.B) {
			err = d.Errf("invalid character %q after the value", d.B[d.I])
		}
	}
	return err
}

var ErrStop = errors.New("stop")

// value decodes any JSON value as encoding/json does into an interface{}.
func (d *Decoder) Value() (any, error) {
	switch c := d.Peek(); {
	case c == '{':
		m := make(map[string]any, 8)
		if err := d.Fields(m); err != nil {
			return nil, err
		}
		return m, nil
	case c == '[':
		l := []any{}
		err := d.Array(func() error {
			v, err := d.Value()
			l = append(l, v)
			return err
		})
		if err != nil {
			return nil, err
		}
		return l, nil
	case c == '"':
		b, err := d.StrBytes()
		if err != nil {
			return nil, err
		}
		return string(b), nil
	case c == 't' && d.Literal("true"):
		return true, nil
	case c == 'f' && d.Literal("false"):
		return false, nil
	case c == 'n' && d.Literal("null"):
		return nil, nil
	case c == '-' || ('0' <= c && c <= '9'):
		n, err := d.Number()
		if err != nil {
			return nil, err
		}
		return json.Number(n), nil
	case c == 0:
		return nil, d.Errf("unexpected end of JSON input")
	}
	return nil, d.Errf("invalid character %q looking for beginning of value", d.B[d.I])
}

// skip consumes one value of any kind.
func (d *Decoder) Skip() error {
	_, err := d.Value()
	return err
}

// number consumes a JSON number and returns its text.
func (d *Decoder) Number() (string, error) {
	b, err := d.NumberSpan()
	return string(b), err
}

func (d *Decoder) NumberSpan() ([]byte, error) {
	start := d.I
	b := d.B
	i := d.I
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
	default:
		d.I = i
		return nil, d.Errf("invalid number")
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			d.I = i
			return nil, d.Errf("invalid number: digit after the point")
		}
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			d.I = i
			return nil, d.Errf("invalid number: digit in exponent")
		}
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
	}
	d.I = i
	return b[start:i], nil
}

// int decodes a number into an int field as encoding/json does; null
// leaves it alone.
func (d *Decoder) Int(p *int) error {
	if d.Null() {
		return nil
	}
	c := d.Peek()
	if c != '-' && (c < '0' || c > '9') {
		return d.Errf("want a number")
	}
	s, err := d.Number()
	if err != nil {
		return err
	}
	n, err := strconv.ParseInt(s, 10, 0)
	if err != nil {
		return d.Errf("number %s is not an int", s)
	}
	*p = int(n)
	return nil
}

// string decodes a string field; null leaves it alone.
func (d *Decoder) String(p *string) error {
	if d.Null() {
		return nil
	}
	if d.Peek() != '"' {
		return d.Errf("want a string")
	}
	b, err := d.StrBytes()
	if err != nil {
		return err
	}
	*p = string(b)
	return nil
}

// strBytes consumes a string and returns its contents, unescaped: a
// slice of the input when the string has no escapes and is valid UTF-8.
// d.ASCII tells whether the contents are all ASCII.
func (d *Decoder) StrBytes() ([]byte, error) {
	d.I++ // the opening quote
	start := d.I
	b := d.B
	i := start
	ascii := true
	for {
		// Eight bytes at a time while none is special: most of a request's
		// bytes are inside strings, and in wasm each loop turn costs.
		for i+8 <= len(b) && !special8(load64(b, i)) {
			i += 8
		}
		if i >= len(b) {
			break
		}
		c := b[i]
		switch {
		case c == '"':
			d.I = i + 1
			d.ASCII = ascii
			return b[start:i], nil
		case c == '\\':
			return d.slowString(start)
		case c < ' ':
			d.I = i
			return nil, d.Errf("invalid character %q in string literal", c)
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				return d.slowString(start) // invalid UTF-8 becomes U+FFFD
			}
			ascii = false
			i += size
		default:
			i++
		}
	}
	d.I = len(b)
	return nil, d.Errf("unexpected end of JSON input")
}

// load64 reads 8 bytes at b[i:] as a little-endian word (one wasm load).
func load64(b []byte, i int) uint64 {
	_ = b[i+7]
	return *(*uint64)(unsafe.Pointer(&b[i]))
}

// Load32 reads 4 bytes at b[i:] as a little-endian uint32 in one wasm load
// (encoding/binary's four byte loads and shifts cost as much as the rest
// of reading an index entry). Like load64 it assumes a little-endian
// machine: wasm, amd64, arm64.
func Load32(b []byte, i int) uint32 {
	_ = b[i+3]
	return *(*uint32)(unsafe.Pointer(&b[i]))
}

// special8 reports whether any of the 8 bytes in w may be '"', '\\', a
// control character or non-ASCII (it has no false negatives).
func special8(w uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	lt := (w - 0x20*ones) &^ w     // bytes < 0x20
	q := w ^ ('"' * ones)          // bytes == '"' become 0
	bs := w ^ ('\\' * ones)        // bytes == '\\' become 0
	zq := (q - ones) &^ q          // zero bytes of q
	zb := (bs - ones) &^ bs        // zero bytes of bs
	return (lt|zq|zb|w)&highs != 0 // w's high bits: non-ASCII
}

// slowString handles escapes and non-ASCII from start on.
func (d *Decoder) slowString(start int) ([]byte, error) {
	b := d.B
	out := make([]byte, 0, 16)
	i := start
	for i < len(b) {
		c := b[i]
		switch {
		case c == '"':
			d.I = i + 1
			d.ASCII = false
			return out, nil
		case c < ' ':
			d.I = i
			return nil, d.Errf("invalid character %q in string literal", c)
		case c == '\\':
			if i+1 >= len(b) {
				d.I = len(b)
				return nil, d.Errf("unexpected end of JSON input")
			}
			switch e := b[i+1]; e {
			case '"', '\\', '/':
				out = append(out, e)
				i += 2
			case 'b':
				out, i = append(out, '\b'), i+2
			case 'f':
				out, i = append(out, '\f'), i+2
			case 'n':
				out, i = append(out, '\n'), i+2
			case 'r':
				out, i = append(out, '\r'), i+2
			case 't':
				out, i = append(out, '\t'), i+2
			case 'u':
				r, ok := hex4(b, i+2)
				if !ok {
					d.I = i
					return nil, d.Errf("invalid \\u escape in string literal")
				}
				i += 6
				if utf16.IsSurrogate(r) {
					r2, ok := rune(-1), false
					if i+1 < len(b) && b[i] == '\\' && b[i+1] == 'u' {
						r2, ok = hex4(b, i+2)
					}
					if ok {
						if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
							i += 6
							out = utf8.AppendRune(out, dec)
							break
						}
					}
					r = utf8.RuneError
				}
				out = utf8.AppendRune(out, r)
			default:
				d.I = i
				return nil, d.Errf("invalid escape %q in string literal", e)
			}
		case c < utf8.RuneSelf:
			out = append(out, c)
			i++
		default:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				out = utf8.AppendRune(out, utf8.RuneError)
			} else {
				out = append(out, b[i:i+size]...)
			}
			i += size
		}
	}
	d.I = len(b)
	return nil, d.Errf("unexpected end of JSON input")
}

func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}
