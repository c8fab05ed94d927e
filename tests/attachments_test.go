package tests

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// jpegOf is n bytes that sniff as a JPEG image: the JPEG signature, then
// random bytes.
func jpegOf(t testing.TB, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	copy(b, []byte{0xFF, 0xD8, 0xFF, 0xE0})
	return b
}

func attachmentsEnv(t *testing.T) map[string]string {
	env := baseEnv(t)
	env["ATTACHMENTS"] = "true"
	return env
}

func bearer(tok string) map[string]string {
	if tok == "" {
		return map[string]string{}
	}
	return map[string]string{"Authorization": "Bearer " + tok}
}

func withHeader(h map[string]string, kv ...string) map[string]string {
	out := map[string]string{}
	for k, v := range h {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// gridFS counts the attachment bucket's files and chunks documents.
func gridFS(t *testing.T, db string) (files, chunks int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	f, err := client.Database(db).Collection("syncgate_attachments.files").CountDocuments(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.Database(db).Collection("syncgate_attachments.chunks").CountDocuments(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	return int(f), int(c)
}

func sum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// TestAttachmentsRoundTrip: upload, download whole and in ranges, 304 on
// If-None-Match, HEAD, replace, delete (idempotent), with the metadata
// stored in GridFS.
func TestAttachmentsRoundTrip(t *testing.T) {
	a := start(t, attachmentsEnv(t))
	alice := bearer(token(t, a, "alice"))
	url := a.url + "/attachments/0b6f3a52-5a3c-4c59-9ac6-2f2b7f7c1b13"
	photo := jpegOf(t, 600<<10) // several chunks of 255 KiB

	if r := do(t, "GET", url, alice, nil); r.status != 404 || r.errorCode(t) != "attachment_not_found" {
		t.Fatalf("GET before PUT: %d %s", r.status, r.body)
	}
	r := do(t, "PUT", url, withHeader(alice, "Content-Type", "application/octet-stream"), photo)
	if r.status != 200 {
		t.Fatalf("PUT: %d %s", r.status, r.body)
	}
	m := r.json(t)
	if m["owner"] != "alice" || m["content_type"] != "image/jpeg" || m["size"] != float64(len(photo)) || m["sha256"] != sum(photo) {
		t.Fatalf("PUT answer %s", r.body)
	}
	etag := `"` + sum(photo) + `"`

	r = do(t, "GET", url, alice, nil)
	if r.status != 200 || !bytes.Equal(r.body, photo) || r.header.Get("Content-Type") != "image/jpeg" ||
		r.header.Get("ETag") != etag || r.header.Get("Content-Length") != strconv.Itoa(len(photo)) {
		t.Fatalf("GET: %d %v (%d bytes)", r.status, r.header, len(r.body))
	}
	// Another user reads by id.
	bob := bearer(token(t, a, "bob"))
	if r := do(t, "GET", url, bob, nil); r.status != 200 || !bytes.Equal(r.body, photo) {
		t.Fatalf("GET by another user: %d", r.status)
	}
	if r := do(t, "HEAD", url, alice, nil); r.status != 200 || len(r.body) != 0 || r.header.Get("Content-Length") != strconv.Itoa(len(photo)) {
		t.Fatalf("HEAD: %d %v", r.status, r.header)
	}
	if r := do(t, "GET", url, withHeader(alice, "If-None-Match", etag), nil); r.status != 304 || len(r.body) != 0 {
		t.Fatalf("If-None-Match: %d", r.status)
	}
	if r := do(t, "GET", url, withHeader(alice, "If-None-Match", `"other"`), nil); r.status != 200 {
		t.Fatalf("If-None-Match of another version: %d", r.status)
	}
	n := len(photo)
	for _, c := range []struct {
		rng        string
		start, end int // inclusive
	}{
		{"bytes=0-9", 0, 9},
		{"bytes=300000-600000", 300000, 600000}, // across a chunk boundary
		{"bytes=-100", n - 100, n - 1},
		{"bytes=614000-", 614000, n - 1},
		{fmt.Sprintf("bytes=10-%d", n+1000), 10, n - 1},
	} {
		r := do(t, "GET", url, withHeader(alice, "Range", c.rng), nil)
		want := fmt.Sprintf("bytes %d-%d/%d", c.start, c.end, n)
		if r.status != 206 || r.header.Get("Content-Range") != want || !bytes.Equal(r.body, photo[c.start:c.end+1]) {
			t.Fatalf("Range %s: %d %q (%d bytes)", c.rng, r.status, r.header.Get("Content-Range"), len(r.body))
		}
	}
	r = do(t, "GET", url, withHeader(alice, "Range", fmt.Sprintf("bytes=%d-", n)), nil)
	if r.status != 416 || r.header.Get("Content-Range") != fmt.Sprintf("bytes */%d", n) || r.errorCode(t) != "range_not_satisfiable" {
		t.Fatalf("unsatisfiable range: %d %v %s", r.status, r.header, r.body)
	}
	if r := do(t, "GET", url, withHeader(alice, "Range", "bytes=0-1", "If-Range", `"old"`), nil); r.status != 200 || len(r.body) != n {
		t.Fatalf("If-Range of another version: %d", r.status)
	}

	// Replace: the new bytes, one version stored.
	photo2 := jpegOf(t, 100<<10)
	if r := do(t, "PUT", url, alice, photo2); r.status != 200 {
		t.Fatalf("replace: %d %s", r.status, r.body)
	}
	if r := do(t, "GET", url, bob, nil); r.status != 200 || !bytes.Equal(r.body, photo2) {
		t.Fatalf("GET after replace: %d", r.status)
	}
	if f, c := gridFS(t, a.db); f != 1 || c != 1 {
		t.Fatalf("after replace: %d files, %d chunks; want 1, 1", f, c)
	}
	var meta struct {
		Filename string
		Length   int64
		Uploaded time.Time `bson:"uploadDate"`
		Metadata struct {
			Owner       string
			ContentType string `bson:"content_type"`
			SHA256      string
		}
	}
	if err := client.Database(a.db).Collection("syncgate_attachments.files").FindOne(t.Context(), bson.D{}).Decode(&meta); err != nil {
		t.Fatal(err)
	}
	if meta.Filename != "0b6f3a52-5a3c-4c59-9ac6-2f2b7f7c1b13" || meta.Length != int64(len(photo2)) || meta.Metadata.Owner != "alice" ||
		meta.Metadata.ContentType != "image/jpeg" || meta.Metadata.SHA256 != sum(photo2) || time.Since(meta.Uploaded) > time.Minute {
		t.Fatalf("files document %+v", meta)
	}

	// The driver made GridFS's indexes (on FerretDB too).
	for coll, want := range map[string]string{"syncgate_attachments.chunks": "files_id_1_n_1", "syncgate_attachments.files": "filename_1_uploadDate_1"} {
		specs, err := client.Database(a.db).Collection(coll).Indexes().ListSpecifications(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, s := range specs {
			found = found || s.Name == want
		}
		if !found {
			t.Errorf("%s has no index %s: %v", coll, want, specs)
		}
	}

	// Bob may neither replace nor delete.
	if r := do(t, "PUT", url, bob, photo); r.status != 403 || r.errorCode(t) != "not_owner" {
		t.Fatalf("PUT by another user: %d %s", r.status, r.body)
	}
	if r := do(t, "DELETE", url, bob, nil); r.status != 403 || r.errorCode(t) != "not_owner" {
		t.Fatalf("DELETE by another user: %d %s", r.status, r.body)
	}
	if r := do(t, "GET", url, bob, nil); !bytes.Equal(r.body, photo2) {
		t.Fatal("another user's refused PUT changed the file")
	}
	for range 2 { // idempotent
		if r := do(t, "DELETE", url, alice, nil); r.status != 204 {
			t.Fatalf("DELETE: %d %s", r.status, r.body)
		}
	}
	if r := do(t, "GET", url, alice, nil); r.status != 404 {
		t.Fatalf("GET after DELETE: %d", r.status)
	}
	if f, c := gridFS(t, a.db); f != 0 || c != 0 {
		t.Fatalf("after DELETE: %d files, %d chunks", f, c)
	}
	metrics := string(get(t, a.url+"/metrics").body)
	for _, want := range []string{"syncgate_attachment_uploads_total 2", "syncgate_attachment_upload_failures_total 1",
		"syncgate_attachment_deletes_total 1", `syncgate_http_requests_total{method="PUT",route="/attachments/{id}",status="200"} 2`} {
		if !strings.Contains(metrics, want+"\n") {
			t.Errorf("metrics lack %q", want)
		}
	}
	if !strings.Contains(metrics, "syncgate_attachment_bytes_out_total ") || strings.Contains(metrics, "syncgate_attachment_bytes_out_total 0\n") {
		t.Error("no bytes out counted")
	}
}

// TestAttachmentsRefusals: no token → 401 on every verb; over the limit →
// 413 (by Content-Length, and streamed without one) with nothing stored; a
// type outside the list → 415; bad ids → 400.
func TestAttachmentsRefusals(t *testing.T) {
	env := attachmentsEnv(t)
	env["ATTACHMENT_MAX_BYTES"] = "100000"
	a := start(t, env)
	url := a.url + "/attachments/a1"
	for _, m := range []string{"PUT", "GET", "HEAD", "DELETE"} {
		r := do(t, m, url, nil, jpegOf(t, 10))
		if r.status != 401 {
			t.Fatalf("%s without a token: %d", m, r.status)
		}
		if m != "HEAD" && r.errorCode(t) != "missing_token" {
			t.Fatalf("%s without a token: %s", m, r.body)
		}
	}
	if r := do(t, "GET", url, bearer("not.a.token"), nil); r.status != 401 || r.errorCode(t) != "invalid_token" {
		t.Fatalf("bad token: %d %s", r.status, r.body)
	}
	alice := bearer(token(t, a, "alice"))
	if r := do(t, "PUT", url, alice, jpegOf(t, 100000)); r.status != 200 {
		t.Fatalf("PUT of exactly the limit: %d %s", r.status, r.body)
	}
	url = a.url + "/attachments/a2"
	if r := do(t, "PUT", url, alice, jpegOf(t, 100001)); r.status != 413 || r.errorCode(t) != "body_too_large" {
		t.Fatalf("limit+1: %d %s", r.status, r.body)
	}
	// Without Content-Length (chunked), the limit is found while streaming.
	req, _ := http.NewRequest("PUT", url, io.MultiReader(bytes.NewReader(jpegOf(t, 60000)), bytes.NewReader(make([]byte, 60000))))
	req.Header.Set("Authorization", alice["Authorization"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 413 || req.ContentLength != 0 {
		t.Fatalf("chunked limit+: %d %s", resp.StatusCode, b)
	}
	if r := do(t, "GET", url, alice, nil); r.status != 404 {
		t.Fatalf("an over-limit PUT stored something: %d", r.status)
	}
	if f, c := gridFS(t, a.db); f != 1 || c != 1 {
		t.Fatalf("after refused uploads: %d files, %d chunks; want only a1's 1, 1", f, c)
	}
	for _, body := range [][]byte{[]byte("just some text"), []byte("<html><body>x</body></html>"), {0x7f, 'E', 'L', 'F', 2, 1, 1, 0}} {
		r := do(t, "PUT", url, withHeader(alice, "Content-Type", "image/jpeg"), body)
		if r.status != 415 || r.errorCode(t) != "unsupported_media_type" {
			t.Fatalf("wrong type %q: %d %s", body[:4], r.status, r.body)
		}
	}
	if r := do(t, "PUT", url, alice, nil); r.status != 400 || r.errorCode(t) != "invalid_body" {
		t.Fatalf("empty body: %d %s", r.status, r.body)
	}
	if r := do(t, "PUT", url, withHeader(alice, "Content-Encoding", "gzip"), jpegOf(t, 10)); r.status != 415 || r.errorCode(t) != "unsupported_encoding" {
		t.Fatalf("gzip: %d %s", r.status, r.body)
	}
	if r := do(t, "GET", a.url+"/attachments/"+strings.Repeat("x", 1025), alice, nil); r.status != 400 || r.errorCode(t) != "invalid_id" {
		t.Fatalf("long id: %d %s", r.status, r.body)
	}
	if r := do(t, "GET", a.url+"/attachments/a%00b", alice, nil); r.status != 400 || r.errorCode(t) != "invalid_id" {
		t.Fatalf("NUL in id: %d %s", r.status, r.body)
	}
	if r := do(t, "GET", a.url+"/attachments/", alice, nil); r.status != 404 || r.errorCode(t) != "route_not_found" {
		t.Fatalf("no id: %d %s", r.status, r.body)
	}
	if r := do(t, "POST", url, alice, nil); r.status != 405 {
		t.Fatalf("POST: %d", r.status)
	}
	if f, c := gridFS(t, a.db); f != 1 || c != 1 {
		t.Fatalf("after refusals: %d files, %d chunks", f, c)
	}
}

// TestAttachmentsOffByDefault: without ATTACHMENTS=true the routes do not exist.
func TestAttachmentsOffByDefault(t *testing.T) {
	a := start(t, baseEnv(t))
	if r := do(t, "GET", a.url+"/attachments/x", nil, nil); r.status != 404 || r.errorCode(t) != "route_not_found" {
		t.Fatalf("%d %s", r.status, r.body)
	}
}

// TestAttachmentKilledUploadLeavesNothing cuts the connection in the
// middle of a body (also after chunks were written): no file,
// no chunk stays; an earlier version stays readable.
func TestAttachmentKilledUploadLeavesNothing(t *testing.T) {
	a := start(t, attachmentsEnv(t))
	tok := token(t, a, "alice")
	url := a.url + "/attachments/k1"
	old := jpegOf(t, 1000)
	if r := do(t, "PUT", url, bearer(tok), old); r.status != 200 {
		t.Fatalf("PUT: %d", r.status)
	}
	// Inside the first chunk, and past the driver's 16 MiB upload buffer,
	// so chunks were inserted before the cut.
	for i, sent := range []int{100, 20 << 20} {
		conn, err := net.Dial("tcp", strings.TrimPrefix(a.url, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "PUT /attachments/k1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n", tok, 32<<20)
		if _, err := conn.Write(jpegOf(t, sent)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond) // let the server read what was sent
		conn.Close()
		// Wait for the server to answer the cut request (its access record).
		want := i + 2 // the first PUT, then one per cut
		deadline := time.Now().Add(30 * time.Second)
		for strings.Count(a.logs.String(), `"method":"PUT"`) < want {
			if time.Now().After(deadline) {
				t.Fatalf("the cut upload was not answered; log:\n%s", a.logs.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
		if f, c := gridFS(t, a.db); f != 1 || c != 1 {
			t.Fatalf("after a killed upload of %d bytes: %d files, %d chunks; want the old version's 1, 1", sent, f, c)
		}
	}
	if r := do(t, "GET", url, bearer(tok), nil); r.status != 200 || !bytes.Equal(r.body, old) {
		t.Fatalf("old version after killed uploads: %d", r.status)
	}
}

// TestAttachmentConcurrentPuts: PUTs of one id at once end with one whole
// file, one of those sent, and readers during them see whole files only.
func TestAttachmentConcurrentPuts(t *testing.T) {
	a := start(t, attachmentsEnv(t))
	tok := bearer(token(t, a, "alice"))
	url := a.url + "/attachments/c1"
	const n = 6
	bodies := make([][]byte, n)
	sums := map[string]bool{}
	for i := range bodies {
		bodies[i] = jpegOf(t, 300<<10+i)
		sums[sum(bodies[i])] = true
	}
	var wg sync.WaitGroup
	errs := make(chan string, 2*n)
	for i := range n {
		wg.Add(2)
		go func() {
			defer wg.Done()
			r := do(t, "PUT", url, tok, bodies[i])
			if r.status != 200 {
				errs <- fmt.Sprintf("PUT %d: %d %s", i, r.status, r.body)
			}
		}()
		go func() {
			defer wg.Done()
			r := do(t, "GET", url, tok, nil)
			if r.status == 200 && !sums[sum(r.body)] {
				errs <- fmt.Sprintf("GET during PUTs: %d bytes that are none of the files", len(r.body))
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	r := do(t, "GET", url, tok, nil)
	if r.status != 200 || !sums[sum(r.body)] || r.header.Get("ETag") != `"`+sum(r.body)+`"` {
		t.Fatalf("after concurrent PUTs: %d, %d bytes", r.status, len(r.body))
	}
	if f, c := gridFS(t, a.db); f != 1 || c != (len(r.body)+255<<10-1)/(255<<10) {
		t.Fatalf("after concurrent PUTs: %d files, %d chunks; want 1 file", f, c)
	}
}

// TestAttachmentsCommand: syncgate attachments list and purge --orphans
// against the attachments the server stored and the todos that reference
// them by photo_id.
func TestAttachmentsCommand(t *testing.T) {
	env := attachmentsEnv(t)
	env["ATTACHMENT_REFS"] = "todos.photo_id"
	a := start(t, env)
	tok := bearer(token(t, a, "alice"))
	for _, id := range []string{"p1", "p2", "p3"} {
		if r := do(t, "PUT", a.url+"/attachments/"+id, tok, jpegOf(t, 1000)); r.status != 200 {
			t.Fatalf("PUT %s: %d %s", id, r.status, r.body)
		}
	}
	uploadResult(t, postUpload(t, a, "", `{"batch":[{"op":"PUT","table":"todos","id":"t1","data":{"photo_id":"p2"}},{"op":"PUT","table":"todos","id":"t2","data":{"description":"no photo"}}]}`))
	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := cliRun(t, env, &out, &errb, args...)
		return code, out.String(), errb.String()
	}
	code, out, _ := run("attachments", "list")
	if code != 0 || !strings.Contains(out, "p1") || !strings.Contains(out, "alice") || !strings.Contains(out, "image/jpeg") || !strings.Contains(out, "3 attachments, 3000 bytes") {
		t.Fatalf("list: %d\n%s", code, out)
	}
	code, out, _ = run("attachments", "list", "--orphans")
	if code != 0 || strings.Contains(out, "p2") || !strings.Contains(out, "2 attachments, 2000 bytes") {
		t.Fatalf("list --orphans: %d\n%s", code, out)
	}
	// Chunks of an upload whose process died two hours ago, and of one in progress.
	chunks := client.Database(a.db).Collection("syncgate_attachments.chunks")
	old, young := bson.NewObjectIDFromTimestamp(time.Now().Add(-2*time.Hour)), bson.NewObjectID()
	for _, f := range []bson.ObjectID{old, young} {
		if _, err := chunks.InsertOne(t.Context(), bson.D{{Key: "_id", Value: bson.NewObjectID()}, {Key: "files_id", Value: f}, {Key: "n", Value: 0}, {Key: "data", Value: bson.Binary{Data: []byte("x")}}}); err != nil {
			t.Fatal(err)
		}
	}
	if code, out, _ = run("attachments", "purge", "--orphans", "--dry-run"); code != 0 || !strings.Contains(out, "would delete 2 unreferenced attachments (2000 bytes) and the chunks of 1 cut-off uploads") {
		t.Fatalf("purge --dry-run: %d\n%s", code, out)
	}
	if f, _ := gridFS(t, a.db); f != 3 {
		t.Fatalf("a dry run deleted: %d files", f)
	}
	if code, out, _ = run("attachments", "purge", "--orphans"); code != 0 || !strings.Contains(out, "deleted 2 unreferenced attachments (2000 bytes)") ||
		!strings.Contains(out, "deleted the chunks of 1 cut-off uploads") {
		t.Fatalf("purge: %d\n%s", code, out)
	}
	for f, want := range map[bson.ObjectID]int64{old: 0, young: 1} {
		if n, _ := chunks.CountDocuments(t.Context(), bson.D{{Key: "files_id", Value: f}}); n != want {
			t.Errorf("chunks of %s: %d, want %d", f.Timestamp(), n, want)
		}
	}
	if r := do(t, "GET", a.url+"/attachments/p2", tok, nil); r.status != 200 {
		t.Fatalf("the referenced attachment: %d", r.status)
	}
	if r := do(t, "GET", a.url+"/attachments/p1", tok, nil); r.status != 404 {
		t.Fatalf("a purged attachment: %d", r.status)
	}
	if code, _, errs := run("attachments", "purge"); code != 2 || !strings.Contains(errs, "--orphans is required") {
		t.Fatalf("purge without --orphans: %d %s", code, errs)
	}
	delete(env, "ATTACHMENT_REFS")
	if code, _, errs := run("attachments", "list", "--orphans"); code != 2 || !strings.Contains(errs, "needs ATTACHMENT_REFS") {
		t.Fatalf("--orphans without refs: %d %s", code, errs)
	}
}

// TestAttachmentMissingChunk: a stored file that lost a chunk is never
// served as if whole: a download from inside it is cut short (the status
// line was sent; the connection ends before Content-Length) and the server
// logs why.
func TestAttachmentMissingChunk(t *testing.T) {
	a := start(t, attachmentsEnv(t))
	tok := bearer(token(t, a, "alice"))
	url := a.url + "/attachments/m1"
	photo := jpegOf(t, 1<<20) // chunks 0..4
	if r := do(t, "PUT", url, tok, photo); r.status != 200 {
		t.Fatalf("PUT: %d", r.status)
	}
	if _, err := client.Database(a.db).Collection("syncgate_attachments.chunks").DeleteOne(t.Context(), bson.D{{Key: "n", Value: 2}}); err != nil {
		t.Fatal(err)
	}
	for _, rng := range []string{"", "bytes=300000-"} { // from chunk 0, and from past the first chunk (a files lookup first)
		r := do(t, "GET", url, withHeader(tok, "Range", rng), nil)
		if r.status/100 != 2 || len(r.body) >= 600000 {
			t.Errorf("Range %q with chunk 2 missing: %d, %d bytes", rng, r.status, len(r.body))
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(a.logs.String(), "error after the response started") {
		if time.Now().After(deadline) {
			t.Fatalf("no error logged; log:\n%s", a.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestAttachmentsRules: with RULES_DIR/attachments.json, its rules decide
// PUT and DELETE with the attachment's metadata as the document: here an
// uploader replaces their own file with JPEGs only and never deletes, and
// the user "mod" deletes any file. Reads stay open to every user.
func TestAttachmentsRules(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "attachments.json"), []byte(`{"roles": [
		{"name": "uploader", "apply_when": {"owner": "%%user.id"},
		 "document_filters": {"write": {"owner": "%%user.id"}},
		 "write": {"content_type": "image/jpeg"}, "insert": true, "delete": false},
		{"name": "moderator", "apply_when": {"%%user.id": "mod"}, "write": true, "insert": false, "delete": true}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	env := attachmentsEnv(t)
	env["RULES_DIR"] = dir
	a := start(t, env)
	alice, bob, mod := bearer(token(t, a, "alice")), bearer(token(t, a, "bob")), bearer(token(t, a, "mod"))
	url := a.url + "/attachments/0b6f3a52-5a3c-4c59-9ac6-2f2b7f7c1b20"
	photo := jpegOf(t, 1000)
	if r := do(t, "PUT", url, alice, photo); r.status != 200 {
		t.Fatalf("alice's PUT: %d %s", r.status, r.body)
	}
	png := append([]byte("\x89PNG\r\n\x1a\n"), make([]byte, 100)...)
	for _, c := range []struct {
		name, method string
		who          map[string]string
		body         []byte
		want         string // in the message
	}{
		{"alice replaces her JPEG with a PNG", "PUT", alice, png, `role "uploader": write`},
		{"alice deletes her file", "DELETE", alice, nil, `role "uploader": delete`},
		{"bob replaces alice's file", "PUT", bob, jpegOf(t, 10), "no role: apply_when"},
		{"bob deletes alice's file", "DELETE", bob, nil, "no role: apply_when"},
	} {
		r := do(t, c.method, url, c.who, c.body)
		msg, _ := r.json(t)["error"].(map[string]any)["message"].(string)
		if r.status != 403 || r.errorCode(t) != "forbidden" || !strings.Contains(msg, c.want) {
			t.Fatalf("%s: %d %s", c.name, r.status, r.body)
		}
	}
	if r := do(t, "GET", url, bob, nil); r.status != 200 || !bytes.Equal(r.body, photo) {
		t.Fatalf("bob's GET: %d", r.status)
	}
	if r := do(t, "PUT", url, alice, jpegOf(t, 2000)); r.status != 200 {
		t.Fatalf("alice replaces with a JPEG: %d %s", r.status, r.body)
	}
	if r := do(t, "DELETE", url, mod, nil); r.status != 204 {
		t.Fatalf("mod's DELETE: %d %s", r.status, r.body)
	}
	if f, c := gridFS(t, a.db); f != 0 || c != 0 {
		t.Fatalf("after mod's delete: %d files, %d chunks", f, c)
	}
}

// TestAttachmentsRulesReload: attachments.json follows RULES_DIR's reloads:
// added while serving, it takes over from the owner default; broken, the
// old set keeps deciding.
func TestAttachmentsRulesReload(t *testing.T) {
	dir := t.TempDir()
	env := attachmentsEnv(t)
	env["RULES_DIR"], env["RELOAD_POLL"] = dir, "100ms"
	a := start(t, env)
	alice, bob := bearer(token(t, a, "alice")), bearer(token(t, a, "bob"))
	url := a.url + "/attachments/0b6f3a52-5a3c-4c59-9ac6-2f2b7f7c1b21"
	if r := do(t, "PUT", url, alice, jpegOf(t, 100)); r.status != 200 {
		t.Fatalf("alice's PUT: %d %s", r.status, r.body)
	}
	if r := do(t, "DELETE", url, bob, nil); r.status != 403 || r.errorCode(t) != "not_owner" {
		t.Fatalf("bob's DELETE without rules: %d %s", r.status, r.body)
	}
	// bob may delete anything; nobody may upload.
	file := filepath.Join(dir, "attachments.json")
	if err := os.WriteFile(file, []byte(`{"roles": [{"name": "janitor", "apply_when": {"%%user.id": "bob"}, "write": true, "insert": false, "delete": true}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, func() bool {
		r := do(t, "PUT", a.url+"/attachments/probe", alice, jpegOf(t, 10))
		return r.status == 403 && r.errorCode(t) == "forbidden"
	})
	if err := os.WriteFile(file, []byte(`{"roles": [`), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, func() bool {
		rd := get(t, a.url+"/readyz")
		return rd.status == 200 && rd.json(t)["status"] == "degraded"
	})
	if r := do(t, "DELETE", url, bob, nil); r.status != 204 {
		t.Fatalf("bob's DELETE under the kept rules: %d %s", r.status, r.body)
	}
}
