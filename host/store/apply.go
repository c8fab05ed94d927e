package store

import (
	"context"
	"errors"
	"slices"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"

	"github.com/syncgate/syncgate/host/syncgate"
)

// Apply: a batch's commands (plan.go) sent in order, as ordered bulk writes
// or inside transactions, with the database's refusals and the PATCHes that
// found no document reported per op.

// Apply writes ops in order — each document's ops in the batch's order; ops
// on different collections may be reordered, as they commute — and returns
// the ops the database refused for good (duplicate key, validation), each
// with its reason. A batch's ops on one collection go in one ordered bulk
// write, split into commands of at most Chunk statements. On a replica set or mongos the batch is one transaction,
// or several in order when it is past the transaction limits (TxnMaxOps,
// TxnMaxBytes). A transient failure returns an Unavailable *syncgate.Error;
// what was written before it is safe to write again, since every op is
// idempotent.
//
// It reports what the database did and decides nothing about policy: stop,
// when non-nil and true of a refusal inside a transaction (strict mode
// says which), aborts that transaction and ends the write there (Aborted);
// otherwise the refused op is dropped and the rest written again.
func (m *Mongo) Apply(ctx context.Context, ops []syncgate.Op, stop func(syncgate.Rejection) bool) (syncgate.Written, error) {
	if len(ops) == 0 {
		return syncgate.Written{}, nil
	}
	if err := m.ready(); err != nil {
		return syncgate.Written{}, err
	}
	if m.Mode() != ModeTransaction {
		rejected, missed, err := m.applyOrdered(ctx, ops, false)
		if err != nil {
			return syncgate.Written{}, err
		}
		rejected = append(rejected, missed...)
		slices.SortFunc(rejected, func(a, b syncgate.Rejection) int { return a.Index - b.Index })
		return syncgate.Written{Refused: rejected}, nil
	}
	var w syncgate.Written
	for i, part := range TxnParts(ops, m.opts.TxnMaxOps, m.opts.TxnMaxBytes) {
		rej, aborted, err := m.applyTxn(ctx, part, stop)
		if err != nil {
			return syncgate.Written{}, err
		}
		w.Refused = append(w.Refused, rej...)
		if aborted {
			w.Aborted, w.CommittedBefore = true, i > 0
			return w, nil
		}
	}
	return w, nil
}

// applyTxn writes ops as one transaction. A permanent error aborts it: the
// op it names is dropped and the rest run again, so the batch stays
// all-or-nothing for the others — or, when stop says so of the refusal,
// the write ends there with nothing of this transaction written (aborted).
func (m *Mongo) applyTxn(ctx context.Context, ops []syncgate.Op, stop func(syncgate.Rejection) bool) (_ []syncgate.Rejection, aborted bool, _ error) {
	var rejected, missed []syncgate.Rejection
	remaining := ops
	for range len(ops) + 1 {
		sess, err := m.client.StartSession()
		if err != nil {
			return nil, false, classify("start session", err)
		}
		var failed *opError
		tctx, cancel := context.WithTimeout(ctx, min(3*m.opts.Timeout, MaxTxnTime))
		_, err = sess.WithTransaction(tctx, func(sctx context.Context) (any, error) {
			failed = nil
			// MongoDB aborts a transaction at its first write error (later
			// statements get NoSuchTransaction), so stop there.
			rej, miss, err := m.applyOrdered(sctx, remaining, true)
			if err != nil {
				return nil, err
			}
			missed = miss
			if len(rej) > 0 {
				failed = &opError{rej: rej[0]}
				return nil, failed
			}
			return nil, nil
		}, options.Transaction().SetWriteConcern(writeconcern.Majority()))
		cancel()
		sess.EndSession(context.WithoutCancel(ctx))
		if err == nil {
			return append(rejected, missed...), false, nil
		}
		if failed == nil || !errors.Is(err, failed) {
			return nil, false, classify("transaction", err)
		}
		if stop != nil && stop(failed.rej) {
			return []syncgate.Rejection{failed.rej}, true, nil
		}
		rejected = append(rejected, failed.rej)
		kept := remaining[:0:0]
		for _, op := range remaining {
			if op.Index != failed.rej.Index {
				kept = append(kept, op)
			}
		}
		remaining = kept
		if len(remaining) == 0 {
			return rejected, false, nil
		}
	}
	return nil, false, errors.New("store: transaction: no progress")
}

type opError struct{ rej syncgate.Rejection }

func (e *opError) Error() string { return "store: op rejected: " + e.rej.Reason }

