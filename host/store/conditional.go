package store

import (
	"context"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/syncgate/syncgate/host/syncgate"
)

// Conditional writes and increments for the conflict policies
// (guest/policies). An op whose WriteRule expects stored values is written
// with those values in its filter, so a document another batch or instance
// changed since the guests checked it is not matched: that is a lost
// conflict, never a success. An increment is $inc, and its op's key is
// pushed onto AppliedOpsField in the same single-document update (atomic
// without transactions); the filter refuses a document that already holds
// the key, so a resent batch adds once. Each such op is its own statement,
// because a bulk write reports matches only in total.

// AppliedOpsField is where a document keeps the keys of the increments
// applied to it; the most recent AppliedOpsKept are kept. Current hides it
// from guests and the schema gate.
const (
	AppliedOpsField = "_syncgate_ops"
	AppliedOpsKept  = 200
)

// conditionalFilter is the op's _id filter with what its write expects.
func conditionalFilter(op syncgate.Op) bson.D {
	filter := bson.D{{Key: "_id", Value: idValue(op)}}
	for _, f := range op.Write.Expect {
		filter = append(filter, bson.E{Key: f.Key, Value: valueToBSON(f.Value)})
	}
	if op.Op == syncgate.Patch && len(op.Write.Inc) > 0 {
		filter = append(filter, bson.E{Key: AppliedOpsField, Value: bson.D{{Key: "$ne", Value: op.Write.IncKey}}})
	}
	return filter
}

// writeConditional writes one conditional op. It returns a rejection for a
// lost conflict (Code conflict, Conflict set) or a refusal.
func (m *Mongo) writeConditional(ctx context.Context, op syncgate.Op) (*syncgate.Rejection, error) {
	release, err := m.acquire(ctx, "conditional write")
	if err != nil {
		return nil, err
	}
	defer release()
	if m.FerretDB() {
		unlock, err := m.lockDoc(ctx, op)
		if err != nil {
			return nil, err
		}
		defer unlock()
	}
	wctx, cancel := context.WithTimeout(ctx, m.opts.Timeout)
	defer cancel()
	coll := m.db.Collection(op.Table)
	filter := conditionalFilter(op)
	var matched bool
	switch op.Op {
	case syncgate.Put:
		var doc []byte
		if doc, err = appendReplacement(nil, op); err != nil {
			return nil, err
		}
		var r *mongo.UpdateResult
		// With upsert, a document that exists but no longer matches makes
		// the insert collide on _id: a duplicate key here is the conflict.
		r, err = coll.ReplaceOne(wctx, filter, bson.Raw(doc), options.Replace().SetUpsert(true))
		if err == nil {
			matched = r.MatchedCount > 0 || r.UpsertedCount > 0
		}
	case syncgate.Patch:
		update := bson.D{}
		if len(op.Data) > 0 {
			update = append(update, bson.E{Key: "$set", Value: toBSON(op.Data)})
		}
		if len(op.Write.Inc) > 0 {
			update = append(update,
				bson.E{Key: "$inc", Value: toBSON(op.Write.Inc)},
				bson.E{Key: "$push", Value: bson.D{{Key: AppliedOpsField, Value: bson.D{
					{Key: "$each", Value: bson.A{op.Write.IncKey}}, {Key: "$slice", Value: -AppliedOpsKept}}}}})
		}
		if len(update) == 0 {
			update = bson.D{{Key: "$set", Value: bson.D{{Key: "_id", Value: idValue(op)}}}}
		}
		var r *mongo.UpdateResult
		r, err = coll.UpdateOne(wctx, filter, update)
		if err == nil {
			matched = r.MatchedCount > 0
		}
	case syncgate.Delete:
		var r *mongo.DeleteResult
		r, err = coll.DeleteOne(wctx, filter)
		if err == nil {
			// A DELETE of a document already gone is done, not a conflict.
			matched = r.DeletedCount > 0
			if !matched {
				found, cerr := m.exists(wctx, coll, bson.D{{Key: "_id", Value: idValue(op)}})
				if cerr != nil {
					return nil, classify("conditional delete "+op.Table, cerr)
				}
				matched = !found
			}
		}
	default:
		return nil, fmt.Errorf("store: unknown op %q", op.Op)
	}
	if err != nil {
		var we mongo.WriteException
		if errors.As(err, &we) && len(we.WriteErrors) > 0 && we.WriteConcernError == nil && !transientCode(we.WriteErrors[0].Code) {
			code := we.WriteErrors[0].Code
			if op.Op == syncgate.Put && (code == 11000 || code == 11001) && len(op.Write.Expect) > 0 {
				return conflictRejection(op, "the document changed since the write was checked"), nil
			}
			return refusal(op, code, we.WriteErrors[0].Message), nil
		}
		return nil, classify("conditional write "+op.Table, err)
	}
	if matched {
		return nil, nil
	}
	if op.Op == syncgate.Patch && len(op.Write.Inc) > 0 {
		// No match: the increment was applied before (a resend), or the
		// document changed or went away.
		applied, err := m.exists(wctx, coll, bson.D{{Key: "_id", Value: idValue(op)}, {Key: AppliedOpsField, Value: op.Write.IncKey}})
		if err != nil {
			return nil, classify("conditional write "+op.Table, err)
		}
		if applied {
			return nil, nil
		}
		if len(op.Write.Expect) == 0 {
			return &syncgate.Rejection{Index: op.Index, Op: op.Op, Table: op.Table, ID: op.ID,
				Code: syncgate.CodeDocumentNotFound, Reason: "PATCH of a document that does not exist"}, nil
		}
	}
	return conflictRejection(op, "the document changed since the write was checked"), nil
}

// exists reports whether a document matches filter (a find, not a count:
// countDocuments is an aggregation).
func (m *Mongo) exists(ctx context.Context, coll *mongo.Collection, filter bson.D) (bool, error) {
	err := coll.FindOne(ctx, filter, options.FindOne().SetProjection(bson.D{{Key: "_id", Value: 1}})).Err()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return false, nil
	}
	return err == nil, err
}

func conflictRejection(op syncgate.Op, reason string) *syncgate.Rejection {
	info := &syncgate.ConflictInfo{OnConflict: op.Write.OnConflict, Rule: op.Write.Rule}
	if info.OnConflict == "" {
		info.OnConflict = syncgate.SettleReject
	}
	if info.Rule != "" {
		reason = info.Rule + ": " + reason
	}
	return &syncgate.Rejection{Index: op.Index, Op: op.Op, Table: op.Table, ID: op.ID,
		Code: syncgate.CodeConflict, Reason: reason, Conflict: info}
}
