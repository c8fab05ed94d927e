package appsrules

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
)

// TestStoredFields: the fields a table's rules read of its stored
// documents, and the rules that need them whole.
func TestStoredFields(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  string // fmt of StoredFields
	}{
		{"owner filter, write true", map[string]string{"lists.json": `{"roles":[{"name":"owner","apply_when":{"owner_id":"%%user.id"},
			"document_filters":{"write":{"owner_id":"%%user.id"}},"write":true,"insert":true,"delete":true}]}`},
			"map[lists:[owner_id]]"},
		{"named fields, additional true", map[string]string{"todos.json": `{"roles":[{"name":"creator","apply_when":{"%%root.created_by":"%%user.id"},
			"document_filters":{"write":{"%%prevRoot.list_id":{"$exists":true}}},"insert":true,"delete":true,
			"fields":{"completed_by":{"write":{"%%prev":null}},"meta":{"fields":{"x":{"write":true}}}},"additional_fields":{"write":true}}]}`},
			"map[todos:[completed_by created_by list_id meta]]"},
		{"a path reads its first field", map[string]string{"docs.json": `{"roles":[{"name":"r","apply_when":{"meta.owner":"%%user.id"},"write":true,"insert":true,"delete":true}]}`},
			"map[docs:[meta]]"},
		{"nothing read: existence only", map[string]string{"default_rule.json": `{"roles":[{"name":"all","apply_when":{},"write":true,"insert":true,"delete":true}]}`},
			"map[*:[]]"},
		{"the whole %%root", map[string]string{"a.json": `{"roles":[{"name":"r","apply_when":{"%%root":{"$exists":true}},"write":true,"insert":true,"delete":true}]}`},
			"map[]"},
		{"unnamed fields judged by an expression", map[string]string{"a.json": `{"roles":[{"name":"r","apply_when":{},"insert":true,"delete":true,
			"fields":{"x":{"write":true}},"additional_fields":{"write":{"%%prev":{"$exists":false}}}}]}`},
			"map[]"},
		{"unnamed fields denied", map[string]string{"a.json": `{"roles":[{"name":"r","apply_when":{},"insert":true,"delete":true,"fields":{"x":{"write":true}}}]}`},
			"map[]"},
		{"one role of two needs them whole", map[string]string{"a.json": `{"roles":[{"name":"w","apply_when":{"o":"%%user.id"},"write":true,"insert":true,"delete":true},
			{"name":"f","apply_when":{},"insert":false,"delete":false,"fields":{"x":{"write":true}},"additional_fields":{"write":false}}]}`, "b.json": `{"roles":[{"name":"w","apply_when":{"o":"%%user.id"},"write":true,"insert":true,"delete":true}]}`},
			"map[b:[o]]"},
		{"a parent's column", map[string]string{"todos.json": `{"x-syncgate-parents":{"list":{"collection":"lists","column":"list_id"}},
			"roles":[{"name":"r","apply_when":{"%%parent.list.owner_id":"%%user.id"},"write":true,"insert":true,"delete":true}]}`},
			"map[todos:[list_id]]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := fmt.Sprint(loadSet(t, tc.files).StoredFields()); got != tc.want {
				t.Errorf("StoredFields %s, want %s", got, tc.want)
			}
		})
	}
}

// TestStoredFieldsDecideAlike: every write decided on a stored document cut
// to StoredFields is decided as on the whole one — same answer, role,
// clause and reason — over generated writes to the project's rules files
// and to rules that read stored values in each way rules can.
func TestStoredFieldsDecideAlike(t *testing.T) {
	sets := map[string]*Set{}
	for _, dir := range []string{"../../../examples/authorization/rules", "../../../tests/testdata/bench-rules", "../testdata/bench"} {
		s, err := Load(os.DirFS(dir))
		if err != nil {
			t.Fatal(err)
		}
		sets[dir] = s
	}
	sets["inline"] = loadSet(t, map[string]string{
		"lists.json": `{"roles":[
			{"name":"owner","apply_when":{"owner_id":"%%user.id"},"document_filters":{"write":{"%%prevRoot.owner_id":{"$in":["%%user.id",null]}}},
			 "insert":true,"delete":{"%%prevRoot.name":{"$ne":"keep"}},
			 "fields":{"owner_id":{"write":{"%%prev":{"$exists":false}}},"members":{"write":{"%%this":{"$nin":["%%user.id"]}}}},"additional_fields":{"write":true}},
			{"name":"member","apply_when":{"members":"%%user.id"},"document_filters":{"write":{"members":"%%user.id"}},"write":{"%%root.name":{"$exists":true}},"insert":false,"delete":false}]}`,
		"default_rule.json": `{"roles":[{"name":"any","apply_when":{"%%user.id":{"$exists":true}},"document_filters":{"write":{"created_by":"%%user.id"}},
			"insert":true,"delete":true,"fields":{"created_by":{"write":{"%%this":"%%prev"}},"meta":{"fields":{"tag":{"write":true}},"additional_fields":{"write":false}}},"additional_fields":{"write":true}}]}`,
	})
	fields := []string{"owner_id", "members", "name", "created_by", "completed_by", "list_id", "description", "meta", "x"}
	values := []any{"alice", "bob", nil, []any{"alice"}, []any{"bob", "carol"}, "keep", map[string]any{"tag": "a"}, map[string]any{"tag": "b", "n": "1"}}
	r := rand.New(rand.NewPCG(26, 1))
	doc := func() map[string]any {
		d := map[string]any{}
		for _, f := range fields {
			if r.IntN(3) > 0 {
				d[f] = values[r.IntN(len(values))]
			}
		}
		return d
	}
	checked, allowed := 0, 0
	for name, s := range sets {
		stored := s.StoredFields()
		for i := range 4000 {
			table := []string{"lists", "todos", "notes"}[i%3]
			keep, narrowed := stored[table]
			if _, own := s.tables[table]; !own && !narrowed {
				keep, narrowed = stored["*"]
			}
			if !narrowed {
				continue
			}
			in := Input{Op: []string{"PUT", "PATCH", "DELETE"}[r.IntN(3)], Table: table, ID: "d1", Exists: r.IntN(4) > 0,
				User: User{ID: []string{"alice", "bob"}[r.IntN(2)], Type: "normal"}}
			if in.Op != "DELETE" {
				in.Data = Map(doc())
			}
			whole := doc()
			cut := map[string]any{}
			for k, v := range whole {
				if slices.Contains(keep, k) {
					cut[k] = v
				}
			}
			a, b := in, in
			if in.Exists {
				a.Current, b.Current = Map(whole), Map(cut)
			}
			da, db := s.Decide(a), s.Decide(b)
			if da.Allow != db.Allow || da.Role != db.Role || da.Clause != db.Clause || da.Reason != db.Reason {
				t.Fatalf("%s: %s %s stored %v (cut to %v): whole %+v, cut %+v", name, in.Op, table, whole, keep, da, db)
			}
			checked++
			if da.Allow {
				allowed++
			}
		}
	}
	if checked < 5000 || allowed < checked/20 || allowed > checked*19/20 {
		t.Fatalf("%d writes checked, %d allowed: the generator does not exercise both answers", checked, allowed)
	}
	t.Logf("%d writes decided alike, %d allowed", checked, allowed)
}
