package config

import (
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/syncgate/syncgate/host/auth"
	"github.com/syncgate/syncgate/host/syncgate"
)

var update = flag.Bool("update", false, "rewrite docs/configuration.md")

// TestReferenceDocMatchesStruct fails when docs/configuration.md and the
// Config struct disagree.
func TestReferenceDocMatchesStruct(t *testing.T) {
	const path = "../../docs/configuration.md"
	if *update {
		os.WriteFile(path, []byte(Reference()), 0o644)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != Reference() {
		t.Fatalf("%s is out of date with host/config.Config: run go test ./host/config -update", path)
	}
	for _, v := range Variables() {
		if v.Help == "" {
			t.Errorf("%s has no help text", v.Name)
		}
	}
}

func TestDefaults(t *testing.T) {
	c, err := Parse(map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:8090" || !c.Dev() || !c.Embedded() || c.TokenTTL != 5*time.Minute || c.UploadAuth != "on" {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestErrorsNameEveryBadVariable(t *testing.T) {
	_, err := Parse(map[string]string{"ADDR": "x", "LOG_FORMAT": "xml", "GUESTS": "a/b", "GUEST_SETTINGS": "nodot:1", "GUEST_DEADLINES": "never"})
	for _, name := range []string{"ADDR", "LOG_FORMAT", "GUESTS", "GUEST_SETTINGS", "GUEST_DEADLINES"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("error %v does not name %s", err, name)
		}
	}
}

// TestDerivedSettings: the defaults serve() used to decide inline.
func TestDerivedSettings(t *testing.T) {
	dev := Config{}
	if dev.TokenMode() != "dev" || !dev.UploadAuthRequired() {
		t.Errorf("development run: mode %q, upload auth %v", dev.TokenMode(), dev.UploadAuthRequired())
	}
	if aud, def := dev.TokenAudience(); aud != DevAudience || !def {
		t.Errorf("development audience %q %v", aud, def)
	}
	prod := Config{PublicKey: "k", PrivateKey: "k", Audience: "https://ps", UploadAuth: "on"}
	if prod.TokenMode() != "api-key" || len(prod.Warnings()) != 0 {
		t.Errorf("keys from the environment: mode %q, warnings %v", prod.TokenMode(), prod.Warnings())
	}
	prod.TokenAuth, prod.UploadAuth = "dev", "off"
	if w := prod.ReadyWarnings(); len(w) != 2 || !strings.HasPrefix(w[0], "TOKEN_AUTH=dev") || !strings.HasPrefix(w[1], "UPLOAD_AUTH=off") {
		t.Errorf("ready warnings %v", w)
	}
	if got := (&Config{}).AllowedTables(nil); got != nil {
		t.Errorf("no tables, no schemas: %v, want nil (any)", got)
	}
	if got := (&Config{}).AllowedTables([]string{"a"}); len(got) != 1 || !got["a"] {
		t.Errorf("schema tables: %v", got)
	}
	if got := (&Config{Tables: []string{" b "}}).AllowedTables([]string{"a"}); len(got) != 2 || !got["a"] || !got["b"] {
		t.Errorf("UPLOAD_TABLES adds: %v", got)
	}
	if (&Config{GuestPool: 3}).Pool() != 3 || (&Config{}).Pool() < 1 {
		t.Error("Pool")
	}
}

// TestProblemsReportedTogether: every mistake of one environment is in one
// error (not one per restart), a value that does not parse says what a good
// one looks like (never "<nil>"), and it is not reported twice.
func TestProblemsReportedTogether(t *testing.T) {
	_, err := Parse(map[string]string{
		"POWERSYNC_PUBLIC_KEY": "k", "POWERSYNC_PRIVATE_KEY": "k", // no POWERSYNC_URL, no TOKEN_API_KEYS
		"TOKEN_TTL": "5", "UPLOAD_MAX_OPS": "many", "UPLOAD_STRICT": "yes", "LOG_LEVEL": "loud",
	})
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	for _, want := range []string{
		"POWERSYNC_URL: required", "TOKEN_AUTH:", `TOKEN_TTL: want a duration like 5m`, `got "5"`,
		"UPLOAD_MAX_OPS: want a whole number", "UPLOAD_STRICT: want true or false", "LOG_LEVEL:",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not contain %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "<nil>") || strings.Count(msg, "TOKEN_TTL") != 1 {
		t.Errorf("error has <nil> or reports TOKEN_TTL twice:\n%s", msg)
	}
	_, err = Parse(map[string]string{"TOKEN_AUTH": "api-key", "TOKEN_API_KEYS": "short"})
	if err == nil || !strings.Contains(err.Error(), "at least 16 characters") {
		t.Errorf("short API key: %v", err)
	}
}

// TestTableRules: one rule for writable tables (schemas plus UPLOAD_TABLES),
// settings that name tables or guests nobody knows are errors, and a
// setting without effect is a warning.
func TestTableRules(t *testing.T) {
	schemas := []string{"lists", "todos"}
	c := Config{Tables: []string{"comments"}}
	if got := c.AllowedTables(schemas); len(got) != 3 || !got["lists"] || !got["comments"] {
		t.Errorf("UPLOAD_TABLES adds to the tables with a schema: %v", got)
	}
	if c.GateUnknownTable(schemas) != "allow" || (&Config{}).GateUnknownTable(schemas) != "reject" {
		t.Error("a listed table without a schema passes the gate; nothing else does")
	}
	cases := []struct {
		name    string
		cfg     Config
		problem string // substring; "" none
		warning string // substring; "" none
	}{
		{"guest table typo", Config{Guests: []string{"owner:list"}}, `owner:list names table "list"`, ""},
		{"guest table listed", Config{Guests: []string{"owner:comments"}, Tables: []string{"comments"}}, "", ""},
		{"guest for every table", Config{Guests: []string{"owner"}}, "", ""},
		{"allow alone", Config{UnknownTable: "allow"}, "", "SCHEMA_UNKNOWN_TABLE=allow has no effect"},
		{"allow with a listed table", Config{UnknownTable: "allow", Tables: []string{"comments"}}, "", ""},
		{"reject with a listed table", Config{UnknownTable: "reject", Tables: []string{"comments"}}, "SCHEMA_UNKNOWN_TABLE: reject contradicts", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, p := range tc.cfg.TableProblems(schemas) {
				got = append(got, p.Error())
			}
			if joined := strings.Join(got, "\n"); (tc.problem == "") != (joined == "") || !strings.Contains(joined, tc.problem) {
				t.Errorf("problems %q, want %q", got, tc.problem)
			}
			w := strings.Join(tc.cfg.TableWarnings(schemas), "\n")
			if (tc.warning == "") != (w == "") || !strings.Contains(w, tc.warning) {
				t.Errorf("warnings %q, want %q", w, tc.warning)
			}
		})
	}
	_, err := Parse(map[string]string{"GUESTS": "owner:lists", "GUEST_SETTINGS": "ownr.field:owner_id"})
	if err == nil || !strings.Contains(err.Error(), `guest "ownr" is not in GUESTS`) {
		t.Errorf("a setting for a guest not in GUESTS: %v", err)
	}
}

