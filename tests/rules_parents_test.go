package tests

import (
	"os"
	"path/filepath"
	"testing"
)

// TestRulesParentsEndToEnd runs the todo demo's rules
// (examples/authorization/rules) through the binary with real tokens: the
// todos' rules read each todo's list (x-syncgate-parents, %%parent.list),
// which the authorize guest declares as references and the host looks up
// for the batch. Alice's list and her todo in one batch pass (the list is
// the batch's own earlier op); a todo into bob's list, or moved there, is
// forbidden and dead-lettered; her other writes apply.
func TestRulesParentsEndToEnd(t *testing.T) {
	rules, err := filepath.Abs("../examples/authorization/rules")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(rules, "todos.json")); err != nil {
		t.Fatal(err)
	}
	env := baseEnv(t)
	delete(env, "UPLOAD_AUTH")
	env["RULES_DIR"] = rules
	a := start(t, env)
	alice, bob := token(t, a, "alice"), token(t, a, "bob")
	const listB, todoB = "0b6f3a52-5a3c-4c59-9ac6-2f2b7f7c1b11", "7c1e9f0a-3d2b-4a8e-b6f1-0e9d8c7b6a52"

	r := postUpload(t, a, alice, `{"batch":[
		{"op":"PUT","table":"lists","id":"`+listA+`","data":{"name":"Alice's","owner_id":"alice"}},
		{"op":"PUT","table":"todos","id":"`+todoA+`","data":{"description":"milk","list_id":"`+listA+`","created_by":"alice"}}]}`)
	if m := r.json(t); r.status != 200 || m["applied"] != float64(2) {
		t.Fatalf("alice's list and todo in one batch: %d %s", r.status, r.body)
	}
	if r := postUpload(t, a, bob, `{"batch":[{"op":"PUT","table":"lists","id":"`+listB+`","data":{"name":"Bob's","owner_id":"bob"}}]}`); r.status != 200 || r.json(t)["applied"] != float64(1) {
		t.Fatalf("bob's list: %d %s", r.status, r.body)
	}
	r = postUpload(t, a, alice, `{"batch":[
		{"op":"PUT","table":"todos","id":"`+todoB+`","data":{"description":"steal","list_id":"`+listB+`","created_by":"alice"}},
		{"op":"PATCH","table":"todos","id":"`+todoA+`","data":{"list_id":"`+listB+`"}},
		{"op":"PATCH","table":"todos","id":"`+todoA+`","data":{"description":"oat milk"}}]}`)
	m := r.json(t)
	rej, _ := m["rejected"].([]any)
	if r.status != 200 || m["applied"] != float64(1) || len(rej) != 2 {
		t.Fatalf("alice into bob's list: %d %s", r.status, r.body)
	}
	for _, x := range rej {
		if x.(map[string]any)["code"] != "forbidden" {
			t.Fatalf("rejection %v, want forbidden", x)
		}
	}
	todos := docs(t, a.db, "todos")
	if _, ok := todos[todoB]; ok || todos[todoA]["list_id"] != listA || todos[todoA]["description"] != "oat milk" {
		t.Fatalf("todos %v", todos)
	}
	if n := count(t, a.db, "syncgate_rejected"); n != 2 {
		t.Fatalf("%d dead letters, want 2", n)
	}
}
