package filestore

import (
	"context"
	"fmt"
	"hash"
	"io"
	"sync"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// The GridFS layout the driver's bucket reads: chunks of chunkSize bytes
// {_id, files_id, n, data}, then one files document {_id, length,
// chunkSize, uploadDate, filename, metadata}.
const (
	chunkSize = 255 << 10 // the GridFS default
	// batchChunks chunks go in one insert: the upload's whole buffer (1 MiB
	// less a little). The driver's own upload stream buffers 16 MiB per
	// upload and inserts them at once; 8 concurrent 20 MiB uploads took the
	// server to 831 MiB of RSS that way (docs/design.md).
	batchChunks = 4
)

// writer writes one GridFS file with two buffers of batchChunks chunks:
// while one buffer's insert is in flight, the body fills the other (the
// upload streams at the pace of the slower of the client and the database,
// not of the two in turn). The body is read straight into the buffers, and
// a buffer is hashed while its insert runs, off the body's path.
type writer struct {
	chunks   *mongo.Collection
	id       bson.ObjectID
	hash     hash.Hash // of the bytes handed to inserts, in order
	buf      []byte
	spare    []byte     // the other buffer, free when inflight is nil
	inflight chan error // the insert in flight, if any
	n        int32      // chunks handed to inserts
	length   int64
}

// fill reads body to its end into the buffers, handing each full one to an
// insert; the last, partial one stays for flush.
func (w *writer) fill(ctx context.Context, body io.Reader) error {
	for {
		if len(w.buf) == cap(w.buf) {
			if err := w.flush(ctx); err != nil {
				return err
			}
		}
		n, err := body.Read(w.buf[len(w.buf):cap(w.buf)])
		w.buf = w.buf[:len(w.buf)+n]
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// flush hands the buffered bytes to an insert of chunks (the last one may
// be short: flush only at the end or with a full buffer), after the insert
// before it has ended (so the hash sees the buffers in order), and goes on
// with the other buffer.
func (w *writer) flush(ctx context.Context) error {
	if err := w.wait(); err != nil {
		return err
	}
	if len(w.buf) == 0 {
		return nil
	}
	docs := make([]any, 0, batchChunks)
	for off := 0; off < len(w.buf); off += chunkSize {
		end := min(off+chunkSize, len(w.buf))
		docs = append(docs, bson.D{{Key: "_id", Value: bson.NewObjectID()}, {Key: "files_id", Value: w.id},
			{Key: "n", Value: w.n}, {Key: "data", Value: bson.Binary{Data: w.buf[off:end]}}})
		w.n++
	}
	w.length += int64(len(w.buf))
	done := make(chan error, 1)
	go func(b []byte) {
		hashed := make(chan struct{})
		go func() { // the insert only reads b too
			w.hash.Write(b)
			close(hashed)
		}()
		_, err := w.chunks.InsertMany(ctx, docs)
		<-hashed
		done <- err
	}(w.buf)
	w.inflight = done
	w.buf, w.spare = w.spare[:0], w.buf
	return nil
}

// wait waits for the insert in flight, if any.
func (w *writer) wait() error {
	if w.inflight == nil {
		return nil
	}
	err := <-w.inflight
	w.inflight = nil
	if err != nil {
		return fmt.Errorf("insert chunks: %w", err)
	}
	return nil
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, batchChunks*chunkSize); return &b }}

// indexes makes the bucket's indexes as the driver's first write would
// (files {filename, uploadDate}; chunks {files_id, n}, unique), once per
// store; a failure is retried at the next upload.
func (s *Store) indexes(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.indexed {
		return nil
	}
	if _, err := s.files.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "filename", Value: int32(1)}, {Key: "uploadDate", Value: int32(1)}}}); err != nil {
		return fmt.Errorf("index %s.files: %w", Bucket, err)
	}
	if _, err := s.chunks.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "files_id", Value: int32(1)}, {Key: "n", Value: int32(1)}},
		Options: options.Index().SetUnique(true)}); err != nil {
		return fmt.Errorf("index %s.chunks: %w", Bucket, err)
	}
	s.indexed = true
	return nil
}

// stored is d as the store writes it, in GridFS's layout.
func (d fileDoc) stored() bson.D {
	return bson.D{{Key: "_id", Value: d.ID}, {Key: "length", Value: d.Length}, {Key: "chunkSize", Value: int32(chunkSize)},
		{Key: "uploadDate", Value: bson.NewDateTimeFromTime(d.Uploaded)}, {Key: "filename", Value: d.Filename},
		{Key: "metadata", Value: bson.D{{Key: "owner", Value: d.Metadata.Owner}, {Key: "content_type", Value: d.Metadata.ContentType},
			{Key: "sha256", Value: d.Metadata.SHA256}}}}
}
