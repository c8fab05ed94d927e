// Package strictjson decodes outside JSON (a client's upload, a guest's
// replacement data) into syncgate values with the rules MongoDB needs: valid
// UTF-8, no duplicate keys, no operator, dotted or NUL keys in data, numbers
// that fit int64 or float64, bounded nesting. Objects keep their key order
// (syncgate.Doc).
//
// It knows no HTTP, no database and no guest: host/upload reads the batch
// envelope with it, host/sandbox a guest's data. Errors are Invalid
// *syncgate.Error values that say what is wrong and where.
package strictjson

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/syncgate/syncgate/host/syncgate"
)

// Decoder reads one strict JSON value token by token. It reads with
// jsontext (github.com/go-json-experiment/json), which does not allocate per
// token: encoding/json's Token boxed every token in an interface (issue #17
// reported the decoder at ≈ 14 % of /upload's CPU against a fast database;
// BenchmarkDecode went from ≈ 22 to ≈ 4.6 µs per row with this change).
//
// It builds no path string unless it reports an error (the path is a stack
// of keys and indexes), reads names and strings as raw values, and interns
// object keys, which repeat from row to row: one copy of each per Decoder.
type Decoder struct {
	dec      *jsontext.Decoder
	maxDepth int // deepest nesting inside data; 0: unbounded
	base     int // depth at which data starts counting
	isData   func(depth int, key string) bool
	root     string            // the path of the value Value reads
	path     []step            // where the value being read sits, below root
	keys     map[string]string // interned object keys
	recent   [16][2]string     // by place in its object: the last two keys seen there (key)
	shared   []byte            // Options.Shared
	strs     []string          // box's chunk
}

// step is one level of a path: an object key, or an array index (idx ≥ 0).
type step struct {
	key string
	idx int
}

// Bounds of key interning: a Decoder keeps at most maxKeys keys of at most
// maxKeyLen bytes (a hostile body of unique keys costs what it did before).
const (
	maxKeys   = 512
	maxKeyLen = 64
)

// Options shape a Decoder.
type Options struct {
	// MaxDepth bounds nesting inside data (0: unbounded). Depth counts from
	// the top of the input; data at depth Base+1 is one level deep.
	MaxDepth, Base int
	// IsData reports whether the value under key, in an object at depth,
	// starts data (where the key rules and NUL-free strings apply). nil: no
	// value outside Value(…, inData=true) is data.
	IsData func(depth int, key string) bool
	// Shared is the input a NewTokenReader stream reads in place, when
	// nobody writes it again: a string without escapes that lies in it is
	// then its own bytes, not a copy (one such value keeps the whole input
	// alive). A raw value from anywhere else, such as a reader's buffer
	// that the next read overwrites, is still copied.
	Shared []byte
}

// NewDecoder returns a Decoder of input, which must be valid UTF-8 (see
// CheckUTF8). Duplicate keys are found by Value, which says where.
func NewDecoder(input []byte, o Options) *Decoder {
	rd := bytes.NewReader(input)
	return &Decoder{dec: jsontext.NewDecoder(rd, tokenOptions...), maxDepth: o.MaxDepth, base: o.Base, isData: o.IsData}
}

// tokenOptions leave duplicate keys to the reader, which says where they are,
// and UTF-8 to CheckUTF8, which checks a whole input once.
var tokenOptions = []jsontext.Options{jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true)}

// NewDecoderOn returns a Decoder that reads its values from dec's stream,
// which must read valid UTF-8 with NewTokenReader's options: host/upload
// decodes each batch entry in place, without taking its text out first.
func NewDecoderOn(dec *jsontext.Decoder, o Options) *Decoder {
	return &Decoder{dec: dec, maxDepth: o.MaxDepth, base: o.Base, isData: o.IsData, shared: o.Shared}
}

// SkipTo reads dec up to where its stack is depth deep again: the rest of a
// value whose decoding stopped at an error. Its own error is the stream's
// (the JSON is broken there).
func SkipTo(dec *jsontext.Decoder, depth int) error {
	for dec.StackDepth() > depth {
		var err error
		switch dec.PeekKind() {
		case '}', ']':
			_, err = dec.ReadToken()
		default:
			err = dec.SkipValue()
		}
		if err != nil {
			return JSONError(err)
		}
	}
	return nil
}

