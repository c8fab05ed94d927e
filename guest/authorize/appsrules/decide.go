package appsrules

import (
	"fmt"
	"slices"
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

// CustomDataClaim is the token claim that carries App Services' custom user
// data (%%user.custom_data): syncgate embeds it from USER_DATA_COLLECTION
// when it mints a token.
const CustomDataClaim = "custom_data"

// UserOf is %%user for a PowerSync client's write: id is the token's sub,
// claims its claims (%%user.data), their CustomDataClaim object
// %%user.custom_data, and %%user.type "normal" (every upload is a user's).
func UserOf(id string, claims map[string]any) User {
	cd, _ := claims[CustomDataClaim].(map[string]any)
	return User{ID: id, Type: "normal", Data: claims, CustomData: cd}
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

// A ScalarDocument is a Document that also tells, without decoding a
// value, whether it has a field and what a field's scalar value is: the
// rules' usual tests ({"owner_id": "%%user.id"}, {"%%this": null},
// {"$exists": true}) read it so. The authorize guest's rows are
// ScalarDocuments; a Document that is not one is read with Get.
type ScalarDocument interface {
	Document
	// Has says whether the document has field.
	Has(field string) bool
	// Scalar returns field's kind and, for a string, its contents (valid
	// until the decision ends), and false when the document lacks the
	// field. ScalarOther: read the value with Get (a number, a boolean, an
	// array, an object, or one the document does not tell).
	Scalar(field string) (s string, kind ScalarKind, present bool)
}

// ScalarKind is what ScalarDocument.Scalar tells of a value.
type ScalarKind uint8

const (
	ScalarOther ScalarKind = iota
	ScalarNull
	ScalarString
)

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
	dc.d.reused, dc.d.full = true, true
	s.decideWith(&dc.d, in)
	return dc.d.out
}

// Allow decides one write as Decide does and returns its Allow and, when it
// denies, its Reason, without building the Decision of a write it allows:
// inside wasm a Decision returned through the calls cost as much as a
// clause.
func (dc *Decider) Allow(s *Set, in *Input) (bool, string) {
	dc.d.reused, dc.d.full = true, false
	if s.decideWith(&dc.d, in) {
		return true, ""
	}
	return false, dc.d.out.Reason
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
	full    bool // build the Decision of an allowed write too (Decide, Explain)
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
	out       Decision  // a denial (every step returns false), or with full an allowed write's Decision
	reused    bool      // a Decider's, which the caller keeps
	userRoles userRoles // reused only: apply_whens that read only the user
	// The last decision's table and its rules in the set rulesOf.
	rulesOf *Set
	recent  [2]tableRules
	// The documents' ScalarDocument forms, by the Document they come from
	// (the guest passes the same two every op).
	scalars     [2]scalarOf
	sData, sCur ScalarDocument // this decision's, nil when not read or not one
	patch       bool           // the op is a PATCH
}

// tableRules is a table's rules in the set rulesOf: a batch's ops mostly
// share a table, or alternate between two.
type tableRules struct {
	table string
	rules *rules
}

// sameString is a == b, telling the same string data, or a first byte
// that differs, without comparing the bytes: inside wasm a comparison is
// a call (the SDK interns a batch's table names, and its ops' names are
// the same constants as ours).
func sameString(a, b string) bool {
	return len(a) == len(b) && (len(a) == 0 || unsafe.StringData(a) == unsafe.StringData(b) || a[0] == b[0] && a == b)
}

// rulesFor is s.rulesFor(table), remembered for two tables.
func (d *decider) rulesFor(s *Set, table string) *rules {
	if d.rulesOf != s {
		d.rulesOf, d.recent = s, [2]tableRules{}
	}
	for i := range d.recent {
		if t := &d.recent[i]; t.rules != nil && sameString(t.table, table) {
			t.table = table // the next op's name is this one's, not an earlier batch's
			return t.rules
		}
	}
	r := s.rulesFor(table)
	if r != nil {
		d.recent[1], d.recent[0] = d.recent[0], tableRules{table: table, rules: r}
	}
	return r
}

func (d *decider) tracef(format string, args ...any) {
	if d.explain {
		d.trace = append(d.trace, fmt.Sprintf(format, args...))
	}
}

// allow records an allowed write (its Decision only when full) and
// returns true.
func (d *decider) allow(reason string) bool {
	if d.explain {
		d.tracef("allow: %s", reason)
	}
	if d.full {
		d.out = Decision{Allow: true, Role: d.role, Reason: reason, Trace: d.trace}
	}
	return true
}

// deny records a denial in d.out and returns false.
func (d *decider) deny(clause, format string, args ...any) bool {
	who := "no role"
	if d.role != "" {
		who = fmt.Sprintf("role %q", d.role)
	}
	reason := fmt.Sprintf("%s: %s: %s", who, clause, fmt.Sprintf(format, args...))
	if d.explain {
		d.tracef("deny: %s", reason)
	}
	d.out = Decision{Role: d.role, Clause: clause, Reason: reason, Trace: d.trace}
	return false
}

// doc is a document as rules see it without copying it: the stored
// document or the op's row, a PATCH's fields laid over the stored ones,
// and the op's id as _id.
type doc struct {
	base Document
	over Document // a PATCH's fields, or nil
	// base and over as ScalarDocuments; nil when they are not.
	sbase, sover ScalarDocument
	id           string
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
	// Each document asked as a ScalarDocument when it is one, without a
	// helper's call.
	switch {
	case k == "_id":
		return true
	case d.over == nil:
	case d.sover != nil:
		if d.sover.Has(k) {
			return true
		}
	case has(d.over, k):
		return true
	}
	if d.sbase != nil {
		return d.sbase.Has(k)
	}
	return has(d.base, k)
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
		d := &decider{explain: true, full: true}
		s.decideWith(d, &in)
		return d.out
	}
	d := deciders.Get().(*decider)
	d.full = true
	s.decideWith(d, &in)
	dec := d.out
	// Drop what the decision referenced (not keys: strings the next
	// decision overwrites), without clearing the whole struct.
	d.role, d.storedDoc, d.afterDoc, d.env, d.user, d.out = "", doc{}, doc{}, env{}, User{}, Decision{}
	d.scalars = [2]scalarOf{}
	deciders.Put(d)
	return dec
}

