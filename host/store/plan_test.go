package store

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/syncgate/syncgate/host/syncgate"
)

// The planning functions (plan.go) tested alone: no database, no stub.

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

// TestTxnParts: split points by op count and by estimated bytes; an op
// larger than the byte limit is a part by itself.
func TestTxnParts(t *testing.T) {
	small := func(i int) syncgate.Op {
		return syncgate.Op{Index: i, Op: syncgate.Put, Table: "a", ID: fmt.Sprint(i)}
	}
	big := small(1)
	big.Data = syncgate.Doc{{Key: "x", Value: strings.Repeat("y", 500)}}
	for _, tc := range []struct {
		name             string
		ops              []syncgate.Op
		maxOps, maxBytes int
		want             string
	}{
		{"by bytes, a big op alone", []syncgate.Op{small(0), big, small(2), small(3)}, 3, 300, "1 1 2"},
		{"by count", []syncgate.Op{small(0), big, small(2), small(3)}, 2, 1 << 20, "2 2"},
		{"one part", []syncgate.Op{small(0), small(1)}, 10, 1 << 20, "2"},
		{"one op per part", []syncgate.Op{small(0), small(1), small(2)}, 1, 1 << 20, "1 1 1"},
		{"big op first", []syncgate.Op{big, small(1)}, 10, 300, "1 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			n := 0
			for _, p := range TxnParts(tc.ops, tc.maxOps, tc.maxBytes) {
				for i, op := range p {
					if op.Index != tc.ops[n+i].Index {
						t.Fatalf("part %v out of order", p)
					}
				}
				n += len(p)
				got = append(got, fmt.Sprint(len(p)))
			}
			if g := strings.Join(got, " "); g != tc.want {
				t.Errorf("TxnParts(%d ops, %d, %d) = parts of %s, want %s", len(tc.ops), tc.maxOps, tc.maxBytes, g, tc.want)
			}
		})
	}
}

// TestWriteModels: each op's statement — PUT a replacement with upsert,
// PATCH a $set (of the _id when the PATCH sets nothing), DELETE by _id —
// filtered by its _id (an ObjectId where the schema says so); an unknown op
// is an error, not a statement.
func TestWriteModels(t *testing.T) {
	oid := "65a1b2c3d4e5f60718293a4b"
	for _, tc := range []struct {
		name             string
		op               syncgate.Op
		kind, filter, do string // do: the replacement or update, as extended JSON
	}{
		{"put", syncgate.Op{Op: syncgate.Put, Table: "t", ID: "a", Data: syncgate.Doc{{Key: "n", Value: "x"}}},
			"replace", `{"_id": "a"}`, `{"_id": "a","n": "x"}`},
		{"patch", syncgate.Op{Op: syncgate.Patch, Table: "t", ID: "a", Data: syncgate.Doc{{Key: "n", Value: true}}},
			"update", `{"_id": "a"}`, `{"$set": {"n": true}}`},
		{"empty patch", syncgate.Op{Op: syncgate.Patch, Table: "t", ID: "a"},
			"update", `{"_id": "a"}`, `{"$set": {"_id": "a"}}`},
		{"delete", syncgate.Op{Op: syncgate.Delete, Table: "t", ID: "a"},
			"delete", `{"_id": "a"}`, ""},
		{"objectId", syncgate.Op{Op: syncgate.Delete, Table: "t", ID: oid, IDType: "objectId"},
			"delete", `{"_id": {"$oid":"` + oid + `"}}`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			models, err := writeModels([]syncgate.Op{tc.op})
			if err != nil || len(models) != 1 {
				t.Fatalf("writeModels: %d models, %v", len(models), err)
			}
			var kind string
			var filter, do any
			switch m := models[0].(type) {
			case *mongo.ReplaceOneModel:
				kind, filter, do = "replace", m.Filter, m.Replacement
				if m.Upsert == nil || !*m.Upsert {
					t.Errorf("PUT without upsert")
				}
			case *mongo.UpdateOneModel:
				kind, filter, do = "update", m.Filter, m.Update
				if m.Upsert != nil && *m.Upsert {
					t.Errorf("PATCH with upsert")
				}
			case *mongo.DeleteOneModel:
				kind, filter = "delete", m.Filter
			default:
				t.Fatalf("model %T", m)
			}
			if kind != tc.kind {
				t.Errorf("kind %s, want %s", kind, tc.kind)
			}
			if got := relaxed(t, filter); got != tc.filter {
				t.Errorf("filter %s, want %s", got, tc.filter)
			}
			if do != nil || tc.do != "" {
				if got := relaxed(t, do); got != tc.do {
					t.Errorf("statement %s, want %s", got, tc.do)
				}
			}
		})
	}
	// Several ops share one buffer: each model keeps its own bytes.
	ops := []syncgate.Op{
		{Op: syncgate.Put, Table: "t", ID: "a", Data: syncgate.Doc{{Key: "n", Value: "1"}}},
		{Op: syncgate.Put, Table: "t", ID: "b", Data: syncgate.Doc{{Key: "n", Value: "2"}}},
	}
	models, err := writeModels(ops)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{`{"_id": "a","n": "1"}`, `{"_id": "b","n": "2"}`} {
		if got := relaxed(t, models[i].(*mongo.ReplaceOneModel).Replacement); got != want {
			t.Errorf("model %d: %s, want %s", i, got, want)
		}
	}
	if _, err := writeModels([]syncgate.Op{{Op: "MERGE", Table: "t", ID: "a"}}); err == nil || !strings.Contains(err.Error(), `unknown op "MERGE"`) {
		t.Errorf("unknown op: %v", err)
	}
}

// relaxed is a statement's BSON as relaxed extended JSON.
func relaxed(t *testing.T, v any) string {
	t.Helper()
	raw, ok := v.(bson.Raw)
	if !ok {
		t.Fatalf("statement %T, want bson.Raw", v)
	}
	if err := raw.Validate(); err != nil {
		t.Fatalf("statement: %v", err)
	}
	return raw.String()
}
