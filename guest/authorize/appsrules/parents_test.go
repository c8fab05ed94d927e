package appsrules

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
)

// todoParentRules: a todo is writable only by the owner of its list
// (docs/authorization.md, "Parents in rules files"). The write filter holds
// before and after the write, as document_filters.write always does, so
// the list a todo leaves and the list it enters must both be the caller's.
var todoParentRules = map[string]string{"todos.json": `{
	"x-syncgate-parents": {"list": {"collection": "lists", "column": "list_id", "field": "_id"}},
	"roles": [{"name": "list-owner", "apply_when": {},
		"document_filters": {"write": {"%%parent.list.owner_id": "%%user.id"}},
		"write": true, "insert": true, "delete": true}]}`}

// prevParentRules: field rules may compare the list a todo names after the
// write with the one it named before (%%prevParent): list_id may change
// only within one owner's lists.
var prevParentRules = map[string]string{"todos.json": `{
	"x-syncgate-parents": {"list": {"collection": "lists", "column": "list_id"}},
	"roles": [{"name": "r", "apply_when": {},
		"insert": true, "delete": true,
		"fields": {"list_id": {"write": {"%%parent.list.owner_id": "%%prevParent.list.owner_id"}}},
		"additional_fields": {"write": true}}]}`}

// parentNullRules tests what a missing parent does to tests that hold for
// a missing field: they do not hold for a missing parent.
var parentNullRules = map[string]string{"todos.json": `{
	"x-syncgate-parents": {"list": {"collection": "lists", "column": "list_id"}},
	"roles": [
		{"name": "archived-null", "apply_when": {"%%parent.list.archived": null}, "write": true, "insert": true, "delete": true},
		{"name": "no-list", "apply_when": {"%%parent.list": {"$exists": false}}, "write": true, "insert": true, "delete": true}]}`}

