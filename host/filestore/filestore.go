// Package filestore keeps attachments in MongoDB's GridFS, the same on
// MongoDB and on the embedded FerretDB. Deletes go through mongo-driver
// v2's GridFS bucket; uploads write the same GridFS layout with two 1 MiB
// buffers (upload.go), where the driver's upload stream holds 16 MiB per
// upload; downloads read the chunks through a cursor of their own, fetched
// ahead of the response (download.go).
//
// Every upload is a new GridFS file (a fresh ObjectId; filename: the
// attachment id; metadata: owner, content type, sha256). Its files
// document is written after its last chunk, with the checksum, and is what
// makes it visible: readers take the newest file of an id (highest
// ObjectId) that has a checksum, so they see the old or the new version,
// never a mix. After that the writer deletes the older versions of the
// id, or its own if a newer one was written meanwhile: concurrent PUTs of
// one id end with one file. A failed upload's chunks are deleted on a
// context of its own, so a client that goes away mid-body leaves nothing
// behind.
package filestore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/syncgate/syncgate/host/attachments"
)

// Bucket is the GridFS bucket's name: collections syncgate_attachments.files
// and syncgate_attachments.chunks (the reserved prefix: clients cannot
// write them through /upload).
const Bucket = "syncgate_attachments"

// Store is attachments.Store on GridFS.
type Store struct {
	client  *mongo.Client // set by Open: closed by Close
	bucket  *mongo.GridFSBucket
	files   *mongo.Collection
	chunks  *mongo.Collection
	db      *mongo.Database
	opts    Options
	mu      sync.Mutex
	indexed bool // the bucket's indexes exist
}

// Options are the store's deadlines.
type Options struct {
	// Timeout bounds each metadata call and the cleanup after a failed
	// upload; 0 is 10s.
	Timeout time.Duration
	// Transfer bounds one upload or download stream; 0 is 15 minutes. (A
	// client-level timeout would otherwise cap a stream's whole life.)
	Transfer time.Duration
}

// Open connects to uri, database dbName, with a client of its own: the
// store's client sets no client-wide timeout, which GridFS streams would
// inherit.
func Open(uri, dbName string, o Options) (*Store, error) {
	o = o.withDefaults()
	co := options.Client().ApplyURI(uri).SetServerSelectionTimeout(o.Timeout).SetConnectTimeout(o.Timeout).SetAppName("syncgate-attachments")
	if err := co.Validate(); err != nil {
		return nil, fmt.Errorf("filestore: MONGO_URI: %w", err)
	}
	c, err := mongo.Connect(co)
	if err != nil {
		return nil, fmt.Errorf("filestore: connect: %w", err)
	}
	s := New(c.Database(dbName), o)
	s.client = c
	return s, nil
}

// Close disconnects the client Open made.
func (s *Store) Close(ctx context.Context) error {
	if s.client == nil {
		return nil
	}
	return s.client.Disconnect(ctx)
}

func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Transfer <= 0 {
		o.Transfer = 15 * time.Minute
	}
	return o
}

// New returns the store on db.
func New(db *mongo.Database, o Options) *Store {
	b := db.GridFSBucket(options.GridFSBucket().SetName(Bucket))
	return &Store{db: db, bucket: b, files: b.GetFilesCollection(), chunks: b.GetChunksCollection(), opts: o.withDefaults()}
}

// fileDoc is a files-collection document as the store reads it.
type fileDoc struct {
	ID       bson.ObjectID `bson:"_id"`
	Length   int64         `bson:"length"`
	Uploaded time.Time     `bson:"uploadDate"`
	Filename string        `bson:"filename"`
	Metadata struct {
		Owner       string `bson:"owner"`
		ContentType string `bson:"content_type"`
		SHA256      string `bson:"sha256"`
	} `bson:"metadata"`
}

func (d fileDoc) info() attachments.Info {
	return attachments.Info{ID: d.Filename, Owner: d.Metadata.Owner, ContentType: d.Metadata.ContentType,
		Size: d.Length, SHA256: d.Metadata.SHA256, Uploaded: d.Uploaded, File: d.ID.Hex()}
}

// committed matches the committed versions of attachment id.
func committed(id string) bson.D {
	return bson.D{{Key: "filename", Value: bson.D{{Key: "$eq", Value: id}}},
		{Key: "metadata.sha256", Value: bson.D{{Key: "$exists", Value: true}}}}
}

