package tests

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestWalkthrough follows the guides on a copy of the project, as a newcomer
// does: docs/guests.md (scaffold a guest of one's own, write its rule and
// test from the guide's code, build it), docs/schemas.md (add a collection,
// ./bin/syncgate schemas check), docs/getting-started.md (start, mint a
// token, upload), and sees the guest's own rejection code come back. Then it
// runs, in the customized copy, the tests that once read the project's own
// schemas/ and guests as fixtures: a project customized as the guides say
// must still pass its tests.
//
// Every command and file comes from the guides' text, so a guide that stops
// working fails here.
func TestWalkthrough(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the walkthrough builds a copy of the project")
	}
	root := copyProject(t)
	sh := func(name string, args ...string) string {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "GOFLAGS=")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	guests := readDoc(t, "guests.md")
	blocks := fenced(guests, "go")
	if len(blocks) < 3 {
		t.Fatalf("docs/guests.md has %d Go blocks, want logic.go, main.go's init and logic_test.go", len(blocks))
	}

	// docs/guests.md 1-4: scaffold, write the rule and its test, test, build.
	sh("go", "tool", "task", "guest:new", "NAME=quota")
	dir := filepath.Join(root, "guest", "examples", "quota")
	write(t, filepath.Join(dir, "logic.go"), blocks[0])
	mainGo := readFile(t, filepath.Join(dir, "main.go"))
	initFunc := regexp.MustCompile(`(?s)func init\(\) \{.*?\n\}`)
	if !initFunc.MatchString(mainGo) {
		t.Fatalf("the scaffold's main.go has no init func:\n%s", mainGo)
	}
	write(t, filepath.Join(dir, "main.go"), initFunc.ReplaceAllLiteralString(mainGo, strings.TrimSpace(blocks[1])))
	write(t, filepath.Join(dir, "logic_test.go"), blocks[2])
	sh("go", "test", "./guest/examples/quota")

	// docs/schemas.md: a new collection, checked as the user checks it.
	notes := fenced(readDoc(t, "schemas.md"), "json")
	if len(notes) == 0 {
		t.Fatal("docs/schemas.md has no notes.json block")
	}
	write(t, filepath.Join(root, "schemas", "notes.json"), notes[0])
	sh("go", "tool", "task", "build", "guests")
	if _, err := os.Stat(filepath.Join(root, "guest", "bin", "quota.wasm")); err != nil {
		t.Fatalf("go tool task guests did not build quota: %v", err)
	}
	if out := sh("./bin/syncgate", "schemas", "check"); !strings.Contains(out, "3 schemas OK ([lists notes todos])") {
		t.Fatalf("schemas check: %s", out)
	}

	// docs/guests.md 5: the guide's own .env lines, quotes and all.
	env := baseEnv(t)
	delete(env, "UPLOAD_AUTH") // as a user runs it: tokens from /token
	env["SCHEMAS_DIR"] = filepath.Join(root, "schemas")
	env["GUESTS_DIR"] = filepath.Join(root, "guest", "bin")
	for _, block := range fenced(guests, "sh") {
		for _, line := range strings.Split(block, "\n") {
			if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok && (k == "GUESTS" || k == "GUEST_SETTINGS") {
				env[k] = strings.Trim(v, `'"`)
			}
		}
	}
	if env["GUESTS"] != "normalize,quota:todos|lists" || env["GUEST_SETTINGS"] != "quota.max:100" {
		t.Fatalf("docs/guests.md's configuration: GUESTS=%q GUEST_SETTINGS=%q", env["GUESTS"], env["GUEST_SETTINGS"])
	}

	// docs/getting-started.md 1: start, a token, the guide's upload.
	a := start(t, env)
	if ready := get(t, a.url+"/readyz").json(t); !strings.Contains(strings.Join(anyStrings(ready["guests"]), ","), "quota:lists|todos") {
		t.Fatalf("/readyz does not show the guide's pipeline: %v", ready["guests"])
	}
	tok := token(t, a, "alice")
	body := regexp.MustCompile(`-d '(\{.*\})'`).FindStringSubmatch(readDoc(t, "getting-started.md"))
	if body == nil {
		t.Fatal("docs/getting-started.md has no upload body")
	}
	res := uploadResult(t, postUpload(t, a, tok, body[1]))
	if res.Applied != 1 || len(res.Rejected) != 0 {
		t.Fatalf("getting-started's upload: %+v", res)
	}
	// The guest's own code, and the new collection writable.
	res = uploadResult(t, postUpload(t, a, tok, `{"batch":[
		{"op":"PUT","table":"todos","id":"`+todoA+`","data":{"description":"`+strings.Repeat("x", 101)+`","list_id":"`+listA+`"}},
		{"op":"PUT","table":"todos","id":"`+todoB+`","data":{"description":"milk","list_id":"`+listA+`"}},
		{"op":"PUT","table":"notes","id":"`+todoA+`","data":{"body":"call mum","pinned":1}}]}`))
	if res.Applied != 2 || len(res.Rejected) != 1 || res.Rejected[0].Code != "too_long" || res.Rejected[0].Index != 0 {
		t.Fatalf("want the long to-do rejected as too_long and the rest applied: %+v", res)
	}
	if n := count(t, a.db, "notes"); n != 1 {
		t.Fatalf("%d notes written, want 1", n)
	}
	a.stop(t)

	// docs/getting-started.md: go tool task run, stopped as the guide says.
	checkTaskRunStops(t, root)

	// The customized project still passes the tests that once used its
	// schemas/ and guests as fixtures.
	sh("go", "test", "-count=1", "./host/schemas", "./host/syncgate", "./guest/...", "./docs")
	sh("go", "test", "-count=1", "-run", "^(TestOpenAPIMatchesServer|TestSchemasCommands|TestSchemaGateEndToEnd)$", "./tests")
}

