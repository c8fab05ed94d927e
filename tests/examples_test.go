package tests

import (
	"os"
	"os/exec"
	"path/filepath"
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
