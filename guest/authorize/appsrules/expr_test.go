package appsrules

import (
	"strings"
	"testing"
)

// evalExpr compiles one expression and evaluates it against root (the
// document) for a user.
func evalExpr(t *testing.T, expr string, root map[string]any, u *User, values map[string]any) (bool, error) {
	t.Helper()
	v, err := decode([]byte(expr))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	if values == nil {
		values = map[string]any{}
	}
	c := &compiler{file: "t.json", values: values}
	n := c.expr("", v)
	if len(c.problems) > 0 {
		t.Fatalf("%s: %v", expr, c.problems)
	}
	return n.eval(&env{user: u, root: &doc{base: Map(root), id: "l1"}, values: values})
}

// TestExpressions covers the expressions page (rules/expressions): each
// operator and expansion, arrays, conversions, and the fail-closed handling
// of missing values and type errors.
func TestExpressions(t *testing.T) {
	u := &User{ID: "5f1a2b3c4d5e6f7a8b9c0d1e", Type: "normal",
		Data:       map[string]any{"email": "a@x.com", "roles": []any{"editor", "viewer"}},
		CustomData: map[string]any{"team": "red", "level": int64(3), "friends": []any{"bob", "carol"}, "isAdmin": true}}
	root := jsonObj(t, `{"_id": "l1", "owner_id": "5f1a2b3c4d5e6f7a8b9c0d1e", "uid": "5F1A2B3C4D5E6F7A8B9C0D1E",
		"members": ["bob", "alice"], "tags": [{"name": "x"}, {"name": "y"}], "n": 5, "done": 1, "title": "hello",
		"ref": "123e4567-e89b-12d3-a456-426614174000", "nested": {"a": {"b": 2}}, "deleted_at": null}`)
	values := map[string]any{"adminTeam": "red", "limits": map[string]any{"max": int64(10)}, "allowed": []any{"hello", "bye"}}
	cases := []struct {
		name    string
		expr    string
		want    bool
		wantErr bool
	}{
		{"literal true", `true`, true, false},
		{"empty object holds", `{}`, true, false},
		{"bare field equals expansion", `{"owner_id": "%%user.id"}`, true, false},
		{"%%root path", `{"%%root.owner_id": "%%user.id"}`, true, false},
		{"multiple keys are AND", `{"owner_id": "%%user.id", "n": 6}`, false, false},
		{"dotted path into nested", `{"nested.a.b": 2}`, true, false},
		{"array field matches element (examples page)", `{"members": "alice"}`, true, false},
		{"array field no element", `{"members": "dave"}`, false, false},
		{"array of objects path", `{"tags.name": "y"}`, true, false},
		{"%%values on the right", `{"%%user.custom_data.team": "%%values.adminTeam"}`, true, false},
		{"$eq", `{"n": {"$eq": 5}}`, true, false},
		{"$ne", `{"n": {"$ne": 5}}`, false, false},
		{"$gt", `{"n": {"$gt": 4}}`, true, false},
		{"$gte", `{"n": {"$gte": 5}}`, true, false},
		{"$lt", `{"n": {"$lt": 5}}`, false, false},
		{"$lte", `{"n": {"$lte": "%%values.limits.max"}}`, true, false},
		{"$gt strings", `{"title": {"$gt": "a"}}`, true, false},
		{"$gt string vs number is an error", `{"title": {"$gt": 1}}`, false, true},
		{"$in literal", `{"title": {"$in": ["hello", "bye"]}}`, true, false},
		{"$in expansion array", `{"title": {"$in": "%%values.allowed"}}`, true, false},
		{"$in array field overlaps", `{"members": {"$in": "%%user.custom_data.friends"}}`, true, false},
		{"$in on a non-array expansion is an error", `{"title": {"$in": "%%user.custom_data.team"}}`, false, true},
		{"$nin", `{"title": {"$nin": ["x"]}}`, true, false},
		{"$exists true", `{"owner_id": {"$exists": true}}`, true, false},
		{"$exists false on missing", `{"nope": {"$exists": false}}`, true, false},
		{"%exists (expressions page examples)", `{"%%user.data.email": {"%exists": true}}`, true, false},
		{"%and", `{"%and": [{"n": 5}, {"title": "hello"}]}`, true, false},
		{"%or", `{"%or": [{"n": 6}, {"title": "hello"}]}`, true, false},
		{"%or none", `{"%or": [{"n": 6}, {"title": "x"}]}`, false, false},
		{"%or with a type error fails closed", `{"%or": [{"title": {"$gt": 1}}, {"n": 5}]}`, false, true},
		{"%%true", `{"%%true": true}`, true, false},
		{"bare expansion holding a boolean", `"%%user.custom_data.isAdmin"`, true, false},
		{"bare expansion holding a string is an error", `"%%user.custom_data.team"`, false, true},
		{"%%user.type", `{"%%user.type": "normal"}`, true, false},
		{"%%values", `{"%%values.adminTeam": "red"}`, true, false},
		{"%stringToOid equals the hex string", `{"owner_id": {"%stringToOid": "%%user.id"}}`, true, false},
		{"%stringToOid ignores hex case", `{"uid": {"%stringToOid": "%%user.id"}}`, true, false},
		{"%oidToString", `{"%%user.id": {"%oidToString": "%%root.uid"}}`, true, false},
		{"%stringToOid of a non-hex value is an error", `{"owner_id": {"%stringToOid": "%%root.title"}}`, false, true},
		{"%stringToUuid", `{"ref": {"%stringToUuid": "123E4567E89B12D3A456426614174000"}}`, true, false},
		{"%uuidToString", `{"ref": {"%uuidToString": "%%root.ref"}}`, true, false},
		{"$eq with converted value", `{"owner_id": {"$eq": {"%stringToOid": "%%user.id"}}}`, true, false},
		{"boolean true matches stored 1", `{"done": true}`, true, false},
		{"boolean false does not match 1", `{"done": false}`, false, false},
		{"null matches explicit null", `{"deleted_at": null}`, true, false},
		{"null matches a missing field (MongoDB)", `{"archived_at": null}`, true, false},
		// Missing values never allow.
		{"missing field vs expansion", `{"nope": "%%user.id"}`, false, false},
		{"missing expansion vs missing field", `{"nope": "%%user.custom_data.nope"}`, false, false},
		{"missing expansion vs null field", `{"deleted_at": "%%user.custom_data.nope"}`, false, false},
		{"$ne on a missing field fails closed", `{"nope": {"$ne": 1}}`, false, false},
		{"$nin on a missing field fails closed", `{"nope": {"$nin": [1]}}`, false, false},
		{"$ne against a missing expansion", `{"n": {"$ne": "%%user.custom_data.nope"}}`, false, false},
		{"$gt against a missing expansion", `{"n": {"$gt": "%%user.custom_data.nope"}}`, false, false},
		{"%%prevRoot absent on insert", `{"%%prevRoot.owner_id": {"$exists": false}}`, true, false},
		{"%%this outside a field rule is missing", `{"%%this": {"$exists": true}}`, false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := evalExpr(t, c.expr, root, u, values)
			if (err != nil) != c.wantErr || got != c.want {
				t.Fatalf("%s = %v, %v; want %v (error %v)", c.expr, got, err, c.want, c.wantErr)
			}
			if err != nil && got {
				t.Fatalf("%s: true with an error", c.expr)
			}
		})
	}
}

