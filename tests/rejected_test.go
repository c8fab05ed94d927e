package tests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// notesSchema is a schema whose text is at most max characters.
func notesSchema(max int) string {
	return fmt.Sprintf(`{"type":"object","properties":{"id":{"type":"string"},"text":{"type":"string","maxLength":%d},"tag":{"type":"string"}},"required":["text"],"additionalProperties":false}`, max)
}

// rejectedCLI runs `syncgate rejected args…` with env and returns the
// exit code, stdout and stderr.
func rejectedCLI(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := cliRun(t, env, &out, &errb, append([]string{"rejected"}, args...)...)
	return code, out.String(), errb.String()
}

// waitReloaded waits until the server has made its reloads-th rule set.
func waitReloaded(t *testing.T, a *app, reloads float64) {
	t.Helper()
	waitFor(t, 30*time.Second, func() bool {
		rd := get(t, a.url+"/readyz").json(t)
		rl, _ := rd["reload"].(map[string]any)
		return rl != nil && rl["reloads"] == reloads
	})
}

type deadLetterJSON struct {
	ID, State, Code, Reason, Table, Raw, Result string
	DocID                                       string `json:"doc_id"`
	UserID                                      string `json:"user_id"`
	Replays                                     int
}

func listJSON(t *testing.T, env map[string]string, args ...string) []deadLetterJSON {
	t.Helper()
	code, out, errs := rejectedCLI(t, env, append([]string{"list", "--json"}, args...)...)
	if code != 0 {
		t.Fatalf("rejected list: exit %d\n%s", code, errs)
	}
	var list []deadLetterJSON
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("list --json: %v\n%s", err, out)
	}
	return list
}

// TestRejectedCLI: the operator's workflow on the embedded database — a
// write is rejected, listed and shown; a dry run changes nothing; the
// schema is fixed (and hot-reloaded by the server); the replay applies it
// as the recorded user and marks the record; a second replay does nothing;
// a PATCH whose document changed meanwhile sets only its fields; resolve,
// discard and purge.
func TestRejectedCLI(t *testing.T) {
	env := baseEnv(t)
	env["RELOAD_POLL"] = "100ms"
	schemaPath := filepath.Join(env["SCHEMAS_DIR"], "notes.json")
	if err := os.WriteFile(schemaPath, []byte(notesSchema(5)), 0o644); err != nil {
		t.Fatal(err)
	}
	a := start(t, env)
	r := postUpload(t, a, "", `{"batch":[
		{"op":"PUT","table":"notes","id":"n1","data":{"text":"far too long"}},
		{"op":"PUT","table":"notes","id":"n2","data":{"text":"ok","tag":"a"}},
		{"op":"PATCH","table":"notes","id":"n2","data":{"text":"also too long"}},
		{"op":"PUT","table":"notes","id":"n3","data":{"text":"x","$bad":1}},
		{"op":"PUT","table":"todos","id":"t1","data":{"text":"x"}}
	]}`)
	if r.status != 200 || r.json(t)["applied"] != float64(1) {
		t.Fatalf("upload: %d %s", r.status, r.body)
	}
	list := listJSON(t, env)
	if len(list) != 4 {
		t.Fatalf("list: %d records, want 4: %+v", len(list), list)
	}
	if l := listJSON(t, env, "--code", "schema_violation", "--table", "notes", "--since", "1h"); len(l) != 2 {
		t.Fatalf("filtered list: %+v", l)
	}
	code, human, _ := rejectedCLI(t, env, "list")
	if code != 0 || !strings.Contains(human, "schema_violation") || !strings.Contains(human, "table_not_allowed") {
		t.Fatalf("human list (exit %d):\n%s", code, human)
	}
	var n1, patch, todo string
	for _, d := range list {
		switch {
		case d.DocID == "n1":
			n1 = d.ID
		case d.DocID == "n2":
			patch = d.ID
		case d.Table == "todos":
			todo = d.ID
		}
	}
	code, shown, _ := rejectedCLI(t, env, "show", todo)
	if code != 0 || !strings.Contains(shown, `"table":"todos"`) || !strings.Contains(shown, "table_not_allowed") {
		t.Fatalf("show (exit %d):\n%s", code, shown)
	}

	// Dry run before the fix: would be rejected again, nothing changes.
	code, out, errs := rejectedCLI(t, env, "replay", "--dry-run", "--table", "notes", "--code", "schema_violation")
	if code != 0 || !strings.Contains(errs, "0 would apply, 2 would be rejected") {
		t.Fatalf("dry run (exit %d):\n%s\n%s", code, out, errs)
	}
	if l := listJSON(t, env, "--code", "schema_violation"); l[0].Replays != 0 {
		t.Fatalf("a dry run marked a record: %+v", l[0])
	}

	// Meanwhile n2 changes (tag b). Then the schema is fixed; the server
	// picks it up (hot reload) and so does the replay.
	if r := postUpload(t, a, "", `{"batch":[{"op":"PATCH","table":"notes","id":"n2","data":{"tag":"b"}}]}`); r.json(t)["applied"] != float64(1) {
		t.Fatalf("change n2: %s", r.body)
	}
	if err := os.WriteFile(schemaPath, []byte(notesSchema(100)), 0o644); err != nil {
		t.Fatal(err)
	}
	waitReloaded(t, a, 2)
	code, out, errs = rejectedCLI(t, env, "replay", "--dry-run", n1, patch)
	if code != 0 || !strings.Contains(errs, "2 would apply") || !strings.Contains(out, "would_apply") {
		t.Fatalf("dry run after the fix (exit %d):\n%s\n%s", code, out, errs)
	}
	if _, ok := docs(t, a.db, "notes")["n1"]; ok {
		t.Fatal("a dry run wrote n1")
	}
	code, out, errs = rejectedCLI(t, env, "replay", "--table", "notes", "--code", "schema_violation")
	if code != 0 || !strings.Contains(errs, "2 applied, 0 rejected again") {
		t.Fatalf("replay (exit %d):\n%s\n%s", code, out, errs)
	}
	got := docs(t, a.db, "notes")
	if got["n1"]["text"] != "far too long" || got["n2"]["text"] != "also too long" || got["n2"]["tag"] != "b" {
		t.Fatalf("after the replay: %v", got)
	}
	var rec bson.M
	oid, _ := bson.ObjectIDFromHex(n1)
	if err := client.Database(a.db).Collection("syncgate_rejected").FindOne(t.Context(), bson.D{{Key: "_id", Value: oid}}).Decode(&rec); err != nil {
		t.Fatal(err)
	}
	if rec["state"] != "replayed" || rec["result"] != "applied" || rec["replayed_at"] == nil {
		t.Fatalf("record not marked: %v", rec)
	}

	// Twice: nothing left to do; by id: skipped.
	code, _, errs = rejectedCLI(t, env, "replay", "--table", "notes", "--code", "schema_violation")
	if code != 0 || !strings.Contains(errs, "replayed 0:") {
		t.Fatalf("second replay (exit %d): %s", code, errs)
	}
	code, out, errs = rejectedCLI(t, env, "replay", n1)
	if code != 0 || !strings.Contains(errs, "1 skipped") || !strings.Contains(out, "already replayed") {
		t.Fatalf("replay of a replayed record (exit %d):\n%s\n%s", code, out, errs)
	}

	// Still refused: the record stays open with the new reason.
	code, _, errs = rejectedCLI(t, env, "replay", "--table", "todos")
	if code != 0 || !strings.Contains(errs, "1 rejected again") {
		t.Fatalf("replay of todos (exit %d): %s", code, errs)
	}
	if l := listJSON(t, env, "--table", "todos"); len(l) != 1 || l[0].State != "open" || l[0].Replays != 1 || !strings.HasPrefix(l[0].Result, "rejected: table_not_allowed") {
		t.Fatalf("todos record after a failed replay: %+v", l)
	}

	// resolve, discard, purge.
	code, out, _ = rejectedCLI(t, env, "resolve", todo, "--note", "todos are not synced")
	if code != 0 || strings.TrimSpace(out) != "resolved 1" {
		t.Fatalf("resolve (exit %d): %s", code, out)
	}
	code, out, _ = rejectedCLI(t, env, "discard", "--code", "invalid_key")
	if code != 0 || strings.TrimSpace(out) != "discarded 1" {
		t.Fatalf("discard (exit %d): %s", code, out)
	}
	if l := listJSON(t, env); len(l) != 0 {
		t.Fatalf("open records left: %+v", l)
	}
	if code, _, errs := rejectedCLI(t, env, "purge"); code != 2 || !strings.Contains(errs, "--older-than is required") {
		t.Fatalf("purge without --older-than: exit %d %s", code, errs)
	}
	code, out, _ = rejectedCLI(t, env, "purge", "--older-than", "1h")
	if code != 0 || !strings.Contains(out, "purged 0") {
		t.Fatalf("purge 1h (exit %d): %s", code, out)
	}
	code, out, _ = rejectedCLI(t, env, "purge", "--older-than", "1ns", "--state", "resolved")
	if code != 0 || !strings.Contains(out, "purged 1") {
		t.Fatalf("purge resolved (exit %d): %s", code, out)
	}
	if n := count(t, a.db, "syncgate_rejected"); n != 3 {
		t.Fatalf("%d records after purging one of 4", n)
	}
}

