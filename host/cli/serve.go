package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/syncgate/syncgate/docs"
	"github.com/syncgate/syncgate/host/auth"
	"github.com/syncgate/syncgate/host/batch"
	"github.com/syncgate/syncgate/host/config"
	"github.com/syncgate/syncgate/host/live"
	"github.com/syncgate/syncgate/host/sandbox"
	"github.com/syncgate/syncgate/host/server"
	"github.com/syncgate/syncgate/host/store"
	"github.com/syncgate/syncgate/host/upload"
)

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// loadKeys builds the key set from the environment, or development keys.
func loadKeys(cfg config.Config, log *slog.Logger) (*auth.Keys, error) {
	var signing *auth.Key
	if cfg.Dev() {
		k, err := devKeys(cfg.StateDir, log)
		if err != nil {
			return nil, err
		}
		signing = k
	}
	envSigning, extra, errs := parseKeys(cfg)
	if len(errs) > 0 {
		return nil, fmt.Errorf("config: %w", errors.Join(errs...))
	}
	if signing == nil {
		signing = envSigning
	}
	return auth.NewKeys(signing, extra...)
}

// keyHint ends every message about a key that does not parse.
const keyHint = "; make a pair with: ./bin/syncgate keys generate"

// parseKeys parses the keys the environment names, reporting every problem
// (not only the first), so start-up lists them with config.Parse's. A
// private key among POWERSYNC_PUBLIC_KEYS_EXTRA is refused: /jwks would
// publish only its public half, but a secret has no place in a variable
// meant for public keys.
func parseKeys(cfg config.Config) (signing *auth.Key, extra []*auth.Key, errs []error) {
	if !cfg.Dev() && cfg.PublicKey != "" && cfg.PrivateKey != "" {
		priv, perr := auth.ParseKey(cfg.PrivateKey)
		if perr != nil {
			errs = append(errs, fmt.Errorf("POWERSYNC_PRIVATE_KEY: %w%s", perr, keyHint))
		}
		pub, err := auth.ParseKey(cfg.PublicKey)
		if err != nil {
			errs = append(errs, fmt.Errorf("POWERSYNC_PUBLIC_KEY: %w%s", err, keyHint))
		}
		if perr == nil && err == nil {
			if signing, err = auth.Pair(priv, pub); err != nil {
				errs = append(errs, fmt.Errorf("POWERSYNC_PRIVATE_KEY/POWERSYNC_PUBLIC_KEY: %w", err))
			}
		}
	}
	for i, v := range cfg.PublicKeysExtra {
		if strings.TrimSpace(v) == "" {
			continue
		}
		k, err := auth.ParseKey(v)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("POWERSYNC_PUBLIC_KEYS_EXTRA[%d]: %w%s", i, err, keyHint))
		case k.Private != nil:
			errs = append(errs, fmt.Errorf("POWERSYNC_PUBLIC_KEYS_EXTRA[%d]: this is a private key (kid %q); put only the public key (the POWERSYNC_PUBLIC_KEY line of ./bin/syncgate keys generate) here, and keep the private one secret", i, k.KID))
		default:
			extra = append(extra, k)
		}
	}
	return signing, extra, errs
}

// configure reads the configuration and the keys it names, and reports
// every problem of both at once, one per line.
func configure(env map[string]string) (config.Config, error) {
	cfg, err := config.Parse(env)
	_, _, keyErrs := parseKeys(cfg)
	var lines []string
	var problems interface{ Unwrap() []error }
	switch {
	case errors.As(err, &problems): // config.Parse joins its problems
		for _, e := range problems.Unwrap() {
			lines = append(lines, e.Error())
		}
	case err != nil:
		lines = append(lines, err.Error())
	}
	for _, e := range keyErrs {
		lines = append(lines, e.Error())
	}
	switch len(lines) {
	case 0:
		return cfg, nil
	case 1:
		return cfg, fmt.Errorf("config: %s", lines[0])
	}
	return cfg, fmt.Errorf("config: %d problems:\n  %s", len(lines), strings.Join(lines, "\n  "))
}

