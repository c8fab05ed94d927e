package mongostub

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Queries on fields other than _id, as GridFS and the store send them: a
// filter of fields (dotted paths) each equal to a value (null: also
// absent), or meeting every operator of {$eq, $ne: v, $gt, $gte, $lt,
// $lte: v, $exists: b, $in: [...], $nin: [...]} (one or several: a range is
// {$gte: a, $lt: b}, compared within a type's bracket as MongoDB does; an
// array field matches when an element does), or a top-level $or of such
// filters; the same conditions beside an _id (conditions.go);
// find with a one-key sort and a limit; delete of every match; and the
// index commands (createIndexes' specifications are kept and listed by
// listIndexes; no index does anything).

// scanFilter reports whether filter does not start with _id, so the
// statement scans the collection instead of looking documents up by _id.
func scanFilter(filter bson.Raw) bool {
	elems, err := filter.Elements()
	return err == nil && len(elems) > 0 && elems[0].Key() != "_id"
}

// checkQuery refuses operators the stand-in does not know, so a test never
// passes on a filter it would misread: besides unknown operators, a
// condition document mixing operators and fields, a $exists that is not a
// boolean, a range operand it cannot order (orderable) and a regular
// expression (a pattern in a query, not a value to compare).
func checkQuery(filter bson.Raw) error {
	elems, _ := filter.Elements()
	for _, e := range elems {
		if e.Key() == "$or" {
			subs, ok := e.Value().ArrayOK()
			if !ok {
				return errors.New("mongostub: $or takes an array of filters")
			}
			vals, _ := subs.Values()
			for _, v := range vals {
				d, ok := v.DocumentOK()
				if !ok {
					return errors.New("mongostub: $or takes an array of filters")
				}
				if err := checkQuery(d); err != nil {
					return err
				}
			}
			continue
		}
		if strings.HasPrefix(e.Key(), "$") {
			return errors.New("mongostub: unsupported top-level operator " + e.Key())
		}
		if err := checkCondition(e.Value()); err != nil {
			return fmt.Errorf("%w (field %s)", err, e.Key())
		}
	}
	return nil
}

// checkCondition refuses a field's condition the stand-in would misread.
func checkCondition(want bson.RawValue) error {
	d, ok := want.DocumentOK()
	ops, _ := d.Elements()
	if !ok || len(ops) == 0 || !strings.HasPrefix(ops[0].Key(), "$") {
		return noRegex(want)
	}
	for _, op := range ops {
		v := op.Value()
		switch k := op.Key(); k {
		case "$eq", "$ne":
			if err := noRegex(v); err != nil {
				return err
			}
		case "$exists":
			if v.Type != bson.TypeBoolean {
				return errors.New("mongostub: $exists takes true or false here, not " + v.String())
			}
		case "$gt", "$gte", "$lt", "$lte":
			if !orderable(v) {
				return errors.New("mongostub: " + k + " takes a number, string, date or ObjectId here, not " + v.Type.String())
			}
		case "$in", "$nin":
			arr, ok := v.ArrayOK()
			if !ok {
				return errors.New("mongostub: " + k + " takes an array")
			}
			vals, _ := arr.Values()
			for _, m := range vals {
				if err := noRegex(m); err != nil {
					return err
				}
			}
		default:
			return errors.New("mongostub: only $eq, $ne, $exists, $gt, $gte, $lt, $lte, $in and $nin are supported on fields other than _id, not " + k)
		}
	}
	return nil
}

// noRegex refuses a regular expression, which MongoDB matches as a
// pattern where the stand-in would compare it as a value.
func noRegex(v bson.RawValue) error {
	if v.Type == bson.TypeRegex {
		return errors.New("mongostub: regular expressions are not supported in filters")
	}
	return nil
}

// checkConditions checks the conditions beside an _id of a filter the
// stand-in looks up by id (find, update, delete): no top-level operator.
func checkConditions(filter bson.Raw) error {
	for _, c := range conditions(filter) {
		if strings.HasPrefix(c.Key(), "$") {
			return errors.New("mongostub: " + c.Key() + " is not supported beside _id")
		}
	}
	return checkQuery(filter)
}

