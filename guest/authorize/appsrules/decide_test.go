package appsrules

import (
	"encoding/json"
	"strings"
	"testing"
	"testing/fstest"
)

func loadSet(t testing.TB, files map[string]string) *Set {
	t.Helper()
	fsys := fstest.MapFS{}
	for name, text := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(text)}
	}
	s, err := Load(fsys)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return s
}

// jsonObj decodes a JSON object as the host hands documents to guests.
func jsonObj(t testing.TB, text string) map[string]any {
	t.Helper()
	if text == "" {
		return nil
	}
	v, err := decode([]byte(text))
	if err != nil {
		t.Fatalf("doc %s: %v", text, err)
	}
	return v.(map[string]any)
}

var (
	alice = User{ID: "alice", Type: "normal", Data: map[string]any{"email": "alice@example.com"}}
	bob   = User{ID: "bob", Type: "normal", Data: map[string]any{"email": "bob@example.com"}}
	admin = User{ID: "root", Type: "normal", CustomData: map[string]any{"isGlobalAdmin": true}}
)

// Rules sets, each modelled on an App Services documentation page (written
// for these tests, not copied):
var (
	// Device Sync permissions guide (sync/app-builder/device-sync-permissions-guide),
	// "read all, write own" and "admin first, then user", with insert and
	// delete spelled out as exported files do.
	ownerRules = map[string]string{"lists.json": `{"roles": [
		{"name": "admin", "apply_when": {"%%user.custom_data.isGlobalAdmin": true},
		 "document_filters": {"read": true, "write": true}, "read": true, "write": true, "insert": true, "delete": true},
		{"name": "owner", "apply_when": {},
		 "document_filters": {"read": true, "write": {"owner_id": "%%user.id"}},
		 "read": true, "write": true, "insert": true, "delete": true}
	], "filters": []}`}
	// The same template as the guide prints it: no insert, no delete.
	templateRules = map[string]string{"lists.json": `{"roles": [
		{"name": "owner-read-write", "apply_when": {},
		 "document_filters": {"read": {"owner_id": "%%user.id"}, "write": {"owner_id": "%%user.id"}},
		 "read": true, "write": true}]}`}
	// Roles page (rules/roles): the Manager/Employee example.
	employeeRules = map[string]string{"employees.json": `{"roles": [
		{"name": "Manager", "apply_when": {"email": "%%user.custom_data.manages"},
		 "insert": true, "delete": true, "read": true, "write": true, "search": true,
		 "fields": {}, "additional_fields": {"read": true, "write": true}},
		{"name": "Employee", "apply_when": {"email": "%%user.data.email"},
		 "insert": false, "delete": false, "read": true, "write": true, "search": true,
		 "fields": {}, "additional_fields": {"read": true, "write": true}}]}`}
	// Roles page: field-level permissions, with a nested embedded document
	// (role-configuration table: "fields.<name>" with nested "fields").
	deviceRules = map[string]string{"devices.json": `{"roles": [
		{"name": "device-owner", "apply_when": {"user_id": "%%user.id"},
		 "document_filters": {"write": {"user_id": "%%user.id"}},
		 "insert": true, "delete": false,
		 "fields": {
		   "user_id": {"write": {"%%this": "%%user.id"}},
		   "revoked_at": {"write": {"%%prev": {"$exists": false}}},
		   "name": {"write": true},
		   "address": {"fields": {"city": {"write": true}, "zip": {"write": false}}}
		 },
		 "additional_fields": {"write": false}}]}`}
	// Default roles (rules/roles "Default roles"; reference/config/data_sources
	// default_rule.json) beside a table that has its own roles.
	defaultRules = map[string]string{
		"default_rule.json": `{"id": "x", "roles": [{"name": "readAndWriteAll", "apply_when": {},
			"document_filters": {"write": true, "read": true}, "read": true, "write": true, "insert": true, "delete": true, "search": true}], "filters": []}`,
		"secrets.json": `{"database": "app", "collection": "secrets", "roles": [
			{"name": "keeper", "apply_when": {"%%user.custom_data.keeper": true}, "write": true, "insert": true, "delete": true}]}`,
		"catalog.json": `{"database": "app", "collection": "catalog"}`,
	}
)

