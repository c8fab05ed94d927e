package guest

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// The guest's side of the wire: a hand-written decoder for the Request and
// encoder for the Response. encoding/json works by reflection, which costs
// ~15× more inside wasm than natively and was most of a guest call's time
// (docs/benchmarks.md); this code does the same job without it. It decodes
// exactly as encoding/json with UseNumber does (object values as
// map[string]any, numbers as json.Number, invalid UTF-8 as U+FFFD, the last
// of duplicate keys wins, unknown keys ignored); wire_test.go holds the two
// side by side on the same inputs.

// maxDepth is encoding/json's nesting limit.
const maxDepth = 10000

type wireError struct {
	off int
	msg string
}

func (e *wireError) Error() string { return fmt.Sprintf("%s at offset %d", e.msg, e.off) }

type decoder struct {
	b     []byte
	i     int
	depth int
	raw   bool   // ops keep data and current as bytes (RegisterRaw)
	ascii bool   // the last string read was all ASCII, without escapes
	slab  []Op   // ops are allocated in chunks
	table string // the last table name read, reused while it repeats
}

// DecodeRequest parses a Request JSON as encoding/json would with
// UseNumber, without reflection.
func DecodeRequest(b []byte) (*Request, error) { return decodeRequest(b, false) }

func decodeRequest(b []byte, raw bool) (*Request, error) {
	d := &decoder{b: b, raw: raw}
	req := &Request{}
	if err := d.request(req); err != nil {
		return nil, err
	}
	d.ws()
	if d.i != len(d.b) {
		return nil, d.errf("invalid character %q after top-level value", d.b[d.i])
	}
	return req, nil
}

func (d *decoder) errf(format string, args ...any) error {
	return &wireError{off: d.i, msg: fmt.Sprintf(format, args...)}
}

func (d *decoder) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// peek returns the next non-space byte, or 0 at the end.
func (d *decoder) peek() byte {
	d.ws()
	if d.i < len(d.b) {
		return d.b[d.i]
	}
	return 0
}

func (d *decoder) expect(c byte) error {
	if d.peek() != c {
		if d.i >= len(d.b) {
			return d.errf("unexpected end of JSON input")
		}
		return d.errf("invalid character %q, want %q", d.b[d.i], c)
	}
	d.i++
	return nil
}

// literal consumes null, true or false.
func (d *decoder) literal(word string) bool {
	if len(d.b)-d.i >= len(word) && string(d.b[d.i:d.i+len(word)]) == word {
		d.i += len(word)
		return true
	}
	return false
}

// null consumes a null if one comes next.
func (d *decoder) null() bool {
	return d.peek() == 'n' && d.literal("null")
}

// object calls field for each key of an object; field must consume the value.
func (d *decoder) object(field func(key []byte) error) error {
	if err := d.expect('{'); err != nil {
		return err
	}
	if d.depth++; d.depth > maxDepth {
		return d.errf("exceeded max depth")
	}
	if d.peek() == '}' {
		d.i++
		d.depth--
		return nil
	}
	for {
		if d.peek() != '"' {
			return d.errf("object key is not a string")
		}
		key, err := d.strBytes()
		if err != nil {
			return err
		}
		if err := d.expect(':'); err != nil {
			return err
		}
		if err := field(key); err != nil {
			return err
		}
		switch d.peek() {
		case ',':
			d.i++
		case '}':
			d.i++
			d.depth--
			return nil
		default:
			return d.errf("after object value: want , or }")
		}
	}
}

// array calls elem for each element; elem must consume the value.
func (d *decoder) array(elem func() error) error {
	if err := d.expect('['); err != nil {
		return err
	}
	if d.depth++; d.depth > maxDepth {
		return d.errf("exceeded max depth")
	}
	if d.peek() == ']' {
		d.i++
		d.depth--
		return nil
	}
	for {
		if err := elem(); err != nil {
			return err
		}
		switch d.peek() {
		case ',':
			d.i++
		case ']':
			d.i++
			d.depth--
			return nil
		default:
			return d.errf("after array element: want , or ]")
		}
	}
}

