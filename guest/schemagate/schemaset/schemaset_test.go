package schemaset

import (
	"strings"
	"testing"
	"testing/fstest"
)

// TestProblemsSayWhere: every problem names the file and the place to fix:
// a syntax error its line and column, a $ref that resolves nowhere the
// property that holds it.
func TestProblemsSayWhere(t *testing.T) {
	for _, c := range []struct {
		name, file, body, want string
	}{
		{"trailing comma", "a.json", "{\n  \"type\": \"object\",\n  \"properties\": {\n    \"a\": {\"type\": \"string\"},\n  }\n}\n", "a.json: line 5, column 3: not a JSON object"},
		{"unclosed", "a.json", "{\"type\": \"object\"", "a.json: line 1 (end of file): not a JSON object"},
		{"ref to another file", "b.json", `{"type":"object","properties":{"owner":{"$ref":"_common.json#/$defs/nope"}}}`, "b.json: /properties/owner/$ref: "},
		{"ref inside the file", "b.json", `{"type":"object","properties":{"n":{"prefixItems":[{"$ref":"#/$defs/gone"}]}}}`, "b.json: /properties/n/prefixItems/0/$ref: "},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load(fstest.MapFS{c.file: {Data: []byte(c.body)}, "_common.json": {Data: []byte(`{"$defs":{"x":{"type":"string"}}}`)}})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want %q", err, c.want)
			}
		})
	}
}
