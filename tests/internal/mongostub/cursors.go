package mongostub

import (
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Cursors, as MongoDB batches a find's results: a batch holds batchSize
// documents (the first, by default, 101; a getMore, by default, as many as
// fit) and never more than 16 MiB of them, though at least one; what is left
// waits under a cursor id for getMore, until a batch ends the results or
// killCursors. (Before, every match came in the first batch: a GridFS
// download arrived whole before its first byte could be used, unlike on
// MongoDB or FerretDB.) A find's cursor is no snapshot: a getMore leaves
// out the documents deleted since, as MongoDB's does.

// maxBatchBytes is MongoDB's cap on a batch's documents.
const maxBatchBytes = 16 << 20

// cursor is the rest of a find's results.
type cursor struct {
	ns   string
	docs []bson.Raw
	// from, for a find's results (not an aggregation's), holds where they
	// are stored: a getMore leaves out those deleted since, as MongoDB's
	// does (its cursors are no snapshot: a download of a version deleted
	// while read finds its chunks gone). Updates since are not seen.
	from *stored
	db   string
	coll string
}

// stored is where a find's results are kept: the data it read (the
// committed documents, or its transaction's view) and each result's key.
type stored struct {
	data colls
	keys []string
}

// firstBatch answers a find with docs, its results (from: where they are
// stored; nil for an aggregation's); s.mu is held.
func (s *Server) firstBatch(cmd Command, docs []bson.Raw, from *stored) bson.Raw {
	n := int64(101)
	if b, ok := cmd.Body.Lookup("batchSize").AsInt64OK(); ok && b > 0 {
		n = b
	}
	ns := cmd.DB + "." + cmd.Collection()
	batch, rest := cut(docs, n)
	id := int64(0)
	if len(rest) > 0 {
		s.cursorID++
		id = s.cursorID
		c := &cursor{ns: ns, docs: rest, db: cmd.DB, coll: cmd.Collection()}
		if from != nil {
			c.from = &stored{data: from.data, keys: from.keys[len(batch):]}
		}
		s.cursors[id] = c
	}
	return mustRaw(bson.D{{Key: "cursor", Value: bson.D{{Key: "firstBatch", Value: batch}, {Key: "id", Value: id},
		{Key: "ns", Value: ns}}}, {Key: "ok", Value: 1.0}})
}

// getMore answers the next batch of a cursor (an unknown one, as MongoDB,
// is CursorNotFound).
func (s *Server) getMore(cmd Command) bson.Raw {
	id, _ := cmd.Body.Lookup("getMore").AsInt64OK()
	c := s.cursors[id]
	if c == nil {
		return errorDoc(43, "CursorNotFound", fmt.Sprintf("mongostub: cursor id %d not found", id), nil)
	}
	if c.from != nil { // leave out the documents deleted since
		live := c.from.data(c.db, c.coll, false)
		var docs []bson.Raw
		var keys []string
		for i, k := range c.from.keys {
			if live == nil {
				break
			}
			if _, ok := live.get(k); ok {
				docs, keys = append(docs, c.docs[i]), append(keys, k)
			}
		}
		c.docs, c.from.keys = docs, keys
	}
	n := int64(len(c.docs))
	if b, ok := cmd.Body.Lookup("batchSize").AsInt64OK(); ok && b > 0 {
		n = b
	}
	batch, rest := cut(c.docs, n)
	c.docs = rest
	if c.from != nil {
		c.from.keys = c.from.keys[len(batch):]
	}
	if len(rest) == 0 {
		delete(s.cursors, id)
		id = 0
	}
	return mustRaw(bson.D{{Key: "cursor", Value: bson.D{{Key: "nextBatch", Value: batch}, {Key: "id", Value: id},
		{Key: "ns", Value: c.ns}}}, {Key: "ok", Value: 1.0}})
}

// killCursors closes the cursors it lists.
func (s *Server) killCursors(cmd Command) bson.Raw {
	killed := bson.A{}
	if arr, ok := cmd.Body.Lookup("cursors").ArrayOK(); ok {
		vals, _ := arr.Values()
		for _, v := range vals {
			if id, ok := v.AsInt64OK(); ok {
				if s.cursors[id] != nil {
					killed = append(killed, id)
				}
				delete(s.cursors, id)
			}
		}
	}
	return mustRaw(bson.D{{Key: "cursorsKilled", Value: killed}, {Key: "ok", Value: 1.0}})
}

// cut takes up to n documents and no more than maxBatchBytes of them (at
// least one) off docs.
func cut(docs []bson.Raw, n int64) (bson.A, []bson.Raw) {
	batch, size := bson.A{}, 0
	for len(docs) > 0 && int64(len(batch)) < n && (len(batch) == 0 || size+len(docs[0]) <= maxBatchBytes) {
		size += len(docs[0])
		batch = append(batch, docs[0])
		docs = docs[1:]
	}
	return batch, docs
}
