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
	"github.com/syncgate/syncgate/host/filestore"
	"github.com/syncgate/syncgate/host/live"
	"github.com/syncgate/syncgate/host/server"
	"github.com/syncgate/syncgate/host/store"
	"github.com/syncgate/syncgate/host/syncgate"
)

// newConsole wires the admin console to the live rules, the store and the
// server's readiness.
func newConsole(cfg config.Config, keys []string, st *store.Mongo, rules *live.Reloader, srv *server.Server, files *filestore.Store) (*admin.Console, error) {
	svc := newRejectedService(cfg, st, func() (batch.Rules, func(), error) { return rules.Acquire() })
	var attachmentStore admin.AttachmentStore
	if files != nil {
		attachmentStore = files
	}
	return admin.New(admin.Config{
		Attachments:   attachmentStore,
		Authorization: func() any { return authorizationReport(cfg, rules.Current()) },
		Explain: func(req admin.ExplainRequest) (any, error) {
			r := rules.Current()
			if r == nil {
				return nil, &syncgate.Error{Kind: syncgate.Unavailable, Code: syncgate.CodeGuestsLoading, Message: "no rules are loaded yet"}
			}
			return r.Explain(live.ExplainInput{User: req.User, Claims: req.Claims, Op: live.ExplainOp(req.Op), Current: req.Current, Parents: req.Parents})
		},
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

// rulesReport is what the console's "Schemas and guests" page shows: per
// writable table its guests in order and its schema; the last reload with
// its error and the live set's fingerprint; the files.
func rulesReport(cfg config.Config, rules *live.Reloader) map[string]any {
	st := rules.Status()
	reload := map[string]any{"loaded": st.Loaded, "reloads": st.Reloads, "failures": st.Failures, "rules_id": st.RulesID}
	if !st.Last.IsZero() {
		reload["last"] = st.Last.UTC().Format(time.RFC3339)
	}
	if !st.LastOK.IsZero() {
		reload["live_since"] = st.LastOK.UTC().Format(time.RFC3339)
	}
	if st.Err != nil {
		reload["error"] = st.Err.Error()
	}
	out := map[string]any{
		"reload":       reload,
		"reloads":      st.Reloads,
		"pipeline":     st.Guests,
		"schemas_dir":  cfg.SchemasDir,
		"guests_dir":   cfg.GuestsDir,
		"tables":       []map[string]any{},
		"schema_files": files(cfg.SchemasDir, ".json"),
		"guest_files":  files(cfg.GuestsDir, ".wasm"),
	}
	if r := rules.Current(); r != nil {
		out["tables"] = tableRows(r)
	}
	return out
}

// tableRows is one row per writable table ("*" when any name is): the
// guests that run for it, in order, and its schema file ("" unchecked).
func tableRows(r *live.Rules) []map[string]any {
	names := slices.Sorted(maps.Keys(r.Tables()))
	if len(names) == 0 {
		names = []string{"*"}
	}
	withSchema := map[string]bool{}
	if s := r.Schemas(); s != nil {
		for _, t := range s.Tables() {
			withSchema[t] = true
		}
	}
	rows := []map[string]any{}
	for _, t := range names {
		guests := []string{}
		for _, s := range r.Manifest().Stages {
			if len(s.Tables) == 0 || slices.Contains(s.Tables, t) {
				guests = append(guests, s.Guest)
			}
		}
		schema := ""
		if withSchema[t] {
			schema = t + ".json"
		}
		rows = append(rows, map[string]any{"table": t, "guests": guests, "schema": schema})
	}
	return rows
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

// authorizationReport is what the console's "Write rules" page shows of
// the live set's write rules: per table its roles in order (and the file),
// the default roles, the read parts ignored and where it fails closed;
// with AUTHORIZE=sync-scope, per table the sync config's streams and the
// open ones. With neither, the posture (every write allowed).
func authorizationReport(cfg config.Config, r *live.Rules) map[string]any {
	out := map[string]any{"rules_dir": cfg.RulesDir, "rules": nil, "sync_config": "", "sync": nil, "loaded": r != nil}
	if r == nil {
		return out
	}
	set, _, scope, syncPath := r.Authorization()
	if set != nil {
		tables := []map[string]any{}
		for _, t := range set.Tables() {
			names, file := set.Roles(t)
			tables = append(tables, map[string]any{"table": t, "file": file, "roles": nonNil(names)})
		}
		rules := map[string]any{"tables": tables, "default": nil,
			"ignored": nonNil(set.Ignored()), "warnings": nonNil(set.Warnings())}
		if set.HasDefault() {
			names, file := set.Roles("")
			rules["default"] = map[string]any{"file": file, "roles": nonNil(names)}
		}
		out["rules"] = rules
	}
	if scope != nil {
		out["sync_config"] = syncPath
		tables := []map[string]any{}
		for _, t := range scope.Tables() {
			labels, conds := scope.Streams(t)
			streams := []map[string]any{}
			for i := range labels {
				streams = append(streams, map[string]any{"stream": labels[i], "condition": conds[i]})
			}
			tables = append(tables, map[string]any{"table": t, "streams": streams})
		}
		open := []map[string]any{}
		for _, o := range scope.Open() {
			open = append(open, map[string]any{"stream": o.Stream, "table": o.Table, "line": o.Line, "reason": o.Reason})
		}
		out["sync"] = map[string]any{"tables": tables, "open": open}
	}
	if set == nil && scope == nil {
		out["posture"] = "no write rules (RULES_DIR " + cfg.RulesDir + " has none, AUTHORIZE has no sync-scope): any authenticated user may write any document of a writable table"
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
