package tests

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/syncgate/syncgate/tests/internal/mongostub"
)

// raceOp is one request of a race and its answer.
type raceOp struct {
	user, method string
	body         []byte // a PUT's, distinct from every other
	status       int
	answer       string
}

// race sends ops to url at once, each with its user's token, and fills in
// their answers.
func race(t *testing.T, url string, toks map[string]map[string]string, ops []*raceOp) {
	t.Helper()
	var wg sync.WaitGroup
	for _, op := range ops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := do(t, op.method, url, toks[op.user], op.body)
			op.status, op.answer = r.status, string(r.body)
		}()
	}
	wg.Wait()
}

// checkRace checks what a race left: no answer but those allowed (a PUT
// 200 or 403, a DELETE 204 or 403: never a 5xx), at most one version with
// exactly its chunks and none of another, and a version that stays is one
// a PUT sent and was told 200 for, stored under that PUT's user. files are
// the id's files documents, chunks the files_id of every chunk.
func checkRace(t *testing.T, ops []*raceOp, files []bson.Raw, chunks []bson.ObjectID, got []byte) {
	t.Helper()
	for _, op := range ops {
		ok := op.status == 403 || (op.method == "PUT" && op.status == 200) || (op.method == "DELETE" && op.status == 204)
		if !ok {
			t.Errorf("%s by %s: %d %s", op.method, op.user, op.status, op.answer)
		}
	}
	if len(files) > 1 {
		t.Fatalf("%d versions stay, want at most 1", len(files))
	}
	want := 0
	if len(files) == 1 {
		f := files[0]
		oid := f.Lookup("_id").ObjectID()
		length := f.Lookup("length").AsInt64()
		want = int((length + 255<<10 - 1) / (255 << 10))
		var sent *raceOp
		for _, op := range ops {
			if op.method == "PUT" && bytes.Equal(op.body, got) {
				sent = op
			}
		}
		switch {
		case sent == nil:
			t.Errorf("the version that stays (%d bytes) is none of those sent", len(got))
		case sent.status != 200:
			t.Errorf("the version that stays is %s's PUT, answered %d %s", sent.user, sent.status, sent.answer)
		case f.Lookup("metadata", "owner").StringValue() != sent.user:
			t.Errorf("the version that stays is %s's PUT, stored as %s's", sent.user, f.Lookup("metadata", "owner"))
		}
		for _, c := range chunks {
			if c != oid {
				t.Errorf("a chunk of %s stays beside the version %s", c.Hex(), oid.Hex())
			}
		}
	}
	if len(chunks) != want {
		t.Errorf("%d chunks stay, want %d", len(chunks), want)
	}
}

// TestAttachmentPutDeleteRace: on one id, alice's PUTs and DELETEs and
// bob's PUTs at once (bob an intruder once alice has a version: no rules
// file), in rounds on the shared database, then alice's PUTs alone: no
// 5xx, at most one version and no stray chunks, and the version that
// stays is one whose PUT was answered 200, stored under that user; after
// PUTs alone exactly one stays.
func TestAttachmentPutDeleteRace(t *testing.T) {
	a := start(t, attachmentsEnv(t))
	toks := map[string]map[string]string{"alice": bearer(token(t, a, "alice")), "bob": bearer(token(t, a, "bob"))}
	url := a.url + "/attachments/mix"
	n := 0
	put := func(user string, size int) *raceOp {
		n++
		return &raceOp{user: user, method: "PUT", body: jpegOf(t, size+n)}
	}
	state := func() ([]bson.Raw, []bson.ObjectID, []byte) {
		db := client.Database(a.db)
		var files []bson.Raw
		cur, err := db.Collection("syncgate_attachments.files").Find(t.Context(), bson.D{})
		if err == nil {
			err = cur.All(t.Context(), &files)
		}
		if err != nil {
			t.Fatal(err)
		}
		var chunks []struct {
			F bson.ObjectID `bson:"files_id"`
		}
		cur, err = db.Collection("syncgate_attachments.chunks").Find(t.Context(), bson.D{})
		if err == nil {
			err = cur.All(t.Context(), &chunks)
		}
		if err != nil {
			t.Fatal(err)
		}
		var ids []bson.ObjectID
		for _, c := range chunks {
			ids = append(ids, c.F)
		}
		r := do(t, "GET", url, toks["alice"], nil)
		if r.status != 200 && r.status != 404 {
			t.Fatalf("GET after the race: %d %s", r.status, r.body)
		}
		return files, ids, r.body
	}
	for round := range 3 {
		ops := []*raceOp{put("alice", 300<<10), put("alice", 1000), {user: "alice", method: "DELETE"}, put("bob", 600<<10),
			put("alice", 10), {user: "alice", method: "DELETE"}, put("bob", 100), put("alice", 260<<10)}
		race(t, url, toks, ops)
		files, chunks, got := state()
		checkRace(t, ops, files, chunks, got)
		if t.Failed() {
			t.Fatalf("round %d", round)
		}
		// Clear the id for the next round, whoever holds it.
		for _, u := range []string{"alice", "bob"} {
			if r := do(t, "DELETE", url, toks[u], nil); r.status != 204 && r.status != 403 {
				t.Fatalf("DELETE: %d %s", r.status, r.body)
			}
		}
	}
	ops := []*raceOp{put("alice", 300<<10), put("alice", 1000), put("alice", 600<<10), put("alice", 10), put("alice", 260<<10), put("alice", 5)}
	race(t, url, toks, ops)
	files, chunks, got := state()
	checkRace(t, ops, files, chunks, got)
	if len(files) != 1 {
		t.Fatalf("after alice's PUTs alone: %d versions, want 1", len(files))
	}
}

