// Package config owns syncgate's configuration: one struct read from the
// environment with caarlos0/env, and its validation.
//
// Nothing else in syncgate reads the environment. Parse takes the
// environment as a map so tests never touch the process's own.
package config

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/caarlos0/env/v11"
)

// registeredClaims is auth.RegisteredClaims (TestRegisteredClaims keeps
// the two equal): the claims TOKEN_CLAIMS can never name.
var registeredClaims = []string{"sub", "aud", "exp", "iat", "iss", "kid", "nbf", "jti"}

// customDataClaim is auth.CustomDataClaim.
const customDataClaim = "custom_data"

// reservedPrefix is syncgate.ReservedPrefix (config imports nothing of the
// host; TestReservedPrefix keeps the two equal).
const reservedPrefix = "syncgate_"

// Config is every setting syncgate has. The `env` tag names the variable;
// `help` is printed by --help and in docs/configuration.md.
type Config struct {
	Addr      string `env:"ADDR" envDefault:"127.0.0.1:8090" help:"listen address (8090: 8080 is the self-hosted PowerSync service's default)"`
	MongoURI  string `env:"MONGO_URI" help:"MongoDB connection string; empty runs the embedded FerretDB (development)"`
	DevDBAddr string `env:"DEV_DB_ADDR" envDefault:"127.0.0.1:27018" help:"MONGO_URI empty: where the embedded database listens, so mongosh or MongoDB Compass can connect (mongodb://127.0.0.1:27018/; printed at start-up and on /readyz); :0 picks a free port"`
	Database  string `env:"MONGO_DATABASE" envDefault:"syncgate" help:"database the collections live in"`
	StateDir  string `env:"SYNCGATE_DIR" envDefault:".syncgate" help:"local folder for the embedded database, development keys and the guest compile cache"`

	PublicKey       string   `env:"POWERSYNC_PUBLIC_KEY" help:"public JWK (base64 of JSON, as the PowerSync template) or PEM; empty with no private key: development keys"`
	PrivateKey      string   `env:"POWERSYNC_PRIVATE_KEY" help:"private JWK (base64 of JSON) or PEM that signs tokens"`
	PublicKeysExtra []string `env:"POWERSYNC_PUBLIC_KEYS_EXTRA" envSeparator:"," help:"more public keys published in /jwks (key rotation), comma separated"`
	Audience        string   `env:"POWERSYNC_URL" help:"the PowerSync instance URL: the aud of minted tokens (required outside development)"`

	TokenAuth      string        `env:"TOKEN_AUTH" help:"who may call /token: dev (anyone), api-key, jwks; default dev with development keys, api-key otherwise"`
	TokenAPIKeys   []string      `env:"TOKEN_API_KEYS" envSeparator:"," help:"secrets accepted by TOKEN_AUTH=api-key (Authorization: Bearer <key>), comma separated; each at least 16 characters (e.g. openssl rand -hex 32)"`
	AdminAPIKeys   []string      `env:"ADMIN_API_KEYS" envSeparator:"," help:"secrets that open the admin console /admin/ and its API (Authorization: Bearer <key>), comma separated, at least 16 characters each; unset: no admin console"`
	TokenTTL       time.Duration `env:"TOKEN_TTL" envDefault:"5m" help:"lifetime of minted tokens (30s to 1h: the PowerSync service refuses tokens that live longer than 60 minutes)"`
	TokenIssuer    string        `env:"TOKEN_ISSUER" help:"iss of minted tokens (optional)"`
	UpstreamJWKS   string        `env:"TOKEN_UPSTREAM_JWKS_URL" help:"TOKEN_AUTH=jwks: the identity provider's JWKS URL"`
	UpstreamIssuer string        `env:"TOKEN_UPSTREAM_ISSUER" help:"TOKEN_AUTH=jwks: required iss of ID tokens"`
	UpstreamAud    string        `env:"TOKEN_UPSTREAM_AUDIENCE" help:"TOKEN_AUTH=jwks: required aud of ID tokens"`
	UpstreamClaim  string        `env:"TOKEN_UPSTREAM_USER_CLAIM" envDefault:"sub" help:"TOKEN_AUTH=jwks: the ID token claim that becomes the user id"`
	TokenClaims    []string      `env:"TOKEN_CLAIMS" envSeparator:"," help:"claims a minted token may carry beyond the registered ones, comma separated (e.g. org_id,roles): TOKEN_AUTH=jwks copies them from the ID token when it has them; api-key and dev accept them in POST /token's body and refuse any other; registered claims (sub, aud, exp, iat, iss, kid, nbf, jti) never; rules read them as %%user.data, PowerSync's sync config as request.jwt() (docs/authorization.md, Claims)"`
	UserDataColl   string        `env:"USER_DATA_COLLECTION" help:"App Services' custom user data: the collection of one document per user, read when a token is minted and embedded in it as the custom_data claim (%%user.custom_data; stale until the token expires); clients cannot write it unless RULES_DIR has a rules file for it"`
	UserDataField  string        `env:"USER_DATA_FIELD" envDefault:"user_id" help:"USER_DATA_COLLECTION: the field holding the user id (the token's sub) a document belongs to"`
	UploadAuth     string        `env:"UPLOAD_AUTH" envDefault:"on" help:"on: /upload needs a PowerSync token; off: local experiments only"`

	MaxBodyBytes int64    `env:"UPLOAD_MAX_BYTES" envDefault:"8388608" help:"largest /upload body in bytes"`
	MaxOps       int      `env:"UPLOAD_MAX_OPS" envDefault:"5000" help:"most entries in one batch"`
	MaxDepth     int      `env:"UPLOAD_MAX_DEPTH" envDefault:"64" help:"deepest nesting of objects and arrays in data"`
	MaxIDBytes   int      `env:"UPLOAD_MAX_ID_BYTES" envDefault:"1024" help:"longest id in bytes"`
	Tables       []string `env:"UPLOAD_TABLES" envSeparator:"," help:"more collections clients may write, comma separated: writable are the tables with a schema plus these (which pass the schema gate unchecked); with neither, any valid name"`
	Strict       bool     `env:"UPLOAD_STRICT" envDefault:"false" help:"true: a batch with any rejected op answers 422 and writes nothing"`
	DeadLetter   string   `env:"DEAD_LETTER_COLLECTION" envDefault:"syncgate_rejected" help:"collection that records rejected ops"`
	Conflicts    string   `env:"CONFLICTS_COLLECTION" envDefault:"syncgate_conflicts" help:"collection that records lost conflicts of conflict-policy guests set to on_conflict:log (docs/conflicts.md)"`

	Attachments        bool     `env:"ATTACHMENTS" envDefault:"false" help:"true: serve PUT, GET, HEAD and DELETE /attachments/{id} (files in the database's GridFS bucket syncgate_attachments; every verb needs a PowerSync token; docs/attachments.md)"`
	AttachmentMaxBytes int64    `env:"ATTACHMENT_MAX_BYTES" envDefault:"52428800" help:"largest attachment in bytes (50 MiB, as PowerSync's Node demo)"`
	AttachmentTypes    []string `env:"ATTACHMENT_TYPES" envSeparator:"," envDefault:"image/jpeg,image/png,image/gif,image/webp,image/heic,image/heif,image/avif,application/pdf" help:"media types an attachment may have, comma separated, as sniffed from its first bytes (the Content-Type header is not trusted); image/* allows every image, */* anything"`
	AttachmentRefs     []string `env:"ATTACHMENT_REFS" envSeparator:"," help:"collection.field pairs that hold attachment ids, comma separated (e.g. todos.photo_id): syncgate attachments purge --orphans deletes attachments none of them references"`

	DBTimeout        time.Duration `env:"MONGO_TIMEOUT" envDefault:"10s" help:"deadline of each database call; keep it well above the database's worst latency: a write whose deadline passes while the database still runs it is answered 503 and resent by the client, and may still land after the resend and the client's later ops (seen on the embedded FerretDB under load at 1 s)"`
	WriteChunk       int           `env:"STORE_WRITE_CHUNK" envDefault:"0" help:"most replace/update statements per write command; 0: 16 on the embedded database, 1000 otherwise"`
	WriteConcurrency int           `env:"STORE_WRITE_CONCURRENCY" envDefault:"0" help:"most concurrent write commands; 0: 4 on the embedded database, unbounded otherwise"`
	TxnMaxOps        int           `env:"STORE_TXN_MAX_OPS" envDefault:"1000" help:"replica set/mongos: most ops in one transaction; a longer batch is several transactions in order"`
	TxnMaxBytes      int           `env:"STORE_TXN_MAX_BYTES" envDefault:"8388608" help:"replica set/mongos: most bytes of BSON documents in one transaction"`

	GuestsDir      string            `env:"GUESTS_DIR" envDefault:"guest/bin" help:"folder of built guest .wasm files"`
	Guests         []string          `env:"GUESTS" envSeparator:"," help:"guests to run in order, each name or name:table1|table2; the schema gate always runs last"`
	SchemasDir     string            `env:"SCHEMAS_DIR" envDefault:"schemas" help:"folder of <collection>.json JSON Schemas"`
	UnknownTable   string            `env:"SCHEMA_UNKNOWN_TABLE" help:"reject or allow, for tables without a schema: rarely needed, as listing a table in UPLOAD_TABLES already lets it through the schema gate; reject with such a table listed is an error, allow without one has no effect and is warned about"`
	RulesDir       string            `env:"RULES_DIR" envDefault:"rules" help:"folder of write-authorization rules in App Services' format: <table>.json and default_rule.json (docs/authorization.md); missing or empty: no rules"`
	Authorize      []string          `env:"AUTHORIZE" envSeparator:"," help:"write authorization, comma separated: required (refuse to start unless RULES_DIR has rules for every writable table), sync-scope (every write must stay inside the writer's scope in SYNC_CONFIG; with rules files both must allow)"`
	SyncConfig     string            `env:"SYNC_CONFIG" help:"AUTHORIZE=sync-scope: the PowerSync sync config (Sync Streams or bucket_definitions) whose scope every write must keep"`
	GuestSettings  map[string]string `env:"GUEST_SETTINGS" help:"guest settings, comma separated: guest.key:value for every table the guest runs for, guest.TABLE.key:value for one (e.g. owner.field:owner_id,owner.todos.field:created_by)"`
	ReloadPoll     time.Duration     `env:"RELOAD_POLL" envDefault:"2s" help:"how often guest and schema files are checked for changes (hot reload); 0 disables; SIGHUP always reloads"`
	GuestPool      int               `env:"GUEST_POOL" envDefault:"0" help:"warm instances per guest; 0: number of CPUs"`
	GuestTimeout   time.Duration     `env:"GUEST_TIMEOUT" envDefault:"2s" help:"deadline of one guest call"`
	GuestMemory    int               `env:"GUEST_MEMORY_MB" envDefault:"256" help:"memory limit of one guest instance in MiB"`
	GuestOutput    int               `env:"GUEST_MAX_OUTPUT" envDefault:"16777216" help:"largest guest result in bytes"`
	GuestTable     int               `env:"GUEST_TABLE_MAX" envDefault:"100000" help:"most entries a guest's function table may have; a larger one is refused at load (Go guests: one per function that may be called indirectly, the schema gate about 7300)"`
	GuestDeadlines string            `env:"GUEST_DEADLINES" envDefault:"checks" help:"how a guest call is stopped at its deadline: checks (a countdown added at each function and loop of the guest when it is loaded, which returns to Go every 1024 turns) or wazero (wazero's own checks: no rewriting, guests about 2x slower)"`

	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"15s" help:"how long in-flight requests may finish after SIGTERM"`
	ShutdownDrain   time.Duration `env:"SHUTDOWN_DRAIN" envDefault:"0s" help:"after SIGTERM, how long to keep serving with /readyz at 503 before closing the listener, so a load balancer stops routing here first (e.g. 2 health-check intervals); 0: close at once"`
	LogLevel        string        `env:"LOG_LEVEL" envDefault:"info" help:"debug, info, warn or error"`
	LogFormat       string        `env:"LOG_FORMAT" envDefault:"text" help:"text or json"`

	OTelEndpoint    string `env:"OTEL_EXPORTER_OTLP_ENDPOINT" help:"OpenTelemetry: the OTLP/HTTP collector (e.g. http://127.0.0.1:4318) that receives a trace of each /upload (a span per stage, guest call and database command; ids, never document data); unset: no tracing (docs/operations.md)"`
	OTelServiceName string `env:"OTEL_SERVICE_NAME" envDefault:"syncgate" help:"OpenTelemetry: the service.name of syncgate's spans"`
}

// SyncScope reports whether writes are checked against SYNC_CONFIG.
func (c *Config) SyncScope() bool { return slices.Contains(c.Authorize, "sync-scope") }

// AuthorizeRequired reports whether start-up needs rules for every
// writable table.
func (c *Config) AuthorizeRequired() bool { return slices.Contains(c.Authorize, "required") }

// Dev reports whether no keys were configured, so development keys are used.
func (c *Config) Dev() bool { return c.PublicKey == "" && c.PrivateKey == "" }

// Embedded reports whether the embedded database is used.
func (c *Config) Embedded() bool { return c.MongoURI == "" }

// Parse reads the configuration from environ and validates it. The error
// lists every problem at once, one per line, each naming its variable and
// what a good value looks like; a value that does not parse is not also
// reported as out of range.
func Parse(environ map[string]string) (Config, error) {
	var c Config
	var errs []error
	failed := map[string]bool{}
	if err := env.ParseWithOptions(&c, env.Options{Environment: environ}); err != nil {
		for _, e := range parseErrors(err, environ) {
			failed[e.name] = true
			errs = append(errs, e)
		}
	}
	for _, e := range c.problems() {
		if !failed[e.name] {
			errs = append(errs, e)
		}
	}
	if len(errs) == 0 {
		return c, nil
	}
	return c, fmt.Errorf("config: %w", errors.Join(errs...))
}

// Problem is one configuration mistake: the variable and what is wrong.
type Problem struct {
	name, msg string
}

func (p Problem) Error() string { return p.name + ": " + p.msg }

// want says what a value of type t looks like, for a value that did not
// parse (caarlos0/env's own errors can end in "<nil>").
func want(t reflect.Type) string {
	switch {
	case t == reflect.TypeFor[time.Duration]():
		return "a duration like 5m, 30s or 1h30m (a number needs its unit)"
	case t.Kind() == reflect.Bool:
		return "true or false"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		return "a whole number"
	case t.Kind() == reflect.Map:
		return "comma-separated key:value pairs"
	}
	return "a " + t.String()
}

// parseErrors turns caarlos0/env's aggregate error into one Problem per
// variable.
func parseErrors(err error, environ map[string]string) []Problem {
	var errs []error
	var agg env.AggregateError
	if errors.As(err, &agg) {
		errs = agg.Errors
	} else {
		errs = []error{err}
	}
	var out []Problem
	for _, e := range errs {
		var pe env.ParseError
		if errors.As(e, &pe) {
			if f, ok := reflect.TypeFor[Config]().FieldByName(pe.Name); ok {
				name, _, _ := strings.Cut(f.Tag.Get("env"), ",")
				out = append(out, Problem{name, fmt.Sprintf("want %s, got %q", want(pe.Type), environ[name])})
				continue
			}
		}
		out = append(out, Problem{"environment", e.Error()})
	}
	return out
}

// Validate checks values that parse but make no sense. The returned error
// lists every problem, each naming its variable.
func (c *Config) Validate() error {
	errs := c.problems()
	if len(errs) == 0 {
		return nil
	}
	joined := make([]error, len(errs))
	for i, e := range errs {
		joined[i] = e
	}
	return fmt.Errorf("config: %w", errors.Join(joined...))
}

func (c *Config) problems() []Problem {
	var errs []Problem
	bad := func(name, format string, args ...any) {
		errs = append(errs, Problem{name, fmt.Sprintf(format, args...)})
	}
	for _, a := range c.Authorize {
		if a != "required" && a != "sync-scope" {
			bad("AUTHORIZE", "unknown value %q: want required and/or sync-scope", a)
		}
	}
	if c.SyncScope() && c.SyncConfig == "" {
		bad("SYNC_CONFIG", "AUTHORIZE=sync-scope needs the sync config's path")
	}
	if c.SyncConfig != "" && !c.SyncScope() {
		bad("SYNC_CONFIG", "is set but AUTHORIZE does not include sync-scope, so it would do nothing")
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		bad("ADDR", "want host:port, got %q", c.Addr)
	}
	if _, _, err := net.SplitHostPort(c.DevDBAddr); err != nil && c.MongoURI == "" {
		bad("DEV_DB_ADDR", "want host:port, got %q", c.DevDBAddr)
	}
	if c.MongoURI != "" {
		u, err := url.Parse(c.MongoURI)
		if err != nil || (u.Scheme != "mongodb" && u.Scheme != "mongodb+srv") {
			bad("MONGO_URI", "want a mongodb:// or mongodb+srv:// URI")
		}
	}
	if c.Database == "" || strings.ContainsAny(c.Database, "/\\. \"$\x00") || len(c.Database) > 63 {
		bad("MONGO_DATABASE", "%q is not a valid database name", c.Database)
	}
	if c.StateDir == "" {
		bad("SYNCGATE_DIR", "must not be empty")
	}
	if (c.PublicKey == "") != (c.PrivateKey == "") {
		if c.PrivateKey == "" {
			bad("POWERSYNC_PRIVATE_KEY", "must be set when POWERSYNC_PUBLIC_KEY is")
		} else {
			bad("POWERSYNC_PUBLIC_KEY", "must be set when POWERSYNC_PRIVATE_KEY is")
		}
	}
	if !c.Dev() && c.Audience == "" {
		bad("POWERSYNC_URL", "required when keys come from the environment (it is the aud of every token)")
	}
	mode := c.TokenAuth
	if mode == "" && !c.Dev() {
		mode = "api-key-default"
	}
	switch mode {
	case "", "dev":
	case "api-key", "api-key-default":
		if len(nonEmpty(c.TokenAPIKeys)) == 0 {
			if mode == "api-key" {
				bad("TOKEN_API_KEYS", "TOKEN_AUTH=api-key needs at least one key")
			} else {
				bad("TOKEN_AUTH", "keys come from the environment, so /token is not open to anyone: set TOKEN_API_KEYS (api-key, the default), TOKEN_AUTH=jwks, or TOKEN_AUTH=dev to allow anyone")
			}
		}
		for _, k := range nonEmpty(c.TokenAPIKeys) {
			if len(k) < 16 {
				bad("TOKEN_API_KEYS", "every key must be at least 16 characters (e.g. openssl rand -hex 32)")
				break
			}
		}
	case "jwks":
		if u, err := url.Parse(c.UpstreamJWKS); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			bad("TOKEN_UPSTREAM_JWKS_URL", "TOKEN_AUTH=jwks needs the identity provider's JWKS URL")
		}
		if c.UpstreamIssuer == "" {
			bad("TOKEN_UPSTREAM_ISSUER", "TOKEN_AUTH=jwks needs the expected issuer")
		}
		if c.UpstreamAud == "" {
			bad("TOKEN_UPSTREAM_AUDIENCE", "TOKEN_AUTH=jwks needs the expected audience")
		}
	default:
		bad("TOKEN_AUTH", "want dev, api-key or jwks, got %q", c.TokenAuth)
	}
	for _, n := range c.TokenClaims {
		n = strings.TrimSpace(n)
		switch {
		case n == "":
			bad("TOKEN_CLAIMS", "an empty name: want claim names, comma separated (e.g. org_id,roles)")
		case strings.IndexFunc(n, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
			bad("TOKEN_CLAIMS", "%q: a claim name has no spaces or control characters", n)
		case slices.Contains(registeredClaims, n):
			bad("TOKEN_CLAIMS", "%q is a registered claim, set by syncgate only (%s are never copied nor accepted)", n, strings.Join(registeredClaims, ", "))
		case n == customDataClaim && c.UserDataColl != "":
			bad("TOKEN_CLAIMS", "custom_data comes from USER_DATA_COLLECTION (%s); drop it from TOKEN_CLAIMS, or unset USER_DATA_COLLECTION to take it from the caller", c.UserDataColl)
		}
	}
	if u := c.UserDataColl; u != "" {
		if strings.ContainsAny(u, "$.\x00") || strings.HasPrefix(u, "system") || strings.HasPrefix(u, reservedPrefix) || len(u) > 120 {
			bad("USER_DATA_COLLECTION", "%q is not a collection clients' data can live in (no $, dot or NUL; not system* or %s*; at most 120 bytes)", u, reservedPrefix)
		}
		if f := c.UserDataField; f == "" || strings.HasPrefix(f, "$") || strings.ContainsRune(f, 0) || slices.Contains(strings.Split(f, "."), "") {
			bad("USER_DATA_FIELD", "%q: want a field name (or dotted path) such as user_id", f)
		}
	}
	for _, k := range nonEmpty(c.AdminAPIKeys) {
		if len(k) < 16 {
			bad("ADMIN_API_KEYS", "every key must be at least 16 characters")
			break
		}
		if slices.Contains(c.TokenAPIKeys, k) {
			bad("ADMIN_API_KEYS", "an admin key must not also be a TOKEN_API_KEYS key")
			break
		}
	}
	if c.TokenTTL < 30*time.Second || c.TokenTTL > time.Hour {
		bad("TOKEN_TTL", "want between 30s and 1h (the PowerSync service refuses tokens that live longer than 60 minutes), got %s", c.TokenTTL)
	}
	if c.UploadAuth != "on" && c.UploadAuth != "off" {
		bad("UPLOAD_AUTH", "want on or off, got %q", c.UploadAuth)
	}
	if c.MaxBodyBytes < 1024 {
		bad("UPLOAD_MAX_BYTES", "want at least 1024, got %d", c.MaxBodyBytes)
	}
	if c.AttachmentMaxBytes < 1 {
		bad("ATTACHMENT_MAX_BYTES", "want at least 1, got %d", c.AttachmentMaxBytes)
	}
	for _, t := range c.AttachmentTypes {
		if major, minor, ok := strings.Cut(strings.TrimSpace(t), "/"); !ok || major == "" || minor == "" || strings.ContainsAny(t, "; ") {
			bad("ATTACHMENT_TYPES", "%q: want a media type like image/jpeg or image/*, without parameters", t)
			break
		}
	}
	for _, r := range c.AttachmentRefs {
		coll, field, ok := strings.Cut(strings.TrimSpace(r), ".")
		if !ok || coll == "" || field == "" || strings.ContainsAny(coll, "$\x00") || strings.ContainsAny(field, "$\x00") {
			bad("ATTACHMENT_REFS", "%q: want collection.field, e.g. todos.photo_id", r)
			break
		}
	}
	if c.MaxOps < 1 {
		bad("UPLOAD_MAX_OPS", "want at least 1, got %d", c.MaxOps)
	}
	if c.MaxDepth < 1 || c.MaxDepth > 100 {
		bad("UPLOAD_MAX_DEPTH", "want 1 to 100 (MongoDB nests at most 100 levels), got %d", c.MaxDepth)
	}
	if c.MaxIDBytes < 1 {
		bad("UPLOAD_MAX_ID_BYTES", "want at least 1, got %d", c.MaxIDBytes)
	}
	if c.DeadLetter == "" || strings.ContainsAny(c.DeadLetter, "$.\x00") || !strings.HasPrefix(c.DeadLetter, reservedPrefix) {
		bad("DEAD_LETTER_COLLECTION", "%q: want a collection name starting with %s (clients cannot write those)", c.DeadLetter, reservedPrefix)
	}
	if c.Conflicts == "" || strings.ContainsAny(c.Conflicts, "$.\x00") || !strings.HasPrefix(c.Conflicts, reservedPrefix) {
		bad("CONFLICTS_COLLECTION", "%q: want a collection name starting with %s (clients cannot write those)", c.Conflicts, reservedPrefix)
	}
	if c.DBTimeout <= 0 {
		bad("MONGO_TIMEOUT", "must be positive")
	}
	if c.WriteChunk < 0 {
		bad("STORE_WRITE_CHUNK", "must not be negative")
	}
	if c.TxnMaxOps <= 0 {
		bad("STORE_TXN_MAX_OPS", "must be positive")
	}
	if c.TxnMaxBytes <= 0 {
		bad("STORE_TXN_MAX_BYTES", "must be positive")
	}
	if c.WriteConcurrency < 0 {
		bad("STORE_WRITE_CONCURRENCY", "must not be negative")
	}
	switch c.UnknownTable {
	case "", "reject", "allow":
	default:
		bad("SCHEMA_UNKNOWN_TABLE", "want reject or allow, got %q", c.UnknownTable)
	}
	for _, g := range c.Guests {
		name, _, _ := strings.Cut(g, ":")
		if name == "" || strings.ContainsAny(name, "/\\. ") {
			bad("GUESTS", "%q: want name or name:table1|table2", g)
		}
	}
	configured, _ := c.GuestTables()
	for _, k := range slices.Sorted(maps.Keys(c.GuestSettings)) {
		g, key, ok := strings.Cut(k, ".")
		switch {
		case !ok || g == "" || key == "":
			bad("GUEST_SETTINGS", "%q: want guest.key:value", k)
		case g != "schemagate" && !slices.Contains(configured, g):
			bad("GUEST_SETTINGS", "%q: guest %q is not in GUESTS (%s), so the setting would do nothing", k, g, strings.Join(configured, ","))
		}
	}
	if c.ReloadPoll < 0 {
		bad("RELOAD_POLL", "must not be negative")
	}
	if c.GuestPool < 0 {
		bad("GUEST_POOL", "must not be negative")
	}
	if c.GuestTimeout <= 0 {
		bad("GUEST_TIMEOUT", "must be positive")
	}
	if c.GuestMemory < 16 || c.GuestMemory > 4096 {
		bad("GUEST_MEMORY_MB", "want 16 to 4096, got %d", c.GuestMemory)
	}
	if c.GuestOutput < 1024 {
		bad("GUEST_MAX_OUTPUT", "want at least 1024, got %d", c.GuestOutput)
	}
	if c.GuestTable < 1 || c.GuestTable > 10_000_000 {
		bad("GUEST_TABLE_MAX", "want 1 to 10000000, got %d", c.GuestTable)
	}
	switch c.GuestDeadlines {
	case "checks", "wazero":
	default:
		bad("GUEST_DEADLINES", "want checks or wazero, got %q", c.GuestDeadlines)
	}
	if c.ShutdownTimeout <= 0 {
		bad("SHUTDOWN_TIMEOUT", "must be positive")
	}
	if c.ShutdownDrain < 0 {
		bad("SHUTDOWN_DRAIN", "must not be negative")
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("LOG_LEVEL", "want debug, info, warn or error, got %q", c.LogLevel)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		bad("LOG_FORMAT", "want text or json, got %q", c.LogFormat)
	}
	return errs
}

func nonEmpty(xs []string) []string {
	out := xs[:0:0]
	for _, x := range xs {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

// AdminKeys returns the admin console's keys without blanks; none: the
// console is off.
func (c *Config) AdminKeys() []string { return nonEmpty(c.AdminAPIKeys) }

// Claims returns TOKEN_CLAIMS without blanks.
func (c *Config) Claims() []string { return nonEmpty(c.TokenClaims) }

// APIKeys returns the configured /token API keys without blanks.
func (c *Config) APIKeys() []string { return nonEmpty(c.TokenAPIKeys) }

// DevAudience is the aud of tokens, and the powersync_url /token answers,
// when POWERSYNC_URL is not set (development only; Validate requires it
// otherwise): where a self-hosted PowerSync service listens by default
// (its port 8080), never syncgate's own address (ADDR, 8090), so a client
// following powersync_url reaches PowerSync, not syncgate.
const DevAudience = "http://localhost:8080"

// TokenAudience is the aud of minted and verified tokens, and whether it
// is the development default.
func (c *Config) TokenAudience() (aud string, defaulted bool) {
	if c.Audience == "" {
		return DevAudience, true
	}
	return c.Audience, false
}

// TokenMode is who may mint tokens: dev only when chosen or in the
// zero-config development run; api-key by default when keys come from the
// environment.
func (c *Config) TokenMode() string {
	switch c.TokenAuth {
	case "api-key", "jwks", "dev":
		return c.TokenAuth
	case "":
		if c.Dev() {
			return "dev"
		}
		return "api-key"
	}
	return "dev" // Validate refuses anything else
}

// UploadAuthRequired reports whether /upload needs a PowerSync token
// (UPLOAD_AUTH=on).
func (c *Config) UploadAuthRequired() bool { return c.UploadAuth != "off" }

// ReadyWarnings are the settings /readyz announces because they open the
// server to anyone.
func (c *Config) ReadyWarnings() []string {
	var w []string
	if c.TokenMode() == "dev" {
		w = append(w, "TOKEN_AUTH=dev: anyone can mint a token for any user_id; development only")
	}
	if !c.UploadAuthRequired() {
		w = append(w, "UPLOAD_AUTH=off: /upload accepts writes from anyone; local experiments only")
	}
	return w
}

// Warnings are what start-up logs as warnings: the ReadyWarnings and a
// defaulted token audience.
func (c *Config) Warnings() []string {
	var w []string
	if aud, defaulted := c.TokenAudience(); defaulted {
		w = append(w, "POWERSYNC_URL is not set: tokens use aud "+aud+" and /token answers powersync_url "+aud+", the default address of a local self-hosted PowerSync service (docs/getting-started.md); set POWERSYNC_URL to your PowerSync instance")
	}
	w = append(w, c.ReadyWarnings()...)
	return append(w, c.IneffectiveSettings()...)
}

// IneffectiveSettings names the settings that are set but do nothing in the
// configured mode (a sign of a mistake: a variable meant for another mode,
// or the mode itself wrong). Start-up logs them as warnings; the table
// settings, which depend on the schemas, are TableWarnings.
func (c *Config) IneffectiveSettings() []string {
	var w []string
	mode := c.TokenMode()
	if len(c.APIKeys()) > 0 && mode != "api-key" {
		w = append(w, "TOKEN_API_KEYS has no effect with TOKEN_AUTH="+mode+" (it is read with TOKEN_AUTH=api-key)")
	}
	for _, v := range []struct{ name, value string }{
		{"TOKEN_UPSTREAM_JWKS_URL", c.UpstreamJWKS}, {"TOKEN_UPSTREAM_ISSUER", c.UpstreamIssuer}, {"TOKEN_UPSTREAM_AUDIENCE", c.UpstreamAud},
	} {
		if v.value != "" && mode != "jwks" {
			w = append(w, v.name+" has no effect with TOKEN_AUTH="+mode+" (it is read with TOKEN_AUTH=jwks)")
		}
	}
	if c.UserDataColl == "" && c.UserDataField != "" && c.UserDataField != defaultOf("UserDataField") {
		w = append(w, "USER_DATA_FIELD has no effect: USER_DATA_COLLECTION is not set")
	}
	if !c.Embedded() && c.DevDBAddr != "" && c.DevDBAddr != defaultOf("DevDBAddr") {
		w = append(w, "DEV_DB_ADDR has no effect: MONGO_URI is set, so the embedded database does not run")
	}
	return w
}

// defaultOf is the envDefault of Config's field.
func defaultOf(field string) string {
	f, _ := reflect.TypeFor[Config]().FieldByName(field)
	return f.Tag.Get("envDefault")
}

// Pool is the number of warm instances per guest (GUEST_POOL, or the CPU
// count).
func (c *Config) Pool() int {
	if c.GuestPool == 0 {
		return runtime.NumCPU()
	}
	return c.GuestPool
}

// AllowedTables is the upload allow-list, by one rule: clients may write
// the tables that have a schema plus those listed in UPLOAD_TABLES (which
// pass the schema gate unchecked); nil (any valid name) when neither names
// a table. USER_DATA_COLLECTION is never among them unless RULES_DIR has
// its rules file (UserDataRefused); when it is the only table named, the
// list is empty, not nil: no table is writable.
func (c *Config) AllowedTables(withSchema []string) map[string]bool {
	tables := map[string]bool{}
	for _, t := range withSchema {
		tables[t] = true
	}
	for _, t := range c.UploadTables() {
		tables[t] = true
	}
	if len(tables) == 0 {
		return nil
	}
	if u := c.UserDataRefused(); u != "" {
		delete(tables, u)
	}
	return tables
}

// UserDataRefused is USER_DATA_COLLECTION when clients may not write it:
// it is set and RULES_DIR holds no rules file of its own for it
// (<collection>.json; default_rule.json does not count). Custom user data
// is what rules trust about a user (%%user.custom_data), so only a rule
// written for it opens it. This is the one file configuration looks at; it
// is looked at on every reload, as the schemas are.
func (c *Config) UserDataRefused() string {
	if c.UserDataColl == "" {
		return ""
	}
	if info, err := os.Stat(filepath.Join(c.RulesDir, c.UserDataColl+".json")); err == nil && info.Mode().IsRegular() {
		return ""
	}
	return c.UserDataColl
}

// UploadTables is UPLOAD_TABLES without blanks.
func (c *Config) UploadTables() []string { return nonEmpty(c.Tables) }

// Unchecked lists the UPLOAD_TABLES entries without a schema: writable, and
// let through by the schema gate unchecked.
func (c *Config) Unchecked(withSchema []string) []string {
	var out []string
	for _, t := range c.UploadTables() {
		if !slices.Contains(withSchema, t) && !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

// GateUnknownTable is the schema gate's unknown_table setting: allow when
// UPLOAD_TABLES lists a table without a schema (or SCHEMA_UNKNOWN_TABLE
// says so), else reject.
func (c *Config) GateUnknownTable(withSchema []string) string {
	if c.UnknownTable == "allow" || len(c.Unchecked(withSchema)) > 0 {
		return "allow"
	}
	return "reject"
}

// GuestTables is each GUESTS entry's guest name and the tables it lists
// (none: every table).
func (c *Config) GuestTables() (names []string, tables [][]string) {
	for _, g := range c.Guests {
		name, list, _ := strings.Cut(strings.TrimSpace(g), ":")
		var ts []string
		if list != "" {
			for _, t := range strings.Split(list, "|") {
				ts = append(ts, strings.TrimSpace(t))
			}
		}
		names, tables = append(names, name), append(tables, ts)
	}
	return names, tables
}

// TableProblems checks the settings that name tables against the
// collections that have a schema (known only when the schemas are loaded,
// so at every reload): a table GUESTS names that clients cannot write (a
// typo, such as owner:list for lists) would never run its guest, and
// SCHEMA_UNKNOWN_TABLE=reject contradicts UPLOAD_TABLES naming a table
// without a schema. Both stop start-up (and fail a reload).
func (c *Config) TableProblems(withSchema []string) []Problem {
	var errs []Problem
	allowed := c.AllowedTables(withSchema)
	names, tables := c.GuestTables()
	for i, ts := range tables {
		for _, t := range ts {
			if allowed != nil && !allowed[t] {
				errs = append(errs, Problem{"GUESTS", fmt.Sprintf("%s:%s names table %q, which clients cannot write, so the guest would never run for it; writable tables: %s (a schema in SCHEMAS_DIR or UPLOAD_TABLES makes one writable)",
					names[i], strings.Join(ts, "|"), t, strings.Join(slices.Sorted(maps.Keys(allowed)), ", "))})
			}
		}
	}
	if u := c.UserDataRefused(); u != "" {
		switch {
		case allowed == nil:
			errs = append(errs, Problem{"USER_DATA_COLLECTION", fmt.Sprintf("clients may write any table (no schemas in SCHEMAS_DIR, no UPLOAD_TABLES), so also %s, the custom user data every token embeds: list the writable tables (schemas or UPLOAD_TABLES), or add %s to say who may write it", u, filepath.Join(c.RulesDir, u+".json"))})
		case slices.Contains(c.UploadTables(), u):
			errs = append(errs, Problem{"UPLOAD_TABLES", fmt.Sprintf("lists %s, the USER_DATA_COLLECTION: clients may write custom user data only under a rule; add %s, or drop it from UPLOAD_TABLES", u, filepath.Join(c.RulesDir, u+".json"))})
		}
	}
	if un := c.Unchecked(withSchema); c.UnknownTable == "reject" && len(un) > 0 && len(withSchema) > 0 {
		errs = append(errs, Problem{"SCHEMA_UNKNOWN_TABLE", fmt.Sprintf("reject contradicts UPLOAD_TABLES, which lists %s without a schema: add schemas/%s.json, or drop the table or this setting", strings.Join(un, ", "), un[0])})
	}
	return errs
}

// TableWarnings are the table settings that have no effect with these
// schemas: start-up and every reload log them, /readyz shows them.
func (c *Config) TableWarnings(withSchema []string) []string {
	var w []string
	if c.UnknownTable == "allow" && len(c.Unchecked(withSchema)) == 0 {
		if len(withSchema) == 0 {
			w = append(w, "SCHEMA_UNKNOWN_TABLE=allow has no effect: there are no schemas, so the schema gate does not run")
		} else {
			w = append(w, "SCHEMA_UNKNOWN_TABLE=allow has no effect: only writable tables reach the schema gate, and those are the tables with a schema; list the others in UPLOAD_TABLES (that alone makes them writable, unchecked)")
		}
	}
	return w
}

// Variable describes one environment variable for --help and the docs.
type Variable struct {
	Name, Default, Help string
}

// Variables lists every variable Config reads, in declaration order.
func Variables() []Variable {
	t := reflect.TypeFor[Config]()
	vars := make([]Variable, 0, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("env"), ",")
		if name == "" {
			continue
		}
		vars = append(vars, Variable{Name: name, Default: f.Tag.Get("envDefault"), Help: f.Tag.Get("help")})
	}
	return vars
}

// Reference renders every variable as the markdown table of
// docs/configuration.md; a test keeps that file equal to it.
func Reference() string {
	var b strings.Builder
	b.WriteString("# Configuration reference\n\nGenerated from `host/config.Config`; `go test ./host/config -update` rewrites it.\n")
	b.WriteString("syncgate reads only these environment variables, and `.env` in the working directory for those the environment does not set (the file `go tool task run` loads; the binary reads it too and says which it took).\n\n")
	b.WriteString("| variable | default | meaning |\n|---|---|---|\n")
	for _, v := range Variables() {
		def := "*(empty)*"
		if v.Default != "" {
			def = "`" + v.Default + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", v.Name, def, strings.ReplaceAll(v.Help, "|", "\\|"))
	}
	return b.String()
}
