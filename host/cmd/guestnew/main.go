// Command guestnew scaffolds a guest: guest/examples/<name>/ with main.go,
// logic.go, logic_test.go and README.md. Run it as `go tool task guest:new NAME=x`.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"text/template"
)

func main() { os.Exit(run(os.Args[1:], "guest/examples", os.Stdout, os.Stderr)) }

var validName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,30}$`)

func run(args []string, root string, stdout, stderr io.Writer) int {
	if len(args) != 1 || !validName.MatchString(args[0]) {
		fmt.Fprintln(stderr, "usage: go tool task guest:new NAME=<name>   (lower case letters, digits, _)")
		return 2
	}
	name := args[0]
	dir := filepath.Join(root, name)
	if _, err := os.Stat(dir); err == nil {
		fmt.Fprintf(stderr, "guestnew: %s already exists\n", dir)
		return 1
	} else if !errors.Is(err, os.ErrNotExist) {
		fmt.Fprintln(stderr, "guestnew:", err)
		return 1
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fmt.Fprintln(stderr, "guestnew:", err)
		return 1
	}
	for file, text := range files {
		f, err := os.Create(filepath.Join(dir, file))
		if err != nil {
			fmt.Fprintln(stderr, "guestnew:", err)
			return 1
		}
		err = template.Must(template.New(file).Parse(text)).Execute(f, map[string]string{"Name": name})
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			fmt.Fprintln(stderr, "guestnew:", err)
			return 1
		}
	}
	fmt.Fprintf(stdout, "created %s: edit logic.go, run go test ./%s, then go tool task guests and GUESTS=%s\n", dir, dir, name)
	return 0
}

var files = map[string]string{
	"main.go": `// Command {{.Name}} is a syncgate guest. See README.md.
package main

import "github.com/syncgate/syncgate/guest"

// NeedsCurrent: set true if handle reads op.Current (the stored document).
// Settings: list every key handle reads from op.Settings (GUEST_SETTINGS={{.Name}}.key:value);
// syncgate refuses to start with a key not listed here.
func init() {
	guest.Register(guest.Info{Name: "{{.Name}}", NeedsCurrent: false, Settings: nil}, handle)
}

func main() {}
`,
	"logic.go": `package main

import "github.com/syncgate/syncgate/guest"

// handle decides one op: guest.Accept(), guest.Replace(data) or
// guest.Reject(code, reason). It is plain Go: test it with go test.
func handle(op *guest.Op) guest.Verdict {
	// The comma-ok form: a row without the field must not panic the guest.
	if d, ok := op.Data["description"].(string); ok && op.Op == guest.OpPut && d == "" {
		return guest.Reject("empty_description", "description must not be empty")
	}
	return guest.Accept()
}
`,
	"logic_test.go": `package main

import (
	"testing"

	"github.com/syncgate/syncgate/guest"
)

func TestHandle(t *testing.T) {
	cases := []struct {
		name   string
		op     guest.Op
		reject bool
	}{
		{"accepts a described to-do", guest.Op{Op: guest.OpPut, Table: "todos", Data: map[string]any{"description": "milk"}}, false},
		{"rejects an empty description", guest.Op{Op: guest.OpPut, Table: "todos", Data: map[string]any{"description": ""}}, true},
		{"accepts a row without one", guest.Op{Op: guest.OpPut, Table: "lists", Data: map[string]any{"name": "x"}}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if v := handle(&c.op); v.Reject != c.reject {
				t.Fatalf("reject = %v (%s), want %v", v.Reject, v.Reason, c.reject)
			}
		})
	}
}
`,
	"README.md": `# {{.Name}}

What this guest does, in one paragraph.

- Test natively: ` + "`go test ./guest/examples/{{.Name}}`" + `
- Build: ` + "`go tool task guests`" + ` (writes guest/bin/{{.Name}}.wasm)
- Run: ` + "`GUESTS={{.Name}}`" + ` (or ` + "`{{.Name}}:table1|table2`" + `), settings with ` + "`GUEST_SETTINGS={{.Name}}.key:value`" + `
`,
}
