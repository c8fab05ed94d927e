package syncscope

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// kind is a SQLite storage class (blobs never occur: documents come as JSON).
type kind uint8

const (
	kNull kind = iota
	kInt
	kReal
	kText
)

// value is one SQL value as PowerSync's SQLite view of a document holds it.
// A text value that came from a nested object or array keeps the decoded
// form in j, so ->> does not parse its own serialization again.
type value struct {
	k kind
	i int64
	f float64
	s string
	j any // kText from a nested value: the decoded form (map[string]any or []any)
}

// tri is SQL's three-valued truth.
type tri uint8

const (
	tFalse tri = iota
	tTrue
	tNull
)

// fromGo converts a document or claim value to its SQLite view: booleans are
// 1/0, integers stay integers, other numbers are reals, objects and arrays are
// JSON text. Any other Go type is an error: the check never guesses.
func fromGo(x any) (value, error) {
	switch v := x.(type) {
	case nil:
		return value{}, nil
	case string:
		return value{k: kText, s: v}, nil
	case bool:
		if v {
			return value{k: kInt, i: 1}, nil
		}
		return value{k: kInt}, nil
	case int:
		return value{k: kInt, i: int64(v)}, nil
	case int32:
		return value{k: kInt, i: int64(v)}, nil
	case int64:
		return value{k: kInt, i: v}, nil
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return value{}, fmt.Errorf("number %v has no SQLite value", v)
		}
		return value{k: kReal, f: v}, nil
	case float32:
		return fromGo(float64(v))
	case json.Number:
		return numberValue(string(v))
	case map[string]any, []any:
		return value{k: kText, j: v}, nil
	}
	return value{}, fmt.Errorf("value of type %T is not a JSON value", x)
}

// numberValue reads a JSON number: an integer when it has no fraction or
// exponent and fits int64, else a real (as SQLite's JSON functions do).
func numberValue(s string) (value, error) {
	if !strings.ContainsAny(s, ".eE") {
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return value{k: kInt, i: i}, nil
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) {
		return value{}, fmt.Errorf("number %s out of range", s)
	}
	return value{k: kReal, f: f}, nil
}

// text returns a text value's string, serializing a nested value on demand.
func (v value) text() (string, error) {
	if v.j == nil {
		return v.s, nil
	}
	return jsonText(v.j)
}

// jsonText is the compact JSON of a nested value (object keys sorted: a Go map
// keeps no order).
func jsonText(x any) (string, error) {
	var b bytes.Buffer
	if err := writeJSON(&b, x); err != nil {
		return "", err
	}
	return b.String(), nil
}

func writeJSON(b *bytes.Buffer, x any) error {
	switch v := x.(type) {
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			q, _ := json.Marshal(k)
			b.Write(q)
			b.WriteByte(':')
			if err := writeJSON(b, v[k]); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	case []any:
		b.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := writeJSON(b, e); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	default:
		sv, err := fromGo(x)
		if err != nil {
			return err
		}
		switch sv.k {
		case kNull:
			b.WriteString("null")
		case kInt:
			if _, isBool := x.(bool); isBool {
				b.WriteString(strconv.FormatBool(x.(bool)))
			} else {
				b.WriteString(strconv.FormatInt(sv.i, 10))
			}
		case kReal:
			b.WriteString(strconv.FormatFloat(sv.f, 'g', -1, 64))
		case kText:
			q, _ := json.Marshal(sv.s)
			b.Write(q)
		}
	}
	return nil
}

// decodeJSON parses JSON text with numbers kept exact (json.Number).
func decodeJSON(s string) (any, error) {
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var x any
	if err := d.Decode(&x); err != nil {
		return nil, fmt.Errorf("malformed JSON")
	}
	if d.More() {
		return nil, fmt.Errorf("malformed JSON")
	}
	return x, nil
}

// jsonOf returns the decoded JSON a value holds: its nested form, its text
// parsed, or the number itself (SQLite reads a number as JSON too).
func jsonOf(v value) (any, error) {
	switch v.k {
	case kInt:
		return json.Number(strconv.FormatInt(v.i, 10)), nil
	case kReal:
		return json.Number(strconv.FormatFloat(v.f, 'g', -1, 64)), nil
	case kText:
		if v.j != nil {
			return v.j, nil
		}
		return decodeJSON(v.s)
	}
	return nil, nil
}

// walk follows a path through decoded JSON; ok is false when a step is missing.
func walk(x any, path []pathStep) (any, bool) {
	for _, st := range path {
		if st.isIdx {
			a, isArr := x.([]any)
			if !isArr || st.index >= len(a) {
				return nil, false
			}
			x = a[st.index]
			continue
		}
		m, isObj := x.(map[string]any)
		if !isObj {
			return nil, false
		}
		e, has := m[st.key]
		if !has {
			return nil, false
		}
		x = e
	}
	return x, true
}

