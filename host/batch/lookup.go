package batch

import (
	"context"
	"slices"

	"github.com/syncgate/syncgate/host/syncgate"
)

// lookup reads the stored documents later stages need, one query per
// collection: those of the tables a guest asks them for (NeedsCurrent), and
// those of PATCHes where it must be known before the write whether the
// document exists — tables a guest guards (a guest must not explain a
// missing document as something else), strict mode (a missing document
// refuses the batch before anything is written) and dry runs (which write
// nothing). Elsewhere the store reports a PATCH that found no document at
// the write, from the write's own counts: most batches need no lookup.
//
// A PATCH of a document that will not exist when it runs — not stored, or
// deleted earlier in the batch, and not put earlier in it — is rejected
// here, once: a PATCH never invents a document.
func lookup(ctx context.Context, s *Service, st *state) error {
	looked := func(table string) bool {
		if st.dryRun || st.strict {
			return true
		}
		for _, g := range GuestStages {
			if gs := st.rules.Guests(g); gs != nil && gs.Guards(table) {
				return true
			}
		}
		return false
	}
	needs := func(table string) bool {
		for _, g := range GuestStages {
			if gs := st.rules.Guests(g); gs != nil && gs.NeedsCurrent(table) {
				return true
			}
		}
		return false
	}
	var need []syncgate.Op
	for _, op := range st.ops {
		if op.Op == syncgate.Patch && looked(op.Table) || needs(op.Table) {
			need = append(need, op)
		}
	}
	st.current = map[string]map[string]syncgate.Doc{}
	if len(need) > 0 {
		cur, err := s.store.Current(ctx, need, st.currentFields(need))
		if err != nil {
			return err
		}
		st.current = cur
		st.lookedUp = make(map[key]bool, len(need))
		for _, op := range need {
			st.lookedUp[key{op.Table, op.ID}] = true
		}
	}
	st.rejectMissingPatches(looked)
	return st.lookupParents(ctx, s.store)
}

// currentFields are the tables of need whose stored documents may be read
// in part, with the fields to read: those the guests read
// (Guests.CurrentFields) and the columns naming parents. A table gets whole
// documents when a guest reads them whole and when it is a parent
// collection (a batch's PATCH of a parent is laid over its stored document
// for later ops to read). Strict mode and dry runs need to know only which
// documents exist.
func (st *state) currentFields(need []syncgate.Op) map[string][]string {
	patched := map[string]bool{}
	for _, op := range need {
		patched[op.Table] = patched[op.Table] || op.Op == syncgate.Patch
	}
	refs := st.references()
	var out map[string][]string
	for t := range patched {
		var fields []string
		whole := false
		for _, r := range refs {
			switch {
			case r.Parent == t:
				whole = true
			case r.Table == t && !r.ByUser:
				fields = append(fields, r.Column)
			}
		}
		for _, g := range GuestStages {
			if gs := st.rules.Guests(g); gs != nil {
				f, w := gs.CurrentFields(t, patched[t])
				whole = whole || w
				fields = append(fields, f...)
			}
		}
		if !whole {
			if out == nil {
				out = map[string][]string{}
			}
			slices.Sort(fields)
			out[t] = slices.Compact(fields)
		}
	}
	return out
}

// rejectMissingPatches refuses PATCHes of documents that will not exist
// when the PATCH runs. Whether one is stored is known only on the tables
// looked names; elsewhere the store reports it at the write.
func (st *state) rejectMissingPatches(looked func(table string) bool) {
	// The PATCHed documents only: 0 while no op of the batch decided
	// whether they exist, then +1 (put) or -1 (deleted).
	var exists map[key]int8
	putIndex := map[key]int{} // the last PUT of a PATCHed document so far
	for _, op := range st.ops {
		if op.Op == syncgate.Patch {
			if exists == nil {
				exists = map[key]int8{}
			}
			exists[key{op.Table, op.ID}] = 0
		}
	}
	if exists == nil {
		return
	}
	kept := st.ops[:0]
	for _, op := range st.ops {
		k := key{op.Table, op.ID}
		switch op.Op {
		case syncgate.Put, syncgate.Delete:
			if _, patched := exists[k]; patched {
				exists[k] = -1
				if op.Op == syncgate.Put {
					exists[k] = 1
					putIndex[k] = op.Index
				}
			}
		case syncgate.Patch:
			present, known := exists[k] > 0, exists[k] != 0
			if present {
				// It exists because an earlier PUT of the batch creates it:
				// if a guest rejects that PUT, this PATCH goes with it.
				if st.createdBy == nil {
					st.createdBy = map[key]int{}
				}
				if _, ok := st.createdBy[k]; !ok {
					st.createdBy[k] = putIndex[k]
				}
			}
			if !known && looked(op.Table) {
				_, present = st.current[op.Table][op.ID]
				known = true
			}
			if known && !present {
				st.reject("lookup", syncgate.PatchNotFound(op))
				continue
			}
		}
		kept = append(kept, op)
	}
	st.ops = kept
}

// key names a document.
type key struct{ table, id string }