// IsSyntax reports whether err is the JSON text being broken (not one of
// the rules above): nothing after it in the input can be read.
func IsSyntax(err error) bool {
	return errors.Is(err, errSyntax)
}

// errSyntax marks the errors JSONError makes.
var errSyntax = errors.New("JSON syntax")

// NewTokenReader reads input, which must be valid UTF-8 (CheckUTF8), token
// by token with Decoder's options: host/upload reads the batch envelope
// with it (ReadToken, More), and each entry with a Decoder. It reads input
// in place (jsontext does so for a bytes.Buffer), without a copy.
func NewTokenReader(input []byte) *jsontext.Decoder {
	return jsontext.NewDecoder(bytes.NewBuffer(input), tokenOptions...)
}

// Invalid is an Invalid *syncgate.Error with a formatted message.
func Invalid(code syncgate.Code, format string, args ...any) *syncgate.Error {
	return syncgate.Errorf(syncgate.Invalid, code, format, args...)
}

// CheckUTF8 refuses input that is not valid UTF-8; what names it.
func CheckUTF8(input []byte, what string) error {
	if !utf8.Valid(input) {
		return Invalid(syncgate.CodeInvalidUTF8, "%s is not valid UTF-8", what)
	}
	return nil
}

// More reports whether the current array or object has another element.
func (d *Decoder) More() bool { return More(d.dec) }

// More reports whether dec's current array or object has another element
// (on an error, false: the next read reports it).
func More(dec *jsontext.Decoder) bool {
	k := dec.PeekKind()
	return k != ']' && k != '}' && k != 0
}

// read returns the next token, with JSON errors as *syncgate.Error.
func (d *Decoder) read() (jsontext.Token, error) { return ReadToken(d.dec) }

// ReadToken returns dec's next token, with JSON errors as *syncgate.Error.
func ReadToken(dec *jsontext.Decoder) (jsontext.Token, error) {
	t, err := dec.ReadToken()
	if err != nil {
		return t, JSONError(err)
	}
	return t, nil
}

// JSONError turns a jsontext read error into an Invalid *syncgate.Error
// that says where the JSON broke.
func JSONError(err error) error {
	var e *syncgate.Error
	var se *jsontext.SyntacticError
	switch {
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		e = Invalid(syncgate.CodeInvalidJSON, "body ends too early")
	case errors.As(err, &se):
		e = Invalid(syncgate.CodeInvalidJSON, "invalid JSON at byte %d: %s", se.ByteOffset, se.Err)
	default:
		e = Invalid(syncgate.CodeInvalidJSON, "invalid JSON: %s", err.Error())
	}
	e.Err = fmt.Errorf("%w: %w", errSyntax, err)
	return e
}

// End refuses anything after the value; what names the value.
func (d *Decoder) End(what string) error {
	if _, err := d.dec.ReadToken(); !errors.Is(err, io.EOF) {
		return Invalid(syncgate.CodeInvalidJSON, "unexpected data after the JSON %s", what)
	}
	return nil
}

// Truncate prints v for an error message, at most 64 bytes of it.
func Truncate(v any) string {
	s := fmt.Sprint(v)
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// CheckKey refuses keys MongoDB would read as operators or paths.
func CheckKey(k string) error {
	switch {
	case strings.HasPrefix(k, "$"):
		return errors.New("starts with $ (operator injection)")
	case strings.Contains(k, "."):
		return errors.New("contains a dot")
	case strings.IndexByte(k, 0) >= 0:
		return errors.New("contains NUL")
	}
	return nil
}

// Value decodes one JSON value: objects as syncgate.Doc, arrays as []any,
// integers as int64, other numbers as float64. depth counts levels from the
// input's top; inData switches on the key rules and the data depth limit.
// path names the value in errors.
func (d *Decoder) Value(path string, depth int, inData bool) (any, error) {
	d.root, d.path = path, d.path[:0]
	return d.value(depth, inData)
}

// ValueAt is Value for the element index of the array at path (its path
// is path[index]; no string is built for it unless an error needs it).
func (d *Decoder) ValueAt(path string, index, depth int, inData bool) (any, error) {
	d.root, d.path = path, append(d.path[:0], step{idx: index})
	return d.value(depth, inData)
}

// where is the path of the value being read, for an error message.
func (d *Decoder) where() string {
	var b strings.Builder
	b.WriteString(d.root)
	for _, s := range d.path {
		if s.idx >= 0 {
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(s.idx))
			b.WriteByte(']')
		} else {
			b.WriteByte('.')
			b.WriteString(s.key)
		}
	}
	return b.String()
}

