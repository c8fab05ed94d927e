package filestore

import (
	"context"
	"fmt"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
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
