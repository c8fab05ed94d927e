package live

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/syncgate/syncgate/host/config"
	"github.com/syncgate/syncgate/host/sandbox"
)

// TestAuthorizeMountsAreSnapshots: the authorize guest reads copies of the
// rules files and the sync config, named by their content, so an instance
// a set starts later (a replacement for one that failed) reads that set's
// files even after RULES_DIR or SYNC_CONFIG changed; the same content
// gives the same folder, other content another.
func TestAuthorizeMountsAreSnapshots(t *testing.T) {
	dir := t.TempDir()
	cfg := config.Config{RulesDir: filepath.Join(dir, "rules"), SyncConfig: filepath.Join(dir, "sync.yaml"),
		Authorize: []string{"sync-scope"}, StateDir: filepath.Join(dir, "state")}
	write := func(path, text string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	read := func(path string) string {
		t.Helper()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	mounts := func() map[string]string {
		t.Helper()
		var gc sandbox.GuestConfig
		if err := authorizeMounts(cfg, &gc); err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, m := range gc.Mounts {
			out[m.GuestPath] = m.HostDir
		}
		return out
	}
	write(filepath.Join(cfg.RulesDir, "lists.json"), `{"roles":[]}`)
	write(filepath.Join(cfg.RulesDir, "_values.json"), `{"a":1}`)
	write(cfg.SyncConfig, "streams: {}\n")
	first := mounts()
	if first[rulesMount] == "" || first[syncMount] == "" || first[rulesMount] == cfg.RulesDir {
		t.Fatalf("mounts %v: want copies of the rules and the sync config", first)
	}
	if again := mounts(); again[rulesMount] != first[rulesMount] || again[syncMount] != first[syncMount] {
		t.Fatalf("the same files gave other folders: %v, then %v", first, again)
	}
	// The files change (a broken rules file, another sync config): the
	// first set's folders keep what it loaded.
	write(filepath.Join(cfg.RulesDir, "lists.json"), `{"roles":[{"apply_when":{"%function":{}}}]}`)
	write(cfg.SyncConfig, "bucket_definitions: {}\n")
	if got := read(filepath.Join(first[rulesMount], "lists.json")); got != `{"roles":[]}` {
		t.Fatalf("the first set's rules changed under it: %s", got)
	}
	if got := read(filepath.Join(first[rulesMount], "_values.json")); got != `{"a":1}` {
		t.Fatalf("_values.json not copied: %s", got)
	}
	if got := read(filepath.Join(first[syncMount], SyncFile)); got != "streams: {}\n" {
		t.Fatalf("the first set's sync config changed under it: %s", got)
	}
	second := mounts()
	if second[rulesMount] == first[rulesMount] || second[syncMount] == first[syncMount] {
		t.Fatalf("changed files reuse the old folders: %v, %v", first, second)
	}
	if got := read(filepath.Join(second[rulesMount], "lists.json")); got != `{"roles":[{"apply_when":{"%function":{}}}]}` {
		t.Fatalf("the new copy: %s", got)
	}
	// Nothing half-made is left next to the copies.
	entries, _ := os.ReadDir(filepath.Join(cfg.StateDir, "rules"))
	if len(entries) != 2 {
		t.Fatalf("%d entries in the rules copies' folder, want 2", len(entries))
	}
}
