package batch

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/syncgate/syncgate/host/syncgate"
)

func codesOf(rs []syncgate.Rejection) []string {
	var out []string
	for _, r := range rs {
		out = append(out, fmt.Sprintf("%d:%s@%s", r.Index, r.Code, r.Stage))
	}
	return out
}

// TestPatchLookups: a PATCH's document is looked up before the write only
// where a guest guards the table, in strict mode, and in a dry run (which
// writes nothing, so only a lookup can tell); elsewhere the store's answer
// at the write rejects a missing one. Either way the client sees the same
// not_found rejection.
func TestPatchLookups(t *testing.T) {
	ops := []syncgate.Op{
		{Index: 0, Op: syncgate.Patch, Table: "guarded", ID: "a"},
		{Index: 1, Op: syncgate.Patch, Table: "guarded", ID: "ghost"},
		{Index: 2, Op: syncgate.Patch, Table: "open", ID: "a"},
		{Index: 3, Op: syncgate.Patch, Table: "open", ID: "ghost"},
		{Index: 4, Op: syncgate.Delete, Table: "open", ID: "gone"},
		{Index: 5, Op: syncgate.Patch, Table: "open", ID: "gone"}, // deleted just before: no lookup needed
	}
	rules := fakeRules{guests: map[GuestStage]*fakeGuests{Transform: {tables: map[string]bool{"guarded": true}}}}
	for _, tc := range []struct {
		name     string
		strict   bool
		dryRun   bool
		looked   []string
		notFound []string
	}{
		{name: "default", looked: []string{"guarded/a", "guarded/ghost"}, notFound: []string{"1:not_found@lookup", "3:not_found@write", "5:not_found@lookup"}},
		{name: "strict", strict: true, looked: []string{"guarded/a", "guarded/ghost", "open/a", "open/ghost", "open/gone"}},
		{name: "check", dryRun: true, looked: []string{"guarded/a", "guarded/ghost", "open/a", "open/ghost", "open/gone"}, notFound: []string{"1:not_found@lookup", "3:not_found@lookup", "5:not_found@lookup"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := &fakeStore{}
			svc := New(Config{Strict: tc.strict}, st)
			b := &syncgate.Batch{Ops: ops}
			var rejected []syncgate.Rejection
			switch {
			case tc.dryRun:
				_, r, err := svc.Check(t.Context(), rules, b)
				if err != nil {
					t.Fatal(err)
				}
				rejected = r
				if len(st.applied) != 0 {
					t.Error("a dry run wrote")
				}
			case tc.strict:
				_, err := svc.Run(t.Context(), rules, b)
				e := syncgate.AsError(err)
				if e.Kind != syncgate.Rejected || len(e.Details) != 3 || !strings.Contains(e.Details[0], "batch[1]") {
					t.Fatalf("strict: %v %q: want the batch refused for ops 1, 3, 5", err, e.Details)
				}
				if len(st.applied) != 0 {
					t.Error("strict mode wrote a refused batch")
				}
			default:
				res, err := svc.Run(t.Context(), rules, b)
				if err != nil {
					t.Fatal(err)
				}
				rejected = res.Rejected
				if res.Applied != 3 {
					t.Errorf("applied %d, want 3 (0, 2 and the DELETE 4)", res.Applied)
				}
			}
			if !slices.Equal(st.looked, tc.looked) {
				t.Errorf("looked up %v, want %v", st.looked, tc.looked)
			}
			if got := codesOf(rejected); !slices.Equal(got, tc.notFound) {
				t.Errorf("rejections %v, want %v", got, tc.notFound)
			}
		})
	}
}

