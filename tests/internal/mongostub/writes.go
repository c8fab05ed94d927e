package mongostub

import (
	"cmp"
	"errors"
	"slices"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Reads and writes of documents: find, insert, update (replacement and
// operators), delete, and the collections' create/collMod.

func idKey(v bson.RawValue) string { return string(rune(v.Type)) + string(v.Value) }

func idText(v bson.RawValue) string {
	if v.Type == 0 {
		return ""
	}
	if s, ok := v.StringValueOK(); ok {
		return s
	}
	if oid, ok := v.ObjectIDOK(); ok {
		return oid.Hex()
	}
	return v.String()
}

// ids selects the ids a filter names: nil, true means every document.
func ids(filter bson.Raw) ([]bson.RawValue, bool, error) {
	if len(filter) == 0 {
		return nil, true, nil
	}
	elems, err := filter.Elements()
	if err != nil {
		return nil, false, err
	}
	if len(elems) == 0 {
		return nil, true, nil
	}
	if elems[0].Key() != "_id" {
		return nil, false, errors.New("mongostub: only {}, {_id: v} and {_id: {$in: [...]}} filters are supported (with conditions on other fields: conditions.go)")
	}
	v := elems[0].Value()
	if d, ok := v.DocumentOK(); ok {
		if ops, _ := d.Elements(); len(ops) != 1 {
			return nil, false, errors.New("mongostub: an _id filter takes one operator, $eq or $in")
		}
		if eq, err := d.LookupErr("$eq"); err == nil {
			return []bson.RawValue{eq}, false, nil
		}
		in, err := d.LookupErr("$in")
		if err != nil {
			return nil, false, errors.New("mongostub: only $in is supported in an _id filter")
		}
		arr, ok := in.ArrayOK()
		if !ok {
			return nil, false, errors.New("mongostub: $in needs an array")
		}
		vals, err := arr.Values()
		return vals, false, err
	}
	return []bson.RawValue{v}, false, nil
}

func (s *Server) find(data colls, cmd Command) bson.Raw {
	filter, _ := cmd.Body.Lookup("filter").DocumentOK()
	want, all, err := ids(filter)
	if err == nil {
		err = checkConditions(filter)
	}
	if err != nil {
		return errorDoc(2, "BadValue", err.Error(), nil)
	}
	batch := bson.A{}
	if c := data(cmd.DB, cmd.Collection(), false); c != nil {
		if all {
			for _, d := range c.all() {
				batch = append(batch, d)
			}
		} else {
			seen := map[string]bool{}
			conds := conditions(filter)
			for _, id := range want {
				k := idKey(id)
				if d, ok := c.get(k); ok && !seen[k] && matches(d, conds) {
					seen[k] = true
					batch = append(batch, d)
				}
			}
		}
	}
	return findReply(cmd, batch)
}

func (s *Server) listCollections(cmd Command) bson.Raw {
	filter, _ := cmd.Body.Lookup("filter").DocumentOK()
	name, _ := filter.Lookup("name").StringValueOK()
	batch := bson.A{}
	seen := map[string]bool{}
	add := func(n string) {
		if !seen[n] && (name == "" || n == name) {
			seen[n] = true
			batch = append(batch, bson.D{{Key: "name", Value: n}, {Key: "type", Value: "collection"}})
		}
	}
	for n := range s.data[cmd.DB] {
		add(n)
	}
	for k := range s.colls {
		if db, n, _ := strings.Cut(k, "."); db == cmd.DB {
			add(n)
		}
	}
	return mustRaw(bson.D{{Key: "cursor", Value: bson.D{{Key: "firstBatch", Value: batch}, {Key: "id", Value: int64(0)},
		{Key: "ns", Value: cmd.DB + ".$cmd.listCollections"}}}, {Key: "ok", Value: 1.0}})
}

func (s *Server) createOrMod(cmd Command) bson.Raw {
	name := cmd.Collection()
	key := cmd.DB + "." + name
	exists := s.colls[key] != nil || s.data.coll(cmd.DB, name, false) != nil
	create := strings.EqualFold(cmd.Name, "create")
	if create && exists {
		return errorDoc(48, "NamespaceExists", "mongostub: collection already exists. NS: "+key, nil)
	}
	if !create && !exists {
		return errorDoc(26, "NamespaceNotFound", "mongostub: ns does not exist: "+key, nil)
	}
	info := s.colls[key]
	if info == nil {
		info = &CollectionInfo{ValidationLevel: "strict", ValidationAction: "error"}
	}
	if v, ok := cmd.Body.Lookup("validator").DocumentOK(); ok {
		info.Validator = append(bson.Raw(nil), v...)
	}
	if v, ok := cmd.Body.Lookup("validationLevel").StringValueOK(); ok {
		if v != "off" && v != "strict" && v != "moderate" {
			return errorDoc(2, "BadValue", "mongostub: bad validationLevel "+v, nil)
		}
		info.ValidationLevel = v
	}
	if v, ok := cmd.Body.Lookup("validationAction").StringValueOK(); ok {
		if v != "error" && v != "warn" {
			return errorDoc(2, "BadValue", "mongostub: bad validationAction "+v, nil)
		}
		info.ValidationAction = v
	}
	s.colls[key] = info
	s.data.coll(cmd.DB, name, true)
	return mustRaw(bson.D{{Key: "ok", Value: 1.0}})
}

// write runs an insert, update or delete on data and reports whether a
// statement failed.
func (s *Server) write(data colls, cmd Command, inTxn bool) (bson.Raw, bool) {
	name := strings.ToLower(cmd.Name)
	ident := map[string]string{"insert": "documents", "update": "updates", "delete": "deletes"}[name]
	stmts := cmd.Docs(ident)
	ordered := true
	if o, ok := cmd.Body.Lookup("ordered").BooleanOK(); ok {
		ordered = o
	}
	var c *coll
	if !s.cfg.Discard {
		c = data(cmd.DB, cmd.Collection(), true)
	}
	st := Statement{Command: name, DB: cmd.DB, Collection: cmd.Collection(), InTxn: inTxn}
	n, modified := 0, 0
	var upserted bson.A
	var wes []WriteError
	for i, stmt := range stmts {
		var we *WriteError
		switch name {
		case "insert":
			we = s.insert(c, st, stmt)
			if we == nil {
				n++
			}
		case "update":
			var m, mod int
			var up *bson.RawValue
			m, mod, up, we = s.update(c, st, stmt)
			n += m
			modified += mod
			if up != nil {
				n++ // MongoDB counts an upsert in n
				upserted = append(upserted, bson.D{{Key: "index", Value: int32(i)}, {Key: "_id", Value: *up}})
			}
		case "delete":
			var m int
			m, we = s.remove(c, st, stmt)
			n += m
		}
		if we != nil {
			we.Index = i
			wes = append(wes, *we)
			if ordered {
				break
			}
		}
	}
	d := bson.D{{Key: "n", Value: int32(n)}}
	if name == "update" {
		d = append(d, bson.E{Key: "nModified", Value: int32(modified)})
		if len(upserted) > 0 {
			d = append(d, bson.E{Key: "upserted", Value: upserted})
		}
	}
	if len(wes) > 0 {
		d = append(d, bson.E{Key: "writeErrors", Value: writeErrorsArray(wes)})
	}
	return mustRaw(append(d, bson.E{Key: "ok", Value: 1.0})), len(wes) > 0
}

func (s *Server) refuse(st Statement, doc bson.Raw) *WriteError {
	if s.cfg.Refuse == nil {
		return nil
	}
	st.Doc = doc
	return s.cfg.Refuse(st)
}

func (s *Server) insert(c *coll, st Statement, doc bson.Raw) *WriteError {
	id, err := doc.LookupErr("_id")
	if err != nil {
		return &WriteError{Code: 2, Message: "mongostub: insert without _id"}
	}
	if we := s.refuse(st, doc); we != nil {
		return we
	}
	if c == nil {
		return nil
	}
	if _, ok := c.get(idKey(id)); ok {
		return &WriteError{Code: 11000, Message: "E11000 duplicate key error collection: " + st.DB + "." + st.Collection + " index: _id_ dup key: { _id: " + id.String() + " }"}
	}
	c.put(idKey(id), append(bson.Raw(nil), doc...))
	return nil
}

func (s *Server) update(c *coll, st Statement, stmt bson.Raw) (int, int, *bson.RawValue, *WriteError) {
	q, _ := stmt.Lookup("q").DocumentOK()
	u, ok := stmt.Lookup("u").DocumentOK()
	if !ok {
		return 0, 0, nil, &WriteError{Code: 9, Message: "mongostub: update needs a document u (pipelines are not supported)"}
	}
	upsert, _ := stmt.Lookup("upsert").BooleanOK()
	multi, _ := stmt.Lookup("multi").BooleanOK()
	want, all, err := ids(q)
	if err != nil || all || len(want) == 0 || (len(want) > 1 && (!multi || upsert)) {
		return 0, 0, nil, &WriteError{Code: 2, Message: "mongostub: updates need an {_id: v} filter, or {_id: {$in: [...]}} with multi and no upsert"}
	}
	if err := checkConditions(q); err != nil {
		return 0, 0, nil, &WriteError{Code: 2, Message: err.Error()}
	}
	if elems, _ := u.Elements(); multi && (len(elems) == 0 || !strings.HasPrefix(elems[0].Key(), "$")) {
		return 0, 0, nil, &WriteError{Code: 9, Message: "mongostub: multi update is not supported for replacement-style update"}
	}
	if len(want) == 1 {
		return s.updateID(c, st, q, u, want[0], upsert)
	}
	// An update of several documents by id, each once, in _id order (as
	// MongoDB's scan of the _id index goes); a write error stops it there
	// and, as on MongoDB, the statement reports none updated, though those
	// before stay updated.
	want = slices.Clone(want)
	slices.SortStableFunc(want, func(a, b bson.RawValue) int {
		if c := cmp.Compare(typeOrder(a), typeOrder(b)); c != 0 {
			return c
		}
		return compareValues(a, b)
	})
	n, mod := 0, 0
	seen := map[string]bool{}
	for _, id := range want {
		if seen[idKey(id)] {
			continue
		}
		seen[idKey(id)] = true
		m, md, _, we := s.updateID(c, st, q, u, id, false)
		n, mod = n+m, mod+md
		if we != nil {
			return 0, 0, nil, we
		}
	}
	return n, mod, nil, nil
}

// typeOrder is MongoDB's order of the types an _id may have, as the _id
// index sorts them: null, numbers, strings, documents, arrays, binary
// data, ObjectIds, booleans, dates; others last.
func typeOrder(v bson.RawValue) int {
	switch v.Type {
	case bson.TypeNull:
		return 1
	case bson.TypeInt32, bson.TypeInt64, bson.TypeDouble, bson.TypeDecimal128:
		return 2
	case bson.TypeString, bson.TypeSymbol:
		return 3
	case bson.TypeEmbeddedDocument:
		return 4
	case bson.TypeArray:
		return 5
	case bson.TypeBinary:
		return 6
	case bson.TypeObjectID:
		return 7
	case bson.TypeBoolean:
		return 8
	case bson.TypeDateTime:
		return 9
	}
	return 10
}

// updateID applies update u to document id if it meets filter q's
// conditions on other fields (upsert: inserts it if absent).
func (s *Server) updateID(c *coll, st Statement, q, u bson.Raw, id bson.RawValue, upsert bool) (int, int, *bson.RawValue, *WriteError) {
	elems, _ := u.Elements()
	operator := len(elems) > 0 && strings.HasPrefix(elems[0].Key(), "$")
	if c == nil { // Discard: as if the document existed
		next, we := s.updated(mustRaw(bson.D{{Key: "_id", Value: id}}), id, u, operator)
		if we == nil {
			we = s.refuse(st, next)
		}
		if we != nil {
			return 0, 0, nil, we
		}
		return 1, 1, nil, nil
	}
	old, exists := c.get(idKey(id))
	if exists && !matches(old, conditions(q)) {
		if upsert { // the insert collides with the document that failed the filter
			return 0, 0, nil, &WriteError{Code: 11000, Message: "E11000 duplicate key error collection: " + st.DB + "." + st.Collection + " index: _id_ dup key: { _id: " + id.String() + " }"}
		}
		return 0, 0, nil, nil
	}
	if !exists && !upsert {
		return 0, 0, nil, nil
	}
	base := bson.Raw(mustRaw(bson.D{{Key: "_id", Value: id}}))
	if exists {
		base = old
	}
	next, we := s.updated(base, id, u, operator)
	if we == nil {
		we = s.refuse(st, next)
	}
	if we != nil {
		return 0, 0, nil, we
	}
	c.put(idKey(id), next)
	if !exists {
		return 0, 0, &id, nil
	}
	mod := 0
	if string(old) != string(next) {
		mod = 1
	}
	return 1, mod, nil, nil
}

// updated is base after u: a replacement keeps base's _id; $set sets
// top-level fields in place or at the end.
func (s *Server) updated(base bson.Raw, id bson.RawValue, u bson.Raw, operator bool) (bson.Raw, *WriteError) {
	if !operator {
		out := bson.D{{Key: "_id", Value: id}}
		elems, _ := u.Elements()
		for _, e := range elems {
			if e.Key() == "_id" {
				if idKey(e.Value()) != idKey(id) {
					return nil, &WriteError{Code: 66, Message: "mongostub: the _id field cannot be changed"}
				}
				continue
			}
			out = append(out, bson.E{Key: e.Key(), Value: e.Value()})
		}
		return mustRaw(out), nil
	}
	var doc bson.D
	belems, _ := base.Elements()
	for _, e := range belems {
		doc = append(doc, bson.E{Key: e.Key(), Value: e.Value()})
	}
	uelems, _ := u.Elements()
	for _, op := range uelems {
		if op.Key() == "$inc" || op.Key() == "$push" {
			var we *WriteError
			if doc, we = applyOperator(doc, op); we != nil {
				return nil, we
			}
			continue
		}
		if op.Key() != "$set" {
			return nil, &WriteError{Code: 9, Message: "mongostub: only $set, $inc and $push are supported, not " + op.Key()}
		}
		set, ok := op.Value().DocumentOK()
		if !ok {
			return nil, &WriteError{Code: 9, Message: "mongostub: $set needs a document"}
		}
		fields, _ := set.Elements()
	field:
		for _, f := range fields {
			if f.Key() == "_id" {
				if idKey(f.Value()) != idKey(id) {
					return nil, &WriteError{Code: 66, Message: "mongostub: the _id field cannot be changed"}
				}
				continue
			}
			for i := range doc {
				if doc[i].Key == f.Key() {
					doc[i].Value = f.Value()
					continue field
				}
			}
			doc = append(doc, bson.E{Key: f.Key(), Value: f.Value()})
		}
	}
	return mustRaw(doc), nil
}

func (s *Server) remove(c *coll, st Statement, stmt bson.Raw) (int, *WriteError) {
	q, _ := stmt.Lookup("q").DocumentOK()
	if scanFilter(q) {
		return s.removeScan(c, st, stmt, q)
	}
	want, all, err := ids(q)
	if err != nil || all || len(want) != 1 {
		return 0, &WriteError{Code: 2, Message: "mongostub: deletes need an {_id: v} filter"}
	}
	if err := checkConditions(q); err != nil {
		return 0, &WriteError{Code: 2, Message: err.Error()}
	}
	if c == nil {
		if we := s.refuse(st, mustRaw(bson.D{{Key: "_id", Value: want[0]}})); we != nil {
			return 0, we
		}
		return 1, nil
	}
	old, ok := c.get(idKey(want[0]))
	if !ok || !matches(old, conditions(q)) {
		return 0, nil
	}
	if we := s.refuse(st, old); we != nil {
		return 0, we
	}
	c.remove(idKey(want[0]))
	return 1, nil
}
