package live

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/syncgate/syncgate/guest/authorize/appsrules"
	"github.com/syncgate/syncgate/host/batch"
	"github.com/syncgate/syncgate/host/config"
	"github.com/syncgate/syncgate/host/syncgate"
)

// TestAuthorizeGuestDecidesAsTheRules: the stock authorize guest, in the
// sandbox as syncgate runs it (rows form, stored documents, claims),
// decides every op of generated batches as the rules package decides it
// natively from plain maps — same allow or deny, same reason — for the
// project's rules files, the benchmarks' and rules that use each kind of
// clause. The guest's fast paths (rows read in place, scalars compared
// undecoded, results kept from op to op of one caller) must not change a
// decision.
func TestAuthorizeGuestDecidesAsTheRules(t *testing.T) {
	inline := t.TempDir()
	for name, text := range map[string]string{
		"lists.json": `{"roles":[
			{"name":"admin","apply_when":{"%%user.custom_data.isGlobalAdmin":true},"write":true,"insert":true,"delete":true},
			{"name":"owner","apply_when":{"owner_id":"%%user.id"},"document_filters":{"write":{"%%prevRoot.owner_id":{"$in":["%%user.id",null]}}},
			 "insert":true,"delete":{"%%prevRoot.name":{"$ne":"keep"}},
			 "fields":{"owner_id":{"write":{"%%prev":{"$exists":false}}},"members":{"write":{"%%this":{"$nin":["%%user.id"]}}}},"additional_fields":{"write":true}},
			{"name":"member","apply_when":{"members":"%%user.id"},"document_filters":{"write":{"members":"%%user.id"}},"write":{"%%root.name":{"$exists":true}},"insert":false,"delete":false}]}`,
		"default_rule.json": `{"roles":[{"name":"any","apply_when":{"%%user.id":{"$exists":true}},"document_filters":{"write":{"created_by":"%%user.id"}},
			"insert":true,"delete":true,"fields":{"created_by":{"write":{"%%this":"%%prev"}},"completed_by":{"write":{"%or":[{"%%this":"%%user.id"},{"%%this":null}]}},
			"meta":{"fields":{"tag":{"write":true}},"additional_fields":{"write":false}}},"additional_fields":{"write":{"%%user.data.role":{"$in":["editor","admin"]}}}}]}`,
	} {
		if err := os.WriteFile(filepath.Join(inline, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dirs := []string{inline}
	for _, d := range []string{"../../examples/authorization/rules", "../../tests/testdata/bench-rules", "../../guest/authorize/testdata/bench"} {
		abs, err := filepath.Abs(d)
		if err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, abs)
	}
	fields := []string{"owner_id", "members", "name", "created_by", "completed_by", "list_id", "description", "meta", "completed"}
	values := []any{"alice", "bob", nil, []any{"alice"}, []any{"bob", "carol"}, "keep", int64(1), 2.5, true,
		map[string]any{"tag": "a"}, map[string]any{"tag": "b", "n": int64(1)}, "caf\u00e9 \"quoted\"", "al\u0069ce"}
	users := []syncgate.Caller{
		{UserID: "alice"},
		{UserID: "bob", Claims: map[string]any{"role": "editor"}},
		{UserID: "carol", Claims: map[string]any{"custom_data": map[string]any{"isGlobalAdmin": true}}},
	}
	r := rand.New(rand.NewPCG(26, 2))
	doc := func() syncgate.Doc {
		var d syncgate.Doc
		for _, f := range fields {
			if r.IntN(3) > 0 {
				d = append(d, syncgate.Field{Key: f, Value: values[r.IntN(len(values))]})
			}
		}
		return d
	}
	checked, denied := 0, 0
	for _, dir := range dirs {
		set, err := appsrules.Load(os.DirFS(dir))
		if err != nil {
			t.Fatal(err)
		}
		cfg := config.Config{GuestsDir: guestsDir, SchemasDir: t.TempDir(), StateDir: t.TempDir(), RulesDir: dir,
			Tables: []string{"lists", "todos", "notes"}, GuestPool: 1, MaxDepth: 64}
		rules, err := newReloader(t, cfg).Reload(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		g := rules.Guests(batch.Authorize)
		for round := range 12 {
			caller := users[round%len(users)]
			b := &syncgate.Batch{Caller: caller}
			current := map[string]map[string]syncgate.Doc{}
			for i := range 60 {
				op := syncgate.Op{Index: i, Op: []syncgate.OpType{syncgate.Put, syncgate.Patch, syncgate.Delete}[r.IntN(3)],
					Table: []string{"lists", "todos", "notes"}[r.IntN(3)], ID: fmt.Sprintf("d%d", i)}
				if op.Op != syncgate.Delete {
					op.Data = doc()
				}
				if op.Op == syncgate.Patch || r.IntN(4) > 0 {
					if current[op.Table] == nil {
						current[op.Table] = map[string]syncgate.Doc{}
					}
					current[op.Table][op.ID] = doc()
				}
				b.Ops = append(b.Ops, op)
			}
			accepted, rejected, err := g.Run(context.Background(), b, current)
			if err != nil {
				t.Fatal(err)
			}
			got := map[int]string{}
			for _, op := range accepted {
				got[op.Index] = "allow"
			}
			for _, rj := range rejected {
				got[rj.Index] = string(rj.Code) + ": " + rj.Reason
			}
			for _, op := range b.Ops {
				in := appsrules.Input{Op: string(op.Op), Table: op.Table, ID: op.ID, Data: plain(t, op.Data),
					User: appsrules.User{ID: caller.UserID, Type: "normal", Data: caller.Claims}}
				if op.Op == syncgate.Delete {
					in.Data = nil
				}
				if cd, ok := caller.Claims["custom_data"].(map[string]any); ok {
					in.User.CustomData = cd
				}
				if cur, ok := current[op.Table][op.ID]; ok {
					in.Current, in.Exists = plain(t, cur), true
				}
				d := set.Decide(in)
				want := "allow"
				if !d.Allow {
					want, denied = "forbidden: "+d.Reason, denied+1
				}
				if got[op.Index] != want {
					t.Fatalf("%s, %s: %s %s data %v stored %v (exists %v):\n guest  %s\n rules  %s", filepath.Base(dir), caller.UserID, op.Op, op.Table,
						op.Data, current[op.Table][op.ID], in.Exists, got[op.Index], want)
				}
				checked++
			}
		}
	}
	if denied == 0 || denied == checked {
		t.Fatalf("%d ops, %d denied: the generator does not exercise both answers", checked, denied)
	}
	t.Logf("%d ops decided alike in the sandbox and natively, %d denied", checked, denied)
}

// plain is a document as the rules package reads it natively: a map of
// what encoding/json decodes with UseNumber.
func plain(t *testing.T, d syncgate.Doc) appsrules.Map {
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return appsrules.Map(m)
}
