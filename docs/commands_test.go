package docs

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// markdown lists the project's guides (not node_modules or test fixtures).
func markdown(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir("..", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || d.Name() == ".git" || d.Name() == "testdata" || d.Name() == ".syncgate" || d.Name() == "bin") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(p, ".md") {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestCommandsAsTyped: every command a guide shows exists as typed. The
// syncgate command is always ./bin/syncgate (what go tool task run and
// build make; a bare syncgate is on nobody's PATH), never go run; every
// go tool task NAME is a task of Taskfile.yml, and every ./bin/syncgate
// subcommand is one the command knows. A VAR=value with a | in a sh block
// is quoted, as the shell would otherwise start a pipe (an env block, a
// file for docker --env-file, keeps quotes literally and is left alone).
func TestCommandsAsTyped(t *testing.T) {
	taskfile, err := os.ReadFile("../Taskfile.yml")
	if err != nil {
		t.Fatal(err)
	}
	tasks := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^  ([a-z:]+):$`).FindAllStringSubmatch(string(taskfile), -1) {
		tasks[m[1]] = true
	}
	bare := regexp.MustCompile("(^|[\\s(`'\"$])syncgate (serve|keys|schemas|rejected|db|rules|import|version|help|--help)\\b")
	goRun := regexp.MustCompile(`go run \./host/cmd/syncgate(\s|$)`)
	task := regexp.MustCompile(`go tool task ([a-z][a-z:]*)`)
	unquotedPipe := regexp.MustCompile(`(^|\s)[A-Z][A-Z0-9_]*=[^'"\s][^\s]*\|`) // GUESTS=a:b|c, unquoted
	sub := regexp.MustCompile(`\./bin/syncgate ([a-z-]+)(?: ([a-z]+))?`)
	known := map[string][]string{"serve": nil, "keys": {"generate"}, "schemas": {"check", "export", "apply"},
		"rejected": {"list", "show", "replay", "resolve", "discard", "purge", "help"}, "db": {"find"}, "version": nil, "help": nil, "--help": nil,
		"rules": {"check", "explain"}, "import": {"appservices"}, "attachments": {"list", "purge"}}
	for _, f := range markdown(t) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		inBlock, lang := false, ""
		span := regexp.MustCompile("`[^`]+`")
		for i, line := range strings.Split(string(b), "\n") {
			if fence, ok := strings.CutPrefix(strings.TrimSpace(line), "```"); ok {
				inBlock, lang = !inBlock, fence
				continue
			}
			code := line // what a reader types: code blocks and `spans`
			if !inBlock {
				code = strings.Join(span.FindAllString(line, -1), " ")
			} else if c, _, ok := strings.Cut(code, " # "); ok {
				code = c // a shell comment is prose
			}
			at := f + ":" + strconv.Itoa(i+1)
			if inBlock && (lang == "sh" || lang == "bash") && unquotedPipe.MatchString(code) {
				t.Errorf("%s: quote the value: in a shell, | starts a pipe: %s", at, line)
			}
			if bare.MatchString(line) {
				t.Errorf("%s: a bare syncgate command; write ./bin/syncgate: %s", at, line)
			}
			if goRun.MatchString(line) {
				t.Errorf("%s: go run of the command; write ./bin/syncgate: %s", at, line)
			}
			for _, m := range task.FindAllStringSubmatch(line, -1) {
				if !tasks[m[1]] {
					t.Errorf("%s: go tool task %s: no such task in Taskfile.yml", at, m[1])
				}
			}
			for _, m := range sub.FindAllStringSubmatch(code, -1) {
				subs, ok := known[m[1]]
				if !ok {
					t.Errorf("%s: ./bin/syncgate %s: no such command", at, m[1])
				} else if len(subs) > 0 && m[2] != "" && !contains(subs, m[2]) {
					t.Errorf("%s: ./bin/syncgate %s %s: no such command", at, m[1], m[2])
				}
			}
		}
	}
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}