func (d *decoder) request(req *Request) error {
	if d.null() {
		return nil
	}
	return d.object(func(key []byte) error {
		switch fieldName(key, "abi", "request_id", "now", "caller", "settings", "ops") {
		case "abi":
			return d.int(&req.ABI)
		case "request_id":
			return d.string(&req.RequestID)
		case "now":
			if d.null() {
				return nil
			}
			if d.peek() != '"' {
				return d.errf("now: want a string")
			}
			start := d.i
			if _, err := d.strBytes(); err != nil {
				return err
			}
			// As encoding/json does: the raw token, escapes and all.
			if err := req.Now.UnmarshalJSON(d.b[start:d.i]); err != nil {
				return d.errf("now: %v", err)
			}
			return nil
		case "caller":
			return d.caller(&req.Caller)
		case "settings":
			if d.null() {
				req.Settings = nil
				return nil
			}
			if req.Settings == nil {
				req.Settings = map[string]string{}
			}
			return d.object(func(k []byte) error {
				var v string
				if err := d.string(&v); err != nil {
					return err
				}
				req.Settings[string(k)] = v
				return nil
			})
		case "ops":
			if d.null() {
				req.Ops = nil
				return nil
			}
			// As encoding/json does, a repeated "ops" decodes into the
			// elements already there.
			old := req.Ops[:cap(req.Ops)]
			req.Ops = req.Ops[:0]
			if req.Ops == nil {
				req.Ops = []*Op{}
			}
			return d.array(func() error {
				n := len(req.Ops)
				if d.null() {
					req.Ops = append(req.Ops, nil)
					return nil
				}
				var op *Op
				if n < len(old) && old[n] != nil {
					op = old[n]
				} else {
					if len(d.slab) == 0 {
						d.slab = make([]Op, 32)
					}
					op, d.slab = &d.slab[0], d.slab[1:]
				}
				req.Ops = append(req.Ops, op)
				return d.op(op)
			})
		}
		return d.skip()
	})
}

func (d *decoder) caller(c *Caller) error {
	if d.null() {
		return nil
	}
	return d.object(func(key []byte) error {
		switch fieldName(key, "user_id", "claims") {
		case "user_id":
			return d.string(&c.UserID)
		case "claims":
			return d.objectInto(&c.Claims)
		}
		return d.skip()
	})
}

func (d *decoder) op(op *Op) error {
	return d.object(func(key []byte) error {
		switch fieldName(key, "index", "op", "table", "id", "data", "current", "exists") {
		case "index":
			return d.int(&op.Index)
		case "op":
			if err := d.string(&op.Op); err != nil {
				return err
			}
			switch op.Op { // the usual values share one copy
			case "PUT":
				op.Op = "PUT"
			case "PATCH":
				op.Op = "PATCH"
			case "DELETE":
				op.Op = "DELETE"
			}
			return nil
		case "table":
			if d.null() {
				return nil
			}
			if d.peek() != '"' {
				return d.errf("want a string")
			}
			b, err := d.strBytes()
			if err != nil {
				return err
			}
			if string(b) != d.table {
				d.table = string(b)
			}
			op.Table = d.table
			return nil
		case "id":
			return d.string(&op.ID)
		case "data":
			if d.raw {
				return d.rawObject(&op.RawData)
			}
			return d.objectInto(&op.Data)
		case "current":
			if d.raw {
				return d.rawObject(&op.RawCurrent)
			}
			return d.objectInto(&op.Current)
		case "exists":
			if d.null() {
				return nil
			}
			switch {
			case d.literal("true"):
				op.Exists = true
			case d.literal("false"):
				op.Exists = false
			default:
				return d.errf("exists: want a boolean")
			}
			return nil
		}
		return d.skip()
	})
}

