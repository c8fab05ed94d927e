// Package config owns syncgate's configuration: one struct read from the
// environment with caarlos0/env, and its validation.
//
// Nothing else in syncgate reads the environment. Parse takes the
// environment as a map so tests never touch the process's own.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"reflect"
	"runtime"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
)

// Config is every setting syncgate has. The `env` tag names the variable;
// `help` is printed by --help and in docs/configuration.md.
type Config struct {
	Addr     string `env:"ADDR" envDefault:"127.0.0.1:8080" help:"listen address"`
	MongoURI string `env:"MONGO_URI" help:"MongoDB connection string; empty runs the embedded FerretDB (development)"`
	Database string `env:"MONGO_DATABASE" envDefault:"syncgate" help:"database the collections live in"`
	StateDir string `env:"SYNCGATE_DIR" envDefault:".syncgate" help:"local folder for the embedded database, development keys and the guest compile cache"`

	PublicKey       string   `env:"POWERSYNC_PUBLIC_KEY" help:"public JWK (base64 of JSON, as the PowerSync template) or PEM; empty with no private key: development keys"`
	PrivateKey      string   `env:"POWERSYNC_PRIVATE_KEY" help:"private JWK (base64 of JSON) or PEM that signs tokens"`
	PublicKeysExtra []string `env:"POWERSYNC_PUBLIC_KEYS_EXTRA" envSeparator:"," help:"more public keys published in /jwks (key rotation), comma separated"`
	Audience        string   `env:"POWERSYNC_URL" help:"the PowerSync instance URL: the aud of minted tokens (required outside development)"`

	TokenAuth      string        `env:"TOKEN_AUTH" help:"who may call /token: dev (anyone), api-key, jwks; default dev with development keys, api-key otherwise"`
	TokenAPIKeys   []string      `env:"TOKEN_API_KEYS" envSeparator:"," help:"secrets accepted by TOKEN_AUTH=api-key (Authorization: Bearer <key>), comma separated"`
	TokenTTL       time.Duration `env:"TOKEN_TTL" envDefault:"5m" help:"lifetime of minted tokens (30s to 24h)"`
	TokenIssuer    string        `env:"TOKEN_ISSUER" help:"iss of minted tokens (optional)"`
	UpstreamJWKS   string        `env:"TOKEN_UPSTREAM_JWKS_URL" help:"TOKEN_AUTH=jwks: the identity provider's JWKS URL"`
	UpstreamIssuer string        `env:"TOKEN_UPSTREAM_ISSUER" help:"TOKEN_AUTH=jwks: required iss of ID tokens"`
	UpstreamAud    string        `env:"TOKEN_UPSTREAM_AUDIENCE" help:"TOKEN_AUTH=jwks: required aud of ID tokens"`
	UpstreamClaim  string        `env:"TOKEN_UPSTREAM_USER_CLAIM" envDefault:"sub" help:"TOKEN_AUTH=jwks: the ID token claim that becomes the user id"`
	UploadAuth     string        `env:"UPLOAD_AUTH" envDefault:"on" help:"on: /upload needs a PowerSync token; off: local experiments only"`

	MaxBodyBytes int64    `env:"UPLOAD_MAX_BYTES" envDefault:"8388608" help:"largest /upload body in bytes"`
	MaxOps       int      `env:"UPLOAD_MAX_OPS" envDefault:"5000" help:"most entries in one batch"`
	MaxDepth     int      `env:"UPLOAD_MAX_DEPTH" envDefault:"64" help:"deepest nesting of objects and arrays in data"`
	MaxIDBytes   int      `env:"UPLOAD_MAX_ID_BYTES" envDefault:"1024" help:"longest id in bytes"`
	Tables       []string `env:"UPLOAD_TABLES" envSeparator:"," help:"collections clients may write, comma separated; empty: those with a schema, or any valid name when there are no schemas"`
	Strict       bool     `env:"UPLOAD_STRICT" envDefault:"false" help:"true: a batch with any rejected op answers 422 and writes nothing"`
	DeadLetter   string   `env:"DEAD_LETTER_COLLECTION" envDefault:"syncgate_rejected" help:"collection that records rejected ops"`

	DBTimeout        time.Duration `env:"MONGO_TIMEOUT" envDefault:"10s" help:"deadline of each database call"`
	WriteChunk       int           `env:"STORE_WRITE_CHUNK" envDefault:"0" help:"most replace/update statements per write command; 0: 16 on the embedded database, 1000 otherwise"`
	WriteConcurrency int           `env:"STORE_WRITE_CONCURRENCY" envDefault:"0" help:"most concurrent write commands; 0: 4 on the embedded database, unbounded otherwise"`
	TxnMaxOps        int           `env:"STORE_TXN_MAX_OPS" envDefault:"1000" help:"replica set/mongos: most ops in one transaction; a longer batch is several transactions in order"`
	TxnMaxBytes      int           `env:"STORE_TXN_MAX_BYTES" envDefault:"8388608" help:"replica set/mongos: most bytes of BSON documents in one transaction"`

	GuestsDir      string            `env:"GUESTS_DIR" envDefault:"guest/bin" help:"folder of built guest .wasm files"`
	Guests         []string          `env:"GUESTS" envSeparator:"," help:"guests to run in order, each name or name:table1|table2; the schema gate always runs last"`
	SchemasDir     string            `env:"SCHEMAS_DIR" envDefault:"schemas" help:"folder of <collection>.json JSON Schemas"`
	UnknownTable   string            `env:"SCHEMA_UNKNOWN_TABLE" help:"reject or allow writes to tables without a schema; default reject when schemas exist"`
	GuestSettings  map[string]string `env:"GUEST_SETTINGS" help:"guest settings as guest.key:value pairs, comma separated (e.g. owner.field:owner_id)"`
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
}

