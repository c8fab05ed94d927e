package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/syncgate/syncgate/guest/authorize/appsrules"
	"github.com/syncgate/syncgate/host/schemas"
)

const apps = "../../tests/testdata/appservices/"

// importApp imports a fixture into a fresh folder and loads the rules.
func importApp(t *testing.T, app string) (dir, out string, set *appsrules.Set) {
	t.Helper()
	dir = t.TempDir()
	code, out, errOut := run(t, nil, "import", "appservices", apps+app, "--rules", filepath.Join(dir, "rules"), "--schemas", filepath.Join(dir, "schemas"))
	if code != 0 {
		t.Fatalf("import %s: exit %d\n%s%s", app, code, out, errOut)
	}
	set, err := appsrules.Load(os.DirFS(filepath.Join(dir, "rules")))
	if err != nil {
		t.Fatalf("imported rules do not load: %v", err)
	}
	return dir, out, set
}

func obj(t *testing.T, s string) map[string]any {
	t.Helper()
	if s == "" {
		return nil
	}
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

type decideCase struct {
	name          string
	user          appsrules.User
	op, table     string
	current, data string
	allow         bool
	role, clause  string
}

func checkDecisions(t *testing.T, set *appsrules.Set, cases []decideCase) {
	t.Helper()
	for _, c := range cases {
		in := appsrules.Input{Op: c.op, Table: c.table, ID: "64b000000000000000000001", User: c.user,
			Current: appsrules.Map(obj(t, c.current)), Exists: c.current != "", Data: appsrules.Map(obj(t, c.data))}
		d := set.Decide(in)
		if d.Allow != c.allow || d.Role != c.role || d.Clause != c.clause {
			t.Errorf("%s: allow=%v role=%q clause=%q (%s); want %v %q %q", c.name, d.Allow, d.Role, d.Clause, d.Reason, c.allow, c.role, c.clause)
		}
	}
}

func TestImportCurrentApp(t *testing.T) {
	dir, out, set := importApp(t, "current")
	for _, f := range []string{"rules/default_rule.json", "rules/orders.json", "rules/tasks.json", "rules/_values.json", "schemas/orders.json", "schemas/catalog.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("%s not written: %v", f, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "rules/catalog.json")); err == nil {
		t.Error("catalog's rules.json has no roles, yet rules/catalog.json was written (it would hide the default roles)")
	}
	// Rules files are carried over unchanged.
	src, _ := os.ReadFile(apps + "current/data_sources/mongodb-atlas/shop/orders/rules.json")
	got, _ := os.ReadFile(filepath.Join(dir, "rules/orders.json"))
	if string(src) != string(got) {
		t.Error("rules/orders.json differs from the app's rules.json")
	}
	for _, want := range []string{
		"wrote " + filepath.Join(dir, "rules/orders.json") + " (from data_sources/mongodb-atlas/shop/orders/rules.json)",
		"wrote " + filepath.Join(dir, "schemas/orders.json") + " (from data_sources/mongodb-atlas/shop/orders/schema.json)",
		"database(s): shop",
		"catalog/rules.json defines no roles: the default roles decide catalog",
		"not carried over: orders.json: /filters,",
		"not carried over: functions/ (onUserCreation, recalculateTotals)",
		"not carried over: triggers/ (recalculateTotals)",
		`not carried over: values/mailKey.json: value "mailKey" comes from a secret`,
		"not carried over: auth/custom_user_data.json: %%user.custom_data came from shop.users (user field user_id)",
		"not carried over: auth/providers.json (anon-user, local-userpass)",
		"relationships.json: relationships",
		`fail closed: orders.json: /roles/1 (role "blocked"): insert, delete not defined`,
		"field shipping.geo is stored as objectId, but x-bsonType converts top-level fields only",
		"field tags is an array",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}

	sch, err := schemas.Load(filepath.Join(dir, "schemas"))
	if err != nil {
		t.Fatalf("imported schemas do not load: %v", err)
	}
	if got := sch.IDType("orders"); got != schemas.TypeObjectID {
		t.Errorf("orders id type = %q, want objectId (_id became id)", got)
	}
	var orders map[string]any
	b, _ := os.ReadFile(filepath.Join(dir, "schemas/orders.json"))
	json.Unmarshal(b, &orders)
	props := orders["properties"].(map[string]any)
	for field, want := range map[string]string{"placed_at": "date", "gift": "bool", "quantity": "long", "total": "decimal", "customer_id": "objectId"} {
		if got := props[field].(map[string]any)["x-bsonType"]; got != want {
			t.Errorf("%s: x-bsonType %v, want %s", field, got, want)
		}
	}
	if req := orders["required"].([]any); req[0] != "id" {
		t.Errorf("required %v: _id not renamed id", req)
	}

	customer := appsrules.User{ID: "u1", CustomData: map[string]any{"customer_id": "64A0000000000000000000CC"}}
	support := appsrules.User{ID: "s1", CustomData: map[string]any{"role": "support"}}
	nobody := appsrules.User{ID: "n1"}
	alice := appsrules.User{ID: "alice", Data: map[string]any{"email": "a@x"}}
	checkDecisions(t, set, []decideCase{
		{"customer submits own order", customer, "PATCH", "orders", `{"customer_id":"64a0000000000000000000cc","status":"draft"}`, `{"status":"submitted"}`, true, "customer", ""},
		{"customer ships own order", customer, "PATCH", "orders", `{"customer_id":"64a0000000000000000000cc","status":"draft"}`, `{"status":"shipped"}`, false, "customer", "fields.status.write"},
		{"customer changes the total", customer, "PATCH", "orders", `{"customer_id":"64a0000000000000000000cc"}`, `{"total":"0.01"}`, false, "customer", "fields.total.write"},
		{"customer edits shipping city", customer, "PATCH", "orders", `{"customer_id":"64a0000000000000000000cc","shipping":{"city":"a"}}`, `{"shipping":{"city":"b"}}`, true, "customer", ""},
		{"customer edits another's order", customer, "PATCH", "orders", `{"customer_id":"64a0000000000000000000dd"}`, `{"status":"submitted"}`, false, "customer", "document_filters.write"},
		{"customer deletes own order", customer, "DELETE", "orders", `{"customer_id":"64a0000000000000000000cc"}`, "", false, "customer", "delete"},
		{"support deletes an order (%%values)", support, "DELETE", "orders", `{"customer_id":"64a0000000000000000000dd"}`, "", true, "staff", ""},
		{"no customer id: blocked role", nobody, "PUT", "orders", "", `{"customer_id":"64a0000000000000000000cc","status":"draft"}`, false, "blocked", "document_filters.write"},
		{"catalog by default roles: own", alice, "PUT", "catalog", "", `{"owner_id":"alice","name":"x"}`, true, "readAllWriteOwn", ""},
		{"catalog by default roles: another's", alice, "PATCH", "catalog", `{"owner_id":"bob"}`, `{"name":"x"}`, false, "readAllWriteOwn", "document_filters.write"},
		{"task assignee", alice, "PATCH", "tasks", `{"assignees":["bob","alice"]}`, `{"done":1}`, true, "assignee", ""},
		{"task not assigned", alice, "PATCH", "tasks", `{"assignees":["bob"]}`, `{"done":1}`, false, "assignee", "document_filters.write"},
		{"task without an email claim", appsrules.User{ID: "alice"}, "PATCH", "tasks", `{"assignees":["alice"]}`, `{"done":1}`, false, "", "apply_when"},
	})
}

func TestImportLegacyApp(t *testing.T) {
	dir, out, set := importApp(t, "legacy")
	if !strings.Contains(out, "Item's legacy sync permissions (applyWhen, read, write) became roles with document_filters") ||
		!strings.Contains(out, "legacy defaultRoles became default_rule.json") ||
		!strings.Contains(out, "not carried over: sync/config.json") {
		t.Errorf("report:\n%s", out)
	}
	if _, err := schemas.Load(filepath.Join(dir, "schemas")); err != nil {
		t.Fatal(err)
	}
	alice := appsrules.User{ID: "alice"}
	checkDecisions(t, set, []decideCase{
		{"owner updates her item", alice, "PATCH", "Item", `{"owner_id":"alice"}`, `{"isComplete":1}`, true, "owner", ""},
		{"owner creates an item", alice, "PUT", "Item", "", `{"owner_id":"alice","summary":"s"}`, true, "owner", ""},
		{"another's item", alice, "DELETE", "Item", `{"owner_id":"bob"}`, "", false, "owner", "document_filters.write"},
		{"default roles are read-only", alice, "PUT", "Other", "", `{"owner_id":"alice"}`, false, "read-only", "document_filters.write"},
	})
}

func TestImportDefaultOnlyApp(t *testing.T) {
	_, _, set := importApp(t, "defaultonly")
	if len(set.Tables()) != 0 || !set.HasDefault() {
		t.Fatalf("tables %v, default %v", set.Tables(), set.HasDefault())
	}
	checkDecisions(t, set, []decideCase{
		{"anyone writes anything", appsrules.User{ID: "x"}, "DELETE", "anything", `{"a":1}`, "", true, "readAndWriteAll", ""},
	})
}

func TestImportErrors(t *testing.T) {
	dir := t.TempDir()
	rules := filepath.Join(dir, "rules")
	code, _, errOut := run(t, nil, "import", "appservices", apps+"unsupported", "--rules", rules, "--schemas", filepath.Join(dir, "schemas"))
	if code != 1 || !strings.Contains(errOut, "notes.json: /roles/0/apply_when/%%true/%function: unsupported") || !strings.Contains(errOut, "syncgate cannot load them yet") {
		t.Fatalf("unsupported: exit %d\n%s", code, errOut)
	}
	// The file is there, for the user to fix.
	if _, err := os.Stat(filepath.Join(rules, "notes.json")); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = run(t, nil, "import", "appservices", apps+"unsupported", "--rules", rules, "--schemas", filepath.Join(dir, "schemas"))
	if code != 1 || !strings.Contains(errOut, "notes.json exists (use --force to overwrite") {
		t.Fatalf("second import over the first: exit %d\n%s", code, errOut)
	}
	os.WriteFile(filepath.Join(rules, "notes.json"), []byte("edited"), 0o644)
	run(t, nil, "import", "appservices", apps+"defaultonly", "--force", "--rules", rules)
	if b, _ := os.ReadFile(filepath.Join(rules, "notes.json")); string(b) != "edited" {
		t.Fatal("--force touched a file the import does not write")
	}

	if code, _, errOut := run(t, nil, "import", "appservices", t.TempDir()); code != 1 || !strings.Contains(errOut, "not an exported App Services app") {
		t.Fatalf("empty folder: exit %d: %s", code, errOut)
	}
	for _, args := range [][]string{{"import"}, {"import", "firebase", "x"}, {"import", "appservices"}, {"import", "appservices", "a", "b"}, {"import", "appservices", "a", "--bogus"}} {
		if code, _, _ := run(t, nil, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}
