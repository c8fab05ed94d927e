package tests

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const adminKey = "admin-key-0123456789abcdef"

// adminAPI are the console's API routes (method, path).
var adminAPI = [][2]string{
	{"GET", "/admin/api/overview"},
	{"GET", "/admin/api/rejected"},
	{"GET", "/admin/api/rejected/show?id=000000000000000000000000"},
	{"POST", "/admin/api/rejected/replay"},
	{"POST", "/admin/api/rejected/resolve"},
	{"POST", "/admin/api/rejected/discard"},
	{"GET", "/admin/api/rules"},
	{"GET", "/admin/api/authorization"},
	{"POST", "/admin/api/authorization/explain"},
	{"GET", "/admin/api/attachments"},
	{"POST", "/admin/api/attachments/delete"},
}

// adminBody is the body each route gets in TestAdminAuth.
func adminBody(path string) []byte {
	switch {
	case strings.HasSuffix(path, "/explain"):
		return []byte(`{"op":{"op":"PUT","type":"lists","id":"l1"}}`)
	case strings.HasSuffix(path, "attachments/delete"):
		return []byte(`{"id":"a1"}`)
	}
	return []byte(`{"ids":["000000000000000000000000"]}`)
}

// TestAdminAuth: every admin API route answers 401 without a key, with a
// wrong one, with a PowerSync token and with the key in a cookie; the
// right key opens it. The assets carry a strict CSP.
func TestAdminAuth(t *testing.T) {
	env := baseEnv(t)
	env["ADMIN_API_KEYS"] = "other-admin-key-aaaaaaaa," + adminKey
	a := start(t, env)
	psToken := token(t, a, "alice")
	for _, rt := range adminAPI {
		for name, h := range map[string]map[string]string{
			"no key":          {},
			"wrong key":       {"Authorization": "Bearer " + adminKey + "x"},
			"powersync token": {"Authorization": "Bearer " + psToken},
			"Token scheme":    {"Authorization": "Token " + adminKey},
			"cookie":          {"Cookie": "key=" + adminKey + "; admin=" + adminKey},
			"basic":           {"Authorization": "Basic " + adminKey},
		} {
			h["Content-Type"] = "application/json"
			r := do(t, rt[0], a.url+rt[1], h, adminBody(rt[1]))
			if r.status != 401 || r.errorCode(t) != "invalid_admin_key" {
				t.Errorf("%s %s with %s: %d %s", rt[0], rt[1], name, r.status, r.body)
			}
		}
		r := do(t, rt[0], a.url+rt[1], map[string]string{"Authorization": "Bearer " + adminKey, "Content-Type": "application/json"}, adminBody(rt[1]))
		// show: no such record; attachments/delete: attachments are off.
		if r.status != 200 && !(r.status == 404 && (strings.Contains(rt[1], "show") || strings.Contains(rt[1], "attachments/delete"))) {
			t.Errorf("%s %s with the key: %d %s", rt[0], rt[1], r.status, r.body)
		}
		if csp := r.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("%s %s: CSP %q", rt[0], rt[1], csp)
		}
	}
	for _, asset := range []string{"/admin/", "/admin/app.js", "/admin/app.css"} {
		r := get(t, a.url+asset)
		csp := r.header.Get("Content-Security-Policy")
		if r.status != 200 || !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "script-src 'self'") ||
			strings.Contains(csp, "unsafe") || r.header.Get("X-Content-Type-Options") != "nosniff" || r.header.Get("Set-Cookie") != "" {
			t.Errorf("%s: %d CSP %q headers %v", asset, r.status, csp, r.header)
		}
	}
	page := string(get(t, a.url+"/admin/").body)
	if strings.Contains(page, "<script>") || strings.Contains(page, "style=") || strings.Contains(page, "http://") || strings.Contains(page, "https://") {
		t.Errorf("the page has inline code or foreign URLs:\n%s", page)
	}
}

// TestAdminOff: without ADMIN_API_KEYS there is no console.
func TestAdminOff(t *testing.T) {
	a := start(t, baseEnv(t))
	for _, p := range []string{"/admin/", "/admin/api/overview", "/admin/api/rejected"} {
		if r := do(t, "GET", a.url+p, map[string]string{"Authorization": "Bearer " + adminKey}, nil); r.status != 404 {
			t.Errorf("%s without ADMIN_API_KEYS: %d", p, r.status)
		}
	}
}

