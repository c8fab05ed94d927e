package live

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/syncgate/syncgate/host/config"
)

// TestSettingGrammar: guest.key and guest.TABLE.key for every declared
// per-table key; a global key's per-table form refused with that said; a
// table the guest does not run for (or no client can write) refused; a
// typo answered with the nearest declared key.
func TestSettingGrammar(t *testing.T) {
	lww := []string{"field", "*.field", "on_conflict", "*.on_conflict"}
	notes := map[string]bool{"notes": true}
	writable := map[string]bool{"notes": true, "lists": true}
	for _, c := range []struct {
		name     string
		declared []string
		settings map[string]string
		runsFor  map[string]bool
		want     []string // substrings, one per problem; none: no problem
	}{
		{"plain key", lww, map[string]string{"field": "at"}, notes, nil},
		{"per-table key", lww, map[string]string{"notes.field": "at"}, notes, nil},
		{"table the guest does not run for", lww, map[string]string{"note.field": "at"}, notes,
			[]string{`lww.note.field names table "note", but guest lww runs only for notes (GUESTS)`}},
		{"guest on every table: unwritable table", lww, map[string]string{"todo.field": "at", "lists.field": "at"}, nil,
			[]string{`lww.todo.field names table "todo", which clients cannot write (writable: lists, notes)`}},
		{"global key in per-table form", []string{"lower"}, map[string]string{"notes.lower": "title"}, notes,
			[]string{"normalize.notes.lower: guest normalize reads normalize.lower for every table it runs for (it declares no per-table form *.lower)"}},
		{"typo with a hint", lww, map[string]string{"notes.feild": "at", "on_confict": "log"}, notes,
			[]string{"lww.notes.feild: guest lww does not read this setting", "did you mean lww.notes.field?", "did you mean lww.on_conflict?"}},
		{"any key, table still checked", []string{"*"}, map[string]string{"orders.status": "a>b"}, notes,
			[]string{`names table "orders"`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			guest := "lww"
			if c.declared[0] == "lower" {
				guest = "normalize"
			}
			errs := settingProblems(guest, c.declared, c.settings, c.runsFor, writable)
			got := errors.Join(errs...)
			if len(c.want) == 0 {
				if got != nil {
					t.Fatalf("unexpected problems: %v", got)
				}
				return
			}
			if got == nil {
				t.Fatalf("no problem, want %q", c.want)
			}
			for _, w := range c.want {
				if !strings.Contains(got.Error(), w) {
					t.Errorf("got:\n%v\nwant it to contain %q", got, w)
				}
			}
		})
	}
}

// TestMissingGuestListsGuests: a misspelled GUESTS name is answered with
// the guests that exist, the nearest first.
func TestMissingGuestListsGuests(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"quota.wasm", "owner.wasm", "README"} {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	err := missingGuest("qouta", dir, fs.ErrNotExist)
	for _, w := range []string{"guest qouta: no ", "did you mean quota?", "guests in " + dir + ": owner, quota"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("got %v, want %q", err, w)
		}
	}
	if err := missingGuest("x", t.TempDir(), fs.ErrNotExist); err == nil || !strings.Contains(err.Error(), "has no guests: build them with: go tool task guests") {
		t.Errorf("empty folder: %v", err)
	}
}

// TestAllProblemsAtOnce: a table typo in GUESTS, a misspelled guest and a
// setting the guest does not read are reported by one load, not one per
// start.
func TestAllProblemsAtOnce(t *testing.T) {
	cfg := config.Config{GuestsDir: guestsDir, SchemasDir: t.TempDir(), GuestPool: 1, MaxDepth: 64,
		Guests: []string{"echo:list", "ecoh"}, Tables: []string{"lists"}, GuestSettings: map[string]string{"echo.feild": "x"}}
	_, err := newReloader(t, cfg).Reload(context.Background())
	for _, w := range []string{`echo:list names table "list"`, "guest ecoh: no ", "did you mean echo?", "echo.feild: guest echo does not read this setting"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("got %v\nwant it to contain %q", err, w)
		}
	}
}