// fieldName matches a key to one of a struct's JSON names as encoding/json
// does: exactly, or else ignoring ASCII case. "" means unknown.
func fieldName(key []byte, names ...string) string {
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
func (d *decoder) objectInto(m *map[string]any) error {
	if d.null() {
		*m = nil
		return nil
	}
	if d.peek() != '{' {
		return d.errf("want an object")
	}
	if *m == nil {
		*m = make(map[string]any, 8)
	}
	return d.fields(*m)
}

func (d *decoder) fields(m map[string]any) error {
	return d.object(func(key []byte) error {
		v, err := d.value()
		if err != nil {
			return err
		}
		m[string(key)] = v
		return nil
	})
}

// DecodeObject decodes a JSON object as encoding/json does into a
// map[string]any with UseNumber; nil or null is an empty map.
func DecodeObject(b []byte) (map[string]any, error) {
	m := map[string]any{}
	if b == nil {
		return m, nil
	}
	d := &decoder{b: b}
	if d.null() {
		return m, d.end(nil)
	}
	if d.peek() != '{' {
		return nil, d.errf("want an object")
	}
	if err := d.fields(m); err != nil {
		return nil, err
	}
	return m, d.end(nil)
}

// rawObject keeps an object's bytes (null: nil); a repeated key's last
// value wins.
func (d *decoder) rawObject(p *[]byte) error {
	if d.null() {
		*p = nil
		return nil
	}
	if d.peek() != '{' {
		return d.errf("want an object")
	}
	start := d.i
	if err := d.skipObject(); err != nil {
		return err
	}
	*p = d.b[start:d.i:d.i]
	return nil
}

// skipObject consumes an object by its brackets and strings only, in one
// loop: the members are checked when read (Members, Fields), not here.
func (d *decoder) skipObject() error {
	b := d.b
	depth := 0
	for i := d.i; i < len(b); {
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
				d.i = len(b)
				return d.errf("unexpected end of JSON input")
			}
			i++ // the closing quote
		case '{', '[':
			if depth++; depth > maxDepth {
				d.i = i
				return d.errf("exceeded max depth")
			}
			i++
		case '}', ']':
			i++
			if depth--; depth == 0 {
				d.i = i
				return nil
			}
		default:
			i++
		}
	}
	d.i = len(b)
	return d.errf("unexpected end of JSON input")
}

// skipRaw consumes and checks one value without building it.
func (d *decoder) skipRaw() error {
	switch c := d.peek(); {
	case c == '{':
		return d.object(func([]byte) error { return d.skipRaw() })
	case c == '[':
		return d.array(d.skipRaw)
	case c == '"':
		_, err := d.strBytes()
		return err
	case c == '-' || ('0' <= c && c <= '9'):
		_, err := d.numberSpan()
		return err
	case c == 't' && d.literal("true"), c == 'f' && d.literal("false"), c == 'n' && d.literal("null"):
		return nil
	case c == 0:
		return d.errf("unexpected end of JSON input")
	}
	return d.errf("invalid character %q looking for beginning of value", d.b[d.i])
}

// Members reads the members of a JSON object one at a time without
// allocating (keys with escapes excepted):
//
//	m := guest.NewMembers(obj)
//	for m.Next() {
//		use(m.Key(), m.Value())
//	}
//	if err := m.Err(); err != nil { … }
//
// A nil object has no members.
type Members struct {
	d          decoder
	state      uint8 // 0: before the object, 1: inside, 2: done
	key, value []byte
	str        []byte
	isStr      bool
	ascii      bool
	err        error
}

// NewMembers starts reading obj.
func NewMembers(obj []byte) Members { return Members{d: decoder{b: obj}} }

// Next moves to the next member; false at the end or on an error.
func (m *Members) Next() bool {
	d := &m.d
	switch m.state {
	case 2:
		return false
	case 0:
		if d.b == nil {
			m.state = 2
			return false
		}
		if m.err = d.expect('{'); m.err != nil {
			m.state = 2
			return false
		}
		m.state = 1
		if d.peek() == '}' {
			d.i++
			m.finish()
			return false
		}
	default:
		switch d.peek() {
		case ',':
			d.i++
		case '}':
			d.i++
			m.finish()
			return false
		default:
			m.fail(d.errf("after object value: want , or }"))
			return false
		}
	}
	if d.peek() != '"' {
		m.fail(d.errf("object key is not a string"))
		return false
	}
	key, err := d.strBytes()
	if err != nil {
		m.fail(err)
		return false
	}
	if err := d.expect(':'); err != nil {
		m.fail(err)
		return false
	}
	m.key, m.isStr, m.str, m.ascii = key, d.peek() == '"', nil, false
	start := d.i
	if m.isStr {
		m.str, err = d.strBytes()
		m.ascii = d.ascii
	} else {
		err = d.skipRaw()
	}
	if err != nil {
		m.fail(err)
		return false
	}
	m.value = d.b[start:d.i:d.i]
	return true
}

