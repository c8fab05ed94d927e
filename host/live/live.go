// Package live owns what a reload changes: the schemas, the upload table
// allow-list derived from them, the type converter and the guest pipeline.
// A Reloader builds all of them as one Rules set and swaps it in atomically;
// when any part fails to build, the old set keeps serving and the failure is
// reported (Status) for /readyz and metrics. Start-up is the first reload.
//
// It must not log, serve HTTP or read the environment: the command decides
// when to reload and reports what happened.
package live

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/syncgate/syncgate/guest/abi"
	"github.com/syncgate/syncgate/host/batch"
	"github.com/syncgate/syncgate/host/config"
	"github.com/syncgate/syncgate/host/pipeline"
	"github.com/syncgate/syncgate/host/sandbox"
	"github.com/syncgate/syncgate/host/schemas"
	"github.com/syncgate/syncgate/host/syncgate"
)

// SchemaGate is the stock schema gate's name: it runs after the guests
// of GUESTS and authorization, before the conflict policies.
const SchemaGate = "schemagate"

// Authorize is the stock write-authorization guest's name.
const Authorize = "authorize"

// Rules is one complete set of what a reload changes. A request uses one
// set from start to end (Acquire), so a reload never mixes two.
type Rules struct {
	manifest Manifest
	schemas  *schemas.Set // nil: no schema files
	tables   map[string]bool
	warnings []string
	notes    []string           // said once in the log when the set goes live
	auth     authorization      // the write rules the authorize guest runs (Explain)
	pipeline *pipeline.Pipeline // every guest, in the order the stages run them
	// stages: the guests of each guest stage of the write path, sharing
	// pipeline's guests.
	stages   map[batch.GuestStage]*pipeline.Pipeline
	inflight sync.WaitGroup
}

var _ batch.Rules = (*Rules)(nil)

// Tables is the set of collections clients may write; nil allows any
// valid name.
func (r *Rules) Tables() map[string]bool { return r.tables }

// Warnings are the settings that have no effect with this set's schemas
// (config.TableWarnings): the command logs them and /readyz shows them.
func (r *Rules) Warnings() []string {
	if r == nil {
		return nil
	}
	return r.warnings
}

// Notes are what the command logs once when the set goes live: parts of
// the rules files it ignores (read rules), where they fail closed, that
// no write rules are configured (development).
func (r *Rules) Notes() []string {
	if r == nil {
		return nil
	}
	return r.notes
}

// Manifest is what the set was built from, with its fingerprint (ID).
func (r *Rules) Manifest() Manifest { return r.manifest }

// ID fingerprints the set by content (Manifest.ID); "" for nil.
func (r *Rules) ID() string {
	if r == nil {
		return ""
	}
	return r.manifest.ID
}

// Schemas is the schema set, or nil when there are no schema files.
func (r *Rules) Schemas() *schemas.Set { return r.schemas }

// Pipeline is the guest pipeline (possibly without stages).
func (r *Rules) Pipeline() *pipeline.Pipeline { return r.pipeline }

// PrepareID types op's id as the schemas declare.
func (r *Rules) PrepareID(op *syncgate.Op) error { return r.schemas.PrepareID(op) }

// Convert types op's data and expected values as the schemas declare.
func (r *Rules) Convert(op *syncgate.Op) error { return r.schemas.Convert(op) }

// Guests returns the guests of a stage of the write path, nil when it has
// none.
func (r *Rules) Guests(stage batch.GuestStage) batch.Guests {
	if p := r.stages[stage]; p != nil {
		return p
	}
	return nil
}

