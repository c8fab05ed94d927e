package tests

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/syncgate/syncgate/host/attachments"
	"github.com/syncgate/syncgate/host/filestore"
)

// TestAttachmentsStoreRead: the store's download reader on the shared
// database, through Read and through WriteTo (what the handler uses):
// whole files and ranges of its own files (a 5 MiB one spans several
// cursor batches, read while the next is fetched), of files another
// writer stored with smaller and larger chunks than its own (the offset
// skips whole chunks; a chunk is larger than its own), a version
// deleted since Stat (ErrNotFound, so the handler looks again) and a
// committed file whose first chunk is missing (an error, not ErrNotFound).
func TestAttachmentsStoreRead(t *testing.T) {
	db, st := sharedStore(t)
	ctx := t.Context()

	big := jpegOf(t, 5<<20+12345)
	if _, err := st.Put(ctx, "big", "alice", "image/jpeg", "", bytes.NewReader(big)); err != nil {
		t.Fatal(err)
	}
	bucket := db.GridFSBucket(options.GridFSBucket().SetName(filestore.Bucket))
	small, large := jpegOf(t, 10_500), jpegOf(t, 1<<20+77)
	for name, c := range map[string]struct {
		data  []byte
		chunk int32
	}{"small": {small, 1000}, "large": {large, 600 << 10}} {
		o := options.GridFSUpload().SetChunkSizeBytes(c.chunk).SetMetadata(bson.D{{Key: "owner", Value: "bob"},
			{Key: "content_type", Value: "image/jpeg"}, {Key: "sha256", Value: sum(c.data)}})
		if _, err := bucket.UploadFromStream(ctx, name, bytes.NewReader(c.data), o); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		id      string
		data    []byte
		off, n  int
		comment string
	}{
		{"big", big, 0, len(big), "whole, several batches"},
		{"big", big, 10, 100, "inside the first chunk"},
		{"big", big, 200 << 10, 400 << 10, "across a chunk boundary"},
		{"big", big, 3 << 20, len(big) - 3<<20, "from past the first chunk to the end"},
		{"small", small, 0, len(small), "another writer's 1000-byte chunks, whole"},
		{"small", small, 5500, 3000, "an offset that skips five of them"},
		{"large", large, 0, len(large), "600 KiB chunks, larger than the pooled buffers"},
		{"large", large, 700 << 10, 1000, "from the second 600 KiB chunk"},
	} {
		for _, writeTo := range []bool{false, true} {
			got, err := readRange(t, st, c.id, int64(c.off), int64(c.n), writeTo)
			if err != nil || !bytes.Equal(got, c.data[c.off:c.off+c.n]) {
				t.Errorf("%s (%s, WriteTo %v): %d bytes, %v", c.id, c.comment, writeTo, len(got), err)
			}
		}
	}

	// Closed before the end: Close returns, the fetch stops.
	info, err := st.Stat(ctx, "big")
	if err != nil {
		t.Fatal(err)
	}
	rc, err := st.Open(ctx, info, 0, info.Size)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rc.Read(make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	if err := rc.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Open(ctx, info, info.Size-10, 20); err == nil {
		t.Fatal("Open past the end: no error")
	}

	// A version deleted since Stat.
	if err := st.Delete(ctx, "big", "alice", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Open(ctx, info, 0, info.Size); !errors.Is(err, attachments.ErrNotFound) {
		t.Fatalf("Open of a deleted version: %v", err)
	}
	if _, err := st.Open(ctx, info, 1<<20, 10); !errors.Is(err, attachments.ErrNotFound) {
		t.Fatalf("Open past the first chunk of a deleted version: %v", err)
	}

	// A committed file without its first chunk.
	sinfo, err := st.Stat(ctx, "small")
	if err != nil {
		t.Fatal(err)
	}
	oid, err := bson.ObjectIDFromHex(sinfo.File)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Collection(filestore.Bucket+".chunks").DeleteOne(ctx, bson.D{{Key: "files_id", Value: oid}, {Key: "n", Value: 0}}); err != nil {
		t.Fatal(err)
	}
	_, err = st.Open(ctx, sinfo, 0, sinfo.Size)
	if err == nil || errors.Is(err, attachments.ErrNotFound) || !strings.Contains(err.Error(), "chunk 0 is missing") {
		t.Fatalf("Open without chunk 0: %v", err)
	}
}

// TestCursorBytesOutliveNext: the driver in go.mod leaves a cursor's
// documents as they were read after Next moves on (each reply read into a
// buffer of its own), which the store's downloads rely on to hand chunks to
// the writer without copying them (host/filestore/download.go). Forty
// documents of distinct bytes are read three to a batch, each one's data
// held without a copy; after the cursor is done, every held slice must
// still be its document's bytes. A driver that reused reply buffers would
// overwrite the earlier ones.
func TestCursorBytesOutliveNext(t *testing.T) {
	db := client.Database(dbName(t))
	defer db.Drop(t.Context())
	c := db.Collection("c")
	ctx := t.Context()
	const docs, size = 40, 64 << 10
	want := make([][]byte, docs)
	for i := range want {
		want[i] = bytes.Repeat([]byte{byte(i + 1)}, size)
		if _, err := c.InsertOne(ctx, bson.D{{Key: "_id", Value: i}, {Key: "data", Value: bson.Binary{Data: want[i]}}}); err != nil {
			t.Fatal(err)
		}
	}
	cur, err := c.Find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetBatchSize(3))
	if err != nil {
		t.Fatal(err)
	}
	var held [][]byte
	for cur.Next(ctx) {
		_, data, ok := cur.Current.Lookup("data").BinaryOK()
		if !ok {
			t.Fatalf("document %d: no binary data", len(held))
		}
		held = append(held, data)
	}
	if err := cur.Err(); err != nil {
		t.Fatal(err)
	}
	_ = cur.Close(ctx)
	if len(held) != docs {
		t.Fatalf("read %d documents, want %d", len(held), docs)
	}
	for i, got := range held {
		if !bytes.Equal(got, want[i]) {
			t.Fatalf("document %d's bytes changed after Next: starts %v, want %v (the driver reuses reply buffers: "+
				"host/filestore/download.go must copy chunks again)", i, got[:4], want[i][:4])
		}
	}
}