// applyOrdered writes ops as ordered bulk writes, one series per
// collection: ops on different collections name different documents and
// commute, so grouping them keeps every document's order and makes a batch
// that alternates collections two commands instead of one per run. Within a
// collection the ops go in the commands plan makes. An op the database
// refuses for good is recorded and the writes of its collection go on after
// it, or everything stops there when stopAtRefusal. Rejections come back in
// batch order; missed are the PATCHes that found no document.
func (m *Mongo) applyOrdered(ctx context.Context, ops []syncgate.Op, stopAtRefusal bool) (rejected, missed []syncgate.Rejection, err error) {
	chunk := int(m.chunk.Load())
	if chunk <= 0 {
		chunk = 1000
	}
	for _, coll := range byCollection(ops) {
		for start := 0; start < len(coll); {
			if coll[start].Conditional() {
				// One statement, to see whether it matched (conditional.go).
				// In a transaction a lost conflict ends it like a refusal:
				// the op is dropped and the rest run again.
				rej, err := m.writeConditional(ctx, coll[start])
				if err != nil {
					return nil, nil, err
				}
				if rej != nil {
					rejected = append(rejected, *rej)
					if stopAtRefusal {
						return rejected, missed, nil
					}
				}
				start++
				continue
			}
			end := start + 1
			for end < len(coll) && !coll[end].Conditional() {
				end++
			}
			for _, cmd := range plan(coll[start:end], chunk) {
				for len(cmd) > 0 {
					n, res, rej, err := m.bulk(ctx, cmd)
					if err != nil {
						return nil, nil, err
					}
					if rej != nil && stopAtRefusal {
						return append(rejected, *rej), missed, nil // the transaction is over
					}
					miss, err := m.missedPatches(ctx, cmd[:n], res)
					if err != nil {
						return nil, nil, err
					}
					missed = append(missed, miss...)
					if rej == nil {
						break
					}
					rejected = append(rejected, *rej)
					cmd = cmd[n+1:] // skip the refused op, go on after it
				}
			}
			start = end
		}
	}
	slices.SortFunc(rejected, func(a, b syncgate.Rejection) int { return a.Index - b.Index })
	return rejected, missed, nil
}

// bulk runs one ordered bulk write on one collection. It returns how many
// ops were applied (those before a permanent write error), the command's
// result when all were, and the op the database refused, if any.
func (m *Mongo) bulk(ctx context.Context, ops []syncgate.Op) (int, *mongo.BulkWriteResult, *syncgate.Rejection, error) {
	models, err := writeModels(ops)
	if err != nil {
		return 0, nil, nil, err
	}
	release, err := m.acquire(ctx, "bulk write")
	if err != nil {
		return 0, nil, nil, err
	}
	defer release()
	wctx, cancel := context.WithTimeout(ctx, m.opts.Timeout)
	defer cancel()
	res, err := m.db.Collection(ops[0].Table).BulkWrite(wctx, models, options.BulkWrite().SetOrdered(true))
	if err == nil {
		return len(ops), res, nil, nil
	}
	var bwe mongo.BulkWriteException
	if errors.As(err, &bwe) && len(bwe.WriteErrors) > 0 && bwe.WriteConcernError == nil {
		we := bwe.WriteErrors[0]
		if !transientCode(we.Code) && we.Index >= 0 && we.Index < len(ops) {
			// The driver's counts of a failed command are not final.
			return we.Index, nil, refusal(ops[we.Index], we.Code, we.Message), nil
		}
	}
	return 0, nil, nil, classify("bulk write "+ops[0].Table, err)
}

// missedPatches returns the PATCHes among ops, all written by one ordered
// command, that found no document and so wrote nothing. upload looks a
// PATCH's document up before the write only when a guest or strict mode
// needs it; otherwise this is where a missing one is noticed, without a
// query when the counts settle it: a PUT (replace with upsert) either
// matches or upserts, so the PATCHes matched MatchedCount − (PUTs −
// UpsertedCount) documents, and when that is every PATCH none missed
// (res nil: counts unknown, as after a refusal). Otherwise the documents are looked up after
// the write: applyOrdered ends a command before a PUT or DELETE of a
// document it PATCHes, so a PATCH's document is there now if and only if it
// was there at the PATCH, unless a PUT or DELETE earlier in the command
// decided it. Inside a transaction the lookup reads the transaction's own
// snapshot, so it is exact; without one, a concurrent writer changing the
// same document between the write and the lookup can make it wrong, as it
// could make a lookup before the write wrong.
func (m *Mongo) missedPatches(ctx context.Context, ops []syncgate.Op, res *mongo.BulkWriteResult) ([]syncgate.Rejection, error) {
	var puts, patches int64
	for _, op := range ops {
		switch op.Op {
		case syncgate.Put:
			puts++
		case syncgate.Patch:
			patches++
		}
	}
	if patches == 0 || res != nil && res.MatchedCount-(puts-res.UpsertedCount) >= patches {
		return nil, nil
	}
	var missed []syncgate.Rejection
	var look []int
	var ids bson.A
	exists := map[string]bool{} // decided by a PUT or DELETE earlier in ops
	for i, op := range ops {
		switch op.Op {
		case syncgate.Put:
			exists[op.ID] = true
		case syncgate.Delete:
			exists[op.ID] = false
		case syncgate.Patch:
			if e, decided := exists[op.ID]; decided {
				if !e {
					missed = append(missed, syncgate.PatchNotFound(op))
				}
				continue
			}
			look = append(look, i)
			ids = append(ids, idValue(op))
		}
	}
	if len(look) > 0 {
		found, err := m.find(ctx, ops[0].Table, ids, nil)
		if err != nil {
			return nil, err
		}
		for _, i := range look {
			if _, ok := found[idString(idValue(ops[i]))]; !ok {
				missed = append(missed, syncgate.PatchNotFound(ops[i]))
			}
		}
	}
	return missed, nil
}
