package tests

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// inCI reports whether CI is set (CI=1/true, as .ci/run sets it): there a
// test whose tools are missing fails instead of skipping, since .ci/run
// installs them and a skip would hide a test that never ran.
func inCI() bool {
	ci := strings.ToLower(os.Getenv("CI"))
	return ci != "" && ci != "0" && ci != "false"
}

// needNode returns the paths of node (at least major version min) and npm;
// without them it skips, or fails when CI is set.
func needNode(t *testing.T, min int) (node, npm string) {
	t.Helper()
	missing := func(why string) {
		t.Helper()
		if inCI() {
			t.Fatalf("%s in CI: .ci/run installs Node.js ≥ %d and npm; this test must run there", why, min)
		}
		t.Skipf("%s: this test needs Node.js ≥ %d and npm (it fails instead of skipping when CI is set)", why, min)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node is not on PATH")
	}
	if npm, err = exec.LookPath("npm"); err != nil {
		missing("npm is not on PATH")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, node, "--version").Output()
	major, _ := strconv.Atoi(strings.TrimPrefix(strings.SplitN(strings.TrimSpace(string(out)), ".", 2)[0], "v"))
	if err != nil || major < min {
		missing(fmt.Sprintf("node --version: %q (%v)", strings.TrimSpace(string(out)), err))
	}
	return node, npm
}

// npmCI runs npm ci in dir unless node_modules holds what package.json and
// package-lock.json name (a stamp written after the last successful
// install), within timeout. node_modules is git-ignored, so an install is
// kept between runs.
func npmCI(dir string, timeout time.Duration) error {
	var want []byte
	for _, f := range []string{"package.json", "package-lock.json"} {
		data, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			return fmt.Errorf("npm ci in %s: %w", dir, err)
		}
		want = append(want, data...)
	}
	sum := sha256.Sum256(want)
	stamp := filepath.Join(dir, "node_modules", ".syncgate-installed")
	if have, err := os.ReadFile(stamp); err == nil && string(have) == hex.EncodeToString(sum[:]) {
		return nil
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return errors.New("npm is not on PATH: npm ci in " + dir + " needs it")
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "npm_config_update_notifier=false")
	cmd.WaitDelay = 5 * time.Second
	if out, err := cmd.CombinedOutput(); err != nil {
		if len(out) > 3000 {
			out = out[len(out)-3000:]
		}
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (not done within %v)", err, timeout)
		}
		return fmt.Errorf("npm ci in %s failed (%v): %s", dir, err, out)
	}
	return os.WriteFile(stamp, []byte(hex.EncodeToString(sum[:])), 0o644)
}
