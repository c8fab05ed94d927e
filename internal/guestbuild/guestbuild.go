// Package guestbuild compiles guest packages to WebAssembly reactors for
// tests and benchmarks, the way the Taskfile's guests task does.
//
// Tests only. It sits at the module's internal/ (importable from this
// module alone) rather than under tests/internal because the tests of
// host/sandbox, host/pipeline and host/live use it too; no product package
// may import it (docs/architecture.md gives it no importer, and
// TestTestOnlyOutOfBinaries in docs/ checks the commands' dependencies).
package guestbuild

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

// Build compiles each package (name → import path or ./dir) into
// dir/name.wasm with GOOS=wasip1 GOARCH=wasm -buildmode=c-shared, at most
// two at a time (the Go build cache makes unchanged guests instant).
func Build(dir string, pkgs map[string]string) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []string
		sem  = make(chan struct{}, 2)
	)
	for name, pkg := range pkgs {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", filepath.Join(dir, name+".wasm"), pkg)
			cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
			if out, err := cmd.CombinedOutput(); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Sprintf("build %s: %v\n%s", name, err, out))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		return fmt.Errorf("guestbuild: %s", strings.Join(errs, "\n"))
	}
	return nil
}

// Stock lists the guests that ship with syncgate, by name: the schema gate,
// the write-authorization guest, the four examples and the conflict
// policies. They are part of syncgate like the guest SDK, and the tests of
// host/sandbox, host/live and tests/ use them as fixtures, so they are not
// the user's to edit: a user's guest is a new folder (go tool
// task guest:new NAME=x, guest/examples/x), which no test but its own
// logic_test.go builds or reads. To change a stock guest's rule, copy it
// under a new name (docs/guests.md says so).
var Stock = map[string]string{
	"echo":       "github.com/syncgate/syncgate/guest/examples/echo",
	"owner":      "github.com/syncgate/syncgate/guest/examples/owner",
	"timestamps": "github.com/syncgate/syncgate/guest/examples/timestamps",
	"normalize":  "github.com/syncgate/syncgate/guest/examples/normalize",
	"schemagate": "github.com/syncgate/syncgate/guest/schemagate",
	// Write authorization: rules files and sync scope (docs/authorization.md).
	"authorize": "github.com/syncgate/syncgate/guest/authorize",
	// The conflict policies (docs/conflicts.md).
	"lww":         "github.com/syncgate/syncgate/guest/policies/lww",
	"version":     "github.com/syncgate/syncgate/guest/policies/version",
	"transitions": "github.com/syncgate/syncgate/guest/policies/transitions",
	"increments":  "github.com/syncgate/syncgate/guest/policies/increments",
}

// Run is a test package's TestMain body: it builds pkgs into a new
// temporary folder, points *dir at it, runs the tests and removes the
// folder, and returns the exit code for os.Exit. A build failure panics:
// no test could run.
func Run(m interface{ Run() int }, pkgs map[string]string, dir *string) int {
	d, err := os.MkdirTemp("", "syncgate-guests-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(d)
	if err := Build(d, pkgs); err != nil {
		panic(err)
	}
	*dir = d
	return m.Run()
}

// With is Stock plus extra (name → package).
func With(extra map[string]string) map[string]string {
	pkgs := make(map[string]string, len(Stock)+len(extra))
	for n, p := range Stock {
		pkgs[n] = p
	}
	for n, p := range extra {
		pkgs[n] = p
	}
	return pkgs
}
