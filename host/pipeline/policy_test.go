package pipeline

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/syncgate/syncgate/host/syncgate"
)

// TestApplyPolicyMerges: the conditions of several stages hold together,
// the strictest settlement wins, rules are named once, and an increment
// takes its field out of the data without touching the batch's copy.
func TestApplyPolicyMerges(t *testing.T) {
	data := syncgate.Doc{{Key: "n", Value: int64(11)}, {Key: "note", Value: "x"}}
	op := syncgate.Op{Op: syncgate.Patch, Data: data}
	steps := []struct {
		guest string
		v     verdictPolicy
	}{
		{"lww", verdictPolicy{Expect: json.RawMessage(`{"updated_at":"2026-01-01T00:00:00Z"}`), OnConflict: "log", Rule: "lww"}},
		{"version", verdictPolicy{Expect: json.RawMessage(`{"version":3}`), OnConflict: "drop"}},
		{"increments", verdictPolicy{Inc: json.RawMessage(`{"n":1}`), Rule: "increments"}},
		{"lww", verdictPolicy{Rule: "lww"}},
	}
	for _, s := range steps {
		if err := applyPolicy(&op, s.v, 10, s.guest); err != nil {
			t.Fatal(err)
		}
	}
	want := &syncgate.WriteRule{
		Expect:     syncgate.Doc{{Key: "updated_at", Value: "2026-01-01T00:00:00Z"}, {Key: "version", Value: int64(3)}},
		Inc:        syncgate.Doc{{Key: "n", Value: int64(1)}},
		OnConflict: "log", Rule: "lww+version+increments",
	}
	if !reflect.DeepEqual(op.Write, want) {
		t.Fatalf("got %+v\nwant %+v", op.Write, want)
	}
	if len(op.Data) != 1 || op.Data[0].Key != "note" || data[0].Key != "n" {
		t.Fatalf("data %v (batch's %v)", op.Data, data)
	}
	for _, c := range []struct {
		op   syncgate.OpType
		v    verdictPolicy
		want string
	}{
		{syncgate.Put, verdictPolicy{Inc: json.RawMessage(`{"n":1}`)}, "only a PATCH adds"},
		{syncgate.Patch, verdictPolicy{Inc: json.RawMessage(`{"n":"1"}`)}, "inc.n: not a number"},
		{syncgate.Patch, verdictPolicy{OnConflict: "maybe"}, "want reject, drop or log"},
		{syncgate.Patch, verdictPolicy{Expect: json.RawMessage(`{"$gt":1}`)}, "expect:"},
	} {
		op := syncgate.Op{Op: c.op}
		if err := applyPolicy(&op, c.v, 10, "g"); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: got %v, want %q", c.v, err, c.want)
		}
	}
	if info := (verdictPolicy{}).conflictInfo("lww"); info.OnConflict != "reject" || info.Rule != "lww" {
		t.Errorf("default settlement %+v", info)
	}
}

func TestAppendOpExtras(t *testing.T) {
	op := syncgate.Op{Old: syncgate.Doc{{Key: "n", Value: int64(1)}}, OpID: int64(7), TxID: "t", Metadata: "m"}
	got, err := appendOpExtras(nil, op)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(got), `,"old":{"n":1},"metadata":"m","op_id":7,"tx_id":"t"`; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}
