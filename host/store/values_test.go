package store

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/syncgate/syncgate/host/syncgate"
)

// TestAppendDocMatchesDriver: the write path's hand-built BSON is byte for
// byte what the driver makes of the same values through its codecs.
func TestAppendDocMatchesDriver(t *testing.T) {
	data := syncgate.Doc{
		{Key: "s", Value: "text with ünïcode"},
		{Key: "empty", Value: ""},
		{Key: "i", Value: int64(-42)},
		{Key: "big", Value: int64(math.MaxInt64)},
		{Key: "f", Value: 3.25},
		{Key: "t", Value: true},
		{Key: "n", Value: nil},
		{Key: "when", Value: time.Date(2026, 12, 1, 17, 0, 0, 123456789, time.UTC)},
		{Key: "oid", Value: syncgate.ObjectID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}},
		{Key: "dec", Value: syncgate.Decimal("12.50")},
		{Key: "notdec", Value: syncgate.Decimal("x")},
		{Key: "obj", Value: syncgate.Doc{{Key: "a", Value: []any{int64(1), "two", syncgate.Doc{}, []any{}}}}},
		{Key: "int32", Value: int32(7)}, // not made by the decoder: the driver's way
	}
	for _, op := range []syncgate.Op{
		{Op: syncgate.Put, Table: "t", ID: "id-1", Data: data},
		{Op: syncgate.Patch, Table: "t", ID: "507f1f77bcf86cd799439011", IDType: "objectId", Data: data},
		{Op: syncgate.Patch, Table: "t", ID: "id-2"}, // empty PATCH: $set of the _id
	} {
		want := func(v any) []byte {
			b, err := bson.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
		check := func(what string, got bson.Raw, err error, wantBytes []byte) {
			t.Helper()
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			if !bytes.Equal(got, wantBytes) {
				t.Errorf("%s of %s:\n got %s\nwant %s", what, op.ID, got, bson.Raw(wantBytes))
			}
		}
		f, err := appendFilter(nil, op)
		check("filter", f, err, want(bson.D{{Key: "_id", Value: idValue(op)}}))
		r, err := appendReplacement(nil, op)
		check("replacement", r, err, want(replacement(op)))
		set := bson.D{{Key: "$set", Value: toBSON(op.Data)}}
		if len(op.Data) == 0 {
			set = bson.D{{Key: "$set", Value: bson.D{{Key: "_id", Value: idValue(op)}}}}
		}
		s, err := appendSet(nil, op)
		check("$set", s, err, want(set))
	}
	if _, err := appendReplacement(nil, syncgate.Op{ID: "x", Data: syncgate.Doc{{Key: "a\x00b", Value: int64(1)}}}); err == nil {
		t.Error("a key with a NUL byte was encoded")
	}
	if _, err := appendReplacement(nil, syncgate.Op{ID: "x", Data: syncgate.Doc{{Key: "c", Value: make(chan int)}}}); err == nil {
		t.Error("a channel was encoded")
	}
}

// TestPlan: the commands a collection's ops are written in. Each
// document's ops stay in order; updates keep their order and stay after the
// deletes before them; deletes move earlier; an update command ends before
// a PUT of a document it PATCHes; chunk bounds a command.
func TestPlan(t *testing.T) {
	op := func(s string) syncgate.Op { // "U:a" PUT, "P:a" PATCH, "D:a" DELETE
		kind := map[byte]syncgate.OpType{'U': syncgate.Put, 'P': syncgate.Patch, 'D': syncgate.Delete}[s[0]]
		return syncgate.Op{Op: kind, ID: s[2:]}
	}
	for _, tc := range []struct {
		in    string
		chunk int
		want  string
	}{
		{"U:a D:b U:c D:d P:e", 100, "D:b D:d | U:a U:c P:e"},           // a mixed batch of distinct documents: 2 commands
		{"U:a D:a U:b", 100, "U:a | D:a | U:b"},                         // U:b may not move before D:a (it could need the value D:a frees)
		{"D:x U:a D:a U:b D:c", 100, "D:x D:c | U:a | D:a | U:b"},       // D:c joins the first delete command
		{"U:a P:a U:b", 100, "U:a P:a U:b"},                             // same document in order, one command
		{"P:a U:a", 100, "P:a | U:a"},                                   // a PUT of a PATCHed document starts a command
		{"P:a D:a P:a", 100, "P:a | D:a | P:a"},                         //
		{"U:a U:b U:c D:d D:e D:f", 2, "D:d D:e | U:a U:b | U:c | D:f"}, // chunk
		{"D:a D:a", 100, "D:a | D:a"},                                   // a document's second delete after its first
		{"", 100, ""},
	} {
		var ops []syncgate.Op
		for _, f := range strings.Fields(tc.in) {
			ops = append(ops, op(f))
		}
		var got []string
		for _, cmd := range plan(ops, tc.chunk) {
			var c []string
			for _, o := range cmd {
				c = append(c, map[syncgate.OpType]string{syncgate.Put: "U", syncgate.Patch: "P", syncgate.Delete: "D"}[o.Op]+":"+o.ID)
			}
			got = append(got, strings.Join(c, " "))
		}
		if g := strings.Join(got, " | "); g != tc.want {
			t.Errorf("plan(%q, %d) = %q, want %q", tc.in, tc.chunk, g, tc.want)
		}
	}
}

