package tests

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/syncgate/syncgate/host/attachments"
	"github.com/syncgate/syncgate/host/filestore"
	"github.com/syncgate/syncgate/tests/internal/mongostub"
)

// stubStore is a filestore.Store on a replica-set stand-in of its own (its
// commands counted by the tests), and the stand-in's database.
func stubStore(t *testing.T) (*mongostub.Server, *mongo.Database, *filestore.Store) {
	t.Helper()
	s := stub(t, mongostub.Config{SetName: "rs0"})
	c, err := mongo.Connect(options.Client().ApplyURI(s.URI()).SetTimeout(30 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Disconnect(context.Background()) })
	db := c.Database("d")
	return s, db, filestore.New(db, filestore.Options{})
}

// sharedStore is a filestore.Store on a database of its own on the
// suite's shared database (dropped at the end), and that database.
func sharedStore(t *testing.T) (*mongo.Database, *filestore.Store) {
	t.Helper()
	db := client.Database(dbName(t))
	t.Cleanup(func() { _ = db.Drop(context.Background()) })
	return db, filestore.New(db, filestore.Options{})
}

// putForeign stores data as attachment id with the driver's GridFS upload
// in chunks of chunk bytes (another writer's), committed as the store's
// own are (owner, type, checksum).
func putForeign(t *testing.T, db *mongo.Database, id string, data []byte, chunk int32) {
	t.Helper()
	bucket := db.GridFSBucket(options.GridFSBucket().SetName(filestore.Bucket))
	o := options.GridFSUpload().SetChunkSizeBytes(chunk).SetMetadata(bson.D{{Key: "owner", Value: "bob"},
		{Key: "content_type", Value: "image/jpeg"}, {Key: "sha256", Value: sum(data)}})
	if _, err := bucket.UploadFromStream(t.Context(), id, bytes.NewReader(data), o); err != nil {
		t.Fatal(err)
	}
}

// readRange reads bytes off..off+n of attachment id through the store,
// with WriteTo (the handler's way) or Read.
func readRange(t *testing.T, st *filestore.Store, id string, off, n int64, writeTo bool) ([]byte, error) {
	t.Helper()
	info, err := st.Stat(t.Context(), id)
	if err != nil {
		return nil, err
	}
	rc, err := st.Open(t.Context(), info, off, n)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var b bytes.Buffer
	if writeTo {
		_, err = rc.(io.WriterTo).WriteTo(&b)
	} else {
		_, err = io.Copy(&b, struct{ io.Reader }{rc})
	}
	return b.Bytes(), err
}

// chunkBatches lists the finds and getMores on the chunks collection among
// cmds, as "find 1", "getMore 4".
func chunkBatches(cmds []mongostub.Command) []string {
	var out []string
	for _, c := range cmds {
		coll := c.Collection()
		if c.Name == "getMore" {
			coll = c.Lookup("collection").StringValue()
		}
		if coll == filestore.Bucket+".chunks" && (c.Name == "find" || c.Name == "getMore") {
			n, _ := c.Lookup("batchSize").AsInt64OK()
			out = append(out, fmt.Sprintf("%s %d", c.Name, n))
		}
	}
	return out
}