func TestExpressionStringsRoundTrip(t *testing.T) {
	c := &compiler{file: "t.json", values: map[string]any{}}
	v, _ := decode([]byte(`{"%or": [{"a": {"$in": ["x", "%%user.id"]}}, {"b": {"$gt": 1, "$lt": 3}}]}`))
	n := c.expr("", v)
	if got, want := n.String(), `%or[a $in ["x", %%user.id], b $gt 1 and $lt 3]`; got != want {
		t.Fatalf("String() = %s, want %s", got, want)
	}
}

func TestCompileErrors(t *testing.T) {
	cases := []struct{ expr, ptr, msg string }{
		{`{"a": {"%function": {"name": "f"}}}`, "/a/%function", "unsupported: %function"},
		{`{"%function": {"name": "f"}}`, "/%function", "unsupported: %function"},
		{`{"a": "%%partition"}`, "/a", "%%partition"},
		{`{"a": "%%args.x"}`, "/a", "%%args"},
		{`{"a": "%%request.remoteIPAddress"}`, "/a", "unsupported expansion"},
		{`{"a": "%%nope"}`, "/a", "unknown expansion"},
		{`{"a": "%%user.identities"}`, "/a", "unsupported"},
		{`{"a": "%%user.id.x"}`, "/a", "no fields"},
		{`{"a": "%%values.missing"}`, "/a", `no value "missing"`},
		{`{"a": {"$regex": "x"}}`, "/a/$regex", "unknown operator $regex"},
		{`{"$or": []}`, "/$or", "unknown operator $or"},
		{`{"a": {"$in": "x"}}`, "/a/$in", "$in takes an array"},
		{`{"a": {"$exists": 1}}`, "/a/$exists", "takes true or false"},
		{`{"%and": {}}`, "/%and", "takes an array"},
		{`{"a": {"%stringToOid": {"%oidToString": "x"}}}`, "/a/%stringToOid", "not another operator"},
		{`{"a": {"%stringToOid": "nothex"}}`, "/a/%stringToOid", "not 24 hex digits"},
		{`{"a": {"$eq": 1, "b": 2}}`, "/a/b", "mixed with operators"},
		{`{"a/b": {"$bad": 1}}`, "/a~1b/$bad", "unknown operator"},
		{`{"a..b": 1}`, "/a..b", "empty path segment"},
		{`3`, "", "expression must be"},
	}
	for _, c := range cases {
		t.Run(c.expr, func(t *testing.T) {
			v, err := decode([]byte(c.expr))
			if err != nil {
				t.Fatal(err)
			}
			comp := &compiler{file: "t.json", values: map[string]any{}}
			comp.expr("", v)
			if len(comp.problems) == 0 {
				t.Fatalf("%s compiled without a problem", c.expr)
			}
			p := comp.problems[0]
			if p.Pointer != c.ptr || !strings.Contains(p.Msg, c.msg) {
				t.Fatalf("%s: got %s, want pointer %q and %q", c.expr, p, c.ptr, c.msg)
			}
		})
	}
}

