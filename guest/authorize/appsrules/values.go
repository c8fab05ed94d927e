package appsrules

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
)

// Values inside expressions are what encoding/json decodes with UseNumber
// (nil, bool, json.Number, string, []any, map[string]any), plus other Go
// numbers a caller may hand in, plus the two results of the conversion
// operators below. Documents reach a guest as a PowerSync client holds
// them: ObjectIds as 24 hex digits, booleans as 0/1, dates as text.

// oid is an ObjectId made by %stringToOid: 24 lower-case hex digits. It
// equals its hex string, since that is how PowerSync sends ObjectIds.
type oid string

// uuid is a UUID made by %stringToUuid: canonical lower-case 8-4-4-4-12
// text. It equals any spelling of the same UUID.
type uuid string

func parseOID(s string) (oid, bool) {
	if len(s) != 24 {
		return "", false
	}
	for i := 0; i < len(s); i++ {
		if !isHex(s[i]) {
			return "", false
		}
	}
	return oid(strings.ToLower(s)), true
}

func parseUUID(s string) (uuid, bool) {
	h := s
	if len(s) == 36 {
		if s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
			return "", false
		}
		h = s[:8] + s[9:13] + s[14:18] + s[19:23] + s[24:]
	}
	if len(h) != 32 {
		return "", false
	}
	for i := 0; i < len(h); i++ {
		if !isHex(h[i]) {
			return "", false
		}
	}
	h = strings.ToLower(h)
	return uuid(h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]), true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// number reads a numeric value, with an exact int64 when it has one.
// Booleans count as 0 and 1 (how PowerSync clients store them), so a
// rule's true matches a stored boolean.
func number(v any) (i int64, f float64, isInt, ok bool) {
	switch n := v.(type) {
	case json.Number:
		if i, err := n.Int64(); err == nil {
			return i, float64(i), true, true
		}
		f, err := n.Float64()
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return 0, 0, false, false
		}
		return 0, f, false, true
	case float64:
		if math.IsNaN(n) {
			return 0, 0, false, false
		}
		if n == math.Trunc(n) && math.Abs(n) < 1<<62 {
			return int64(n), n, true, true
		}
		return 0, n, false, true
	case int:
		return int64(n), float64(n), true, true
	case int64:
		return n, float64(n), true, true
	case bool:
		if n {
			return 1, 1, true, true
		}
		return 0, 0, true, true
	}
	return 0, 0, false, false
}

func isNumber(v any) bool {
	switch v.(type) {
	case json.Number, float64, int, int64:
		return true
	}
	return false
}

// equal is value equality: numbers by value (and booleans as 0/1), an
// ObjectId or UUID with its text, arrays element by element, objects key by
// key.
func equal(a, b any) bool {
	switch x := a.(type) {
	case nil:
		return b == nil
	case string:
		switch y := b.(type) {
		case string:
			return x == y
		case oid:
			o, ok := parseOID(x)
			return ok && o == y
		case uuid:
			u, ok := parseUUID(x)
			return ok && u == y
		}
		return false
	case oid, uuid:
		if s, ok := b.(string); ok {
			return equal(s, a)
		}
		return a == b
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equal(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !equal(v, w) {
				return false
			}
		}
		return true
	}
	xi, xf, xInt, xok := number(a)
	yi, yf, yInt, yok := number(b)
	if !xok || !yok {
		return false
	}
	_, aBool := a.(bool)
	_, bBool := b.(bool)
	if aBool && bBool {
		return a == b
	}
	if xInt && yInt {
		return xi == yi
	}
	return xf == yf
}

// matches is an equality match: the values are equal, or one is an array
// and an element of it equals the other. The first half is MongoDB's
// ({"members": "%%user.id"} holds when the members array holds the
// user); the second is App Services' own (its Manager role,
// {"email": "%%user.custom_data.manages"}, holds when the document's email
// is one of the emails the manager manages).
func matches(v, want any) bool {
	if s, ok := v.(string); ok { // the usual case, without equal's call
		if w, ok := want.(string); ok {
			return s == w
		}
	}
	if equal(v, want) {
		return true
	}
	if arr, ok := v.([]any); ok {
		for _, e := range arr {
			if equal(e, want) {
				return true
			}
		}
	}
	if arr, ok := want.([]any); ok {
		if _, vIsArr := v.([]any); !vIsArr {
			for _, e := range arr {
				if equal(v, e) {
					return true
				}
			}
		}
	}
	return false
}

// compare orders two numbers or two strings; anything else is a type
// error (which never allows).
func compare(a, b any) (int, error) {
	if isNumber(a) && isNumber(b) {
		ai, af, aInt, aok := number(a)
		bi, bf, bInt, bok := number(b)
		if !aok || !bok {
			return 0, fmt.Errorf("cannot compare %s with %s", typeName(a), typeName(b))
		}
		if aInt && bInt {
			return cmp3(ai < bi, ai > bi), nil
		}
		return cmp3(af < bf, af > bf), nil
	}
	as, aok := stringOf(a)
	bs, bok := stringOf(b)
	if aok && bok {
		return strings.Compare(as, bs), nil
	}
	return 0, fmt.Errorf("cannot compare %s with %s", typeName(a), typeName(b))
}

func cmp3(less, more bool) int {
	switch {
	case less:
		return -1
	case more:
		return 1
	}
	return 0
}

func stringOf(v any) (string, bool) {
	switch s := v.(type) {
	case string:
		return s, true
	case oid:
		return string(s), true
	case uuid:
		return string(s), true
	}
	return "", false
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case oid:
		return "ObjectId"
	case uuid:
		return "UUID"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	if isNumber(v) {
		return "number"
	}
	return fmt.Sprintf("%T", v)
}

// lookup follows a dotted path into a document. Through an array it
// collects each element's value at the rest of the path, as MongoDB does
// ({"members.id": x} matches when any member's id is x).
func lookup(v any, path []string) (any, bool) {
	for i, key := range path {
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[key]; !ok {
				return nil, false
			}
		case []any:
			var out []any
			for _, e := range x {
				if _, isObj := e.(map[string]any); !isObj {
					continue
				}
				if w, ok := lookup(e, path[i:]); ok {
					if arr, isArr := w.([]any); isArr {
						out = append(out, arr...)
					} else {
						out = append(out, w)
					}
				}
			}
			if out == nil {
				return nil, false
			}
			return out, true
		default:
			return nil, false
		}
	}
	return v, true
}

// show renders a value for a trace or a reason, short.
func show(v any) string {
	switch x := v.(type) {
	case oid:
		return fmt.Sprintf("ObjectId(%q)", string(x))
	case uuid:
		return fmt.Sprintf("UUID(%q)", string(x))
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	if len(b) > 80 {
		return string(b[:77]) + "…"
	}
	return string(b)
}