// TestDownloadRangesAcrossBatches: every range that starts or ends at a
// chunk's edge or a cursor batch's (the batches of 1, 1, 1, 1, then 2, 4,
// 8, 16 chunks), of the store's own 255 KiB chunks and of another writer's
// 16 KiB and 600 KiB ones, reads its bytes exactly, through WriteTo and
// Read; and a download of a file in small chunks still doubles its
// batches: it asked for one chunk a getMore once past the chunks it
// counted in 255 KiB ones (a 1 MiB file in 16 KiB chunks: 61 getMores).
func TestDownloadRangesAcrossBatches(t *testing.T) {
	s, db, st := stubStore(t)
	ctx := t.Context()
	const own = 255 << 10
	files := map[string][]byte{"own": jpegOf(t, 40*own+1234), "small": jpegOf(t, 1<<20+123), "large": jpegOf(t, 3<<20+77)}
	if _, err := st.Put(ctx, "own", "alice", "image/jpeg", "", bytes.NewReader(files["own"])); err != nil {
		t.Fatal(err)
	}
	putForeign(t, db, "small", files["small"], 16<<10)
	putForeign(t, db, "large", files["large"], 600<<10)
	for id, data := range files {
		size := int64(len(data))
		var edges []int64
		for _, chunk := range []int64{own, 16 << 10, 600 << 10} {
			for _, k := range []int64{1, 2, 4, 6, 10, 18, 34} { // the batches' ends, in chunks
				edges = append(edges, k*chunk-1, k*chunk, k*chunk+1)
			}
		}
		edges = append(edges, 0, 1, size-1)
		for _, off := range edges {
			if off < 0 || off >= size {
				continue
			}
			for _, n := range []int64{1, 2, own - 1, own + 1, 5*own + 3, size - off} {
				n = min(n, size-off)
				for _, writeTo := range []bool{true, false} {
					got, err := readRange(t, st, id, off, n, writeTo)
					if err != nil || !bytes.Equal(got, data[off:off+n]) {
						t.Fatalf("%s bytes %d+%d (WriteTo %v): %d bytes, %v; want its %d bytes", id, off, n, writeTo, len(got), err, n)
					}
				}
			}
		}
	}
	from := len(s.Commands(false))
	if got, err := readRange(t, st, "small", 0, int64(len(files["small"])), true); err != nil || !bytes.Equal(got, files["small"]) {
		t.Fatalf("small whole: %d bytes, %v", len(got), err)
	}
	// 65 chunks of 16 KiB: 1, 1, 1, 1, 2, 4, 8, 16, 16, 16 ask for 66.
	if b := chunkBatches(s.Commands(false)[from:]); len(b) > 12 {
		t.Errorf("a 1 MiB file in 16 KiB chunks took %d batches: %v", len(b), b)
	}
}

// fetches counts the store's download goroutines (filestore's fetch) alive.
func fetches() int {
	var b bytes.Buffer
	_ = pprof.Lookup("goroutine").WriteTo(&b, 2)
	return strings.Count(b.String(), "filestore.(*Store).fetch(")
}

// waitNoFetches waits up to 10 s for every download goroutine to end.
func waitNoFetches(t *testing.T) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); fetches() > 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d download goroutines still running 10 s after their readers closed", fetches())
		}
	}
}