func (m *Members) fail(err error) { m.err, m.state = err, 2 }

func (m *Members) finish() {
	m.state = 2
	if m.d.ws(); m.d.i != len(m.d.b) {
		m.err = m.d.errf("invalid character %q after object", m.d.b[m.d.i])
	}
}

// Key is the current member's key, unescaped.
func (m *Members) Key() []byte { return m.key }

// Value is the current member's value as JSON bytes.
func (m *Members) Value() []byte { return m.value }

// String returns the current value's contents, unescaped, when it is a
// JSON string, and whether they are all ASCII.
func (m *Members) String() (s []byte, ascii, ok bool) { return m.str, m.ascii, m.isStr }

// Err is the error that ended the scan, if any.
func (m *Members) Err() error { return m.err }

// Fields calls fn with the key (unescaped) and the value's JSON bytes of
// each member of the JSON object obj, in order, until fn returns false.
// Both alias obj unless the key has escapes. A nil obj has no fields.
func Fields(obj []byte, fn func(key, value []byte) bool) error {
	m := NewMembers(obj)
	for m.Next() {
		if !fn(m.Key(), m.Value()) {
			return nil
		}
	}
	return m.Err()
}

// Elements calls fn with the JSON bytes of each element of the JSON array
// arr, in order, until fn returns false.
func Elements(arr []byte, fn func(value []byte) bool) error {
	d := &decoder{b: arr}
	err := d.array(func() error {
		d.ws()
		start := d.i
		if err := d.skipRaw(); err != nil {
			return err
		}
		if !fn(d.b[start:d.i:d.i]) {
			return errStop
		}
		return nil
	})
	return d.end(err)
}

// Unquote returns the contents of the JSON string s, unescaped (invalid
// UTF-8 as U+FFFD, as decoding does). The result aliases s when s has no
// escapes.
func Unquote(s []byte) ([]byte, error) {
	d := &decoder{b: s}
	if d.peek() != '"' {
		return nil, d.errf("not a string")
	}
	b, err := d.strBytes()
	if err != nil {
		return nil, err
	}
	if err := d.end(nil); err != nil {
		return nil, err
	}
	return b, nil
}

// end finishes a scan: a stop by the callback is no error, and nothing but
// space may follow the value.
func (d *decoder) end(err error) error {
	if err == errStop {
		return nil
	}
	if err == nil {
		if d.ws(); d.i != len(d.b) {
			err = d.errf("invalid character %q after the value", d.b[d.i])
		}
	}
	return err
}

var errStop = errors.New("stop")