// tokenAuth builds the /token authoriser for cfg.TokenMode().
func tokenAuth(cfg config.Config) auth.TokenAuth {
	switch cfg.TokenMode() {
	case "api-key":
		return auth.NewAPIKeys(cfg.APIKeys())
	case "jwks":
		return auth.NewUpstream(cfg.UpstreamJWKS, cfg.UpstreamIssuer, cfg.UpstreamAud, cfg.UpstreamClaim, nil)
	}
	return auth.Dev{}
}

// readiness is one /readyz condition that a background task updates: nil
// when ready, else why not.
type readiness struct {
	mu  sync.Mutex
	err error
}

func (r *readiness) set(err error) {
	r.mu.Lock()
	r.err = err
	r.mu.Unlock()
}

func (r *readiness) get() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// connect detects the server with exponential backoff until it answers or
// ctx ends, so start-up never hangs on a database that is down.
func connect(ctx context.Context, cfg config.Config, st *store.Mongo, state *readiness, log *slog.Logger) {
	wait := 200 * time.Millisecond
	for {
		mode, err := st.Detect(ctx)
		if err == nil {
			state.set(nil)
			log.Info("database connected", "write_mode", mode, "ferretdb", st.FerretDB())
			// The rejected-ops queries (CLI, admin console) need these; a
			// failure only makes them slower, so it does not stop serving.
			if err := st.DeadLetters().EnsureIndexes(ctx); err != nil {
				log.Warn("dead-letter indexes not created", "collection", cfg.DeadLetter, "err", err)
			}
			return
		}
		state.set(err)
		if ctx.Err() != nil { // start-up failed or the server stops: nothing to retry
			return
		}
		log.Warn("database not reachable; retrying", "in", wait, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(wait*2, 5*time.Second)
	}
}

func serve(ctx context.Context, env map[string]string, dotenv string, stderr io.Writer) error {
	cfg, err := configure(env)
	if err != nil {
		return err
	}
	if err := needDatabase(cfg); err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	if dotenv != "" {
		log.Info(dotenv)
	}
	for _, w := range cfg.Warnings() {
		log.Warn(w)
	}
	keys, err := loadKeys(cfg, log)
	if err != nil {
		return err
	}
	audience, _ := cfg.TokenAudience()
	minter, err := auth.NewMinter(keys, audience, cfg.TokenIssuer, cfg.TokenTTL)
	if err != nil {
		return err
	}
	var uploadAuth upload.Authenticator // nil: UPLOAD_AUTH=off
	if cfg.UploadAuthRequired() {
		uploadAuth = auth.NewVerifier(keys, audience)
	}

	tracer, stopTracing, err := tracing(ctx, cfg)
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = stopTracing(cctx)
	}()
	st, devURI, closeStore, err := openStore(cfg, log, stderr)
	if err != nil {
		return err
	}
	defer closeStore()
	state := &readiness{err: errors.New("connecting")}
	connCtx, stopConnect := context.WithCancel(ctx)
	defer stopConnect()
	go connect(connCtx, cfg, st, state, log)

	durations, observe := guestDuration()
	rt, err := newRuntime(ctx, cfg, logWriter{log}, observe)
	if err != nil {
		return err
	}
	rules := live.New(cfg, rt)
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		rules.Close(cctx)
		_ = rt.Close(cctx)
	}()

	database := map[string]any{"embedded": cfg.Embedded(), "name": cfg.Database}
	if cfg.Embedded() {
		database["uri"] = devURI // for mongosh or MongoDB Compass; a real MONGO_URI may hold a password
	}
	srv := server.New(server.Config{Addr: cfg.Addr, ShutdownTimeout: cfg.ShutdownTimeout, ShutdownDrain: cfg.ShutdownDrain, Logger: log,
		Details: func() map[string]any {
			d := map[string]any{"token_auth": cfg.TokenMode(), "database": database,
				"guests": rules.Current().Describe(), "reload": reloadDetails(rules.Status())}
			// Warnings: the static ones and those of the live set's tables
			// (settings that have no effect with these schemas).
			if w := append(cfg.ReadyWarnings(), rules.Current().Warnings()...); len(w) > 0 {
				d["warnings"] = w
			}
			return d
		}})
	srv.AddCheck(server.Check{Name: "database", Fn: func(ctx context.Context) error {
		if err := state.get(); err != nil {
			return err
		}
		return st.Ping(ctx)
	}})
	srv.AddCheck(server.Check{Name: "guests", Fn: func(context.Context) error { return reloadHealth(rules.Status()) }})
	srv.Registry().MustRegister(durations, newGuestCollector(rules), newReloadCollector(rules))
	stages, observeStage := stageDuration()
	srv.Registry().MustRegister(stages)
	writes := batch.New(batch.Config{Strict: cfg.Strict, Observer: observeStage}, st)
	up := upload.New(upload.Config{
		Limits:       upload.Limits{MaxOps: cfg.MaxOps, MaxDepth: cfg.MaxDepth, MaxIDBytes: cfg.MaxIDBytes},
		MaxBodyBytes: cfg.MaxBodyBytes, Tracer: tracer,
	}, writes, func() (batch.Rules, func(), error) { return rules.Acquire() }, uploadAuth)
	ah := &auth.Handlers{Keys: keys, Minter: minter, Auth: tokenAuth(cfg)}
	srv.Handle("GET /jwks", ah.JWKS)
	srv.Handle("GET /.well-known/jwks.json", ah.JWKS)
	srv.Handle("GET /token", ah.Token)
	srv.Handle("POST /upload", up.ServeHTTPReturn)
	srv.Handle("GET /openapi.yaml", openAPI)
	closeAttachments, err := serveAttachments(cfg, devURI, auth.NewVerifier(keys, audience), srv)
	if err != nil {
		return err
	}
	defer closeAttachments()
	if keys := cfg.AdminKeys(); len(keys) > 0 {
		console, err := newConsole(cfg, keys, st, rules, srv)
		if err != nil {
			return err
		}
		for _, rt := range console.Routes() {
			srv.Handle(rt.Pattern, rt.Handler)
		}
		log.Warn("ADMIN CONSOLE enabled at /admin/: anyone with an ADMIN_API_KEYS key can read rejected writes and replay them; serve it over TLS only")
	}

	if err := srv.Listen(); err != nil {
		return err
	}
	serveCtx, fail := context.WithCancelCause(ctx)
	watchDone := make(chan struct{})
	defer func() {
		fail(nil)
		<-watchDone // a reload in progress must end before the runtime closes
	}()
	go func() {
		defer close(watchDone)
		watch(serveCtx, cfg, rules, log, fail)
	}()
	log.Info("listening", "addr", srv.Addr(), "token_auth", cfg.TokenMode(), "upload_auth", cfg.UploadAuth, "routes", srv.Routes())
	if err := srv.Serve(serveCtx); err != nil {
		return err
	}
	if cause := context.Cause(serveCtx); cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	log.Info("stopped cleanly")
	return nil
}

