package store

import (
	"context"
	"maps"
	"slices"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/syncgate/syncgate/host/syncgate"
)

// Lookup returns the documents of table whose field holds one of its
// values — keys maps field to values; "_id" values are ids, typed as
// idType ("objectId": 24 hex characters become an ObjectId) — each with
// its id as "_id", in the client's view. One query for the collection
// (on FerretDB, a lookup by id alone goes id by id, as Current does).
// The write path reads the parent documents guests declared with it
// (guest.Info.References).
func (m *Mongo) Lookup(ctx context.Context, table string, keys map[string][]any, idType string) ([]syncgate.Doc, error) {
	if err := m.ready(); err != nil {
		return nil, err
	}
	var found map[string]syncgate.Doc
	if ids, only := keys["_id"]; only && len(keys) == 1 {
		list := make(bson.A, 0, len(ids))
		for _, v := range ids {
			list = append(list, lookupID(v, idType))
		}
		docs, err := m.find(ctx, table, list, nil)
		if err != nil {
			return nil, err
		}
		found = docs
	} else {
		var or bson.A
		for _, field := range slices.Sorted(maps.Keys(keys)) {
			vals := make(bson.A, 0, len(keys[field]))
			for _, v := range keys[field] {
				if field == "_id" {
					v = lookupID(v, idType)
				}
				vals = append(vals, valueToBSON(v))
			}
			or = append(or, bson.D{{Key: field, Value: bson.D{{Key: "$in", Value: vals}}}})
		}
		filter := bson.D{{Key: "$or", Value: or}}
		if len(or) == 1 {
			filter = or[0].(bson.D)
		}
		qctx, cancel := context.WithTimeout(ctx, m.opts.Timeout)
		defer cancel()
		cur, err := m.db.Collection(table).Find(qctx, filter)
		if err != nil {
			return nil, classify("find "+table, err)
		}
		if found, err = readDocs(qctx, cur, func(string) bool { return true }); err != nil {
			return nil, classify("find "+table, err)
		}
	}
	out := make([]syncgate.Doc, 0, len(found))
	for _, id := range slices.Sorted(maps.Keys(found)) {
		out = append(out, append(syncgate.Doc{{Key: "_id", Value: id}}, found[id]...))
	}
	return out, nil
}

// lookupID is an id value as stored: a string, or an ObjectId when the
// collection's schema says so and it is 24 hex characters.
func lookupID(v any, idType string) any {
	s, ok := v.(string)
	if !ok {
		return v
	}
	return idValue(syncgate.Op{ID: s, IDType: idType})
}