// TestReplayRate replays 500 recorded schema violations through the
// schema gate on the embedded database and reports the rate (docs:
// operations.md). It checks every op landed.
func TestReplayRate(t *testing.T) {
	env := baseEnv(t)
	schemaPath := filepath.Join(env["SCHEMAS_DIR"], "notes.json")
	if err := os.WriteFile(schemaPath, []byte(notesSchema(3)), 0o644); err != nil {
		t.Fatal(err)
	}
	a := start(t, env)
	const n = 500
	for b := 0; b < n/100; b++ {
		var sb strings.Builder
		sb.WriteString(`{"batch":[`)
		for i := range 100 {
			if i > 0 {
				sb.WriteByte(',')
			}
			fmt.Fprintf(&sb, `{"op":"PUT","table":"notes","id":"n%d","data":{"text":"too long %d","tag":"t"}}`, b*100+i, i)
		}
		sb.WriteString(`]}`)
		if r := postUpload(t, a, "", sb.String()); r.json(t)["applied"] != float64(0) {
			t.Fatalf("upload: %s", r.body)
		}
	}
	a.stop(t)
	if err := os.WriteFile(schemaPath, []byte(notesSchema(100)), 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	code, _, errs := rejectedCLI(t, env, "replay", "--table", "notes")
	took := time.Since(start)
	if code != 0 || !strings.Contains(errs, fmt.Sprintf("replayed %d: %d applied", n, n)) {
		t.Fatalf("replay (exit %d): %s", code, errs)
	}
	if c := count(t, a.db, "notes"); c != n {
		t.Fatalf("%d notes after the replay, want %d", c, n)
	}
	t.Logf("%s (the command, start-up and rule loading included: %s, %.0f ops/s)", strings.TrimSpace(errs[strings.LastIndex(errs, "replayed"):]), took.Round(time.Millisecond), n/took.Seconds())
}
