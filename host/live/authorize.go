package live

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/syncgate/syncgate/guest/authorize/appsrules"
	"github.com/syncgate/syncgate/guest/authorize/syncscope"
	"github.com/syncgate/syncgate/host/config"
	"github.com/syncgate/syncgate/host/sandbox"
)

// Write authorization (docs/authorization.md): the stock authorize guest
// runs when RULES_DIR holds rules files or AUTHORIZE has sync-scope. The
// host loads the same files natively at each reload, so a broken file keeps
// the old set serving with the file and JSON pointer on /readyz, and
// AUTHORIZE=required is checked before any guest is compiled.

// Guest paths of the authorize guest's mounts: the rules files, and a
// folder holding only the sync config as SyncFile (copies under
// SYNCGATE_DIR named by their content: a guest instance started later for
// an older set still reads that set's files).
const (
	rulesMount = "/rules"
	syncMount  = "/sync"
	// SyncFile is the sync config's name in syncMount.
	SyncFile = "sync-config.yaml"
)

// authorizing reports whether the authorize stage runs: rules files in
// RULES_DIR or AUTHORIZE=sync-scope.
func authorizing(cfg config.Config) bool {
	return cfg.SyncScope() || HasRulesFiles(cfg.RulesDir)
}

// HasRulesFiles reports whether dir holds a rules file (<table>.json or
// default_rule.json; _values.json alone is not a rule).
func HasRulesFiles(dir string) bool {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".json") && e.Name() != appsrules.ValuesFile {
			return true
		}
	}
	return false
}

// authorization is what the host knows of the set's write rules.
type authorization struct {
	rules    *appsrules.Set    // nil: no rules files
	scope    *syncscope.Config // nil: no sync scope
	dir      string            // RULES_DIR
	syncPath string            // SYNC_CONFIG
}

// loadAuthorization loads RULES_DIR and SYNC_CONFIG as the guest will,
// checks AUTHORIZE=required against the writable tables (schemaTables
// plus UPLOAD_TABLES; allowed nil: any table, which only a default rule
// covers), and returns what to log once (ignored read parts, open tables)
// and to warn about on /readyz.
func loadAuthorization(cfg config.Config, schemaTables []string, allowed map[string]bool) (a authorization, notes, warnings []string, errs []error) {
	if HasRulesFiles(cfg.RulesDir) {
		set, err := appsrules.Load(os.DirFS(cfg.RulesDir))
		if err != nil {
			return a, nil, nil, []error{fmt.Errorf("RULES_DIR %s: %w", cfg.RulesDir, err)}
		}
		a.rules, a.dir = set, cfg.RulesDir
		for _, ig := range set.Ignored() {
			notes = append(notes, "RULES_DIR "+cfg.RulesDir+": "+ig+" (read rules: PowerSync's sync config decides what each user syncs)")
		}
		for _, w := range set.Warnings() { // where it fails closed: said once, not a fault
			notes = append(notes, "RULES_DIR "+cfg.RulesDir+": "+w)
		}
		for _, p := range set.Parents() {
			if p.Table == "attachments" && cfg.Attachments {
				notes = append(notes, "RULES_DIR "+cfg.RulesDir+": attachments.json: "+appsrules.ParentsKey+": /attachments has no parents to send, so %%parent."+p.Name+" never holds when it decides an attachment (docs/authorization.md, \"Attachments\")")
			}
		}
	}
	if cfg.SyncScope() {
		b, err := os.ReadFile(cfg.SyncConfig)
		if err != nil {
			return a, nil, nil, []error{fmt.Errorf("SYNC_CONFIG: %w", err)}
		}
		sc, err := syncscope.Parse(filepath.Base(cfg.SyncConfig), b)
		if err != nil {
			return a, nil, nil, []error{fmt.Errorf("SYNC_CONFIG %s: %w", cfg.SyncConfig, err)}
		}
		a.scope, a.syncPath = sc, cfg.SyncConfig
		for _, o := range sc.Open() {
			msg := fmt.Sprintf("SYNC_CONFIG %s:%d: %s %s is open — needs a rule: %s; writes to it are denied unless rules allow", cfg.SyncConfig, o.Line, o.Stream, o.Table, o.Reason)
			warnings = append(warnings, msg)
		}
	}
	if cfg.AuthorizeRequired() {
		if a.rules == nil {
			errs = append(errs, fmt.Errorf("AUTHORIZE=required: RULES_DIR %s holds no rules file (<table>.json or %s); see docs/authorization.md", cfg.RulesDir, appsrules.DefaultFile))
		} else {
			tables := slices.Clone(schemaTables)
			for t := range allowed {
				if !slices.Contains(tables, t) {
					tables = append(tables, t)
				}
			}
			slices.Sort(tables)
			var uncovered []string
			for _, t := range tables {
				if !a.rules.Covers(t) {
					uncovered = append(uncovered, t)
				}
			}
			if allowed == nil && !a.rules.HasDefault() {
				uncovered = append(uncovered, "any other table (no UPLOAD_TABLES or schemas limit them: add "+appsrules.DefaultFile+")")
			}
			if len(uncovered) > 0 {
				errs = append(errs, fmt.Errorf("AUTHORIZE=required: no rules for %s (add RULES_DIR/<table>.json or %s)", strings.Join(uncovered, ", "), appsrules.DefaultFile))
			}
		}
	}
	if a.rules == nil && a.scope == nil {
		msg := "no write rules (RULES_DIR " + cfg.RulesDir + " has none, AUTHORIZE has no sync-scope): any authenticated user may write any document of a writable table (docs/authorization.md)"
		if cfg.Dev() {
			notes = append(notes, msg)
		} else {
			warnings = append(warnings, msg)
		}
	}
	return a, notes, warnings, errs
}