// TestStubAttachmentSettleRaceSlowListing: the same race of one user's
// PUTs and DELETEs on a replica-set stand-in whose finds on the files
// collection (Stat's and every settle's listing) answer 40 ms late, so that
// PUTs commit while others list: the answers and what stays hold as in
// TestAttachmentPutDeleteRace, and PUTs alone leave exactly one version.
func TestStubAttachmentSettleRaceSlowListing(t *testing.T) {
	s, a, tok := stubAttachmentsApp(t)
	s.AddFault(mongostub.Fault{Command: "find", Collection: "syncgate_attachments.files", Delay: 40 * time.Millisecond})
	toks := map[string]map[string]string{"alice": tok}
	url := a.url + "/attachments/slow"
	state := func() ([]bson.Raw, []bson.ObjectID, []byte) {
		var ids []bson.ObjectID
		for _, d := range s.Docs(a.db, "syncgate_attachments.chunks") {
			ids = append(ids, d.Lookup("files_id").ObjectID())
		}
		r := do(t, "GET", url, tok, nil)
		if r.status != 200 && r.status != 404 {
			t.Fatalf("GET after the race: %d %s", r.status, r.body)
		}
		return s.Docs(a.db, "syncgate_attachments.files"), ids, r.body
	}
	for round := range 4 {
		var ops []*raceOp
		for i := range 8 {
			op := &raceOp{user: "alice", method: "PUT", body: jpegOf(t, 1000*(round*8+i+1))}
			if round < 2 && i%3 == 2 {
				op = &raceOp{user: "alice", method: "DELETE"}
			}
			ops = append(ops, op)
		}
		race(t, url, toks, ops)
		files, chunks, got := state()
		checkRace(t, ops, files, chunks, got)
		if round >= 2 && len(files) != 1 {
			t.Errorf("round %d, PUTs alone: %d versions, want 1", round, len(files))
		}
		if t.Failed() {
			t.Fatalf("round %d: %v", round, fmt.Sprint(len(files)))
		}
	}
}

// TestStubAttachmentRuledReplaceOfSettlingVersion: with rules that let any
// user replace any file, bob's PUT replaces alice's version; before bob's
// settle lists the versions (held back 800 ms), alice's PUT, whose rules
// decided on bob's version, replaces it and deletes both older versions.
// Bob's version was committed and served, and alice's replace was decided
// on it, so bob's PUT answers 200 like any writer whose version a newer one
// replaced; it answered 403 "replaced by another user while this request
// ran; nothing was changed" (settle saw alice's version as another owner's
// before noticing its own was gone), though alice's first version was gone
// by then.
func TestStubAttachmentRuledReplaceOfSettlingVersion(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "attachments.json"), []byte(`{"roles": [
		{"name": "anyone", "apply_when": {}, "write": true, "insert": true, "delete": true}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	s := stub(t, mongostub.Config{SetName: "rs0"})
	env := stubEnv(t, s)
	env["ATTACHMENTS"], env["RULES_DIR"] = "true", dir
	a := start(t, env)
	alice, bob := bearer(token(t, a, "alice")), bearer(token(t, a, "bob"))
	url := a.url + "/attachments/ruled"
	listings := func() int {
		n := 0
		for _, c := range s.Commands(false) {
			if c.Name == "find" && c.Collection() == "syncgate_attachments.files" &&
				c.Lookup("filter", "filename", "$eq").StringValue() == "ruled" && c.Lookup("limit").IsZero() {
				n++
			}
		}
		return n
	}
	// The finds on the files collection a PUT makes before its listing.
	from := len(s.Commands(false))
	if r := do(t, "PUT", url, alice, jpegOf(t, 500)); r.status != 200 {
		t.Fatalf("alice's first PUT: %d %s", r.status, r.body)
	}
	before := -1
	finds := 0
	for _, c := range s.Commands(false)[from:] {
		if c.Name == "find" && c.Collection() == "syncgate_attachments.files" {
			if c.Lookup("limit").IsZero() && before < 0 {
				before = finds
			}
			finds++
		}
	}
	if before < 0 {
		t.Fatal("no listing among alice's PUT's finds")
	}
	s.AddFault(mongostub.Fault{Command: "find", Collection: "syncgate_attachments.files", Skip: before, Times: 1, Delay: 800 * time.Millisecond})
	seen := listings()
	done := make(chan response, 1)
	go func() { done <- do(t, "PUT", url, bob, jpegOf(t, 1000)) }()
	for deadline := time.Now().Add(5 * time.Second); listings() == seen; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("bob's PUT did not list the versions within 5 s")
		}
	}
	last := jpegOf(t, 2000)
	if r := do(t, "PUT", url, alice, last); r.status != 200 {
		t.Fatalf("alice's PUT over bob's version: %d %s", r.status, r.body)
	}
	if r := <-done; r.status != 200 {
		t.Errorf("bob's PUT, replaced by alice's while it settled: %d %s", r.status, r.body)
	}
	if r := do(t, "GET", url, bob, nil); r.status != 200 || !bytes.Equal(r.body, last) {
		t.Fatalf("GET: %d, %d bytes (want alice's last, %d)", r.status, len(r.body), len(last))
	}
	if n := len(s.Docs(a.db, "syncgate_attachments.files")); n != 1 {
		t.Fatalf("%d versions stay, want 1", n)
	}
}
