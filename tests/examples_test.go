package tests

import (
	"context"
	"encoding/json"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

// TestTypeScriptConnectorTypechecks runs tsc over the connector example,
// after npm ci there (kept in its git-ignored node_modules between runs).
// Without node it skips, or fails when CI is set (.ci/run installs it).
func TestTypeScriptConnectorTypechecks(t *testing.T) {
	const dir = "../examples/typescript-connector"
	node, _ := needNode(t, 20)
	if err := npmCI(dir, 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "node_modules/typescript/bin/tsc", "--noEmit", "-p", ".")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tsc: %v\n%s", err, out)
	}
}

// TestTypeScriptConnectorPinned: the example's dependencies, and those of
// the Node.js client that runs it (TestNodeClient), are exact versions, the
// ones their lock files hold (npm ci installs what was typechecked and run,
// not whatever a ^range resolves to today).
func TestTypeScriptConnectorPinned(t *testing.T) {
	for _, dir := range []string{"../examples/typescript-connector", nodeClientDir} {
		t.Run(filepath.Base(dir), func(t *testing.T) { checkPinned(t, dir) })
	}
}

func checkPinned(t *testing.T, dir string) {
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