func openAPI(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/yaml")
	_, err := w.Write(docs.OpenAPI)
	return err
}

// newRuntime is the guests' wazero runtime with cfg's limits.
func newRuntime(ctx context.Context, cfg config.Config, output io.Writer, observe func(string, time.Duration)) (*sandbox.Runtime, error) {
	deadlines, err := sandbox.ParseDeadlineMode(cfg.GuestDeadlines)
	if err != nil {
		return nil, err
	}
	return sandbox.NewRuntime(ctx, sandbox.RuntimeConfig{
		CacheDir:  filepath.Join(cfg.StateDir, "wazero-cache"),
		Limits:    sandbox.Limits{MemoryMiB: cfg.GuestMemory, Timeout: cfg.GuestTimeout, MaxOutput: cfg.GuestOutput, TableEntries: uint32(cfg.GuestTable)},
		Output:    output,
		Observe:   observe,
		Deadlines: deadlines,
	})
}

// openStore opens the database (the embedded one when MONGO_URI is not
// set); closeStore closes both.
func openStore(cfg config.Config, log *slog.Logger, stderr io.Writer) (st *store.Mongo, uri string, closeStore func(), err error) {
	uri, closeDB, err := databaseURI(cfg, log, stderr)
	if err != nil {
		return nil, "", nil, err
	}
	st, err = store.Open(uri, cfg.Database, store.Options{
		Timeout: cfg.DBTimeout, Chunk: cfg.WriteChunk, Concurrency: cfg.WriteConcurrency, DeadLetter: cfg.DeadLetter,
		Conflicts: cfg.Conflicts, TxnMaxOps: cfg.TxnMaxOps, TxnMaxBytes: cfg.TxnMaxBytes, Tracing: cfg.OTelEndpoint != "",
	})
	if err != nil {
		closeDB()
		return nil, "", nil, err
	}
	return st, uri, func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = st.Close(cctx)
		closeDB()
	}, nil
}