// TestDevelopmentURLsDoNotCollide: syncgate's default address is not the
// development powersync_url (a self-hosted PowerSync service's default,
// :8080), so a client following powersync_url never reaches syncgate; the
// start-up warning says what the URL is.
func TestDevelopmentURLsDoNotCollide(t *testing.T) {
	c, err := Parse(map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := strings.Cut(c.Addr, ":")
	aud, _ := c.TokenAudience()
	if strings.HasSuffix(aud, ":"+port) || !strings.HasSuffix(aud, ":8080") {
		t.Fatalf("ADDR %s and the development powersync_url %s", c.Addr, aud)
	}
	if w := strings.Join(c.Warnings(), "\n"); !strings.Contains(w, "local self-hosted PowerSync service") {
		t.Fatalf("warnings do not say what %s is: %s", aud, w)
	}
}

// TestIneffectiveSettingsWarned: a variable read only in another mode is
// named at start-up instead of being ignored silently.
func TestIneffectiveSettingsWarned(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{TokenAPIKeys: []string{"a-long-api-key-for-tests"}}, "TOKEN_API_KEYS has no effect with TOKEN_AUTH=dev"},
		{Config{TokenAuth: "api-key", UpstreamJWKS: "https://idp/jwks"}, "TOKEN_UPSTREAM_JWKS_URL has no effect with TOKEN_AUTH=api-key"},
		{Config{MongoURI: "mongodb://db", DevDBAddr: "127.0.0.1:1"}, "DEV_DB_ADDR has no effect"},
	} {
		if w := strings.Join(c.cfg.Warnings(), "\n"); !strings.Contains(w, c.want) {
			t.Errorf("%+v: warnings %q, want %q", c.cfg, w, c.want)
		}
	}
	if w := (&Config{MongoURI: "mongodb://db", DevDBAddr: "127.0.0.1:27018", TokenAuth: "api-key", TokenAPIKeys: []string{"k"}}).IneffectiveSettings(); len(w) != 0 {
		t.Errorf("defaults and used settings warned: %q", w)
	}
}

