package appsrules

import (
	"fmt"
	"sort"
	"strings"
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
	Data map[string]any
	// Current is the stored document (without id) when Exists.
	Current map[string]any
	Exists  bool
	User    User
}

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
}

func (d *decider) tracef(format string, args ...any) {
	if d.explain {
		d.trace = append(d.trace, fmt.Sprintf(format, args...))
	}
}

func (d *decider) allow(reason string) Decision {
	d.tracef("allow: %s", reason)
	return Decision{Allow: true, Role: d.role, Reason: reason, Trace: d.trace}
}

func (d *decider) deny(clause, format string, args ...any) Decision {
	who := "no role"
	if d.role != "" {
		who = fmt.Sprintf("role %q", d.role)
	}
	reason := fmt.Sprintf("%s: %s: %s", who, clause, fmt.Sprintf(format, args...))
	d.tracef("deny: %s", reason)
	return Decision{Role: d.role, Clause: clause, Reason: reason, Trace: d.trace}
}

func withID(doc map[string]any, id string) map[string]any {
	out := make(map[string]any, len(doc)+1)
	for k, v := range doc {
		out[k] = v
	}
	out["_id"] = id
	return out
}

func (s *Set) decide(in Input, explain bool) Decision {
	d := &decider{explain: explain}
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
	r := s.rulesFor(in.Table)
	if r == nil {
		return d.deny("rules", "no rules for table %q (no %s.json and no %s)", in.Table, in.Table, DefaultFile)
	}
	if d.explain {
		d.tracef("%s %s %s: %s (%s); roles from %s", in.Op, in.Table, in.ID, kind, existence(in.Exists), r.file)
	}
	if kind == deleteOp && !in.Exists {
		return d.allow("nothing is stored under this id, so the delete changes nothing")
	}
	var stored, after map[string]any
	if in.Exists {
		stored = withID(in.Current, in.ID)
	}
	switch {
	case kind == deleteOp:
	case in.Op == "PATCH" && in.Exists:
		after = withID(stored, in.ID)
		for k, v := range in.Data {
			if k != "_id" {
				after[k] = v
			}
		}
	default:
		after = withID(in.Data, in.ID)
	}
	e := &env{user: &in.User, values: s.values, prevRoot: stored}
	// The role is chosen on the stored document (on the new one for an
	// insert): a write cannot choose its own role by what it writes.
	e.root = stored
	if kind == insertOp {
		e.root = after
	}
	var ro *role
	for _, cand := range r.roles {
		ok, err := cand.applyWhen.eval(e)
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
func (d *decider) judge(ro *role, kind opKind, in Input, stored, after map[string]any, e *env) Decision {
	if ro.hasFilters {
		if ro.filterWrite == nil {
			return d.deny("document_filters.write", "document_filters has no write expression (an undefined write filter denies)")
		}
		if kind != insertOp {
			e.root = stored
			if dec, ok := d.clause(ro.filterWrite, "document_filters.write", "the stored document", e); !ok {
				return dec
			}
		}
		if kind != deleteOp {
			e.root = after
			if dec, ok := d.clause(ro.filterWrite, "document_filters.write", "the document after the write", e); !ok {
				return dec
			}
		}
	}
	e.root = after
	if kind == deleteOp {
		e.root = stored
	}
	if ro.write != nil {
		if dec, ok := d.clause(ro.write, "write", "the document", e); !ok {
			return dec
		}
	} else {
		var changed []string
		var what string
		switch {
		case kind == insertOp:
			changed, what = docFields(after, ro.fields), "every field of the new document"
		case kind == deleteOp:
			changed, what = docFields(stored, ro.fields), "every field of the stored document"
		case in.Op == "PATCH":
			changed, what = docFields(in.Data, ro.fields), "the fields the PATCH sets"
		default:
			changed, what = differing(stored, after), "the fields the PUT changes"
		}
		if d.explain {
			d.tracef("write is not defined: field permissions judge %s: [%s]", what, strings.Join(changed, ", "))
		}
		target := after
		if kind == deleteOp { // %%this is the stored value: the field as it is deleted
			target = stored
		}
		if dec, ok := d.fields(ro.fields, "", changed, stored, target, e); !ok {
			return dec
		}
	}
	switch kind {
	case insertOp:
		if ro.insert == nil {
			return d.deny("insert", "the role does not define insert (an undefined insert denies)")
		}
		if dec, ok := d.clause(ro.insert, "insert", "the new document", e); !ok {
			return dec
		}
	case deleteOp:
		if ro.delete == nil {
			return d.deny("delete", "the role does not define delete (an undefined delete denies)")
		}
		if dec, ok := d.clause(ro.delete, "delete", "the stored document", e); !ok {
			return dec
		}
	}
	return d.allow(fmt.Sprintf("role %q allows this %s", ro.name, kind))
}

// clause evaluates one expression; false or an error denies.
func (d *decider) clause(n node, clause, on string, e *env) (Decision, bool) {
	ok, err := n.eval(e)
	if d.explain {
		d.tracef("%s on %s: %s → %v", clause, on, n, result(ok, err))
	}
	if err != nil {
		return d.deny(clause, "could not be evaluated on %s: %v", on, err), false
	}
	if !ok {
		return d.deny(clause, "%s does not hold for %s", n, on), false
	}
	return Decision{}, true
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

// docFields lists a document's fields for field-level judgement. The id
// is not one of them unless the rules name it: it is the op's id, given on
// every write and never changed by one.
func docFields(doc map[string]any, fr fieldRules) []string {
	out := make([]string, 0, len(doc))
	for k := range doc {
		if k == "_id" && fr.fields["_id"] == nil {
			continue
		}
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// differing lists the fields whose values differ between two documents,
// a field present in one only included.
func differing(a, b map[string]any) []string {
	var out []string
	for k, v := range a {
		if w, ok := b[k]; !ok || !equal(v, w) {
			out = append(out, k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// fields judges each changed field by its rule, nested rules for embedded
// documents, or additional_fields. A rule with write on a parent field
// decides for its children.
func (d *decider) fields(fr fieldRules, prefix string, changed []string, before, after map[string]any, e *env) (Decision, bool) {
	for _, k := range changed {
		bv, bok := before[k]
		av, aok := after[k]
		e.this, e.hasThis, e.prev, e.hasPrev = av, aok, bv, bok
		rule := fr.fields[k]
		if rule == nil {
			if fr.additional == nil {
				return d.deny(prefix+"additional_fields.write", "field %s%s is not named in fields and additional_fields.write is not defined", prefix, k), false
			}
			if dec, ok := d.clause(fr.additional, prefix+"additional_fields.write", "field "+prefix+k, e); !ok {
				return dec, false
			}
			continue
		}
		clause := prefix + "fields." + k + ".write"
		if rule.write != nil {
			if dec, ok := d.clause(rule.write, clause, "field "+k, e); !ok {
				return dec, false
			}
			continue
		}
		if !rule.nested {
			return d.deny(clause, "field %s has no write permission", k), false
		}
		bm, bIsObj := bv.(map[string]any)
		am, aIsObj := av.(map[string]any)
		if bok && !bIsObj || aok && !aIsObj {
			return d.deny(clause, "field %s is not an embedded document on both sides of the write, and only its nested fields have permissions", k), false
		}
		sub := differing(bm, am)
		if d.explain {
			d.tracef("field %s: nested permissions judge [%s]", k, strings.Join(sub, ", "))
		}
		if dec, ok := d.fields(rule.fieldRules, prefix+"fields."+k+".", sub, bm, am, e); !ok {
			return dec, false
		}
	}
	e.hasThis, e.hasPrev = false, false
	return Decision{}, true
}
