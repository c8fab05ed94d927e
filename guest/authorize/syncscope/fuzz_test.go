package syncscope

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

func FuzzParse(f *testing.F) {
	for _, tc := range docCases {
		f.Add(tc.yaml)
	}
	for _, p := range []string{"testdata/todo-streams.yaml", "testdata/todo-buckets.yaml"} {
		src, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(src))
	}
	f.Fuzz(func(t *testing.T, src string) {
		c, err := Parse("fuzz.yaml", []byte(src))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "syncscope: fuzz.yaml") {
				t.Fatalf("error without its prefix: %v", err)
			}
			return
		}
		for _, table := range c.Tables() {
			for _, op := range []string{"PUT", "PATCH", "DELETE"} {
				doc := map[string]any{"id": "x", "owner_id": "u", "list_id": "x"}
				c.Check(Input{Op: op, Table: table, Before: doc, After: doc, User: User{ID: "u"},
					Parents: func(string, string, any) []map[string]any { return []map[string]any{doc} }})
			}
		}
	})
}

// FuzzCheck: a stream condition and a document; Check never panics, and a
// document whose values are not JSON values is never allowed unless an empty
// document is allowed too (the grant then did not read the document).
func FuzzCheck(f *testing.F) {
	f.Add("owner_id = auth.user_id()", `{"owner_id":"u"}`)
	f.Add("list_id IN (SELECT id FROM lists WHERE owner_id = auth.user_id())", `{"list_id":"l"}`)
	f.Add("meta ->> 'a' = auth.parameter('k') OR x IN '[1,2]'", `{"meta":{"a":1},"x":2}`)
	f.Add("a = subscription.parameter('a') AND NOT b IS NULL", `{"a":1,"b":null}`)
	f.Fuzz(func(t *testing.T, where, docJSON string) {
		c, err := Parse("fuzz.yaml", []byte("streams:\n  s:\n    query: "+jsonQuote(where)))
		if err != nil {
			return
		}
		d := json.NewDecoder(strings.NewReader(docJSON))
		d.UseNumber()
		var doc map[string]any
		if d.Decode(&doc) != nil || doc == nil {
			return
		}
		user := User{ID: "u", Claims: map[string]any{"k": json.Number("1")}}
		parents := func(_, _ string, v any) []map[string]any {
			return []map[string]any{{"id": v, "owner_id": "u"}, {"id": v, "owner_id": struct{}{}}}
		}
		table := c.Tables()[0]
		c.Check(Input{Op: "PUT", Table: table, After: doc, User: user, Parents: parents})
		bad := map[string]any{}
		for k := range doc {
			bad[k] = struct{}{}
		}
		got := c.Check(Input{Op: "PUT", Table: table, After: bad, User: user, Parents: parents})
		if got.Allow && len(bad) > 0 {
			empty := c.Check(Input{Op: "PUT", Table: table, After: map[string]any{}, User: user, Parents: parents})
			if !empty.Allow {
				t.Fatalf("allowed a document of non-JSON values: %+v", got)
			}
		}
	})
}

func jsonQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