func TestDecide(t *testing.T) {
	cases := []struct {
		name   string
		rules  map[string]string
		in     Input
		cur    string // stored document, JSON; "" = none
		data   string
		allow  bool
		role   string
		clause string
	}{
		// Permissions guide, read all / write own.
		{"guide/owner: alice updates her list", ownerRules, Input{Op: "PATCH", Table: "lists", ID: "l1", User: alice}, `{"owner_id":"alice","name":"a"}`, `{"name":"b"}`, true, "owner", ""},
		{"guide/owner: alice patches bob's list", ownerRules, Input{Op: "PATCH", Table: "lists", ID: "l1", User: alice}, `{"owner_id":"bob"}`, `{"name":"b"}`, false, "owner", "document_filters.write"},
		{"guide/owner: alice replaces bob's list with her owner_id (stored doc filter)", ownerRules, Input{Op: "PUT", Table: "lists", ID: "l1", User: alice}, `{"owner_id":"bob"}`, `{"owner_id":"alice"}`, false, "owner", "document_filters.write"},
		{"guide/owner: alice gives her list to bob (after-write filter)", ownerRules, Input{Op: "PATCH", Table: "lists", ID: "l1", User: alice}, `{"owner_id":"alice"}`, `{"owner_id":"bob"}`, false, "owner", "document_filters.write"},
		{"guide/owner: alice inserts a list owned by bob", ownerRules, Input{Op: "PUT", Table: "lists", ID: "l2", User: alice}, "", `{"owner_id":"bob"}`, false, "owner", "document_filters.write"},
		{"guide/owner: alice inserts her own list", ownerRules, Input{Op: "PUT", Table: "lists", ID: "l2", User: alice}, "", `{"owner_id":"alice"}`, true, "owner", ""},
		{"guide/owner: alice inserts a list without owner", ownerRules, Input{Op: "PUT", Table: "lists", ID: "l2", User: alice}, "", `{"name":"x"}`, false, "owner", "document_filters.write"},
		{"guide/owner: alice deletes bob's list", ownerRules, Input{Op: "DELETE", Table: "lists", ID: "l1", User: alice}, `{"owner_id":"bob"}`, "", false, "owner", "document_filters.write"},
		{"guide/owner: alice deletes her list", ownerRules, Input{Op: "DELETE", Table: "lists", ID: "l1", User: alice}, `{"owner_id":"alice"}`, "", true, "owner", ""},
		{"guide/owner: delete of nothing stored", ownerRules, Input{Op: "DELETE", Table: "lists", ID: "l9", User: alice}, "", "", true, "", ""},
		{"guide/admin first: admin edits bob's list", ownerRules, Input{Op: "PATCH", Table: "lists", ID: "l1", User: admin}, `{"owner_id":"bob"}`, `{"name":"b"}`, true, "admin", ""},
		{"guide/admin first: admin deletes bob's list", ownerRules, Input{Op: "DELETE", Table: "lists", ID: "l1", User: admin}, `{"owner_id":"bob"}`, "", true, "admin", ""},
		{"guide/owner: anonymous user matches no owner", ownerRules, Input{Op: "PATCH", Table: "lists", ID: "l1"}, `{"owner_id":"alice"}`, `{"name":"b"}`, false, "owner", "document_filters.write"},
		{"guide/owner: no rules for another table", ownerRules, Input{Op: "PUT", Table: "todos", ID: "t1", User: alice}, "", `{}`, false, "", "rules"},

		// The guide's template without insert/delete: fail closed.
		{"template: update own allowed", templateRules, Input{Op: "PATCH", Table: "lists", ID: "l1", User: alice}, `{"owner_id":"alice"}`, `{"name":"b"}`, true, "owner-read-write", ""},
		{"template: undefined insert denies", templateRules, Input{Op: "PUT", Table: "lists", ID: "l2", User: alice}, "", `{"owner_id":"alice"}`, false, "owner-read-write", "insert"},
		{"template: undefined delete denies", templateRules, Input{Op: "DELETE", Table: "lists", ID: "l1", User: alice}, `{"owner_id":"alice"}`, "", false, "owner-read-write", "delete"},

		// Roles page, Manager/Employee.
		{"roles/manager: andy edits phylis", employeeRules, Input{Op: "PATCH", Table: "employees", ID: "e1", User: User{ID: "andy", Data: map[string]any{"email": "andy@dm.com"}, CustomData: map[string]any{"manages": []any{"phylis@dm.com", "stanley@dm.com"}}}}, `{"email":"phylis@dm.com","team":"sales"}`, `{"team":"ops"}`, true, "Manager", ""},
		{"roles/manager: andy deletes stanley", employeeRules, Input{Op: "DELETE", Table: "employees", ID: "e2", User: User{ID: "andy", CustomData: map[string]any{"manages": []any{"phylis@dm.com", "stanley@dm.com"}}}}, `{"email":"stanley@dm.com"}`, "", true, "Manager", ""},
		{"roles/manager: andy inserts a report", employeeRules, Input{Op: "PUT", Table: "employees", ID: "e3", User: User{ID: "andy", CustomData: map[string]any{"manages": []any{"new@dm.com"}}}}, "", `{"email":"new@dm.com"}`, true, "Manager", ""},
		{"roles/employee: phylis edits herself", employeeRules, Input{Op: "PATCH", Table: "employees", ID: "e1", User: User{ID: "phylis", Data: map[string]any{"email": "phylis@dm.com"}}}, `{"email":"phylis@dm.com"}`, `{"name":"P"}`, true, "Employee", ""},
		{"roles/employee: phylis cannot delete herself", employeeRules, Input{Op: "DELETE", Table: "employees", ID: "e1", User: User{ID: "phylis", Data: map[string]any{"email": "phylis@dm.com"}}}, `{"email":"phylis@dm.com"}`, "", false, "Employee", "delete"},
		{"roles/employee: phylis cannot create herself", employeeRules, Input{Op: "PUT", Table: "employees", ID: "e9", User: User{ID: "phylis", Data: map[string]any{"email": "phylis@dm.com"}}}, "", `{"email":"phylis@dm.com"}`, false, "Employee", "insert"},
		{"roles/no role: phylis edits stanley", employeeRules, Input{Op: "PATCH", Table: "employees", ID: "e2", User: User{ID: "phylis", Data: map[string]any{"email": "phylis@dm.com"}}}, `{"email":"stanley@dm.com"}`, `{"name":"S"}`, false, "", "apply_when"},
		{"roles/role from stored doc: phylis rewrites stanley's email to hers", employeeRules, Input{Op: "PATCH", Table: "employees", ID: "e2", User: User{ID: "phylis", Data: map[string]any{"email": "phylis@dm.com"}}}, `{"email":"stanley@dm.com"}`, `{"email":"phylis@dm.com"}`, false, "", "apply_when"},

		// Roles page / role-configuration table: field-level permissions.
		{"fields: rename own device", deviceRules, Input{Op: "PATCH", Table: "devices", ID: "d1", User: alice}, `{"user_id":"alice","name":"a"}`, `{"name":"b"}`, true, "device-owner", ""},
		{"fields: clear revoked_at (thunderbolt PR 383)", deviceRules, Input{Op: "PATCH", Table: "devices", ID: "d1", User: alice}, `{"user_id":"alice","revoked_at":"2026-01-01T00:00:00Z"}`, `{"revoked_at":null}`, false, "device-owner", "fields.revoked_at.write"},
		{"fields: set revoked_at first time (%%prev absent)", deviceRules, Input{Op: "PATCH", Table: "devices", ID: "d1", User: alice}, `{"user_id":"alice"}`, `{"revoked_at":"2026-01-01T00:00:00Z"}`, true, "device-owner", ""},
		{"fields: unnamed field, additional_fields false", deviceRules, Input{Op: "PATCH", Table: "devices", ID: "d1", User: alice}, `{"user_id":"alice"}`, `{"trusted":1}`, false, "device-owner", "additional_fields.write"},
		{"fields: nested city writable", deviceRules, Input{Op: "PATCH", Table: "devices", ID: "d1", User: alice}, `{"user_id":"alice","address":{"city":"a","zip":"1"}}`, `{"address":{"city":"b","zip":"1"}}`, true, "device-owner", ""},
		{"fields: nested zip not writable", deviceRules, Input{Op: "PATCH", Table: "devices", ID: "d1", User: alice}, `{"user_id":"alice","address":{"city":"a","zip":"1"}}`, `{"address":{"city":"a","zip":"2"}}`, false, "device-owner", "fields.address.fields.zip.write"},
		{"fields: nested rules on a non-object", deviceRules, Input{Op: "PATCH", Table: "devices", ID: "d1", User: alice}, `{"user_id":"alice","address":{"city":"a"}}`, `{"address":"x"}`, false, "device-owner", "fields.address.write"},
		{"fields: PUT removing a read-only field counts as a change", deviceRules, Input{Op: "PUT", Table: "devices", ID: "d1", User: alice}, `{"user_id":"alice","name":"a","trusted":1}`, `{"user_id":"alice","name":"b"}`, false, "device-owner", "additional_fields.write"},
		{"fields: PUT with unchanged read-only field passes", deviceRules, Input{Op: "PUT", Table: "devices", ID: "d1", User: alice}, `{"user_id":"alice","name":"a","trusted":1}`, `{"user_id":"alice","name":"b","trusted":1}`, true, "device-owner", ""},
		{"fields: PATCH setting an unchanged read-only field is judged", deviceRules, Input{Op: "PATCH", Table: "devices", ID: "d1", User: alice}, `{"user_id":"alice","trusted":1}`, `{"trusted":1}`, false, "device-owner", "additional_fields.write"},
		{"fields: insert judges every field", deviceRules, Input{Op: "PUT", Table: "devices", ID: "d2", User: alice}, "", `{"user_id":"alice","name":"n","trusted":1}`, false, "device-owner", "additional_fields.write"},
		{"fields: insert with writable fields", deviceRules, Input{Op: "PUT", Table: "devices", ID: "d2", User: alice}, "", `{"user_id":"alice","name":"n"}`, true, "device-owner", ""},
		{"fields: delete false", deviceRules, Input{Op: "DELETE", Table: "devices", ID: "d1", User: alice}, `{"user_id":"alice"}`, "", false, "device-owner", "delete"},
		{"fields: user_id handed to bob via %%this", deviceRules, Input{Op: "PATCH", Table: "devices", ID: "d1", User: alice}, `{"user_id":"alice"}`, `{"user_id":"bob"}`, false, "device-owner", "document_filters.write"},

		// Roles page: default roles apply only to tables without roles.
		{"default: table without rules file uses default", defaultRules, Input{Op: "PUT", Table: "notes", ID: "n1", User: alice}, "", `{"x":1}`, true, "readAndWriteAll", ""},
		{"default: no fallback when table roles do not apply", defaultRules, Input{Op: "PUT", Table: "secrets", ID: "s1", User: alice}, "", `{"x":1}`, false, "", "apply_when"},
		{"default: a table file without roles uses the default roles", defaultRules, Input{Op: "PUT", Table: "catalog", ID: "c1", User: alice}, "", `{"x":1}`, true, "readAndWriteAll", ""},
		{"default: table role applies", defaultRules, Input{Op: "PUT", Table: "secrets", ID: "s1", User: User{ID: "k", CustomData: map[string]any{"keeper": true}}}, "", `{"x":1}`, true, "keeper", ""},
		{"op: unknown op", defaultRules, Input{Op: "POST", Table: "notes", ID: "n1", User: alice}, "", `{}`, false, "", "op"},
	}
	var reused Decider // every case in turn, as a guest decides its ops
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := loadSet(t, c.rules)
			in := c.in
			in.Current, in.Data = Map(jsonObj(t, c.cur)), Map(jsonObj(t, c.data))
			in.Exists = c.cur != ""
			got := s.Explain(in)
			fast := s.Decide(in)
			if fast.Allow != got.Allow || fast.Clause != got.Clause || fast.Reason != got.Reason || fast.Trace != nil {
				t.Fatalf("Decide %+v differs from Explain %+v", fast, got)
			}
			if r := reused.Decide(s, &in); r.Allow != fast.Allow || r.Role != fast.Role || r.Clause != fast.Clause || r.Reason != fast.Reason || r.Trace != nil {
				t.Fatalf("a reused Decider's %+v differs from Decide's %+v", r, fast)
			}
			// The documents as ScalarDocuments (the guest's rows), decided
			// by Decide and by Allow.
			sin := c.in
			sin.Current, sin.Data = scalarMap(jsonObj(t, c.cur)), scalarMap(jsonObj(t, c.data))
			sin.Exists = in.Exists
			if r := reused.Decide(s, &sin); r.Allow != fast.Allow || r.Role != fast.Role || r.Clause != fast.Clause || r.Reason != fast.Reason {
				t.Fatalf("over ScalarDocuments %+v differs from Decide's %+v", r, fast)
			}
			if ok, reason := reused.Allow(s, &sin); ok != fast.Allow || !ok && reason != fast.Reason || ok && reason != "" {
				t.Fatalf("Allow gave %v, %q; Decide %+v", ok, reason, fast)
			}
			if got.Allow != c.allow || got.Role != c.role || got.Clause != c.clause {
				t.Fatalf("%+v cur=%s data=%s:\ngot  allow=%v role=%q clause=%q reason=%q\nwant allow=%v role=%q clause=%q\ntrace:\n  %s",
					c.in, c.cur, c.data, got.Allow, got.Role, got.Clause, got.Reason, c.allow, c.role, c.clause, strings.Join(got.Trace, "\n  "))
			}
			if !got.Allow && !strings.Contains(got.Reason, c.clause) {
				t.Fatalf("reason %q does not name clause %q", got.Reason, c.clause)
			}
			if len(got.Trace) == 0 {
				t.Fatal("Explain left the trace empty")
			}
		})
	}
}