// TestCurrentProjection: stored documents are read in part only where every
// guest that needs them narrowed them (Guests.CurrentFields), with the
// columns naming parents added; whole where a guest reads them whole, where
// a guarding guest checks PATCHes over them (schema gate), and in a parent
// collection.
func TestCurrentProjection(t *testing.T) {
	ops := []syncgate.Op{
		{Index: 0, Op: syncgate.Put, Table: "lists", ID: "a", Data: syncgate.Doc{{Key: "name", Value: "x"}}},
		{Index: 1, Op: syncgate.Delete, Table: "todos", ID: "b"},
		{Index: 2, Op: syncgate.Delete, Table: "notes", ID: "c"},
	}
	authorize := func() *fakeGuests {
		return &fakeGuests{needs: true, fields: map[string][]string{"lists": {"owner_id"}, "todos": {"created_by"}}}
	}
	for _, tc := range []struct {
		name   string
		guests map[GuestStage]*fakeGuests
		want   []string
	}{
		{"narrowed", map[GuestStage]*fakeGuests{Authorize: authorize()}, []string{"lists [owner_id]", "todos [created_by]"}},
		{"another guest reads them whole", map[GuestStage]*fakeGuests{Authorize: authorize(),
			Policies: {needs: true, tables: map[string]bool{"todos": true}}}, []string{"lists [owner_id]"}},
		{"a guest narrows them too", map[GuestStage]*fakeGuests{Authorize: authorize(),
			Transform: {needs: true, tables: map[string]bool{"todos": true}, fields: map[string][]string{"todos": {"done"}}}}, []string{"lists [owner_id]", "todos [created_by done]"}},
		{"a column names a parent", map[GuestStage]*fakeGuests{Authorize: func() *fakeGuests {
			g := authorize()
			g.refs = []syncgate.Reference{{Table: "todos", Column: "list_id", Parent: "lists", Field: "_id"}}
			return g
		}()}, []string{"todos [created_by list_id]"}},
		{"the schema gate guards", map[GuestStage]*fakeGuests{Authorize: authorize(),
			SchemaGate: {tables: map[string]bool{"lists": true}}}, []string{"lists [owner_id]", "todos [created_by]"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := &fakeStore{}
			if _, err := New(Config{}, st).Run(t.Context(), fakeRules{guests: tc.guests}, &syncgate.Batch{Ops: ops}); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(st.projected, tc.want) {
				t.Errorf("projected %q, want %q", st.projected, tc.want)
			}
		})
	}
	// A PATCH on a table the schema gate guards: its stored document is
	// read whole (the gate checks the PATCH over it).
	st := &fakeStore{}
	patch := []syncgate.Op{{Index: 0, Op: syncgate.Patch, Table: "lists", ID: "a", Data: syncgate.Doc{{Key: "name", Value: "y"}}}}
	rules := fakeRules{guests: map[GuestStage]*fakeGuests{Authorize: authorize(), SchemaGate: {tables: map[string]bool{"lists": true}}}}
	if _, err := New(Config{}, st).Run(t.Context(), rules, &syncgate.Batch{Ops: patch}); err != nil {
		t.Fatal(err)
	}
	if len(st.projected) != 0 {
		t.Errorf("projected %q for a PATCH the schema gate checks", st.projected)
	}
}

// TestStagesInOrder: the guest stages run in the documented order, every
// stage is observed once, a rejection names the stage that decided it, and
// an op rejected by one stage is seen by no later one.
func TestStagesInOrder(t *testing.T) {
	var order []string
	stageGuests := func(name string, reject string) *fakeGuests {
		return &fakeGuests{f: func(op *syncgate.Op) *syncgate.Rejection {
			order = append(order, name+":"+op.ID)
			if op.ID == reject {
				return &syncgate.Rejection{Index: op.Index, Op: op.Op, Table: op.Table, ID: op.ID, Code: "no_" + syncgate.Code(name), Reason: "no"}
			}
			return nil
		}}
	}
	rules := fakeRules{
		guests: map[GuestStage]*fakeGuests{
			Transform: stageGuests("t", "x1"), Authorize: stageGuests("a", "x2"),
			SchemaGate: stageGuests("s", "x3"), Policies: stageGuests("p", "x4"),
		},
		prepare: func(op *syncgate.Op) error {
			if op.ID == "bad" {
				return errors.New("id: not hex")
			}
			return nil
		},
	}
	var observed []string
	st := &fakeStore{refuse: map[string]bool{"dup": true}}
	svc := New(Config{Observer: func(stage string, d time.Duration) { observed = append(observed, stage) }}, st)
	var ops []syncgate.Op
	for i, id := range []string{"ok", "x1", "x2", "x3", "x4", "bad", "dup"} {
		ops = append(ops, syncgate.Op{Index: i, Op: syncgate.Put, Table: "t", ID: id, Data: syncgate.Doc{}})
	}
	b := &syncgate.Batch{Ops: ops, Refused: []syncgate.Rejection{{Index: 7, Code: syncgate.CodeInvalidJSON, Reason: "bad entry"}}}
	res, err := svc.Run(t.Context(), rules, b)
	if err != nil {
		t.Fatal(err)
	}
	if want := StageNames(); !slices.Equal(observed, want) {
		t.Errorf("observed %v, want %v", observed, want)
	}
	if want := []string{"prepare", "lookup", "guests", "authorize", "schemagate", "policies", "convert", "write", "settle"}; !slices.Equal(StageNames(), want) {
		t.Errorf("stages %v, want %v", StageNames(), want)
	}
	want := []string{"1:no_t@guests", "2:no_a@authorize", "3:no_s@schemagate", "4:no_p@policies", "5:type_conversion@prepare", "6:duplicate_key@write", "7:invalid_json@decode"}
	if got := codesOf(res.Rejected); !slices.Equal(got, want) {
		t.Errorf("rejections %v, want %v", got, want)
	}
	if res.Applied != 1 {
		t.Errorf("applied %d, want 1", res.Applied)
	}
	wantOrder := "t:ok t:x1 t:x2 t:x3 t:x4 t:dup a:ok a:x2 a:x3 a:x4 a:dup s:ok s:x3 s:x4 s:dup p:ok p:x4 p:dup"
	if got := strings.Join(order, " "); got != wantOrder {
		t.Errorf("guests saw\n%s\nwant\n%s", got, wantOrder)
	}
	if got := codesOf(st.recorded); !slices.Equal(got, want) {
		t.Errorf("dead letters %v, want %v", got, want)
	}
	if b.RulesID != "fake" {
		t.Errorf("batch's rules id %q", b.RulesID)
	}
	// A dry run stops before the write and records nothing.
	observed = nil
	st2 := &fakeStore{}
	if _, _, err := New(Config{Observer: func(stage string, _ time.Duration) { observed = append(observed, stage) }}, st2).Check(t.Context(), rules, &syncgate.Batch{Ops: ops}); err != nil {
		t.Fatal(err)
	}
	if slices.Contains(observed, "write") || slices.Contains(observed, "settle") || len(st2.applied)+len(st2.recorded) != 0 {
		t.Errorf("dry run: stages %v, wrote %d, recorded %d", observed, len(st2.applied), len(st2.recorded))
	}
}

