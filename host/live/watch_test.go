package live

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/syncgate/syncgate/host/config"
)

// TestWatch: the first load, a reload asked from outside, a reload on a
// changed file, a failed reload that keeps the set, each reported; Watch
// returns when ctx ends.
func TestWatch(t *testing.T) {
	schemas, other := t.TempDir(), t.TempDir()
	l := newReloader(t, config.Config{GuestsDir: guestsDir, SchemasDir: schemas, Guests: []string{"echo"}, GuestPool: 1, MaxDepth: 64})
	events := make(chan Event, 16)
	report := func(e Event) { events <- e }
	next := func(kind EventKind) Event {
		t.Helper()
		select {
		case e := <-events:
			if e.Kind != kind {
				t.Fatalf("event %+v, want kind %d", e, kind)
			}
			return e
		case <-time.After(30 * time.Second):
			t.Fatalf("no event of kind %d", kind)
		}
		return Event{}
	}
	ctx, cancel := context.WithCancel(t.Context())
	triggers := make(chan string)
	done := make(chan error, 1)
	go func() {
		done <- l.Watch(ctx, WatchConfig{Poll: 20 * time.Millisecond, Dirs: []string{other, schemas}, Triggers: triggers, Report: report})
	}()
	next(Loading)
	if e := next(Loaded); e.Rules == nil || e.Rules.ID() == "" {
		t.Fatalf("loaded: %+v", e)
	}
	triggers <- "SIGHUP"
	if e := next(Reloading); e.Why != "SIGHUP" {
		t.Fatalf("reloading: %+v", e)
	}
	next(Reloaded)
	if err := os.WriteFile(filepath.Join(other, "rules.txt"), []byte(`x`), 0o644); err != nil {
		t.Fatal(err)
	}
	if e := next(Reloading); e.Why != "files changed" {
		t.Fatalf("reloading: %+v", e)
	}
	next(Reloaded)
	// A schema needs the schema gate, which this test does not build.
	if err := os.WriteFile(filepath.Join(schemas, "notes.json"), []byte(`{"type":"object"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	next(Reloading)
	if e := next(ReloadFailed); e.Err == nil || !strings.Contains(e.Err.Error(), "guest schemagate: no ") {
		t.Fatalf("failed reload: %+v", e)
	}
	if l.Current() == nil {
		t.Fatal("a failed reload dropped the live set")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Watch after ctx ended: %v", err)
	}
}

// TestWatchFirstLoadFails: a first load that fails is reported and
// returned, so the command stops instead of serving without rules.
func TestWatchFirstLoadFails(t *testing.T) {
	l := newReloader(t, config.Config{GuestsDir: guestsDir, SchemasDir: t.TempDir(), Guests: []string{"nope"}, GuestPool: 1, MaxDepth: 64})
	var kinds []EventKind
	err := l.Watch(t.Context(), WatchConfig{Report: func(e Event) { kinds = append(kinds, e.Kind) }})
	if err == nil || !strings.Contains(err.Error(), "guests: guest nope: no ") || len(kinds) != 2 || kinds[1] != LoadFailed {
		t.Fatalf("got %v, events %v", err, kinds)
	}
}
