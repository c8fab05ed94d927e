package mongostub

import (
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// The documents and transactions, in memory: collections by id key in
// insertion order, and each transaction's own layer over them until it
// commits.

type txn struct {
	// view holds the transaction's own writes per collection, over the
	// shared data: reads fall through to it (no snapshot isolation).
	view    store
	writes  []Command
	aborted bool
	lsid    string
	started time.Time
	// locks are the documents it wrote (db, collection, id key): another
	// open transaction writing one of them gets a WriteConflict.
	locks map[string]bool
}

// open reports whether t still holds its locks: not aborted, and younger
// than the transaction lifetime.
func (t *txn) open(lifetime time.Duration) bool {
	return !t.aborted && time.Since(t.started) < lifetime
}

// colls finds (or, create, makes) a collection for a command.
type colls func(db, name string, create bool) *coll

// over is the transaction's collection lookup: its own layer over base.
func (t *txn) over(base store) colls {
	return func(db, name string, create bool) *coll {
		if c := t.view.coll(db, name, false); c != nil {
			return c
		}
		p := base.coll(db, name, false)
		if p == nil && !create {
			return nil
		}
		if t.view[db] == nil {
			t.view[db] = map[string]*coll{}
		}
		c := &coll{docs: map[string]bson.Raw{}, parent: p, deleted: map[string]bool{}}
		t.view[db][name] = c
		return c
	}
}

// store is db → collection.
type store map[string]map[string]*coll

// coll is one collection's documents by id key, in insertion order; a
// transaction's layer also has the collection under it (parent) and the ids
// it deleted from there.
type coll struct {
	keys    []string // insertion order; may hold removed or repeated keys (see all)
	holes   int
	docs    map[string]bson.Raw
	parent  *coll
	deleted map[string]bool
}

func (s store) coll(db, name string, create bool) *coll {
	if s[db] == nil {
		if !create {
			return nil
		}
		s[db] = map[string]*coll{}
	}
	c := s[db][name]
	if c == nil && create {
		c = &coll{docs: map[string]bson.Raw{}}
		s[db][name] = c
	}
	return c
}

func (c *coll) get(key string) (bson.Raw, bool) {
	if d, ok := c.docs[key]; ok {
		return d, true
	}
	if c.parent != nil && !c.deleted[key] {
		return c.parent.get(key)
	}
	return nil, false
}

func (c *coll) put(key string, doc bson.Raw) {
	if _, ok := c.docs[key]; !ok {
		c.keys = append(c.keys, key)
	}
	c.docs[key] = doc
	delete(c.deleted, key)
}

func (c *coll) remove(key string) {
	if c.parent != nil {
		c.deleted[key] = true
	}
	if _, ok := c.docs[key]; !ok {
		return
	}
	delete(c.docs, key)
	// Removed keys stay in keys until they are half of it: a delete costs
	// O(1), not a scan.
	c.holes++
	if c.holes > len(c.keys)/2 {
		kept := c.keys[:0]
		seen := map[string]bool{}
		for _, k := range c.keys {
			if _, ok := c.docs[k]; ok && !seen[k] {
				seen[k] = true
				kept = append(kept, k)
			}
		}
		c.keys, c.holes = kept, 0
	}
}

// all returns the documents in insertion order (the parent's first).
func (c *coll) all() []bson.Raw {
	var out []bson.Raw
	seen := map[string]bool{}
	if c.parent != nil {
		for _, k := range c.parent.keys {
			if d, ok := c.get(k); ok && !seen[k] {
				seen[k] = true
				out = append(out, d)
			}
		}
	}
	for _, k := range c.keys {
		if d, ok := c.docs[k]; ok && !seen[k] {
			seen[k] = true
			out = append(out, d)
		}
	}
	return out
}