func TestDecideParents(t *testing.T) {
	lists := map[string][]map[string]any{"lists": {
		{"_id": "L1", "owner_id": "alice"},
		{"_id": "L2", "owner_id": "bob"},
		{"_id": "L3", "owner_id": "alice"},
	}}
	dup := map[string][]map[string]any{"lists": {{"_id": "L1", "owner_id": "alice"}, {"_id": "L1", "owner_id": "alice"}}}
	cases := []struct {
		name    string
		rules   map[string]string
		in      Input
		parents map[string][]map[string]any
		cur     string
		data    string
		allow   bool
		clause  string
	}{
		{"alice inserts a todo into her list", todoParentRules, Input{Op: "PUT", Table: "todos", ID: "t1", User: alice}, lists, "", `{"list_id":"L1"}`, true, ""},
		{"alice inserts a todo into bob's list", todoParentRules, Input{Op: "PUT", Table: "todos", ID: "t1", User: alice}, lists, "", `{"list_id":"L2"}`, false, "document_filters.write"},
		{"alice edits a todo in her list", todoParentRules, Input{Op: "PATCH", Table: "todos", ID: "t1", User: alice}, lists, `{"list_id":"L1","d":"a"}`, `{"d":"b"}`, true, ""},
		{"alice edits a todo in bob's list (before)", todoParentRules, Input{Op: "PATCH", Table: "todos", ID: "t1", User: alice}, lists, `{"list_id":"L2","d":"a"}`, `{"d":"b"}`, false, "document_filters.write"},
		{"alice moves her todo into bob's list (after)", todoParentRules, Input{Op: "PATCH", Table: "todos", ID: "t1", User: alice}, lists, `{"list_id":"L1"}`, `{"list_id":"L2"}`, false, "document_filters.write"},
		{"alice replaces her todo into bob's list (PUT, after)", todoParentRules, Input{Op: "PUT", Table: "todos", ID: "t1", User: alice}, lists, `{"list_id":"L1"}`, `{"list_id":"L2"}`, false, "document_filters.write"},
		{"alice takes bob's todo into her list (before)", todoParentRules, Input{Op: "PATCH", Table: "todos", ID: "t1", User: alice}, lists, `{"list_id":"L2"}`, `{"list_id":"L1"}`, false, "document_filters.write"},
		{"alice moves a todo between her lists", todoParentRules, Input{Op: "PATCH", Table: "todos", ID: "t1", User: alice}, lists, `{"list_id":"L1"}`, `{"list_id":"L3"}`, true, ""},
		{"alice deletes a todo of her list", todoParentRules, Input{Op: "DELETE", Table: "todos", ID: "t1", User: alice}, lists, `{"list_id":"L1"}`, "", true, ""},
		{"alice deletes a todo of bob's list", todoParentRules, Input{Op: "DELETE", Table: "todos", ID: "t1", User: alice}, lists, `{"list_id":"L2"}`, "", false, "document_filters.write"},
		{"missing parent denies", todoParentRules, Input{Op: "PUT", Table: "todos", ID: "t1", User: alice}, lists, "", `{"list_id":"L9"}`, false, "document_filters.write"},
		{"no parents given denies", todoParentRules, Input{Op: "PUT", Table: "todos", ID: "t1", User: alice}, nil, "", `{"list_id":"L1"}`, false, "document_filters.write"},
		{"no list_id denies", todoParentRules, Input{Op: "PUT", Table: "todos", ID: "t1", User: alice}, lists, "", `{}`, false, "document_filters.write"},
		{"two documents with the key name no parent", todoParentRules, Input{Op: "PUT", Table: "todos", ID: "t1", User: alice}, dup, "", `{"list_id":"L1"}`, false, "document_filters.write"},
		{"anonymous caller matches no owner", todoParentRules, Input{Op: "PUT", Table: "todos", ID: "t1"}, lists, "", `{"list_id":"L1"}`, false, "document_filters.write"},
		{"prevParent: move within one owner's lists", prevParentRules, Input{Op: "PATCH", Table: "todos", ID: "t1", User: alice}, lists, `{"list_id":"L1"}`, `{"list_id":"L3"}`, true, ""},
		{"prevParent: move to another owner's list", prevParentRules, Input{Op: "PATCH", Table: "todos", ID: "t1", User: alice}, lists, `{"list_id":"L1"}`, `{"list_id":"L2"}`, false, "fields.list_id.write"},
		{"prevParent: absent on insert", prevParentRules, Input{Op: "PUT", Table: "todos", ID: "t1", User: alice}, lists, "", `{"list_id":"L1"}`, false, "fields.list_id.write"},
		{"null matches a parent's missing field", parentNullRules, Input{Op: "PUT", Table: "todos", ID: "t1", User: alice}, lists, "", `{"list_id":"L1"}`, true, ""},
		{"null and $exists false never match a missing parent", parentNullRules, Input{Op: "PUT", Table: "todos", ID: "t1", User: alice}, lists, "", `{"list_id":"L9"}`, false, "apply_when"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := loadSet(t, c.rules)
			in := c.in
			in.Current, in.Data = Map(jsonObj(t, c.cur)), Map(jsonObj(t, c.data))
			in.Exists = c.cur != ""
			in.Parents = c.parents
			got := s.Explain(in)
			fast := s.Decide(in)
			if fast.Allow != got.Allow || fast.Reason != got.Reason {
				t.Fatalf("Decide %+v differs from Explain %+v", fast, got)
			}
			if got.Allow != c.allow || got.Clause != c.clause {
				t.Fatalf("got allow=%v clause=%q reason=%q; want allow=%v clause=%q\ntrace:\n  %s",
					got.Allow, got.Clause, got.Reason, c.allow, c.clause, strings.Join(got.Trace, "\n  "))
			}
		})
	}
}

// TestDecideParentTrace: Explain names the parents the decision read.
func TestDecideParentTrace(t *testing.T) {
	s := loadSet(t, todoParentRules)
	d := s.Explain(Input{Op: "PUT", Table: "todos", ID: "t1", User: alice, Data: Map{"list_id": "L1"},
		Parents: map[string][]map[string]any{"lists": {{"_id": "L1", "owner_id": "alice"}}}})
	want := "parents list: todos.list_id = lists._id (1 document(s) given)"
	if !d.Allow || !strings.Contains(strings.Join(d.Trace, "\n"), want) {
		t.Fatalf("allow=%v trace lacks %q:\n%s", d.Allow, want, strings.Join(d.Trace, "\n"))
	}
}

func TestLoadParents(t *testing.T) {
	s := loadSet(t, map[string]string{
		"todos.json": `{"x-syncgate-parents": {
			"list": {"collection": "lists", "column": "list_id", "field": "_id"},
			"owner": {"collection": "users", "column": "created_by", "field": "id"}},
			"roles": [{"name": "r", "apply_when": {"%%parent.owner.active": true}, "write": true, "insert": true, "delete": true}]}`,
		"notes.json": `{"x-syncgate-parents": {"doc": {"collection": "docs", "column": "doc_id", "field": "key"}},
			"roles": [{"name": "r", "apply_when": {}, "write": "%%prevParent.doc.open", "insert": true, "delete": true}]}`,
		"lists.json": `{"roles": [{"name": "r", "apply_when": {}, "write": true, "insert": true, "delete": true}]}`,
	})
	want := []Parent{
		{Table: "notes", Name: "doc", Collection: "docs", Column: "doc_id", Field: "key"},
		{Table: "todos", Name: "list", Collection: "lists", Column: "list_id", Field: "_id"},
		{Table: "todos", Name: "owner", Collection: "users", Column: "created_by", Field: "_id"},
	}
	if got := s.Parents(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Parents() = %+v\nwant %+v", got, want)
	}
	if got := loadSet(t, ownerRules).Parents(); got != nil {
		t.Fatalf("Parents() of a set without the extension = %+v", got)
	}
}