// queryMatches reports whether doc meets every element of filter.
func queryMatches(doc, filter bson.Raw) bool {
	elems, _ := filter.Elements()
	for _, e := range elems {
		if e.Key() == "$or" {
			subs, _ := e.Value().Array().Values()
			if !slices.ContainsFunc(subs, func(v bson.RawValue) bool { return queryMatches(doc, v.Document()) }) {
				return false
			}
			continue
		}
		if !fieldMatches(doc, e.Key(), e.Value()) {
			return false
		}
	}
	return true
}

// fieldMatches reports whether doc's field at path key (dotted) meets
// condition want: a value to equal, or a document of operators, each to be
// met.
func fieldMatches(doc bson.Raw, key string, want bson.RawValue) bool {
	field, err := doc.LookupErr(strings.Split(key, ".")...)
	present := err == nil
	if d, ok := want.DocumentOK(); ok {
		if ops, _ := d.Elements(); len(ops) > 0 && strings.HasPrefix(ops[0].Key(), "$") {
			return !slices.ContainsFunc(ops, func(op bson.RawElement) bool { return !operatorMatches(op, field, present) })
		}
	}
	return equals(field, present, want)
}

// equals is MongoDB's equality condition: the field, or an element of it,
// equals want; null also matches an absent field.
func equals(field bson.RawValue, present bool, want bson.RawValue) bool {
	if !present {
		return want.Type == bson.TypeNull
	}
	return equal(field, want) || arrayHas(field, want)
}

// operatorMatches reports whether a field (present or not) meets one
// operator of a condition ({$gte: v, $lt: w} is two, both to be met).
func operatorMatches(op bson.RawElement, field bson.RawValue, present bool) bool {
	v := op.Value()
	switch op.Key() {
	case "$in", "$nin":
		in, _ := setOperator(mustRaw(bson.D{{Key: op.Key(), Value: v}}))
		return in(field, present)
	case "$exists":
		return present == v.Boolean()
	case "$eq":
		return equals(field, present, v)
	case "$ne":
		return !equals(field, present, v)
	}
	if !present {
		return false
	}
	// A range on an array field is met by any element (MongoDB: each
	// operator of a condition may be met by a different one).
	vals := []bson.RawValue{field}
	if arr, ok := field.ArrayOK(); ok {
		vals, _ = arr.Values()
	}
	return slices.ContainsFunc(vals, func(f bson.RawValue) bool {
		c, ok := compareRange(f, v)
		if !ok {
			return false
		}
		switch op.Key() {
		case "$gte":
			return c >= 0
		case "$gt":
			return c > 0
		case "$lte":
			return c <= 0
		case "$lt":
			return c < 0
		}
		return false // checkQuery refused it before
	})
}

// orderable reports whether the stand-in orders v for a range operator:
// numbers, strings, dates and ObjectIds.
func orderable(v bson.RawValue) bool {
	switch v.Type {
	case bson.TypeInt32, bson.TypeInt64, bson.TypeDouble, bson.TypeString, bson.TypeDateTime, bson.TypeObjectID:
		return true
	}
	return false
}

// compareRange orders a field's value against a range operand as MongoDB
// does: only within one type's bracket (numbers of any type by their
// values, strings, dates, ObjectIds); ok is false across brackets, where
// MongoDB's range operators match nothing.
func compareRange(field, v bson.RawValue) (int, bool) {
	if _, ok := number(field); ok {
		if _, ok := number(v); !ok {
			return 0, false
		}
		return compareNumbers(field, v), true
	}
	if field.Type != v.Type || !orderable(field) {
		return 0, false
	}
	return compareValues(field, v), true
}

