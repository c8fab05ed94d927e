package tests

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

const (
	listA = "0b6f3a52-5a3c-4c59-9ac6-2f2b7f7c1b10"
	todoA = "7c1e9f0a-3d2b-4a8e-b6f1-0e9d8c7b6a51"
	todoB = "7c1e9f0a-3d2b-4a8e-b6f1-0e9d8c7b6a52"
)

// copySchemas copies the shipped schemas into a folder a test may edit.
func copySchemas(t *testing.T) string {
	dir := t.TempDir()
	entries, err := os.ReadDir("testdata/schemas")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("testdata/schemas", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644)
	}
	return dir
}

func schemaEnv(t *testing.T) map[string]string {
	env := baseEnv(t)
	env["SCHEMAS_DIR"] = copySchemas(t)
	return env
}

func TestSchemaGateEndToEnd(t *testing.T) {
	a := start(t, schemaEnv(t))
	r := postUpload(t, a, "", `{"batch":[
		{"op":"PUT","table":"lists","id":"`+listA+`","data":{"name":"Groceries","owner_id":"u1","created_at":"2024-05-01 10:00:00"}},
		{"op":"PUT","table":"todos","id":"`+todoA+`","data":{"description":"milk","list_id":"`+listA+`","completed":0}},
		{"op":"PUT","table":"todos","id":"`+todoB+`","data":{"description":"bad","list_id":"`+listA+`","completed":"yes"}},
		{"op":"PATCH","table":"todos","id":"`+todoA+`","data":{"description":null}},
		{"op":"PATCH","table":"todos","id":"`+todoA+`","data":{"completed":1,"completed_at":"2024-05-02T08:00:00Z"}}
	]}`)
	res := uploadResult(t, r)
	if res.Applied != 3 || len(res.Rejected) != 2 {
		t.Fatalf("body %s: want 3 applied, 2 rejected", r.body)
	}
	if res.Rejected[0].Index != 2 || res.Rejected[0].Code != "schema_violation" || !strings.Contains(res.Rejected[0].Reason, "/completed: got string, want integer") {
		t.Fatalf("rejection %+v", res.Rejected[0])
	}
	if res.Rejected[1].Index != 3 || !strings.Contains(res.Rejected[1].Reason, "after the PATCH") || !strings.Contains(res.Rejected[1].Reason, "/description") {
		t.Fatalf("merged-PATCH rejection %+v", res.Rejected[1])
	}
	todos := docs(t, a.db, "todos")
	if _, ok := todos[todoB]; ok {
		t.Fatal("an invalid row was written")
	}
	got := todos[todoA]
	if got["description"] != "milk" || got["completed"] != true {
		t.Fatalf("todo %v: the rejected PATCH must not apply; the valid one must, with completed stored as a bool", got)
	}
	if _, ok := got["completed_at"].(bson.DateTime); !ok {
		t.Fatalf("completed_at stored as %T, want a BSON date", got["completed_at"])
	}
	if _, ok := docs(t, a.db, "lists")[listA]["created_at"].(bson.DateTime); !ok {
		t.Fatal("lists.created_at not stored as a BSON date")
	}
	// Tables without a schema are not writable (schema-first allowlist).
	if r := postUpload(t, a, "", `{"batch":[{"op":"PUT","table":"users","id":"u","data":{}}]}`); r.status != 200 || rejectionCode(t, r, 0) != "table_not_allowed" {
		t.Fatalf("unknown table: %d %s", r.status, r.body)
	}
	rd := get(t, a.url+"/readyz").json(t)
	if g, _ := rd["guests"].([]any); len(g) != 1 || g[0] != "schemagate:*" {
		t.Fatalf("/readyz does not show the pipeline: %v", rd["guests"])
	}
}