// versions lists the committed versions of id, newest first.
func (s *Store) versions(ctx context.Context, id string) ([]fileDoc, error) {
	cur, err := s.files.Find(ctx, committed(id), options.Find().SetSort(bson.D{{Key: "_id", Value: -1}}))
	if err != nil {
		return nil, err
	}
	var out []fileDoc
	if err := cur.All(ctx, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// Stat returns the newest committed version of id.
func (s *Store) Stat(ctx context.Context, id string) (attachments.Info, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	var d fileDoc
	err := s.files.FindOne(ctx, committed(id), options.FindOne().SetSort(bson.D{{Key: "_id", Value: -1}})).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return attachments.Info{}, attachments.ErrNotFound
	}
	if err != nil {
		return attachments.Info{}, fmt.Errorf("filestore: stat %q: %w", id, err)
	}
	return d.info(), nil
}

// Put writes body as a new version of id and commits it (see the package
// comment). On any error nothing of this upload remains.
func (s *Store) Put(ctx context.Context, id, owner, contentType, replaces string, body io.Reader) (attachments.Info, error) {
	// The upload's context outlives a client that goes away, so the chunks
	// can still be deleted; the body's read error ends the copy.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.Transfer)
	defer cancel()
	if err := s.indexes(sctx); err != nil {
		return attachments.Info{}, fmt.Errorf("filestore: put %q: %w", id, err)
	}
	bp, sp := bufPool.Get().(*[]byte), bufPool.Get().(*[]byte)
	w := &writer{chunks: s.chunks, id: bson.NewObjectID(), hash: sha256.New(), buf: (*bp)[:0], spare: (*sp)[:0]}
	defer func() {
		_ = w.wait() // an insert in flight still reads a buffer: wait before pooling it
		bufPool.Put(bp)
		bufPool.Put(sp)
	}()
	var doc fileDoc // the files document, once written
	err := func() error {
		if err := w.fill(sctx, body); err != nil {
			return err
		}
		if err := w.flush(sctx); err != nil {
			return err
		}
		if err := w.wait(); err != nil { // every chunk is in (and hashed) before the files document
			return err
		}
		// The files document, already committed: the checksum is known now.
		doc = fileDoc{ID: w.id, Length: w.length, Uploaded: time.Now().UTC().Truncate(time.Millisecond), Filename: id}
		doc.Metadata.Owner, doc.Metadata.ContentType, doc.Metadata.SHA256 = owner, contentType, hex.EncodeToString(w.hash.Sum(nil))
		if _, err := s.files.InsertOne(sctx, doc.stored()); err != nil {
			return fmt.Errorf("insert files document: %w", err)
		}
		return nil
	}()
	if err != nil {
		_ = w.wait() // an insert in flight lands before the abort deletes, or its chunks would stay
		return attachments.Info{}, errors.Join(fmt.Errorf("filestore: put %q: %w", id, err), s.abort(w.id))
	}
	cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.Timeout)
	defer ccancel()
	return s.settle(cctx, replaces, doc)
}

// abort deletes what a failed upload wrote: its chunks and its files
// document, if that was written (on a context of its own: the request's
// may be gone).
func (s *Store) abort(oid bson.ObjectID) error {
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.Timeout)
	defer cancel()
	_, err := s.files.DeleteOne(ctx, bson.D{{Key: "_id", Value: oid}})
	_, err2 := s.chunks.DeleteMany(ctx, bson.D{{Key: "files_id", Value: oid}})
	if err != nil || err2 != nil {
		return fmt.Errorf("filestore: abort %s: %w", oid.Hex(), errors.Join(err, err2))
	}
	return nil
}

// remove deletes one version: its files document first (readers stop
// finding it), then its chunks.
func (s *Store) remove(ctx context.Context, oid bson.ObjectID) error {
	err := s.bucket.Delete(ctx, oid)
	if errors.Is(err, mongo.ErrFileNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("filestore: delete version %s: %w", oid.Hex(), err)
	}
	return nil
}

// settle runs after committing version written: it keeps exactly one
// committed version of its attachment. If written is gone already, it was
// committed and then replaced or deleted by a writer that saw it (a newer
// upload's settle, a DELETE, or a replace the rules decided on it): the
// upload lost the race and succeeded all the same, whatever else is stored
// now. Otherwise older versions are deleted; if a newer one exists, this
// upload lost the race and deletes itself. A version of another owner
// (other than replaces, the one the caller was allowed to replace) makes
// this one an intruder's: it is deleted and ErrOwned returned.
func (s *Store) settle(ctx context.Context, replaces string, written fileDoc) (attachments.Info, error) {
	id, owner, mine := written.Filename, written.Metadata.Owner, written.ID
	vs, err := s.versions(ctx, id)
	if err != nil {
		return attachments.Info{}, errors.Join(fmt.Errorf("filestore: put %q: list versions: %w", id, err), s.remove(ctx, mine))
	}
	i := slices.IndexFunc(vs, func(v fileDoc) bool { return v.ID == mine })
	if i < 0 {
		// Besides its own settle (this one), only an upload of the same
		// owner that found no other owner's version, a DELETE that found
		// it or a replace decided on it removes a committed version: each
		// after this upload took effect. Checked before the owners: another
		// owner's version stored since (a replace decided on this one) is
		// no sign of an intruder's upload.
		return written.info(), nil
	}
	me, newer := vs[i], false
	for _, v := range vs {
		switch {
		case v.ID == mine:
		case v.Metadata.Owner != owner && (replaces == "" || v.ID.Hex() != replaces):
			return attachments.Info{}, errors.Join(attachments.ErrOwned, s.remove(ctx, mine))
		case bytes.Compare(v.ID[:], mine[:]) > 0:
			newer = true
		}
	}
	var errs []error
	for _, v := range vs {
		if bytes.Compare(v.ID[:], mine[:]) < 0 || (newer && v.ID == mine) {
			errs = append(errs, s.remove(ctx, v.ID))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return attachments.Info{}, fmt.Errorf("filestore: put %q: %w", id, err)
	}
	return me.info(), nil
}

// Delete removes every committed version of id (owner's, or the version
// replaces names; ErrOwned when another user's is there). Absent is not an
// error.
func (s *Store) Delete(ctx context.Context, id, owner, replaces string) error {
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	vs, err := s.versions(ctx, id)
	if err != nil {
		return fmt.Errorf("filestore: delete %q: %w", id, err)
	}
	for _, v := range vs {
		if v.Metadata.Owner != owner && (replaces == "" || v.ID.Hex() != replaces) {
			return attachments.ErrOwned
		}
	}
	var errs []error
	for _, v := range vs {
		errs = append(errs, s.remove(ctx, v.ID))
	}
	return errors.Join(errs...)
}