// Dev reports whether no keys were configured, so development keys are used.
func (c *Config) Dev() bool { return c.PublicKey == "" && c.PrivateKey == "" }

// Embedded reports whether the embedded database is used.
func (c *Config) Embedded() bool { return c.MongoURI == "" }

// Parse reads the configuration from environ and validates it. Errors name
// the variable and what is wrong.
func Parse(environ map[string]string) (Config, error) {
	var c Config
	if err := env.ParseWithOptions(&c, env.Options{Environment: environ}); err != nil {
		return c, fmt.Errorf("config: %w", cleanParseError(err))
	}
	return c, c.Validate()
}

// cleanParseError turns caarlos0/env's aggregate error into one line per variable.
func cleanParseError(err error) error {
	var agg env.AggregateError
	if errors.As(err, &agg) {
		msgs := make([]string, 0, len(agg.Errors))
		for _, e := range agg.Errors {
			var pe env.ParseError
			if errors.As(e, &pe) {
				if f, ok := reflect.TypeFor[Config]().FieldByName(pe.Name); ok {
					name, _, _ := strings.Cut(f.Tag.Get("env"), ",")
					msgs = append(msgs, fmt.Sprintf("%s: not a valid %s: %v", name, pe.Type, errors.Unwrap(pe.Err)))
					continue
				}
			}
			msgs = append(msgs, e.Error())
		}
		return errors.New(strings.Join(msgs, "; "))
	}
	return err
}

// Validate checks values that parse but make no sense. The returned error
// lists every problem, each naming its variable.
func (c *Config) Validate() error {
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		bad("ADDR", "want host:port, got %q", c.Addr)
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
				bad("TOKEN_API_KEYS", "every key must be at least 16 characters")
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
	if c.TokenTTL < 30*time.Second || c.TokenTTL > 24*time.Hour {
		bad("TOKEN_TTL", "want between 30s and 24h, got %s", c.TokenTTL)
	}
	if c.UploadAuth != "on" && c.UploadAuth != "off" {
		bad("UPLOAD_AUTH", "want on or off, got %q", c.UploadAuth)
	}
	if c.MaxBodyBytes < 1024 {
		bad("UPLOAD_MAX_BYTES", "want at least 1024, got %d", c.MaxBodyBytes)
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
	if c.DeadLetter == "" || strings.ContainsAny(c.DeadLetter, "$\x00") {
		bad("DEAD_LETTER_COLLECTION", "%q is not a valid collection name", c.DeadLetter)
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
	for k := range c.GuestSettings {
		if g, key, ok := strings.Cut(k, "."); !ok || g == "" || key == "" {
			bad("GUEST_SETTINGS", "%q: want guest.key:value", k)
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
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("config: %w", errors.Join(errs...))
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

// APIKeys returns the configured /token API keys without blanks.
func (c *Config) APIKeys() []string { return nonEmpty(c.TokenAPIKeys) }

// DevAudience is the aud of tokens when POWERSYNC_URL is not set (development
// only; Validate requires it otherwise): PowerSync's usual local URL.
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
		w = append(w, "POWERSYNC_URL is not set: development tokens use aud "+aud)
	}
	return append(w, c.ReadyWarnings()...)
}

// Pool is the number of warm instances per guest (GUEST_POOL, or the CPU
// count).
func (c *Config) Pool() int {
	if c.GuestPool == 0 {
		return runtime.NumCPU()
	}
	return c.GuestPool
}

// AllowedTables is the upload allow-list: UPLOAD_TABLES when set, else the
// collections with a schema (schema-first); nil (any valid name) when
// neither names a table.
func (c *Config) AllowedTables(withSchema []string) map[string]bool {
	allowed := c.Tables
	if len(allowed) == 0 {
		allowed = withSchema
	}
	if len(allowed) == 0 {
		return nil
	}
	tables := make(map[string]bool, len(allowed))
	for _, t := range allowed {
		tables[strings.TrimSpace(t)] = true
	}
	return tables
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
	b.WriteString("syncgate reads only these environment variables (`go tool task run` also loads `.env`).\n\n")
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
