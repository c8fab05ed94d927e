package mongostub

import (
	"errors"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Aggregations, as the driver and the store send them: CountDocuments'
// [{$match}, {$skip}, {$limit}, {$group: {_id: 1, n: {$sum: 1}}}] and the
// dead letters' count by fields ({$group: {_id: {table: "$table", …},
// n: {$sum: 1}}}). The stages known are $match (the operators a scanning
// find knows), $skip, $limit and $group, whose _id is a constant, a "$path"
// or a document of those, with $sum accumulators of a constant or a
// "$path". Anything else is refused, so a test never passes on a pipeline
// the stand-in would misread.

// aggregate answers an aggregate command on a collection.
func (s *Server) aggregate(data colls, cmd Command) bson.Raw {
	stages, ok := cmd.Body.Lookup("pipeline").ArrayOK()
	if !ok {
		return errorDoc(9, "FailedToParse", "mongostub: aggregate needs a pipeline array", nil)
	}
	var docs []bson.Raw
	if c := data(cmd.DB, cmd.Collection(), false); c != nil {
		docs = c.all()
	}
	vals, _ := stages.Values()
	for _, v := range vals {
		stage, ok := v.DocumentOK()
		elems, _ := stage.Elements()
		if !ok || len(elems) != 1 {
			return errorDoc(40323, "Location40323", "mongostub: a pipeline stage is a document of one field", nil)
		}
		var err error
		if docs, err = runStage(elems[0], docs); err != nil {
			return errorDoc(2, "BadValue", err.Error(), nil)
		}
	}
	return s.firstBatch(cmd, docs, nil)
}

// runStage applies one stage to docs.
func runStage(stage bson.RawElement, docs []bson.Raw) ([]bson.Raw, error) {
	arg := stage.Value()
	switch stage.Key() {
	case "$match":
		filter, ok := arg.DocumentOK()
		if !ok {
			return nil, errors.New("mongostub: $match takes a document")
		}
		if err := checkQuery(filter); err != nil {
			return nil, err
		}
		var out []bson.Raw
		for _, d := range docs {
			if queryMatches(d, filter) {
				out = append(out, d)
			}
		}
		return out, nil
	case "$skip", "$limit":
		n, ok := arg.AsInt64OK()
		if f, isDouble := arg.DoubleOK(); isDouble && f != float64(n) {
			ok = false // MongoDB: "Expected an integer"
		}
		if !ok || n < 0 || (n == 0 && stage.Key() == "$limit") {
			return nil, errors.New("mongostub: " + stage.Key() + " takes a whole number, at least 0 ($skip) or 1 ($limit)")
		}
		n = min(n, int64(len(docs)))
		if stage.Key() == "$skip" {
			return docs[n:], nil
		}
		return docs[:n], nil
	case "$group":
		spec, ok := arg.DocumentOK()
		if !ok {
			return nil, errors.New("mongostub: $group takes a document")
		}
		return group(spec, docs)
	}
	return nil, errors.New("mongostub: unsupported pipeline stage " + stage.Key())
}

// group runs a $group stage: one document per distinct _id (numbers equal
// in value are one, as on MongoDB), in the order each was first seen.
func group(spec bson.Raw, docs []bson.Raw) ([]bson.Raw, error) {
	fields, _ := spec.Elements()
	if len(fields) == 0 || fields[0].Key() != "_id" {
		return nil, errors.New("mongostub: $group needs _id first")
	}
	type acc struct {
		key  any
		sums []sum
	}
	var order []*acc
	byKey := map[string]*acc{}
	for _, d := range docs {
		key, err := expr(fields[0].Value(), d)
		if err != nil {
			return nil, err
		}
		if _, ok := key.(missing); ok {
			key = nil // a missing _id groups with null
		}
		kb, err := bson.Marshal(bson.D{{Key: "k", Value: canonical(key)}})
		if err != nil {
			return nil, err
		}
		a := byKey[string(kb)]
		if a == nil {
			a = &acc{key: key, sums: make([]sum, len(fields)-1)}
			byKey[string(kb)] = a
			order = append(order, a)
		}
		for i, f := range fields[1:] {
			op, ok := f.Value().DocumentOK()
			of, err := op.LookupErr("$sum")
			if ops, _ := op.Elements(); !ok || err != nil || len(ops) != 1 {
				return nil, errors.New("mongostub: the only accumulator is {$sum: …}, not " + f.Value().String())
			}
			v, err := expr(of, d)
			if err != nil {
				return nil, err
			}
			if err := a.sums[i].add(v); err != nil {
				return nil, err
			}
		}
	}
	out := make([]bson.Raw, 0, len(order))
	for _, a := range order {
		d := bson.D{{Key: "_id", Value: a.key}}
		for i, f := range fields[1:] {
			d = append(d, bson.E{Key: f.Key(), Value: a.sums[i].value()})
		}
		out = append(out, mustRaw(d))
	}
	return out, nil
}

// sum is a $sum accumulator with MongoDB's result type: the widest type
// it met (int, long, double), an int that overflows becoming a long and a
// long that overflows a double.
type sum struct {
	i        int64
	f        float64
	long     bool // met a long, or ints past int32
	double   bool // met a double, or longs past int64
	overflow bool
}

func (s *sum) add(v any) error {
	var n int64
	switch x := v.(type) {
	case int32:
		n = int64(x)
	case int64:
		n, s.long = x, true
	case float64:
		s.double = true
		s.f += x
		return nil
	case bson.Decimal128:
		return errors.New("mongostub: $sum of a decimal is not supported")
	default:
		return nil // $sum skips what is not a number, as MongoDB's does
	}
	s.f += float64(n)
	if r := s.i + n; (n > 0 && r < s.i) || (n < 0 && r > s.i) {
		s.overflow = true
	} else {
		s.i = r
	}
	return nil
}

func (s *sum) value() any {
	switch {
	case s.double || s.overflow:
		return s.f
	case s.long || int64(int32(s.i)) != s.i:
		return s.i
	}
	return int32(s.i)
}

// canonical is a group key with its numbers made one type (whole ones
// int64, others float64), so that 5, 5.0 and NumberLong(5) group together.
func canonical(v any) any {
	switch x := v.(type) {
	case int32:
		return int64(x)
	case float64:
		if x == float64(int64(x)) {
			return int64(x)
		}
		return x
	case bson.D:
		out := make(bson.D, len(x))
		for i, e := range x {
			out[i] = bson.E{Key: e.Key, Value: canonical(e.Value)}
		}
		return out
	case bson.A:
		out := make(bson.A, len(x))
		for i, e := range x {
			out[i] = canonical(e)
		}
		return out
	}
	return v
}

// missing is a "$path" expression's value when doc has no such field.
type missing struct{}

// expr evaluates a $group expression on doc: a "$path" is the field's value
// (missing when absent), a document is evaluated field by field (leaving
// out those that are missing, as MongoDB does), and anything else is
// itself.
func expr(e bson.RawValue, doc bson.Raw) (any, error) {
	if s, ok := e.StringValueOK(); ok && strings.HasPrefix(s, "$") {
		v, err := doc.LookupErr(strings.Split(s[1:], ".")...)
		if err != nil {
			return missing{}, nil
		}
		return decode(v)
	}
	if d, ok := e.DocumentOK(); ok {
		elems, _ := d.Elements()
		out := bson.D{}
		for _, el := range elems {
			if strings.HasPrefix(el.Key(), "$") {
				return nil, errors.New("mongostub: unsupported expression operator " + el.Key())
			}
			v, err := expr(el.Value(), doc)
			if err != nil {
				return nil, err
			}
			if _, ok := v.(missing); !ok {
				out = append(out, bson.E{Key: el.Key(), Value: v})
			}
		}
		return out, nil
	}
	return decode(e)
}

// decode turns a raw value into the Go value that marshals back to it.
func decode(v bson.RawValue) (any, error) {
	var out any
	err := v.Unmarshal(&out)
	return out, err
}
