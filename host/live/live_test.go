package live

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syncgate/syncgate/host/batch"
	"github.com/syncgate/syncgate/host/config"
	"github.com/syncgate/syncgate/host/sandbox"
	"github.com/syncgate/syncgate/host/syncgate"
	"github.com/syncgate/syncgate/internal/guestbuild"
)

// guestsDir holds the echo and authorize guests, built once.
var guestsDir string

func TestMain(m *testing.M) {
	os.Exit(guestbuild.Run(m, map[string]string{"echo": guestbuild.Stock["echo"], Authorize: guestbuild.Stock[Authorize]}, &guestsDir))
}

func newReloader(t *testing.T, cfg config.Config) *Reloader {
	rt, err := sandbox.NewRuntime(context.Background(), sandbox.RuntimeConfig{CacheDir: filepath.Join(os.TempDir(), "syncgate-test-wazero-cache")})
	if err != nil {
		t.Fatal(err)
	}
	l := New(cfg, rt)
	t.Cleanup(func() {
		l.Close(context.Background())
		rt.Close(context.Background())
	})
	return l
}

func oneOp(table, id string) *syncgate.Batch {
	return &syncgate.Batch{Ops: []syncgate.Op{{Op: syncgate.Put, Table: table, ID: id, Data: syncgate.Doc{}}}}
}

// TestConcurrentRunsAndReload: requests holding a set finish on it while
// reloads swap new sets in and close the old ones.
func TestConcurrentRunsAndReload(t *testing.T) {
	l := newReloader(t, config.Config{GuestsDir: guestsDir, SchemasDir: t.TempDir(), Guests: []string{"echo"}, GuestPool: 2, MaxDepth: 64})
	if _, _, err := l.Acquire(); err != ErrNotLoaded {
		t.Fatalf("before the first reload: %v, want ErrNotLoaded", err)
	}
	if _, err := l.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 400)
	for w := range 4 {
		wg.Go(func() {
			for i := range 100 {
				r, done, err := l.Acquire()
				if err != nil {
					errs <- err
					continue
				}
				acc, _, err := r.Guests(batch.Transform).Run(context.Background(), oneOp("t", fmt.Sprint(w, i)), nil)
				done()
				if err != nil || len(acc) != 1 {
					errs <- fmt.Errorf("call %d/%d: %v %v", w, i, acc, err)
				}
			}
		})
	}
	for range 3 {
		if _, err := l.Reload(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if st := l.Status(); st.Reloads != 4 || st.Failures != 0 || st.Err != nil {
		t.Fatalf("status %+v, want 4 reloads and no failure", st)
	}
}

// TestReloadIsAllOrNothing: the allow-list and the converter follow the
// schema files; a reload that fails anywhere keeps the whole previous set
// and reports why.
func TestReloadIsAllOrNothing(t *testing.T) {
	schemasDir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(schemasDir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// No schema gate guest is built here: GUESTS names echo only and the
	// gate is appended only with schemas, so the first set has no schemas.
	cfg := config.Config{GuestsDir: guestsDir, SchemasDir: schemasDir, Guests: []string{"echo"}, GuestPool: 1, MaxDepth: 64}
	l := newReloader(t, cfg)
	r, err := l.Reload(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if r.Tables() != nil || r.Schemas() != nil {
		t.Fatalf("no schemas: tables %v, schemas %v; want any table, no conversion", r.Tables(), r.Schemas())
	}
	// A schema file needs the schema gate, which is not in guestsDir: the
	// reload fails as a whole and the old set (any table) stays.
	write("todos.json", `{"type":"object","properties":{"done":{"type":"integer","x-bsonType":"bool"}}}`)
	if _, err := l.Reload(context.Background()); err == nil {
		t.Fatal("a reload without the schema gate's wasm succeeded")
	}
	st := l.Status()
	if st.Err == nil || st.Failures != 1 || st.Reloads != 1 || !st.Loaded {
		t.Fatalf("status after a failed reload: %+v", st)
	}
	if cur, done, err := l.Acquire(); err != nil || cur != r || cur.Tables() != nil {
		t.Fatalf("after a failed reload the live set changed: %v %v", cur, err)
	} else {
		done()
	}
	// Without schemas, UPLOAD_TABLES alone is the allow-list.
	cfg.Tables = []string{" lists ", "todos"}
	cfg.SchemasDir = t.TempDir()
	l2 := newReloader(t, cfg)
	r2, err := l2.Reload(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if tb := r2.Tables(); len(tb) != 2 || !tb["lists"] || !tb["todos"] {
		t.Fatalf("UPLOAD_TABLES allow-list: %v", tb)
	}
	if st := l2.Status(); st.Err != nil || st.LastOK.IsZero() || time.Since(st.Last) > time.Minute {
		t.Fatalf("status after a good reload: %+v", st)
	}
}

// TestSilentMisconfigurationRefused: a GUESTS table no schema or
// UPLOAD_TABLES knows, and a GUEST_SETTINGS key the guest does not declare
// (guest.Info.Settings), fail the load (start-up, or a reload, which keeps
// the previous set and shows the reason on /readyz) instead of running
// without effect.
func TestSilentMisconfigurationRefused(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  config.Config
		want string
	}{
		{"guest table typo", config.Config{Guests: []string{"echo:list"}, Tables: []string{"lists"}}, `echo:list names table "list"`},
		{"undeclared setting", config.Config{Guests: []string{"echo"}, GuestSettings: map[string]string{"echo.feild": "x"}}, "GUEST_SETTINGS: echo.feild: guest echo does not read this setting (it declares none"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := c.cfg
			cfg.GuestsDir, cfg.SchemasDir, cfg.GuestPool, cfg.MaxDepth = guestsDir, t.TempDir(), 1, 64
			_, err := newReloader(t, cfg).Reload(context.Background())
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
}

func TestDeclaresPatterns(t *testing.T) {
	declared := []string{"field", "*.field"}
	for key, want := range map[string]bool{"field": true, "todos.field": true, "feild": false, "todos.feild": false} {
		if got := declares(declared, key); got != want {
			t.Errorf("%s: %v, want %v", key, got, want)
		}
	}
	if !declares([]string{"*"}, "orders.status") {
		t.Error(`"*" does not admit orders.status`)
	}
}

// TestAttachmentParentsNote: the host says once that parents declared in
// attachments.json never reach /attachments.
func TestAttachmentParentsNote(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "attachments.json"), []byte(`{"x-syncgate-parents": {"list": {"collection": "lists", "column": "list_id"}},
		"roles": [{"name": "r", "apply_when": {"%%parent.list.owner_id": "%%user.id"}, "write": true, "insert": true, "delete": true}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := config.Config{RulesDir: dir, Attachments: true}
	a, notes, _, errs := loadAuthorization(cfg, nil, nil)
	if len(errs) > 0 || a.rules == nil {
		t.Fatalf("load: %v", errs)
	}
	if !slices.ContainsFunc(notes, func(n string) bool {
		return strings.Contains(n, "attachments.json: x-syncgate-parents: /attachments has no parents to send")
	}) {
		t.Fatalf("notes lack the attachments parents note: %q", notes)
	}
	cfg.Attachments = false
	if _, notes, _, _ := loadAuthorization(cfg, nil, nil); slices.ContainsFunc(notes, func(n string) bool { return strings.Contains(n, "no parents to send") }) {
		t.Fatalf("note without ATTACHMENTS: %q", notes)
	}
}