// The apply_whens that read only the user (role.userOnly) are evaluated
// once for the decisions of one user in a row:
// a batch's ops share their caller, and its roles were chosen again at
// every op. The user is the same when its id and type are and its claims
// are the same maps (a Decider's user does not change its claims between
// decisions).
//
// userRolesOf returns the results so far for the decision's user and r's
// roles (one per role), cleared when the user or the rules changed.
func (d *decider) userRolesOf(s *Set, r *rules) []roleResult {
	u := &d.user
	c := &d.userRoles
	if c.set != s || c.rules != r || !sameString(c.id, u.ID) || !sameString(c.typ, u.Type) || !sameMap(c.data, u.Data) || !sameMap(c.custom, u.CustomData) {
		*c = userRoles{set: s, rules: r, id: u.ID, typ: u.Type, data: u.Data, custom: u.CustomData, results: c.results[:0]}
		for range r.roles {
			c.results = append(c.results, roleResult{})
		}
	}
	c.id, c.typ = u.ID, u.Type // the next op's strings are this one's, not an earlier batch's
	return c.results
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

// decideWith decides with d, which may hold a previous decision's state,
// and reports whether the write is allowed; d.out holds a denial (and
// with d.full an allowed write's Decision).
func (s *Set) decideWith(d *decider, in *Input) bool {
	// What the last decision left that this one would not overwrite (the
	// environment's other fields are set below; clearing all of it was a
	// bulk copy inside wasm).
	d.role, d.env.thisDoc, d.env.prevDoc, d.env.userID = "", nil, nil, nil
	var kind opKind
	op := in.Op
	// The op by its bytes: inside wasm a string comparison is a call.
	put := len(op) == 3 && op[0] == 'P' && op[1] == 'U' && op[2] == 'T'
	d.patch = len(op) == 5 && op[0] == 'P' && op[1] == 'A' && op[2] == 'T' && op[3] == 'C' && op[4] == 'H'
	switch {
	case len(op) == 6 && op[0] == 'D' && op[1] == 'E' && op[2] == 'L' && op[3] == 'E' && op[4] == 'T' && op[5] == 'E':
		kind = deleteOp
	case !put && !d.patch:
		return d.denyOp(in)
	case in.Exists:
		kind = updateOp
	default:
		kind = insertOp
	}
	r := d.rulesFor(s, in.Table)
	if r == nil {
		return d.denyOp(in)
	}
	if d.explain {
		d.traceOp(r, in, kind)
	}
	if kind == deleteOp && !in.Exists {
		return d.allow("nothing is stored under this id, so the delete changes nothing")
	}
	stored, after := d.setDocs(in, kind)
	e := &d.env
	u := &d.user // in stays on the caller's stack (or Decide's)
	u.ID, u.Type, u.Data, u.CustomData = in.User.ID, in.User.Type, in.User.Data, in.User.CustomData
	e.user, e.values, e.prevRoot, e.parents = u, s.values, stored, in.Parents
	if u.ID != "" { // boxed once, not at every %%user.id
		if d.userIDBox == nil || !sameString(d.userID, u.ID) {
			d.userIDBox = u.ID
		}
		d.userID = u.ID // the next op's id is this one's, not an earlier batch's
		e.userID = d.userIDBox
	}
	// The role is chosen on the stored document (on the new one for an
	// insert): a write cannot choose its own role by what it writes.
	e.root = stored
	if kind == insertOp {
		e.root = after
	}
	var ro *role
	var byUser []roleResult // the user-only apply_whens' results (a Decider's)
	if r.userOnly && d.reused {
		byUser = d.userRolesOf(s, r)
	}
	for i, cand := range r.roles {
		var ok bool
		var err error
		if cand.userOnly && byUser != nil {
			res := &byUser[i]
			if !res.done {
				res.ok, res.err = cand.applyWhen.eval(e)
				res.done = true
			}
			ok, err = res.ok, res.err
		} else {
			ok, err = cand.applyWhen.eval(e)
		}
		if err != nil || d.explain {
			if !d.roleTried(cand, ok, err) {
				return false
			}
		}
		if ok {
			ro = cand
			break
		}
	}
	if ro == nil {
		return d.noRole(r)
	}
	d.role = ro.name
	return d.judge(ro, kind, in, stored, after, e)
}

// setDocs sets the decision's documents: the stored one (nil: none) and
// the one after the write (nil for a delete). It is decideWith's, out of
// it: inside wasm a function's size costs at every call.
func (d *decider) setDocs(in *Input, kind opKind) (stored, after *doc) {
	if in.Data == nil {
		in.Data = none
	}
	if in.Current == nil {
		in.Current = none
	}
	// The ScalarDocument forms of the documents the decision reads (a
	// delete reads no data; an insert no stored document).
	d.sData, d.sCur = nil, nil
	if kind != deleteOp {
		d.sData = d.scalarDoc(0, in.Data)
	}
	if in.Exists {
		d.sCur = d.scalarDoc(1, in.Current)
	}
	sData, sCur := d.sData, d.sCur
	// The documents are set field by field: a struct literal was a bulk
	// copy inside wasm.
	if in.Exists {
		sd := &d.storedDoc
		sd.base, sd.over, sd.sbase, sd.sover, sd.id = in.Current, nil, sCur, nil, in.ID
		stored = sd
	}
	ad := &d.afterDoc
	switch {
	case kind == deleteOp:
	case d.patch && in.Exists:
		ad.base, ad.over, ad.sbase, ad.sover, ad.id = in.Current, in.Data, sCur, sData, in.ID
		after = ad
	default:
		ad.base, ad.over, ad.sbase, ad.sover, ad.id = in.Data, nil, sData, nil, in.ID
		after = ad
	}
	return stored, after
}

// scalarOf is a Document's ScalarDocument form (nil: it is not one),
// remembered for the Document it was asked of: inside wasm the assertion
// to an interface cost three calls.
type scalarOf struct {
	of [2]unsafe.Pointer // the Document's words (type and value)
	s  ScalarDocument
}

// scalarDoc is x as a ScalarDocument, or nil; slot i remembers it for the
// next decision, which mostly passes the same Document.
func (d *decider) scalarDoc(i int, x Document) ScalarDocument {
	w := *(*[2]unsafe.Pointer)(unsafe.Pointer(&x))
	c := &d.scalars[i]
	if c.of[0] != w[0] || c.of[1] != w[1] || w[0] == nil { // not c.of != w: an array comparison is a call
		c.of = w
		c.s, _ = x.(ScalarDocument)
	}
	return c.s
}

// The rare steps of decideWith, out of it: inside wasm a function's size
// costs at every call of it.

// denyOp denies an op that is not PUT, PATCH or DELETE, or one of a table
// without rules.
func (d *decider) denyOp(in *Input) bool {
	switch in.Op {
	case "PUT", "PATCH", "DELETE":
		return d.deny("rules", "no rules for table %q (no %s.json and no %s)", in.Table, in.Table, DefaultFile)
	}
	return d.deny("op", "unknown op %q", in.Op)
}

// traceOp records the op and the rules file that decide it.
func (d *decider) traceOp(r *rules, in *Input, kind opKind) {
	d.tracef("%s %s %s: %s (%s); roles from %s", in.Op, in.Table, in.ID, kind, existence(in.Exists), r.file)
	if line := describeParents(r, in); line != "" {
		d.tracef("%s", line)
	}
}

// roleTried traces a role's apply_when, and denies (false) when it could
// not be evaluated.
func (d *decider) roleTried(cand *role, ok bool, err error) bool {
	if err != nil {
		return d.deny("apply_when", "role %q's apply_when could not be evaluated: %v", cand.name, err)
	}
	d.tracef("role %q: apply_when %s → %v", cand.name, cand.applyWhen, ok)
	return true
}

// undefined denies by a clause the role does not define (judge's rare
// steps, out of it).
func (d *decider) undefined(clause string) bool {
	if clause == "document_filters.write" {
		return d.deny(clause, "document_filters has no write expression (an undefined write filter denies)")
	}
	return d.deny(clause, "the role does not define %s (an undefined %s denies)", clause, clause)
}

// noRole denies a write no role applies to.
func (d *decider) noRole(r *rules) bool {
	return d.deny("apply_when", "no role of %s applies to this user and document", r.file)
}

func existence(exists bool) string {
	if exists {
		return "stored document found"
	}
	return "nothing stored"
}
