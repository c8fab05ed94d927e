package upload

import (
	"slices"
	"testing"

	"github.com/syncgate/syncgate/host/syncgate"
)

func TestSettleConflicts(t *testing.T) {
	c := func(i int, mode string) syncgate.Rejection {
		return syncgate.Rejection{Index: i, Code: syncgate.CodeConflict, Conflict: &syncgate.ConflictInfo{OnConflict: mode}}
	}
	in := []syncgate.Rejection{c(0, "reject"), c(1, "drop"), c(2, "log"), {Index: 3, Code: syncgate.CodeSchemaViolation}}
	kept, logged := settleConflicts(in, nil, true)
	if len(kept) != 2 || kept[0].Index != 0 || kept[1].Index != 3 || len(logged) != 1 || logged[0].Index != 2 {
		t.Fatalf("kept %+v logged %+v", kept, logged)
	}
	// A store that cannot record them rejects what would be logged.
	kept, logged = settleConflicts(in, nil, false)
	if len(kept) != 3 || len(logged) != 0 {
		t.Fatalf("without a recorder: kept %+v logged %+v", kept, logged)
	}
}

// TestIncKeys: the key is the client's op, not what guests made of it, so a
// resend keeps it; another op or user gets another.
func TestIncKeys(t *testing.T) {
	orig := syncgate.Op{Index: 0, Op: syncgate.Patch, Table: "p", ID: "1", OpID: int64(7), Data: syncgate.Doc{{Key: "n", Value: int64(9)}},
		Old: syncgate.Doc{{Key: "n", Value: int64(10)}}}
	key := func(user string, o syncgate.Op, stamp string) string {
		b := &syncgate.Batch{Ops: []syncgate.Op{o}, Caller: syncgate.Caller{UserID: user}}
		accepted := o
		accepted.Data = syncgate.Doc{{Key: "updated_at", Value: stamp}} // what a guest made of it
		accepted.Write = &syncgate.WriteRule{Inc: syncgate.Doc{{Key: "n", Value: int64(-1)}}}
		ops := []syncgate.Op{accepted}
		setIncKeys(b, ops)
		return ops[0].Write.IncKey
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

func TestConvertExpect(t *testing.T) {
	// Like schemas.Convert, the converter replaces the op's data with a
	// converted copy: the expected values must come from the copy.
	conv := func(op *syncgate.Op) error {
		data := slices.Clone(op.Data)
		for i, f := range data {
			if f.Key == "done" {
				data[i].Value = f.Value == int64(1)
			}
		}
		op.Data = data
		return nil
	}
	w := &syncgate.WriteRule{Expect: syncgate.Doc{{Key: "done", Value: int64(1)}}}
	op := syncgate.Op{Op: syncgate.Delete, Write: w}
	if err := convertExpect(conv)(&op); err != nil {
		t.Fatal(err)
	}
	if op.Write.Expect[0].Value != true {
		t.Fatalf("expect %v: not converted", op.Write.Expect)
	}
	if w.Expect[0].Value != int64(1) {
		t.Fatalf("the guest's write rule was changed in place: %v", w.Expect)
	}
}
