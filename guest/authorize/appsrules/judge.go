package appsrules

import (
	"slices"
	"strings"
)

// The chosen role's judgement of a write (decideWith's second half): its
// document filter, document-level write, field-level permissions, insert
// or delete.

// judge applies the chosen role, in the order of App Services' write
// flowchart: document filter, then document-level write, then field-level
// permissions, then insert or delete.
func (d *decider) judge(ro *role, kind opKind, in *Input, stored, after *doc, e *env) bool {
	if ro.hasFilters {
		if ro.filterWrite == nil {
			return d.undefined("document_filters.write")
		}
		// A filter that is the role's apply_when holds on the document the
		// role was chosen on (the stored one; an insert's new one): Explain
		// evaluates it again for its trace.
		chosenOn := ro.filterIsApplyWhen && !d.explain
		if kind != insertOp && !chosenOn {
			e.root = stored
			if !d.clause(ro.filterWrite, "document_filters.write", "the stored document", e) {
				return false
			}
		}
		if kind != deleteOp && !(chosenOn && kind == insertOp) {
			e.root = after
			if !d.clause(ro.filterWrite, "document_filters.write", "the document after the write", e) {
				return false
			}
		}
	}
	e.root = after
	if kind == deleteOp {
		e.root = stored
	}
	if ro.write != nil {
		if (!ro.writeTrue || d.explain) && !d.clause(ro.write, "write", "the document", e) {
			return false
		}
	} else if src, ssrc := d.fieldsOf(kind, in); src != nil && !d.explain && ro.fields.additionalTrue {
		if !d.namedFields(ro, kind, stored, after, src, ssrc, e) {
			return false
		}
	} else if !d.judgeChanged(ro, kind, in, stored, after, e) {
		return false
	}
	switch kind {
	case insertOp:
		if ro.insert == nil {
			return d.undefined("insert")
		}
		if (!ro.insertTrue || d.explain) && !d.clause(ro.insert, "insert", "the new document", e) {
			return false
		}
	case deleteOp:
		if ro.delete == nil {
			return d.undefined("delete")
		}
		if (!ro.deleteTrue || d.explain) && !d.clause(ro.delete, "delete", "the stored document", e) {
			return false
		}
	}
	if !d.explain && !d.full { // allow's work, without its call
		return true
	}
	return d.allow(ro.allowReason[kind])
}

// namedFields is judge's usual field-level step, where every field not
// named may be written: it judges the named fields the op changes (those
// src, or ssrc when not nil, has), in the order Explain does, without
// listing the rest.
func (d *decider) namedFields(ro *role, kind opKind, stored, after *doc, src Document, ssrc ScalarDocument, e *env) bool {
	var before, target Document = stored, after
	if stored == nil {
		before = none
	}
	if kind == deleteOp {
		target = stored
	}
	for i, k := range ro.fields.names {
		rule := ro.fields.rules[i]
		if rule.writeTrue || ssrc != nil && !ssrc.Has(k) || ssrc == nil && !has(src, k) {
			continue // holds whether the op changes the field or not
		}
		// A field rule that holds, without field's and fieldClause's
		// calls; field judges (and reports) one that does not.
		if rule.write != nil {
			e.thisDoc, e.prevDoc, e.field = target, before, k
			if ok, err := rule.write.eval(e); ok && err == nil {
				continue
			}
		}
		if !d.field(&ro.fields, rule, "", k, before, target, e) {
			return false
		}
	}
	e.thisDoc, e.prevDoc = nil, nil
	return true
}

// judgeChanged judges the fields an op changes by the role's field
// permissions, listing them (judge's usual case, where every field not
// named may be written, does without the list).
func (d *decider) judgeChanged(ro *role, kind opKind, in *Input, stored, after *doc, e *env) bool {
	var changed []string
	var what string
	buf := d.keys[:0]
	switch {
	case kind == insertOp:
		changed, what = docFields(buf, in.Data, ro.fields), "every field of the new document"
	case kind == deleteOp:
		changed, what = docFields(buf, in.Current, ro.fields), "every field of the stored document"
	case d.patch:
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
	return d.fields(ro.fields, "", changed, before, target, e)
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
		return d.deny(clause, "could not be evaluated on %s: %v", on, err)
	}
	if !ok {
		return d.deny(clause, "%s does not hold for %s", n, on)
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
// row, a delete's stored document, a PATCH's fields) with its
// ScalarDocument form (nil: none); nil for a PUT over a stored document,
// which changes the fields that differ.
func (d *decider) fieldsOf(kind opKind, in *Input) (Document, ScalarDocument) {
	switch {
	case kind == insertOp || d.patch:
		return in.Data, d.sData
	case kind == deleteOp:
		return in.Current, d.sCur
	}
	return nil, nil
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
			return d.deny(prefix+"additional_fields.write", "field %s%s is not named in fields and additional_fields.write is not defined", prefix, k)
		}
		return d.fieldClause(fr.additional, prefix, k, true, e)
	}
	if rule.write != nil {
		return d.fieldClause(rule.write, prefix, k, false, e)
	}
	clause := prefix + "fields." + k + ".write"
	if !rule.nested {
		return d.deny(clause, "field %s has no write permission", k)
	}
	bv, bok := before.Get(k)
	av, aok := after.Get(k)
	bm, bIsObj := bv.(map[string]any)
	am, aIsObj := av.(map[string]any)
	if bok && !bIsObj || aok && !aIsObj {
		return d.deny(clause, "field %s is not an embedded document on both sides of the write, and only its nested fields have permissions", k)
	}
	sub := differing(nil, Map(bm), Map(am))
	if d.explain {
		d.tracef("field %s: nested permissions judge [%s]", k, strings.Join(sub, ", "))
	}
	return d.fields(rule.fieldRules, prefix+"fields."+k+".", sub, Map(bm), Map(am), e)
}
