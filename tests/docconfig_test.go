package tests

import (
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/syncgate/syncgate/internal/guestbuild"
)

// documentedConfig is one GUESTS (with its GUEST_SETTINGS) a guide shows.
type documentedConfig struct {
	at, guests, settings string
}

// documentedConfigs reads every fenced block of the guides and READMEs for
// GUESTS= and GUEST_SETTINGS= lines, as a reader copies them (quotes and
// trailing comments dropped).
func documentedConfigs(t *testing.T) []documentedConfig {
	t.Helper()
	files := []string{"../README.md"}
	for _, pattern := range []string{"../docs/*.md", "../guest/examples/*/README.md", "../guest/policies/*/README.md"} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	var out []documentedConfig
	for _, f := range files {
		var blocks []string
		for _, lang := range []string{"sh", "env", "bash", ""} {
			blocks = append(blocks, fenced(readFile(t, f), lang)...)
		}
		for i, b := range blocks {
			c := documentedConfig{at: filepath.ToSlash(strings.TrimPrefix(f, "../")) + " block " + strconv.Itoa(i+1)}
			for _, line := range strings.Split(b, "\n") {
				line, _, _ = strings.Cut(line, " #")
				k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
				v = strings.Trim(strings.TrimSpace(v), `'"`)
				switch {
				case !ok:
				case k == "GUESTS":
					c.guests = v
				case k == "GUEST_SETTINGS":
					c.settings = v
				}
			}
			if c.guests != "" {
				out = append(out, c)
			}
		}
	}
	return out
}

// TestDocumentedConfigurations (issue 29 item 7): every GUESTS /
// GUEST_SETTINGS a guide or README shows starts the server with the demo
// schemas and lets the demo data (a list and its to-do, as its user)
// through. Before, deploy.md's GUESTS=owner:lists|todos rejected every
// to-do (owner_id is no todos field).
func TestDocumentedConfigurations(t *testing.T) {
	configs := documentedConfigs(t)
	if len(configs) < 8 {
		t.Fatalf("found %d documented configurations, want the guides' and READMEs': %+v", len(configs), configs)
	}
	seen := map[string]bool{}
	for _, c := range configs {
		key := c.guests + " " + c.settings
		if seen[key] {
			continue
		}
		seen[key] = true
		t.Run(strings.NewReplacer("/", "_", " ", "_").Replace(c.at), func(t *testing.T) {
			var tables []string
			for _, g := range strings.Split(c.guests, ",") {
				name, list, _ := strings.Cut(g, ":")
				if _, ok := guestbuild.Stock[name]; !ok {
					t.Skipf("%s: guest %s is the guide's own (TestWalkthrough builds and runs it)", c.at, name)
				}
				for _, tb := range strings.Split(list, "|") {
					if tb != "" && tb != "lists" && tb != "todos" && !slices.Contains(tables, tb) {
						tables = append(tables, tb)
					}
				}
			}
			env := schemaEnv(t)
			delete(env, "UPLOAD_AUTH")
			// The guides of the guests that stamp or compare updated_at
			// say to add it to schemas/todos.json first; do as they say.
			updatedAt := ""
			if strings.Contains(c.guests, "lww") || strings.Contains(c.guests, "timestamps") {
				path := filepath.Join(env["SCHEMAS_DIR"], "todos.json")
				todos := readFile(t, path)
				added := strings.Replace(todos, `"properties": {`, `"properties": {
    "updated_at": { "$ref": "_common.json#/$defs/timestamp", "x-bsonType": "date" },`, 1)
				if added == todos {
					t.Fatal("todos.json: no properties to add updated_at to")
				}
				write(t, path, added)
				updatedAt = `,"updated_at":"2024-05-01 10:00:00"`
			}
			env["GUESTS"], env["GUEST_SETTINGS"] = c.guests, c.settings
			if len(tables) > 0 { // the conflict guides' orders and products: writable, no schema
				env["UPLOAD_TABLES"] = strings.Join(tables, ",")
			}
			a := start(t, env)
			alice := token(t, a, "alice")
			res := uploadResult(t, postUpload(t, a, alice, `{"batch":[
				{"op":"PUT","table":"lists","id":"`+listA+`","data":{"name":"Groceries","owner_id":"alice","created_at":"2024-05-01 10:00:00"}},
				{"op":"PUT","table":"todos","id":"`+todoA+`","data":{"description":"milk","list_id":"`+listA+`","created_by":"alice","completed":0,"created_at":"2024-05-01 10:00:00"`+updatedAt+`}}]}`))
			if res.Applied != 2 {
				t.Fatalf("%s: GUESTS=%s GUEST_SETTINGS=%s: the demo data: %+v", c.at, c.guests, c.settings, res)
			}
		})
	}
}
