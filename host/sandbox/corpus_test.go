package sandbox

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// wazeroDir is the wazero module's folder in the module cache: its test data
// holds the WebAssembly spec tests as binaries and programs built by other
// toolchains (Rust, Zig, TinyGo), a corpus for the rewrite beyond Go guests.
func wazeroDir(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/tetratelabs/wazero").Output()
	dir := strings.TrimSpace(string(out))
	if err != nil || dir == "" {
		t.Skipf("wazero's module folder not found (%v): the corpus test needs the module cache", err)
	}
	return dir
}

// TestInstrumentSpecCorpus: every module of the WebAssembly 1.0 and 2.0
// spec tests (as wazero ships them) that wazero accepts, the rewrite accepts
// too, and its output validates. Modules wazero refuses (the spec's
// malformed and invalid cases) must be refused or rewritten without a panic.
func TestInstrumentSpecCorpus(t *testing.T) {
	dir := wazeroDir(t)
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter()) // validation is what counts here
	defer rt.Close(ctx)
	var files []string
	for _, d := range []string{"v1", "v2"} {
		m, _ := filepath.Glob(filepath.Join(dir, "internal/integration_test/spectest", d, "testdata", "*.wasm"))
		files = append(files, m...)
	}
	if len(files) < 1000 {
		t.Skipf("only %d spec test modules under %s", len(files), dir)
	}
	accepted := 0
	for _, f := range files {
		wasm, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out, _, ierr := instrument(wasm)
		c, cerr := compileModule(ctx, rt, wasm)
		if cerr != nil {
			continue
		}
		c.Close(ctx)
		accepted++
		if ierr != nil {
			t.Errorf("%s: wazero accepts it, the rewrite refuses it: %v", filepath.Base(f), ierr)
			continue
		}
		if c, err := compileModule(ctx, rt, out); err != nil {
			t.Errorf("%s: the rewritten module does not validate: %v", filepath.Base(f), err)
		} else {
			c.Close(ctx)
		}
	}
	t.Logf("%d spec test modules, %d accepted by wazero and rewritten", len(files), accepted)
}

// TestInstrumentOtherToolchains runs `cat` built with Rust (cargo-wasi),
// Zig's C compiler and TinyGo, rewritten, and checks its output. (The Zig
// build in the same folder fails with AccessDenied under wazero here whether
// rewritten or not, so it proves nothing either way.)
func TestInstrumentOtherToolchains(t *testing.T) {
	dir := filepath.Join(wazeroDir(t), "imports/wasi_snapshot_preview1/example/testdata")
	want, err := os.ReadFile(filepath.Join(dir, "sub/test.txt"))
	if err != nil {
		t.Skip(err)
	}
	for _, tc := range []string{"cargo-wasi", "zig-cc", "tinygo"} {
		t.Run(tc, func(t *testing.T) {
			wasm, err := os.ReadFile(filepath.Join(dir, tc, "cat.wasm"))
			if err != nil {
				t.Skip(err)
			}
			out, checks, err := instrument(wasm)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			rt := wazero.NewRuntime(ctx)
			defer rt.Close(ctx)
			wasi_snapshot_preview1.MustInstantiate(ctx, rt)
			if err := instantiateYield(ctx, rt); err != nil {
				t.Fatal(err)
			}
			var stdout, stderr bytes.Buffer
			cfg := wazero.NewModuleConfig().WithStdout(&stdout).WithStderr(&stderr).
				WithFSConfig(wazero.NewFSConfig().WithReadOnlyDirMount(dir, "/")).
				WithArgs("cat", "/sub/test.txt")
			if _, err := rt.InstantiateWithConfig(ctx, out, cfg); err != nil && !strings.Contains(err.Error(), "exit_code(0)") {
				t.Fatalf("%v (stderr %q)", err, stderr.String())
			}
			if !bytes.Equal(stdout.Bytes(), want) {
				t.Fatalf("printed %q, want %q", stdout.String(), want)
			}
			t.Logf("%s: %d checks, output as expected", tc, checks)
		})
	}
}
