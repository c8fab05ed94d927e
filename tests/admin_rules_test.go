package tests

import (
	"fmt"
	"strings"
	"testing"
)

// demoRules is the todo demo's rules folder (docs/authorization.md).
const demoRules = "../examples/authorization/rules"

// rulesEnv runs the demo's rules (lists, todos) with the authorize guest,
// attachments on and the admin console open.
func rulesEnv(t *testing.T) map[string]string {
	env := baseEnv(t)
	env["GUESTS_DIR"] = guestsDir // the stock guests, authorize among them
	env["RULES_DIR"] = demoRules
	env["ATTACHMENTS"] = "true"
	env["ADMIN_API_KEYS"] = adminKey
	return env
}

// Explain bodies of the demo's rules: a member may not delete a shared
// list; its owner may rename it.
const (
	explainDenied  = `{"user":"alice","claims":{"sub":"alice"},"op":{"op":"DELETE","type":"lists","id":"l1"},"current":{"owner_id":"bob","members":["alice"]}}`
	explainAllowed = `{"user":"alice","op":{"op":"PATCH","type":"lists","id":"l1","data":{"name":"x"}},"current":{"id":"l1","owner_id":"alice","name":"a"}}`
)

// TestAdminAPIWriteRules: the console's write rules are the live set's
// (roles per table in order, what is ignored), and explain decides as
// `rules explain` does — deny with the role and clause, allow with the
// role; bad bodies are 400 with the error shape.
func TestAdminAPIWriteRules(t *testing.T) {
	a := start(t, rulesEnv(t))
	key := map[string]string{"Authorization": "Bearer " + adminKey, "Content-Type": "application/json"}
	call := func(method, path, body string) map[string]any {
		t.Helper()
		r := do(t, method, a.url+path, key, []byte(body))
		if r.status != 200 {
			t.Fatalf("%s %s: %d %s", method, path, r.status, r.body)
		}
		return r.json(t)
	}
	authz := call("GET", "/admin/api/authorization", "")
	rules, _ := authz["rules"].(map[string]any)
	if rules == nil || authz["rules_dir"] != demoRules || authz["sync"] != nil {
		t.Fatalf("authorization: %v", authz)
	}
	if got := fmt.Sprint(rules["tables"]); !strings.Contains(got, "roles:[owner member] table:lists") || !strings.Contains(got, "roles:[creator] table:todos") {
		t.Errorf("roles per table: %s", got)
	}
	if rules["default"] != nil {
		t.Errorf("the demo has no default_rule.json: %v", rules["default"])
	}
	if !strings.Contains(fmt.Sprint(rules["ignored"]), "read") {
		t.Errorf("ignored read parts not listed: %v", rules["ignored"])
	}

	deny := call("POST", "/admin/api/authorization/explain", explainDenied)
	if deny["allow"] != false || !strings.Contains(fmt.Sprint(deny["reason"]), `role "member": fields.members.write`) ||
		!strings.Contains(fmt.Sprint(deny["checks"]), `role "member": apply_when members == %%user.id → true`) {
		t.Errorf("explain of a member's delete: %v", deny)
	}
	allow := call("POST", "/admin/api/authorization/explain", explainAllowed)
	if allow["allow"] != true || !strings.Contains(fmt.Sprint(allow["reason"]), `role "owner" allows this update`) {
		t.Errorf("explain of the owner's rename: %v", allow)
	}

	for _, bad := range []struct{ body, code, msg string }{
		{`{"user":`, "invalid_body", "body: "},
		{`[1]`, "invalid_body", "body: "},
		{`{"op":{"op":"PUT","type":"lists","id":"x"},"claims":[1]}`, "invalid_body", "body: "},
		{`{"op":{"op":"PUT","type":"lists","id":"x"},"extra":1}`, "invalid_body", `unknown field "extra"`},
		{`{"op":{"op":"PUT","type":"lists","id":"x"}} {}`, "invalid_body", "data after the JSON value"},
		{`{"op":{"op":"GET","type":"lists","id":"x"}}`, "invalid_body", `op: op "GET" is not PUT, PATCH or DELETE`},
		{`{"op":{"op":"PUT","id":"x"}}`, "invalid_body", "op: no type"},
		{`{"op":{"op":"PUT","type":"lists"}}`, "invalid_body", "op: no id"},
		{``, "invalid_body", "body: "},
	} {
		r := do(t, "POST", a.url+"/admin/api/authorization/explain", key, []byte(bad.body))
		e, _ := r.json(t)["error"].(map[string]any)
		if r.status != 400 || e == nil || e["code"] != bad.code || !strings.Contains(fmt.Sprint(e["message"]), bad.msg) {
			t.Errorf("explain %s: %d %s; want 400 %s %q", bad.body, r.status, r.body, bad.code, bad.msg)
		}
	}
}

