package rejected

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/syncgate/syncgate/host/batch"
	"github.com/syncgate/syncgate/host/syncgate"
	"github.com/syncgate/syncgate/host/upload"
)

// memStore keeps records and applied ops in memory; cancelAfter cancels
// the replay's context after that many Apply calls.
type memStore struct {
	records     []syncgate.DeadLetter
	applied     []syncgate.Op
	applies     int
	cancelAfter int
	cancel      context.CancelFunc
}

func (m *memStore) Current(context.Context, []syncgate.Op, map[string][]string) (map[string]map[string]syncgate.Doc, error) {
	return map[string]map[string]syncgate.Doc{"notes": {"n": {}}}, nil // the PATCHes' document exists
}

func (m *memStore) Apply(ctx context.Context, ops []syncgate.Op, stop func(syncgate.Rejection) bool) (syncgate.Written, error) {
	m.applies++
	var w syncgate.Written
	for _, op := range ops {
		if v, _ := op.Data.Get("refuse"); v == true { // the database refuses it: the others are written
			r := syncgate.Rejection{Index: op.Index, Op: op.Op, Table: op.Table, ID: op.ID, Code: syncgate.CodeDuplicateKey, Reason: "taken"}
			if stop != nil && stop(r) {
				panic("a replay is never strict")
			}
			w.Refused = append(w.Refused, r)
			continue
		}
		m.applied = append(m.applied, op)
	}
	if m.applies == m.cancelAfter {
		m.cancel()
	}
	return w, nil
}

func (m *memStore) Lookup(context.Context, string, map[string][]any, string) ([]syncgate.Doc, error) {
	return nil, nil
}

func (m *memStore) RecordConflicts(context.Context, *syncgate.Batch, []syncgate.Rejection) error {
	return nil
}

func (m *memStore) RecordRejections(context.Context, *syncgate.Batch, []syncgate.Rejection) error {
	panic("a replay recorded new dead letters")
}

func (m *memStore) List(_ context.Context, f syncgate.DeadLetterFilter) ([]syncgate.DeadLetter, error) {
	var out []syncgate.DeadLetter
	for _, r := range m.records {
		if (len(f.IDs) == 0 || slices.Contains(f.IDs, r.ID)) && (f.State == "" || f.State == "all" || f.State == r.State) && (f.Table == "" || f.Table == r.Table) {
			out = append(out, r)
		}
	}
	return out, nil // records are kept oldest first
}

func (m *memStore) Get(ctx context.Context, id string) (syncgate.DeadLetter, error) {
	all, _ := m.List(ctx, syncgate.DeadLetterFilter{IDs: []string{id}})
	return all[0], nil
}

func (m *memStore) Mark(_ context.Context, ids []string, mk syncgate.DeadLetterMark, onlyOpen bool) (int64, error) {
	var n int64
	for i := range m.records {
		r := &m.records[i]
		if !slices.Contains(ids, r.ID) || (onlyOpen && r.State != syncgate.StateOpen) {
			continue
		}
		r.State, r.Result = mk.State, mk.Result
		if mk.Code != "" {
			r.Code, r.Reason = mk.Code, mk.Reason
		}
		if mk.Replayed {
			r.Replays++
		}
		n++
	}
	return n, nil
}

func (m *memStore) Purge(context.Context, time.Time, string) (int64, error) { return 0, nil }
func (m *memStore) Count(context.Context, time.Time) ([]syncgate.DeadLetterCount, error) {
	return nil, nil
}

// rules accept everything except data with "bad": true.
type rules struct{ tables map[string]bool }