func TestReservedPrefix(t *testing.T) {
	if reservedPrefix != syncgate.ReservedPrefix {
		t.Fatalf("config's %q is not syncgate.ReservedPrefix %q", reservedPrefix, syncgate.ReservedPrefix)
	}
	for _, name := range []string{"rejected", "syncgate.rejected", ""} {
		c := Config{DeadLetter: name}
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "DEAD_LETTER_COLLECTION") {
			t.Errorf("DEAD_LETTER_COLLECTION=%q: %v", name, err)
		}
	}
}

// TestAttachmentSettings: defaults, and each bad value named.
func TestAttachmentSettings(t *testing.T) {
	c, err := Parse(map[string]string{})
	if err != nil || c.Attachments || c.AttachmentMaxBytes != 50<<20 || len(c.AttachmentTypes) != 8 || len(c.AttachmentRefs) != 0 {
		t.Fatalf("defaults: %v %v %d %v", err, c.Attachments, c.AttachmentMaxBytes, c.AttachmentTypes)
	}
	for env, want := range map[string]string{
		"ATTACHMENT_MAX_BYTES=0":            "ATTACHMENT_MAX_BYTES: want at least 1",
		"ATTACHMENT_TYPES=image/png,jpeg":   `ATTACHMENT_TYPES: "jpeg": want a media type`,
		"ATTACHMENT_TYPES=text/plain; q=1":  `ATTACHMENT_TYPES: "text/plain; q=1"`,
		"ATTACHMENT_REFS=todos":             `ATTACHMENT_REFS: "todos": want collection.field`,
		"ATTACHMENT_REFS=todos.$where":      `ATTACHMENT_REFS: "todos.$where"`,
		"ATTACHMENTS=yes":                   "ATTACHMENTS",
		"ATTACHMENT_REFS=todos.photo_id,.x": `ATTACHMENT_REFS: ".x"`,
		"ATTACHMENT_MAX_BYTES=fifty":        "ATTACHMENT_MAX_BYTES",
	} {
		k, v, _ := strings.Cut(env, "=")
		_, err := Parse(map[string]string{k: v})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", env, err, want)
		}
	}
	c, err = Parse(map[string]string{"ATTACHMENTS": "true", "ATTACHMENT_TYPES": "image/*,application/pdf", "ATTACHMENT_REFS": "todos.photo_id,lists.cover.id"})
	if err != nil || !c.Attachments || len(c.AttachmentTypes) != 2 || len(c.AttachmentRefs) != 2 {
		t.Fatalf("good values: %v %+v", err, c)
	}
}

// TestRegisteredClaims: config refuses the claims auth refuses.
func TestRegisteredClaims(t *testing.T) {
	if !slices.Equal(registeredClaims, auth.RegisteredClaims) || customDataClaim != auth.CustomDataClaim {
		t.Fatalf("config's %v / %q differ from auth's %v / %q", registeredClaims, customDataClaim, auth.RegisteredClaims, auth.CustomDataClaim)
	}
}

