package main

import (
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/syncgate/syncgate/guest"
	"github.com/syncgate/syncgate/guest/guesttest"
)

// demo is the shipped example set, docs/authorization.md's todo demo.
func demo(t *testing.T) *authorizer {
	t.Helper()
	a, err := newAuthorizer(os.DirFS("../../examples/authorization/rules"), nil)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// rawRow is a row's JSON as guests registered with RawData get it; "" is none.
func rawRow(s string) []byte {
	if s == "" {
		return nil
	}
	return []byte(s)
}

func TestDemoRules(t *testing.T) {
	a := demo(t)
	alice := guest.Caller{UserID: "alice", Claims: map[string]any{"sub": "alice"}}
	bob := guest.Caller{UserID: "bob"}
	shared := `{"owner_id":"bob","name":"groceries","members":["alice","carol"]}`
	// The lists the host sends with each todo (Op.Parents): alice's, bob's,
	// and bob's shared with alice.
	lists := map[string][]map[string]any{"lists": {
		{"_id": "L1", "owner_id": "alice"},
		{"_id": "L2", "owner_id": "bob"},
		{"_id": "L3", "owner_id": "bob", "members": []any{"alice"}},
	}}
	cases := []struct {
		name         string
		caller       guest.Caller
		op, table    string
		cur, data    string
		reject       bool
		reasonPrefix string
	}{
		{"alice creates her list", alice, "PUT", "lists", "", `{"owner_id":"alice","name":"x"}`, false, ""},
		{"alice creates a list for bob", alice, "PUT", "lists", "", `{"owner_id":"bob","name":"x"}`, true, "no role: apply_when"},
		{"alice renames bob's private list", alice, "PATCH", "lists", `{"owner_id":"bob","name":"b"}`, `{"name":"mine"}`, true, "no role: apply_when"},
		{"alice replaces bob's list", alice, "PUT", "lists", `{"owner_id":"bob","name":"b"}`, `{"owner_id":"alice","name":"mine"}`, true, "no role: apply_when"},
		{"alice deletes bob's list", alice, "DELETE", "lists", `{"owner_id":"bob","name":"b"}`, "", true, "no role: apply_when"},
		{"alice gives her list away", alice, "PATCH", "lists", `{"owner_id":"alice","name":"a"}`, `{"owner_id":"bob"}`, true, `role "owner": document_filters.write`},
		{"member renames the shared list", alice, "PATCH", "lists", shared, `{"name":"food"}`, false, ""},
		{"member cannot delete the shared list", alice, "DELETE", "lists", shared, "", true, `role "member": fields.members.write`}, // delete needs write on every field first
		{"member cannot take ownership", alice, "PATCH", "lists", shared, `{"owner_id":"alice"}`, true, `role "member": fields.owner_id.write`},
		{"member cannot add members", alice, "PATCH", "lists", shared, `{"members":["alice","carol","dave"]}`, true, `role "member": fields.members.write`},
		{"owner deletes the shared list", bob, "DELETE", "lists", shared, "", false, ""},
		{"todo created by alice in her list", alice, "PUT", "todos", "", `{"created_by":"alice","list_id":"L1","description":"d","completed":0}`, false, ""},
		{"todo created by alice in a list she is a member of", alice, "PUT", "todos", "", `{"created_by":"alice","list_id":"L3","description":"d"}`, false, ""},
		{"todo created by alice in bob's list", alice, "PUT", "todos", "", `{"created_by":"alice","list_id":"L2","description":"d"}`, true, `role "creator": document_filters.write`},
		{"todo created by alice in a list not sent", alice, "PUT", "todos", "", `{"created_by":"alice","list_id":"L9","description":"d"}`, true, `role "creator": document_filters.write`},
		{"todo created as bob", alice, "PUT", "todos", "", `{"created_by":"bob","list_id":"L1","description":"d"}`, true, "no role: apply_when"},
		{"alice completes her todo", alice, "PATCH", "todos", `{"created_by":"alice","list_id":"L1","completed":0}`, `{"completed":1,"completed_by":"alice"}`, false, ""},
		{"alice moves her todo into bob's list", alice, "PATCH", "todos", `{"created_by":"alice","list_id":"L1"}`, `{"list_id":"L2"}`, true, `role "creator": document_filters.write`},
		{"alice edits her todo in a list she was removed from", alice, "PATCH", "todos", `{"created_by":"alice","list_id":"L2"}`, `{"completed":1}`, true, `role "creator": document_filters.write`},
		{"alice deletes her todo", alice, "DELETE", "todos", `{"created_by":"alice","list_id":"L1"}`, "", false, ""},
		{"alice credits bob", alice, "PATCH", "todos", `{"created_by":"alice","list_id":"L1","completed":0}`, `{"completed_by":"bob"}`, true, `role "creator": fields.completed_by.write`},
		{"alice restamps created_by", alice, "PATCH", "todos", `{"created_by":"alice","list_id":"L1"}`, `{"created_by":"bob"}`, true, `role "creator": document_filters.write`},
		{"table without rules", alice, "PUT", "notes", "", `{}`, true, `no role: rules: no rules for table "notes"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			op := guest.Op{Op: guest.OpType(c.op), Table: c.table, ID: "d1", Caller: c.caller, RawData: rawRow(c.data), RawCurrent: rawRow(c.cur), Exists: c.cur != ""}
			if c.table == "todos" {
				op.Parents = lists
			}
			v := a.handle(&op)
			if v.Reject != c.reject || v.Reject && (v.Code != "forbidden" || !strings.HasPrefix(v.Reason, c.reasonPrefix)) {
				t.Fatalf("got reject=%v code=%q reason=%q; want reject=%v, reason starting %q", v.Reject, v.Code, v.Reason, c.reject, c.reasonPrefix)
			}
			if h := a.handler()(&op); !reflect.DeepEqual(h, v) { // what the SDK calls
				t.Fatalf("handler: %+v; handle: %+v", h, v)
			}
			// The rows as the host sends them in the rows form, with an
			// index of their members: the same verdict.
			if w := a.checkRulesOn(&op, indexed(t, op.RawData), indexed(t, op.RawCurrent)); !reflect.DeepEqual(w, v) {
				t.Fatalf("from the rows' index: %+v; from their bytes: %+v", w, v)
			}
		})
	}
}

func TestCustomDataClaim(t *testing.T) {
	a, err := newAuthorizer(fstest.MapFS{"default_rule.json": {Data: []byte(`{"roles": [
		{"name": "admin", "apply_when": {"%%user.custom_data.isGlobalAdmin": true}, "write": true, "insert": true, "delete": true},
		{"name": "verified", "apply_when": {"%%user.data.email_verified": true}, "write": true, "insert": false, "delete": false}]}`)}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		claims map[string]any
		reject bool
	}{
		{"custom_data claim is %%user.custom_data", map[string]any{"custom_data": map[string]any{"isGlobalAdmin": true}}, false},
		{"claims are %%user.data", map[string]any{"email_verified": true}, true}, // insert false
		{"custom_data not an object is absent", map[string]any{"custom_data": "admin"}, true},
		{"no claims", nil, true},
	} {
		op := guest.Op{Op: "PUT", Table: "t", ID: "x", RawData: []byte(`{}`), Caller: guest.Caller{UserID: "u", Claims: c.claims}}
		if v := a.handle(&op); v.Reject != c.reject {
			t.Errorf("%s: reject=%v (%s), want %v", c.name, v.Reject, v.Reason, c.reject)
		}
	}
}

func TestInitErrors(t *testing.T) {
	if _, err := newAuthorizer(fstest.MapFS{}, nil); err == nil || !strings.Contains(err.Error(), "holds no rules file") {
		t.Fatalf("empty rules: %v", err)
	}
	_, err := newAuthorizer(fstest.MapFS{"lists.json": {Data: []byte(`{"roles": [{"name": "r", "apply_when": {"%function": {}}}]}`)}}, nil)
	if err == nil || !strings.Contains(err.Error(), "lists.json: /roles/0/apply_when/%function: unsupported") {
		t.Fatalf("bad rules: %v", err)
	}
}

// TestProcess runs the guest as the host does: a JSON Request through the
// SDK, so claims and stored documents arrive as they do on the wire.
func TestProcess(t *testing.T) {
	a := demo(t)
	req := `{"abi":1,"request_id":"r","now":"2026-12-06T00:00:00Z","caller":{"user_id":"alice","claims":{"custom_data":{"x":1}}},
		"ops":[{"index":0,"op":"PATCH","table":"lists","id":"l1","data":{"name":"n"},"current":{"owner_id":"bob","name":"b"},"exists":true},
		       {"index":1,"op":"PATCH","table":"lists","id":"l2","data":{"name":"n"},"current":{"owner_id":"alice","name":"a"},"exists":true}]}`
	var resp guest.Response
	if err := json.Unmarshal(guest.Process([]byte(req), guest.Handler(a.handle), guest.RawData()), &resp); err != nil {
		t.Fatal(err)
	}
	if len(resp.Verdicts) != 2 || !resp.Verdicts[0].Reject || resp.Verdicts[1].Reject {
		t.Fatalf("verdicts %+v", resp.Verdicts)
	}
}

// BenchmarkGuest/authorize/native runs guesttest's 100 PUTs of todos (the
// batch guest/schemagate's BenchmarkGuest checks) through the guest as the
// SDK calls it: an admin role that does not apply, then a document filter
// and three field rules, with every field of each new row judged.
func BenchmarkGuest(b *testing.B) {
	a, err := newAuthorizer(os.DirFS("testdata/bench"), nil)
	if err != nil {
		b.Fatal(err)
	}
	guesttest.Bench(b, "authorize", a.handle, 100, guest.RawData())
	guesttest.BenchRows(b, "authorize", a.handle, guest.RawData())
}
