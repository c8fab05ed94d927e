package cli

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/syncgate/syncgate/host/admin"
	"github.com/syncgate/syncgate/host/batch"
	"github.com/syncgate/syncgate/host/config"
	"github.com/syncgate/syncgate/host/live"
	"github.com/syncgate/syncgate/host/server"
	"github.com/syncgate/syncgate/host/store"
)

// newConsole wires the admin console to the live rules, the store and the
// server's readiness.
func newConsole(cfg config.Config, keys []string, st *store.Mongo, rules *live.Reloader, srv *server.Server) (*admin.Console, error) {
	svc := newRejectedService(cfg, st, func() (batch.Rules, func(), error) { return rules.Acquire() })
	return admin.New(admin.Config{
		Keys:      keys,
		Rejected:  svc,
		Readiness: srv.Readiness,
		Guests: func() []admin.GuestStats {
			r := rules.Current()
			if r == nil {
				return nil
			}
			var out []admin.GuestStats
			for _, s := range r.Pipeline().Stages() {
				tables := "*"
				if s.Tables != nil {
					ts := slices.Sorted(maps.Keys(s.Tables))
					tables = strings.Join(ts, "|")
				}
				st := s.Guest.Stats()
				out = append(out, admin.GuestStats{Name: s.Guest.Name(), Tables: tables, Calls: st.Calls.Load(),
					Rejections: st.Rejections.Load(), Timeouts: st.Timeouts.Load(), Traps: st.Traps.Load()})
			}
			return out
		},
		Rules: func() any { return rulesReport(cfg, rules) },
	})
}

// rulesReport is what the console's "Schemas and guests" page shows.
func rulesReport(cfg config.Config, rules *live.Reloader) map[string]any {
	st := rules.Status()
	out := map[string]any{
		"loaded":      st.Loaded,
		"pipeline":    st.Guests,
		"reloads":     st.Reloads,
		"failures":    st.Failures,
		"schemas_dir": cfg.SchemasDir,
		"guests_dir":  cfg.GuestsDir,
	}
	if !st.Last.IsZero() {
		out["last_reload"] = st.Last.UTC().Format(time.RFC3339)
	}
	if !st.LastOK.IsZero() {
		out["live_since"] = st.LastOK.UTC().Format(time.RFC3339)
	}
	if st.Err != nil {
		out["last_error"] = st.Err.Error()
	}
	if r := rules.Current(); r != nil {
		tables := slices.Sorted(maps.Keys(r.Tables()))
		if tables == nil {
			tables = []string{} // JSON [], not null
		}
		out["tables"] = tables
	}
	out["schema_files"] = files(cfg.SchemasDir, ".json")
	out["guest_files"] = files(cfg.GuestsDir, ".wasm")
	return out
}

// files lists dir's files ending in ext with size and modification time.
func files(dir, ext string) []map[string]any {
	entries, _ := os.ReadDir(dir)
	out := []map[string]any{}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ext) {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		out = append(out, map[string]any{"file": filepath.Join(dir, e.Name()), "bytes": info.Size(), "modified": info.ModTime().UTC().Format(time.RFC3339)})
	}
	return out // os.ReadDir sorts by name
}
