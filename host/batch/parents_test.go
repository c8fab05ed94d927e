package batch

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/syncgate/syncgate/host/syncgate"
)

// TestParents: a guest that declares todos.list_id → lists._id gets each
// todo's list with it, read in one lookup per parent collection per batch,
// as the batch's earlier ops leave it; a todo whose list came from a list
// op the stage rejected is rejected with it; later stages get no parents.
func TestParents(t *testing.T) {
	ref := syncgate.Reference{Table: "todos", Column: "list_id", Parent: "lists", Field: "_id"}
	byUser := syncgate.Reference{Table: "todos", Parent: "members", Field: "user", ByUser: true}
	seen := map[string]string{} // todo id → its parents as the guest saw them
	owner := func(op *syncgate.Op) *syncgate.Rejection {
		if op.Table == "lists" { // a list op is allowed when it names alice, and L2 is bob's
			if v, _ := op.Data.Get("owner"); op.ID == "L2" || v != "alice" && op.Op != syncgate.Delete {
				return &syncgate.Rejection{Index: op.Index, Op: op.Op, Table: op.Table, ID: op.ID, Code: syncgate.CodeForbidden, Reason: "not yours", Stage: "guest:authorize"}
			}
			return nil
		}
		var names []string
		for _, d := range op.Parents["lists"] {
			id, _ := d.Get("_id")
			o, _ := d.Get("owner")
			names = append(names, fmt.Sprintf("%v:%v", id, o))
		}
		seen[op.ID] = strings.Join(names, ",") + fmt.Sprintf("/%d members", len(op.Parents["members"]))
		for _, d := range op.Parents["lists"] {
			if o, _ := d.Get("owner"); o == "alice" {
				return nil
			}
		}
		return &syncgate.Rejection{Index: op.Index, Op: op.Op, Table: op.Table, ID: op.ID, Code: syncgate.CodeForbidden, Reason: "list not yours", Stage: "guest:authorize"}
	}
	later := &fakeGuests{f: func(op *syncgate.Op) *syncgate.Rejection {
		if op.Parents != nil {
			t.Errorf("the schema gate got parents for %s", op.ID)
		}
		return nil
	}}
	rules := fakeRules{guests: map[GuestStage]*fakeGuests{
		Authorize:  {f: owner, refs: []syncgate.Reference{ref, byUser}},
		SchemaGate: later,
	}}
	st := &fakeStore{docs: map[string][]syncgate.Doc{
		"lists": {
			{{Key: "_id", Value: "L1"}, {Key: "owner", Value: "alice"}},
			{{Key: "_id", Value: "L2"}, {Key: "owner", Value: "bob"}},
			{{Key: "_id", Value: "L3"}, {Key: "owner", Value: "alice"}},
		},
	}}
	put := func(i int, table, id string, kv ...any) syncgate.Op {
		d := syncgate.Doc{}
		for j := 0; j < len(kv); j += 2 {
			d = append(d, syncgate.Field{Key: kv[j].(string), Value: kv[j+1]})
		}
		return syncgate.Op{Index: i, Op: syncgate.Put, Table: table, ID: id, Data: d}
	}
	ops := []syncgate.Op{
		put(0, "todos", "t1", "list_id", "L1"),  // alice's list: allowed
		put(1, "todos", "t2", "list_id", "L2"),  // bob's: refused
		put(2, "lists", "L4", "owner", "alice"), // a new list of alice's...
		put(3, "todos", "t3", "list_id", "L4"),  // ...makes its todo writable
		{Index: 4, Op: syncgate.Delete, Table: "lists", ID: "L3"},
		put(5, "todos", "t4", "list_id", "L3"),    // deleted earlier: gone
		put(6, "lists", "L5", "owner", "mallory"), // refused by the stage...
		put(7, "todos", "t5", "list_id", "L5"),    // ...so its todo sees mallory's list: refused
		put(8, "lists", "L2", "owner", "alice"),   // taking bob's list is refused...
		put(9, "todos", "t6", "list_id", "L2"),    // ...but the guest saw alice's overlay: rejected with it
	}
	res, err := New(Config{}, st).Run(t.Context(), rules, &syncgate.Batch{Ops: ops, Caller: syncgate.Caller{UserID: "alice"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(st.lookups) != 2 || !strings.HasPrefix(st.lookups[0], "lists map[_id:[L1 L2 L4 L3 L5]]") || !strings.HasPrefix(st.lookups[1], "members map[user:[alice]]") {
		t.Errorf("lookups %q: want one per parent collection", st.lookups)
	}
	want := map[string]string{"t1": "L1:alice/0 members", "t2": "L2:bob/0 members", "t3": "L4:alice/0 members", "t4": "/0 members", "t5": "L5:mallory/0 members", "t6": "L2:alice/0 members"}
	for id, w := range want {
		if seen[id] != w {
			t.Errorf("%s saw parents %q, want %q", id, seen[id], w)
		}
	}
	got := codesOf(res.Rejected)
	wantRej := []string{"1:forbidden@guest:authorize", "5:forbidden@guest:authorize", "6:forbidden@guest:authorize", "7:forbidden@guest:authorize", "8:forbidden@guest:authorize", "9:forbidden@guest:authorize"}
	if !slices.Equal(got, wantRej) {
		t.Errorf("rejections %v, want %v", got, wantRej)
	}
	if r := res.Rejected[len(res.Rejected)-1]; !strings.Contains(r.Reason, "relies on op 8") {
		t.Errorf("t6's reason %q: want the op it relied on", r.Reason)
	}
	if res.Applied != 4 {
		t.Errorf("applied %d, want 4 (t1, L4, t3, the DELETE of L3)", res.Applied)
	}
}

// TestParentsReadWithTheirOps: a parent the batch writes had its stored
// document read by the lookup already: it is not asked for again, and ops
// naming it get it from there (as the batch leaves it); only parents the
// batch does not write are looked up.
func TestParentsReadWithTheirOps(t *testing.T) {
	ref := syncgate.Reference{Table: "todos", Column: "list_id", Parent: "lists", Field: "_id"}
	seen := map[string]string{}
	guest := &fakeGuests{needs: true, refs: []syncgate.Reference{ref}, f: func(op *syncgate.Op) *syncgate.Rejection {
		if op.Table == "todos" {
			seen[op.ID] = fmt.Sprint(op.Parents["lists"])
		}
		return nil
	}}
	// The fake store's stored documents: "a" in every collection (owner
	// u1); "b" a list only Lookup finds.
	st := &fakeStore{docs: map[string][]syncgate.Doc{"lists": {{{Key: "_id", Value: "b"}, {Key: "owner", Value: "u2"}}}}}
	ops := []syncgate.Op{
		{Index: 0, Op: syncgate.Patch, Table: "lists", ID: "a", Data: syncgate.Doc{{Key: "name", Value: "x"}}},
		{Index: 1, Op: syncgate.Put, Table: "lists", ID: "n", Data: syncgate.Doc{{Key: "owner", Value: "u3"}}},
		{Index: 2, Op: syncgate.Put, Table: "todos", ID: "t1", Data: syncgate.Doc{{Key: "list_id", Value: "a"}}},
		{Index: 3, Op: syncgate.Put, Table: "todos", ID: "t2", Data: syncgate.Doc{{Key: "list_id", Value: "n"}}},
		{Index: 4, Op: syncgate.Put, Table: "todos", ID: "t3", Data: syncgate.Doc{{Key: "list_id", Value: "b"}}},
	}
	rules := fakeRules{guests: map[GuestStage]*fakeGuests{Authorize: guest}}
	if _, err := New(Config{}, st).Run(t.Context(), rules, &syncgate.Batch{Ops: ops}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"lists map[_id:[b]] "}; !slices.Equal(st.lookups, want) {
		t.Errorf("lookups %q, want %q: the lists the batch writes were read with their ops", st.lookups, want)
	}
	for id, want := range map[string]string{
		"t1": "[[{_id a} {owner u1} {name x}]]", // stored, as the PATCH leaves it
		"t2": "[[{_id n} {owner u3}]]",          // not stored: the batch's PUT
		"t3": "[[{_id b} {owner u2}]]",          // looked up
	} {
		if seen[id] != want {
			t.Errorf("%s's parents %s, want %s", id, seen[id], want)
		}
	}
}
