package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// nodeClientDir is tests/testdata/nodeclient: the example's connector and
// attachment adapter on the PowerSync Node.js SDK (@powersync/node with
// better-sqlite3, built by node-gyp where no prebuilt binary downloads).
const nodeClientDir = "testdata/nodeclient"

// nodeClientResult is the RESULT line of tests/testdata/nodeclient.
type nodeClientResult struct {
	ListID           string         `json:"listId"`
	Milk             string         `json:"milk"`
	Refused          string         `json:"refused"`
	WithPhoto        string         `json:"withPhoto"`
	WithRefusedPhoto string         `json:"withRefusedPhoto"`
	PhotoID          string         `json:"photoId"`
	RefusedPhotoID   string         `json:"refusedPhotoId"`
	Queued           int            `json:"queued"`
	Phases           map[string]int `json:"phases"` // milliseconds
	Transactions     int            `json:"transactions"`
	Reports          []struct {
		Status int `json:"status"`
		Body   struct {
			Applied  int `json:"applied"`
			Rejected []struct {
				Table, ID, Code string
			} `json:"rejected"`
		} `json:"body"`
	} `json:"reports"`
}

// todoPhotoSchemas is the test schemas with todos.photo_id, the column the
// todo demo's attachment version adds.
func todoPhotoSchemas(t *testing.T) string {
	t.Helper()
	dir := copySchemas(t)
	path := filepath.Join(dir, "todos.json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var s map[string]any
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	s["properties"].(map[string]any)["photo_id"] = map[string]any{"type": []string{"string", "null"}, "format": "uuid"}
	if b, err = json.Marshal(s); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestNodeClient runs the TypeScript example's SyncgateConnector and
// SyncgateStorageAdapter on the real PowerSync Node.js SDK: an offline app
// writes a list, todos (one refused by the schema) and two photos (one
// refused as not an image), then drains its CRUD queue through the
// connector and its attachment queue through the adapter into syncgate.
// MongoDB holds the documents, GridFS the photo; the refusals are reported
// once and block neither queue. Without node it skips, or fails when CI is
// set (.ci/run installs Node.js, npm and a C++ toolchain for better-sqlite3).
func TestNodeClient(t *testing.T) {
	node, _ := needNode(t, 20)
	began := time.Now()
	if err := npmCI(nodeClientDir, 10*time.Minute); err != nil {
		t.Fatalf("%v\n(better-sqlite3 builds with node-gyp when no prebuilt binary downloads: it needs python3, make and g++, e.g. apt-get install build-essential python3)", err)
	}
	installed := time.Since(began)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, node, "build.mjs")
	build.Dir = nodeClientDir
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build tests/testdata/nodeclient: %v\n%s", err, out)
	}
	built := time.Since(began) - installed

	env := baseEnv(t)
	env["SCHEMAS_DIR"] = todoPhotoSchemas(t)
	env["ATTACHMENTS"] = "true"
	delete(env, "UPLOAD_AUTH") // the connector sends its PowerSync token
	a := start(t, env)

	dir := t.TempDir()
	photo := jpegOf(t, 300<<10)
	photoPath, refusedPath, work := filepath.Join(dir, "photo.jpg"), filepath.Join(dir, "notes.jpg"), filepath.Join(dir, "app")
	for path, data := range map[string][]byte{photoPath: photo, refusedPath: []byte(strings.Repeat("not a photo\n", 100))} {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(work, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	run := exec.CommandContext(ctx, node, filepath.Join(".build", "out", "main.js"))
	run.Dir = nodeClientDir
	run.Env = append(os.Environ(), "SYNCGATE_URL="+a.url, "SYNCGATE_USER=alice", "WORK_DIR="+work,
		"PHOTO="+photoPath, "REFUSED_PHOTO="+refusedPath)
	run.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	run.Stdout, run.Stderr = &stdout, &stderr
	ranAt := time.Now()
	if err := run.Run(); err != nil {
		t.Fatalf("node client: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	ran := time.Since(ranAt)
	var res nodeClientResult
	for line := range strings.Lines(stdout.String()) {
		if j, ok := strings.CutPrefix(line, "RESULT "); ok {
			if err := json.Unmarshal([]byte(j), &res); err != nil {
				t.Fatalf("node client's result %q: %v", j, err)
			}
		}
	}
	if res.ListID == "" {
		t.Fatalf("node client printed no RESULT line\nstdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	}
	t.Logf("npm ci %v (milliseconds when node_modules is current), build %v, client run %v (in ms: %v)", installed.Round(time.Millisecond), built.Round(time.Millisecond), ran.Round(time.Millisecond), res.Phases)

	// The CRUD queue: six transactions, one upload each; the refused todo
	// reported once, in the 200 answer that applied nothing else of it.
	if res.Queued != 6 || res.Transactions != 6 {
		t.Errorf("queued %d CRUD entries, uploaded %d transactions; want 6 and 6", res.Queued, res.Transactions)
	}
	if len(res.Reports) != 1 {
		t.Fatalf("the connector reported %d refusals, want 1: %+v", len(res.Reports), res.Reports)
	}
	rep := res.Reports[0]
	if rep.Status != 200 || len(rep.Body.Rejected) != 1 || rep.Body.Rejected[0].Table != "todos" ||
		rep.Body.Rejected[0].ID != res.Refused || rep.Body.Rejected[0].Code != "schema_violation" {
		t.Errorf("report: %+v; want 200 with the todo %s rejected as schema_violation", rep, res.Refused)
	}

	lists, todos := docs(t, a.db, "lists"), docs(t, a.db, "todos")
	if l := lists[res.ListID]; len(lists) != 1 || l["name"] != "Groceries" || l["owner_id"] != "alice" {
		t.Errorf("lists: %v", lists)
	}
	if len(todos) != 3 {
		t.Errorf("todos: %d documents, want 3 (milk, bread, receipt; not the refused one): %v", len(todos), todos)
	}
	if m := todos[res.Milk]; m["description"] != "milk" || m["completed"] != true || m["completed_by"] != "alice" || m["list_id"] != res.ListID {
		t.Errorf("todo milk, completed after the refused write: %v", m)
	}
	if _, ok := todos[res.Refused]; ok {
		t.Errorf("the refused todo was stored: %v", todos[res.Refused])
	}
	if p := todos[res.WithPhoto]; p["description"] != "bread" || p["photo_id"] != res.PhotoID {
		t.Errorf("todo with the photo: %v; want photo_id %s", p, res.PhotoID)
	}
	if p := todos[res.WithRefusedPhoto]; p["photo_id"] != res.RefusedPhotoID {
		t.Errorf("todo with the refused photo (the document is fine, its file is not): %v", p)
	}
	ctx, cancel = context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	n, err := client.Database(a.db).Collection("syncgate_rejected").CountDocuments(ctx, bson.D{{Key: "id", Value: res.Refused}})
	if err != nil || n != 1 {
		t.Errorf("dead letters of the refused todo: %d (%v), want 1", n, err)
	}

	// GridFS: the photo, byte for byte, and nothing of the refused file.
	alice := bearer(token(t, a, "alice"))
	if r := do(t, "GET", a.url+"/attachments/"+res.PhotoID, alice, nil); r.status != 200 || !bytes.Equal(r.body, photo) {
		t.Errorf("GET the photo: %d, %d bytes (want 200, the %d uploaded)", r.status, len(r.body), len(photo))
	}
	if r := do(t, "GET", a.url+"/attachments/"+res.RefusedPhotoID, alice, nil); r.status != 404 {
		t.Errorf("GET the refused photo: %d %s, want 404", r.status, r.body)
	}
	if files, _ := gridFS(t, a.db); files != 1 {
		t.Errorf("GridFS holds %d files, want 1", files)
	}
	// Each file was sent once: the refused one archived, not retried.
	puts := map[string]int{}
	for line := range strings.Lines(a.logs.String()) {
		var rec struct{ Msg, Method, Path string }
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "request" && rec.Method == "PUT" {
			puts[strings.TrimPrefix(rec.Path, "/attachments/")]++
		}
	}
	if puts[res.PhotoID] != 1 || puts[res.RefusedPhotoID] != 1 || len(puts) != 2 {
		t.Errorf("PUT /attachments/{id} per id: %v; want the photo %s and the refused %s once each", puts, res.PhotoID, res.RefusedPhotoID)
	}
}
