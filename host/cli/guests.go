package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/syncgate/syncgate/host/config"
	"github.com/syncgate/syncgate/host/sandbox"
)

// schemaGate is the stock guest's name; it always runs last.
const schemaGate = "schemagate"

// schemaFiles lists the collection schemas (not _shared files) in dir.
func schemaFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("SCHEMAS_DIR: %w", err)
	}
	var tables []string
	for _, e := range entries {
		if n := e.Name(); !e.IsDir() && strings.HasSuffix(n, ".json") && !strings.HasPrefix(n, "_") {
			tables = append(tables, strings.TrimSuffix(n, ".json"))
		}
	}
	sort.Strings(tables)
	return tables, nil
}

// stageSpec is one configured guest.
type stageSpec struct {
	name   string
	tables map[string]bool
}

// pipelineSpec reads GUESTS (and appends the schema gate when schemas exist).
func pipelineSpec(cfg config.Config, schemaTables []string) []stageSpec {
	var specs []stageSpec
	for _, g := range cfg.Guests {
		name, tables, _ := strings.Cut(strings.TrimSpace(g), ":")
		if name == "" || name == schemaGate {
			continue
		}
		s := stageSpec{name: name}
		if tables != "" {
			s.tables = map[string]bool{}
			for _, t := range strings.Split(tables, "|") {
				s.tables[strings.TrimSpace(t)] = true
			}
		}
		specs = append(specs, s)
	}
	if len(schemaTables) > 0 || cfg.UnknownTable == "reject" {
		specs = append(specs, stageSpec{name: schemaGate})
	}
	return specs
}

func guestSettings(cfg config.Config, name string) map[string]string {
	out := map[string]string{}
	for k, v := range cfg.GuestSettings {
		if g, key, ok := strings.Cut(k, "."); ok && g == name {
			out[key] = v
		}
	}
	if name == schemaGate && cfg.UnknownTable != "" {
		out["unknown_table"] = cfg.UnknownTable
	}
	return out
}

// loadPipeline compiles every configured guest concurrently and fills their
// pools. Any failure refuses the whole pipeline, naming the file.
func loadPipeline(ctx context.Context, cfg config.Config, rt *sandbox.Runtime, log *slog.Logger) (*sandbox.Pipeline, error) {
	tables, err := schemaFiles(cfg.SchemasDir)
	if err != nil {
		return nil, err
	}
	specs := pipelineSpec(cfg, tables)
	pool := cfg.GuestPool
	if pool == 0 {
		pool = runtime.NumCPU()
	}
	type result struct {
		g   *sandbox.Guest
		err error
	}
	results := make([]chan result, len(specs))
	start := time.Now()
	if len(specs) > 0 {
		log.Info("loading guests (compiled once per build; the first start takes seconds)", "count", len(specs), "pool", pool)
	}
	for i, s := range specs {
		results[i] = make(chan result, 1)
		go func() {
			path := filepath.Join(cfg.GuestsDir, s.name+".wasm")
			wasm, err := os.ReadFile(path)
			if err != nil {
				results[i] <- result{err: fmt.Errorf("guest %s: %w (build guests with: go tool task guests)", s.name, err)}
				return
			}
			gc := sandbox.GuestConfig{Name: s.name, Path: path, Wasm: wasm, Pool: pool, Settings: guestSettings(cfg, s.name)}
			if s.name == schemaGate {
				abs, err := filepath.Abs(cfg.SchemasDir)
				if err != nil {
					results[i] <- result{err: err}
					return
				}
				gc.Mounts = []sandbox.Mount{{HostDir: abs, GuestPath: "/schemas"}}
			}
			g, err := rt.Load(ctx, gc)
			results[i] <- result{g: g, err: err}
		}()
	}
	stages := make([]sandbox.Stage, len(specs))
	var errs []error
	for i := range specs {
		r := <-results[i]
		if r.err != nil {
			errs = append(errs, r.err)
			continue
		}
		stages[i] = sandbox.Stage{Guest: r.g, Tables: specs[i].tables}
	}
	if len(errs) > 0 {
		for _, s := range stages {
			if s.Guest != nil {
				s.Guest.Close(ctx)
			}
		}
		return nil, errors.Join(errs...)
	}
	p := sandbox.NewPipeline(stages, cfg.MaxDepth)
	log.Info("guests loaded", "pipeline", describe(p), "pool", pool, "took", time.Since(start).Round(time.Millisecond))
	return p, nil
}

// describe is the pipeline as printed at start-up and on /readyz.
func describe(p *sandbox.Pipeline) []string {
	if p == nil {
		return nil
	}
	out := []string{}
	for _, s := range p.Stages() {
		tables := "*"
		if s.Tables != nil {
			var ts []string
			for t := range s.Tables {
				ts = append(ts, t)
			}
			sort.Strings(ts)
			tables = strings.Join(ts, "|")
		}
		out = append(out, s.Guest.Name()+":"+tables)
	}
	return out
}

// fingerprint summarises the guest and schema files for change polling.
func fingerprint(cfg config.Config) string {
	var b strings.Builder
	for _, dir := range []string{cfg.GuestsDir, cfg.SchemasDir} {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if info, err := e.Info(); err == nil {
				fmt.Fprintf(&b, "%s/%s:%d:%d;", dir, e.Name(), info.Size(), info.ModTime().UnixNano())
			}
		}
	}
	return b.String()
}