// TestDeciderForgets: a Decider's previous decision leaks into none of
// the next: not its user (%%user.id), not its role, not its table's rules.
func TestDeciderForgets(t *testing.T) {
	s := loadSet(t, ownerRules)
	var d Decider
	mine := Input{Op: "PATCH", Table: "lists", ID: "l1", User: alice, Exists: true, Current: Map{"owner_id": "alice"}, Data: Map{"name": "x"}}
	for _, c := range []struct {
		name string
		in   Input
		want string // "" allows
	}{
		{"alice's own list", mine, ""},
		{"then anonymous", Input{Op: "PATCH", Table: "lists", ID: "l1", Exists: true, Current: Map{"owner_id": "alice"}, Data: Map{"name": "x"}}, `role "owner": document_filters.write`},
		{"alice again", mine, ""},
		{"then a table without rules", Input{Op: "PUT", Table: "todos", ID: "t1", User: alice, Data: Map{}}, "no role: rules"},
		{"then lists again", mine, ""},
	} {
		got := d.Decide(s, &c.in)
		if got.Allow != (c.want == "") || !strings.HasPrefix(got.Reason, c.want) {
			t.Errorf("%s: %+v; want reason starting %q", c.name, got, c.want)
		}
	}
}

func TestDecideReasonNamesRole(t *testing.T) {
	s := loadSet(t, ownerRules)
	d := s.Decide(Input{Op: "PATCH", Table: "lists", ID: "l1", User: alice, Exists: true, Current: Map{"owner_id": "bob"}, Data: Map{"name": "x"}})
	if want := `role "owner": document_filters.write:`; !strings.HasPrefix(d.Reason, want) {
		t.Fatalf("reason %q, want prefix %q", d.Reason, want)
	}
	s = loadSet(t, employeeRules)
	d = s.Decide(Input{Op: "PATCH", Table: "employees", ID: "e1", User: alice, Exists: true, Current: Map{"email": "x"}, Data: Map{"name": "x"}})
	if want := "no role: apply_when:"; !strings.HasPrefix(d.Reason, want) {
		t.Fatalf("reason %q, want prefix %q", d.Reason, want)
	}
}

