package appsrules

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"unsafe"
)

// User is the caller as rules see it (%%user).
type User struct {
	ID         string         // %%user.id: the token's sub
	Type       string         // %%user.type: "normal", or "server" for a backend's key
	Data       map[string]any // %%user.data: the token's claims
	CustomData map[string]any // %%user.custom_data
}

func (u *User) asMap() map[string]any {
	m := map[string]any{}
	if u.ID != "" {
		m["id"] = u.ID
	}
	if u.Type != "" {
		m["type"] = u.Type
	}
	if u.Data != nil {
		m["data"] = u.Data
	}
	if u.CustomData != nil {
		m["custom_data"] = u.CustomData
	}
	return m
}

// Input is one write to decide.
type Input struct {
	Op    string // PUT, PATCH or DELETE
	Table string
	ID    string // the document's id: %%root._id
	// Data is the whole row (PUT) or the fields set (PATCH); without id.
	// Nil: no fields (a DELETE).
	Data Document
	// Current is the stored document (without id) when Exists.
	Current Document
	Exists  bool
	User    User
	// Parents are the documents %%parent and %%prevParent read, by
	// collection, each with its id as "_id" (the authorize guest passes
	// guest.Op.Parents). Only a syncgate extension reads them (parents.go).
	Parents map[string][]map[string]any
}

// Document is a document's top-level fields as rules read them. Values are
// what encoding/json decodes with UseNumber. A caller holding maps passes
// Map; the authorize guest passes the rows it gets from the host without
// decoding them first, so rules decode only the fields they read.
type Document interface {
	// Get returns a field's value, and false when the field is absent.
	Get(field string) (any, bool)
	// AppendFields appends the names of the fields to dst.
	AppendFields(dst []string) []string
}

// Map is a Document held as a map.
type Map map[string]any

// Get implements Document.
func (m Map) Get(field string) (any, bool) {
	v, ok := m[field]
	return v, ok
}

// AppendFields implements Document.
func (m Map) AppendFields(dst []string) []string {
	for k := range m {
		dst = append(dst, k)
	}
	return dst
}

// none is an absent document.
var none Document = Map(nil)

// Decision is the rules' answer for one write.
type Decision struct {
	Allow bool
	Role  string // the role that applied; "" when none did
	// Clause names what denied: "apply_when", "document_filters.write",
	// "write", "insert", "delete", "fields.<name>.write",
	// "fields.<a>.fields.<b>.write", "additional_fields.write", "rules" (no
	// rules for the table) or "op".
	Clause string
	Reason string   // one sentence for people, naming the role and clause
	Trace  []string // the decision path; filled by Explain only
}

// Decide decides one write.
func (s *Set) Decide(in Input) Decision { return s.decide(in, false) }

// A Decider decides writes with storage it reuses from one decision to the
// next (Set.Decide takes one from a pool for each decision). One goroutine
// uses it at a time, as a guest instance serves one call at a time; it
// holds on to the last decision's input until the next. A role whose
// apply_when reads only %%user is evaluated once for decisions in a row by
// the same user, told by its id, type and the identity of its Data and
// CustomData maps: the caller must not change those maps between
// decisions.
type Decider struct{ d decider }

// Decide decides one write by the rules of s, as s.Decide(*in) does
// (setting a nil in.Data or in.Current to an empty document).
func (dc *Decider) Decide(s *Set, in *Input) Decision {
	dc.d.reused = true
	return s.decideWith(&dc.d, in)
}

// Explain decides one write and records the path in Decision.Trace: the
// role chosen, each clause and each changed field.
func (s *Set) Explain(in Input) Decision { return s.decide(in, true) }

type opKind uint8

const (
	insertOp opKind = iota
	updateOp
	deleteOp
)

func (k opKind) String() string { return [...]string{"insert", "update", "delete"}[k] }

type decider struct {
	explain bool
	trace   []string
	role    string
	keys    [16]string // changed fields, without allocating for most rows
	// One allocation for a decision: its documents and environment.
	storedDoc, afterDoc doc
	env                 env
	user                User
	// The last decision's %%user.id boxed: a batch's ops share their
	// caller, and boxing a string allocates.
	userID    string
	userIDBox any
	out       Decision  // a clause's denial (clause, field, fields and report return false)
	reused    bool      // a Decider's, which the caller keeps
	userRoles userRoles // reused only: apply_whens that read only the user
	// The last decision's table and its rules in the set rulesOf.
	rulesOf    *Set
	rulesTable string
	rules      *rules
}