func (rules) NeedsCurrent(string) bool                    { return false }
func (rules) CurrentFields(string, bool) ([]string, bool) { return nil, true }
func (rules) Guards(string) bool                          { return true }
func (rules) References() []syncgate.Reference            { return nil }
func (rules) Run(_ context.Context, b *syncgate.Batch, _ map[string]map[string]syncgate.Doc) ([]syncgate.Op, []syncgate.Rejection, error) {
	var ok []syncgate.Op
	var rej []syncgate.Rejection
	for _, op := range b.Ops {
		if v, _ := op.Data.Get("bad"); v == true {
			rej = append(rej, syncgate.Rejection{Index: op.Index, Op: op.Op, Table: op.Table, ID: op.ID, Code: "still_bad", Reason: "still bad for " + b.Caller.UserID})
			continue
		}
		ok = append(ok, op)
	}
	return ok, rej, nil
}
func (rules) PrepareID(*syncgate.Op) error { return nil }
func (rules) ID() string                   { return "test" }
func (r rules) Guests(stage batch.GuestStage) batch.Guests {
	if stage == batch.Transform {
		return r
	}
	return nil
}
func (rules) Convert(*syncgate.Op) error { return nil }
func (r rules) Tables() map[string]bool  { return r.tables }

func records() []syncgate.DeadLetter {
	var out []syncgate.DeadLetter
	for i := range 7 {
		user := "alice"
		if i >= 4 {
			user = "bob"
		}
		d := syncgate.DeadLetter{ID: fmt.Sprintf("r%d", i), UserID: user, Op: syncgate.Patch, Table: "notes", DocID: "n",
			Data: syncgate.Doc{{Key: "step", Value: int64(i)}}, State: syncgate.StateOpen, Code: "schema_violation"}
		out = append(out, d)
	}
	out[5].Data = syncgate.Doc{{Key: "bad", Value: true}}
	out[6].Op, out[6].Data, out[6].Raw = "", nil, `{"op":"PUT","table":"notes","id":"raw","data":{"x":1}}`
	return out
}

func TestReplayOrderMarksAndIdempotence(t *testing.T) {
	st := &memStore{records: records()}
	svc := New(st, st, func() (batch.Rules, func(), error) { return rules{}, func() {}, nil }, upload.Limits{MaxDepth: 8})
	svc.Chunk = 3
	var progress []string
	sum, out, err := svc.Replay(t.Context(), syncgate.DeadLetterFilter{}, false, func(d, n int) { progress = append(progress, fmt.Sprintf("%d/%d", d, n)) })
	if err != nil {
		t.Fatal(err)
	}
	if sum.Applied != 6 || sum.Rejected != 1 || len(out) != 7 {
		t.Fatalf("summary %+v outcomes %+v", sum, out)
	}
	// Chunks: alice's 4 in 3+1, then bob's 3.
	if strings.Join(progress, " ") != "3/7 4/7 7/7" || st.applies != 3 {
		t.Fatalf("progress %v, %d applies", progress, st.applies)
	}
	var steps []string
	for _, op := range st.applied {
		steps = append(steps, fmt.Sprint(op.ID, op.Data))
	}
	if len(st.applied) != 6 || st.applied[0].Data[0].Value != int64(0) || st.applied[3].Data[0].Value != int64(3) || st.applied[5].ID != "raw" {
		t.Fatalf("applied out of order: %v", steps)
	}
	if r := st.records[5]; r.State != syncgate.StateOpen || r.Code != "still_bad" || r.Reason != "still bad for bob" || r.Replays != 1 {
		t.Fatalf("refused again: %+v", r)
	}
	if r := st.records[0]; r.State != syncgate.StateReplayed || r.Result != ResultApplied {
		t.Fatalf("applied record: %+v", r)
	}
	// Again: only the refused one is open; it is refused again, nothing applied.
	sum, _, err = svc.Replay(t.Context(), syncgate.DeadLetterFilter{}, false, nil)
	if err != nil || sum.Selected != 1 || sum.Applied != 0 || len(st.applied) != 6 {
		t.Fatalf("second replay: %+v %v (%d applied)", sum, err, len(st.applied))
	}
}