// TestPlanKeepsOrder checks plan's promises on random batches: every op
// once; each document's ops in batch order; updates in batch order and
// after every delete that came before them; commands of one kind, at most
// chunk long, with no PUT after a PATCH of the same document.
func TestPlanKeepsOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	kinds := []syncgate.OpType{syncgate.Put, syncgate.Patch, syncgate.Delete}
	for range 2000 {
		ops := make([]syncgate.Op, rng.IntN(40))
		for i := range ops {
			ops[i] = syncgate.Op{Index: i, Op: kinds[rng.IntN(3)], ID: string(rune('a' + rng.IntN(6)))}
		}
		chunk := 1 + rng.IntN(10)
		pos := make([]int, len(ops)) // op index → position in the written order
		n := 0
		for _, cmd := range plan(ops, chunk) {
			if len(cmd) == 0 || len(cmd) > chunk {
				t.Fatalf("command of %d ops (chunk %d)", len(cmd), chunk)
			}
			patched := map[string]bool{}
			for _, o := range cmd {
				if (o.Op == syncgate.Delete) != (cmd[0].Op == syncgate.Delete) {
					t.Fatalf("%v: a command mixes deletes and updates", cmd)
				}
				if o.Op == syncgate.Put && patched[o.ID] {
					t.Fatalf("%v: a PUT after a PATCH of %s in one command", cmd, o.ID)
				}
				patched[o.ID] = patched[o.ID] || o.Op == syncgate.Patch
				pos[o.Index] = n
				n++
			}
		}
		if n != len(ops) {
			t.Fatalf("%d ops written of %d", n, len(ops))
		}
		for i := range ops {
			for j := i + 1; j < len(ops); j++ {
				mustFollow := ops[i].ID == ops[j].ID || ops[j].Op != syncgate.Delete
				if mustFollow && pos[j] < pos[i] {
					t.Fatalf("ops %v: op %d (%s %s) written before op %d (%s %s)", ops, j, ops[j].Op, ops[j].ID, i, ops[i].Op, ops[i].ID)
				}
			}
		}
	}
}

// TestByCollection: one run per collection in order of first appearance,
// each op in batch order, with few collections and with many (the map).
func TestByCollection(t *testing.T) {
	for _, tables := range []int{1, 3, 20} {
		var ops []syncgate.Op
		for i := range 200 {
			ops = append(ops, syncgate.Op{Index: i, Table: fmt.Sprintf("t%d", (i*7)%tables)})
		}
		groups := byCollection(ops)
		if len(groups) != tables {
			t.Fatalf("%d tables: %d groups", tables, len(groups))
		}
		n, seen := 0, map[string]bool{}
		for gi, g := range groups {
			if seen[g[0].Table] {
				t.Fatalf("table %s in two groups", g[0].Table)
			}
			seen[g[0].Table] = true
			if gi > 0 && g[0].Index < groups[gi-1][0].Index {
				t.Fatalf("groups not in order of first appearance")
			}
			for j, op := range g {
				if op.Table != g[0].Table || j > 0 && op.Index <= g[j-1].Index {
					t.Fatalf("group %d: %v", gi, g)
				}
			}
			n += len(g)
		}
		if n != len(ops) {
			t.Fatalf("%d ops in groups, want %d", n, len(ops))
		}
	}
}

// TestDocFromRaw: a stored document read from its bytes is what decoding it
// into a bson.D and fromBSON made of it, for every BSON type.
func TestDocFromRaw(t *testing.T) {
	when := time.Date(2026, 12, 1, 17, 0, 0, 123000000, time.UTC)
	dec, _ := bson.ParseDecimal128("12.50")
	in := bson.D{
		{Key: "_id", Value: "x"}, {Key: "s", Value: "ü"}, {Key: "f", Value: 1.5}, {Key: "i32", Value: int32(7)},
		{Key: "i64", Value: int64(1) << 40}, {Key: "t", Value: true}, {Key: "no", Value: false}, {Key: "n", Value: nil},
		{Key: "when", Value: bson.NewDateTimeFromTime(when)}, {Key: "oid", Value: bson.ObjectID{1, 2, 3}},
		{Key: "dec", Value: dec}, {Key: "obj", Value: bson.D{{Key: "a", Value: bson.A{int32(1), "two", bson.D{}, bson.A{}}}}},
		{Key: "bin", Value: bson.Binary{Subtype: 0, Data: []byte{1, 2}}}, {Key: "re", Value: bson.Regex{Pattern: "a.*", Options: "i"}},
		{Key: "ts", Value: bson.Timestamp{T: 1, I: 2}}, {Key: AppliedOpsField, Value: bson.A{"k"}},
	}
	raw, err := bson.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	got, err := docFromRaw(raw, func(k string) bool { return k == "_id" || k == AppliedOpsField })
	if err != nil {
		t.Fatal(err)
	}
	var d bson.D
	if err := bson.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	var want syncgate.Doc
	for _, e := range d {
		if e.Key != "_id" && e.Key != AppliedOpsField {
			want = append(want, syncgate.Field{Key: e.Key, Value: fromBSON(e.Value)})
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %#v\nwant %#v", got, want)
	}
	if _, err := docFromRaw(bson.Raw{1, 2, 3}, nil); err == nil {
		t.Fatal("a broken document was read")
	}
}

// replacement is a PUT's document as a bson.D, the driver's way: what
// appendReplacement must encode to the same bytes.
func replacement(op syncgate.Op) bson.D {
	doc := make(bson.D, 0, len(op.Data)+1)
	doc = append(doc, bson.E{Key: "_id", Value: idValue(op)})
	return append(doc, toBSON(op.Data)...)
}
