package syncscope

import (
	"os"
	"strings"
	"testing"
)

// db is an in-memory stand-in for the host's parent lookups.
type db map[string][]map[string]any

func (d db) parents(calls *int) func(table, column string, value any) []map[string]any {
	return func(table, column string, value any) []map[string]any {
		if calls != nil {
			*calls++
		}
		var out []map[string]any
		for _, doc := range d[table] {
			if v, ok := doc[column]; ok && v == value || column == "id" && doc["_id"] == value {
				out = append(out, doc)
			}
		}
		return out
	}
}

func todoDB() db {
	return db{
		"lists": {
			{"_id": "la", "owner_id": "alice", "name": "alice's"},
			{"_id": "lb", "owner_id": "bob", "name": "bob's"},
		},
		"todos": {
			{"_id": "ta", "list_id": "la", "description": "milk"},
			{"_id": "tb", "list_id": "lb", "description": "eggs"},
		},
	}
}

func load(t *testing.T, path string) *Config {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(path, src)
	if err != nil {
		t.Fatalf("Parse(%s): %v", path, err)
	}
	return c
}

func TestTodoDemo(t *testing.T) {
	d := todoDB()
	alice := User{ID: "alice"}
	cases := []struct {
		name          string
		in            Input
		allow         bool
		stream, cond  string
		reasonContain string
	}{
		{"alice PUTs a todo into her list", Input{Op: "PUT", Table: "todos", After: map[string]any{"_id": "t1", "list_id": "la"}}, true, "", "", ""},
		{"alice cannot PUT a todo into bob's list", Input{Op: "PUT", Table: "todos", After: map[string]any{"_id": "t2", "list_id": "lb"}}, false, "", "", "after the write"},
		{"alice cannot move her todo into bob's list", Input{Op: "PATCH", Table: "todos", Before: d["todos"][0], After: map[string]any{"_id": "ta", "list_id": "lb", "description": "milk"}}, false, "", "", "after the write"},
		{"alice cannot take bob's todo into her list", Input{Op: "PATCH", Table: "todos", Before: d["todos"][1], After: map[string]any{"_id": "tb", "list_id": "la", "description": "eggs"}}, false, "", "", "as stored"},
		{"alice cannot DELETE bob's todo", Input{Op: "DELETE", Table: "todos", Before: d["todos"][1]}, false, "", "", "as stored"},
		{"alice DELETEs her todo", Input{Op: "DELETE", Table: "todos", Before: d["todos"][0]}, true, "", "", ""},
		{"alice cannot PUT a todo into a list that does not exist", Input{Op: "PUT", Table: "todos", After: map[string]any{"_id": "t3", "list_id": "nope"}}, false, "", "", "after the write"},
		{"alice cannot PUT a todo without a list", Input{Op: "PUT", Table: "todos", After: map[string]any{"_id": "t4"}}, false, "", "", "after the write"},
		{"alice PUTs her own list", Input{Op: "PUT", Table: "lists", After: map[string]any{"_id": "l9", "owner_id": "alice"}}, true, "", "", ""},
		{"alice cannot PUT a list for bob", Input{Op: "PUT", Table: "lists", After: map[string]any{"_id": "l9", "owner_id": "bob"}}, false, "", "", "after the write"},
		{"alice cannot give her list to bob", Input{Op: "PATCH", Table: "lists", Before: d["lists"][0], After: map[string]any{"_id": "la", "owner_id": "bob"}}, false, "", "", "after the write"},
		{"alice cannot PUT over bob's list", Input{Op: "PUT", Table: "lists", Before: d["lists"][1], After: map[string]any{"_id": "lb", "owner_id": "alice"}}, false, "", "", "as stored"},
		{"a table no stream syncs", Input{Op: "PUT", Table: "secrets", After: map[string]any{"_id": "s"}}, false, "", "", "not in any stream"},
		{"an owner id of the wrong type", Input{Op: "PUT", Table: "lists", After: map[string]any{"_id": "l9", "owner_id": struct{}{}}}, false, "", "", "cannot be checked"},
	}
	for _, file := range []string{"testdata/todo-streams.yaml", "testdata/todo-buckets.yaml"} {
		c := load(t, file)
		if o := c.Open(); len(o) != 0 {
			t.Errorf("%s: Open() = %+v, want none", file, o)
		}
		for _, tc := range cases {
			t.Run(file+"/"+tc.name, func(t *testing.T) {
				in := tc.in
				in.User, in.Parents = alice, d.parents(nil)
				got := c.Check(in)
				if got.Allow != tc.allow || !strings.Contains(got.Reason, tc.reasonContain) {
					t.Fatalf("Check = %+v, want allow %v, reason containing %q", got, tc.allow, tc.reasonContain)
				}
				if !got.Allow && tc.reasonContain != "not in any stream" && (got.Stream == "" || got.Condition == "" || len(got.Trace) == 0) {
					t.Errorf("denial without stream, condition or trace: %+v", got)
				}
			})
		}
	}
}