func TestReplayDryRunWritesNothing(t *testing.T) {
	st := &memStore{records: records()}
	svc := New(st, st, func() (batch.Rules, func(), error) { return rules{}, func() {}, nil }, upload.Limits{MaxDepth: 8})
	sum, out, err := svc.Replay(t.Context(), syncgate.DeadLetterFilter{}, true, nil)
	if err != nil || sum.WouldApply != 6 || sum.Rejected != 1 || st.applies != 0 {
		t.Fatalf("dry run: %+v %v, %d applies", sum, err, st.applies)
	}
	if out[0].Result != ResultWouldApply || out[0].Data == nil || st.records[0].Replays != 0 {
		t.Fatalf("dry run outcome %+v record %+v", out[0], st.records[0])
	}
}

// TestReplayInterrupted: cancelled after the first chunk was written, the
// replay stops; that chunk is marked, the rest stays open, and running it
// again finishes the job.
func TestReplayInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	st := &memStore{records: records(), cancelAfter: 1, cancel: cancel}
	svc := New(st, st, func() (batch.Rules, func(), error) { return rules{}, func() {}, nil }, upload.Limits{MaxDepth: 8})
	svc.Chunk = 2
	sum, _, err := svc.Replay(ctx, syncgate.DeadLetterFilter{}, false, nil)
	if err != nil || !sum.Interrupted || sum.Applied != 2 || !strings.Contains(sum.Line(), "interrupted") {
		t.Fatalf("interrupted replay: %+v %v", sum, err)
	}
	open := 0
	for _, r := range st.records {
		if r.State == syncgate.StateOpen {
			open++
		}
	}
	if open != 5 {
		t.Fatalf("%d open after the interruption, want 5", open)
	}
	sum, _, err = svc.Replay(t.Context(), syncgate.DeadLetterFilter{}, false, nil)
	if err != nil || sum.Applied != 4 || sum.Rejected != 1 {
		t.Fatalf("resumed replay: %+v %v", sum, err)
	}
}

func TestReplayRespectsAllowList(t *testing.T) {
	st := &memStore{records: records()[:1]}
	svc := New(st, st, func() (batch.Rules, func(), error) {
		return rules{tables: map[string]bool{"other": true}}, func() {}, nil
	}, upload.Limits{MaxDepth: 8})
	sum, out, err := svc.Replay(t.Context(), syncgate.DeadLetterFilter{}, false, nil)
	if err != nil || sum.Rejected != 1 || out[0].Code != syncgate.CodeTableNotAllowed || len(st.applied) != 0 {
		t.Fatalf("%+v %+v %v", sum, out, err)
	}
}

func TestPurgeNeedsADuration(t *testing.T) {
	svc := New(&memStore{}, &memStore{}, nil, upload.Limits{})
	if _, err := svc.Purge(t.Context(), 0, ""); err == nil {
		t.Fatal("purge without a duration")
	}
}

// TestReplayStoreRefusal: a replay is never strict: the op the database
// refuses is rejected again and the chunk's other records are applied.
func TestReplayStoreRefusal(t *testing.T) {
	recs := records()[:3]
	recs[1].Data = syncgate.Doc{{Key: "refuse", Value: true}}
	st := &memStore{records: recs}
	svc := New(st, st, func() (batch.Rules, func(), error) { return rules{}, func() {}, nil }, upload.Limits{MaxDepth: 8})
	sum, out, err := svc.Replay(t.Context(), syncgate.DeadLetterFilter{}, false, nil)
	if err != nil || sum.Applied != 2 || sum.Rejected != 1 || out[1].Code != syncgate.CodeDuplicateKey || len(st.applied) != 2 {
		t.Fatalf("%+v %+v %v (%d applied)", sum, out, err, len(st.applied))
	}
	if r := st.records[1]; r.State != syncgate.StateOpen || r.Code != syncgate.CodeDuplicateKey || r.Reason != "taken" {
		t.Fatalf("refused record: %+v", r)
	}
}
