package batch

import (
	"context"
	"fmt"
	"slices"

	"github.com/syncgate/syncgate/host/syncgate"
)

// write decides strict mode, once, and has the store write the ops still
// going. In strict mode (UPLOAD_STRICT) any rejection so far refuses the
// batch before anything is written; at the write, a refusal stops a
// transaction (nothing of it is written) and, on a database without
// transactions, refuses the batch after the fact. Lost conflicts that
// their policy drops or logs are not refusals.
func write(ctx context.Context, s *Service, st *state) error {
	if st.strict {
		if refused := refusals(st.rejected); len(refused) > 0 {
			slices.SortStableFunc(refused, func(a, b syncgate.Rejection) int { return a.Index - b.Index })
			return strictError(refused, fmt.Sprintf("%d of the batch's ops were rejected; nothing was written (strict mode)", len(refused)))
		}
	}
	var stop func(syncgate.Rejection) bool
	if st.strict {
		stop = func(r syncgate.Rejection) bool { return !r.Conflict.Quiet() }
	}
	w, err := s.store.Apply(ctx, st.ops, stop)
	if err != nil {
		return err
	}
	if st.strict {
		if refused := refusals(w.Refused); len(refused) > 0 {
			msg := fmt.Sprintf("the database refused %d of the batch's ops; this database has no transactions, so the other ops were written (strict mode)", len(refused))
			switch {
			case w.Aborted && w.CommittedBefore:
				msg = "the database refused an op of the batch; the transactions before it (the batch was past one transaction's limits) were written (strict mode)"
			case w.Aborted:
				msg = "the database refused an op of the batch; nothing was written (strict mode)"
			}
			return strictError(refused, msg)
		}
	}
	st.applied = len(st.ops) - len(w.Refused)
	st.reject("write", w.Refused...)
	return nil
}

// refusals are the rejections among rs that refuse a strict batch.
func refusals(rs []syncgate.Rejection) []syncgate.Rejection {
	var out []syncgate.Rejection
	for _, r := range rs {
		if !r.Conflict.Quiet() {
			out = append(out, r)
		}
	}
	return out
}
