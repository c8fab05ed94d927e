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

// Downloads read the chunks through a cursor of their own rather than the
// driver's download stream, which looks the files document up again (the
// handler's Stat just read it), can only Skip to an offset (reading every
// chunk before it: a range at the end of a 50 MiB file would read 50 MiB
// from the database), and asks for the next batch only once the current
// one is used up, so the database's latency and the client's add up. Here a
// goroutine fetches ahead of the writer: while one chunk goes to the
// client, the next ones, and the next batch, are on their way.
//
// The batches start at one chunk and stay there for the first rampChunks,
// then double up to fetchBatch. The database answers a batch only once it
// has it whole, so small batches first let the response start at once and
// the client's transfer run beside the database's next answer; larger ones
// later save round trips. On the stand-in, a 1 MiB download in batches of
// 1, 1, 1, 1, 2 ran at 0.95–1.03 of the driver's own download, 0.88–0.98
// with 1 then the rest at once, 0.79–0.85 all in one (docs/measurements.md).
//
// The chunks go to the writer as the driver read them, not copied: the
// driver documents a cursor's Current as valid only until the next Next,
// but it reads each reply into a buffer of its own and never reuses one
// (mongo-driver v2.10, topology/connection.go), so a chunk's bytes stay as
// they are for as long as the writer holds them.
// TestCursorBytesOutliveNext holds that true of the driver in go.mod: an
// upgrade that starts reusing reply buffers fails it, and this file then
// copies again.
const (
	// rampChunks chunks come one a batch.
	rampChunks = 4
	// fetchBatch chunks at most per cursor batch (4 MiB): a download holds about
	// two batches, the cursor's and the aheadChunks taken out of the one
	// before, where the server's default batch is up to 16 MiB.
	fetchBatch = 16
	// aheadChunks chunks wait for the writer.
	aheadChunks = 8
)

// Open reads length bytes of version info.File from offset on; ErrNotFound
// when that version is gone (replaced or deleted since Stat). The first
// chunk is in before it returns, so a vanished version is reported before
// the handler sends anything.
func (s *Store) Open(ctx context.Context, info attachments.Info, offset, length int64) (io.ReadCloser, error) {
	oid, err := bson.ObjectIDFromHex(info.File)
	if err != nil {
		return nil, fmt.Errorf("filestore: open %q: %w", info.ID, err)
	}
	if offset < 0 || length < 0 || offset+length > info.Size {
		return nil, fmt.Errorf("filestore: open %q: bytes %d+%d of %d", info.ID, offset, length, info.Size)
	}
	if length == 0 {
		return io.NopCloser(eof{}), nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.Transfer)
	first, skip := int64(0), offset
	if offset >= chunkSize { // past the first chunk (of ours; others' may differ: read the file's)
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
			return nil, fmt.Errorf("filestore: open %q: %w", info.ID, err)
		}
		if f.ChunkSize <= 0 || offset+length > f.Length {
			cancel()
			return nil, fmt.Errorf("filestore: open %q at %d: chunk size %d, length %d", info.ID, offset, f.ChunkSize, f.Length)
		}
		first, skip = offset/int64(f.ChunkSize), offset%int64(f.ChunkSize)
	}
	filter := bson.D{{Key: "files_id", Value: oid}}
	if first > 0 {
		filter = append(filter, bson.E{Key: "n", Value: bson.D{{Key: "$gte", Value: first}}})
	}
	// need counts one chunk more than the read takes (if the chunks are
	// ours, 255 KiB): a batch that asks for it ends the cursor (no
	// getMore after it, no killCursors), so a read within one chunk is one
	// batch of two.
	need := (skip+length+chunkSize-1)/chunkSize + 1
	firstBatch := int64(1)
	if need <= 2 {
		firstBatch = need
	}
	cur, err := s.chunks.Find(ctx, filter, options.Find().SetSort(bson.D{{Key: "n", Value: 1}}).SetBatchSize(int32(firstBatch)))
	if err != nil {
		cancel()
		return nil, fmt.Errorf("filestore: open %q at %d: %w", info.ID, offset, err)
	}
	in := make(chan fetched, aheadChunks)
	r := &chunkReader{cancel: cancel, in: in, stop: make(chan struct{}), left: length}
	go s.fetch(ctx, cur, batches{size: firstBatch, need: need}, oid, first, skip, length, in, r.stop)
	if err := r.next(); err != nil {
		_ = r.Close()
		if errors.Is(err, attachments.ErrNotFound) {
			return nil, attachments.ErrNotFound
		}
		return nil, fmt.Errorf("filestore: open %q at %d: %w", info.ID, offset, err)
	}
	return r, nil
}

// fetched is one chunk's bytes to send, or the error that ended the fetch.
type fetched struct {
	data []byte
	err  error
}

// batches sizes a download's cursor batches: size, the last one's; need,
// the chunks the read asks for in all (one beyond its last); read, the
// chunks taken from the cursor so far.
type batches struct{ size, need, read int64 }

