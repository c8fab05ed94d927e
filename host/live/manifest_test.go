package live

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/syncgate/syncgate/host/config"
)

// TestManifestID: the fingerprint follows the guests per table, their
// settings, the schema files' contents and the rules files, and nothing
// else (the same files read twice give the same ID).
func TestManifestID(t *testing.T) {
	schemas, rules := t.TempDir(), t.TempDir()
	write := func(path, s string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(schemas, "lists.json"), `{"type":"object"}`)
	base := config.Config{GuestsDir: guestsDir, SchemasDir: schemas, Guests: []string{"echo:lists"}}
	id := func(cfg config.Config, rulesDir string) string {
		t.Helper()
		cfg.RulesDir = rulesDir
		m, err := ReadManifest(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return m.ID
	}
	first := id(base, "")
	if len(first) != 64 || id(base, "") != first {
		t.Fatalf("ID %q not stable", first)
	}
	seen := map[string]string{first: "base"}
	differs := func(what, got string) {
		t.Helper()
		if prev, ok := seen[got]; ok {
			t.Errorf("%s: same ID as %s", what, prev)
		}
		seen[got] = what
	}
	other := base
	other.Guests = []string{"echo"}
	differs("guest on every table", id(other, ""))
	other = base
	other.GuestSettings = map[string]string{"echo.x": "1"}
	differs("a setting", id(other, ""))
	other.GuestSettings = map[string]string{"echo.x": "2"}
	differs("another value", id(other, ""))
	write(filepath.Join(rules, "a", "r.yaml"), "allow: all")
	differs("a rules file", id(base, rules))
	write(filepath.Join(schemas, "lists.json"), `{"type":"object","required":["x"]}`)
	differs("schema content", id(base, ""))

	withRules := base
	withRules.RulesDir = rules
	m, err := ReadManifest(withRules)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Join(m.Lines(), "\n")
	for _, w := range []string{"1. echo on lists", "2. schemagate on every table (settings: unknown_table=reject)", "schemas: lists.json", "rules files: a/r.yaml", "rules_id: " + m.ID} {
		if !strings.Contains(text, w) {
			t.Errorf("Lines:\n%s\nwant %q", text, w)
		}
	}
}

// TestManifestHas: a record refused by a guest stage can be replayed only
// by a set that runs that guest for its table.
func TestManifestHas(t *testing.T) {
	m := Manifest{Stages: []ManifestStage{{Guest: "owner", Tables: []string{"lists"}}, {Guest: "lww"}, {Guest: SchemaGate}}}
	for _, c := range []struct {
		stage, table string
		ok           bool
		why          string
	}{
		{"", "lists", true, ""},
		{"write", "lists", true, ""},
		{"guest:owner", "lists", true, ""},
		{"guest:owner", "todos", false, "runs here only for lists, not todos"},
		{"guest:quota", "lists", false, "this rules set does not run it"},
		{"guest:lww", "anything", true, ""},
		{"schemagate", "todos", true, ""},
		{"authorize", "lists", false, `stage "authorize" is not part of this rules set`},
	} {
		ok, why := m.Has(c.stage, c.table)
		if ok != c.ok || !strings.Contains(why, c.why) {
			t.Errorf("Has(%q, %q) = %v %q, want %v %q", c.stage, c.table, ok, why, c.ok, c.why)
		}
	}
}
