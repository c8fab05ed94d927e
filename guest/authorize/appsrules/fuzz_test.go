package appsrules

import (
	"testing"
	"testing/fstest"
)

// FuzzLoad feeds arbitrary rules files to Load and decides a few writes
// with whatever loads: no panic, and a set that loads decides.
func FuzzLoad(f *testing.F) {
	for _, files := range []map[string]string{ownerRules, templateRules, employeeRules, deviceRules, defaultRules, todoParentRules, prevParentRules, parentNullRules} {
		for _, text := range files {
			f.Add([]byte(text), []byte(`{"owner_id": "alice", "n": 1}`))
		}
	}
	f.Add([]byte(`{"roles": [{"name": "r", "apply_when": {"%or": [{"a": {"$gt": "%%user.data.n"}}]}, "write": "%%user.custom_data.ok"}]}`), []byte(`{"a": [1, "x", {"b": null}]}`))
	f.Fuzz(func(t *testing.T, rules, current []byte) {
		s, err := Load(fstest.MapFS{"t.json": {Data: rules}})
		if err != nil {
			return
		}
		cur, _ := decode(current)
		m, _ := cur.(map[string]any)
		// The document is also every parent the rules may name (under the
		// collections the seeds declare), with _id "x".
		parent := map[string]any{"_id": "x"}
		for k, v := range m {
			parent[k] = v
		}
		parents := map[string][]map[string]any{"lists": {parent}, "t": {parent}}
		var dc Decider
		for _, op := range []string{"PUT", "PATCH", "DELETE"} {
			in := Input{Op: op, Table: "t", ID: "x", Data: Map(m), Current: Map(m), Exists: m != nil, User: alice, Parents: parents}
			a, b := s.Decide(in), s.Explain(in)
			if a.Allow != b.Allow || a.Clause != b.Clause {
				t.Fatalf("Decide %+v and Explain %+v disagree", a, b)
			}
			// The same documents as ScalarDocuments (the guest's rows).
			sin := in
			sin.Data, sin.Current = scalarMap(m), scalarMap(m)
			if c := dc.Decide(s, &sin); c.Allow != a.Allow || c.Role != a.Role || c.Clause != a.Clause || c.Reason != a.Reason {
				t.Fatalf("over ScalarDocuments %+v, over maps %+v", c, a)
			}
			if ok, reason := dc.Allow(s, &sin); ok != a.Allow || !ok && reason != a.Reason {
				t.Fatalf("Allow gave %v, %q; Decide %+v", ok, reason, a)
			}
		}
	})
}

// FuzzEvaluate compiles an arbitrary expression as a role's write filter
// and evaluates it on an arbitrary document: no panic; an expression that
// errs or is false never lets the write through; one that errs is never
// also true.
func FuzzEvaluate(f *testing.F) {
	seeds := [][2]string{
		{`{"owner_id": "%%user.id"}`, `{"owner_id": "alice"}`},
		{`{"n": {"$gt": 3}}`, `{"n": "four"}`},
		{`{"n": {"$in": "%%user.custom_data.list"}}`, `{"n": [1, 2]}`},
		{`{"%or": [{"a": {"$lt": "x"}}, {"b": true}]}`, `{"a": 1, "b": 1}`},
		{`{"id": {"%stringToOid": "%%root.x"}}`, `{"x": "zz"}`},
		{`{"%%user.data.email": {"%exists": true}, "t.u": {"$nin": [null]}}`, `{"t": [{"u": 1}, 2]}`},
		{`"%%user.custom_data.list"`, `{}`},
		{`{"%%parent.p.owner_id": "%%user.id"}`, `{"pid": "x", "owner_id": "alice"}`},
		{`{"%%parent.p.gone": null, "%%prevParent.p": {"$exists": false}}`, `{"pid": "y"}`},
		{`{"%or": [{"%%this": "%%user.id"}, {"%%this": null}]}`, `{"a": null, "b": "alice", "c": ["alice"]}`},
		{`{"owner_id": {"$ne": "%%user.id"}, "%%prevRoot.owner_id": "%%user.id"}`, `{"owner_id": 1}`},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1])
	}
	user := User{ID: "alice", Data: map[string]any{"email": "a@x"}, CustomData: map[string]any{"list": []any{int64(1), "x"}, "flag": "yes"}}
	f.Fuzz(func(t *testing.T, expr, document string) {
		v, err := decode([]byte(expr))
		if err != nil {
			return
		}
		c := &compiler{file: "t.json", values: map[string]any{},
			parentRefs: map[string]*Parent{"p": {Table: "t", Name: "p", Collection: "ps", Column: "pid", Field: "_id"}}}
		n := c.expr("", v)
		if len(c.problems) > 0 || n == nil {
			return
		}
		dv, err := decode([]byte(document))
		if err != nil {
			return
		}
		d, ok := dv.(map[string]any)
		if !ok {
			return
		}
		root := &doc{base: Map(d), id: "x"}
		// The document is its own parent when its pid is "x".
		parent := map[string]any{"_id": "x"}
		for k, v := range d {
			parent[k] = v
		}
		parents := map[string][]map[string]any{"ps": {parent}}
		hold, evalErr := n.eval(&env{user: &user, root: root, parents: parents})
		if evalErr != nil && hold {
			t.Fatalf("%s on %s: true and error %v", expr, document, evalErr)
		}
		// Over a ScalarDocument, in a field rule of each of the document's
		// fields (and one it lacks), as over the map.
		sroot := &doc{base: scalarMap(d), sbase: scalarMap(d), id: "x"}
		if sHold, sErr := n.eval(&env{user: &user, root: sroot, parents: parents}); sHold != hold || (sErr == nil) != (evalErr == nil) {
			t.Fatalf("%s on %s: over a ScalarDocument %v, %v; over the map %v, %v", expr, document, sHold, sErr, hold, evalErr)
		}
		for _, k := range append(sortedKeys(d), "_id", "missing") {
			want, wantErr := n.eval(&env{user: &user, root: root, prevRoot: root, thisDoc: root, prevDoc: root, field: k, parents: parents})
			got, gotErr := n.eval(&env{user: &user, root: sroot, prevRoot: sroot, thisDoc: sroot, prevDoc: sroot, field: k, parents: parents})
			if got != want || (gotErr == nil) != (wantErr == nil) {
				t.Fatalf("%s on %s, field %s: over a ScalarDocument %v, %v; over the map %v, %v", expr, document, k, got, gotErr, want, wantErr)
			}
		}
		s := &Set{tables: map[string]*rules{"t": {file: "t.json", roles: []*role{{
			name: "r", applyWhen: andNode{}, hasFilters: true, filterWrite: n,
			write: constNode(true), insert: constNode(true), delete: constNode(true),
		}}}}}
		dec := s.Decide(Input{Op: "PUT", Table: "t", ID: "x", Data: Map(d), User: user, Parents: parents})
		if dec.Allow && (evalErr != nil || !hold) {
			t.Fatalf("%s on %s: allowed though the filter gave %v, %v", expr, document, hold, evalErr)
		}
		if !dec.Allow && evalErr == nil && hold {
			t.Fatalf("%s on %s: denied though the filter holds: %s", expr, document, dec.Reason)
		}
	})
}
