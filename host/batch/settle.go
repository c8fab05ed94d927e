package batch

import (
	"context"

	"github.com/syncgate/syncgate/host/syncgate"
)

// settle settles lost conflicts as their policy says — dropped (neither
// applied nor rejected: the client drops the op from its queue), logged
// (recorded in the conflicts collection instead) or rejected — and
// records the rejections in the dead-letter collection.
func settle(ctx context.Context, s *Service, st *state) error {
	kept := st.rejected[:0]
	for _, r := range st.rejected {
		switch r.Conflict.Settle() {
		case syncgate.SettleDrop:
			continue
		case syncgate.SettleLog:
			st.logged = append(st.logged, r)
			continue
		}
		kept = append(kept, r)
	}
	st.rejected = kept
	if err := s.store.RecordRejections(ctx, st.b, st.rejections()); err != nil {
		return err
	}
	if len(st.logged) > 0 {
		return s.store.RecordConflicts(ctx, st.b, st.logged)
	}
	return nil
}