func TestExplainTrace(t *testing.T) {
	s := loadSet(t, ownerRules)
	d := s.Explain(Input{Op: "PATCH", Table: "lists", ID: "l1", User: alice, Exists: true, Current: Map{"owner_id": "alice"}, Data: Map{"name": "x"}})
	text := strings.Join(d.Trace, "\n")
	for _, want := range []string{
		"PATCH lists l1: update (stored document found); roles from lists.json",
		`role "admin": apply_when %%user.custom_data.isGlobalAdmin == true → false`,
		`role "owner": apply_when {} → true`,
		"document_filters.write on the stored document: owner_id == %%user.id → true",
		"document_filters.write on the document after the write: owner_id == %%user.id → true",
		"write on the document: true → true",
		`allow: role "owner" allows this update`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("trace lacks %q:\n%s", want, text)
		}
	}
}

// jsonInput builds an Input from JSON as `rules explain` takes it.
func TestDecideJSONNumbers(t *testing.T) {
	s := loadSet(t, map[string]string{"scores.json": `{"roles": [{"name": "capped", "apply_when": {},
		"document_filters": {"write": {"%and": [{"points": {"$gte": 0}}, {"points": {"$lte": 100}}]}}, "write": true, "insert": true, "delete": true}]}`})
	for _, c := range []struct {
		data  string
		allow bool
	}{{`{"points": 100}`, true}, {`{"points": 100.5}`, false}, {`{"points": -1}`, false}, {`{"points": 9007199254740993}`, false}, {`{"points": "50"}`, false}} {
		var data map[string]any
		d := json.NewDecoder(strings.NewReader(c.data))
		d.UseNumber()
		if err := d.Decode(&data); err != nil {
			t.Fatal(err)
		}
		got := s.Decide(Input{Op: "PUT", Table: "scores", ID: "x", Data: Map(data)})
		if got.Allow != c.allow {
			t.Errorf("%s: allow=%v (%s), want %v", c.data, got.Allow, got.Reason, c.allow)
		}
	}
}