// next is the size of the batch after the last one: all that is left
// when that is at most one more than the batch would be (the one beyond
// the read's last ends the cursor, saving a killCursors). need counts
// chunks of ours: a file another writer stored in smaller chunks has more,
// and once need is used up the batches go on doubling (they asked for one
// chunk each: a 1 MiB file in 16 KiB chunks took 64 batches).
func (b *batches) next() int32 {
	if b.read >= rampChunks {
		b.size = min(2*b.size, fetchBatch)
	}
	if rest := b.need - b.read; rest >= 1 && rest <= b.size+1 {
		return int32(rest)
	}
	return int32(b.size)
}

// fetch reads chunks n, n+1, … of file oid from cur and hands their bytes
// to out (skip bytes of the first left out, left bytes in all), until done,
// an error (sent) or stop; it sizes the cursor's batches after the first
// by b, and closes out and the cursor.
func (s *Store) fetch(ctx context.Context, cur *mongo.Cursor, b batches, oid bson.ObjectID, n, skip, left int64, out chan<- fetched, stop <-chan struct{}) {
	defer close(out)
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.Timeout)
		_ = cur.Close(cctx)
		cancel()
	}()
	send := func(f fetched) bool {
		select {
		case out <- f:
			return true
		case <-stop:
			return false
		}
	}
	for left > 0 {
		if b.read > 0 && cur.RemainingBatchLength() == 0 {
			cur.SetBatchSize(b.next())
		}
		if !cur.Next(ctx) {
			err := cur.Err()
			if err == nil {
				err = s.missing(ctx, oid, n, fmt.Errorf("chunk %d is missing (%d bytes short)", n, left))
			}
			send(fetched{err: err})
			return
		}
		got, _ := cur.Current.Lookup("n").AsInt64OK()
		_, data, ok := cur.Current.Lookup("data").BinaryOK()
		if ok && got > n {
			send(fetched{err: s.missing(ctx, oid, n, fmt.Errorf("chunk %d is missing (the next is %d)", n, got))})
			return
		}
		if !ok || got != n {
			send(fetched{err: fmt.Errorf("chunk %d: got n %d with %d bytes", n, got, len(data))})
			return
		}
		n++
		b.read++
		if skip >= int64(len(data)) { // another writer's smaller chunks, before the offset
			skip -= int64(len(data))
			continue
		}
		data = data[skip:min(int64(len(data)), skip+left)]
		skip, left = 0, left-int64(len(data))
		if !send(fetched{data: data}) {
			return
		}
	}
}

// missing explains why chunk n did not come, or came after a gap: the
// version was deleted (ErrNotFound: its files document goes first, then
// its chunks, so a read during the delete also finds a gap), or the chunk
// is missing (why).
func (s *Store) missing(ctx context.Context, oid bson.ObjectID, n int64, why error) error {
	err := s.files.FindOne(ctx, bson.D{{Key: "_id", Value: oid}}).Err()
	switch {
	case errors.Is(err, mongo.ErrNoDocuments):
		return fmt.Errorf("version %s was deleted while read: %w", oid.Hex(), attachments.ErrNotFound)
	case err != nil:
		return fmt.Errorf("chunk %d: %w", n, err)
	}
	return why
}

// chunkReader hands out the chunks fetch sends. WriteTo writes each chunk
// as it is, without a copy buffer between.
type chunkReader struct {
	cancel context.CancelFunc
	in     <-chan fetched
	stop   chan struct{}
	rest   []byte // the bytes of the chunk being read not yet read
	left   int64  // bytes still to read
	err    error
	closed bool
}

// next takes the next chunk.
func (r *chunkReader) next() error {
	if r.err != nil {
		return r.err
	}
	f, ok := <-r.in
	switch {
	case !ok:
		r.err = fmt.Errorf("filestore: read: the fetch ended %d bytes short", r.left)
	case f.err != nil:
		r.err = fmt.Errorf("filestore: read: %w", f.err)
	default:
		r.rest = f.data
	}
	return r.err
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if r.left <= 0 {
		return 0, io.EOF
	}
	for len(r.rest) == 0 {
		if err := r.next(); err != nil {
			return 0, err
		}
	}
	k := copy(p, r.rest)
	r.rest, r.left = r.rest[k:], r.left-int64(k)
	return k, nil
}

func (r *chunkReader) WriteTo(w io.Writer) (int64, error) {
	var n int64
	for r.left > 0 {
		if len(r.rest) == 0 {
			if err := r.next(); err != nil {
				return n, err
			}
			continue
		}
		k, err := w.Write(r.rest)
		n += int64(k)
		r.rest, r.left = r.rest[k:], r.left-int64(k)
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// Close stops the fetch (its goroutine closes the cursor on a context of
// its own).
func (r *chunkReader) Close() error {
	if !r.closed {
		r.closed = true
		close(r.stop)
		r.cancel()
		r.rest = nil
	}
	return nil
}

type eof struct{}

func (eof) Read([]byte) (int, error) { return 0, io.EOF }
