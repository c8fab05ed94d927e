package store

import (
	"context"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/syncgate/syncgate/host/syncgate"
)

// Reads: the stored documents the write path looks up (Current, one query
// per collection), and Dump for verification tools.

// Current returns the stored documents with the ids of ops, one query per
// collection, keyed by collection then id. The returned documents carry no
// _id field. A collection in fields is read with a projection: its
// documents hold only those fields (none: only which documents exist).
func (m *Mongo) Current(ctx context.Context, ops []syncgate.Op, fields map[string][]string) (map[string]map[string]syncgate.Doc, error) {
	if err := m.ready(); err != nil {
		return nil, err
	}
	ids := map[string]bson.A{}
	for _, op := range ops {
		ids[op.Table] = append(ids[op.Table], idValue(op))
	}
	out := make(map[string]map[string]syncgate.Doc, len(ids))
	for table, list := range ids {
		var proj bson.D
		if f, ok := fields[table]; ok {
			proj = bson.D{{Key: "_id", Value: 1}}
			for _, name := range f {
				proj = append(proj, bson.E{Key: name, Value: 1})
			}
		}
		docs, err := m.find(ctx, table, list, proj)
		if err != nil {
			return nil, err
		}
		out[table] = docs
	}
	return out, nil
}

// find reads the documents of table with ids; a non-nil proj projects them.
func (m *Mongo) find(ctx context.Context, table string, ids bson.A, proj bson.D) (map[string]syncgate.Doc, error) {
	ctx, cancel := context.WithTimeout(ctx, m.opts.Timeout)
	defer cancel()
	filters := []bson.D{{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}}}
	if m.FerretDB() {
		// FerretDB's SQLite backend uses its _id index only for a filter
		// that is exactly {_id: value}; $in scans the whole table (measured:
		// load throughput fell as collections grew). Look ids up one by one.
		filters = filters[:0]
		seen := map[any]bool{}
		for _, id := range ids {
			if !seen[id] {
				seen[id] = true
				filters = append(filters, bson.D{{Key: "_id", Value: id}})
			}
		}
	}
	docs := map[string]syncgate.Doc{}
	for _, f := range filters {
		opts := options.Find()
		if proj != nil {
			opts.SetProjection(proj)
		}
		cur, err := m.db.Collection(table).Find(ctx, f, opts)
		if err != nil {
			return nil, classify("find "+table, err)
		}
		found, err := readDocs(ctx, cur, func(string) bool { return true })
		if err != nil {
			return nil, classify("find "+table, err)
		}
		for id, d := range found {
			docs[id] = d
		}
	}
	return docs, nil
}

// readDocs drains cur into client-view documents by id, keeping the ids
// keep accepts.
func readDocs(ctx context.Context, cur *mongo.Cursor, keep func(id string) bool) (map[string]syncgate.Doc, error) {
	defer cur.Close(ctx)
	docs := map[string]syncgate.Doc{}
	for cur.Next(ctx) {
		var id string
		switch v := cur.Current.Lookup("_id"); v.Type {
		case bson.TypeString:
			id = v.StringValue()
		case bson.TypeObjectID:
			id = v.ObjectID().Hex()
		}
		if !keep(id) {
			continue
		}
		// Without _id, and without the increments' bookkeeping
		// (conditional.go): not the client's.
		doc, err := docFromRaw(cur.Current, func(k string) bool { return k == "_id" || k == AppliedOpsField })
		if err != nil {
			return nil, err
		}
		docs[id] = doc
	}
	return docs, cur.Err()
}

// Dump returns every document of table whose id starts with prefix, as a
// PowerSync client would see it (see fromBSON), keyed by id. It is for
// verification tools, not the request path; it stays in the product because
// the load generator's ledger check (host/loadgen, run by the
// syncgate-load command as well as by tests/) calls it.
func (m *Mongo) Dump(ctx context.Context, table, prefix string) (map[string]syncgate.Doc, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*m.opts.Timeout)
	defer cancel()
	cur, err := m.db.Collection(table).Find(ctx, bson.D{})
	if err != nil {
		return nil, classify("dump "+table, err)
	}
	out, err := readDocs(ctx, cur, func(id string) bool { return strings.HasPrefix(id, prefix) })
	if err != nil {
		return nil, classify("dump "+table, err)
	}
	return out, nil
}
