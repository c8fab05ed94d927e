package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/syncgate/syncgate/host/syncgate"
)

// FerretDB v1 checks an update's filter and writes the document in two
// steps without isolating them: six concurrent updates filtered on
// {_id, v: 1} all matched (measured), so a conditional write alone would let
// a stale write through there, and two $inc could lose one. Its inserts are
// exclusive (a unique _id), so on FerretDB each conditional write holds a
// lock document for its document while it runs, shared by every instance
// on the database. MongoDB applies a single-document update atomically and
// needs none.

// LocksCollection holds the FerretDB document locks.
const LocksCollection = "syncgate_locks"

// lockStale is when a lock left by a crashed writer may be taken over: far
// past any write's deadline.
const lockStale = 30 * time.Second

// lockDoc takes op's document lock and returns the func that frees it.
func (m *Mongo) lockDoc(ctx context.Context, op syncgate.Op) (func(), error) {
	locks := m.db.Collection(LocksCollection)
	key := op.Table + "\x00" + op.ID
	var b [12]byte
	rand.Read(b[:])
	owner := hex.EncodeToString(b[:])
	wait := time.Millisecond
	for {
		lctx, cancel := context.WithTimeout(ctx, m.opts.Timeout)
		_, err := locks.InsertOne(lctx, bson.D{{Key: "_id", Value: key}, {Key: "owner", Value: owner}, {Key: "at", Value: time.Now()}})
		cancel()
		if err == nil {
			return func() {
				uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.opts.Timeout)
				defer cancel()
				_, _ = locks.DeleteOne(uctx, bson.D{{Key: "_id", Value: key}, {Key: "owner", Value: owner}})
			}, nil
		}
		if !mongo.IsDuplicateKeyError(err) {
			return nil, classify("lock "+op.Table, err)
		}
		// Held: take it over when its writer is long gone, else wait.
		sctx, cancel := context.WithTimeout(ctx, m.opts.Timeout)
		_, _ = locks.DeleteOne(sctx, bson.D{{Key: "_id", Value: key}, {Key: "at", Value: bson.D{{Key: "$lt", Value: time.Now().Add(-lockStale)}}}})
		cancel()
		select {
		case <-ctx.Done():
			return nil, classify("lock "+op.Table, errors.Join(ctx.Err(), context.DeadlineExceeded))
		case <-time.After(wait):
		}
		wait = min(2*wait, 50*time.Millisecond)
	}
}
