package tests

import (
	"encoding/json"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
)

// TestTypeScriptConnectorTypechecks runs tsc over the connector example
// when its node_modules is installed (npm install in that folder).
func TestTypeScriptConnectorTypechecks(t *testing.T) {
	dir := "../examples/typescript-connector"
	tsc := filepath.Join(dir, "node_modules", ".bin", "tsc")
	if _, err := os.Stat(tsc); err != nil {
		t.Skip("examples/typescript-connector/node_modules is not installed (npm install there to typecheck)")
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not installed")
	}
	cmd := exec.Command("node_modules/.bin/tsc", "--noEmit", "-p", ".")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tsc: %v\n%s", err, out)
	}
}

// TestTypeScriptConnectorPinned: the example's dependencies are exact
// versions, the ones its lock file holds (npm ci installs what was
// typechecked, not whatever a ^range resolves to today).
func TestTypeScriptConnectorPinned(t *testing.T) {
	dir := "../examples/typescript-connector"
	var pkg struct{ DevDependencies, Dependencies map[string]string }
	var lock struct {
		Packages map[string]struct{ Version string }
	}
	for file, v := range map[string]any{"package.json": &pkg, "package-lock.json": &lock} {
		b, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			t.Fatalf("%v (the lock file is part of the example: npm install --package-lock-only)", err)
		}
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
	}
	deps := maps.Clone(pkg.DevDependencies)
	maps.Copy(deps, pkg.Dependencies)
	for name, want := range deps {
		if !regexp.MustCompile(`^\d+\.\d+\.\d+$`).MatchString(want) {
			t.Errorf("package.json: %s %q is a range; pin the tested version", name, want)
		}
		if got := lock.Packages["node_modules/"+name].Version; got != want {
			t.Errorf("package-lock.json has %s %q, package.json %q", name, got, want)
		}
	}
}