// TestRoundTripKeepsBSONTypes: a document as PowerSync syncs it to a client
// (dates as text, booleans as 0/1), sent back unchanged as a PUT, is stored
// with its original BSON types.
func TestRoundTripKeepsBSONTypes(t *testing.T) {
	a := start(t, schemaEnv(t))
	created := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	orig := bson.D{{Key: "_id", Value: todoA}, {Key: "created_at", Value: created}, {Key: "description", Value: "milk"},
		{Key: "completed", Value: true}, {Key: "completed_at", Value: nil}, {Key: "list_id", Value: listA}}
	if _, err := client.Database(a.db).Collection("todos").InsertOne(context.Background(), orig); err != nil {
		t.Fatal(err)
	}
	// What the client holds: SQLite values.
	r := postUpload(t, a, "", `{"batch":[{"op":"PUT","table":"todos","id":"`+todoA+`","data":{"created_at":"2024-05-01 10:00:00","description":"milk","completed":1,"completed_at":null,"list_id":"`+listA+`"}}]}`)
	if r.status != 200 || r.json(t)["applied"] != float64(1) {
		t.Fatalf("%d %s", r.status, r.body)
	}
	got := docs(t, a.db, "todos")[todoA]
	if dt, ok := got["created_at"].(bson.DateTime); !ok || !dt.Time().Equal(created) {
		t.Fatalf("created_at %#v, want the original date", got["created_at"])
	}
	if got["completed"] != true {
		t.Fatalf("completed %#v, want true", got["completed"])
	}
	// A PATCH validates against the merged document, read back as the client sees it.
	r = postUpload(t, a, "", `{"batch":[{"op":"PATCH","table":"todos","id":"`+todoA+`","data":{"completed":0}}]}`)
	if r.status != 200 || r.json(t)["applied"] != float64(1) {
		t.Fatalf("PATCH over a stored bool/date document: %d %s", r.status, r.body)
	}
	if docs(t, a.db, "todos")[todoA]["completed"] != false {
		t.Fatal("PATCH completed:0 not stored as false")
	}
}

func TestSchemaHotReload(t *testing.T) {
	env := schemaEnv(t)
	env["RELOAD_POLL"] = "100ms"
	a := start(t, env)
	put := func(id, name string) response {
		return postUpload(t, a, "", `{"batch":[{"op":"PUT","table":"lists","id":"`+id+`","data":{"name":"`+name+`","owner_id":"u"}}]}`)
	}
	if r := put("0b6f3a52-5a3c-4c59-9ac6-2f2b7f7c1b11", "a long name"); r.json(t)["applied"] != float64(1) {
		t.Fatalf("before reload: %s", r.body)
	}
	path := filepath.Join(env["SCHEMAS_DIR"], "lists.json")
	orig, _ := os.ReadFile(path)
	os.WriteFile(path, []byte(strings.Replace(string(orig), `"maxLength": 200`, `"maxLength": 5`, 1)), 0o644)
	waitFor(t, 30*time.Second, func() bool {
		r := put("0b6f3a52-5a3c-4c59-9ac6-2f2b7f7c1b12", "a long name")
		return r.status == 200 && r.json(t)["applied"] == float64(0)
	})
	// A broken schema keeps the last good set live and says why in the log.
	os.WriteFile(path, []byte(`{"type":"object","properties":{"name":{"typo":1}}}`), 0o644)
	waitFor(t, 30*time.Second, func() bool { return strings.Contains(a.logs.String(), "reload failed") })
	if r := put("0b6f3a52-5a3c-4c59-9ac6-2f2b7f7c1b13", "short"); r.json(t)["applied"] != float64(1) {
		t.Fatalf("after a broken reload: %s", r.body)
	}
	if r := put("0b6f3a52-5a3c-4c59-9ac6-2f2b7f7c1b14", "a long name"); r.json(t)["applied"] != float64(0) {
		t.Fatalf("the last good schema is not live: %s", r.body)
	}
}

func token(t *testing.T, a *app, user string) string {
	r := get(t, a.url+"/token?user_id="+user)
	if r.status != 200 {
		t.Fatalf("/token: %d %s", r.status, r.body)
	}
	var m struct{ Token string }
	json.Unmarshal(r.body, &m)
	return m.Token
}

