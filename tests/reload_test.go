package tests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestReloadAddsCollection: a schema file added to a running server makes
// its collection writable (the allow-list, the converter and the schema gate
// reload together); a broken schema then leaves that whole set serving and
// /readyz says the server is degraded and why.
func TestReloadAddsCollection(t *testing.T) {
	env := schemaEnv(t)
	env["RELOAD_POLL"] = "100ms"
	a := start(t, env)
	note := func(id string, data string) response {
		return postUpload(t, a, "", `{"batch":[{"op":"PUT","table":"notes","id":"`+id+`","data":`+data+`}]}`)
	}
	if r := note("n0", `{"text":"hi"}`); r.status != 200 || rejectionCode(t, r, 0) != "table_not_allowed" {
		t.Fatalf("before the schema exists: %d %s", r.status, r.body)
	}
	schema := `{"type":"object","properties":{"id":{"type":"string"},"text":{"type":"string","maxLength":10},` +
		`"at":{"type":"string","x-bsonType":"date"}},"required":["text"],"additionalProperties":false}`
	if err := os.WriteFile(filepath.Join(env["SCHEMAS_DIR"], "notes.json"), []byte(schema), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, func() bool {
		r := note("n1", `{"text":"hi","at":"2024-05-01T10:00:00Z"}`)
		return r.status == 200 && r.json(t)["applied"] == float64(1)
	})
	got := docs(t, a.db, "notes")
	if len(got) != 1 || got["n1"]["text"] != "hi" {
		t.Fatalf("notes after the upload: %v", got)
	}
	if _, ok := got["n1"]["at"].(interface{ Time() time.Time }); !ok {
		t.Fatalf("notes.at stored as %T: the new schema's converter is not live", got["n1"]["at"])
	}
	if r := note("n2", `{"text":"far too long for ten"}`); r.status != 200 || r.json(t)["applied"] != float64(0) {
		t.Fatalf("the new schema's gate is not live: %d %s", r.status, r.body)
	}
	if rd := get(t, a.url+"/readyz"); rd.status != 200 || rd.json(t)["status"] != "ready" {
		t.Fatalf("/readyz after a good reload: %d %s", rd.status, rd.body)
	}

	// Break the new schema: the last good set keeps serving, and says so.
	if err := os.WriteFile(filepath.Join(env["SCHEMAS_DIR"], "notes.json"), []byte(`{"type":"object","properties":{"text":{"typo":1}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, func() bool {
		rd := get(t, a.url+"/readyz")
		return rd.status == 200 && rd.json(t)["status"] == "degraded"
	})
	rd := get(t, a.url+"/readyz").json(t)
	if c, _ := rd["checks"].(map[string]any)["guests"].(string); !strings.Contains(c, "notes.json") {
		t.Fatalf("/readyz does not say why: %v", rd["checks"])
	}
	if r := note("n3", `{"text":"still ok"}`); r.status != 200 || r.json(t)["applied"] != float64(1) {
		t.Fatalf("after a broken reload: %d %s", r.status, r.body)
	}
	if r := note("n4", `{"text":"far too long for ten"}`); r.status != 200 || r.json(t)["applied"] != float64(0) {
		t.Fatalf("the last good schema is not live: %d %s", r.status, r.body)
	}
	m := get(t, a.url+"/metrics")
	for _, want := range []string{"syncgate_reload_last_failed 1", "syncgate_reload_failures_total ", "syncgate_reload_success_total ", "syncgate_reload_last_success_timestamp_seconds "} {
		if !strings.Contains(string(m.body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	// Fixing it clears the degraded state.
	os.WriteFile(filepath.Join(env["SCHEMAS_DIR"], "notes.json"), []byte(schema), 0o644)
	waitFor(t, 30*time.Second, func() bool { return get(t, a.url+"/readyz").json(t)["status"] == "ready" })
}
