package cli

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/syncgate/syncgate/guest/authorize/appsrules"
	"github.com/syncgate/syncgate/host/config"
	"github.com/syncgate/syncgate/host/schemas"
)

const importUsage = `usage: syncgate import appservices DIR [--rules DIR] [--schemas DIR] [--force]
  DIR is an exported Atlas App Services app (appservices pull / realm-cli pull). Reads
  data_sources/<service>/default_rule.json, data_sources/<service>/<db>/<collection>/rules.json and
  schema.json, values/, and legacy Flexible Sync permissions (defaultRoles/applyWhen); writes the
  rules into --rules (RULES_DIR, default rules/) and the schemas into --schemas (SCHEMAS_DIR), then
  lists what it could not carry over and what to do instead. Existing files are kept unless --force.`

func importCmd(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if done, err := subcommandUsage(args, importUsage, "import: from what? (import appservices DIR)", stdout); done {
		return err
	}
	schemasDefault := "schemas"
	if cfg, err := config.Parse(environ(getenv)); err == nil {
		schemasDefault = cfg.SchemasDir
	}
	fs := flag.NewFlagSet("import appservices", flag.ContinueOnError)
	fs.SetOutput(stderr)
	rulesOut := fs.String("rules", rulesDir(getenv), "where to write the rules")
	schemasOut := fs.String("schemas", schemasDefault, "where to write the schemas")
	force := fs.Bool("force", false, "overwrite existing files")
	var pos []string
	for rest := args; ; {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil
			}
			return usageError{"import: " + err.Error()}
		}
		if fs.NArg() == 0 {
			break
		}
		pos, rest = append(pos, fs.Arg(0)), fs.Args()[1:]
	}
	if len(pos) != 2 || pos[0] != "appservices" {
		return usageError{importUsage}
	}
	imp, err := readApp(pos[1])
	if err != nil {
		return err
	}
	return imp.write(*rulesOut, *schemasOut, *force, stdout, stderr)
}

// appImport is what an exported app turns into.
type appImport struct {
	dir       string
	rules     map[string][]byte // rules file name → content
	schemas   map[string][]byte // schema file name → content
	from      map[string]string // output file → the app file it came from
	databases map[string]bool
	lost      []string // not carried over, each with what to do instead
	notes     []string // carried over with a change worth knowing
}

func readApp(dir string) (*appImport, error) {
	imp := &appImport{dir: dir, rules: map[string][]byte{}, schemas: map[string][]byte{}, from: map[string]string{}, databases: map[string]bool{}}
	ds := filepath.Join(dir, "data_sources")
	services, err := os.ReadDir(ds)
	if err != nil {
		if _, serr := os.Stat(filepath.Join(dir, "sync", "config.json")); serr != nil {
			return nil, fmt.Errorf("import appservices: %s has no data_sources/ folder: not an exported App Services app (%v)", dir, err)
		}
	}
	var legacy []legacyPerms
	for _, svc := range services {
		if !svc.IsDir() {
			continue
		}
		sdir := filepath.Join(ds, svc.Name())
		if b, err := os.ReadFile(filepath.Join(sdir, "config.json")); err == nil {
			var c struct {
				Config struct {
					FlexibleSync struct {
						Permissions *legacyPermissions `json:"permissions"`
					} `json:"flexible_sync"`
				} `json:"config"`
			}
			if err := json.Unmarshal(b, &c); err != nil {
				return nil, fmt.Errorf("import appservices: %s: %v", imp.rel(filepath.Join(sdir, "config.json")), err)
			}
			if p := c.Config.FlexibleSync.Permissions; p != nil {
				legacy = append(legacy, legacyPerms{imp.rel(filepath.Join(sdir, "config.json")), p})
			}
		}
		if b, err := os.ReadFile(filepath.Join(sdir, appsrules.DefaultFile)); err == nil {
			imp.add(imp.rules, appsrules.DefaultFile, b, imp.rel(filepath.Join(sdir, appsrules.DefaultFile)))
		}
		dbs, _ := os.ReadDir(sdir)
		for _, db := range dbs {
			if !db.IsDir() {
				continue
			}
			colls, _ := os.ReadDir(filepath.Join(sdir, db.Name()))
			for _, coll := range colls {
				if !coll.IsDir() {
					continue
				}
				imp.databases[db.Name()] = true
				if err := imp.collection(filepath.Join(sdir, db.Name(), coll.Name()), coll.Name()); err != nil {
					return nil, err
				}
			}
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "sync", "config.json")); err == nil {
		var c struct {
			Permissions *legacyPermissions `json:"permissions"`
			Queryable   []string           `json:"queryable_fields_names"`
		}
		if err := json.Unmarshal(b, &c); err != nil {
			return nil, fmt.Errorf("import appservices: sync/config.json: %v", err)
		}
		if c.Permissions != nil {
			legacy = append(legacy, legacyPerms{"sync/config.json", c.Permissions})
		}
		imp.lost = append(imp.lost, "sync/config.json (Device Sync: queryable fields, subscriptions): reads are PowerSync's job; write Sync Streams that select what each user may sync (docs/authorization.md, \"Migrating from Atlas Device Sync\")")
	}
	for _, l := range legacy {
		if err := imp.legacy(l); err != nil {
			return nil, err
		}
	}
	if err := imp.values(); err != nil {
		return nil, err
	}
	imp.unsupported()
	return imp, nil
}