func anyStrings(v any) []string {
	var out []string
	l, _ := v.([]any)
	for _, x := range l {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

// walkthroughMakes is what the walkthrough creates by following the
// guides; a copy of the project is cleared of it first, so a newcomer who
// followed the guides in place (their own guest/examples/quota and
// schemas/notes.json) still sees this test pass.
var walkthroughMakes = []string{"guest/examples/quota", "guest/bin/quota.wasm", "schemas/notes.json"}

// copyProject copies the project (copyFrom) without what the walkthrough
// makes.
func copyProject(t *testing.T) string {
	t.Helper()
	src, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	dst := copyFrom(t, src)
	for _, p := range walkthroughMakes {
		if err := os.RemoveAll(filepath.Join(dst, p)); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// copyFrom copies src's source files into a temporary folder: those git
// tracks or would track (what .gitignore names, such as build outputs,
// local state, node_modules and .env, is left out); without git, every
// file but those.
func copyFrom(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	start := time.Now()
	copyOne := func(rel string, mode fs.FileMode) error {
		b, err := os.ReadFile(filepath.Join(src, rel))
		if errors.Is(err, fs.ErrNotExist) {
			return nil // tracked, deleted in the working tree
		}
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dst, rel)), 0o755); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, mode)
	}
	if out, err := exec.Command("git", "-C", src, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output(); err == nil {
		for _, rel := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
			if rel == "" {
				continue
			}
			mode := fs.FileMode(0o644)
			if info, err := os.Stat(filepath.Join(src, rel)); err == nil {
				if !info.Mode().IsRegular() {
					continue
				}
				mode = info.Mode().Perm()
			}
			if err := copyOne(rel, mode); err != nil {
				t.Fatal(err)
			}
		}
		t.Logf("project (files git tracks or would) copied to %s in %s", dst, time.Since(start).Round(time.Millisecond))
		return dst
	}
	skip := map[string]bool{".git": true, "bin": true, "node_modules": true, ".syncgate": true, ".task": true, ".env": true}
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if skip[d.Name()] && rel != "." {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() || !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		return copyOne(rel, info.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("project copied to %s in %s", dst, time.Since(start).Round(time.Millisecond))
	return dst
}

// TestWalkthroughCopy (issue 29 item 6): the walkthrough's copy holds the
// project's sources, new files included, without what .gitignore names
// (.env, bin/) and without what the walkthrough makes itself, so the
// guides followed in place (here a guest/examples/quota of one's own)
// cannot stop it.
func TestWalkthroughCopy(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	src := t.TempDir()
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", src, "-c", "user.email=t@t", "-c", "user.name=t"}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git("init", "-q")
	write(t, filepath.Join(src, ".gitignore"), ".env\nbin/\n")
	write(t, filepath.Join(src, "tracked.go"), "package x\n")
	git("add", ".gitignore", "tracked.go")
	git("commit", "-qm", "x")
	write(t, filepath.Join(src, "tracked.go"), "package x // edited\n")
	write(t, filepath.Join(src, "new.go"), "package x\n")
	if err := os.MkdirAll(filepath.Join(src, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(src, "bin", "syncgate"), "binary")
	write(t, filepath.Join(src, ".env"), "GUESTS=quota\n")
	dst := copyFrom(t, src)
	if got := readFile(t, filepath.Join(dst, "tracked.go")); got != "package x // edited\n" {
		t.Fatalf("tracked file: %q", got)
	}
	if _, err := os.Stat(filepath.Join(dst, "new.go")); err != nil {
		t.Errorf("a new file is not copied: %v", err)
	}
	for _, p := range []string{"bin", ".env", ".git"} {
		if _, err := os.Stat(filepath.Join(dst, p)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s copied (%v)", p, err)
		}
	}

	// The project itself, with a quota guest of one's own: not in the copy.
	own := filepath.Join("..", "guest", "examples", "quota")
	if _, err := os.Stat(own); err == nil {
		t.Logf("%s exists (the guides were followed in place)", own)
	} else {
		if err := os.MkdirAll(own, 0o755); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(own) })
		write(t, filepath.Join(own, "logic.go"), "package main\n\nthis does not compile\n")
	}
	if _, err := os.Stat(filepath.Join(copyProject(t), "guest", "examples", "quota")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the walkthrough's copy holds guest/examples/quota (%v)", err)
	}
}

func readDoc(t *testing.T, name string) string {
	return readFile(t, filepath.Join("..", "docs", name))
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// fenced returns the bodies of md's ```lang blocks, in order, without the
// indentation of the fence (blocks inside list items are indented).
func fenced(md, lang string) []string {
	var out []string
	lines := strings.Split(md, "\n")
	for i := 0; i < len(lines); i++ {
		trimmed := strings.TrimLeft(lines[i], " ")
		if trimmed != "```"+lang {
			continue
		}
		indent := len(lines[i]) - len(trimmed)
		var b strings.Builder
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
			l := lines[i]
			if len(l) >= indent && strings.TrimSpace(l[:indent]) == "" {
				l = l[indent:]
			}
			b.WriteString(l + "\n")
		}
		out = append(out, b.String())
	}
	return out
}