func (d *decider) tracef(format string, args ...any) {
	if d.explain {
		d.trace = append(d.trace, fmt.Sprintf(format, args...))
	}
}

// refuse records a denial for the caller, which returns d.out.
func (d *decider) refuse(dec Decision) bool {
	d.out = dec
	return false
}

func (d *decider) allow(reason string) Decision {
	if d.explain {
		d.tracef("allow: %s", reason)
	}
	return Decision{Allow: true, Role: d.role, Reason: reason, Trace: d.trace}
}

func (d *decider) deny(clause, format string, args ...any) Decision {
	who := "no role"
	if d.role != "" {
		who = fmt.Sprintf("role %q", d.role)
	}
	reason := fmt.Sprintf("%s: %s: %s", who, clause, fmt.Sprintf(format, args...))
	if d.explain {
		d.tracef("deny: %s", reason)
	}
	return Decision{Role: d.role, Clause: clause, Reason: reason, Trace: d.trace}
}

// doc is a document as rules see it without copying it: the stored
// document or the op's row, a PATCH's fields laid over the stored ones,
// and the op's id as _id.
type doc struct {
	base Document
	over Document // a PATCH's fields, or nil
	id   string
}

// Get implements Document.
func (d *doc) Get(k string) (any, bool) {
	if k == "_id" {
		return d.id, true
	}
	if d.over != nil {
		if v, ok := d.over.Get(k); ok {
			return v, true
		}
	}
	return d.base.Get(k)
}

// Has says whether the document has field k, without decoding it when
// its documents can tell.
func (d *doc) Has(k string) bool {
	return k == "_id" || d.over != nil && has(d.over, k) || has(d.base, k)
}

// AppendFields implements Document (without _id).
func (d *doc) AppendFields(dst []string) []string {
	dst = d.base.AppendFields(dst)
	if d.over != nil {
		n := len(dst)
		for _, k := range d.over.AppendFields(nil) {
			if !slices.Contains(dst[:n], k) {
				dst = append(dst, k)
			}
		}
	}
	return dst
}

// lookup follows a path from the document; nil d is an absent document.
func (d *doc) lookup(path []string) (any, bool) {
	if d == nil {
		return nil, false
	}
	if len(path) == 0 {
		return object(d), true
	}
	v, ok := d.Get(path[0])
	if !ok || len(path) == 1 { // most rules read a top-level field
		return v, ok
	}
	return lookup(v, path[1:])
}

// object is a whole document as one map (for %%root itself).
func object(d Document) map[string]any {
	out := map[string]any{}
	for _, k := range d.AppendFields(nil) {
		out[k], _ = d.Get(k)
	}
	if v, ok := d.Get("_id"); ok {
		out["_id"] = v
	}
	return out
}

// deciders are reused: a decision's documents and environment are one
// allocation, which Decide returns to the pool (Explain's trace escapes, so
// Explain does not).
var deciders = sync.Pool{New: func() any { return new(decider) }}

func (s *Set) decide(in Input, explain bool) Decision {
	if explain {
		return s.decideWith(&decider{explain: true}, &in)
	}
	d := deciders.Get().(*decider)
	dec := s.decideWith(d, &in)
	// Drop what the decision referenced (not keys: strings the next
	// decision overwrites), without clearing the whole struct.
	d.role, d.storedDoc, d.afterDoc, d.env, d.user = "", doc{}, doc{}, env{}, User{}
	deciders.Put(d)
	return dec
}

// appliesToUser is role i of r's apply_when, which reads only the user
// (role.userOnly), evaluated once for the decisions of one user in a row:
// a batch's ops share their caller, and its roles were chosen again at
// every op. The user is the same when its id and type are and its claims
// are the same maps (a Decider's user does not change its claims between
// decisions).
func (d *decider) appliesToUser(s *Set, r *rules, i int, e *env) (bool, error) {
	u := &d.user
	c := &d.userRoles
	if c.set != s || c.rules != r || c.id != u.ID || c.typ != u.Type || !sameMap(c.data, u.Data) || !sameMap(c.custom, u.CustomData) {
		*c = userRoles{set: s, rules: r, id: u.ID, typ: u.Type, data: u.Data, custom: u.CustomData, results: c.results[:0]}
	}
	for len(c.results) <= i {
		c.results = append(c.results, roleResult{})
	}
	res := &c.results[i]
	if !res.done {
		res.ok, res.err = r.roles[i].applyWhen.eval(e)
		res.done = true
	}
	return res.ok, res.err
}

