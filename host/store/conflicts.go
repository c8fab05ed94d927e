package store

import (
	"context"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/syncgate/syncgate/host/syncgate"
)

// The conflict log: lost conflicts whose policy says on_conflict "log" are
// kept in their own collection (Options.Conflicts), beside the dead letters
// but not replayable: the op lost to a newer write, it was not refused.

// ConflictsCollection is the default collection of recorded conflicts.
const ConflictsCollection = "syncgate_conflicts"

// RecordConflicts stores lost conflicts settled by logging them: who, which
// document, the losing write, the winner (the stored document now; absent
// when there is none) and the rule, for an app's "resolve" screen.
func (m *Mongo) RecordConflicts(ctx context.Context, b *syncgate.Batch, lost []syncgate.Rejection) error {
	if len(lost) == 0 {
		return nil
	}
	byIndex := opsByIndex(b)
	var ops []syncgate.Op
	for _, r := range lost {
		if op, ok := byIndex[r.Index]; ok {
			ops = append(ops, *op)
		}
	}
	winners, err := m.Current(ctx, ops, nil)
	if err != nil {
		return err
	}
	docs := make([]any, 0, len(lost))
	for _, r := range lost {
		rule := ""
		if r.Conflict != nil {
			rule = r.Conflict.Rule
		}
		d := append(recordHead(b, r),
			bson.E{Key: "rule", Value: rule},
			bson.E{Key: "reason", Value: r.Reason},
		)
		if op, ok := byIndex[r.Index]; ok {
			if op.Data != nil {
				d = append(d, bson.E{Key: "data", Value: toBSON(op.Data)})
			}
			if op.Old != nil {
				d = append(d, bson.E{Key: "old", Value: toBSON(op.Old)})
			}
			for _, f := range []struct {
				k string
				v any
			}{{"op_id", op.OpID}, {"tx_id", op.TxID}, {"metadata", op.Metadata}} {
				if f.v != nil {
					d = append(d, bson.E{Key: f.k, Value: valueToBSON(f.v)})
				}
			}
		}
		if w, ok := winners[r.Table][r.ID]; ok {
			d = append(d, bson.E{Key: "winner", Value: toBSON(w)})
		}
		docs = append(docs, d)
	}
	ctx, cancel := context.WithTimeout(ctx, m.opts.Timeout)
	defer cancel()
	if _, err := m.db.Collection(m.conflicts()).InsertMany(ctx, docs); err != nil {
		return classify("record conflicts", err)
	}
	return nil
}

func (m *Mongo) conflicts() string {
	if m.opts.Conflicts != "" {
		return m.opts.Conflicts
	}
	return ConflictsCollection
}
