package batch

import (
	"context"
	"fmt"
	"slices"

	"github.com/syncgate/syncgate/host/syncgate"
)

// fakeStore keeps documents by table and id; "a" is stored in every table
// it is asked about. Apply writes nothing but reports a PATCH of any other
// document as the store does (not_found, at the write), refuses the ids in
// refuse, and with a stop that holds aborts like a transaction.
type fakeStore struct {
	looked    []string
	projected []string                  // "table [fields]" per projected table of Current calls
	lookups   []string                  // "table field=values" per Lookup call
	docs      map[string][]syncgate.Doc // what Lookup finds, by table (each with _id)
	applied   [][]syncgate.Op
	refuse    map[string]bool
	txn       bool
	recorded  []syncgate.Rejection
	logged    []syncgate.Rejection
}

func (s *fakeStore) Current(_ context.Context, ops []syncgate.Op, fields map[string][]string) (map[string]map[string]syncgate.Doc, error) {
	out := map[string]map[string]syncgate.Doc{}
	for t, f := range fields {
		s.projected = append(s.projected, fmt.Sprintf("%s %v", t, f))
	}
	slices.Sort(s.projected)
	for _, op := range ops {
		s.looked = append(s.looked, op.Table+"/"+op.ID)
		if out[op.Table] == nil {
			out[op.Table] = map[string]syncgate.Doc{}
		}
		if op.ID == "a" {
			out[op.Table]["a"] = syncgate.Doc{{Key: "owner", Value: "u1"}}
		}
	}
	return out, nil
}

func (s *fakeStore) Apply(_ context.Context, ops []syncgate.Op, stop func(syncgate.Rejection) bool) (syncgate.Written, error) {
	var w syncgate.Written
	s.applied = append(s.applied, slices.Clone(ops))
	for _, op := range ops {
		var r *syncgate.Rejection
		switch {
		case s.refuse[op.ID]:
			r = &syncgate.Rejection{Index: op.Index, Op: op.Op, Table: op.Table, ID: op.ID, Code: syncgate.CodeDuplicateKey, Reason: "refused"}
		case op.Op == syncgate.Patch && op.ID != "a" && !slices.ContainsFunc(ops, func(o syncgate.Op) bool { return o.Op == syncgate.Put && o.ID == op.ID && o.Index < op.Index }):
			nf := syncgate.PatchNotFound(op)
			r = &nf
		}
		if r == nil {
			continue
		}
		if s.txn && stop != nil && stop(*r) {
			return syncgate.Written{Refused: []syncgate.Rejection{*r}, Aborted: true}, nil
		}
		w.Refused = append(w.Refused, *r)
	}
	return w, nil
}

func (s *fakeStore) Lookup(_ context.Context, table string, keys map[string][]any, idType string) ([]syncgate.Doc, error) {
	s.lookups = append(s.lookups, fmt.Sprintf("%s %v %s", table, keys, idType))
	var out []syncgate.Doc
	for _, d := range s.docs[table] {
		for field, vals := range keys {
			v, _ := d.Get(field)
			if slices.Contains(vals, v) {
				out = append(out, d)
				break
			}
		}
	}
	return out, nil
}

func (s *fakeStore) RecordRejections(_ context.Context, _ *syncgate.Batch, r []syncgate.Rejection) error {
	s.recorded = append(s.recorded, r...)
	return nil
}

func (s *fakeStore) RecordConflicts(_ context.Context, _ *syncgate.Batch, r []syncgate.Rejection) error {
	s.logged = append(s.logged, r...)
	return nil
}

// fakeGuests run f on each op of their tables (nil tables: every table).
type fakeGuests struct {
	tables map[string]bool
	needs  bool
	fields map[string][]string // CurrentFields by table; a table not in it: whole documents
	refs   []syncgate.Reference
	f      func(op *syncgate.Op) *syncgate.Rejection
	calls  int
}

func (g *fakeGuests) NeedsCurrent(t string) bool { return g.needs && g.Guards(t) }
func (g *fakeGuests) CurrentFields(t string, patch bool) ([]string, bool) {
	if !g.Guards(t) {
		return nil, false
	}
	if !g.needs {
		return nil, patch
	}
	f, ok := g.fields[t]
	return f, !ok
}
func (g *fakeGuests) Guards(t string) bool             { return g.tables == nil || g.tables[t] }
func (g *fakeGuests) References() []syncgate.Reference { return g.refs }
func (g *fakeGuests) Run(_ context.Context, b *syncgate.Batch, _ map[string]map[string]syncgate.Doc) ([]syncgate.Op, []syncgate.Rejection, error) {
	g.calls++
	var out []syncgate.Op
	var rej []syncgate.Rejection
	for _, op := range b.Ops {
		if g.Guards(op.Table) && g.f != nil {
			if r := g.f(&op); r != nil {
				rej = append(rej, *r)
				continue
			}
		}
		out = append(out, op)
	}
	return out, rej, nil
}

// fakeRules: no typing; the guests of each stage as given.
type fakeRules struct {
	guests  map[GuestStage]*fakeGuests
	prepare func(*syncgate.Op) error
}

func (fakeRules) Tables() map[string]bool { return nil }
func (r fakeRules) PrepareID(op *syncgate.Op) error {
	if r.prepare != nil {
		return r.prepare(op)
	}
	return nil
}
func (fakeRules) Convert(*syncgate.Op) error { return nil }
func (fakeRules) ID() string                 { return "fake" }
func (r fakeRules) Guests(g GuestStage) Guests {
	if gs, ok := r.guests[g]; ok {
		return gs
	}
	return nil
}

func rejectIf(stage string, code syncgate.Code, pred func(op *syncgate.Op) bool) func(op *syncgate.Op) *syncgate.Rejection {
	return func(op *syncgate.Op) *syncgate.Rejection {
		if !pred(op) {
			return nil
		}
		return &syncgate.Rejection{Index: op.Index, Op: op.Op, Table: op.Table, ID: op.ID, Code: code, Reason: "no", Stage: stage}
	}
}