// MergeObjects returns the JSON object of base with patch's members set
// over it (a PATCH applied to a stored document): base's members in order,
// with patch's value where patch has the key, then patch's other members.
// Of repeated keys the last value wins, as when decoding into a map.
func MergeObjects(base, patch []byte) ([]byte, error) {
	type member struct {
		key   string
		value []byte
	}
	var pm []member
	at := map[string]int{}
	err := Fields(patch, func(k, v []byte) bool {
		if j, ok := at[string(k)]; ok {
			pm[j].value = v
			return true
		}
		at[string(k)] = len(pm)
		pm = append(pm, member{string(k), v})
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("patch: %w", err)
	}
	var bm []member
	bat := map[string]int{}
	err = Fields(base, func(k, v []byte) bool {
		if j, ok := at[string(k)]; ok {
			v = pm[j].value
		}
		if j, ok := bat[string(k)]; ok {
			bm[j].value = v
			return true
		}
		bat[string(k)] = len(bm)
		bm = append(bm, member{string(k), v})
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("current: %w", err)
	}
	for _, m := range pm {
		if _, ok := bat[m.key]; !ok {
			bm = append(bm, m)
		}
	}
	out := make([]byte, 0, len(base)+len(patch)+2)
	out = append(out, '{')
	for i, m := range bm {
		if i > 0 {
			out = append(out, ',')
		}
		out = appendString(out, m.key)
		out = append(out, ':')
		out = append(out, m.value...)
	}
	return append(out, '}'), nil
}

// value decodes any JSON value as encoding/json does into an interface{}.
func (d *decoder) value() (any, error) {
	switch c := d.peek(); {
	case c == '{':
		m := make(map[string]any, 8)
		if err := d.fields(m); err != nil {
			return nil, err
		}
		return m, nil
	case c == '[':
		l := []any{}
		err := d.array(func() error {
			v, err := d.value()
			l = append(l, v)
			return err
		})
		if err != nil {
			return nil, err
		}
		return l, nil
	case c == '"':
		b, err := d.strBytes()
		if err != nil {
			return nil, err
		}
		return string(b), nil
	case c == 't' && d.literal("true"):
		return true, nil
	case c == 'f' && d.literal("false"):
		return false, nil
	case c == 'n' && d.literal("null"):
		return nil, nil
	case c == '-' || ('0' <= c && c <= '9'):
		n, err := d.number()
		if err != nil {
			return nil, err
		}
		return json.Number(n), nil
	case c == 0:
		return nil, d.errf("unexpected end of JSON input")
	}
	return nil, d.errf("invalid character %q looking for beginning of value", d.b[d.i])
}

// skip consumes one value of any kind.
func (d *decoder) skip() error {
	_, err := d.value()
	return err
}

// number consumes a JSON number and returns its text.
func (d *decoder) number() (string, error) {
	b, err := d.numberSpan()
	return string(b), err
}

func (d *decoder) numberSpan() ([]byte, error) {
	start := d.i
	b := d.b
	i := d.i
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
		d.i = i
		return nil, d.errf("invalid number")
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			d.i = i
			return nil, d.errf("invalid number: digit after the point")
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
			d.i = i
			return nil, d.errf("invalid number: digit in exponent")
		}
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
	}
	d.i = i
	return b[start:i], nil
}

// int decodes a number into an int field as encoding/json does; null
// leaves it alone.
func (d *decoder) int(p *int) error {
	if d.null() {
		return nil
	}
	c := d.peek()
	if c != '-' && (c < '0' || c > '9') {
		return d.errf("want a number")
	}
	s, err := d.number()
	if err != nil {
		return err
	}
	n, err := strconv.ParseInt(s, 10, 0)
	if err != nil {
		return d.errf("number %s is not an int", s)
	}
	*p = int(n)
	return nil
}

// string decodes a string field; null leaves it alone.
func (d *decoder) string(p *string) error {
	if d.null() {
		return nil
	}
	if d.peek() != '"' {
		return d.errf("want a string")
	}
	b, err := d.strBytes()
	if err != nil {
		return err
	}
	*p = string(b)
	return nil
}

// strBytes consumes a string and returns its contents, unescaped: a
// slice of the input when the string has no escapes and is valid UTF-8.
// d.ascii tells whether the contents are all ASCII.
func (d *decoder) strBytes() ([]byte, error) {
	d.i++ // the opening quote
	start := d.i
	b := d.b
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
			d.i = i + 1
			d.ascii = ascii
			return b[start:i], nil
		case c == '\\':
			return d.slowString(start)
		case c < ' ':
			d.i = i
			return nil, d.errf("invalid character %q in string literal", c)
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
	d.i = len(b)
	return nil, d.errf("unexpected end of JSON input")
}