// TestTodoDenialNamesCondition checks a denial names the stream and the
// condition that failed, not the client-chosen one.
func TestTodoDenialNamesCondition(t *testing.T) {
	c := load(t, "testdata/todo-streams.yaml")
	got := c.Check(Input{Op: "PUT", Table: "todos", After: map[string]any{"_id": "t", "list_id": "lb"},
		User: User{ID: "alice"}, Parents: todoDB().parents(nil)})
	want := "list_id IN (SELECT _id FROM lists WHERE owner_id = auth.user_id())"
	if got.Allow || got.Stream != "list_todos" || got.Condition != want {
		t.Fatalf("got %+v, want denial by list_todos on %q", got, want)
	}
	b := load(t, "testdata/todo-buckets.yaml")
	got = b.Check(Input{Op: "PUT", Table: "todos", After: map[string]any{"_id": "t", "list_id": "lb"},
		User: User{ID: "alice"}, Parents: todoDB().parents(nil)})
	if got.Allow || got.Stream != "owned_lists" || got.Condition != "owner_id = request.user_id()" {
		t.Fatalf("buckets: got %+v", got)
	}
}

func TestReferences(t *testing.T) {
	for file, want := range map[string]Reference{
		"testdata/todo-streams.yaml": {Table: "todos", Column: "list_id", Parent: "lists", ParentColumn: "_id", ParentField: "_id", Stream: "list_todos"},
		"testdata/todo-buckets.yaml": {Table: "todos", Column: "list_id", Parent: "lists", ParentColumn: "_id", ParentField: "_id", Stream: "owned_lists"},
	} {
		// lists._id = bucket.list_id finds the list itself: no lookup for it.
		if refs := load(t, file).References(); len(refs) != 1 || refs[0] != want {
			t.Errorf("%s: References() = %+v, want [%+v]", file, refs, want)
		}
	}
}

// TestLookupsPerCheck: a todo PATCH asks for its list once before and once
// after; a list PATCH in the bucket form asks for nothing (it is its own
// parameter row).
func TestLookupsPerCheck(t *testing.T) {
	c := load(t, "testdata/todo-streams.yaml")
	calls := 0
	d := todoDB()
	got := c.Check(Input{Op: "PATCH", Table: "todos", Before: d["todos"][0], After: map[string]any{"_id": "ta", "list_id": "la", "done": true},
		User: User{ID: "alice"}, Parents: d.parents(&calls)})
	if !got.Allow || calls != 2 {
		t.Fatalf("got %+v after %d lookups, want allowed after 2", got, calls)
	}
	calls = 0
	b := load(t, "testdata/todo-buckets.yaml")
	got = b.Check(Input{Op: "PATCH", Table: "lists", Before: d["lists"][0], After: map[string]any{"_id": "la", "owner_id": "alice", "name": "x"},
		User: User{ID: "alice"}, Parents: d.parents(&calls)})
	if !got.Allow || calls != 0 {
		t.Fatalf("list PATCH: got %+v after %d lookups, want allowed after none", got, calls)
	}
}

