package appsrules

import (
	"fmt"
	"regexp"
	"strings"
)

// Parents: a syncgate extension to App Services rules (App Services has no
// way for a rule to read another document). A table's rules file may
// declare, under ParentsKey, the documents its rows name:
//
//	"x-syncgate-parents": {
//	  "list": {"collection": "lists", "column": "list_id", "field": "_id"}
//	}
//
// and its expressions read them as %%parent.<name>.<path> (the parent the
// document %%root stands for names) and %%prevParent.<name>.<path> (the
// parent the stored document, %%prevRoot, names). The authorize guest
// declares them as its references; the host looks them up, one query per
// parent collection per batch, and they come in Input.Parents. A test on a
// parent that is not there is false, whatever the test (docs/authorization.md,
// "Parents in rules files").

// ParentsKey is the top-level key of a rules file that declares parents.
const ParentsKey = "x-syncgate-parents"

// Parent is one parent a table's rules read: the document of Collection
// whose Field equals the row's Column.
type Parent struct {
	Table      string // the rules file's table
	Name       string // %%parent.<Name>
	Collection string
	Column     string
	Field      string // "_id" for the parent's id
}

var parentName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// parents compiles a file's ParentsKey.
func (c *compiler) parents(v any) map[string]*Parent {
	ptr := pointerJoin("", ParentsKey)
	if c.file == DefaultFile {
		c.fail(ptr, "parents belong to a table's own rules file (a column names a parent only in its table)")
		return nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		c.fail(ptr, `must be an object {"<name>": {"collection": "...", "column": "...", "field": "_id"}}`)
		return nil
	}
	table := strings.TrimSuffix(c.file, ".json")
	out := make(map[string]*Parent, len(m))
	for _, name := range sortedKeys(m) {
		p := pointerJoin(ptr, name)
		if !parentName.MatchString(name) {
			c.fail(p, "parent name %q must be letters, digits and _ (not starting with a digit)", name)
			continue
		}
		spec, ok := m[name].(map[string]any)
		if !ok {
			c.fail(p, `a parent must be an object {"collection": "...", "column": "...", "field": "_id"}`)
			continue
		}
		ref := &Parent{Table: table, Name: name, Field: "_id"}
		bad := false
		for _, k := range sortedKeys(spec) {
			kp := pointerJoin(p, k)
			s, isStr := spec[k].(string)
			switch k {
			case "collection", "column", "field":
			default:
				c.fail(kp, "unknown key (a parent has collection, column and field)")
				bad = true
				continue
			}
			if !isStr || s == "" {
				c.fail(kp, "must be a non-empty string, got %s", typeName(spec[k]))
				bad = true
				continue
			}
			if strings.Contains(s, ".") || strings.HasPrefix(s, "$") {
				c.fail(kp, "%q: a top-level name, without dots or $", s)
				bad = true
				continue
			}
			switch k {
			case "collection":
				ref.Collection = s
			case "column":
				ref.Column = s
			case "field":
				if s == "id" { // PowerSync's id is MongoDB's _id
					s = "_id"
				}
				ref.Field = s
			}
		}
		for _, k := range []string{"collection", "column"} {
			if _, ok := spec[k]; !ok {
				c.fail(p, "a parent needs %s", k)
				bad = true
			}
		}
		if !bad {
			out[name] = ref
		}
	}
	return out
}

// Parents lists the parents every table's rules declare, by table then
// name: the references the authorize guest declares to the host.
func (s *Set) Parents() []Parent {
	var out []Parent
	for _, t := range s.Tables() {
		r := s.tables[t]
		for _, name := range sortedKeys(r.parents) {
			out = append(out, *r.parents[name])
		}
	}
	return out
}

// find returns the parent d names: the one document of the collection
// whose field equals d's column. None — d absent, no column, no such
// document, or more than one (a field that is not unique names no parent)
// — is false.
func (p *Parent) find(d *doc, parents map[string][]map[string]any) (map[string]any, bool) {
	if d == nil {
		return nil, false
	}
	v, ok := d.Get(p.Column)
	if !ok || v == nil {
		return nil, false
	}
	var found map[string]any
	for _, cand := range parents[p.Collection] {
		w, ok := cand[p.Field]
		if p.Field == "_id" && !ok {
			w, ok = cand["id"]
		}
		if !ok || !equal(v, w) {
			continue
		}
		if found != nil {
			return nil, false
		}
		found = cand
	}
	return found, found != nil
}

// parentMissing says whether a %%parent or %%prevParent expansion has no
// parent document to read: then every test on it is false.
func (x *expansion) parentMissing(e *env) bool {
	if x.parent == nil {
		return false
	}
	d := e.root
	if x.kind == expPrevParent {
		d = e.prevRoot
	}
	_, ok := x.parent.find(d, e.parents)
	return !ok
}

// describeParents is the trace line naming the parents a decision read.
func describeParents(r *rules, in *Input) string {
	if len(r.parents) == 0 {
		return ""
	}
	var parts []string
	for _, name := range sortedKeys(r.parents) {
		p := r.parents[name]
		parts = append(parts, fmt.Sprintf("%s: %s.%s = %s.%s (%d document(s) given)", name, r.file[:len(r.file)-len(".json")], p.Column, p.Collection, p.Field, len(in.Parents[p.Collection])))
	}
	return "parents " + strings.Join(parts, "; ")
}