// extract is SQLite's -> (asText false: the JSON text of the value) and ->>
// (asText true: the SQL value) over decoded JSON.
func extract(x any, asText bool) (value, error) {
	if !asText {
		if x == nil {
			return value{k: kText, s: "null"}, nil
		}
		s, err := jsonText(x)
		return value{k: kText, s: s}, err
	}
	switch x.(type) {
	case map[string]any, []any:
		return value{k: kText, j: x}, nil
	}
	return fromGo(x)
}

// compare orders two non-null values as SQLite does for operands without
// affinity: numbers (integer or real, by value) before text; text by bytes.
func compare(a, b value) (int, error) {
	an, bn := a.k == kInt || a.k == kReal, b.k == kInt || b.k == kReal
	switch {
	case an && bn:
		return compareNum(a, b), nil
	case an:
		return -1, nil
	case bn:
		return 1, nil
	}
	as, err := a.text()
	if err != nil {
		return 0, err
	}
	bs, err := b.text()
	if err != nil {
		return 0, err
	}
	return strings.Compare(as, bs), nil
}

func compareNum(a, b value) int {
	if a.k == kInt && b.k == kInt {
		return cmpOrdered(a.i, b.i)
	}
	if a.k == kReal && b.k == kReal {
		return cmpOrdered(a.f, b.f)
	}
	if a.k == kReal {
		return -compareNum(b, a)
	}
	// a integer, b real: compare exactly, as SQLite does.
	if b.f < -9.3e18 {
		return 1
	}
	if b.f >= 9.3e18 {
		return -1
	}
	bi := int64(b.f)
	if c := cmpOrdered(a.i, bi); c != 0 {
		return c
	}
	return cmpOrdered(0, b.f-float64(bi))
}

func cmpOrdered[T int64 | float64](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// cmpOp applies a comparison operator with SQL's null rule.
func cmpOp(op string, a, b value) (tri, error) {
	if a.k == kNull || b.k == kNull {
		return tNull, nil
	}
	c, err := compare(a, b)
	if err != nil {
		return tFalse, err
	}
	var r bool
	switch op {
	case "=":
		r = c == 0
	case "!=":
		r = c != 0
	case "<":
		r = c < 0
	case "<=":
		r = c <= 0
	case ">":
		r = c > 0
	case ">=":
		r = c >= 0
	}
	return truth(r), nil
}

func truth(b bool) tri {
	if b {
		return tTrue
	}
	return tFalse
}

// inArray is `x IN <JSON array>`, with the answers of SQLite's
// `x IN (SELECT value FROM json_each(arr))`: an empty or NULL set is false,
// a NULL x or a NULL member without a match is NULL.
func inArray(x, arr value) (tri, error) {
	if arr.k == kNull {
		return tFalse, nil
	}
	if arr.k != kText {
		return tFalse, fmt.Errorf("IN needs a JSON array on its right, got a number")
	}
	j, err := jsonOf(arr)
	if err != nil {
		return tFalse, fmt.Errorf("IN: %v", err)
	}
	elems, ok := j.([]any)
	if !ok {
		return tFalse, fmt.Errorf("IN needs a JSON array on its right")
	}
	if len(elems) == 0 {
		return tFalse, nil
	}
	if x.k == kNull {
		return tNull, nil
	}
	sawNull := false
	for _, e := range elems {
		ev, err := extract(e, true)
		if err != nil {
			return tFalse, err
		}
		if ev.k == kNull {
			sawNull = true
			continue
		}
		if c, err := compare(x, ev); err != nil {
			return tFalse, err
		} else if c == 0 {
			return tTrue, nil
		}
	}
	if sawNull {
		return tNull, nil
	}
	return tFalse, nil
}

// show renders a value for explanations.
func (v value) show() string {
	switch v.k {
	case kNull:
		return "NULL"
	case kInt:
		return strconv.FormatInt(v.i, 10)
	case kReal:
		return strconv.FormatFloat(v.f, 'g', -1, 64)
	}
	s, err := v.text()
	if err != nil {
		return "?"
	}
	if len(s) > 64 {
		s = s[:61] + "..."
	}
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// and3, or3 and not3 are SQL's three-valued AND, OR and NOT.
func and3(a, b tri) tri {
	switch {
	case a == tFalse || b == tFalse:
		return tFalse
	case a == tNull || b == tNull:
		return tNull
	}
	return tTrue
}

func or3(a, b tri) tri {
	switch {
	case a == tTrue || b == tTrue:
		return tTrue
	case a == tNull || b == tNull:
		return tNull
	}
	return tFalse
}

func not3(a tri) tri {
	switch a {
	case tTrue:
		return tFalse
	case tFalse:
		return tTrue
	}
	return tNull
}
