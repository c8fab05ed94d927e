package upload

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/syncgate/syncgate/host/syncgate"
)

// lookStore records the ops whose documents were looked up; "a" is stored,
// and Apply rejects a PATCH of any other document, as the store does at
// the write.
type lookStore struct{ looked []string }

func (s *lookStore) Current(_ context.Context, ops []syncgate.Op) (map[string]map[string]syncgate.Doc, error) {
	out := map[string]map[string]syncgate.Doc{}
	for _, op := range ops {
		s.looked = append(s.looked, op.Table+"/"+op.ID)
		if out[op.Table] == nil {
			out[op.Table] = map[string]syncgate.Doc{}
		}
		if op.ID == "a" {
			out[op.Table]["a"] = syncgate.Doc{}
		}
	}
	return out, nil
}

func (s *lookStore) Apply(_ context.Context, ops []syncgate.Op) ([]syncgate.Rejection, error) {
	var rej []syncgate.Rejection
	for _, op := range ops {
		if op.Op == syncgate.Patch && op.ID != "a" {
			rej = append(rej, syncgate.PatchNotFound(op))
		}
	}
	return rej, nil
}

func (s *lookStore) RecordRejections(context.Context, *syncgate.Batch, []syncgate.Rejection) error {
	return nil
}

// lookRules guard the tables in guarded and accept everything.
type lookRules struct{ guarded map[string]bool }

func (lookRules) NeedsCurrent(string) bool     { return false }
func (r lookRules) Guards(table string) bool   { return r.guarded[table] }
func (lookRules) PrepareID(*syncgate.Op) error { return nil }
func (lookRules) Convert(*syncgate.Op) error   { return nil }
func (lookRules) Tables() map[string]bool      { return nil }
func (lookRules) Run(_ context.Context, b *syncgate.Batch, _ map[string]map[string]syncgate.Doc) ([]syncgate.Op, []syncgate.Rejection, error) {
	return b.Ops, nil, nil
}

// TestPatchLookups: a PATCH's document is looked up before the write only
// where a guest guards the table, in strict mode, and in Check (a dry run
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
	rules := lookRules{guarded: map[string]bool{"guarded": true}}
	for _, tc := range []struct {
		name     string
		strict   bool
		dryRun   bool
		looked   []string
		notFound []int
	}{
		{name: "default", looked: []string{"guarded/a", "guarded/ghost"}, notFound: []int{1, 3, 5}},
		{name: "strict", strict: true, looked: []string{"guarded/a", "guarded/ghost", "open/a", "open/ghost", "open/gone"}, notFound: []int{1, 3, 5}},
		{name: "check", dryRun: true, looked: []string{"guarded/a", "guarded/ghost", "open/a", "open/ghost", "open/gone"}, notFound: []int{1, 3, 5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := &lookStore{}
			h := New(Config{Strict: tc.strict}, st, nil, nil)
			b := &syncgate.Batch{Ops: ops}
			var rejected []syncgate.Rejection
			var err error
			switch {
			case tc.dryRun:
				_, rejected, err = h.Check(t.Context(), rules, b)
			case tc.strict:
				_, err = h.Apply(t.Context(), rules, b)
				e := syncgate.AsError(err)
				if e.Kind != syncgate.Rejected {
					t.Fatalf("strict: %v: want the batch refused", err)
				}
				err = nil
				for _, d := range e.Details { // batch[N] OP table/id: code: reason
					var r syncgate.Rejection
					if _, err := fmt.Sscanf(d, "batch[%d] %s %s %s", &r.Index, &r.Op, &r.Table, &r.Code); err != nil {
						t.Fatalf("detail %q: %v", d, err)
					}
					r.Code = syncgate.Code(strings.TrimSuffix(string(r.Code), ":"))
					rejected = append(rejected, r)
				}
			default:
				var res *syncgate.Result
				res, err = h.Apply(t.Context(), rules, b)
				if err == nil {
					rejected = res.Rejected
					if res.Applied != 3 {
						t.Errorf("applied %d, want 3", res.Applied)
					}
				}
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(st.looked, tc.looked) {
				t.Errorf("looked up %v, want %v", st.looked, tc.looked)
			}
			var got []int
			for _, r := range rejected {
				if r.Code != syncgate.CodeDocumentNotFound {
					t.Errorf("rejection %+v", r)
				}
				got = append(got, r.Index)
			}
			if !slices.Equal(got, tc.notFound) {
				t.Errorf("not_found %v, want %v", got, tc.notFound)
			}
		})
	}
}

// TestReadAll: the body whatever the size hint, and a read error with what
// came before it.
func TestReadAll(t *testing.T) {
	body := strings.Repeat("0123456789", 300)
	for _, size := range []int64{1, 512, int64(len(body)), int64(len(body)) + 1, 10000} {
		got, err := readAll(iotest.HalfReader(strings.NewReader(body)), size)
		if err != nil || string(got) != body {
			t.Fatalf("size %d: %d bytes, %v", size, len(got), err)
		}
	}
	boom := errors.New("boom")
	got, err := readAll(io.MultiReader(strings.NewReader("abc"), iotest.ErrReader(boom)), 512)
	if !errors.Is(err, boom) || string(got) != "abc" {
		t.Fatalf("%q %v", got, err)
	}
}