// load64 reads 8 bytes at b[i:] as a little-endian word (one wasm load).
func load64(b []byte, i int) uint64 {
	_ = b[i+7]
	return *(*uint64)(unsafe.Pointer(&b[i]))
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
func (d *decoder) slowString(start int) ([]byte, error) {
	b := d.b
	out := make([]byte, 0, 16)
	i := start
	for i < len(b) {
		c := b[i]
		switch {
		case c == '"':
			d.i = i + 1
			d.ascii = false
			return out, nil
		case c < ' ':
			d.i = i
			return nil, d.errf("invalid character %q in string literal", c)
		case c == '\\':
			if i+1 >= len(b) {
				d.i = len(b)
				return nil, d.errf("unexpected end of JSON input")
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
					d.i = i
					return nil, d.errf("invalid \\u escape in string literal")
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
				d.i = i
				return nil, d.errf("invalid escape %q in string literal", e)
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
	d.i = len(b)
	return nil, d.errf("unexpected end of JSON input")
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

// EncodeResponse writes a Response as JSON without reflection for the
// values JSON decoding produces; other values in Verdict.Data go through
// encoding/json.
func EncodeResponse(r *Response) ([]byte, error) {
	out := make([]byte, 0, 32+48*len(r.Verdicts))
	out = append(out, `{"verdicts":`...)
	if r.Verdicts == nil {
		out = append(out, "null"...)
	} else {
		out = append(out, '[')
		for i := range r.Verdicts {
			v := &r.Verdicts[i]
			if i > 0 {
				out = append(out, ',')
			}
			out = append(out, `{"index":`...)
			out = strconv.AppendInt(out, int64(v.Index), 10)
			if v.Reject {
				out = append(out, `,"reject":true`...)
			}
			if v.Code != "" {
				out = append(out, `,"code":`...)
				out = appendString(out, v.Code)
			}
			if v.Reason != "" {
				out = append(out, `,"reason":`...)
				out = appendString(out, v.Reason)
			}
			if len(v.Data) > 0 {
				out = append(out, `,"data":`...)
				var err error
				if out, err = appendValue(out, v.Data); err != nil {
					return nil, err
				}
			}
			out = append(out, '}')
		}
		out = append(out, ']')
	}
	if r.Error != "" {
		out = append(out, `,"error":`...)
		out = appendString(out, r.Error)
	}
	return append(out, '}'), nil
}

func appendValue(out []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(out, "null"...), nil
	case string:
		return appendString(out, v), nil
	case bool:
		return strconv.AppendBool(out, v), nil
	case json.Number:
		if !validNumber(v) {
			return nil, fmt.Errorf("json: invalid number literal %q", string(v))
		}
		if v == "" {
			return append(out, '0'), nil
		}
		return append(out, v...), nil
	case int:
		return strconv.AppendInt(out, int64(v), 10), nil
	case int64:
		return strconv.AppendInt(out, v, 10), nil
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		out = append(out, '{')
		for i, k := range keys {
			if i > 0 {
				out = append(out, ',')
			}
			out = appendString(out, k)
			out = append(out, ':')
			var err error
			if out, err = appendValue(out, v[k]); err != nil {
				return nil, err
			}
		}
		return append(out, '}'), nil
	case []any:
		if v == nil {
			return append(out, "null"...), nil
		}
		out = append(out, '[')
		for i, e := range v {
			if i > 0 {
				out = append(out, ',')
			}
			var err error
			if out, err = appendValue(out, e); err != nil {
				return nil, err
			}
		}
		return append(out, ']'), nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(out, b...), nil
}

// validNumber reports whether s is a JSON number (or "", which
// encoding/json writes as 0).
func validNumber(s json.Number) bool {
	if s == "" {
		return true
	}
	d := decoder{b: []byte(s)}
	_, err := d.number()
	return err == nil && d.i == len(s)
}

const hexDigits = "0123456789abcdef"

// appendString quotes s as encoding/json does (HTML-safe, U+2028/2029
// escaped, invalid UTF-8 as U+FFFD).
func appendString(out []byte, s string) []byte {
	out = append(out, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= ' ' && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			out = append(out, s[start:i]...)
			switch c {
			case '"', '\\':
				out = append(out, '\\', c)
			case '\n':
				out = append(out, '\\', 'n')
			case '\r':
				out = append(out, '\\', 'r')
			case '\t':
				out = append(out, '\\', 't')
			default:
				out = append(out, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			out = append(out, s[start:i]...)
			out = append(out, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			out = append(out, s[start:i]...)
			out = append(out, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	out = append(out, s[start:]...)
	return append(out, '"')
}
