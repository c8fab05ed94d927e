package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/syncgate/syncgate/guest/authorize/appsrules"
	"github.com/syncgate/syncgate/host/config"
	"github.com/syncgate/syncgate/host/schemas"
)

const rulesUsage = `usage: syncgate rules check|explain [flags]
  check    parse every rules file in RULES_DIR (default rules/), list each table's roles,
           print each problem with file and JSON pointer (exit 1 on any)
  explain  --user ID [--claims JSON] --op JSON [--current JSON]
           decide one write as the authorize guest would and print the decision path;
           --op is a PowerSync CRUD entry: {"op":"PATCH","type":"lists","id":"…","data":{…}};
           --claims the token's claims (%%user.data; its custom_data is %%user.custom_data);
           --current the stored document (none: the write is an insert).
           Exit 0 when the rules allow the write, 1 when they deny it.`

// defaultRulesDir is RULES_DIR's default.
const defaultRulesDir = "rules"

// rulesDir is RULES_DIR, read through the command's getenv.
func rulesDir(getenv func(string) string) string {
	if d := getenv("RULES_DIR"); d != "" {
		return d
	}
	return defaultRulesDir
}

func rulesCmd(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || helpAsked(args[:1]) {
		fmt.Fprintln(stdout, rulesUsage)
		if len(args) == 0 {
			return usageError{"rules: which command?"}
		}
		return nil
	}
	dir := rulesDir(getenv)
	switch args[0] {
	case "check":
		if len(args) > 1 {
			return usageError{fmt.Sprintf("rules check: unexpected argument %q", args[1])}
		}
		set, err := loadRules(dir, stderr)
		if err != nil {
			return err
		}
		printRules(stdout, dir, set)
		// Tables with a schema (writable) that no rules cover.
		cfg, cerr := config.Parse(environ(getenv))
		if cerr == nil {
			if sch, err := schemas.Load(cfg.SchemasDir); err == nil {
				var uncovered []string
				for _, t := range sch.Tables() {
					if !set.Covers(t) {
						uncovered = append(uncovered, t)
					}
				}
				if len(uncovered) > 0 {
					fmt.Fprintf(stdout, "tables with a schema and no rules (every write to them is denied): %s\n", strings.Join(uncovered, ", "))
				}
			}
		}
		return nil
	case "explain":
		return rulesExplain(args[1:], dir, stdout, stderr)
	}
	return usageError{fmt.Sprintf("rules: unknown command %q\n%s", args[0], rulesUsage)}
}

// loadRules loads dir, printing each problem on its own line.
func loadRules(dir string, stderr io.Writer) (*appsrules.Set, error) {
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("rules: %s is not a directory (set RULES_DIR)", dir)
	}
	set, err := appsrules.Load(os.DirFS(dir))
	var le *appsrules.LoadError
	if errors.As(err, &le) {
		for _, p := range le.Problems {
			fmt.Fprintf(stderr, "%s/%s\n", dir, p)
		}
		return nil, fmt.Errorf("rules: %s has %d problem(s) (listed above)", dir, len(le.Problems))
	}
	if err != nil {
		return nil, err
	}
	if set.Empty() {
		return nil, fmt.Errorf("rules: %s holds no rules file (<table>.json or %s)", dir, appsrules.DefaultFile)
	}
	return set, nil
}

func printRules(w io.Writer, dir string, set *appsrules.Set) {
	tables := set.Tables()
	fmt.Fprintf(w, "%s: %d table(s) with their own roles, default roles: %v\n", dir, len(tables), set.HasDefault())
	for _, t := range tables {
		names, file := set.Roles(t)
		fmt.Fprintf(w, "  %s (%s): %s\n", t, file, roleList(names))
	}
	if set.HasDefault() {
		names, _ := set.Roles("")
		fmt.Fprintf(w, "  every other table (%s): %s\n", appsrules.DefaultFile, roleList(names))
	} else {
		fmt.Fprintf(w, "  every other table: no rules (writes denied)\n")
	}
	for _, line := range set.Ignored() {
		fmt.Fprintf(w, "ignored: %s\n", line)
	}
	for _, line := range set.Warnings() {
		fmt.Fprintf(w, "fail closed: %s\n", line)
	}
}

func roleList(names []string) string {
	if len(names) == 0 {
		return "no roles (writes denied)"
	}
	return strings.Join(names, " → ")
}

// crudEntry is --op: a PowerSync CRUD entry (type is the table).
type crudEntry struct {
	Op    string         `json:"op"`
	Type  string         `json:"type"`
	Table string         `json:"table"`
	ID    string         `json:"id"`
	Data  map[string]any `json:"data"`
}

func rulesExplain(args []string, dir string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("rules explain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	user := fs.String("user", "", "the caller's user id (the token's sub)")
	claims := fs.String("claims", "", "the token's claims as a JSON object")
	opText := fs.String("op", "", "the write: a PowerSync CRUD entry as JSON")
	current := fs.String("current", "", "the stored document as JSON (omit for an insert)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return usageError{"rules explain: " + err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("rules explain: unexpected argument %q", fs.Arg(0))}
	}
	if *opText == "" {
		return usageError{"rules explain: --op is required"}
	}
	var op crudEntry
	if err := decodeJSON(*opText, &op); err != nil {
		return usageError{"rules explain: --op: " + err.Error()}
	}
	if op.Type == "" {
		op.Type = op.Table
	}
	op.Op = strings.ToUpper(op.Op)
	switch {
	case op.Op != "PUT" && op.Op != "PATCH" && op.Op != "DELETE":
		return usageError{fmt.Sprintf("rules explain: --op: op %q is not PUT, PATCH or DELETE", op.Op)}
	case op.Type == "":
		return usageError{"rules explain: --op: no type (the table)"}
	case op.ID == "":
		return usageError{"rules explain: --op: no id"}
	}
	in := appsrules.Input{Op: op.Op, Table: op.Type, ID: op.ID, Data: appsrules.Map(op.Data),
		User: appsrules.User{ID: *user, Type: "normal"}}
	if *claims != "" {
		if err := decodeJSON(*claims, &in.User.Data); err != nil || in.User.Data == nil {
			return usageError{fmt.Sprintf("rules explain: --claims: want a JSON object (%v)", err)}
		}
		if cd, ok := in.User.Data["custom_data"].(map[string]any); ok {
			in.User.CustomData = cd
		}
	}
	if *current != "" {
		var cur map[string]any
		if err := decodeJSON(*current, &cur); err != nil || cur == nil {
			return usageError{fmt.Sprintf("rules explain: --current: want a JSON object (%v)", err)}
		}
		delete(cur, "id")
		delete(cur, "_id")
		in.Current, in.Exists = appsrules.Map(cur), true
	}
	set, err := loadRules(dir, stderr)
	if err != nil {
		return err
	}
	d := set.Explain(in)
	for _, line := range d.Trace {
		fmt.Fprintf(stdout, "  %s\n", line)
	}
	if d.Allow {
		fmt.Fprintf(stdout, "decision: allow (%s)\n", d.Reason)
		return nil
	}
	fmt.Fprintf(stdout, "decision: deny, code forbidden: %s\n", d.Reason)
	return errors.New("rules explain: the rules deny this write")
}

// decodeJSON decodes one JSON value with numbers kept as json.Number (as
// the guest sees them).
func decodeJSON(text string, v any) error {
	d := json.NewDecoder(bytes.NewReader([]byte(text)))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return errors.New("data after the JSON value")
	}
	return nil
}
