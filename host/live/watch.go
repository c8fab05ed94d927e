package live

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"
)

// WatchConfig is what the reload watcher needs (not the whole
// configuration): when to look at the files, which, and whom to tell.
type WatchConfig struct {
	// Poll is how often the files of Dirs are checked for changes; 0:
	// never (Triggers still reload).
	Poll time.Duration
	// Dirs are the folders (or files) whose change reloads: the guests', the
	// schemas', the rules'.
	Dirs []string
	// Triggers asks for a reload from outside (the command forwards
	// SIGHUP), with the reason.
	Triggers <-chan string
	// Report is told what happened (the command logs it); nil: nobody.
	Report func(Event)
}

// EventKind is what a watcher Event reports.
type EventKind int

// What the watcher reports.
const (
	Loading      EventKind = iota // the first load begins
	Loaded                        // the first load made a set (Rules, Took)
	LoadFailed                    // the first load failed (Err); Watch returns it
	Reloading                     // a reload begins (Why)
	Reloaded                      // a reload swapped a new set in (Rules, Took)
	ReloadFailed                  // a reload failed (Err); the previous set stays live
)

// Event is one thing the watcher did.
type Event struct {
	Kind  EventKind
	Why   string // Reloading: "SIGHUP", "files changed", …
	Rules *Rules // Loaded, Reloaded: the new set
	Took  time.Duration
	Err   error // LoadFailed, ReloadFailed
}

// Watch makes the first load (start-up), then reloads when Triggers asks
// or the files of Dirs change, until ctx ends. A failed first load is
// returned (the server must not serve without rules); a failed reload
// keeps the live set and is reported (and kept for Status).
func (l *Reloader) Watch(ctx context.Context, wc WatchConfig) error {
	report := wc.Report
	if report == nil {
		report = func(Event) {}
	}
	last := filesFingerprint(wc.Dirs)
	start := time.Now()
	report(Event{Kind: Loading})
	r, err := l.Reload(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		report(Event{Kind: LoadFailed, Err: err})
		return fmt.Errorf("guests: %w", err)
	}
	report(Event{Kind: Loaded, Rules: r, Took: time.Since(start)})
	// The live set's snapshots are marked as used now and then, for other
	// servers sharing SYNCGATE_DIR (pruneSnapshots).
	touch := time.NewTicker(snapshotTouch)
	defer touch.Stop()
	var tick <-chan time.Time
	if wc.Poll > 0 {
		t := time.NewTicker(wc.Poll)
		defer t.Stop()
		tick = t.C
	}
	for {
		why := ""
		select {
		case <-ctx.Done():
			return nil
		case now := <-touch.C:
			if r := l.Current(); r != nil {
				touchSnapshots(r.snapshotDirs(l.cfg.StateDir), now)
			}
			continue
		case why = <-wc.Triggers:
		case <-tick:
			now := filesFingerprint(wc.Dirs)
			if now == last {
				continue
			}
			last, why = now, "files changed"
		}
		report(Event{Kind: Reloading, Why: why})
		start := time.Now()
		r, err := l.Reload(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			report(Event{Kind: ReloadFailed, Err: err})
		case err == nil:
			report(Event{Kind: Reloaded, Rules: r, Took: time.Since(start)})
		}
	}
}

// filesFingerprint summarises the files of dirs (name, size, modification
// time) for change polling; Manifest.ID is the content hash.
func filesFingerprint(dirs []string) string {
	var b strings.Builder
	for _, dir := range dirs {
		if dir == "" {
			continue
		}
		if info, err := os.Stat(dir); err == nil && !info.IsDir() { // a file (SYNC_CONFIG)
			fmt.Fprintf(&b, "%s:%d:%d;", dir, info.Size(), info.ModTime().UnixNano())
			continue
		}
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if info, err := e.Info(); err == nil {
				fmt.Fprintf(&b, "%s/%s:%d:%d;", dir, e.Name(), info.Size(), info.ModTime().UnixNano())
			}
		}
	}
	return b.String()
}
