package appsrules

import (
	"slices"
	"strings"
)

// The stored document's fields a table's rules read: the host may fetch
// only those (a projection) instead of whole documents, for the rules
// decide the same on them. A decision reads the stored document through
//
//   - %%root and %%prevRoot paths, and bare field names (%%root's), in any
//     expression: their first segment;
//   - a parent's column (%%parent and %%prevParent name the parent by it);
//   - field rules: a named field's stored value (%%prev, and whether the
//     write changes it);
//   - the fields a write changes, when a role judges unnamed fields by an
//     additional_fields.write that is not plain true, or by no
//     additional_fields at all: a PUT over a stored document changes every
//     field that differs, so every stored field must be there.
//
// %%root or %%prevRoot as a whole, a role of the last kind, or a field name
// a projection would read as a path ("a.b", "$x") need the whole document.

// storedFields computes rules.stored and rules.storedAll for r, compiled
// by c.
func (c *compiler) storedFields(r *rules) (fields []string, all bool) {
	add := func(f string) {
		if f == "_id" { // the op's id: always known
			return
		}
		if f == "" || strings.ContainsAny(f, ".$") || strings.HasPrefix(f, "%") {
			all = true
			return
		}
		if !slices.Contains(fields, f) {
			fields = append(fields, f)
		}
	}
	for _, x := range c.reads {
		switch x.kind {
		case expRoot, expPrevRoot:
			if len(x.path) == 0 {
				all = true
			} else {
				add(x.path[0])
			}
		case expParent, expPrevParent:
			add(x.parent.Column)
		}
	}
	for _, p := range r.parents {
		add(p.Column)
	}
	for _, ro := range r.roles {
		if ro.write == nil && ro.fields.additional != constNode(true) {
			all = true
		}
		for _, name := range ro.fields.names {
			add(name)
		}
	}
	if all {
		return nil, true
	}
	slices.Sort(fields)
	return fields, false
}

// StoredFields returns, by table, the stored document's fields the table's
// rules read, for the tables whose rules read less than whole documents:
// deciding a write on a stored document holding only those fields (and
// its _id) decides as on the whole one. Key "*" stands for every table
// without a rules file of its own (default_rule.json). A table not in the
// map needs whole stored documents.
func (s *Set) StoredFields() map[string][]string {
	out := map[string][]string{}
	for table, r := range s.tables {
		if !r.storedAll {
			out[table] = append([]string{}, r.stored...)
		}
	}
	if s.def != nil && !s.def.storedAll {
		out["*"] = append([]string{}, s.def.stored...)
	}
	return out
}
