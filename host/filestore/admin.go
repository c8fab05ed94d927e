package filestore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/syncgate/syncgate/host/attachments"
)

// List returns the newest committed version of every attachment, by id.
func (s *Store) List(ctx context.Context) ([]attachments.Info, error) {
	cur, err := s.files.Find(ctx, bson.D{{Key: "metadata.sha256", Value: bson.D{{Key: "$exists", Value: true}}}},
		options.Find().SetSort(bson.D{{Key: "_id", Value: -1}}))
	if err != nil {
		return nil, fmt.Errorf("filestore: list: %w", err)
	}
	defer cur.Close(ctx)
	seen := map[string]bool{}
	var out []attachments.Info
	for cur.Next(ctx) {
		var d fileDoc
		if err := cur.Decode(&d); err != nil {
			return nil, fmt.Errorf("filestore: list: %w", err)
		}
		if !seen[d.Filename] {
			seen[d.Filename] = true
			out = append(out, d.info())
		}
	}
	if err := cur.Err(); err != nil {
		return nil, fmt.Errorf("filestore: list: %w", err)
	}
	return out, nil
}

// Referenced returns the string values of the fields refs name
// ("collection.field", the field a top-level one or a dotted path), the
// attachment ids documents refer to.
func (s *Store) Referenced(ctx context.Context, refs []string) (map[string]bool, error) {
	out := map[string]bool{}
	for _, ref := range refs {
		coll, field, ok := strings.Cut(strings.TrimSpace(ref), ".")
		if !ok {
			return nil, fmt.Errorf("filestore: reference %q: want collection.field", ref)
		}
		cur, err := s.db.Collection(coll).Find(ctx, bson.D{{Key: field, Value: bson.D{{Key: "$exists", Value: true}}}},
			options.Find().SetProjection(bson.D{{Key: field, Value: 1}}))
		if err != nil {
			return nil, fmt.Errorf("filestore: reference %s: %w", ref, err)
		}
		for cur.Next(ctx) {
			if v, ok := cur.Current.Lookup(strings.Split(field, ".")...).StringValueOK(); ok && v != "" {
				out[v] = true
			}
		}
		err = cur.Err()
		cur.Close(ctx)
		if err != nil {
			return nil, fmt.Errorf("filestore: reference %s: %w", ref, err)
		}
	}
	return out, nil
}

// Purge deletes every version of id, whoever owns it (an administrator's
// delete).
func (s *Store) Purge(ctx context.Context, id string) error {
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	vs, err := s.versions(ctx, id)
	if err != nil {
		return fmt.Errorf("filestore: purge %q: %w", id, err)
	}
	for _, v := range vs {
		if err := s.remove(ctx, v.ID); err != nil {
			return fmt.Errorf("filestore: purge %q: %w", id, err)
		}
	}
	return nil
}

// Stray lists the files ids of chunks that no files document names and
// that are older than before (by their ObjectId's time): what an upload
// leaves when its process dies mid-body. A younger one may be an upload in
// progress.
func (s *Store) Stray(ctx context.Context, before time.Time) ([]bson.ObjectID, error) {
	cur, err := s.chunks.Find(ctx, bson.D{}, options.Find().SetProjection(bson.D{{Key: "files_id", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("filestore: stray chunks: %w", err)
	}
	defer cur.Close(ctx)
	owners := map[bson.ObjectID]bool{}
	for cur.Next(ctx) {
		if oid, ok := cur.Current.Lookup("files_id").ObjectIDOK(); ok && oid.Timestamp().Before(before) {
			owners[oid] = true
		}
	}
	if err := cur.Err(); err != nil {
		return nil, fmt.Errorf("filestore: stray chunks: %w", err)
	}
	var out []bson.ObjectID
	for oid := range owners {
		err := s.files.FindOne(ctx, bson.D{{Key: "_id", Value: oid}}, options.FindOne().SetProjection(bson.D{{Key: "_id", Value: 1}})).Err()
		switch {
		case errors.Is(err, mongo.ErrNoDocuments):
			out = append(out, oid)
		case err != nil:
			return nil, fmt.Errorf("filestore: stray chunks: %w", err)
		}
	}
	slices.SortFunc(out, func(a, b bson.ObjectID) int { return bytes.Compare(a[:], b[:]) })
	return out, nil
}

// DeleteChunks deletes the chunks of files id oid (a stray upload's).
func (s *Store) DeleteChunks(ctx context.Context, oid bson.ObjectID) error {
	if _, err := s.chunks.DeleteMany(ctx, bson.D{{Key: "files_id", Value: oid}}); err != nil {
		return fmt.Errorf("filestore: delete chunks of %s: %w", oid.Hex(), err)
	}
	return nil
}