// TestRejectedPutTakesItsPatch: a PATCH of a document that only an earlier
// PUT of the batch creates is rejected (not_found) by the stage that
// rejects the PUT, and never reaches the store.
func TestRejectedPutTakesItsPatch(t *testing.T) {
	rules := fakeRules{guests: map[GuestStage]*fakeGuests{
		Authorize: {f: rejectIf("guest:authorize", syncgate.CodeForbidden, func(op *syncgate.Op) bool { return op.Op == syncgate.Put })},
	}}
	st := &fakeStore{}
	for _, dry := range []bool{false, true} {
		ops := []syncgate.Op{
			{Index: 0, Op: syncgate.Put, Table: "t", ID: "new", Data: syncgate.Doc{}},
			{Index: 1, Op: syncgate.Patch, Table: "t", ID: "new", Data: syncgate.Doc{}},
			{Index: 2, Op: syncgate.Patch, Table: "t", ID: "a", Data: syncgate.Doc{}},
		}
		var rejected []syncgate.Rejection
		if dry {
			_, r, err := New(Config{}, st).Check(t.Context(), rules, &syncgate.Batch{Ops: ops})
			if err != nil {
				t.Fatal(err)
			}
			rejected = r
		} else {
			res, err := New(Config{}, st).Run(t.Context(), rules, &syncgate.Batch{Ops: ops})
			if err != nil {
				t.Fatal(err)
			}
			rejected = res.Rejected
			if len(st.applied) != 1 || len(st.applied[0]) != 1 || st.applied[0][0].Index != 2 {
				t.Errorf("written %v, want only op 2", st.applied)
			}
		}
		if got, want := codesOf(rejected), []string{"0:forbidden@guest:authorize", "1:not_found@guest:authorize"}; !slices.Equal(got, want) {
			t.Errorf("dry run %v: %v, want %v", dry, got, want)
		}
	}
}