func (imp *appImport) rel(path string) string {
	if r, err := filepath.Rel(imp.dir, path); err == nil {
		return filepath.ToSlash(r)
	}
	return path
}

// add records an output file (src: the app file, relative to the app)
// unless one of that name is already taken.
func (imp *appImport) add(into map[string][]byte, name string, b []byte, src string) {
	key := fmt.Sprintf("%p/%s", into, name)
	if prev, ok := imp.from[key]; ok {
		imp.lost = append(imp.lost, fmt.Sprintf("%s: %s already came from %s (syncgate serves one database; its tables are named by collection): merge the two by hand", src, name, prev))
		return
	}
	into[name] = b
	imp.from[key] = src
}

// source names the app file an output file came from.
func (imp *appImport) source(into map[string][]byte, name string) string {
	return imp.from[fmt.Sprintf("%p/%s", into, name)]
}

func (imp *appImport) collection(dir, coll string) error {
	if b, err := os.ReadFile(filepath.Join(dir, "rules.json")); err == nil {
		var r struct {
			Roles []json.RawMessage `json:"roles"`
		}
		if err := json.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("import appservices: %s: %v", imp.rel(filepath.Join(dir, "rules.json")), err)
		}
		if len(r.Roles) > 0 {
			imp.add(imp.rules, coll+".json", b, imp.rel(filepath.Join(dir, "rules.json")))
		} else {
			imp.notes = append(imp.notes, fmt.Sprintf("%s defines no roles: the default roles decide %s, as in App Services", imp.rel(filepath.Join(dir, "rules.json")), coll))
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "schema.json")); err == nil {
		out, notes, err := convertSchema(coll, imp.rel(filepath.Join(dir, "schema.json")), b)
		if err != nil {
			return fmt.Errorf("import appservices: %s: %v", imp.rel(filepath.Join(dir, "schema.json")), err)
		}
		imp.add(imp.schemas, coll+".json", out, imp.rel(filepath.Join(dir, "schema.json")))
		imp.notes = append(imp.notes, notes...)
	}
	if _, err := os.Stat(filepath.Join(dir, "relationships.json")); err == nil {
		imp.lost = append(imp.lost, imp.rel(filepath.Join(dir, "relationships.json"))+": relationships (GraphQL/Data API links) have no syncgate equivalent; PowerSync clients join tables locally")
	}
	return nil
}

// legacyPermissions is Flexible Sync's permissions before App Services
// unified them into rules (2023): roles per collection and default roles,
// each with applyWhen and sync read/write expressions.
type legacyPermissions struct {
	Rules        map[string][]map[string]any `json:"rules"`
	DefaultRoles []map[string]any            `json:"defaultRoles"`
}

type legacyPerms struct {
	src string
	p   *legacyPermissions
}