// userRoles are the results of the user-only apply_whens of one table's
// roles for one user.
type userRoles struct {
	set     *Set
	rules   *rules
	id, typ string
	data    map[string]any
	custom  map[string]any
	results []roleResult // by role
}

type roleResult struct {
	ok, done bool
	err      error
}

// sameMap reports whether a and b are the same map (not equal contents).
func sameMap(a, b map[string]any) bool {
	return *(*unsafe.Pointer)(unsafe.Pointer(&a)) == *(*unsafe.Pointer)(unsafe.Pointer(&b))
}

// decideWith decides with d, which may hold a previous decision's state.
func (s *Set) decideWith(d *decider, in *Input) Decision {
	// What the last decision left that this one would not overwrite (the
	// environment's other fields are set below; clearing all of it was a
	// bulk copy inside wasm).
	d.role, d.env.thisDoc, d.env.prevDoc, d.env.userID = "", nil, nil, nil
	var kind opKind
	switch {
	case in.Op == "DELETE":
		kind = deleteOp
	case in.Op != "PUT" && in.Op != "PATCH":
		return d.deny("op", "unknown op %q", in.Op)
	case in.Exists:
		kind = updateOp
	default:
		kind = insertOp
	}
	r := d.rules
	if d.rulesOf != s || d.rulesTable != in.Table { // a batch's ops mostly share a table
		r = s.rulesFor(in.Table)
		d.rules, d.rulesOf, d.rulesTable = r, s, in.Table
	}
	if r == nil {
		return d.deny("rules", "no rules for table %q (no %s.json and no %s)", in.Table, in.Table, DefaultFile)
	}
	if d.explain {
		d.tracef("%s %s %s: %s (%s); roles from %s", in.Op, in.Table, in.ID, kind, existence(in.Exists), r.file)
		if line := describeParents(r, in); line != "" {
			d.tracef("%s", line)
		}
	}
	if kind == deleteOp && !in.Exists {
		return d.allow("nothing is stored under this id, so the delete changes nothing")
	}
	if in.Data == nil {
		in.Data = none
	}
	if in.Current == nil {
		in.Current = none
	}
	var stored, after *doc
	if in.Exists {
		d.storedDoc = doc{base: in.Current, id: in.ID}
		stored = &d.storedDoc
	}
	switch {
	case kind == deleteOp:
	case in.Op == "PATCH" && in.Exists:
		d.afterDoc = doc{base: in.Current, over: in.Data, id: in.ID}
		after = &d.afterDoc
	default:
		d.afterDoc = doc{base: in.Data, id: in.ID}
		after = &d.afterDoc
	}
	e := &d.env
	d.user = in.User // in stays on the caller's stack (or Decide's)
	e.user, e.values, e.prevRoot, e.parents = &d.user, s.values, stored, in.Parents
	if in.User.ID != "" { // boxed once, not at every %%user.id
		if d.userIDBox == nil || d.userID != in.User.ID {
			d.userID, d.userIDBox = in.User.ID, in.User.ID
		}
		e.userID = d.userIDBox
	}
	// The role is chosen on the stored document (on the new one for an
	// insert): a write cannot choose its own role by what it writes.
	e.root = stored
	if kind == insertOp {
		e.root = after
	}
	var ro *role
	for i, cand := range r.roles {
		var ok bool
		var err error
		if cand.userOnly && d.reused {
			ok, err = d.appliesToUser(s, r, i, e)
		} else {
			ok, err = cand.applyWhen.eval(e)
		}
		if err != nil {
			return d.deny("apply_when", "role %q's apply_when could not be evaluated: %v", cand.name, err)
		}
		if d.explain {
			d.tracef("role %q: apply_when %s → %v", cand.name, cand.applyWhen, ok)
		}
		if ok {
			ro = cand
			break
		}
	}
	if ro == nil {
		return d.deny("apply_when", "no role of %s applies to this user and document", r.file)
	}
	d.role = ro.name
	return d.judge(ro, kind, in, stored, after, e)
}