// setOperator is the test of a {$in: [...]} or {$nin: [...]} condition: a
// field is in the list when it, or an element of it, equals a member (null
// matches an absent field); $nin is the opposite.
func setOperator(cond bson.Raw) (func(field bson.RawValue, present bool) bool, bool) {
	elems, _ := cond.Elements()
	if len(elems) != 1 || elems[0].Key() != "$in" && elems[0].Key() != "$nin" {
		return nil, false
	}
	list, _ := elems[0].Value().Array().Values()
	nin := elems[0].Key() == "$nin"
	return func(field bson.RawValue, present bool) bool {
		in := slices.ContainsFunc(list, func(v bson.RawValue) bool {
			if !present {
				return v.Type == bson.TypeNull
			}
			return equal(field, v) || arrayHas(field, v)
		})
		return in != nin
	}, true
}

// compareNumbers orders two numbers by value: whole ones exactly, others
// as doubles (AsInt64 would truncate 5.5 to 5).
func compareNumbers(a, b bson.RawValue) int {
	if a.Type != bson.TypeDouble && b.Type != bson.TypeDouble {
		return cmp.Compare(a.AsInt64(), b.AsInt64())
	}
	x, _ := number(a)
	y, _ := number(b)
	return cmp.Compare(x, y)
}

// compareValues orders two values of one type: numbers (of any type),
// strings, ObjectIds and dates; others by their bytes.
func compareValues(a, b bson.RawValue) int {
	if _, ok := number(a); ok {
		if _, ok := number(b); ok {
			return compareNumbers(a, b)
		}
	}
	if x, ok := a.StringValueOK(); ok {
		if y, ok := b.StringValueOK(); ok {
			return strings.Compare(x, y)
		}
	}
	if x, ok := a.DateTimeOK(); ok {
		if y, ok := b.DateTimeOK(); ok {
			return cmp.Compare(x, y)
		}
	}
	return bytes.Compare(a.Value, b.Value)
}

// findScan answers a find whose filter scans (scanFilter).
func (s *Server) findScan(data colls, cmd Command, filter bson.Raw) bson.Raw {
	if err := checkQuery(filter); err != nil {
		return errorDoc(2, "BadValue", err.Error(), nil)
	}
	var docs []bson.Raw
	if c := data(cmd.DB, cmd.Collection(), false); c != nil {
		for _, d := range c.all() {
			if queryMatches(d, filter) {
				docs = append(docs, d)
			}
		}
	}
	if sort, ok := cmd.Body.Lookup("sort").DocumentOK(); ok {
		if elems, _ := sort.Elements(); len(elems) > 0 {
			key, dir := strings.Split(elems[0].Key(), "."), elems[0].Value().AsInt64()
			slices.SortStableFunc(docs, func(a, b bson.Raw) int {
				c := compareValues(a.Lookup(key...), b.Lookup(key...))
				if dir < 0 {
					return -c
				}
				return c
			})
		}
	}
	if n, ok := cmd.Body.Lookup("limit").AsInt64OK(); ok && n > 0 && int(n) < len(docs) {
		docs = docs[:n]
	}
	keys := make([]string, len(docs))
	for i, d := range docs {
		keys[i] = idKey(d.Lookup("_id"))
	}
	if proj, ok := cmd.Body.Lookup("projection").DocumentOK(); ok {
		for i, d := range docs {
			p, err := project(d, proj)
			if err != nil {
				return errorDoc(2, "BadValue", err.Error(), nil)
			}
			docs[i] = p
		}
	}
	return s.firstBatch(cmd, docs, &stored{data: data, keys: keys})
}

// findReply answers a find with batch, the documents found, projected as
// the command's projection says.
func findReply(cmd Command, batch bson.A) bson.Raw {
	if proj, ok := cmd.Body.Lookup("projection").DocumentOK(); ok {
		for i, d := range batch {
			p, err := project(d.(bson.Raw), proj)
			if err != nil {
				return errorDoc(2, "BadValue", err.Error(), nil)
			}
			batch[i] = p
		}
	}
	return mustRaw(bson.D{{Key: "cursor", Value: bson.D{{Key: "firstBatch", Value: batch}, {Key: "id", Value: int64(0)},
		{Key: "ns", Value: cmd.DB + "." + cmd.Collection()}}}, {Key: "ok", Value: 1.0}})
}