func (d *Decoder) value(depth int, inData bool) (any, error) {
	if d.maxDepth > 0 && depth > d.maxDepth+d.base {
		return nil, Invalid(syncgate.CodeTooDeep, "%s: nested deeper than %d levels", d.where(), d.maxDepth)
	}
	switch d.dec.PeekKind() {
	case '"':
		raw, err := d.readValue()
		if err != nil {
			return nil, err
		}
		s, err := unquote(raw, d.shared)
		if err != nil {
			return nil, err
		}
		if inData && strings.IndexByte(s, 0) >= 0 {
			// BSON strings may hold NUL, but C drivers and tools truncate them.
			return nil, Invalid(syncgate.CodeInvalidValue, "%s: string contains NUL", d.where())
		}
		return d.box(s), nil
	case '0':
		raw, err := d.readValue()
		if err != nil {
			return nil, err
		}
		return d.number(raw)
	}
	t, err := d.read()
	if err != nil {
		return nil, err
	}
	switch t.Kind() {
	case '{':
		return d.object(depth, inData)
	case '[':
		a := []any{}
		for i := 0; d.More(); i++ {
			d.path = append(d.path, step{idx: i})
			v, err := d.value(depth+1, inData)
			if err != nil {
				return nil, err
			}
			d.path = d.path[:len(d.path)-1]
			a = append(a, v)
		}
		_, err := d.read()
		return a, err
	case 't', 'f':
		return t.Bool(), nil
	case 'n':
		return nil, nil
	}
	return nil, Invalid(syncgate.CodeInvalidJSON, "%s: unexpected %v", d.where(), t.Kind())
}

// within reports whether b lies inside in (b is not empty).
func within(b, in []byte) bool {
	if len(in) == 0 {
		return false
	}
	p, lo := uintptr(unsafe.Pointer(&b[0])), uintptr(unsafe.Pointer(&in[0]))
	return p >= lo && p-lo <= uintptr(len(in)-len(b))
}

// box returns s as an interface value without the allocation converting a
// string to an interface makes (one per string of every row: ≈ a third of
// a row's allocations): s is kept in a chunk of strings that is never
// written again at that place, and the interface refers to it there.
func (d *Decoder) box(s string) any {
	if len(d.strs) == cap(d.strs) {
		// 8 strings first (a guest's replacement data, a policy's
		// operands), then 64 a chunk (an upload's rows).
		d.strs = make([]string, 0, min(64, max(8, 2*cap(d.strs))))
	}
	d.strs = append(d.strs, s)
	var v any = "" // a constant: no allocation
	// An interface is a type word and a data pointer; for a string the
	// data pointer addresses a string header.
	(*[2]unsafe.Pointer)(unsafe.Pointer(&v))[1] = unsafe.Pointer(&d.strs[len(d.strs)-1])
	return v
}

// readValue reads the next raw value (valid until the next read), with
// JSON errors as *syncgate.Error.
func (d *Decoder) readValue() (jsontext.Value, error) {
	v, err := d.dec.ReadValue()
	if err != nil {
		return nil, JSONError(err)
	}
	return v, nil
}

// unquote is the string a raw JSON string token holds: without escapes,
// the token's own bytes when it lies in shared (Options.Shared), else a
// copy.
func unquote(raw, shared []byte) (string, error) {
	if len(raw) >= 2 && bytes.IndexByte(raw, '\\') < 0 {
		if len(raw) > 2 && within(raw, shared) {
			return unsafe.String(&raw[1], len(raw)-2), nil
		}
		return string(raw[1 : len(raw)-1]), nil
	}
	b, err := jsontext.AppendUnquote(nil, raw)
	if err != nil {
		return "", JSONError(err)
	}
	return string(b), nil
}