func TestLoadParentErrors(t *testing.T) {
	role := `"roles": [{"name": "r", "apply_when": {}, "write": true, "insert": true, "delete": true}]`
	cases := []struct {
		name  string
		file  string
		text  string
		wants []string
	}{
		{"not an object", "todos.json", `{"x-syncgate-parents": [], ` + role + `}`, []string{"todos.json: /x-syncgate-parents: must be an object"}},
		{"bad name", "todos.json", `{"x-syncgate-parents": {"my.list": {"collection": "lists", "column": "list_id"}}, ` + role + `}`, []string{`todos.json: /x-syncgate-parents/my.list: parent name "my.list"`}},
		{"parent not an object", "todos.json", `{"x-syncgate-parents": {"list": "lists"}, ` + role + `}`, []string{"todos.json: /x-syncgate-parents/list: a parent must be an object"}},
		{"missing collection and column", "todos.json", `{"x-syncgate-parents": {"list": {}}, ` + role + `}`, []string{"todos.json: /x-syncgate-parents/list: a parent needs collection", "todos.json: /x-syncgate-parents/list: a parent needs column"}},
		{"unknown key", "todos.json", `{"x-syncgate-parents": {"list": {"collection": "lists", "column": "list_id", "table": "x"}}, ` + role + `}`, []string{"todos.json: /x-syncgate-parents/list/table: unknown key"}},
		{"not a string", "todos.json", `{"x-syncgate-parents": {"list": {"collection": 1, "column": ""}}, ` + role + `}`, []string{"todos.json: /x-syncgate-parents/list/collection: must be a non-empty string, got number", "todos.json: /x-syncgate-parents/list/column: must be a non-empty string"}},
		{"dotted column", "todos.json", `{"x-syncgate-parents": {"list": {"collection": "lists", "column": "a.b"}}, ` + role + `}`, []string{`todos.json: /x-syncgate-parents/list/column: "a.b": a top-level name`}},
		{"in default_rule.json", DefaultFile, `{"x-syncgate-parents": {"list": {"collection": "lists", "column": "list_id"}}, ` + role + `}`, []string{"default_rule.json: /x-syncgate-parents: parents belong to a table's own rules file"}},
		{"unknown parent name", "todos.json", `{"x-syncgate-parents": {"list": {"collection": "lists", "column": "list_id"}}, "roles": [{"name": "r", "apply_when": {"%%parent.lsit.owner_id": "%%user.id"}}]}`, []string{`todos.json: /roles/0/apply_when/%%parent.lsit.owner_id: %%parent.lsit.owner_id: no parent "lsit" in this file's x-syncgate-parents`}},
		{"parent without declaration", "todos.json", `{"roles": [{"name": "r", "apply_when": {}, "write": {"owner_id": "%%prevParent.list.owner_id"}}]}`, []string{`todos.json: /roles/0/write/owner_id: %%prevParent.list.owner_id: no parent "list"`}},
		{"parent without a name", "todos.json", `{"x-syncgate-parents": {"list": {"collection": "lists", "column": "list_id"}}, "roles": [{"name": "r", "apply_when": {"%%parent": {"$exists": true}}}]}`, []string{"todos.json: /roles/0/apply_when/%%parent: %%parent: name a parent"}},
		{"another file's parent", "notes.json", `{"roles": [{"name": "r", "apply_when": {"%%parent.list.x": 1}}]}`, []string{`notes.json: /roles/0/apply_when/%%parent.list.x: %%parent.list.x: no parent "list"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fsys := fstest.MapFS{c.file: {Data: []byte(c.text)}}
			if c.name == "another file's parent" {
				fsys["todos.json"] = &fstest.MapFile{Data: []byte(`{"x-syncgate-parents": {"list": {"collection": "lists", "column": "list_id"}}, ` + role + `}`)}
			}
			_, err := Load(fsys)
			var le *LoadError
			if !errors.As(err, &le) {
				t.Fatalf("Load = %v, want a *LoadError", err)
			}
			for _, w := range c.wants {
				found := false
				for _, p := range le.Problems {
					found = found || strings.HasPrefix(p.String(), w)
				}
				if !found {
					t.Errorf("no problem starting %q in:\n%s", w, err)
				}
			}
		})
	}
}