// project applies an inclusion projection of top-level fields ({f: 1, …};
// _id is kept unless {_id: 0}), as MongoDB does; an empty projection keeps
// the whole document. Anything else (exclusions of other fields, paths,
// operators) is refused: the write path never sends it.
func project(d, proj bson.Raw) (bson.Raw, error) {
	elems, err := proj.Elements()
	if err != nil {
		return nil, err
	}
	if len(elems) == 0 {
		return d, nil
	}
	keep, keepID := map[string]bool{}, true
	for _, e := range elems {
		k := e.Key()
		on, ok := e.Value().AsInt64OK()
		if !ok {
			if b, isBool := e.Value().BooleanOK(); isBool {
				on, ok = map[bool]int64{true: 1}[b], true
			}
		}
		switch {
		case !ok || strings.ContainsAny(k, ".$"):
			return nil, fmt.Errorf("mongostub: unsupported projection %s", proj)
		case k == "_id":
			keepID = on != 0
		case on == 0:
			return nil, fmt.Errorf("mongostub: unsupported projection %s (exclusion)", proj)
		default:
			keep[k] = true
		}
	}
	fields, err := d.Elements()
	if err != nil {
		return nil, err
	}
	out := bson.D{}
	for _, f := range fields {
		if f.Key() == "_id" && keepID || keep[f.Key()] {
			out = append(out, bson.E{Key: f.Key(), Value: f.Value()})
		}
	}
	return bson.Marshal(out)
}

// removeScan deletes the matches of a scanning filter (one with limit 1).
func (s *Server) removeScan(c *coll, st Statement, stmt, q bson.Raw) (int, *WriteError) {
	if err := checkQuery(q); err != nil {
		return 0, &WriteError{Code: 2, Message: err.Error()}
	}
	if c == nil {
		return 0, nil
	}
	one := stmt.Lookup("limit").AsInt64() == 1
	n := 0
	for _, d := range c.all() {
		if !queryMatches(d, q) {
			continue
		}
		if we := s.refuse(st, d); we != nil {
			return n, we
		}
		c.remove(idKey(d.Lookup("_id")))
		n++
		if one {
			break
		}
	}
	return n, nil
}

// indexCommand answers createIndexes, keeping each new specification
// (by name) for its namespace, and listIndexes, which lists _id's and
// those; s.mu is held. The specifications are only listed: no index
// enforces uniqueness or orders anything here.
func (s *Server) indexCommand(cmd Command) bson.Raw {
	ns := cmd.DB + "." + cmd.Collection()
	if strings.EqualFold(cmd.Name, "listIndexes") {
		batch := bson.A{mustRaw(bson.D{{Key: "v", Value: int32(2)}, {Key: "key", Value: bson.D{{Key: "_id", Value: int32(1)}}}, {Key: "name", Value: "_id_"}})}
		for _, spec := range s.indexes[ns] {
			batch = append(batch, spec)
		}
		return mustRaw(bson.D{{Key: "cursor", Value: bson.D{{Key: "firstBatch", Value: batch}, {Key: "id", Value: int64(0)},
			{Key: "ns", Value: ns}}}, {Key: "ok", Value: 1.0}})
	}
	specs, _ := cmd.Body.Lookup("indexes").ArrayOK()
	vals, _ := specs.Values()
	for _, v := range vals {
		spec, ok := v.DocumentOK()
		name, named := spec.Lookup("name").StringValueOK()
		if !ok || !named {
			return errorDoc(9, "FailedToParse", "mongostub: createIndexes takes named index specifications", nil)
		}
		if !slices.ContainsFunc(s.indexes[ns], func(d bson.Raw) bool { return d.Lookup("name").StringValue() == name }) {
			s.indexes[ns] = append(s.indexes[ns], spec)
		}
	}
	return mustRaw(bson.D{{Key: "ok", Value: 1.0}})
}