// TestSettlements: a lost conflict is dropped (neither applied nor
// rejected), logged (recorded as a conflict, not a dead letter) or rejected,
// as its policy says, whether a guest or the write lost it; in strict mode
// only rejections refuse the batch.
func TestSettlements(t *testing.T) {
	lost := func(mode syncgate.Settlement) func(op *syncgate.Op) *syncgate.Rejection {
		return func(op *syncgate.Op) *syncgate.Rejection {
			if !strings.HasPrefix(op.ID, string(mode)) {
				return nil
			}
			return &syncgate.Rejection{Index: op.Index, Op: op.Op, Table: op.Table, ID: op.ID, Code: syncgate.CodeConflict, Reason: "lost",
				Conflict: &syncgate.ConflictInfo{OnConflict: mode, Rule: "lww"}}
		}
	}
	for _, mode := range []syncgate.Settlement{syncgate.SettleDrop, syncgate.SettleLog, syncgate.SettleReject, ""} {
		for _, strict := range []bool{false, true} {
			rules := fakeRules{guests: map[GuestStage]*fakeGuests{Policies: {f: lost(mode)}}}
			st := &fakeStore{}
			ops := []syncgate.Op{{Index: 0, Op: syncgate.Put, Table: "t", ID: "ok", Data: syncgate.Doc{}}, {Index: 1, Op: syncgate.Put, Table: "t", ID: string(mode) + "x", Data: syncgate.Doc{}}}
			if mode == "" {
				ops[1].ID = "a" // "" prefixes every id: every op loses
			}
			res, err := New(Config{Strict: strict}, st).Run(t.Context(), rules, &syncgate.Batch{Ops: ops})
			name := fmt.Sprintf("%q strict=%v", mode, strict)
			refuses := mode == syncgate.SettleReject || mode == ""
			if strict && refuses {
				if syncgate.AsError(err).Kind != syncgate.Rejected || len(st.applied) != 0 {
					t.Errorf("%s: %v, wrote %d: want the batch refused", name, err, len(st.applied))
				}
				continue
			}
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			switch mode {
			case syncgate.SettleDrop:
				if res.Applied != 1 || len(res.Rejected)+len(st.recorded)+len(st.logged) != 0 {
					t.Errorf("%s: %+v logged %v", name, res, st.logged)
				}
			case syncgate.SettleLog:
				if res.Applied != 1 || len(res.Rejected)+len(st.recorded) != 0 || len(st.logged) != 1 || st.logged[0].Index != 1 {
					t.Errorf("%s: %+v logged %v", name, res, st.logged)
				}
			default:
				if len(res.Rejected) == 0 || res.Rejected[len(res.Rejected)-1].Code != syncgate.CodeConflict || len(st.logged) != 0 || len(st.recorded) != len(res.Rejected) {
					t.Errorf("%s: %+v logged %v", name, res, st.logged)
				}
			}
		}
	}
}

// TestStrictAtTheWrite: in strict mode a refusal at the write aborts a
// transaction (nothing written) or, without transactions, is reported with
// what was written; either way a 422.
func TestStrictAtTheWrite(t *testing.T) {
	for _, txn := range []bool{true, false} {
		st := &fakeStore{refuse: map[string]bool{"dup": true}, txn: txn}
		ops := []syncgate.Op{{Index: 0, Op: syncgate.Put, Table: "t", ID: "ok", Data: syncgate.Doc{}}, {Index: 1, Op: syncgate.Put, Table: "t", ID: "dup", Data: syncgate.Doc{}}}
		_, err := New(Config{Strict: true}, st).Run(t.Context(), fakeRules{}, &syncgate.Batch{Ops: ops})
		e := syncgate.AsError(err)
		want := "nothing was written"
		if !txn {
			want = "the other ops were written"
		}
		if e.Kind != syncgate.Rejected || !strings.Contains(e.Message, want) || len(e.Details) != 1 || !strings.Contains(e.Details[0], "batch[1]") {
			t.Errorf("txn=%v: %v %q", txn, err, e.Details)
		}
		if len(st.recorded) != 0 {
			t.Errorf("txn=%v: strict mode recorded dead letters", txn)
		}
	}
}

// TestIncKeys: the key is the client's op, not what guests made of it, so
// a resend keeps it; another op or user gets another.
func TestIncKeys(t *testing.T) {
	orig := syncgate.Op{Index: 0, Op: syncgate.Patch, Table: "p", ID: "1", OpID: int64(7), Data: syncgate.Doc{{Key: "n", Value: int64(9)}},
		Old: syncgate.Doc{{Key: "n", Value: int64(10)}}}
	key := func(user string, o syncgate.Op, stamp string) string {
		st := &state{b: &syncgate.Batch{Ops: []syncgate.Op{o}, Caller: syncgate.Caller{UserID: user}}}
		accepted := o
		accepted.Data = syncgate.Doc{{Key: "updated_at", Value: stamp}} // what a guest made of it
		accepted.Write = &syncgate.WriteRule{Inc: syncgate.Doc{{Key: "n", Value: int64(-1)}}}
		st.ops = []syncgate.Op{accepted}
		st.setIncKeys()
		return st.ops[0].Write.IncKey
	}
	k := key("u1", orig, "t1")
	if k == "" || key("u1", orig, "t2") != k {
		t.Fatal("a resend with other guest output changed the key")
	}
	other := orig
	other.OpID = int64(8)
	if key("u2", orig, "t1") == k || key("u1", other, "t1") == k {
		t.Fatal("another user or op has the same key")
	}
}
