package live

import (
	"os"
	"path/filepath"
	"testing"
	"time"

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

// TestSnapshotsPruned: snapshot folders no live set uses are removed once
// unused for snapshotTTL, with the leftovers of interrupted copies; the
// live set's are kept and marked as used, folders used recently (by
// another server sharing SYNCGATE_DIR) are kept, and nothing but
// snapshot-named folders is ever touched.
func TestSnapshotsPruned(t *testing.T) {
	state := t.TempDir()
	now := time.Now()
	old, recent := now.Add(-snapshotTTL-time.Hour), now.Add(-time.Hour)
	mk := func(rel string, at time.Time) string {
		t.Helper()
		dir := filepath.Join(state, rel)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "lists.json"), []byte(`{}`), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(dir, at, at); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	live := mk("rules/0123456789abcdef", old)
	stale := mk("rules/fedcba9876543210", old)
	otherServer := mk("rules/00000000000000aa", recent)
	crashed := mk("rules/.new-123456", old)
	staleSync := mk("sync-config/aaaaaaaaaaaaaaaa", old)
	notOurs := mk("rules/my-old-rules", old)
	if n := pruneSnapshots(state, []string{live}, now); n != 3 {
		t.Errorf("removed %d, want 3", n)
	}
	for dir, want := range map[string]bool{live: true, stale: false, otherServer: true, crashed: false, staleSync: false, notOurs: true} {
		_, err := os.Stat(dir)
		if got := err == nil; got != want {
			t.Errorf("%s: there %v, want %v", dir, got, want)
		}
	}
	if info, err := os.Stat(live); err != nil || now.Sub(info.ModTime()) > time.Minute {
		t.Errorf("the live snapshot was not marked as used: %v %v", info.ModTime(), err)
	}
	if n := pruneSnapshots("", nil, now); n != 0 {
		t.Errorf("an empty SYNCGATE_DIR pruned %d", n)
	}
}