func existence(exists bool) string {
	if exists {
		return "stored document found"
	}
	return "nothing stored"
}

// judge applies the chosen role, in the order of App Services' write
// flowchart: document filter, then document-level write, then field-level
// permissions, then insert or delete.
func (d *decider) judge(ro *role, kind opKind, in *Input, stored, after *doc, e *env) Decision {
	if ro.hasFilters {
		if ro.filterWrite == nil {
			return d.deny("document_filters.write", "document_filters has no write expression (an undefined write filter denies)")
		}
		if kind != insertOp {
			e.root = stored
			if !d.clause(ro.filterWrite, "document_filters.write", "the stored document", e) {
				return d.out
			}
		}
		if kind != deleteOp {
			e.root = after
			if !d.clause(ro.filterWrite, "document_filters.write", "the document after the write", e) {
				return d.out
			}
		}
	}
	e.root = after
	if kind == deleteOp {
		e.root = stored
	}
	if ro.write != nil {
		if !d.clause(ro.write, "write", "the document", e) {
			return d.out
		}
	} else if src := fieldsOf(kind, in); src != nil && !d.explain && ro.fields.additional == constNode(true) {
		// Every field not named may be written: judge the named fields the
		// op changes, in the order Explain does, without listing the rest.
		var before, target Document = stored, after
		if stored == nil {
			before = none
		}
		if kind == deleteOp {
			target = stored
		}
		hs, _ := src.(hasser)
		for i, k := range ro.fields.names {
			if hs != nil && !hs.Has(k) || hs == nil && !has(src, k) {
				continue
			}
			if !d.field(&ro.fields, ro.fields.rules[i], "", k, before, target, e) {
				return d.out
			}
		}
		e.thisDoc, e.prevDoc = nil, nil
	} else {
		var changed []string
		var what string
		buf := d.keys[:0]
		switch {
		case kind == insertOp:
			changed, what = docFields(buf, in.Data, ro.fields), "every field of the new document"
		case kind == deleteOp:
			changed, what = docFields(buf, in.Current, ro.fields), "every field of the stored document"
		case in.Op == "PATCH":
			changed, what = docFields(buf, in.Data, ro.fields), "the fields the PATCH sets"
		default:
			changed, what = differing(buf, in.Current, in.Data), "the fields the PUT changes"
		}
		if d.explain {
			d.tracef("write is not defined: field permissions judge %s: [%s]", what, strings.Join(changed, ", "))
		}
		var before, target Document = stored, after
		if stored == nil {
			before = none
		}
		if kind == deleteOp { // %%this is the stored value: the field as it is deleted
			target = stored
		}
		if !d.fields(ro.fields, "", changed, before, target, e) {
			return d.out
		}
	}
	switch kind {
	case insertOp:
		if ro.insert == nil {
			return d.deny("insert", "the role does not define insert (an undefined insert denies)")
		}
		if !d.clause(ro.insert, "insert", "the new document", e) {
			return d.out
		}
	case deleteOp:
		if ro.delete == nil {
			return d.deny("delete", "the role does not define delete (an undefined delete denies)")
		}
		if !d.clause(ro.delete, "delete", "the stored document", e) {
			return d.out
		}
	}
	return d.allow(ro.allowReason[kind])
}

// clause evaluates one expression; false or an error denies.
func (d *decider) clause(n node, clause, on string, e *env) bool {
	ok, err := n.eval(e)
	if ok && err == nil && !d.explain {
		return true
	}
	return d.report(n, clause, on, ok, err)
}

// fieldClause is clause for a field rule; it builds the clause's name only
// when it denies or explains.
func (d *decider) fieldClause(n node, prefix, k string, additional bool, e *env) bool {
	ok, err := n.eval(e)
	if ok && err == nil && !d.explain {
		return true
	}
	clause := prefix + "fields." + k + ".write"
	if additional {
		clause = prefix + "additional_fields.write"
	}
	return d.report(n, clause, "field "+prefix+k, ok, err)
}