func TestGlobalBucketIsOpen(t *testing.T) {
	// self-host-demo's MongoDB config: everything to everyone (sync/rules/global-buckets.mdx).
	c, err := Parse("global.yaml", []byte(`
bucket_definitions:
  global:
    data:
      - SELECT _id as id, * FROM lists
      - SELECT _id as id, * FROM todos
`))
	if err != nil {
		t.Fatal(err)
	}
	open := c.Open()
	if len(open) != 2 || open[0].Table != "lists" || open[1].Table != "todos" || !strings.Contains(open[0].Reason, "global bucket") {
		t.Fatalf("Open() = %+v", open)
	}
	got := c.Check(Input{Op: "PUT", Table: "todos", After: map[string]any{"_id": "t"}, User: User{ID: "alice"}})
	if got.Allow || !strings.Contains(got.Reason, "needs a rule") || got.Stream != "global" {
		t.Fatalf("Check = %+v, want an open-table denial", got)
	}
}

func TestDeleteOfMissingDocument(t *testing.T) {
	c := load(t, "testdata/todo-streams.yaml")
	got := c.Check(Input{Op: "DELETE", Table: "todos", User: User{ID: "alice"}})
	if !got.Allow {
		t.Fatalf("got %+v, want a delete of nothing allowed", got)
	}
}

func TestBadInput(t *testing.T) {
	c := load(t, "testdata/todo-streams.yaml")
	for _, in := range []Input{
		{Op: "UPSERT", Table: "lists", After: map[string]any{}},
		{Op: "PUT", Table: "lists"},
		{Op: "PATCH", Table: "lists", Before: map[string]any{"owner_id": "alice"}},
		{Op: "PATCH", Table: "lists", After: map[string]any{"owner_id": "alice"}},
		{Op: "PUT", Table: "todos", After: map[string]any{"list_id": "la"}}, // no Parents
	} {
		in.User = User{ID: "alice"}
		if got := c.Check(in); got.Allow || got.Reason == "" {
			t.Errorf("Check(%+v) = %+v, want a denial with a reason", in, got)
		}
	}
}

func TestExplainTracesAllowed(t *testing.T) {
	c := load(t, "testdata/todo-streams.yaml")
	got := c.Check(Input{Op: "PUT", Table: "todos", After: map[string]any{"_id": "t", "list_id": "la"},
		User: User{ID: "alice"}, Parents: todoDB().parents(nil), Explain: true})
	if !got.Allow || got.Stream != "list_todos" || len(got.Trace) == 0 {
		t.Fatalf("got %+v", got)
	}
}

// TestBatchParents: the host's lookups reflect the batch's earlier ops; a
// list PUT earlier in the batch makes its todos writable, a list deleted
// earlier does not.
func TestBatchParents(t *testing.T) {
	c := load(t, "testdata/todo-streams.yaml")
	d := todoDB()
	alice := User{ID: "alice"}
	newList := map[string]any{"_id": "lnew", "owner_id": "alice"}
	if got := c.Check(Input{Op: "PUT", Table: "lists", After: newList, User: alice}); !got.Allow {
		t.Fatalf("list PUT: %+v", got)
	}
	d["lists"] = append(d["lists"], newList) // the host's view after the batch's first op
	if got := c.Check(Input{Op: "PUT", Table: "todos", After: map[string]any{"_id": "t", "list_id": "lnew"}, User: alice, Parents: d.parents(nil)}); !got.Allow {
		t.Fatalf("todo PUT into the list PUT earlier in the batch: %+v", got)
	}
	d["lists"] = d["lists"][1:] // alice's list "la" deleted earlier in the batch
	if got := c.Check(Input{Op: "PUT", Table: "todos", After: map[string]any{"_id": "t", "list_id": "la"}, User: alice, Parents: d.parents(nil)}); got.Allow {
		t.Fatalf("todo PUT into a list deleted earlier in the batch: %+v", got)
	}
}

