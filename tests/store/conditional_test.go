package store_test

import (
	"strings"
	"testing"

	"github.com/syncgate/syncgate/host/store"
	"github.com/syncgate/syncgate/host/syncgate"
	"github.com/syncgate/syncgate/tests/internal/mongostub"
)

// TestConditionalWritesInTransaction: on a replica set a conditional op is
// its own statement inside the batch's transaction; a document that changed
// since the check is a lost conflict (the transaction runs again without
// it), never a success, and a resent increment adds nothing.
func TestConditionalWritesInTransaction(t *testing.T) {
	s, st := openStub(t, mongostub.Config{SetName: "rs0"}, store.Options{})
	if _, err := apply(st, t.Context(), []syncgate.Op{put(0, "orders", "o1", "version", int64(2), "note", "a"), put(1, "orders", "o2", "version", int64(1)),
		put(2, "products", "p1", "stock", int64(10))}); err != nil {
		t.Fatal(err)
	}
	cond := func(op syncgate.Op, expect syncgate.Doc) syncgate.Op {
		op.Write = &syncgate.WriteRule{Expect: expect, OnConflict: "log", Rule: "version"}
		return op
	}
	incr := func(i int, key string, by int64) syncgate.Op {
		op := patch(i, "products", "p1")
		op.Write = &syncgate.WriteRule{Inc: doc("stock", by), IncKey: key, Rule: "increments"}
		return op
	}
	ops := []syncgate.Op{
		cond(patch(0, "orders", "o1", "version", int64(3), "note", "b"), doc("version", int64(2))), // based on the stored version
		cond(patch(1, "orders", "o2", "version", int64(2)), doc("version", int64(7))),              // stale: lost
		cond(put(2, "orders", "o2", "version", int64(9)), doc("version", int64(8))),                // stale PUT: duplicate key, lost
		cond(put(3, "orders", "o3", "version", int64(1)), doc("version", nil)),                     // new document
		incr(4, "k1", -1),
		incr(5, "k2", -3),
		put(6, "orders", "plain"),
	}
	s.Reset()
	rej, err := apply(st, t.Context(), ops)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(names(s.Commands(false)), "abortTransaction"); got != 2 {
		t.Fatalf("commands %q: want each lost conflict to end a transaction", names(s.Commands(false)))
	}
	if len(rej) != 2 || rej[0].Index != 1 || rej[1].Index != 2 {
		t.Fatalf("rejections %+v, want ops 1 and 2", rej)
	}
	for _, r := range rej {
		if r.Code != syncgate.CodeConflict || r.Conflict == nil || r.Conflict.OnConflict != "log" || !strings.Contains(r.Reason, "version: the document changed") {
			t.Fatalf("rejection %+v", r)
		}
	}
	// The lost resend of both increments, and a new one.
	if rej, err := apply(st, t.Context(), []syncgate.Op{incr(0, "k1", -1), incr(1, "k2", -3), incr(2, "k3", 5)}); err != nil || len(rej) != 0 {
		t.Fatalf("resend: %v %+v", err, rej)
	}
	orders, products := stored(s, "orders"), stored(s, "products")
	for id, want := range map[string]string{"o1": `"version": {"$numberLong":"3"}`, "o2": `"version": {"$numberLong":"1"}`, "o3": `"version": {"$numberLong":"1"}`} {
		if !strings.Contains(orders[id], want) {
			t.Errorf("%s: %s, want %s", id, orders[id], want)
		}
	}
	if _, ok := orders["plain"]; !ok {
		t.Error("the plain op after the conflicts was not written")
	}
	if !strings.Contains(products["p1"], `"stock": {"$numberLong":"11"}`) || !strings.Contains(products["p1"], `"k3"`) {
		t.Fatalf("p1 %s, want stock 10 - 1 - 3 + 5 = 11 with the keys", products["p1"])
	}
	// Guests never see the bookkeeping.
	cur, err := st.Current(t.Context(), []syncgate.Op{patch(0, "products", "p1")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := cur["products"]["p1"].Get(store.AppliedOpsField); ok {
		t.Fatalf("Current shows %s: %v", store.AppliedOpsField, cur["products"]["p1"])
	}
}

// TestConditionalStrict: in strict mode a lost conflict that its policy
// logs does not end the batch; one it rejects does.
func TestConditionalStrict(t *testing.T) {
	_, st := openStub(t, mongostub.Config{SetName: "rs0"}, store.Options{})
	if _, err := apply(st, t.Context(), []syncgate.Op{put(0, "orders", "o1", "version", int64(2))}); err != nil {
		t.Fatal(err)
	}
	stale := func(mode syncgate.Settlement) syncgate.Op {
		op := patch(0, "orders", "o1", "version", int64(2))
		op.Write = &syncgate.WriteRule{Expect: doc("version", int64(1)), OnConflict: mode}
		return op
	}
	w, err := st.Apply(t.Context(), []syncgate.Op{stale(syncgate.SettleLog), put(1, "orders", "o2")}, strictStop)
	if err != nil || w.Aborted || len(w.Refused) != 1 || w.Refused[0].Code != syncgate.CodeConflict {
		t.Fatalf("log: %v %+v", err, w)
	}
	if w, err := st.Apply(t.Context(), []syncgate.Op{stale(syncgate.SettleReject), put(1, "orders", "o3")}, strictStop); err != nil || !w.Aborted {
		t.Fatalf("reject: %v %+v, want the transaction aborted", err, w)
	}
}
