package live

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

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

// Guest paths of the authorize guest's mounts: the rules folder, and a
// folder holding only the sync config as SyncFile (a copy under
// SYNCGATE_DIR named by its content: a guest instance started later for an
// older set still reads that set's config).
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

// authorizeMounts are the authorize guest's read-only folders and the
// setting naming the sync config.
func authorizeMounts(cfg config.Config, gc *sandbox.GuestConfig) error {
	if HasRulesFiles(cfg.RulesDir) {
		abs, err := filepath.Abs(cfg.RulesDir)
		if err != nil {
			return err
		}
		gc.Mounts = append(gc.Mounts, sandbox.Mount{HostDir: abs, GuestPath: rulesMount})
	}
	if cfg.SyncScope() {
		b, err := os.ReadFile(cfg.SyncConfig)
		if err != nil {
			return fmt.Errorf("SYNC_CONFIG: %w", err)
		}
		sum := sha256.Sum256(b)
		dir, err := filepath.Abs(filepath.Join(cfg.StateDir, "sync-config", hex.EncodeToString(sum[:8])))
		if err != nil {
			return err
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("SYNC_CONFIG: copy for the authorize guest: %w", err)
		}
		if err := os.WriteFile(filepath.Join(dir, SyncFile), b, 0o644); err != nil {
			return fmt.Errorf("SYNC_CONFIG: copy for the authorize guest: %w", err)
		}
		gc.Mounts = append(gc.Mounts, sandbox.Mount{HostDir: dir, GuestPath: syncMount})
	}
	return nil
}
