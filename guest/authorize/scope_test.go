package main

import (
	"os"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/syncgate/syncgate/guest"
)

// TestScopeCheck: with the todo demo's sync config, the guest declares the
// todos' lists as references and decides each todo by the list the host
// sent with it; rules and scope must both allow.
func TestScopeCheck(t *testing.T) {
	yaml, err := os.ReadFile("syncscope/testdata/todo-streams.yaml")
	if err != nil {
		t.Fatal(err)
	}
	a, err := newAuthorizer(nil, yaml)
	if err != nil {
		t.Fatal(err)
	}
	refs := a.references()
	if len(refs) == 0 || refs[0].Table != "todos" || refs[0].Parent != "lists" || refs[0].Column != "list_id" {
		t.Fatalf("references %+v: want todos.list_id → lists", refs)
	}
	alice := guest.Caller{UserID: "alice"}
	aliceList := map[string]any{"_id": "L1", "owner_id": "alice"}
	bobList := map[string]any{"_id": "L2", "owner_id": "bob"}
	cases := []struct {
		name    string
		op      guest.Op
		allowed bool
	}{
		{"todo into her list", guest.Op{Op: guest.OpPut, Table: "todos", ID: "t1", Data: map[string]any{"list_id": "L1"},
			Parents: map[string][]map[string]any{"lists": {aliceList}}}, true},
		{"todo into bob's list", guest.Op{Op: guest.OpPut, Table: "todos", ID: "t2", Data: map[string]any{"list_id": "L2"},
			Parents: map[string][]map[string]any{"lists": {bobList}}}, false},
		{"moving her todo into bob's list", guest.Op{Op: guest.OpPatch, Table: "todos", ID: "t3", Data: map[string]any{"list_id": "L2"},
			Exists: true, Current: map[string]any{"list_id": "L1"}, Parents: map[string][]map[string]any{"lists": {aliceList, bobList}}}, false},
		{"deleting bob's todo", guest.Op{Op: guest.OpDelete, Table: "todos", ID: "t4",
			Exists: true, Current: map[string]any{"list_id": "L2"}, Parents: map[string][]map[string]any{"lists": {bobList}}}, false},
		{"a todo whose list was not sent", guest.Op{Op: guest.OpPut, Table: "todos", ID: "t5", Data: map[string]any{"list_id": "L1"}}, false},
		{"her own list", guest.Op{Op: guest.OpPut, Table: "lists", ID: "L3", Data: map[string]any{"owner_id": "alice"}}, true},
	}
	for _, c := range cases {
		c.op.Caller = alice
		v := a.handle(&c.op)
		if v.Reject == c.allowed {
			t.Errorf("%s: reject=%v %q", c.name, v.Reject, v.Reason)
		}
		if v.Reject && (v.Code != "forbidden" || !strings.Contains(v.Reason, "sync scope: ") || !strings.Contains(v.Reason, "list")) {
			t.Errorf("%s: %s %q: want forbidden naming the stream or condition", c.name, v.Code, v.Reason)
		}
	}
}

// TestOpenTableNeedsRules: a table synced only by a global bucket is open:
// without rules files every write to it is denied; with them, the rules
// decide (they run first: what reaches the scope check they allowed). A
// table no bucket syncs stays denied either way.
func TestOpenTableNeedsRules(t *testing.T) {
	global := []byte("bucket_definitions:\n  global:\n    data:\n      - SELECT * FROM todos\n")
	rules := fstest.MapFS{"todos.json": {Data: []byte(`{"roles":[{"name":"creator","apply_when":{"created_by":"%%user.id"},
		"document_filters":{"write":{"created_by":"%%user.id"}},"insert":true,"delete":true,"write":true}]}`)},
		"lists.json": {Data: []byte(`{"roles":[{"name":"all","apply_when":{},"insert":true,"delete":true,"write":true}]}`)}}
	scopeOnly, err := newAuthorizer(nil, global)
	if err != nil {
		t.Fatal(err)
	}
	both, err := newAuthorizer(rules, global)
	if err != nil {
		t.Fatal(err)
	}
	alice := guest.Caller{UserID: "alice"}
	mine := func() *guest.Op {
		return &guest.Op{Op: guest.OpPut, Table: "todos", ID: "t1", Caller: alice, RawData: []byte(`{"created_by":"alice"}`)}
	}
	if v := scopeOnly.handle(mine()); !v.Reject || !strings.Contains(v.Reason, "open") {
		t.Fatalf("scope only, open table: %+v, want denied as open", v)
	}
	if v := both.handle(mine()); v.Reject {
		t.Fatalf("rules allow, open table: %+v, want allowed", v)
	}
	bobs := &guest.Op{Op: guest.OpPut, Table: "todos", ID: "t2", Caller: alice, RawData: []byte(`{"created_by":"bob"}`)}
	if v := both.handle(bobs); !v.Reject || !strings.Contains(v.Reason, "no role") {
		t.Fatalf("rules deny, open table: %+v, want the rules' denial", v)
	}
	list := &guest.Op{Op: guest.OpPut, Table: "lists", ID: "l1", Caller: alice, RawData: []byte(`{"owner_id":"alice"}`)}
	if v := both.handle(list); !v.Reject || !strings.Contains(v.Reason, "not in any stream") {
		t.Fatalf("rules allow, table not synced: %+v, want denied", v)
	}
}