func (d *decider) report(n node, clause, on string, ok bool, err error) bool {
	if d.explain {
		d.tracef("%s on %s: %s → %v", clause, on, n, result(ok, err))
	}
	if err != nil {
		return d.refuse(d.deny(clause, "could not be evaluated on %s: %v", on, err))
	}
	if !ok {
		return d.refuse(d.deny(clause, "%s does not hold for %s", n, on))
	}
	return true
}

func result(ok bool, err error) string {
	if err != nil {
		return "error: " + err.Error()
	}
	if ok {
		return "true"
	}
	return "false"
}

// fieldsOf is the document whose every field an op changes (an insert's
// row, a delete's stored document, a PATCH's fields); nil for a PUT over a
// stored document, which changes the fields that differ.
func fieldsOf(kind opKind, in *Input) Document {
	switch {
	case kind == insertOp || in.Op == "PATCH":
		return in.Data
	case kind == deleteOp:
		return in.Current
	}
	return nil
}

// hasser is a Document that tells whether it has a field without decoding
// it.
type hasser interface{ Has(string) bool }

// has says whether a document has a field, without decoding it when the
// document can tell.
func has(d Document, k string) bool {
	if h, ok := d.(hasser); ok {
		return h.Has(k)
	}
	_, ok := d.Get(k)
	return ok
}

// docFields appends a document's fields for field-level judgement to buf,
// sorted. The id is not one of them unless the rules name it: it is the
// op's id, given on every write and never changed by one.
func docFields(buf []string, d Document, fr fieldRules) []string {
	buf = d.AppendFields(buf)
	if fr.fields["_id"] == nil {
		buf = slices.DeleteFunc(buf, func(k string) bool { return k == "_id" })
	}
	slices.Sort(buf)
	return buf
}

// differing appends to buf the fields whose values differ between two
// documents, a field present in one only included, sorted.
func differing(buf []string, a, b Document) []string {
	start := len(buf)
	buf = a.AppendFields(buf)
	n := len(buf)
	buf = b.AppendFields(buf)
	out := buf[:start]
	for i, k := range buf[start:] {
		if i >= n-start { // in b: only when a lacks it
			if _, ok := a.Get(k); !ok {
				out = append(out, k)
			}
			continue
		}
		v, _ := a.Get(k)
		if w, ok := b.Get(k); !ok || !equal(v, w) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// fields judges each changed field by its rule, nested rules for embedded
// documents, or additional_fields. A rule with write on a parent field
// decides for its children.
func (d *decider) fields(fr fieldRules, prefix string, changed []string, before, after Document, e *env) bool {
	for _, k := range changed {
		if !d.field(&fr, fr.fields[k], prefix, k, before, after, e) {
			return false
		}
	}
	e.thisDoc, e.prevDoc = nil, nil
	return true
}

// field judges one changed field k by its rule (nil: not named in fr),
// leaving %%this and %%prev set for the next field to overwrite.
func (d *decider) field(fr *fieldRules, rule *fieldRule, prefix, k string, before, after Document, e *env) bool {
	// %%this and %%prev read the field only if a rule asks for them.
	e.thisDoc, e.prevDoc, e.field = after, before, k
	if rule == nil {
		if fr.additional == nil {
			return d.refuse(d.deny(prefix+"additional_fields.write", "field %s%s is not named in fields and additional_fields.write is not defined", prefix, k))
		}
		return d.fieldClause(fr.additional, prefix, k, true, e)
	}
	if rule.write != nil {
		return d.fieldClause(rule.write, prefix, k, false, e)
	}
	clause := prefix + "fields." + k + ".write"
	if !rule.nested {
		return d.refuse(d.deny(clause, "field %s has no write permission", k))
	}
	bv, bok := before.Get(k)
	av, aok := after.Get(k)
	bm, bIsObj := bv.(map[string]any)
	am, aIsObj := av.(map[string]any)
	if bok && !bIsObj || aok && !aIsObj {
		return d.refuse(d.deny(clause, "field %s is not an embedded document on both sides of the write, and only its nested fields have permissions", k))
	}
	sub := differing(nil, Map(bm), Map(am))
	if d.explain {
		d.tracef("field %s: nested permissions judge [%s]", k, strings.Join(sub, ", "))
	}
	return d.fields(rule.fieldRules, prefix+"fields."+k+".", sub, Map(bm), Map(am), e)
}