// key reads an object's next key, the pos-th of its object, interned.
// Objects of a batch repeat their keys in the same places (the envelope's
// op, table, id, data; a table's columns), so the last two keys seen at pos
// are compared first: a map lookup hashes every key (≈ 9 % of decoding).
func (d *Decoder) key(pos int) (string, error) {
	raw, err := d.readValue()
	if err != nil {
		return "", err
	}
	if len(raw) < 2 || bytes.IndexByte(raw, '\\') >= 0 {
		return unquote(raw, nil)
	}
	b := raw[1 : len(raw)-1]
	var at *[2]string
	if pos < len(d.recent) {
		at = &d.recent[pos]
		if at[0] == string(b) {
			return at[0], nil
		}
		if at[1] == string(b) {
			at[0], at[1] = at[1], at[0]
			return at[0], nil
		}
	}
	if k, ok := d.keys[string(b)]; ok {
		if at != nil {
			at[0], at[1] = k, at[0]
		}
		return k, nil
	}
	k := string(b)
	if len(k) <= maxKeyLen && len(d.keys) < maxKeys {
		if d.keys == nil {
			d.keys = make(map[string]string, 32)
		}
		d.keys[k] = k
		if at != nil {
			at[0], at[1] = k, at[0]
		}
	}
	return k, nil
}

func (d *Decoder) object(depth int, inData bool) (syncgate.Doc, error) {
	doc := make(syncgate.Doc, 0, 8)
	var seen map[string]struct{}
	for d.More() {
		k, err := d.key(len(doc))
		if err != nil {
			return nil, err
		}
		if inData {
			if err := CheckKey(k); err != nil {
				return nil, Invalid(syncgate.CodeInvalidKey, "%s: key %q %s", d.where(), Truncate(k), err)
			}
		}
		if len(doc) < 16 {
			for _, f := range doc {
				if f.Key == k {
					return nil, Invalid(syncgate.CodeDuplicateKey, "%s: duplicate key %q", d.where(), Truncate(k))
				}
			}
		} else {
			if seen == nil {
				seen = make(map[string]struct{}, 32)
				for _, f := range doc {
					seen[f.Key] = struct{}{}
				}
			}
			if _, dup := seen[k]; dup {
				return nil, Invalid(syncgate.CodeDuplicateKey, "%s: duplicate key %q", d.where(), Truncate(k))
			}
			seen[k] = struct{}{}
		}
		childInData := inData || (d.isData != nil && d.isData(depth, k))
		d.path = append(d.path, step{key: k, idx: -1})
		v, err := d.value(depth+1, childInData)
		if err != nil {
			return nil, err
		}
		d.path = d.path[:len(d.path)-1]
		doc = append(doc, syncgate.Field{Key: k, Value: v})
	}
	_, err := d.read()
	return doc, err
}

// number keeps integers as int64 and everything else as float64, refusing
// values neither can hold. Integers of up to 18 digits, the usual case,
// are read without a string.
func (d *Decoder) number(raw []byte) (any, error) {
	if bytes.IndexAny(raw, ".eE") < 0 {
		digits, neg := raw, false
		if len(digits) > 0 && digits[0] == '-' {
			digits, neg = digits[1:], true
		}
		if len(digits) > 0 && len(digits) <= 18 {
			var n int64
			for _, c := range digits {
				n = n*10 + int64(c-'0') // jsontext checked the syntax
			}
			if neg {
				n = -n
			}
			return n, nil
		}
		i, err := strconv.ParseInt(string(raw), 10, 64)
		if err != nil {
			return nil, Invalid(syncgate.CodeInvalidNumber, "%s: %s is outside the 64-bit integer range", d.where(), Truncate(string(raw)))
		}
		return i, nil
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || math.IsInf(f, 0) {
		return nil, Invalid(syncgate.CodeInvalidNumber, "%s: %s is outside the float64 range", d.where(), Truncate(string(raw)))
	}
	return f, nil
}

// dataBase is the depth a client's data object sits at in an upload body
// ({ "batch": [ { "data": …), which DecodeData counts from as well.
const dataBase = 2

// DecodeData parses one data object (a guest's replacement data) with the
// same rules as a client's: valid UTF-8 JSON object, no duplicate, operator,
// dotted or NUL keys, numbers that fit, nesting within maxDepth.
func DecodeData(raw []byte, maxDepth int) (syncgate.Doc, error) {
	if err := CheckUTF8(raw, "data"); err != nil {
		return nil, err
	}
	d := NewDecoder(raw, Options{MaxDepth: maxDepth, Base: dataBase})
	// Depth counts as if the object sat at an entry's data key.
	v, err := d.Value("data", dataBase+1, true)
	if err != nil {
		return nil, err
	}
	if err := d.End("object"); err != nil {
		return nil, err
	}
	doc, ok := v.(syncgate.Doc)
	if !ok {
		return nil, Invalid(syncgate.CodeInvalidData, "data must be an object")
	}
	return doc, nil
}