// TestDeciderUserRoles: a Decider evaluates an apply_when that reads only
// the user once for that user, and again for another user, another type,
// or other claims maps; an apply_when reading the document is evaluated
// at every decision.
func TestDeciderUserRoles(t *testing.T) {
	s := loadSet(t, map[string]string{"t.json": `{"roles": [
		{"name": "admin", "apply_when": {"%%user.custom_data.admin": true}, "write": true, "insert": true, "delete": true},
		{"name": "owner", "apply_when": {"owner": "%%user.id"}, "write": true, "insert": true, "delete": true}]}`})
	for i, want := range []bool{true, false} {
		if got := s.tables["t"].roles[i].userOnly; got != want {
			t.Fatalf("role %d userOnly = %v, want %v", i, got, want)
		}
	}
	var d Decider
	put := func(u User, owner string) Decision {
		return d.Decide(s, &Input{Op: "PUT", Table: "t", ID: "x", User: u, Data: Map{"owner": owner}})
	}
	admin := User{ID: "u", Type: "normal", CustomData: map[string]any{"admin": true}}
	plain := User{ID: "u", Type: "normal", CustomData: map[string]any{"admin": false}}
	for _, c := range []struct {
		name  string
		u     User
		owner string
		role  string // "" denies
	}{
		{"admin", admin, "v", "admin"},
		{"admin again", admin, "v", "admin"},
		{"same id, other claims", plain, "v", ""},
		{"same id, other claims, own document", plain, "u", "owner"},
		{"admin once more", admin, "u", "admin"},
		{"other type", User{ID: "u", Type: "server", CustomData: plain.CustomData}, "u", "owner"},
		{"other id", User{ID: "w", CustomData: plain.CustomData}, "u", ""},
	} {
		got := put(c.u, c.owner)
		if got.Role != c.role || got.Allow != (c.role != "") {
			t.Errorf("%s: %+v; want role %q", c.name, got, c.role)
		}
	}
}

