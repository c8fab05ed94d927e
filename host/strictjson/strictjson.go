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
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/syncgate/syncgate/host/syncgate"
)

// Decoder reads one strict JSON value token by token.
type Decoder struct {
	dec      *json.Decoder
	maxDepth int // deepest nesting inside data; 0: unbounded
	base     int // depth at which data starts counting
	isData   func(depth int, key string) bool
}

// Options shape a Decoder.
type Options struct {
	// MaxDepth bounds nesting inside data (0: unbounded). Depth counts from
	// the top of the input; data at depth Base+1 is one level deep.
	MaxDepth, Base int
	// IsData reports whether the value under key, in an object at depth,
	// starts data (where the key rules and NUL-free strings apply). nil: no
	// value outside Value(…, inData=true) is data.
	IsData func(depth int, key string) bool
}

// NewDecoder returns a Decoder of input, which must be valid UTF-8 (see
// CheckUTF8).
func NewDecoder(input []byte, o Options) *Decoder {
	d := &Decoder{dec: json.NewDecoder(bytes.NewReader(input)), maxDepth: o.MaxDepth, base: o.Base, isData: o.IsData}
	d.dec.UseNumber()
	return d
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
func (d *Decoder) More() bool { return d.dec.More() }

// Token returns the next token, with JSON errors as *syncgate.Error.
func (d *Decoder) Token() (json.Token, error) {
	t, err := d.dec.Token()
	if err != nil {
		if err == io.EOF {
			return nil, Invalid(syncgate.CodeInvalidJSON, "body ends too early")
		}
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, Invalid(syncgate.CodeInvalidJSON, "invalid JSON at byte %d: %s", se.Offset, se.Error())
		}
		return nil, Invalid(syncgate.CodeInvalidJSON, "invalid JSON: %s", err.Error())
	}
	return t, nil
}

// End refuses anything after the value; what names the value.
func (d *Decoder) End(what string) error {
	if _, err := d.dec.Token(); err != io.EOF {
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
func (d *Decoder) Value(path string, depth int, inData bool) (any, error) {
	if d.maxDepth > 0 && depth > d.maxDepth+d.base {
		return nil, Invalid(syncgate.CodeTooDeep, "%s: nested deeper than %d levels", path, d.maxDepth)
	}
	t, err := d.Token()
	if err != nil {
		return nil, err
	}
	switch t := t.(type) {
	case json.Delim:
		switch t {
		case '{':
			return d.object(path, depth, inData)
		case '[':
			a := []any{}
			for i := 0; d.dec.More(); i++ {
				v, err := d.Value(fmt.Sprintf("%s[%d]", path, i), depth+1, inData)
				if err != nil {
					return nil, err
				}
				a = append(a, v)
			}
			_, err := d.Token()
			return a, err
		}
		return nil, Invalid(syncgate.CodeInvalidJSON, "%s: unexpected %v", path, t)
	case json.Number:
		return number(path, t)
	case string:
		if strings.IndexByte(t, 0) >= 0 && inData {
			// BSON strings may hold NUL, but C drivers and tools truncate them.
			return nil, Invalid(syncgate.CodeInvalidValue, "%s: string contains NUL", path)
		}
		return t, nil
	default: // bool, nil
		return t, nil
	}
}

func (d *Decoder) object(path string, depth int, inData bool) (syncgate.Doc, error) {
	doc := syncgate.Doc{}
	var seen map[string]struct{}
	for d.dec.More() {
		t, err := d.Token()
		if err != nil {
			return nil, err
		}
		k := t.(string)
		kpath := path + "." + k
		if inData {
			if err := CheckKey(k); err != nil {
				return nil, Invalid(syncgate.CodeInvalidKey, "%s: key %q %s", path, Truncate(k), err)
			}
		}
		if len(doc) < 16 {
			for _, f := range doc {
				if f.Key == k {
					return nil, Invalid(syncgate.CodeDuplicateKey, "%s: duplicate key %q", path, Truncate(k))
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
				return nil, Invalid(syncgate.CodeDuplicateKey, "%s: duplicate key %q", path, Truncate(k))
			}
			seen[k] = struct{}{}
		}
		childInData := inData || (d.isData != nil && d.isData(depth, k))
		v, err := d.Value(kpath, depth+1, childInData)
		if err != nil {
			return nil, err
		}
		doc = append(doc, syncgate.Field{Key: k, Value: v})
	}
	_, err := d.Token()
	return doc, err
}

// number keeps integers as int64 and everything else as float64, refusing
// values neither can hold.
func number(path string, n json.Number) (any, error) {
	s := string(n)
	if !strings.ContainsAny(s, ".eE") {
		i, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, Invalid(syncgate.CodeInvalidNumber, "%s: %s is outside the 64-bit integer range", path, Truncate(s))
		}
		return i, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) {
		return nil, Invalid(syncgate.CodeInvalidNumber, "%s: %s is outside the float64 range", path, Truncate(s))
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
