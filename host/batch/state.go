package batch

import (
	"slices"

	"github.com/syncgate/syncgate/host/syncgate"
)

// state is one batch on its way through the stages.
type state struct {
	b      *syncgate.Batch // as decoded: the dead letters record its ops as the client sent them
	rules  Rules
	dryRun bool // Check: no write, no records; every PATCH's document looked up
	strict bool

	ops      []syncgate.Op        // still going, in batch order
	rejected []syncgate.Rejection // decided, in the order they were
	current  map[string]map[string]syncgate.Doc
	// lookedUp: the documents whose stored version the lookup read (found
	// in current or not there).
	lookedUp map[key]bool
	applied  int
	logged   []syncgate.Rejection // lost conflicts settled by logging them
	// createdBy: the documents PATCHed after an earlier PUT of the batch
	// created them, and that PUT's index (lookup.go).
	createdBy map[key]int
	// parents: the parent documents guests declared, by collection then id
	// (parents.go); deps: the batch ops each op's parents came from.
	parents map[string]map[string]syncgate.Doc
	deps    map[int][]int
}

// begin fills ops and rejected from the batch (the first stage calls it).
func (st *state) begin() {
	st.ops = slices.Clone(st.b.Ops)
	st.rejected = make([]syncgate.Rejection, 0, len(st.b.Refused))
	for _, r := range st.b.Refused {
		if r.Stage == "" {
			r.Stage = "decode"
		}
		st.rejected = append(st.rejected, r)
	}
}

// reject records rejections decided by stage (those that do not name
// their stage already).
func (st *state) reject(stage string, rs ...syncgate.Rejection) {
	for _, r := range rs {
		if r.Stage == "" {
			r.Stage = stage
		}
		st.rejected = append(st.rejected, r)
	}
}

// keep runs f on each op still going and rejects, as stage with code,
// those it fails. It filters st.ops in place (st owns its copy).
func (st *state) keep(stage string, code syncgate.Code, f func(*syncgate.Op) error) {
	out := st.ops[:0]
	for i := range st.ops {
		op := &st.ops[i] // f changes the op where it lies: a copy passed to f would escape to the heap
		if err := f(op); err != nil {
			st.reject(stage, syncgate.Rejection{Index: op.Index, Op: op.Op, Table: op.Table, ID: op.ID, Code: code, Reason: err.Error()})
			continue
		}
		out = append(out, *op)
	}
	st.ops = out
}

// rejections returns the rejections by index, each with its client
// transaction.
func (st *state) rejections() []syncgate.Rejection {
	r := st.rejected
	if r == nil {
		return []syncgate.Rejection{}
	}
	var tx map[int]any
	for i := range r {
		if r[i].TxID != nil {
			continue
		}
		if tx == nil {
			tx = make(map[int]any, len(st.b.Ops))
			for _, op := range st.b.Ops {
				if op.TxID != nil {
					tx[op.Index] = op.TxID
				}
			}
		}
		r[i].TxID = tx[r[i].Index]
	}
	slices.SortStableFunc(r, func(a, b syncgate.Rejection) int { return a.Index - b.Index })
	return r
}
