package sandbox

import (
	"testing"

	"github.com/syncgate/syncgate/host/syncgate"
)

// TestRejectTransaction: a verdict with reject_tx takes the batch's other
// ops of the same tx_id with it (earlier and later ones, whichever stage),
// and leaves other transactions and ops without a tx_id alone.
func TestRejectTransaction(t *testing.T) {
	rt := newRuntime(t, Limits{}, nil)
	g := load(t, rt, "hostile", 1, nil)
	echo := load(t, rt, "echo", 1, nil)
	p := NewPipeline([]Stage{{Guest: g, Tables: map[string]bool{"rejecttx": true}}, {Guest: echo}}, 64)
	ops := []syncgate.Op{
		put("other", "a", nil),    // tx 1, another table: still rejected
		put("rejecttx", "b", nil), // tx 1
		put("rejecttx", "bad", nil),
		put("rejecttx", "c", nil), // tx 2
		put("rejecttx", "d", nil), // no tx
		put("rejecttx", "bad", nil),
	}
	for i, tx := range []any{int64(1), int64(1), int64(1), int64(2), nil, nil} {
		ops[i].TxID = tx
	}
	accepted, rejected, err := p.Run(t.Context(), batch(ops...), nil)
	if err != nil {
		t.Fatal(err)
	}
	got := map[int]syncgate.Code{}
	for _, r := range rejected {
		got[r.Index] = r.Code
	}
	want := map[int]syncgate.Code{0: syncgate.CodeTransactionRejected, 1: syncgate.CodeTransactionRejected, 2: "bad_tx", 5: "bad_tx"}
	if len(got) != len(want) {
		t.Fatalf("rejected %v, want %v", rejected, want)
	}
	for i, c := range want {
		if got[i] != c {
			t.Errorf("op %d: got %q, want %q (all: %v)", i, got[i], c, rejected)
		}
	}
	if len(accepted) != 2 || accepted[0].ID != "c" || accepted[1].ID != "d" {
		t.Fatalf("accepted %v, want c and d", accepted)
	}
}