// TestOwnerGuestWithTokens runs the owner and normalize guests behind real
// PowerSync tokens: the owner comes from the token, and another user cannot
// change or delete the document.
func TestOwnerGuestWithTokens(t *testing.T) {
	env := schemaEnv(t)
	delete(env, "UPLOAD_AUTH")
	env["GUESTS"] = "normalize,owner:lists"
	a := start(t, env)
	alice, bob := token(t, a, "alice"), token(t, a, "bob")
	r := postUpload(t, a, alice, `{"batch":[{"op":"PUT","table":"lists","id":"`+listA+`","data":{"name":"  Alice's   list ","owner_id":"alice"}}]}`)
	if r.status != 200 || r.json(t)["applied"] != float64(1) {
		t.Fatalf("alice PUT: %d %s", r.status, r.body)
	}
	l := docs(t, a.db, "lists")[listA]
	if l["owner_id"] != "alice" || l["name"] != "Alice's list" {
		t.Fatalf("stored %v", l)
	}
	for _, body := range []string{
		`{"batch":[{"op":"PATCH","table":"lists","id":"` + listA + `","data":{"name":"mine now"}}]}`,
		`{"batch":[{"op":"DELETE","table":"lists","id":"` + listA + `"}]}`,
		`{"batch":[{"op":"PUT","table":"lists","id":"` + listA + `","data":{"name":"x","owner_id":"bob"}}]}`,
	} {
		r := postUpload(t, a, bob, body)
		rej, _ := r.json(t)["rejected"].([]any)
		if r.status != 200 || len(rej) != 1 || rej[0].(map[string]any)["code"] != "forbidden" {
			t.Fatalf("bob: %d %s", r.status, r.body)
		}
	}
	if l := docs(t, a.db, "lists")[listA]; l["owner_id"] != "alice" || l["name"] != "Alice's list" {
		t.Fatalf("bob changed alice's list: %v", l)
	}
	if n := count(t, a.db, "syncgate_rejected"); n != 3 {
		t.Fatalf("%d dead letters, want 3", n)
	}
	m := string(get(t, a.url+"/metrics").body)
	for _, want := range []string{`syncgate_guest_calls_total{guest="owner"}`, `syncgate_guest_rejections_total{guest="owner"} 3`, `syncgate_guest_call_duration_seconds_bucket{guest="schemagate"`} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestBrokenGuestStopsStartup(t *testing.T) {
	env := baseEnv(t)
	env["GUESTS"] = "nosuchguest"
	code, stderr := runCommand(t, env, "serve")
	if code == 0 || !strings.Contains(stderr, "nosuchguest") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
}

func TestSchemasCommands(t *testing.T) {
	env := schemaEnv(t)
	var out strings.Builder
	run := func(args ...string) (int, string, string) {
		out.Reset()
		var errb strings.Builder
		code := cliRun(t, env, &out, &errb, args...)
		return code, out.String(), errb.String()
	}
	if code, stdout, _ := run("schemas", "check"); code != 0 || !strings.Contains(stdout, "2 schemas OK") {
		t.Fatalf("check: %d %s", code, stdout)
	}
	if code, stdout, _ := run("schemas", "export"); code != 0 || !strings.Contains(stdout, `"$jsonSchema"`) || !strings.Contains(stdout, `"unsupported"`) {
		t.Fatalf("export: %d %s", code, stdout)
	}
	// The embedded FerretDB has no $jsonSchema validators: apply says so and
	// fails (on a real MongoDB, TestMongoValidators covers apply).
	code, _, stderr := run("schemas", "apply")
	if !realMongo() && (code == 0 || !strings.Contains(stderr, "does not support $jsonSchema")) {
		t.Fatalf("apply on FerretDB: exit %d, %s", code, stderr)
	}
	os.WriteFile(filepath.Join(env["SCHEMAS_DIR"], "todos.json"), []byte(`{"type":"object","properties":{"x":{"typ":"string"}}}`), 0o644)
	code, _, stderr = run("schemas", "check")
	if code == 0 || !strings.Contains(stderr, `todos.json: /properties/x/typ: unknown keyword "typ"`) {
		t.Fatalf("check of a broken schema: exit %d, %s", code, stderr)
	}
}

// TestPatchOfMissingDocumentSaysSo: with the schema gate (and any guest)
// in the pipeline, a PATCH of a document that does not exist is rejected
// as not_found before a guest sees it, not as the schema violation the
// lone patch would be.
func TestPatchOfMissingDocumentSaysSo(t *testing.T) {
	env := schemaEnv(t)
	env["GUESTS"] = "normalize"
	a := start(t, env)
	r := postUpload(t, a, "", `{"batch":[{"op":"PATCH","table":"lists","id":"`+listA+`","data":{"name":"x"}}]}`)
	res := uploadResult(t, r)
	if res.Applied != 0 || len(res.Rejected) != 1 || res.Rejected[0].Code != "not_found" || !strings.Contains(res.Rejected[0].Reason, "no such document") {
		t.Fatalf("status %d body %s: want one not_found rejection saying there is no such document", r.status, r.body)
	}
	if n := count(t, a.db, "lists"); n != 0 {
		t.Fatalf("%d lists written", n)
	}
}
