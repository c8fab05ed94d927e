package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/syncgate/syncgate/guest/authorize/appsrules"
	"github.com/syncgate/syncgate/guest/authorize/syncscope"
	"github.com/syncgate/syncgate/host/config"
	"github.com/syncgate/syncgate/host/live"
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
           With AUTHORIZE=sync-scope and SYNC_CONFIG (or --sync-config PATH), the sync scope's
           decision is shown beside the role's; --parents gives the parent documents the host
           would look up, as {"lists":[{"_id":"…","owner_id":"…"}]}.
           Exit 0 when every check allows the write, 1 when one denies it.`

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
		syncPath := ""
		if cfg, err := config.Parse(environ(getenv)); err == nil && cfg.SyncScope() {
			syncPath = cfg.SyncConfig
		}
		return rulesExplain(args[1:], dir, syncPath, stdout, stderr)
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

func rulesExplain(args []string, dir, syncPath string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("rules explain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	user := fs.String("user", "", "the caller's user id (the token's sub)")
	claims := fs.String("claims", "", "the token's claims as a JSON object")
	opText := fs.String("op", "", "the write: a PowerSync CRUD entry as JSON")
	current := fs.String("current", "", "the stored document as JSON (omit for an insert)")
	fs.StringVar(&syncPath, "sync-config", syncPath, "the PowerSync sync config whose scope the write must keep (default SYNC_CONFIG with AUTHORIZE=sync-scope)")
	parentsText := fs.String("parents", "", "sync scope: the parent documents by collection, as JSON")
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
	var parents map[string][]map[string]any
	if *parentsText != "" {
		if err := decodeJSON(*parentsText, &parents); err != nil {
			return usageError{fmt.Sprintf("rules explain: --parents: want {\"collection\":[documents]} (%v)", err)}
		}
	}
	var allows []string // each check's reason for allowing
	denial := ""        // the first check's reason for denying
	if syncPath == "" || live.HasRulesFiles(dir) {
		set, err := loadRules(dir, stderr)
		if err != nil {
			return err
		}
		d := set.Explain(in)
		fmt.Fprintln(stdout, "rules ("+dir+"):")
		for _, line := range d.Trace {
			fmt.Fprintf(stdout, "  %s\n", line)
		}
		if d.Allow {
			fmt.Fprintf(stdout, "  rules: allow (%s)\n", d.Reason)
			allows = append(allows, d.Reason)
		} else {
			fmt.Fprintf(stdout, "  rules: deny (%s)\n", d.Reason)
			denial = d.Reason
		}
	}
	if syncPath != "" {
		b, err := os.ReadFile(syncPath)
		if err != nil {
			return fmt.Errorf("rules explain: sync config: %w", err)
		}
		sc, err := syncscope.Parse(filepath.Base(syncPath), b)
		if err != nil {
			return fmt.Errorf("rules explain: %s: %w", syncPath, err)
		}
		sin := syncscope.Input{Op: op.Op, Table: op.Type, ID: op.ID, User: syncscope.User{ID: *user, Claims: in.User.Data}, Explain: true,
			Parents: func(table, _ string, _ any) []map[string]any { return parents[table] }}
		var before map[string]any
		if *current != "" {
			_ = decodeJSON(*current, &before)
			sin.Before = before
		}
		if op.Op != "DELETE" {
			after := map[string]any{}
			if op.Op == "PATCH" {
				for k, v := range before {
					after[k] = v
				}
			}
			for k, v := range op.Data {
				after[k] = v
			}
			sin.After = after
		}
		d := sc.Check(sin)
		fmt.Fprintln(stdout, "sync scope ("+syncPath+"):")
		for _, line := range d.Trace {
			fmt.Fprintf(stdout, "  %s\n", line)
		}
		where := d.Stream
		if d.Condition != "" {
			where += ": " + d.Condition
		}
		why := strings.TrimPrefix(where+"; "+d.Reason, "; ")
		if d.Allow {
			fmt.Fprintf(stdout, "  scope: allow (%s)\n", why)
			allows = append(allows, "sync scope: "+why)
		} else {
			fmt.Fprintf(stdout, "  scope: deny (%s)\n", why)
			if denial == "" {
				denial = "sync scope: " + why
			}
		}
	}
	if denial == "" {
		fmt.Fprintf(stdout, "decision: allow (%s)\n", strings.Join(allows, "; "))
		return nil
	}
	fmt.Fprintf(stdout, "decision: deny, code forbidden: %s\n", denial)
	return errors.New("rules explain: a check denies this write")
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