// TestExistsNodeAgrees: {$exists} compiled to an existsNode (asked without
// decoding) holds exactly when the general testNode does, on %%root's
// fields (a PATCH's over the stored ones, and _id) and on %%this and
// %%prev in a field rule.
func TestExistsNodeAgrees(t *testing.T) {
	stored := &doc{base: Map{"a": 1, "n": nil}, id: "x"}
	after := &doc{base: stored.base, over: Map{"b": "y"}, id: "x"}
	for _, x := range []*expansion{
		{kind: expRoot, path: []string{"a"}}, {kind: expRoot, path: []string{"b"}}, {kind: expRoot, path: []string{"n"}},
		{kind: expRoot, path: []string{"_id"}}, {kind: expRoot, path: []string{"z"}}, {kind: expThis}, {kind: expPrev},
	} {
		for _, want := range []bool{true, false} {
			fast := newTestNode(x, existsTest(want))
			if _, ok := fast.(*existsNode); !ok {
				t.Fatalf("%v: not an existsNode", x.path)
			}
			slow := &testNode{left: x, test: existsTest(want)}
			for _, field := range []string{"a", "b", "z"} {
				for _, e := range []*env{
					{root: after, thisDoc: after, prevDoc: stored, field: field},
					{root: stored, thisDoc: stored, prevDoc: none, field: field},
					{},
				} {
					f, ferr := fast.eval(e)
					s, serr := slow.eval(e)
					if f != s || ferr != nil || serr != nil {
						t.Errorf("%v %v $exists %v, field %s: existsNode %v %v, testNode %v %v", x.kind, x.path, want, field, f, ferr, s, serr)
					}
				}
			}
		}
	}
	if _, ok := newTestNode(&expansion{kind: expRoot, path: []string{"a", "b"}}, existsTest(true)).(*existsNode); ok {
		t.Error("a nested path became an existsNode")
	}
}