// TestAdminAPIAttachments: the console lists the attachments (id, size,
// owner, type, uploaded) and deletes one, whoever owns it, through the
// server's store (GridFS is empty after); a second delete is 404; bad
// bodies are 400. With attachments off the list says so and delete is 404.
func TestAdminAPIAttachments(t *testing.T) {
	a := start(t, rulesEnv(t))
	key := map[string]string{"Authorization": "Bearer " + adminKey, "Content-Type": "application/json"}
	photo := jpegOf(t, 300<<10)
	id := "5b0e2f6c-7d1a-4c1e-9a65-0d4f1c2b3a41"
	if r := do(t, "PUT", a.url+"/attachments/"+id, bearer(token(t, a, "alice")), photo); r.status != 200 {
		t.Fatalf("PUT: %d %s", r.status, r.body)
	}
	if r := do(t, "GET", a.url+"/admin/api/overview", key, nil); r.json(t)["attachments"] != true {
		t.Errorf("overview does not say attachments are on: %s", r.body)
	}
	r := do(t, "GET", a.url+"/admin/api/attachments", key, nil)
	list := r.json(t)
	items, _ := list["attachments"].([]any)
	if r.status != 200 || list["enabled"] != true || len(items) != 1 || list["total"] != float64(1) || list["bytes"] != float64(len(photo)) {
		t.Fatalf("list: %d %s", r.status, r.body)
	}
	if it := items[0].(map[string]any); it["id"] != id || it["owner"] != "alice" || it["content_type"] != "image/jpeg" ||
		it["size"] != float64(len(photo)) || it["uploaded"] == nil {
		t.Fatalf("listed: %v", it)
	}
	if r := do(t, "GET", a.url+"/admin/api/attachments?limit=x", key, nil); r.status != 400 || r.errorCode(t) != "invalid_filter" {
		t.Errorf("limit=x: %d %s", r.status, r.body)
	}
	for _, bad := range []string{`{"id":`, `{}`, `{"id":1}`, `{"id":"x","more":1}`} {
		if r := do(t, "POST", a.url+"/admin/api/attachments/delete", key, []byte(bad)); r.status != 400 || r.errorCode(t) != "invalid_body" {
			t.Errorf("delete %s: %d %s", bad, r.status, r.body)
		}
	}
	if f, _ := gridFS(t, a.db); f != 1 {
		t.Fatalf("a refused delete removed something: %d files", f)
	}
	r = do(t, "POST", a.url+"/admin/api/attachments/delete", key, []byte(`{"id":"`+id+`"}`))
	if m := r.json(t); r.status != 200 || m["deleted"] != id || m["owner"] != "alice" || m["size"] != float64(len(photo)) {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	if f, c := gridFS(t, a.db); f != 0 || c != 0 {
		t.Fatalf("after delete: %d files, %d chunks", f, c)
	}
	if r := do(t, "GET", a.url+"/admin/api/attachments", key, nil); r.json(t)["total"] != float64(0) {
		t.Fatalf("list after delete: %s", r.body)
	}
	if r := do(t, "POST", a.url+"/admin/api/attachments/delete", key, []byte(`{"id":"`+id+`"}`)); r.status != 404 || r.errorCode(t) != "attachment_not_found" {
		t.Fatalf("second delete: %d %s", r.status, r.body)
	}

	off := baseEnv(t)
	off["ADMIN_API_KEYS"] = adminKey
	b := start(t, off)
	if r := do(t, "GET", b.url+"/admin/api/attachments", key, nil); r.status != 200 || r.json(t)["enabled"] != false {
		t.Errorf("list with attachments off: %d %s", r.status, r.body)
	}
	if r := do(t, "GET", b.url+"/admin/api/overview", key, nil); r.json(t)["attachments"] != false {
		t.Errorf("overview with attachments off: %s", r.body)
	}
	if r := do(t, "POST", b.url+"/admin/api/attachments/delete", key, []byte(`{"id":"x"}`)); r.status != 404 || !strings.Contains(string(r.body), "ATTACHMENTS=false") {
		t.Errorf("delete with attachments off: %d %s", r.status, r.body)
	}
	// No write rules: explain says every write is allowed, and why.
	e := do(t, "POST", b.url+"/admin/api/authorization/explain", key, []byte(explainDenied))
	if e.status != 200 || e.json(t)["allow"] != true || !strings.Contains(string(e.body), "no write rules") {
		t.Errorf("explain without rules: %d %s", e.status, e.body)
	}
	if r := do(t, "GET", b.url+"/admin/api/authorization", key, nil); !strings.Contains(string(r.body), "any authenticated user may write") {
		t.Errorf("authorization without rules: %s", r.body)
	}
}

// TestAdminAPIWriteRulesSyncScope: with AUTHORIZE=sync-scope the console
// shows per table the sync config's streams with their conditions, and
// explain runs the scope beside the rules from the parents given.
func TestAdminAPIWriteRulesSyncScope(t *testing.T) {
	env := rulesEnv(t)
	env["AUTHORIZE"] = "sync-scope"
	env["SYNC_CONFIG"] = "../guest/authorize/syncscope/testdata/todo-streams.yaml"
	a := start(t, env)
	key := map[string]string{"Authorization": "Bearer " + adminKey, "Content-Type": "application/json"}
	r := do(t, "GET", a.url+"/admin/api/authorization", key, nil)
	m := r.json(t)
	sync, _ := m["sync"].(map[string]any)
	if r.status != 200 || sync == nil || m["sync_config"] != env["SYNC_CONFIG"] || m["rules"] == nil {
		t.Fatalf("authorization: %d %s", r.status, r.body)
	}
	tables := fmt.Sprint(sync["tables"])
	if !strings.Contains(tables, `stream:stream "lists"`) || !strings.Contains(tables, "owner_id = auth.user_id()") || !strings.Contains(tables, "table:todos") {
		t.Errorf("streams per table: %s", tables)
	}
	if _, ok := sync["open"].([]any); !ok {
		t.Errorf("open streams not a list: %v", sync["open"])
	}
	e := do(t, "POST", a.url+"/admin/api/authorization/explain", key,
		[]byte(`{"user":"alice","op":{"op":"PUT","type":"todos","id":"t1","data":{"list_id":"L2","created_by":"alice"}},"parents":{"lists":[{"_id":"L2","owner_id":"bob"}]}}`))
	x := e.json(t)
	// Both deny: the demo's todo rules read the list too (%%parent.list),
	// and the first check's reason is the decision's.
	checks, _ := x["checks"].([]any)
	if e.status != 200 || x["allow"] != false || !strings.HasPrefix(fmt.Sprint(x["reason"]), `role "creator": document_filters.write`) || len(checks) != 2 ||
		checks[0].(map[string]any)["check"] != "rules" || checks[0].(map[string]any)["allow"] != false ||
		checks[1].(map[string]any)["check"] != "sync scope" || !strings.HasPrefix(fmt.Sprint(checks[1].(map[string]any)["reason"]), "list_todos") {
		t.Errorf("a todo in bob's list: %d %s", e.status, e.body)
	}
	e = do(t, "POST", a.url+"/admin/api/authorization/explain", key,
		[]byte(`{"user":"alice","op":{"op":"PUT","type":"todos","id":"t1","data":{"list_id":"L1","created_by":"alice"}},"parents":{"lists":[{"_id":"L1","owner_id":"alice"}]}}`))
	if x := e.json(t); e.status != 200 || x["allow"] != true || !strings.Contains(fmt.Sprint(x["reason"]), "sync scope: ") {
		t.Errorf("a todo in her list: %d %s", e.status, e.body)
	}
}