// legacy converts sync permissions as App Services' unified rules system
// did: a role's sync write becomes document_filters.write (the documents it
// may write, inserts and deletes included), its read document_filters.read.
func (imp *appImport) legacy(l legacyPerms) error {
	conv := func(roles []map[string]any) ([]byte, error) {
		out := make([]map[string]any, 0, len(roles))
		for _, r := range roles {
			read, write := r["read"], r["write"]
			if read == nil {
				read = false
			}
			if write == nil {
				write = false
			}
			nr := map[string]any{"name": r["name"], "apply_when": r["applyWhen"],
				"document_filters": map[string]any{"read": read, "write": write},
				"read":             true, "write": write != false, "insert": write != false, "delete": write != false}
			if nr["apply_when"] == nil {
				nr["apply_when"] = map[string]any{}
			}
			out = append(out, nr)
		}
		return json.MarshalIndent(map[string]any{"roles": out, "filters": []any{}}, "", "  ")
	}
	for _, coll := range slices.Sorted(maps.Keys(l.p.Rules)) {
		if _, taken := imp.rules[coll+".json"]; taken || len(l.p.Rules[coll]) == 0 {
			continue
		}
		b, err := conv(l.p.Rules[coll])
		if err != nil {
			return err
		}
		imp.add(imp.rules, coll+".json", b, l.src+" (legacy sync permissions, converted)")
		imp.notes = append(imp.notes, fmt.Sprintf("%s: %s's legacy sync permissions (applyWhen, read, write) became roles with document_filters, as App Services' unified rules did", l.src, coll))
	}
	if _, taken := imp.rules[appsrules.DefaultFile]; !taken && len(l.p.DefaultRoles) > 0 {
		b, err := conv(l.p.DefaultRoles)
		if err != nil {
			return err
		}
		imp.add(imp.rules, appsrules.DefaultFile, b, l.src+" (legacy defaultRoles, converted)")
		imp.notes = append(imp.notes, l.src+": legacy defaultRoles became default_rule.json")
	}
	return nil
}

// values turns values/*.json into _values.json; secrets stay behind.
func (imp *appImport) values() error {
	entries, err := os.ReadDir(filepath.Join(imp.dir, "values"))
	if err != nil {
		return nil
	}
	vals := map[string]any{}
	for _, e := range entries {
		if e.IsDir() || filepath.Ext(e.Name()) != ".json" {
			continue
		}
		path := filepath.Join(imp.dir, "values", e.Name())
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var v struct {
			Name       string `json:"name"`
			Value      any    `json:"value"`
			FromSecret bool   `json:"from_secret"`
		}
		if err := json.Unmarshal(b, &v); err != nil {
			return fmt.Errorf("import appservices: %s: %v", imp.rel(path), err)
		}
		if v.FromSecret {
			imp.lost = append(imp.lost, fmt.Sprintf("%s: value %q comes from a secret: not copied; if a rule reads %%%%values.%s, add it to %s by hand", imp.rel(path), v.Name, v.Name, appsrules.ValuesFile))
			continue
		}
		vals[v.Name] = v.Value
	}
	if len(vals) > 0 {
		b, err := json.MarshalIndent(vals, "", "  ")
		if err != nil {
			return err
		}
		imp.add(imp.rules, appsrules.ValuesFile, b, "values/*.json")
	}
	return nil
}

// unsupported lists the parts of an app syncgate has no place for.
func (imp *appImport) unsupported() {
	list := func(sub, ext string) []string {
		entries, _ := os.ReadDir(filepath.Join(imp.dir, sub))
		var names []string
		for _, e := range entries {
			if ext == "" || filepath.Ext(e.Name()) == ext {
				names = append(names, strings.TrimSuffix(e.Name(), ext))
			}
		}
		return names
	}
	if fns := list("functions", ".js"); len(fns) > 0 {
		imp.lost = append(imp.lost, fmt.Sprintf("functions/ (%s): Atlas Functions do not run in syncgate; a check on writes becomes a guest (docs/guests.md), anything else a service of your own", strings.Join(fns, ", ")))
	}
	if trs := list("triggers", ".json"); len(trs) > 0 {
		imp.lost = append(imp.lost, fmt.Sprintf("triggers/ (%s): Atlas Triggers are not deprecated and keep running on your cluster; or move them to a change-stream service of your own", strings.Join(trs, ", ")))
	}
	if eps := list("http_endpoints", ""); len(eps) > 0 {
		imp.lost = append(imp.lost, "http_endpoints/: HTTPS endpoints reached end of life with the Data API; serve them from your own backend")
	}
	if _, err := os.Stat(filepath.Join(imp.dir, "graphql")); err == nil {
		imp.lost = append(imp.lost, "graphql/: no GraphQL in syncgate")
	}
	if b, err := os.ReadFile(filepath.Join(imp.dir, "auth", "providers.json")); err == nil {
		var providers map[string]any
		_ = json.Unmarshal(b, &providers)
		imp.lost = append(imp.lost, fmt.Sprintf("auth/providers.json (%s): App Services authentication ends with the Device SDKs; sign users in with your identity provider and let syncgate mint PowerSync tokens (TOKEN_AUTH=jwks, or api-key from your backend)", strings.Join(slices.Sorted(maps.Keys(providers)), ", ")))
	}
	if b, err := os.ReadFile(filepath.Join(imp.dir, "auth", "custom_user_data.json")); err == nil {
		var cud struct {
			Enabled    bool   `json:"enabled"`
			Database   string `json:"database_name"`
			Collection string `json:"collection_name"`
			Field      string `json:"user_id_field"`
		}
		if json.Unmarshal(b, &cud) == nil && cud.Enabled {
			imp.lost = append(imp.lost, fmt.Sprintf("auth/custom_user_data.json: %%%%user.custom_data came from %s.%s (user field %s); syncgate embeds it in the token as the custom_data claim: configure USER_DATA_COLLECTION=%s with the field %s, and give no client a rule that writes that collection", cud.Database, cud.Collection, cud.Field, cud.Collection, cud.Field))
		}
	}
}

