package tests

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/syncgate/syncgate/tests/internal/mongostub"
)

// These tests run the real command against mongostub, the wire-level
// MongoDB stand-in, so the replica-set path (transactions, validators) is
// exercised over HTTP on a machine without mongod.

func stub(t *testing.T, cfg mongostub.Config) *mongostub.Server {
	t.Helper()
	s, err := mongostub.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func stubEnv(t *testing.T, s *mongostub.Server) map[string]string {
	env := baseEnv(t)
	env["MONGO_URI"] = s.URI()
	env["MONGO_TIMEOUT"] = "1s"
	return env
}

// refuseIDs refuses documents with these ids as a validator would (121).
func refuseIDs(ids ...string) func(mongostub.Statement) *mongostub.WriteError {
	return func(st mongostub.Statement) *mongostub.WriteError {
		if slices.Contains(ids, st.ID()) {
			return &mongostub.WriteError{Code: 121, Message: "Document failed validation"}
		}
		return nil
	}
}

func stubIDs(s *mongostub.Server, db, coll string) []string {
	var out []string
	for _, d := range s.Docs(db, coll) {
		id, _ := d.Lookup("_id").StringValueOK()
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

const threeOps = `{"batch":[
	{"op":"PUT","table":"lists","id":"a","data":{"name":"A"}},
	{"op":"PUT","table":"lists","id":"bad","data":{"name":"B"}},
	{"op":"PUT","table":"todos","id":"t","data":{"list_id":"a"}}
]}`

// TestStubReplicaSetUpload: on a replica set a validator refusal (121)
// rejects that op only, the rest is committed in one transaction, and the
// rejection is in the dead letters; in strict mode the transaction is
// aborted: 422 and nothing written.
func TestStubReplicaSetUpload(t *testing.T) {
	s := stub(t, mongostub.Config{SetName: "rs0", Refuse: refuseIDs("bad")})
	env := stubEnv(t, s)
	a := start(t, env)
	r := postUpload(t, a, "", threeOps)
	res := uploadResult(t, r)
	if res.Applied != 2 || len(res.Rejected) != 1 || res.Rejected[0].Index != 1 || res.Rejected[0].Code != "document_validation" {
		t.Fatalf("answer %s", r.body)
	}
	if got := stubIDs(s, a.db, "lists"); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("lists %v", got)
	}
	if got := stubIDs(s, a.db, "todos"); !slices.Equal(got, []string{"t"}) {
		t.Fatalf("todos %v", got)
	}
	if n := len(s.Docs(a.db, "syncgate_rejected")); n != 1 {
		t.Fatalf("%d dead letters, want 1", n)
	}
	commits := 0
	for _, c := range s.Commands(false) {
		if c.Name == "commitTransaction" {
			commits++
		}
	}
	if commits != 1 {
		t.Fatalf("%d commits, want 1: %v", commits, s.Names())
	}

	t.Run("strict", func(t *testing.T) {
		s := stub(t, mongostub.Config{SetName: "rs0", Refuse: refuseIDs("bad")})
		env := stubEnv(t, s)
		env["UPLOAD_STRICT"] = "true"
		a := start(t, env)
		r := postUpload(t, a, "", threeOps)
		if r.status != 422 || r.errorCode(t) != "batch_rejected" || !strings.Contains(string(r.body), "nothing was written") ||
			!strings.Contains(string(r.body), "batch[1] PUT lists/bad: document_validation") {
			t.Fatalf("strict: %d %s", r.status, r.body)
		}
		for _, coll := range []string{"lists", "todos", "syncgate_rejected"} {
			if n := len(s.Docs(a.db, coll)); n != 0 {
				t.Fatalf("strict mode wrote %d documents to %s", n, coll)
			}
		}
	})
	t.Run("strict without transactions", func(t *testing.T) {
		s := stub(t, mongostub.Config{Refuse: refuseIDs("bad")}) // standalone
		env := stubEnv(t, s)
		env["UPLOAD_STRICT"] = "true"
		a := start(t, env)
		r := postUpload(t, a, "", threeOps)
		if r.status != 422 || !strings.Contains(string(r.body), "no transactions, so the other ops were written") {
			t.Fatalf("strict on a standalone: %d %s", r.status, r.body)
		}
		if got := stubIDs(s, a.db, "lists"); !slices.Equal(got, []string{"a"}) {
			t.Fatalf("lists %v: the 422 must say what was written", got)
		}
	})
}

// TestStubPrimaryLost: NotWritablePrimary or dropped connections mid-batch
// answer 503 with Retry-After and leave nothing half-applied; once the
// primary is back, the client's resend is applied.
func TestStubPrimaryLost(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault mongostub.Fault
	}{
		{"NotWritablePrimary", mongostub.Fault{Command: "update", Collection: "todos", Code: 10107, CodeName: "NotWritablePrimary",
			Labels: []string{"TransientTransactionError"}}},
		{"network", mongostub.Fault{Command: "update", Collection: "todos", Close: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := stub(t, mongostub.Config{SetName: "rs0"})
			a := start(t, stubEnv(t, s))
			s.AddFault(tc.fault)
			r := postUpload(t, a, "", threeOps)
			if r.status != 503 || r.header.Get("Retry-After") == "" || r.errorCode(t) != "database_unavailable" {
				t.Fatalf("status %d Retry-After %q: %s", r.status, r.header.Get("Retry-After"), r.body)
			}
			if n := len(s.Docs(a.db, "lists")) + len(s.Docs(a.db, "todos")); n != 0 {
				t.Fatalf("%d documents of a failed batch written", n)
			}
			s.ClearFaults()
			waitFor(t, 10*time.Second, func() bool { return postUpload(t, a, "", threeOps).status == 200 })
			if got := stubIDs(s, a.db, "lists"); !slices.Equal(got, []string{"a", "bad"}) {
				t.Fatalf("lists after the resend %v", got)
			}
		})
	}
}

// TestStubSchemasApply: `schemas apply` sends, per collection in name
// order, listCollections then create (new) or collMod (existing) with the
// exported validator and the chosen validationLevel/validationAction.
func TestStubSchemasApply(t *testing.T) {
	s := stub(t, mongostub.Config{SetName: "rs0"})
	env := schemaEnv(t)
	env["MONGO_URI"] = s.URI()
	s.Put(env["MONGO_DATABASE"], "todos", bson.D{{Key: "_id", Value: "existing"}})
	var stdout, stderr strings.Builder
	if code := cliRun(t, env, &stdout, &stderr, "schemas", "export"); code != 0 {
		t.Fatalf("export: %d %s", code, stderr.String())
	}
	var exported map[string]struct{ Validator json.RawMessage }
	if err := json.Unmarshal([]byte(stdout.String()), &exported); err != nil {
		t.Fatal(err)
	}
	s.Reset()
	stdout.Reset()
	if code := cliRun(t, env, &stdout, &stderr, "schemas", "apply", "--level", "strict", "--action", "warn"); code != 0 {
		t.Fatalf("apply: %d %s", code, stderr.String())
	}
	var got []string
	for _, c := range s.Commands(false) {
		if c.Name == "endSessions" {
			continue
		}
		got = append(got, c.Name+" "+c.Collection())
		switch c.Name {
		case "listCollections":
			if name, _ := c.Lookup("filter", "name").StringValueOK(); name == "" {
				t.Errorf("listCollections without a name filter: %s", c.Body)
			}
		case "create", "collMod":
			if c.DB != env["MONGO_DATABASE"] {
				t.Errorf("%s on database %s", c.Name, c.DB)
			}
			if lv, _ := c.Lookup("validationLevel").StringValueOK(); lv != "strict" {
				t.Errorf("%s validationLevel %q", c.Name, lv)
			}
			if ac, _ := c.Lookup("validationAction").StringValueOK(); ac != "warn" {
				t.Errorf("%s validationAction %q", c.Name, ac)
			}
			v, ok := c.Lookup("validator").DocumentOK()
			if !ok || !sameJSON(t, v, exported[c.Collection()].Validator) {
				t.Errorf("%s %s: validator %s, want the exported %s", c.Name, c.Collection(), v, exported[c.Collection()].Validator)
			}
		}
	}
	if want := []string{"listCollections ", "create lists", "listCollections ", "collMod todos"}; !slices.Equal(got, want) {
		t.Fatalf("commands %q, want %q", got, want)
	}
	if info := s.Collection(env["MONGO_DATABASE"], "todos"); info == nil || info.ValidationLevel != "strict" || info.ValidationAction != "warn" {
		t.Fatalf("todos after apply: %+v", info)
	}
	// Defaults: moderate and error.
	s.Reset()
	if code := cliRun(t, env, &stdout, &stderr, "schemas", "apply"); code != 0 {
		t.Fatalf("apply: %d %s", code, stderr.String())
	}
	for _, c := range s.Commands(false) {
		if c.Name == "collMod" {
			lv, _ := c.Lookup("validationLevel").StringValueOK()
			ac, _ := c.Lookup("validationAction").StringValueOK()
			if lv != "moderate" || ac != "error" {
				t.Fatalf("default level/action %q/%q, want moderate/error", lv, ac)
			}
		}
	}
	if code := cliRun(t, env, &stdout, &stderr, "schemas", "apply", "--level", "off"); code == 0 {
		t.Fatal("apply accepted --level off")
	}
	// A refused collMod is reported and fails the command.
	s.AddFault(mongostub.Fault{Command: "collMod", Code: 13, CodeName: "Unauthorized"})
	stderr.Reset()
	if code := cliRun(t, env, &stdout, &stderr, "schemas", "apply"); code == 0 || !strings.Contains(stderr.String(), "lists") {
		t.Fatalf("apply with collMod refused: exit %d %s", code, stderr.String())
	}
}

// sameJSON compares a BSON document with JSON by their relaxed Extended JSON.
func sameJSON(t *testing.T, d bson.Raw, want json.RawMessage) bool {
	t.Helper()
	b, err := bson.MarshalExtJSON(d, false, false)
	if err != nil {
		t.Fatal(err)
	}
	var x, y any
	json.Unmarshal(b, &x)
	json.Unmarshal(want, &y)
	bx, _ := json.Marshal(x)
	by, _ := json.Marshal(y)
	return string(bx) == string(by)
}

// TestStubTransactionLimit: STORE_TXN_MAX_OPS splits a batch into that many
// ops per transaction, in order.
func TestStubTransactionLimit(t *testing.T) {
	s := stub(t, mongostub.Config{SetName: "rs0"})
	env := stubEnv(t, s)
	env["STORE_TXN_MAX_OPS"] = "2"
	a := start(t, env)
	r := postUpload(t, a, "", `{"batch":[
		{"op":"PUT","table":"lists","id":"1","data":{"n":1}},
		{"op":"PUT","table":"lists","id":"2","data":{"n":2}},
		{"op":"PUT","table":"lists","id":"3","data":{"n":3}},
		{"op":"PUT","table":"lists","id":"4","data":{"n":4}},
		{"op":"PUT","table":"lists","id":"5","data":{"n":5}}
	]}`)
	if r.status != 200 || r.json(t)["applied"] != float64(5) {
		t.Fatalf("%d %s", r.status, r.body)
	}
	var per []int
	for _, c := range s.Commands(false) {
		if c.Name == "update" {
			per = append(per, len(c.Docs("updates")))
		}
	}
	if !slices.Equal(per, []int{2, 2, 1}) {
		t.Fatalf("statements per transaction %v, want [2 2 1]", per)
	}
	if got := stubIDs(s, a.db, "lists"); !slices.Equal(got, []string{"1", "2", "3", "4", "5"}) {
		t.Fatalf("lists %v", got)
	}
}

// stubAttachmentsApp runs syncgate with attachments on a replica-set
// stand-in of its own, and gives alice's token.
func stubAttachmentsApp(t *testing.T) (*mongostub.Server, *app, map[string]string) {
	s := stub(t, mongostub.Config{SetName: "rs0"})
	env := stubEnv(t, s)
	env["ATTACHMENTS"] = "true"
	a := start(t, env)
	return s, a, bearer(token(t, a, "alice"))
}

// TestStubAttachments runs the attachment endpoints on the replica-set
// path of the stand-in: GridFS's commands (indexes, chunk inserts, the
// files document, sorted finds, the driver's download and delete by
// files_id), what stays stored, and the batches a download asks for: one
// chunk at a time for the first four, then doubling, the last one asking
// for what is left and one more, so that it ends the cursor (a 9-chunk
// file: find 1, getMore 1, 1, 1, 2, then 4 for the last three).
func TestStubAttachments(t *testing.T) {
	s, a, tok := stubAttachmentsApp(t)
	url := a.url + "/attachments/s1"
	photo := jpegOf(t, 600<<10)
	if r := do(t, "PUT", url, tok, photo); r.status != 200 {
		t.Fatalf("PUT: %d %s", r.status, r.body)
	}
	if r := do(t, "GET", url, withHeader(tok, "Range", "bytes=300000-300009"), nil); r.status != 206 || !bytes.Equal(r.body, photo[300000:300010]) {
		t.Fatalf("GET range: %d %s", r.status, r.body)
	}
	// batches downloads id whole (want: its bytes) and lists the batches
	// its chunks came in. (The stand-in ends a cursor with its last
	// document; MongoDB may keep it open until a batch asks beyond it,
	// hence the last batch's one more.)
	batches := func(id string, want []byte) []string {
		t.Helper()
		from := len(s.Commands(false))
		if r := do(t, "GET", a.url+"/attachments/"+id, tok, nil); r.status != 200 || !bytes.Equal(r.body, want) {
			t.Fatalf("GET %s: %d, %d bytes", id, r.status, len(r.body))
		}
		return chunkBatches(s.Commands(false)[from:])
	}
	if got, want := batches("s1", photo), []string{"find 1", "getMore 1", "getMore 2"}; !slices.Equal(got, want) {
		t.Errorf("a 3-chunk download's batches: %q, want %q", got, want)
	}
	big := jpegOf(t, 9*255<<10-100)
	if r := do(t, "PUT", a.url+"/attachments/s2", tok, big); r.status != 200 {
		t.Fatalf("PUT: %d %s", r.status, r.body)
	}
	if got, want := batches("s2", big), []string{"find 1", "getMore 1", "getMore 1", "getMore 1", "getMore 2", "getMore 4"}; !slices.Equal(got, want) {
		t.Errorf("a 9-chunk download's batches: %q, want %q", got, want)
	}
	if r := do(t, "DELETE", a.url+"/attachments/s2", tok, nil); r.status != 204 {
		t.Fatalf("DELETE s2: %d %s", r.status, r.body)
	}
	photo2 := jpegOf(t, 1000)
	if r := do(t, "PUT", url, tok, photo2); r.status != 200 {
		t.Fatalf("replace: %d %s", r.status, r.body)
	}
	if r := do(t, "GET", url, tok, nil); r.status != 200 || !bytes.Equal(r.body, photo2) {
		t.Fatalf("GET: %d", r.status)
	}
	if f, c := len(s.Docs(a.db, "syncgate_attachments.files")), len(s.Docs(a.db, "syncgate_attachments.chunks")); f != 1 || c != 1 {
		t.Fatalf("after replace: %d files, %d chunks", f, c)
	}
	if r := do(t, "DELETE", url, tok, nil); r.status != 204 {
		t.Fatalf("DELETE: %d %s", r.status, r.body)
	}
	if f, c := len(s.Docs(a.db, "syncgate_attachments.files")), len(s.Docs(a.db, "syncgate_attachments.chunks")); f != 0 || c != 0 {
		t.Fatalf("after DELETE: %d files, %d chunks", f, c)
	}
	var names []string
	for _, c := range s.Commands(false) {
		if strings.HasPrefix(c.Collection(), "syncgate_attachments") {
			names = append(names, c.Name+" "+c.Collection())
		}
	}
	for _, want := range []string{"createIndexes syncgate_attachments.files", "createIndexes syncgate_attachments.chunks",
		"insert syncgate_attachments.chunks", "insert syncgate_attachments.files",
		"find syncgate_attachments.chunks", "delete syncgate_attachments.files", "delete syncgate_attachments.chunks"} {
		if !slices.Contains(names, want) {
			t.Errorf("no %s among %v", want, names)
		}
	}
}

// TestStubAttachmentReplacedWhileSettling: a PUT whose version a newer PUT
// of the same id replaces between its files document's insert and its own
// listing of the versions (here: that listing held back 500 ms while the
// newer PUT runs whole) answers 200 as a PUT that finds the newer version
// does, and the newer file is the one kept. It answered 503 ("the committed
// version is not found"), which concurrent PUTs of one id met on the
// stand-in.
func TestStubAttachmentReplacedWhileSettling(t *testing.T) {
	s, a, tok := stubAttachmentsApp(t)
	// listings are the finds on the files collection that list an id's
	// versions (Stat's FindOne has a limit; the listing has none).
	listings := func(id string) int {
		n := 0
		for _, c := range s.Commands(false) {
			if c.Name == "find" && c.Collection() == "syncgate_attachments.files" &&
				c.Lookup("filter", "filename", "$eq").StringValue() == id && c.Lookup("limit").IsZero() {
				n++
			}
		}
		return n
	}
	// How many finds on the files collection a PUT makes before its listing.
	from := len(s.Commands(false))
	if r := do(t, "PUT", a.url+"/attachments/r0", tok, jpegOf(t, 500)); r.status != 200 {
		t.Fatalf("PUT r0: %d %s", r.status, r.body)
	}
	before := -1
	finds := 0
	for _, c := range s.Commands(false)[from:] {
		if c.Name != "find" || c.Collection() != "syncgate_attachments.files" {
			continue
		}
		if c.Lookup("limit").IsZero() && before < 0 {
			before = finds
		}
		finds++
	}
	if before < 0 || listings("r0") != 1 {
		t.Fatalf("no listing of r0's versions among %d finds of its PUT", finds)
	}
	s.AddFault(mongostub.Fault{Command: "find", Collection: "syncgate_attachments.files", Skip: before, Times: 1, Delay: 500 * time.Millisecond})
	older, newer := jpegOf(t, 1000), jpegOf(t, 2000)
	done := make(chan response, 1)
	go func() { done <- do(t, "PUT", a.url+"/attachments/r1", tok, older) }()
	for deadline := time.Now().Add(5 * time.Second); listings("r1") == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the first PUT of r1 did not list its versions within 5 s")
		}
	}
	if r := do(t, "PUT", a.url+"/attachments/r1", tok, newer); r.status != 200 {
		t.Fatalf("the newer PUT: %d %s", r.status, r.body)
	}
	if r := <-done; r.status != 200 {
		t.Fatalf("the PUT replaced while it settled: %d %s", r.status, r.body)
	}
	if r := do(t, "GET", a.url+"/attachments/r1", tok, nil); r.status != 200 || !bytes.Equal(r.body, newer) {
		t.Fatalf("GET r1: %d, %d bytes (want the newer %d)", r.status, len(r.body), len(newer))
	}
	n := 0
	for _, d := range s.Docs(a.db, "syncgate_attachments.files") {
		if d.Lookup("filename").StringValue() == "r1" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d files of r1, want 1", n)
	}
}
