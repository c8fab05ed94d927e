package schemas

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheck (issue 29 item 5): what the compiler accepts but cannot work
// is reported, and a meta-schema error says which value is wrong and what
// is allowed, not the meta-schema's path.
func TestCheck(t *testing.T) {
	for _, c := range []struct {
		name, schema string
		want         []string // one substring per problem; none: OK
	}{
		{"fine", `{"type":"object","properties":{"id":{"type":"string"},"done":{"type":"integer","x-bsonType":"bool","x-owner":"me"}},"required":["id"],"additionalProperties":false}`, nil},
		{"required name no property allows", `{"type":"object","properties":{"id":{"type":"string"},"body":{"type":"string"}},"required":["id","bdy"],"additionalProperties":false}`,
			[]string{`notes.json: at /required/1: "bdy" is required, but no property allows it (additionalProperties is false; properties: body, id), so every write is rejected; did you mean "body"?`}},
		{"required in a nested closed object", `{"type":"object","properties":{"meta":{"type":"object","properties":{"a":{}},"required":["b"],"additionalProperties":false}}}`,
			[]string{`at /properties/meta/required/0: "b" is required`}},
		{"required allowed by a pattern", `{"type":"object","patternProperties":{"^x_":{}},"required":["x_1"],"additionalProperties":false}`, nil},
		{"open object", `{"type":"object","properties":{"id":{}},"required":["other"]}`, nil},
		{"annotation typo", `{"type":"object","properties":{"done":{"type":"integer","x-bsontype":"bool"},"n":{"x-bsonTpye":"long"}}}`,
			[]string{"at /properties/done/x-bsontype: x-bsontype is not an annotation syncgate reads; did you mean x-bsonType?", "at /properties/n/x-bsonTpye: x-bsonTpye is not"}},
		{"meta-schema error", `{"type":"object","properties":{"body":{"type":"strng"}}}`,
			[]string{`notes.json: at /properties/body/type: "strng" is not a type (one of "array", "boolean", "integer", "null", "number", "object", "string")`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "notes.json"), []byte(c.schema), 0o644); err != nil {
				t.Fatal(err)
			}
			_, ps := Check(dir)
			if len(ps) != len(c.want) {
				t.Fatalf("%d problems, want %d:\n%v", len(ps), len(c.want), ps)
			}
			for i, w := range c.want {
				if !strings.Contains(ps[i].String(), w) {
					t.Errorf("problem %d:\n%s\nwant it to contain\n%s", i, ps[i], w)
				}
			}
		})
	}
}

// TestCheckDemoSchemas: the demo schemas (the tests' fixture copy; no test reads the user's schemas/) pass the lint.
func TestCheckDemoSchemas(t *testing.T) {
	if _, ps := Check("../../tests/testdata/schemas"); len(ps) > 0 {
		t.Fatal(ps)
	}
}

func TestEditDistance(t *testing.T) {
	for _, c := range []struct {
		a, b string
		d    int
	}{{"", "", 0}, {"field", "feild", 1}, {"qouta", "quota", 1}, {"owner", "owners", 1}, {"abc", "xyz", 3}} {
		if d := EditDistance(c.a, c.b); d != c.d {
			t.Errorf("%q %q: %d, want %d", c.a, c.b, d, c.d)
		}
	}
}