// databaseURI is MONGO_URI, or the embedded development database's URI when
// it is not set; closeDB stops that database.
func databaseURI(cfg config.Config, log *slog.Logger, stderr io.Writer) (uri string, closeDB func(), err error) {
	if !cfg.Embedded() {
		return cfg.MongoURI, func() {}, nil
	}
	uri, where, stop, err := startDevDB(filepath.Join(cfg.StateDir, "data"), cfg.DevDBAddr, slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelError})))
	if err != nil {
		return "", nil, err
	}
	log.Info("MONGO_URI is not set: using the embedded development database (FerretDB with SQLite); connect mongosh or MongoDB Compass to "+uri+" (database "+cfg.Database+")", "dir", where, "uri", uri)
	return uri, func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := stop(cctx); err != nil {
			log.Error("embedded database close", "err", err)
		}
	}, nil
}

// watch makes the first reload (start-up), then reloads on SIGHUP or when
// guest or schema files change. A failed first load stops the server
// (fail); a failed reload keeps the live set and says why in the log, on
// /readyz and in metrics.
func watch(ctx context.Context, cfg config.Config, rules *live.Reloader, log *slog.Logger, fail context.CancelCauseFunc) {
	last := live.Fingerprint(cfg)
	start := time.Now()
	log.Info("loading guests and schemas (guests are compiled once per build; the first start takes seconds)", "pool", cfg.Pool())
	r, err := rules.Reload(ctx)
	if err != nil {
		if ctx.Err() == nil {
			log.Error("guests failed to load", "err", err)
			fail(fmt.Errorf("guests: %w", err))
		}
		return
	}
	log.Info("guests loaded", "pipeline", r.Describe(), "pool", cfg.Pool(), "took", time.Since(start).Round(time.Millisecond))
	for _, w := range r.Warnings() {
		log.Warn(w)
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	var tick <-chan time.Time
	if cfg.ReloadPoll > 0 {
		t := time.NewTicker(cfg.ReloadPoll)
		defer t.Stop()
		tick = t.C
	}
	for {
		why := ""
		select {
		case <-ctx.Done():
			return
		case <-hup:
			why = "SIGHUP"
		case <-tick:
			now := live.Fingerprint(cfg)
			if now == last {
				continue
			}
			last, why = now, "files changed"
		}
		log.Info("reloading guests and schemas", "why", why)
		r, err := rules.Reload(ctx)
		if err != nil {
			if ctx.Err() == nil {
				log.Error("reload failed; the previous guests and schemas stay live", "err", err)
			}
			continue
		}
		log.Info("reloaded", "pipeline", r.Describe(), "tables", slices.Sorted(maps.Keys(r.Tables())))
		for _, w := range r.Warnings() {
			log.Warn(w)
		}
	}
}
