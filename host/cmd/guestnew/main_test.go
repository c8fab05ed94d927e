package main

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestScaffoldBuildsAndTests creates a guest in a temporary module folder
// of this repository and runs its own tests.
func TestScaffoldBuildsAndTests(t *testing.T) {
	root, err := os.MkdirTemp("../../../guest/examples", "tmp-scaffold-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(root)
	var out bytes.Buffer
	if code := run([]string{"demo"}, root, &out, &out); code != 0 {
		t.Fatalf("exit %d: %s", code, out.String())
	}
	for _, f := range []string{"main.go", "logic.go", "logic_test.go", "README.md"} {
		if _, err := os.Stat(filepath.Join(root, "demo", f)); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("go", "test", "./guest/examples/"+filepath.Base(root)+"/demo")
	cmd.Dir = "../../.."
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("scaffolded guest's tests: %v\n%s", err, b)
	}
	if code := run([]string{"demo"}, root, io.Discard, io.Discard); code == 0 {
		t.Fatal("scaffolding over an existing guest succeeded")
	}
	if code := run([]string{"Bad-Name"}, root, io.Discard, io.Discard); code != 2 {
		t.Fatal("a bad name was accepted")
	}
}
