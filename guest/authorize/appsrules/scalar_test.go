package appsrules

import (
	"testing"
)

// scalarMap is a Map that is also a ScalarDocument, as the authorize
// guest's rows are: decisions over it take the paths that read scalars
// without Get, and must equal decisions over the Map.
type scalarMap map[string]any

func (m scalarMap) Get(k string) (any, bool)           { return Map(m).Get(k) }
func (m scalarMap) AppendFields(dst []string) []string { return Map(m).AppendFields(dst) }
func (m scalarMap) Has(k string) bool                  { _, ok := m[k]; return ok }

func (m scalarMap) Scalar(k string) (string, ScalarKind, bool) {
	v, ok := m[k]
	switch x := v.(type) {
	case nil:
		if !ok {
			return "", ScalarOther, false
		}
		return "", ScalarNull, true
	case string:
		return x, ScalarString, true
	}
	return "", ScalarOther, true
}

// TestScalarShapes: the tests read from a ScalarDocument (shapeOf) hold
// exactly when the general path's do, on every kind of value, missing
// fields, an absent document and a caller without an id.
func TestScalarShapes(t *testing.T) {
	exprs := []string{
		`{"owner_id": "%%user.id"}`,
		`{"%%root.owner_id": "%%user.id"}`,
		`{"%%prevRoot.owner_id": "%%user.id"}`,
		`{"owner_id": {"$ne": "%%user.id"}}`,
		`{"%%prevRoot.owner_id": {"$ne": "%%user.id"}}`,
		`{"_id": "%%user.id"}`,
		`{"_id": {"$ne": "%%user.id"}}`,
		`{"%%this": "%%user.id"}`,
		`{"%%this": null}`,
		`{"%or": [{"%%this": "%%user.id"}, {"%%this": null}]}`,
	}
	docs := []string{
		`{}`, `{"owner_id": "alice"}`, `{"owner_id": "bob"}`, `{"owner_id": null}`, `{"owner_id": ""}`,
		`{"owner_id": 1}`, `{"owner_id": true}`, `{"owner_id": ["alice"]}`, `{"owner_id": [null]}`,
		`{"owner_id": {"a": 1}}`, `{"owner_id": "ALICE"}`,
	}
	users := []User{{ID: "alice"}, {ID: ""}, {ID: "x"}}
	for _, text := range exprs {
		v, err := decode([]byte(text))
		if err != nil {
			t.Fatal(err)
		}
		c := &compiler{file: "t.json", values: map[string]any{}}
		n := c.expr("", v)
		if len(c.problems) > 0 {
			t.Fatal(c.problems)
		}
		for _, dt := range docs {
			m := jsonObj(t, dt)
			for _, u := range users {
				for _, over := range []bool{false, true} {
					for _, absent := range []bool{false, true} {
						general := &doc{base: Map(m), id: "alice"}
						scalar := &doc{base: scalarMap(m), sbase: scalarMap(m), id: "alice"}
						if over { // a PATCH's fields over a stored document without them
							general = &doc{base: Map{}, over: Map(m), id: "alice"}
							scalar = &doc{base: scalarMap{}, sbase: scalarMap{}, over: scalarMap(m), sover: scalarMap(m), id: "alice"}
						}
						if absent {
							general, scalar = nil, nil
						}
						env := func(d *doc) *env {
							e := &env{user: &u, root: d, prevRoot: d, field: "owner_id"}
							if d != nil {
								e.thisDoc = d
							}
							return e
						}
						wantOK, wantErr := n.eval(env(general))
						gotOK, gotErr := n.eval(env(scalar))
						if wantOK != gotOK || (wantErr == nil) != (gotErr == nil) {
							t.Errorf("%s on %s (user %q, over %v, absent %v): scalar path %v, %v; general %v, %v",
								text, dt, u.ID, over, absent, gotOK, gotErr, wantOK, wantErr)
						}
					}
				}
			}
		}
	}
}