// write checks the rules and schemas, writes them and prints the report.
func (imp *appImport) write(rulesOut, schemasOut string, force bool, stdout, stderr io.Writer) error {
	if len(imp.rules) == 0 && len(imp.schemas) == 0 {
		return fmt.Errorf("import appservices: %s holds no rules and no schemas", imp.dir)
	}
	var targets []string
	for name := range imp.rules {
		targets = append(targets, filepath.Join(rulesOut, name))
	}
	for name := range imp.schemas {
		targets = append(targets, filepath.Join(schemasOut, name))
	}
	sort.Strings(targets)
	if !force {
		for _, t := range targets {
			if _, err := os.Stat(t); err == nil {
				return fmt.Errorf("import appservices: %s exists (use --force to overwrite, or import into other folders with --rules and --schemas)", t)
			}
		}
	}
	for _, out := range []struct {
		dir   string
		files map[string][]byte
	}{{rulesOut, imp.rules}, {schemasOut, imp.schemas}} {
		if len(out.files) == 0 {
			continue
		}
		if err := os.MkdirAll(out.dir, 0o755); err != nil {
			return fmt.Errorf("import appservices: %w", err)
		}
		for _, name := range slices.Sorted(maps.Keys(out.files)) {
			b := out.files[name]
			if len(b) == 0 || b[len(b)-1] != '\n' {
				b = append(b, '\n')
			}
			if err := os.WriteFile(filepath.Join(out.dir, name), b, 0o644); err != nil {
				return fmt.Errorf("import appservices: %w", err)
			}
			fmt.Fprintf(stdout, "wrote %s (from %s)\n", filepath.Join(out.dir, name), imp.source(out.files, name))
		}
	}
	// What syncgate will load: the imported files and any already there.
	var set *appsrules.Set
	var loadErr error
	if len(imp.rules) > 0 {
		set, loadErr = appsrules.Load(os.DirFS(rulesOut))
	}
	if len(imp.databases) > 0 {
		fmt.Fprintf(stdout, "database(s): %s: syncgate writes to MONGO_DATABASE; set it to the database these collections live in\n", strings.Join(slices.Sorted(maps.Keys(imp.databases)), ", "))
	}
	for _, n := range imp.notes {
		fmt.Fprintf(stdout, "note: %s\n", n)
	}
	if set != nil {
		for _, line := range set.Ignored() {
			fmt.Fprintf(stdout, "not carried over: %s: write Sync Streams for them\n", line)
		}
		for _, line := range set.Warnings() {
			fmt.Fprintf(stdout, "fail closed: %s\n", line)
		}
	}
	for _, l := range imp.lost {
		fmt.Fprintf(stdout, "not carried over: %s\n", l)
	}
	var problems int
	var le *appsrules.LoadError
	if errors.As(loadErr, &le) {
		for _, p := range le.Problems {
			fmt.Fprintf(stderr, "%s/%s\n", rulesOut, p)
		}
		problems += len(le.Problems)
	} else if loadErr != nil {
		return loadErr
	}
	if len(imp.schemas) > 0 {
		if _, err := schemas.Load(schemasOut); err != nil {
			fmt.Fprintln(stderr, err)
			problems++
		}
	}
	if problems > 0 {
		return fmt.Errorf("import appservices: the files are written, but syncgate cannot load them yet: fix the problems listed above, then run ./bin/syncgate rules check and schemas check")
	}
	fmt.Fprintf(stdout, "next: ./bin/syncgate rules check; ./bin/syncgate schemas check; then set RULES_DIR=%s\n", rulesOut)
	return nil
}
