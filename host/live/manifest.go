package live

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/syncgate/syncgate/host/config"
)

// Manifest is what a rules set is made of, as the configuration and the
// files say: the stages in order with their tables and settings, the
// schema files and the rules files. ID fingerprints all of it by content,
// so two processes (the server and a `rejected replay` run from a shell)
// can tell whether they run the same rules.
type Manifest struct {
	ID      string          `json:"id"`
	Stages  []ManifestStage `json:"stages"`
	Schemas []string        `json:"schemas"`         // files in SCHEMAS_DIR (_shared ones included)
	Rules   []string        `json:"rules,omitempty"` // files in the rules folder, relative to it
}

// ManifestStage is one guest of the pipeline.
type ManifestStage struct {
	Guest    string            `json:"guest"`
	Tables   []string          `json:"tables,omitempty"` // none: every table
	Settings map[string]string `json:"settings,omitempty"`
}

// builtinStages are the stages of the write path every rules set has
// (syncgate.Rejection.Stage); the others are "guest:NAME" (or the schema
// gate's name) and must be in the set.
var builtinStages = []string{"decode", "prepare", "lookup", "convert", "policy", "conflict", "write", "settle"}

// Has reports whether the set runs stage for table, and if not, why: a
// guest stage ("guest:owner", "schemagate") must be configured for the
// table; the write path's own stages are always there; a stage this build
// does not know (one added by a later version, such as "authorize") is
// reported as missing.
func (m Manifest) Has(stage, table string) (bool, string) {
	if stage == "" || slices.Contains(builtinStages, stage) {
		return true, ""
	}
	name, isGuest := strings.CutPrefix(stage, "guest:")
	if !isGuest && stage != SchemaGate {
		return false, fmt.Sprintf("stage %q is not part of this rules set", stage)
	}
	var runsFor []string
	for _, s := range m.Stages {
		if s.Guest != name {
			continue
		}
		if len(s.Tables) == 0 || slices.Contains(s.Tables, table) {
			return true, ""
		}
		runsFor = append(runsFor, s.Tables...)
	}
	if len(runsFor) > 0 {
		return false, fmt.Sprintf("guest %s refused it, and runs here only for %s, not %s", name, strings.Join(runsFor, "|"), table)
	}
	return false, fmt.Sprintf("guest %s refused it, and this rules set does not run it (GUESTS)", name)
}

// Lines is the manifest as printed before a replay: one line per stage
// with its tables and settings, then the schema and rules files and the
// fingerprint.
func (m Manifest) Lines() []string {
	var out []string
	for i, s := range m.Stages {
		tables := "every table"
		if len(s.Tables) > 0 {
			tables = strings.Join(s.Tables, ", ")
		}
		line := fmt.Sprintf("  %d. %s on %s", i+1, s.Guest, tables)
		if len(s.Settings) > 0 {
			var kv []string
			for _, k := range slices.Sorted(maps.Keys(s.Settings)) {
				kv = append(kv, k+"="+s.Settings[k])
			}
			line += " (settings: " + strings.Join(kv, ", ") + ")"
		}
		out = append(out, line)
	}
	if len(m.Stages) == 0 {
		out = append(out, "  no guests")
	}
	schemas := "none"
	if len(m.Schemas) > 0 {
		schemas = strings.Join(m.Schemas, ", ")
	}
	out = append(out, "  schemas: "+schemas)
	if len(m.Rules) > 0 {
		out = append(out, "  rules files: "+strings.Join(m.Rules, ", "))
	}
	return append(out, "  rules_id: "+m.ID)
}

// ReadManifest reads the rules set cfg configures from the files as they
// are now, RULES_DIR's files included (a missing folder has none).
// The ID is sha256 over, in order: each stage's guest name, tables and
// settings; each guest's .wasm content; each schema file's name and
// content; each rules file's path and content.
func ReadManifest(cfg config.Config) (Manifest, error) {
	var m Manifest
	rulesDir := cfg.RulesDir
	tables, err := SchemaFiles(cfg.SchemasDir)
	if err != nil {
		return m, err
	}
	h := sha256.New()
	for _, s := range pipelineSpec(cfg, tables) {
		ms := ManifestStage{Guest: s.name, Settings: guestSettings(cfg, s.name, tables)}
		if s.tables != nil {
			ms.Tables = slices.Sorted(maps.Keys(s.tables))
		}
		m.Stages = append(m.Stages, ms)
		fmt.Fprintf(h, "stage %q tables %q\n", ms.Guest, ms.Tables)
		for _, k := range slices.Sorted(maps.Keys(ms.Settings)) {
			fmt.Fprintf(h, "setting %q=%q\n", k, ms.Settings[k])
		}
		if err := hashFile(h, "wasm", filepath.Join(cfg.GuestsDir, s.name+".wasm")); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return m, fmt.Errorf("rules: %w", err)
		}
	}
	entries, err := os.ReadDir(cfg.SchemasDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return m, fmt.Errorf("rules: SCHEMAS_DIR: %w", err)
	}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		m.Schemas = append(m.Schemas, e.Name())
		if err := hashFile(h, "schema "+e.Name(), filepath.Join(cfg.SchemasDir, e.Name())); err != nil {
			return m, fmt.Errorf("rules: %w", err)
		}
	}
	if rulesDir != "" {
		err := filepath.WalkDir(rulesDir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(rulesDir, p)
			m.Rules = append(m.Rules, filepath.ToSlash(rel))
			return hashFile(h, "rules "+filepath.ToSlash(rel), p)
		})
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return m, fmt.Errorf("rules: rules folder: %w", err)
		}
	}
	if cfg.SyncScope() {
		m.Rules = append(m.Rules, "SYNC_CONFIG "+cfg.SyncConfig)
		if err := hashFile(h, "sync config", cfg.SyncConfig); err != nil {
			return m, fmt.Errorf("rules: SYNC_CONFIG: %w", err)
		}
	}
	m.ID = hex.EncodeToString(h.Sum(nil))
	return m, nil
}

// hashFile writes what's name and path's content (length-prefixed) to h.
func hashFile(h io.Writer, what, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	fmt.Fprintf(h, "%s %d\n", what, len(b))
	_, err = h.Write(b)
	return err
}
