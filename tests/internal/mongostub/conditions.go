package mongostub

import (
	"bytes"
	"errors"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Conditional writes, as the store's conflict policies send them: a filter
// is {_id: v} plus conditions on other fields, those of a scanning filter
// (queries.go: equality, null for absent, {$ne: v}, which on an array means
// no element equals v, $in, $nin, $exists and ranges), and an
// update may use $inc and $push with $each/$slice. A document that exists
// but fails the conditions is not matched; an upsert of it collides on _id
// (duplicate key), as on MongoDB.

// conditions are a filter's elements other than _id.
func conditions(filter bson.Raw) []bson.RawElement {
	elems, _ := filter.Elements()
	var out []bson.RawElement
	for _, e := range elems {
		if e.Key() != "_id" {
			out = append(out, e)
		}
	}
	return out
}

// matches reports whether doc meets every condition (as a scanning
// filter's fields: queryMatches; checkConditions refused what it cannot).
func matches(doc bson.Raw, conds []bson.RawElement) bool {
	for _, c := range conds {
		if !fieldMatches(doc, c.Key(), c.Value()) {
			return false
		}
	}
	return true
}

func arrayHas(field, v bson.RawValue) bool {
	arr, ok := field.ArrayOK()
	if !ok {
		return false
	}
	vals, _ := arr.Values()
	for _, e := range vals {
		if equal(e, v) {
			return true
		}
	}
	return false
}

// equal compares numbers by value, anything else by type and bytes.
func equal(a, b bson.RawValue) bool {
	if x, ok := number(a); ok {
		y, ok := number(b)
		return ok && x == y
	}
	return a.Type == b.Type && bytes.Equal(a.Value, b.Value)
}

func number(v bson.RawValue) (float64, bool) {
	switch v.Type {
	case bson.TypeInt32:
		return float64(v.Int32()), true
	case bson.TypeInt64:
		return float64(v.Int64()), true
	case bson.TypeDouble:
		return v.Double(), true
	}
	return 0, false
}

// inc adds by to the field's value, in the type MongoDB gives the sum.
func inc(cur bson.RawValue, present bool, by bson.RawValue) (any, error) {
	x, ok1 := 0.0, true
	if present {
		x, ok1 = number(cur)
	}
	y, ok2 := number(by)
	if !ok1 || !ok2 {
		return nil, errors.New("mongostub: $inc of a non-number")
	}
	// MongoDB's result type: a double if either is one, else a long if
	// either is one, else an int (a long when the sum overflows it); an
	// absent field counts as an int.
	double := by.Type == bson.TypeDouble || present && cur.Type == bson.TypeDouble
	long := by.Type == bson.TypeInt64 || present && cur.Type == bson.TypeInt64
	switch sum := int64(x) + int64(y); {
	case double:
		return x + y, nil
	case long || sum != int64(int32(sum)):
		return sum, nil
	default:
		return int32(sum), nil
	}
}

// push appends $each to the field's array and keeps the last -$slice.
func push(cur bson.RawValue, present bool, spec bson.RawValue) (any, error) {
	var out bson.A
	if present {
		arr, ok := cur.ArrayOK()
		if !ok {
			return nil, errors.New("mongostub: $push to a non-array")
		}
		vals, _ := arr.Values()
		for _, v := range vals {
			out = append(out, v)
		}
	}
	d, ok := spec.DocumentOK()
	if !ok {
		return append(out, spec), nil
	}
	each, err := d.LookupErr("$each")
	if err != nil {
		return append(out, spec), nil
	}
	arr, ok := each.ArrayOK()
	if !ok {
		return nil, errors.New("mongostub: $each needs an array")
	}
	vals, _ := arr.Values()
	for _, v := range vals {
		out = append(out, v)
	}
	if sl, err := d.LookupErr("$slice"); err == nil {
		if n, ok := number(sl); ok && n < 0 && len(out) > int(-n) {
			out = out[len(out)-int(-n):]
		}
	}
	return out, nil
}

// applyOperator applies one $inc or $push to doc's top-level fields.
func applyOperator(doc bson.D, op bson.RawElement) (bson.D, *WriteError) {
	spec, ok := op.Value().DocumentOK()
	if !ok {
		return nil, &WriteError{Code: 9, Message: "mongostub: " + op.Key() + " needs a document"}
	}
	fields, _ := spec.Elements()
	for _, f := range fields {
		i := -1
		for j := range doc {
			if doc[j].Key == f.Key() {
				i = j
			}
		}
		var cur bson.RawValue
		if i >= 0 {
			raw, err := bson.Marshal(bson.D{{Key: "v", Value: doc[i].Value}})
			if err != nil {
				return nil, &WriteError{Code: 2, Message: err.Error()}
			}
			cur = bson.Raw(raw).Lookup("v")
		}
		var v any
		var err error
		if op.Key() == "$inc" {
			v, err = inc(cur, i >= 0, f.Value())
		} else {
			v, err = push(cur, i >= 0, f.Value())
		}
		if err != nil {
			return nil, &WriteError{Code: 14, Message: err.Error()}
		}
		if i >= 0 {
			doc[i].Value = v
		} else {
			doc = append(doc, bson.E{Key: f.Key(), Value: v})
		}
	}
	return doc, nil
}
