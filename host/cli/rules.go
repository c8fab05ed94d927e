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
           decision is shown beside the role's. --parents gives the parent documents the host
           would look up, as {"lists":[{"_id":"…","owner_id":"…"}]}, for the sync scope and for
           the rules' parents (x-syncgate-parents).
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
	if done, err := subcommandUsage(args, rulesUsage, "rules: which command?", stdout); done {
		return err
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
		also := ""
		if t == attachmentsTable {
			also = " (also decides PUT and DELETE of /attachments when ATTACHMENTS is on)"
		}
		fmt.Fprintf(w, "  %s (%s): %s%s\n", t, file, roleList(names), also)
	}
	if set.HasDefault() {
		names, _ := set.Roles("")
		fmt.Fprintf(w, "  every other table (%s): %s\n", appsrules.DefaultFile, roleList(names))
	} else {
		fmt.Fprintf(w, "  every other table: no rules (writes denied)\n")
	}
	for _, p := range set.Parents() {
		fmt.Fprintf(w, "parent (%s, syncgate extension): %s: %%%%parent.%s is the %s document whose %s equals %s.%s\n",
			appsrules.ParentsKey, p.Table, p.Name, p.Collection, p.Field, p.Table, p.Column)
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

func rulesExplain(args []string, dir, syncPath string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("rules explain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	user := fs.String("user", "", "the caller's user id (the token's sub)")
	claims := fs.String("claims", "", "the token's claims as a JSON object")
	opText := fs.String("op", "", "the write: a PowerSync CRUD entry as JSON")
	current := fs.String("current", "", "the stored document as JSON (omit for an insert)")
	fs.StringVar(&syncPath, "sync-config", syncPath, "the PowerSync sync config whose scope the write must keep (default SYNC_CONFIG with AUTHORIZE=sync-scope)")
	parentsText := fs.String("parents", "", "the parent documents by collection, as JSON (the sync scope's, and the rules' %%parent)")
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
	in := live.ExplainInput{User: *user}
	if err := decodeJSON(*opText, &in.Op); err != nil {
		return usageError{"rules explain: --op: " + err.Error()}
	}
	if *claims != "" {
		if err := decodeJSON(*claims, &in.Claims); err != nil || in.Claims == nil {
			return usageError{fmt.Sprintf("rules explain: --claims: want a JSON object (%v)", err)}
		}
	}
	if *current != "" {
		if err := decodeJSON(*current, &in.Current); err != nil || in.Current == nil {
			return usageError{fmt.Sprintf("rules explain: --current: want a JSON object (%v)", err)}
		}
	}
	if *parentsText != "" {
		if err := decodeJSON(*parentsText, &in.Parents); err != nil {
			return usageError{fmt.Sprintf("rules explain: --parents: want {\"collection\":[documents]} (%v)", err)}
		}
	}
	var set *appsrules.Set
	var scope *syncscope.Config
	if syncPath == "" || live.HasRulesFiles(dir) {
		var err error
		if set, err = loadRules(dir, stderr); err != nil {
			return err
		}
	}
	if syncPath != "" {
		b, err := os.ReadFile(syncPath)
		if err != nil {
			return fmt.Errorf("rules explain: sync config: %w", err)
		}
		if scope, err = syncscope.Parse(filepath.Base(syncPath), b); err != nil {
			return fmt.Errorf("rules explain: %s: %w", syncPath, err)
		}
	}
	e, err := live.Explain(set, dir, scope, syncPath, in)
	if err != nil {
		return usageError{"rules explain: --" + err.Error()}
	}
	printExplanation(stdout, e)
	if !e.Allow {
		return errors.New("rules explain: a check denies this write")
	}
	return nil
}

// printExplanation prints each check's path, its verdict and the decision.
func printExplanation(w io.Writer, e live.Explanation) {
	for _, c := range e.Checks {
		fmt.Fprintf(w, "%s (%s):\n", c.Check, c.Source)
		for _, line := range c.Trace {
			fmt.Fprintf(w, "  %s\n", line)
		}
		verdict := "deny"
		if c.Allow {
			verdict = "allow"
		}
		name := c.Check
		if name == "sync scope" {
			name = "scope"
		}
		fmt.Fprintf(w, "  %s: %s (%s)\n", name, verdict, c.Reason)
	}
	if e.Allow {
		fmt.Fprintf(w, "decision: allow (%s)\n", e.Reason)
		return
	}
	fmt.Fprintf(w, "decision: deny, code forbidden: %s\n", e.Reason)
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
