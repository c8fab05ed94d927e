package filestore

import (
	"context"
	"errors"
	"fmt"
	"io"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/syncgate/syncgate/host/attachments"
)

// openAt reads file oid from offset on, fetching only the chunks from the
// one that holds offset: the driver's download stream can only Skip, which
// reads every chunk before it (a range at the end of a 50 MiB file would
// read 50 MiB from the database).
func (s *Store) openAt(ctx context.Context, oid bson.ObjectID, offset int64) (io.ReadCloser, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.Transfer)
	var f struct {
		Length    int64 `bson:"length"`
		ChunkSize int32 `bson:"chunkSize"`
	}
	err := s.files.FindOne(ctx, bson.D{{Key: "_id", Value: oid}}).Decode(&f)
	if err != nil {
		cancel()
		if errors.Is(err, mongo.ErrNoDocuments) {
			return nil, attachments.ErrNotFound
		}
		return nil, fmt.Errorf("filestore: open %s: %w", oid.Hex(), err)
	}
	if f.ChunkSize <= 0 || offset > f.Length {
		cancel()
		return nil, fmt.Errorf("filestore: open %s at %d: chunk size %d, length %d", oid.Hex(), offset, f.ChunkSize, f.Length)
	}
	first := offset / int64(f.ChunkSize)
	cur, err := s.chunks.Find(ctx, bson.D{{Key: "files_id", Value: oid}, {Key: "n", Value: bson.D{{Key: "$gte", Value: first}}}},
		options.Find().SetSort(bson.D{{Key: "n", Value: 1}}))
	if err != nil {
		cancel()
		return nil, fmt.Errorf("filestore: open %s at %d: %w", oid.Hex(), offset, err)
	}
	return &chunkReader{ctx: ctx, cancel: cancel, cur: cur, next: first, skip: offset % int64(f.ChunkSize), left: f.Length - offset}, nil
}

// chunkReader reads chunks in order from a cursor, checking that none is
// missing.
type chunkReader struct {
	ctx    context.Context
	cancel context.CancelFunc
	cur    *mongo.Cursor
	next   int64 // the chunk expected next
	skip   int64 // bytes of that chunk before the offset
	buf    []byte
	left   int64 // bytes still to read
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if r.left <= 0 {
		return 0, io.EOF
	}
	for len(r.buf) == 0 {
		if !r.cur.Next(r.ctx) {
			if err := r.cur.Err(); err != nil {
				return 0, fmt.Errorf("filestore: read chunk %d: %w", r.next, err)
			}
			return 0, fmt.Errorf("filestore: chunk %d is missing (%d bytes short)", r.next, r.left)
		}
		n, _ := r.cur.Current.Lookup("n").AsInt64OK()
		_, data, ok := r.cur.Current.Lookup("data").BinaryOK()
		if !ok || n != r.next || int64(len(data)) < r.skip {
			return 0, fmt.Errorf("filestore: chunk %d: got n %d with %d bytes", r.next, n, len(data))
		}
		r.buf, r.skip = data[r.skip:], 0
		r.next++
	}
	k := copy(p[:min(int64(len(p)), r.left)], r.buf)
	r.buf = r.buf[k:]
	r.left -= int64(k)
	return k, nil
}

func (r *chunkReader) Close() error {
	err := r.cur.Close(context.WithoutCancel(r.ctx))
	r.cancel()
	return err
}
