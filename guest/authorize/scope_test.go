package main

import (
	"os"
	"strings"
	"testing"

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
