package live

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/syncgate/syncgate/host/config"
	"github.com/syncgate/syncgate/host/pipeline"
)

// rulesID fingerprints what decides a write: each guest in the order the
// stages run them, with its tables, its settings and its module's bytes,
// and the schema files' contents. Two hosts (or a host and the CLI's
// replay) with the same ID decide every op the same way; a dead letter
// records the ID it was refused under.
func rulesID(cfg config.Config, p *pipeline.Pipeline) (string, error) {
	h := sha256.New()
	for _, s := range p.Stages() {
		g := s.Guest
		tables := "*"
		if s.Tables != nil {
			ts := make([]string, 0, len(s.Tables))
			for t := range s.Tables {
				ts = append(ts, t)
			}
			sort.Strings(ts)
			tables = strings.Join(ts, "|")
		}
		fmt.Fprintf(h, "guest %q tables %q\n", g.Name(), tables)
		settings := g.Settings()
		for _, k := range slices.Sorted(maps.Keys(settings)) {
			fmt.Fprintf(h, "setting %q=%q\n", k, settings[k])
		}
		wasm, err := os.ReadFile(filepath.Join(cfg.GuestsDir, g.Name()+".wasm"))
		if err != nil {
			return "", fmt.Errorf("live: fingerprint: %w", err)
		}
		fmt.Fprintf(h, "module %x\n", sha256.Sum256(wasm))
	}
	entries, err := os.ReadDir(cfg.SchemasDir)
	if err != nil && !os.IsNotExist(err) {
		return "", fmt.Errorf("live: fingerprint: %w", err)
	}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(cfg.SchemasDir, e.Name()))
		if err != nil {
			return "", fmt.Errorf("live: fingerprint: %w", err)
		}
		fmt.Fprintf(h, "schema %q %x\n", e.Name(), sha256.Sum256(b))
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}