// TestDownloadAbandoned: a reader closed after a few bytes of a 10 MiB file
// (the client went away) ends its fetch goroutine and closes its cursor
// (killCursors: the stand-in's cursor held the rest), and a client that
// hangs up mid-response leaves no download goroutine in the server.
func TestDownloadAbandoned(t *testing.T) {
	s, _, st := stubStore(t)
	ctx := t.Context()
	data := jpegOf(t, 10<<20)
	if _, err := st.Put(ctx, "big", "alice", "image/jpeg", "", bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	waitNoFetches(t)
	info, err := st.Stat(ctx, "big")
	if err != nil {
		t.Fatal(err)
	}
	from := len(s.Commands(false))
	rc, err := st.Open(ctx, info, 0, info.Size)
	if err != nil {
		t.Fatal(err)
	}
	p := make([]byte, 10)
	if _, err := io.ReadFull(rc, p); err != nil || !bytes.Equal(p, data[:10]) {
		t.Fatalf("first bytes: %v", err)
	}
	time.Sleep(50 * time.Millisecond) // the fetch runs ahead, blocked on its channel
	_ = rc.Close()
	waitNoFetches(t)
	killed := false
	for _, c := range s.Commands(false)[from:] {
		killed = killed || c.Name == "killCursors"
	}
	if !killed {
		t.Errorf("the abandoned download's cursor was not killed: %v", chunkBatches(s.Commands(false)[from:]))
	}

	a := start(t, attachmentsEnv(t))
	tok := bearer(token(t, a, "alice"))
	if r := do(t, "PUT", a.url+"/attachments/big", tok, data); r.status != 200 {
		t.Fatalf("PUT: %d %s", r.status, r.body)
	}
	for range 3 {
		conn, err := net.Dial("tcp", strings.TrimPrefix(a.url, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest("GET", a.url+"/attachments/big", nil)
		req.Header.Set("Authorization", tok["Authorization"])
		if err := req.Write(conn); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(conn)
		res, err := http.ReadResponse(br, req)
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("GET: %v %v", res, err)
		}
		if _, err := io.ReadFull(res.Body, p); err != nil || !bytes.Equal(p, data[:10]) {
			t.Fatalf("first bytes: %v", err)
		}
		_ = conn.Close()
	}
	waitNoFetches(t)
	if r := do(t, "GET", a.url+"/attachments/big", tok, nil); r.status != 200 || !bytes.Equal(r.body, data) {
		t.Fatalf("GET after the abandoned ones: %d, %d bytes", r.status, len(r.body))
	}
}

// TestDownloadVersionDeleted: a version deleted while it is read ends the
// read whole (its chunks already fetched) or with ErrNotFound, never
// short without an error or with other bytes; and a version whose deletion
// has removed its files document and its first chunks but not yet the rest
// (GridFS deletes the files document, then the chunks) is ErrNotFound to
// Open, so the handler looks again, not a missing chunk (a 503).
func TestDownloadVersionDeleted(t *testing.T) {
	db, st := sharedStore(t)
	ctx := t.Context()
	data := jpegOf(t, 12<<20+5)
	for i := range 2 {
		id := fmt.Sprintf("d%d", i)
		info, err := st.Put(ctx, id, "alice", "image/jpeg", "", bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		rc, err := st.Open(ctx, info, 0, info.Size)
		if err != nil {
			t.Fatal(err)
		}
		head := make([]byte, 300<<10)
		if _, err := io.ReadFull(rc, head); err != nil {
			t.Fatal(err)
		}
		if err := st.Delete(ctx, id, "alice", ""); err != nil {
			t.Fatal(err)
		}
		var rest bytes.Buffer
		if i == 0 {
			_, err = rc.(io.WriterTo).WriteTo(&rest)
		} else {
			_, err = io.Copy(&rest, struct{ io.Reader }{rc})
		}
		_ = rc.Close()
		got := append(head, rest.Bytes()...)
		t.Logf("%s deleted after %d bytes of %d: read %d more, %v", id, len(head), len(data), rest.Len(), err)
		switch {
		case err == nil && !bytes.Equal(got, data):
			t.Errorf("%s deleted while read: %d bytes without an error, not the version's %d", id, len(got), len(data))
		case err != nil && !errors.Is(err, attachments.ErrNotFound):
			t.Errorf("%s deleted while read: %v, want ErrNotFound", id, err)
		case err != nil && !bytes.Equal(got, data[:len(got)]):
			t.Errorf("%s deleted while read: the %d bytes before the error are not the version's", id, len(got))
		}
	}
	waitNoFetches(t)

	info, err := st.Put(ctx, "half", "alice", "image/jpeg", "", bytes.NewReader(data[:3<<20]))
	if err != nil {
		t.Fatal(err)
	}
	oid, _ := bson.ObjectIDFromHex(info.File)
	if _, err := db.Collection(filestore.Bucket+".files").DeleteOne(ctx, bson.D{{Key: "_id", Value: oid}}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, 1} {
		if _, err := db.Collection(filestore.Bucket+".chunks").DeleteOne(ctx, bson.D{{Key: "files_id", Value: oid}, {Key: "n", Value: n}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, off := range []int64{0, 100} {
		if rc, err := st.Open(ctx, info, off, info.Size-off); !errors.Is(err, attachments.ErrNotFound) {
			if rc != nil {
				_ = rc.Close()
			}
			t.Errorf("Open at %d of a version half deleted: %v, want ErrNotFound", off, err)
		}
	}
}