// TestUserOf: a client's claims are %%user.data, their custom_data object
// %%user.custom_data (nothing when absent or not an object), and the user
// is a normal one.
func TestUserOf(t *testing.T) {
	cd := map[string]any{"team": "a"}
	for _, tc := range []struct {
		claims map[string]any
		want   map[string]any
	}{
		{map[string]any{"sub": "u1", "custom_data": cd}, cd},
		{map[string]any{"sub": "u1", "custom_data": "not an object"}, nil},
		{nil, nil},
	} {
		u := UserOf("u1", tc.claims)
		if u.ID != "u1" || u.Type != "normal" || !sameMap(u.Data, tc.claims) || !sameMap(u.CustomData, tc.want) {
			t.Errorf("UserOf(u1, %v) = %+v", tc.claims, u)
		}
	}
	s := loadSet(t, map[string]string{"todos.json": `{"roles":[{"name":"team","apply_when":{"%%user.custom_data.team":"a"},"write":true,"insert":true,"delete":true}]}`})
	if d := s.Decide(Input{Op: "PUT", Table: "todos", ID: "t", Data: Map{}, User: UserOf("u1", map[string]any{"custom_data": cd})}); !d.Allow {
		t.Errorf("a custom_data role did not apply: %s", d.Reason)
	}
}