// TestParentsReverified: documents the host returns that do not match are ignored.
func TestParentsReverified(t *testing.T) {
	c := load(t, "testdata/todo-streams.yaml")
	wrong := func(string, string, any) []map[string]any {
		return []map[string]any{{"_id": "other", "owner_id": "alice"}, {"_id": int64(7), "owner_id": "alice"}}
	}
	for _, listID := range []any{"la", "7"} {
		got := c.Check(Input{Op: "PUT", Table: "todos", After: map[string]any{"_id": "t", "list_id": listID}, User: User{ID: "alice"}, Parents: wrong})
		if got.Allow {
			t.Errorf("list_id %v: allowed through a parent that does not match: %+v", listID, got)
		}
	}
}

// TestClientParameterNeverGrants: an OR branch on a client-chosen value does
// not grant, and makes the query open.
func TestClientParameterNeverGrants(t *testing.T) {
	c, err := Parse("s.yaml", []byte("streams:\n  s:\n    query: SELECT * FROM notes WHERE owner_id = auth.user_id() OR id = subscription.parameter('id')\n"))
	if err != nil {
		t.Fatal(err)
	}
	if open := c.Open(); len(open) != 1 || !strings.Contains(open[0].Reason, "a branch of its condition depends only on client-chosen") {
		t.Fatalf("Open() = %+v", open)
	}
	u := User{ID: "alice"}
	if got := c.Check(Input{Op: "PUT", Table: "notes", After: map[string]any{"id": "n", "owner_id": "bob"}, User: u}); got.Allow {
		t.Fatalf("allowed through a client-chosen id: %+v", got)
	}
	if got := c.Check(Input{Op: "PUT", Table: "notes", After: map[string]any{"id": "n", "owner_id": "alice"}, User: u}); !got.Allow {
		t.Fatalf("owner denied: %+v", got)
	}
}

func TestUnauthenticatedUserMatchesNothing(t *testing.T) {
	c := load(t, "testdata/todo-streams.yaml")
	got := c.Check(Input{Op: "PUT", Table: "lists", After: map[string]any{"_id": "l", "owner_id": ""}})
	if got.Allow {
		t.Fatalf("an empty user id matched an empty owner: %+v", got)
	}
}

// TestSubjectPresenceIsOpen: "auth.user_id() IS NOT NULL" holds for every
// token, so it makes rows everyone's, not the writer's.
func TestSubjectPresenceIsOpen(t *testing.T) {
	c, err := Parse("s.yaml", []byte("streams:\n  s:\n    query: SELECT * FROM notes WHERE auth.user_id() IS NOT NULL\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Open()) != 1 {
		t.Fatalf("Open() = %+v, want the stream", c.Open())
	}
	if got := c.Check(Input{Op: "PUT", Table: "notes", After: map[string]any{"id": "n"}, User: User{ID: "alice"}}); got.Allow {
		t.Fatalf("got %+v", got)
	}
}

// TestReferencesByUser: lookups keyed by the writer's id are marked ByUser.
func TestReferencesByUser(t *testing.T) {
	c, err := Parse("x.yaml", []byte(`
streams:
  settings:
    query: SELECT * FROM admin_settings WHERE auth.user_id() IN (SELECT id FROM users WHERE is_admin = true)
bucket_definitions:
  admins:
    parameters: SELECT FROM admins WHERE admins.user_id = request.user_id()
    data:
      - SELECT * FROM audit
`))
	if err != nil {
		t.Fatal(err)
	}
	want := []Reference{
		{Table: "audit", Parent: "admins", ParentColumn: "user_id", ParentField: "user_id", Stream: "admins", ByUser: true},
		{Table: "admin_settings", Parent: "users", ParentColumn: "id", ParentField: "_id", Stream: "settings", ByUser: true},
	}
	got := c.References()
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("References() = %+v, want %+v", got, want)
	}
	if len(c.Open()) != 0 {
		t.Fatalf("Open() = %+v", c.Open())
	}
	users := db{"users": {{"_id": "root", "is_admin": true}, {"_id": "alice", "is_admin": false}}, "admins": {{"_id": "a", "user_id": "root"}}}
	for _, tc := range []struct {
		table, user string
		allow       bool
	}{{"admin_settings", "root", true}, {"admin_settings", "alice", false}, {"admin_settings", "", false}, {"audit", "root", true}, {"audit", "alice", false}} {
		got := c.Check(Input{Op: "PUT", Table: tc.table, After: map[string]any{"_id": "x"}, User: User{ID: tc.user}, Parents: users.parents(nil)})
		if got.Allow != tc.allow {
			t.Errorf("%s as %q: %+v, want allow %v", tc.table, tc.user, got, tc.allow)
		}
	}
}