// TestAdminAPIReplay: the console's API does what the CLI does — list with
// filters, bulk dry run and replay of a filter through the server's live
// (hot-reloaded) rules, discard, overview counts.
func TestAdminAPIReplay(t *testing.T) {
	env := baseEnv(t)
	env["ADMIN_API_KEYS"] = adminKey
	env["RELOAD_POLL"] = "100ms"
	schemaPath := filepath.Join(env["SCHEMAS_DIR"], "notes.json")
	if err := os.WriteFile(schemaPath, []byte(notesSchema(3)), 0o644); err != nil {
		t.Fatal(err)
	}
	a := start(t, env)
	r := postUpload(t, a, "", `{"batch":[
		{"op":"PUT","table":"notes","id":"a","data":{"text":"long a"}},
		{"op":"PUT","table":"notes","id":"b","data":{"text":"long b"}},
		{"op":"PUT","table":"notes","id":"c","data":{"text":"long c"}}]}`)
	if r.json(t)["applied"] != float64(0) {
		t.Fatalf("upload: %s", r.body)
	}
	call := func(method, path, body string) map[string]any {
		t.Helper()
		r := do(t, method, a.url+path, map[string]string{"Authorization": "Bearer " + adminKey, "Content-Type": "application/json"}, []byte(body))
		if r.status != 200 {
			t.Fatalf("%s %s: %d %s", method, path, r.status, r.body)
		}
		return r.json(t)
	}
	list := call("GET", "/admin/api/rejected?table=notes&code=schema_violation", "")["rejected"].([]any)
	if len(list) != 3 {
		t.Fatalf("list: %v", list)
	}
	ov := call("GET", "/admin/api/overview", "")
	if ov["ready"] != true || !strings.Contains(fmt.Sprint(ov["rejected_last_hour"]), "schema_violation") || !strings.Contains(fmt.Sprint(ov["guests"]), "schemagate") {
		t.Fatalf("overview: %v", ov)
	}
	discardID := list[0].(map[string]any)["id"].(string)
	if m := call("POST", "/admin/api/rejected/discard", `{"ids":["`+discardID+`"]}`); m["marked"] != float64(1) {
		t.Fatalf("discard: %v", m)
	}
	if err := os.WriteFile(schemaPath, []byte(notesSchema(100)), 0o644); err != nil {
		t.Fatal(err)
	}
	waitReloaded(t, a, 2)
	rules := call("GET", "/admin/api/rules", "")
	if rules["reloads"] != float64(2) || !strings.Contains(fmt.Sprint(rules["schema_files"]), "notes.json") {
		t.Fatalf("rules: %v", rules)
	}
	dry := call("POST", "/admin/api/rejected/replay", `{"filter":{"table":"notes"},"dry_run":true}`)
	if s := dry["summary"].(map[string]any); s["would_apply"] != float64(2) {
		t.Fatalf("dry run: %v", dry)
	}
	if n := count(t, a.db, "notes"); n != 0 {
		t.Fatalf("a dry run wrote %d notes", n)
	}
	done := call("POST", "/admin/api/rejected/replay", `{"filter":{"table":"notes"}}`)
	if s := done["summary"].(map[string]any); s["applied"] != float64(2) {
		t.Fatalf("replay: %v", done)
	}
	if n := count(t, a.db, "notes"); n != 2 {
		t.Fatalf("%d notes after the replay, want 2 (one was discarded)", n)
	}
	if l := call("GET", "/admin/api/rejected?state=replayed", "")["rejected"].([]any); len(l) != 2 {
		t.Fatalf("replayed records: %v", l)
	}
	r = do(t, "POST", a.url+"/admin/api/rejected/replay", map[string]string{"Authorization": "Bearer " + adminKey}, []byte(`{}`))
	if r.status != 400 || r.errorCode(t) != "invalid_filter" {
		t.Fatalf("replay of everything without a filter: %d %s", r.status, r.body)
	}
}
