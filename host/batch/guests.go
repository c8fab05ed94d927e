package batch

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"

	"github.com/syncgate/syncgate/host/syncgate"
)

// guests returns the stage that runs the guests of g: one call per guest
// for the batch, with the ops of its tables still going (host/pipeline).
// A guest's rejection names the guest as its stage.
func guests(g GuestStage) func(context.Context, *Service, *state) error {
	return func(ctx context.Context, _ *Service, st *state) error {
		gs := st.rules.Guests(g)
		if gs == nil || len(st.ops) == 0 {
			return nil
		}
		refs := gs.References()
		if len(refs) > 0 {
			st.withParents(refs)
		}
		b := *st.b // the guests see the ops still going; st.b keeps all for the dead letters
		b.Ops = st.ops
		accepted, rejected, err := gs.Run(ctx, &b, st.current)
		if err != nil {
			return err
		}
		from := len(st.rejected)
		st.reject(string(g), rejected...)
		st.ops = accepted
		if len(refs) > 0 {
			st.clearParents()
		}
		st.rejectDependents(from)
		if g == Policies {
			st.setIncKeys()
		}
		return nil
	}
}

// setIncKeys gives each increment the key the store records with it: a
// hash of the op as the client sent it (user, table, id, op_id, tx_id,
// metadata, data, old), so a resend of the op has the same key whatever
// guests changed, and another op, or another user's, has another.
func (st *state) setIncKeys() {
	var byIndex map[int]*syncgate.Op
	for i := range st.ops {
		w := st.ops[i].Write
		if w == nil || len(w.Inc) == 0 {
			continue
		}
		if byIndex == nil {
			byIndex = make(map[int]*syncgate.Op, len(st.b.Ops))
			for j := range st.b.Ops {
				byIndex[st.b.Ops[j].Index] = &st.b.Ops[j]
			}
		}
		orig := byIndex[st.ops[i].Index]
		if orig == nil {
			orig = &st.ops[i]
		}
		k, _ := json.Marshal([]any{st.b.Caller.UserID, orig.Table, orig.ID, orig.OpID, orig.TxID, orig.Metadata, orig.Data, orig.Old})
		sum := sha256.Sum256(k)
		c := *w
		c.IncKey = base64.RawURLEncoding.EncodeToString(sum[:18])
		st.ops[i].Write = &c
	}
}