// TestErrorInAnyRuleRefuses: a document one rule cannot evaluate is refused
// even when another rule, earlier or later, would grant it.
func TestErrorInAnyRuleRefuses(t *testing.T) {
	for _, order := range []string{"owner first", "meta first"} {
		owner := "  a:\n    query: SELECT * FROM notes WHERE owner_id = auth.user_id()\n"
		meta := "  b:\n    query: SELECT * FROM notes WHERE meta ->> 'o' = auth.user_id()\n"
		src := "streams:\n" + owner + meta
		if order == "meta first" {
			src = "streams:\n" + meta + owner
		}
		c, err := Parse("x.yaml", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		got := c.Check(Input{Op: "PUT", Table: "notes", After: map[string]any{"id": "n", "owner_id": "alice", "meta": "not json"}, User: User{ID: "alice"}})
		if got.Allow || !strings.Contains(got.Reason, "cannot be checked") || got.Stream != "b" {
			t.Errorf("%s: %+v, want a refusal naming stream b", order, got)
		}
	}
}

// TestOwnRowWithoutKey: a PowerSync row's data has no id (the op carries
// it, Input.ID). A legacy parameter query FROM the document's own table
// (the demo's owned_lists bucket: the list is its own parameter row) must
// still find the document itself: bob's new list is in bob's scope, and
// alice's list given to bob is not in hers.
func TestOwnRowWithoutKey(t *testing.T) {
	d := todoDB()
	for _, file := range []string{"testdata/todo-streams.yaml", "testdata/todo-buckets.yaml"} {
		c := load(t, file)
		for _, tc := range []struct {
			name  string
			in    Input
			allow bool
		}{
			{"bob PUTs his new list", Input{Op: "PUT", Table: "lists", ID: "l9", User: User{ID: "bob"}, After: map[string]any{"name": "x", "owner_id": "bob"}}, true},
			{"alice PUTs a new list for bob", Input{Op: "PUT", Table: "lists", ID: "l9", User: User{ID: "alice"}, After: map[string]any{"name": "x", "owner_id": "bob"}}, false},
			{"alice renames her list", Input{Op: "PATCH", Table: "lists", ID: "la", User: User{ID: "alice"}, Before: map[string]any{"owner_id": "alice"}, After: map[string]any{"owner_id": "alice", "name": "y"}}, true},
			{"alice gives her list to bob", Input{Op: "PATCH", Table: "lists", ID: "la", User: User{ID: "alice"}, Before: map[string]any{"owner_id": "alice"}, After: map[string]any{"owner_id": "bob"}}, false},
			{"alice DELETEs her list", Input{Op: "DELETE", Table: "lists", ID: "la", User: User{ID: "alice"}, Before: map[string]any{"owner_id": "alice"}}, true},
		} {
			t.Run(file+"/"+tc.name, func(t *testing.T) {
				in := tc.in
				in.Parents = d.parents(nil)
				if got := c.Check(in); got.Allow != tc.allow {
					t.Fatalf("Check = %+v, want allow %v", got, tc.allow)
				}
			})
		}
	}
}
