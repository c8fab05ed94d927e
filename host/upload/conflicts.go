package upload

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"

	"github.com/syncgate/syncgate/host/syncgate"
)

// What upload adds for the conflict policies (guest/policies): lost
// conflicts are settled as their policy says, expected values are typed like
// data, and increments get a key that is the same on every resend.

// ConflictRecorder is a Store that can record lost conflicts settled by
// logging them (store.Mongo does); without it they are rejected.
type ConflictRecorder interface {
	RecordConflicts(ctx context.Context, b *syncgate.Batch, lost []syncgate.Rejection) error
}

// settleConflicts takes the lost conflicts whose policy says "drop" or
// "log" out of rejected (they are neither applied nor rejected: PowerSync
// clients drop them from their queue) and adds those to log to logged.
func settleConflicts(rejected, logged []syncgate.Rejection, canLog bool) ([]syncgate.Rejection, []syncgate.Rejection) {
	kept := rejected[:0:0]
	for _, r := range rejected {
		if r.Conflict != nil {
			switch r.Conflict.OnConflict {
			case "drop":
				continue
			case "log":
				if canLog {
					logged = append(logged, r)
					continue
				}
			}
		}
		kept = append(kept, r)
	}
	return kept, logged
}

// convertExpect types an op's expected values as the schema types its data
// (a date the guest saw as text is a date in the filter).
func convertExpect(convert func(*syncgate.Op) error) func(*syncgate.Op) error {
	return func(op *syncgate.Op) error {
		if op.Write == nil || len(op.Write.Expect) == 0 {
			return nil
		}
		tmp := syncgate.Op{Op: syncgate.Put, Table: op.Table, ID: op.ID, Data: op.Write.Expect}
		if err := convert(&tmp); err != nil {
			return err
		}
		w := *op.Write
		w.Expect = tmp.Data
		op.Write = &w
		return nil
	}
}

// setIncKeys gives each increment the key the store records with it: a
// hash of the op as the client sent it (user, table, id, op_id, tx_id,
// metadata, data, old), so a resend of the op has the same key whatever
// guests changed, and another op, or another user's, has another.
func setIncKeys(b *syncgate.Batch, ops []syncgate.Op) {
	var byIndex map[int]*syncgate.Op
	for i := range ops {
		w := ops[i].Write
		if w == nil || len(w.Inc) == 0 {
			continue
		}
		if byIndex == nil {
			byIndex = make(map[int]*syncgate.Op, len(b.Ops))
			for j := range b.Ops {
				byIndex[b.Ops[j].Index] = &b.Ops[j]
			}
		}
		orig := byIndex[ops[i].Index]
		if orig == nil {
			orig = &ops[i]
		}
		key, _ := json.Marshal([]any{b.Caller.UserID, orig.Table, orig.ID, orig.OpID, orig.TxID, orig.Metadata, orig.Data, orig.Old})
		sum := sha256.Sum256(key)
		c := *w
		c.IncKey = base64.RawURLEncoding.EncodeToString(sum[:18])
		ops[i].Write = &c
	}
}
