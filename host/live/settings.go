package live

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/syncgate/syncgate/host/config"
	"github.com/syncgate/syncgate/host/schemas"
)

// The settings grammar, one for every guest (stock and user-written):
//
//	GUEST_SETTINGS=guest.key:value         the key for every table the guest runs for
//	GUEST_SETTINGS=guest.TABLE.key:value   the key for one table (wins over the plain key)
//
// A guest declares the keys it reads in guest.Info.Settings. A declared
// "key" alone is global: the guest reads it for every table, and the
// per-table form is refused with that said. "*.key" (or "TABLE.key")
// admits the per-table form, which the guest resolves per op; "*" admits
// any key, for a guest that checks its own (guest.CheckSettings). In every
// form, a TABLE must be one the guest runs for (GUESTS), else the setting
// would do nothing.

// guestSettings is what GUEST_SETTINGS gives guest name, keys without the
// guest prefix; the schema gate also gets its unknown_table.
func guestSettings(cfg config.Config, name string, schemaTables []string) map[string]string {
	out := map[string]string{}
	for k, v := range cfg.GuestSettings {
		if g, key, ok := strings.Cut(k, "."); ok && g == name {
			out[key] = v
		}
	}
	if name == SchemaGate {
		out["unknown_table"] = cfg.GateUnknownTable(schemaTables)
	}
	return out
}

// settingProblems checks a loaded guest's settings against what it
// declares (guest.Info.Settings) and the tables it runs for (runsFor nil:
// every writable table, allowed; allowed nil: any name). It returns every
// problem, each naming the setting.
func settingProblems(guest string, declared []string, settings map[string]string, runsFor, allowed map[string]bool) []error {
	var errs []error
	for _, k := range slices.Sorted(maps.Keys(settings)) {
		table, key := splitSetting(k)
		full := guest + "." + k
		if !declares(declared, k) {
			switch {
			case table != "" && declares(declared, key):
				errs = append(errs, fmt.Errorf("GUEST_SETTINGS: %s: guest %s reads %s.%s for every table it runs for (it declares no per-table form *.%s): write %s.%s, or list the guest once per table in GUESTS",
					full, guest, guest, key, key, guest, key))
			default:
				want := "it declares none"
				if len(declared) > 0 {
					want = "it declares " + strings.Join(prefixed(guest, declared), ", ")
				}
				hint := ""
				if near := closest(key, bareKeys(declared)); near != "" {
					hint = fmt.Sprintf("; did you mean %s.%s?", guest, strings.TrimSuffix(k, key)+near)
				}
				errs = append(errs, fmt.Errorf("GUEST_SETTINGS: %s: guest %s does not read this setting (%s, in guest.Info.Settings)%s", full, guest, want, hint))
			}
			continue
		}
		if table == "" {
			continue
		}
		switch {
		case runsFor != nil && !runsFor[table]:
			errs = append(errs, fmt.Errorf("GUEST_SETTINGS: %s names table %q, but guest %s runs only for %s (GUESTS), so the setting would do nothing",
				full, table, guest, strings.Join(slices.Sorted(maps.Keys(runsFor)), "|")))
		case runsFor == nil && allowed != nil && !allowed[table]:
			errs = append(errs, fmt.Errorf("GUEST_SETTINGS: %s names table %q, which clients cannot write (writable: %s), so the setting would do nothing",
				full, table, strings.Join(slices.Sorted(maps.Keys(allowed)), ", ")))
		}
	}
	return errs
}

// splitSetting returns a setting key's table ("" for every table) and
// name: the name is the part after the last dot.
func splitSetting(k string) (table, key string) {
	if i := strings.LastIndexByte(k, '.'); i >= 0 {
		return k[:i], k[i+1:]
	}
	return "", k
}

// declares reports whether a declared setting admits key: equal, or a
// path.Match pattern ("*.field": the per-table form TABLE.field; "*": any
// key, for a guest that checks its own with guest.CheckSettings).
func declares(declared []string, key string) bool {
	for _, d := range declared {
		if ok, _ := path.Match(d, key); ok || d == key {
			return true
		}
	}
	return false
}

func prefixed(guest string, declared []string) []string {
	out := make([]string, len(declared))
	for i, d := range declared {
		out[i] = guest + "." + d
	}
	return out
}

// bareKeys is the declared names without their table patterns.
func bareKeys(declared []string) []string {
	var out []string
	for _, d := range declared {
		_, k := splitSetting(d)
		if k != "*" && !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out
}

// closest is the candidate within two edits of s (the nearest), or "".
func closest(s string, candidates []string) string {
	best, bestD := "", 3
	for _, c := range candidates {
		if d := schemas.EditDistance(strings.ToLower(s), strings.ToLower(c)); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// missingGuest explains a GUESTS name with no .wasm file: the guests that
// exist in dir, the nearest first when one is close.
func missingGuest(name, dir string, err error) error {
	if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("guest %s: %w", name, err)
	}
	var have []string
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ".wasm"); ok && !e.IsDir() {
			have = append(have, n)
		}
	}
	file := filepath.Join(dir, name+".wasm")
	if len(have) == 0 {
		return fmt.Errorf("guest %s: no %s, and GUESTS_DIR %s has no guests: build them with: go tool task guests", name, file, dir)
	}
	hint := ""
	if near := closest(name, have); near != "" {
		hint = fmt.Sprintf("did you mean %s? ", near)
	}
	return fmt.Errorf("guest %s: no %s; %sguests in %s: %s (a new guest: go tool task guests builds it)", name, file, hint, dir, strings.Join(have, ", "))
}