// authorizeMounts are the authorize guest's read-only folders: copies of
// the rules files and of the sync config under SYNCGATE_DIR, each named by
// its content. Every instance reads its files when it starts, and a set
// starts instances after it was loaded (a replacement for one that failed):
// those must read the set's files, not what RULES_DIR holds by then (a
// broken file the reload refused, or rules another set serves).
func authorizeMounts(cfg config.Config, gc *sandbox.GuestConfig) error {
	if HasRulesFiles(cfg.RulesDir) {
		files := map[string][]byte{}
		entries, err := os.ReadDir(cfg.RulesDir)
		if err != nil {
			return fmt.Errorf("RULES_DIR: %w", err)
		}
		for _, e := range entries {
			if e.Type().IsRegular() && strings.HasSuffix(e.Name(), ".json") {
				b, err := os.ReadFile(filepath.Join(cfg.RulesDir, e.Name()))
				if err != nil {
					return fmt.Errorf("RULES_DIR: %w", err)
				}
				files[e.Name()] = b
			}
		}
		dir, err := snapshot(filepath.Join(cfg.StateDir, "rules"), files)
		if err != nil {
			return fmt.Errorf("RULES_DIR: copy for the authorize guest: %w", err)
		}
		gc.Mounts = append(gc.Mounts, sandbox.Mount{HostDir: dir, GuestPath: rulesMount})
	}
	if cfg.SyncScope() {
		b, err := os.ReadFile(cfg.SyncConfig)
		if err != nil {
			return fmt.Errorf("SYNC_CONFIG: %w", err)
		}
		dir, err := snapshot(filepath.Join(cfg.StateDir, "sync-config"), map[string][]byte{SyncFile: b})
		if err != nil {
			return fmt.Errorf("SYNC_CONFIG: copy for the authorize guest: %w", err)
		}
		gc.Mounts = append(gc.Mounts, sandbox.Mount{HostDir: dir, GuestPath: syncMount})
	}
	return nil
}

// snapshot copies files into a folder of parent named by their names and
// contents, and returns its absolute path. The folder appears whole (made
// under another name, then renamed) and is never rewritten: instances of
// a live set may be reading it.
func snapshot(parent string, files map[string][]byte) (string, error) {
	h := sha256.New()
	names := slices.Sorted(maps.Keys(files))
	for _, n := range names {
		fmt.Fprintf(h, "%s\x00%d\x00", n, len(files[n]))
		h.Write(files[n])
	}
	dir, err := filepath.Abs(filepath.Join(parent, hex.EncodeToString(h.Sum(nil)[:8])))
	if err != nil {
		return "", err
	}
	if st, err := os.Stat(dir); err == nil && st.IsDir() {
		return dir, nil
	}
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(parent, ".new-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp) // gone once renamed
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(tmp, n), files[n], 0o644); err != nil {
			return "", err
		}
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, dir); err != nil {
		if st, serr := os.Stat(dir); serr == nil && st.IsDir() {
			return dir, nil // another reload made it meanwhile
		}
		return "", err
	}
	return dir, nil
}

// snapshotFolders are the folders under SYNCGATE_DIR that hold snapshots.
var snapshotFolders = []string{"rules", "sync-config"}

// snapshotName matches the folders snapshot makes: 16 hex digits of the
// content's hash, or a copy in progress.
var snapshotName = regexp.MustCompile(`^([0-9a-f]{16}|\.new-[0-9]+)$`)

// snapshotTTL is how long a snapshot no live set of this process uses is
// kept after it was last used. Servers sharing SYNCGATE_DIR mark their live
// sets' snapshots as used at every reload and every snapshotTouch, so no
// one removes a folder a running server may still start instances from.
const (
	snapshotTTL   = 24 * time.Hour
	snapshotTouch = time.Hour
)

// snapshotDirs are the snapshot folders r's guests read.
func (r *Rules) snapshotDirs(stateDir string) []string {
	var out []string
	for _, s := range r.pipeline.Stages() {
		for _, m := range s.Guest.Mounts() {
			for _, f := range snapshotFolders {
				if parent, err := filepath.Abs(filepath.Join(stateDir, f)); err == nil && filepath.Dir(m.HostDir) == parent {
					out = append(out, m.HostDir)
				}
			}
		}
	}
	return out
}

// touchSnapshots marks dirs as used now.
func touchSnapshots(dirs []string, now time.Time) {
	for _, d := range dirs {
		_ = os.Chtimes(d, now, now) // a folder gone is made again by the next load
	}
}

// pruneSnapshots marks live (the live set's snapshots) as used and removes
// the snapshot folders under stateDir, and the leftovers of copies a crash
// cut short, that were last used more than snapshotTTL before now. Each
// edit of the rules or the sync config leaves a folder; without this they
// accumulate. Only folders named as snapshot makes them are touched (not
// whatever else a misconfigured SYNCGATE_DIR shares a folder with). It
// returns how many it removed.
func pruneSnapshots(stateDir string, live []string, now time.Time) int {
	touchSnapshots(live, now)
	if stateDir == "" {
		return 0
	}
	removed := 0
	for _, f := range snapshotFolders {
		parent := filepath.Join(stateDir, f)
		entries, err := os.ReadDir(parent)
		if err != nil {
			continue
		}
		for _, e := range entries {
			dir := filepath.Join(parent, e.Name())
			abs, _ := filepath.Abs(dir)
			info, err := e.Info()
			if err != nil || !e.IsDir() || !snapshotName.MatchString(e.Name()) || slices.Contains(live, abs) || now.Sub(info.ModTime()) < snapshotTTL {
				continue
			}
			if os.RemoveAll(dir) == nil {
				removed++
			}
		}
	}
	return removed
}
