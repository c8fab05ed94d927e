package live

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/syncgate/syncgate/host/batch"
	"github.com/syncgate/syncgate/host/config"
	"github.com/syncgate/syncgate/host/syncgate"
)

// TestAuthorizeGuestMounts loads the stock authorize guest with rules
// only, the sync config only, and both: each starts (the guest must not
// take an unmounted folder for an error) and denies alice's PUT of a list
// owned by bob, naming the check that refused it.
func TestAuthorizeGuestMounts(t *testing.T) {
	rules, err := filepath.Abs(filepath.Join("..", "..", "examples", "authorization", "rules"))
	if err != nil {
		t.Fatal(err)
	}
	streams, err := filepath.Abs(filepath.Join("..", "..", "guest", "authorize", "syncscope", "testdata", "todo-streams.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		rules     string
		authorize []string
		sync      string
		want      string
	}{
		{"rules only", rules, nil, "", "no role"},
		{"sync config only", t.TempDir(), []string{"sync-scope"}, streams, "lists"},
		{"both", rules, []string{"sync-scope"}, streams, "no role"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := config.Config{GuestsDir: guestsDir, SchemasDir: t.TempDir(), StateDir: t.TempDir(), RulesDir: c.rules,
				Authorize: c.authorize, SyncConfig: c.sync, Tables: []string{"lists", "todos"}, GuestPool: 1, MaxDepth: 64}
			// A snapshot of rules no set uses any more, unused for two days.
			stale := filepath.Join(cfg.StateDir, "rules", "fedcba9876543210")
			if err := os.MkdirAll(stale, 0o755); err != nil {
				t.Fatal(err)
			}
			long := time.Now().Add(-48 * time.Hour)
			if err := os.Chtimes(stale, long, long); err != nil {
				t.Fatal(err)
			}
			r, err := newReloader(t, cfg).Reload(context.Background())
			if err != nil {
				t.Fatalf("reload: %v", err)
			}
			if _, err := os.Stat(stale); err == nil {
				t.Error("the reload left a stale snapshot")
			}
			if dirs := r.snapshotDirs(cfg.StateDir); len(dirs) != len(c.authorize)+map[bool]int{true: 1}[c.rules == rules] {
				t.Errorf("the set's snapshots %v", dirs)
			}
			g := r.Guests(batch.Authorize)
			if g == nil {
				t.Fatal("no authorize stage")
			}
			b := &syncgate.Batch{Caller: syncgate.Caller{UserID: "alice"}, Ops: []syncgate.Op{{Index: 0, Op: syncgate.Put, Table: "lists", ID: "l1",
				Data: syncgate.Doc{{Key: "name", Value: "x"}, {Key: "owner_id", Value: "bob"}}}}}
			acc, rej, err := g.Run(context.Background(), b, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(acc) != 0 || len(rej) != 1 || rej[0].Code != syncgate.CodeForbidden || !strings.Contains(rej[0].Reason, c.want) {
				t.Fatalf("accepted %v, rejected %+v; want forbidden naming %q", acc, rej, c.want)
			}
		})
	}
}