// TestClaimSettings: TOKEN_CLAIMS, USER_DATA_COLLECTION and USER_DATA_FIELD
// are checked at start-up, each problem naming its variable.
func TestClaimSettings(t *testing.T) {
	good := []map[string]string{
		{"TOKEN_CLAIMS": "org_id,roles"},
		{"TOKEN_CLAIMS": "https://example.com/roles, org_id"},
		{"TOKEN_CLAIMS": "custom_data"}, // from the caller when there is no USER_DATA_COLLECTION
		{"USER_DATA_COLLECTION": "users"},
		{"USER_DATA_COLLECTION": "users", "USER_DATA_FIELD": "auth.user_id", "TOKEN_CLAIMS": "org_id"},
	}
	for _, env := range good {
		c, err := Parse(env)
		if err != nil {
			t.Errorf("%v: %v", env, err)
		}
		if env["USER_DATA_FIELD"] == "" && c.UserDataField != "user_id" {
			t.Errorf("USER_DATA_FIELD defaults to %q", c.UserDataField)
		}
	}
	bad := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"TOKEN_CLAIMS": "org_id,sub"}, `TOKEN_CLAIMS: "sub" is a registered claim`},
		{map[string]string{"TOKEN_CLAIMS": "aud"}, `TOKEN_CLAIMS: "aud" is a registered claim`},
		{map[string]string{"TOKEN_CLAIMS": "kid"}, `TOKEN_CLAIMS: "kid" is a registered claim`},
		{map[string]string{"TOKEN_CLAIMS": "jti"}, `TOKEN_CLAIMS: "jti" is a registered claim`},
		{map[string]string{"TOKEN_CLAIMS": "org_id,,roles"}, "TOKEN_CLAIMS: an empty name"},
		{map[string]string{"TOKEN_CLAIMS": "org id"}, `TOKEN_CLAIMS: "org id": a claim name has no spaces`},
		{map[string]string{"TOKEN_CLAIMS": "custom_data", "USER_DATA_COLLECTION": "users"}, "TOKEN_CLAIMS: custom_data comes from USER_DATA_COLLECTION"},
		{map[string]string{"USER_DATA_COLLECTION": "app.users"}, "USER_DATA_COLLECTION:"},
		{map[string]string{"USER_DATA_COLLECTION": "syncgate_users"}, "USER_DATA_COLLECTION:"},
		{map[string]string{"USER_DATA_COLLECTION": "system.users"}, "USER_DATA_COLLECTION:"},
		{map[string]string{"USER_DATA_COLLECTION": "$users"}, "USER_DATA_COLLECTION:"},
		{map[string]string{"USER_DATA_COLLECTION": "users", "USER_DATA_FIELD": "$where"}, "USER_DATA_FIELD:"},
		{map[string]string{"USER_DATA_COLLECTION": "users", "USER_DATA_FIELD": "a..b"}, "USER_DATA_FIELD:"},
	}
	for _, c := range bad {
		if _, err := Parse(c.env); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.env, err, c.want)
		}
	}
	if err := (&Config{UserDataColl: "users"}).Validate(); err == nil || !strings.Contains(err.Error(), `USER_DATA_FIELD: "": want a field name`) {
		t.Errorf("empty USER_DATA_FIELD: %v", err)
	}
	if w := strings.Join((&Config{UserDataField: "uid"}).IneffectiveSettings(), "\n"); !strings.Contains(w, "USER_DATA_FIELD has no effect") {
		t.Errorf("USER_DATA_FIELD without a collection: warnings %q", w)
	}
	if w := (&Config{UserDataField: "user_id"}).IneffectiveSettings(); len(w) != 0 {
		t.Errorf("the default USER_DATA_FIELD warned: %q", w)
	}
}

// TestUserDataCollectionRefused: clients cannot write USER_DATA_COLLECTION
// unless RULES_DIR has its own rules file (default_rule.json does not
// count); where the allow-list would let any table through, or
// UPLOAD_TABLES lists it, start-up stops and says what to do.
func TestUserDataCollectionRefused(t *testing.T) {
	rules := t.TempDir()
	os.WriteFile(filepath.Join(rules, "default_rule.json"), []byte(`{"roles":[]}`), 0o644)
	c := Config{UserDataColl: "users", RulesDir: rules}
	schemas := []string{"lists", "users"}
	if got := c.AllowedTables(schemas); got == nil || got["users"] || !got["lists"] {
		t.Fatalf("allow-list %v: users must be refused, lists allowed", got)
	}
	if got := c.AllowedTables([]string{"users"}); got == nil || len(got) != 0 {
		t.Fatalf("only users has a schema: allow-list %v, want empty (not nil: nil allows any table)", got)
	}
	if p := c.TableProblems(schemas); len(p) != 0 {
		t.Fatalf("problems %v", p)
	}
	for _, tc := range []struct {
		name    string
		cfg     Config
		schemas []string
		want    string
	}{
		{"any table writable", c, nil, "USER_DATA_COLLECTION: clients may write any table"},
		{"listed in UPLOAD_TABLES", Config{UserDataColl: "users", RulesDir: rules, Tables: []string{"users"}}, []string{"lists"}, "UPLOAD_TABLES: lists users, the USER_DATA_COLLECTION"},
		{"a guest for it", Config{UserDataColl: "users", RulesDir: rules, Guests: []string{"owner:users"}}, schemas, `owner:users names table "users", which clients cannot write`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, p := range tc.cfg.TableProblems(tc.schemas) {
				got = append(got, p.Error())
			}
			if j := strings.Join(got, "\n"); !strings.Contains(j, tc.want) {
				t.Fatalf("problems %q, want %q", got, tc.want)
			}
		})
	}

	// Its own rules file opens it, as any other table.
	os.WriteFile(filepath.Join(rules, "users.json"), []byte(`{"roles":[]}`), 0o644)
	if got := c.AllowedTables(schemas); !got["users"] {
		t.Fatalf("with rules/users.json: allow-list %v", got)
	}
	if p := c.TableProblems(nil); len(p) != 0 || c.AllowedTables(nil) != nil || c.UserDataRefused() != "" {
		t.Fatalf("with rules/users.json: problems %v", p)
	}
	// No collection: nothing changes.
	if got := (&Config{RulesDir: rules}).AllowedTables(schemas); !got["users"] {
		t.Fatalf("without USER_DATA_COLLECTION: allow-list %v", got)
	}
}
