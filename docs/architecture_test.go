package docs

import (
	"go/parser"
	"go/token"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/syncgate/syncgate/"

// TestDependencyArrows holds every package under host/, guest/ and
// internal/ to its
// row of architecture.md's package table: each import of a non-test file
// (whatever its build tags) must be the standard library or listed in the
// row's "may import" column, and every package must have a row.
func TestDependencyArrows(t *testing.T) {
	md, err := os.ReadFile("architecture.md")
	if err != nil {
		t.Fatal(err)
	}
	rules := map[string][]string{} // package pattern → allowed patterns
	row := regexp.MustCompile("^\\| `([^`]+)` \\|.*\\| ([^|]+) \\|$")
	tick := regexp.MustCompile("`([^`]+)`")
	for _, line := range strings.Split(string(md), "\n") {
		m := row.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		var allowed []string
		for _, a := range tick.FindAllStringSubmatch(m[2], -1) {
			allowed = append(allowed, a[1])
		}
		rules[m[1]] = allowed
	}
	if len(rules) < 20 {
		t.Fatalf("read %d rows from architecture.md's package table: the parse is broken", len(rules))
	}
	imports := map[string]map[string]bool{} // package dir → imports
	for _, root := range []string{"../host", "../guest", "../internal"} {
		err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && d.Name() == "testdata" {
				return filepath.SkipDir
			}
			if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
				return nil
			}
			f, err := parser.ParseFile(token.NewFileSet(), p, nil, parser.ImportsOnly)
			if err != nil {
				return err
			}
			pkg := filepath.ToSlash(strings.TrimPrefix(filepath.Dir(p), "../"))
			if imports[pkg] == nil {
				imports[pkg] = map[string]bool{}
			}
			for _, imp := range f.Imports {
				imports[pkg][strings.Trim(imp.Path.Value, `"`)] = true
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	used := map[string]map[string]bool{} // row → its allowed entries some import of its packages uses
	for pkg, imps := range imports {
		pattern, allowed, ok := rule(rules, pkg)
		if !ok {
			t.Errorf("%s has no row in architecture.md's package table", pkg)
			continue
		}
		if used[pattern] == nil {
			used[pattern] = map[string]bool{}
		}
		for imp := range imps {
			first, _, _ := strings.Cut(imp, "/")
			if !strings.Contains(first, ".") {
				continue // standard library
			}
			own, internal := strings.CutPrefix(imp, module)
			if internal && (own == pkg || strings.HasPrefix(own, pkg+"/internal/")) {
				continue
			}
			found := false
			for _, a := range allowed {
				if matches(a, own, imp, internal) {
					used[pattern][a], found = true, true
				}
			}
			if !found {
				t.Errorf("%s imports %s; architecture.md allows only %v", pkg, imp, allowed)
			}
		}
	}
	// And the other way: every arrow of the table is an import some
	// package of its row makes, so the table says what the code does.
	for pattern, allowed := range rules {
		for _, a := range allowed {
			if !used[pattern][a] {
				t.Errorf("architecture.md lets %s import %s, which none of its packages does: remove the arrow", pattern, a)
			}
		}
	}
	for pattern := range rules {
		if !slices.ContainsFunc(slices.Collect(maps.Keys(imports)), func(p string) bool { ok, _ := path.Match(pattern, p); return ok }) {
			t.Errorf("architecture.md has a row for %s, which is no package", pattern)
		}
	}
}

// rule finds pkg's row: exact, or a pattern such as guest/examples/*.
func rule(rules map[string][]string, pkg string) (string, []string, bool) {
	if r, ok := rules[pkg]; ok {
		return pkg, r, true
	}
	for pattern, r := range rules {
		if ok, _ := path.Match(pattern, pkg); ok {
			return pattern, r, true
		}
	}
	return "", nil, false
}

// matches reports whether an allowed entry admits an import: a package of
// this module (own, exact or a pattern like host/*) or an outside module by
// path prefix.
func matches(allowed, own, imp string, internal bool) bool {
	if internal {
		if allowed == own {
			return true
		}
		ok, _ := path.Match(allowed, own)
		return ok
	}
	return imp == allowed || strings.HasPrefix(imp, allowed+"/")
}

// TestNodevdbLeavesOutFerretDB: a binary built with -tags nodevdb links no
// FerretDB or SQLite.
func TestNodevdbLeavesOutFerretDB(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-tags", "nodevdb", "../host/cmd/syncgate").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, p := range strings.Fields(string(out)) {
		if strings.Contains(p, "FerretDB") || strings.Contains(p, "sqlite") || strings.HasSuffix(p, "host/devdb") {
			t.Errorf("the nodevdb build depends on %s", p)
		}
	}
}

// TestTestOnlyOutOfBinaries: no command of the product links a test-only
// package. tests/internal/... cannot be imported outside tests/ (Go's
// internal rule); internal/guestbuild, which host packages' tests use, could
// be, so the commands' dependency graphs are checked here.
func TestTestOnlyOutOfBinaries(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "../host/cmd/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if !slices.Contains(deps, module+"host/store") {
		t.Fatalf("go list -deps ../host/cmd/... lists no host/store: the listing is broken\n%s", out)
	}
	for _, p := range deps {
		if p == module+"internal/guestbuild" || strings.HasPrefix(p, module+"tests/") {
			t.Errorf("a command of the product depends on the test-only package %s", p)
		}
	}
}
