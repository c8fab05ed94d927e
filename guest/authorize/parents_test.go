package main

import (
	"encoding/json"
	"os"
	"reflect"
	"testing"

	"github.com/syncgate/syncgate/guest"
)

// TestRulesReferences: the rules files' parents (x-syncgate-parents) are
// the guest's references, so the host sends each todo's list; with the
// sync scope on too, a parent both read is declared once.
func TestRulesReferences(t *testing.T) {
	want := []guest.Reference{{Table: "todos", Column: "list_id", Parent: "lists", Field: "_id"}}
	if got := demo(t).references(); !reflect.DeepEqual(got, want) {
		t.Fatalf("references %+v, want %+v", got, want)
	}
	yaml, err := os.ReadFile("syncscope/testdata/todo-streams.yaml")
	if err != nil {
		t.Fatal(err)
	}
	both, err := newAuthorizer(os.DirFS("../../examples/authorization/rules"), yaml)
	if err != nil {
		t.Fatal(err)
	}
	scopeOnly, err := newAuthorizer(nil, yaml)
	if err != nil {
		t.Fatal(err)
	}
	refs := both.references()
	for _, r := range append(scopeOnly.references(), want...) {
		n := 0
		for _, got := range refs {
			if got == r {
				n++
			}
		}
		if n != 1 {
			t.Errorf("reference %+v declared %d times in %+v, want once", r, n, refs)
		}
	}
}

// TestRulesParentsOnTheWire runs the demo's todo rules as the host calls
// the guest: the lists come in the request's "parents", as the host looked
// them up. Alice's todo into her list passes; into bob's list, or moved
// there, is forbidden; a todo whose list the host did not find is too.
func TestRulesParentsOnTheWire(t *testing.T) {
	a := demo(t)
	req := `{"abi":1,"request_id":"r","now":"2026-12-06T00:00:00Z","caller":{"user_id":"alice"},
		"ops":[
		 {"index":0,"op":"PUT","table":"todos","id":"t1","data":{"created_by":"alice","list_id":"L1"},"parents":{"lists":[{"_id":"L1","owner_id":"alice"}]}},
		 {"index":1,"op":"PUT","table":"todos","id":"t2","data":{"created_by":"alice","list_id":"L2"},"parents":{"lists":[{"_id":"L2","owner_id":"bob"}]}},
		 {"index":2,"op":"PATCH","table":"todos","id":"t3","data":{"list_id":"L2"},"current":{"created_by":"alice","list_id":"L1"},"exists":true,
		  "parents":{"lists":[{"_id":"L1","owner_id":"alice"},{"_id":"L2","owner_id":"bob"}]}},
		 {"index":3,"op":"PUT","table":"todos","id":"t4","data":{"created_by":"alice","list_id":"L1"}}]}`
	var resp guest.Response
	if err := json.Unmarshal(guest.Process([]byte(req), guest.Handler(a.handle), guest.RawData()), &resp); err != nil {
		t.Fatal(err)
	}
	want := []bool{false, true, true, true} // reject?
	if len(resp.Verdicts) != len(want) {
		t.Fatalf("verdicts %+v", resp.Verdicts)
	}
	for i, v := range resp.Verdicts {
		if v.Reject != want[i] || v.Reject && v.Code != "forbidden" {
			t.Errorf("op %d: reject=%v code=%q reason=%q, want reject=%v", i, v.Reject, v.Code, v.Reason, want[i])
		}
	}
}
