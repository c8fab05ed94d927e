package tests

import (
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
			r := do(t, rt[0], a.url+rt[1], h, []byte(`{"ids":["000000000000000000000000"]}`))
			if r.status != 401 || r.errorCode(t) != "invalid_admin_key" {
				t.Errorf("%s %s with %s: %d %s", rt[0], rt[1], name, r.status, r.body)
			}
		}
		r := do(t, rt[0], a.url+rt[1], map[string]string{"Authorization": "Bearer " + adminKey, "Content-Type": "application/json"}, []byte(`{"ids":["000000000000000000000000"]}`))
		if r.status != 200 && !(r.status == 404 && strings.Contains(rt[1], "show")) {
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