// Describe is the pipeline as printed at start-up and on /readyz: one
// "guest:table1|table2" (or "guest:*") per stage.
func (r *Rules) Describe() []string {
	if r == nil {
		return nil
	}
	out := []string{}
	for _, s := range r.pipeline.Stages() {
		tables := "*"
		if s.Tables != nil {
			ts := make([]string, 0, len(s.Tables))
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

func (r *Rules) close(ctx context.Context) {
	r.inflight.Wait() // requests on this set finish before its guests close
	r.pipeline.Close(ctx)
}

// Status is what the last reload did.
type Status struct {
	Loaded   bool      // a set is live
	Last     time.Time // when the last reload ended
	LastOK   time.Time // when the live set was made
	Err      error     // why the last reload failed; nil if it did not
	Reloads  int64     // reloads that swapped a new set in (the first load included)
	Failures int64     // reloads that failed
	Guests   []string  // the live pipeline (Describe)
	RulesID  string    // the live set's fingerprint (Manifest.ID)
}

// Reloader owns the live Rules.
type Reloader struct {
	cfg config.Config
	rt  *sandbox.Runtime

	load sync.Mutex // one reload at a time
	mu   sync.RWMutex
	cur  *Rules
	st   Status
}

// New returns a Reloader that builds Rules from cfg's schema and guest
// folders with rt. Nothing is live until the first Reload.
func New(cfg config.Config, rt *sandbox.Runtime) *Reloader {
	return &Reloader{cfg: cfg, rt: rt}
}

// ErrNotLoaded is Acquire's error before the first successful reload.
var ErrNotLoaded = &syncgate.Error{Kind: syncgate.Unavailable, Code: syncgate.CodeGuestsLoading, Message: "the write rules are still loading; retry later"}

// Acquire returns the live set for one request and the func that releases
// it; the set's guests are not closed while it is held.
func (l *Reloader) Acquire() (*Rules, func(), error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.cur == nil {
		return nil, nil, ErrNotLoaded
	}
	r := l.cur
	r.inflight.Add(1)
	return r, r.inflight.Done, nil
}

// Current returns the live set without holding it (for reports and
// metrics), or nil.
func (l *Reloader) Current() *Rules {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.cur
}

// Status reports the last reload.
func (l *Reloader) Status() Status {
	l.mu.RLock()
	defer l.mu.RUnlock()
	s := l.st
	s.Loaded = l.cur != nil
	s.Guests = l.cur.Describe()
	s.RulesID = l.cur.ID()
	return s
}

// Reload builds a complete new set (schemas, allow-list, converter,
// guests) and swaps it in. On any failure the live set stays and the error
// is returned and kept for Status. Requests in flight on the old set finish
// on it; its guests are closed after them.
func (l *Reloader) Reload(ctx context.Context) (*Rules, error) {
	l.load.Lock()
	defer l.load.Unlock()
	next, err := l.build(ctx)
	l.mu.Lock()
	l.st.Last = time.Now()
	l.st.Err = err
	if err != nil {
		l.st.Failures++
		l.mu.Unlock()
		return nil, err
	}
	l.st.Reloads++
	l.st.LastOK = l.st.Last
	old := l.cur
	l.cur = next
	l.mu.Unlock()
	if old != nil {
		old.close(ctx)
	}
	// The old set's instances are closed: only the new set reads its
	// snapshots now.
	pruneSnapshots(l.cfg.StateDir, next.snapshotDirs(l.cfg.StateDir), time.Now())
	// Compiling guests leaves garbage once the pools are warm; hand it back
	// to the OS now rather than when the scavenger gets to it.
	debug.FreeOSMemory()
	return next, nil
}

// Close makes nothing live and closes the last set's guests after the
// requests that hold it.
func (l *Reloader) Close(ctx context.Context) {
	l.load.Lock()
	defer l.load.Unlock()
	l.mu.Lock()
	old := l.cur
	l.cur = nil
	l.mu.Unlock()
	if old != nil {
		old.close(ctx)
	}
}

func (l *Reloader) build(ctx context.Context) (*Rules, error) {
	tables, err := SchemaFiles(l.cfg.SchemasDir)
	if err != nil {
		return nil, err
	}
	// The manifest is read before the files are loaded: a file changed in
	// between makes the next poll reload, and with it a new ID.
	manifest, err := ReadManifest(l.cfg)
	if err != nil {
		return nil, err
	}
	// Every problem of the configuration and the files is reported at
	// once: tables, settings and guests are all checked before failing.
	var errs []error
	for _, e := range l.cfg.TableProblems(tables) {
		errs = append(errs, fmt.Errorf("config: %w", e))
	}
	r := &Rules{manifest: manifest, tables: l.cfg.AllowedTables(tables), warnings: l.cfg.TableWarnings(tables)}
	auth, notes, warnings, aerrs := loadAuthorization(l.cfg, tables, r.tables)
	r.auth = auth
	errs = append(errs, aerrs...)
	r.notes = notes
	r.warnings = append(r.warnings, warnings...)
	if len(tables) > 0 {
		if r.schemas, err = schemas.Load(l.cfg.SchemasDir); err != nil {
			errs = append(errs, fmt.Errorf("SCHEMAS_DIR %s:\n%w", l.cfg.SchemasDir, err))
		} else {
			// What compiles but cannot work (schemas check fails on it).
			for _, p := range r.schemas.Lint() {
				r.warnings = append(r.warnings, "SCHEMAS_DIR "+l.cfg.SchemasDir+": "+p.String()+" (./bin/syncgate schemas check)")
			}
		}
	}
	p, perrs := l.loadPipeline(ctx, tables, r.tables, len(errs) == 0)
	if errs = append(errs, perrs...); len(errs) > 0 {
		if p != nil {
			p.Close(ctx)
		}
		return nil, errors.Join(errs...)
	}
	r.pipeline, r.stages = byStage(p, l.cfg.MaxDepth)
	return r, nil
}

// SchemaFiles lists the collection schemas (not _shared files) in dir.
func SchemaFiles(dir string) ([]string, error) {
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
	names, tables := cfg.GuestTables()
	for i, name := range names {
		if name == "" || name == SchemaGate || name == Authorize {
			continue // the stock stages run where the write path puts them
		}
		s := stageSpec{name: name}
		if len(tables[i]) > 0 {
			s.tables = map[string]bool{}
			for _, t := range tables[i] {
				s.tables[t] = true
			}
		}
		specs = append(specs, s)
	}
	if authorizing(cfg) {
		specs = append(specs, stageSpec{name: Authorize})
	}
	if len(schemaTables) > 0 || cfg.UnknownTable == "reject" {
		specs = append(specs, stageSpec{name: SchemaGate})
	}
	return specs
}

// loadPipeline compiles every configured guest concurrently and fills their
// pools, and checks each one's settings (settingProblems, the guest's own
// CheckSettings). It returns every problem, each naming the guest; with
// any, no pipeline (build only when the caller's checks passed too).
func (l *Reloader) loadPipeline(ctx context.Context, schemaTables []string, allowed map[string]bool, build bool) (*pipeline.Pipeline, []error) {
	cfg := l.cfg
	specs := pipelineSpec(cfg, schemaTables)
	type result struct {
		g    *sandbox.Guest
		errs []error
	}
	results := make([]chan result, len(specs))
	for i, s := range specs {
		results[i] = make(chan result, 1)
		go func() {
			path := filepath.Join(cfg.GuestsDir, s.name+".wasm")
			wasm, err := os.ReadFile(path)
			if err != nil {
				results[i] <- result{errs: []error{missingGuest(s.name, cfg.GuestsDir, err)}}
				return
			}
			gc := sandbox.GuestConfig{Name: s.name, Path: path, Wasm: wasm, Pool: cfg.Pool(), Settings: guestSettings(cfg, s.name, schemaTables)}
			if s.name == SchemaGate {
				abs, err := filepath.Abs(cfg.SchemasDir)
				if err != nil {
					results[i] <- result{errs: []error{err}}
					return
				}
				gc.Mounts = []sandbox.Mount{{HostDir: abs, GuestPath: "/schemas"}}
			}
			if s.name == Authorize {
				if err := authorizeMounts(cfg, &gc); err != nil {
					results[i] <- result{errs: []error{err}}
					return
				}
			}
			g, err := l.rt.Load(ctx, gc)
			if err != nil {
				results[i] <- result{errs: []error{err}}
				return
			}
			errs := settingProblems(s.name, g.Info().Settings, gc.Settings, s.tables, allowed)
			if len(errs) == 0 {
				if err := g.CheckSettings(ctx); err != nil { // the guest's own check of the values (guest.CheckSettings)
					errs = append(errs, err)
				}
			}
			if len(errs) > 0 {
				g.Close(ctx)
				g = nil
			}
			results[i] <- result{g: g, errs: errs}
		}()
	}
	stages := make([]pipeline.Stage, len(specs))
	var errs []error
	for i := range specs {
		r := <-results[i]
		errs = append(errs, r.errs...)
		if r.g != nil {
			stages[i] = pipeline.Stage{Guest: r.g, Tables: specs[i].tables}
		}
	}
	if len(errs) > 0 || !build {
		for _, s := range stages {
			if s.Guest != nil {
				s.Guest.Close(ctx)
			}
		}
		return nil, errs
	}
	return pipeline.NewPipeline(stages, cfg.MaxDepth), nil
}

// byStage orders the guests as the write path's stages run them — GUESTS
// in their order, authorization, the schema gate, conflict policies — and
// returns them as one pipeline (what the set describes and closes) and
// one per guest stage.
func byStage(p *pipeline.Pipeline, maxDepth int) (*pipeline.Pipeline, map[batch.GuestStage]*pipeline.Pipeline) {
	groups := map[batch.GuestStage][]pipeline.Stage{}
	for _, s := range p.Stages() {
		g := batch.Transform
		switch {
		case s.Guest.Name() == SchemaGate:
			g = batch.SchemaGate
		case s.Guest.Name() == Authorize:
			g = batch.Authorize
		case s.Guest.Info().Kind == abi.KindPolicy:
			g = batch.Policies
		}
		groups[g] = append(groups[g], s)
	}
	var ordered []pipeline.Stage
	stages := map[batch.GuestStage]*pipeline.Pipeline{}
	for _, g := range batch.GuestStages {
		if len(groups[g]) > 0 {
			ordered = append(ordered, groups[g]...)
			stages[g] = pipeline.NewPipeline(groups[g], maxDepth)
		}
	}
	return pipeline.NewPipeline(ordered, maxDepth), stages
}
