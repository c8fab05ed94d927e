package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/syncgate/syncgate/docs"
	"github.com/syncgate/syncgate/host/auth"
	"github.com/syncgate/syncgate/host/config"
	"github.com/syncgate/syncgate/host/devdb"
	"github.com/syncgate/syncgate/host/sandbox"
	"github.com/syncgate/syncgate/host/schemas"
	"github.com/syncgate/syncgate/host/server"
	"github.com/syncgate/syncgate/host/store"
	"github.com/syncgate/syncgate/host/upload"
)

// devAudience is the aud of development tokens: PowerSync's usual local URL.
const devAudience = "http://localhost:8080"

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
	} else {
		priv, err := auth.ParseKey(cfg.PrivateKey)
		if err != nil {
			return nil, fmt.Errorf("POWERSYNC_PRIVATE_KEY: %w", err)
		}
		pub, err := auth.ParseKey(cfg.PublicKey)
		if err != nil {
			return nil, fmt.Errorf("POWERSYNC_PUBLIC_KEY: %w", err)
		}
		if signing, err = auth.Pair(priv, pub); err != nil {
			return nil, err
		}
	}
	var extra []*auth.Key
	for i, v := range cfg.PublicKeysExtra {
		if v == "" {
			continue
		}
		k, err := auth.ParseKey(v)
		if err != nil {
			return nil, fmt.Errorf("POWERSYNC_PUBLIC_KEYS_EXTRA[%d]: %w", i, err)
		}
		extra = append(extra, k)
	}
	return auth.NewKeys(signing, extra...)
}

// tokenAuth picks who may mint: dev only when chosen or in the zero-config
// development run; api-key by default when keys come from the environment.
func tokenAuth(cfg config.Config) (auth.TokenAuth, string) {
	mode := cfg.TokenAuth
	if mode == "" {
		mode = "api-key"
		if cfg.Dev() {
			mode = "dev"
		}
	}
	switch mode {
	case "api-key":
		return auth.NewAPIKeys(cfg.APIKeys()), mode
	case "jwks":
		return auth.NewUpstream(cfg.UpstreamJWKS, cfg.UpstreamIssuer, cfg.UpstreamAud, cfg.UpstreamClaim, nil), mode
	}
	return auth.Dev{}, "dev"
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
func connect(ctx context.Context, st *store.Mongo, state *readiness, log *slog.Logger) {
	wait := 200 * time.Millisecond
	for {
		mode, err := st.Detect(ctx)
		if err == nil {
			state.set(nil)
			log.Info("database connected", "write_mode", mode, "ferretdb", st.FerretDB())
			return
		}
		state.set(err)
		log.Warn("database not reachable; retrying", "in", wait, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(wait*2, 5*time.Second)
	}
}

func serve(ctx context.Context, env map[string]string, stderr io.Writer) error {
	cfg, err := config.Parse(env)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	var warnings []string

	keys, err := loadKeys(cfg, log)
	if err != nil {
		return err
	}
	audience := cfg.Audience
	if audience == "" {
		audience = devAudience
		log.Warn("POWERSYNC_URL is not set: development tokens use aud " + devAudience)
	}
	minter, err := auth.NewMinter(keys, audience, cfg.TokenIssuer, cfg.TokenTTL)
	if err != nil {
		return err
	}
	mintAuth, mode := tokenAuth(cfg)
	if mode == "dev" {
		w := "TOKEN_AUTH=dev: anyone can mint a token for any user_id; development only"
		log.Warn(w)
		warnings = append(warnings, w)
	}
	var uploadAuth upload.Authenticator = auth.NewVerifier(keys, audience)
	if cfg.UploadAuth == "off" {
		uploadAuth = nil
		w := "UPLOAD_AUTH=off: /upload accepts writes from anyone; local experiments only"
		log.Warn(w)
		warnings = append(warnings, w)
	}

	uri := cfg.MongoURI
	var ddb *devdb.DB
	if cfg.Embedded() {
		dir := filepath.Join(cfg.StateDir, "data")
		ddb, err = devdb.Start(dir, "127.0.0.1:0", slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelError})))
		if err != nil {
			return err
		}
		defer func() {
			cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := ddb.Close(cctx); err != nil {
				log.Error("embedded database close", "err", err)
			}
		}()
		uri = ddb.URI()
		log.Info("MONGO_URI is not set: using the embedded development database (FerretDB with SQLite)", "dir", ddb.Dir(), "uri", uri)
	}
	st, err := store.Open(uri, cfg.Database, store.Options{
		Timeout: cfg.DBTimeout, Chunk: cfg.WriteChunk, Concurrency: cfg.WriteConcurrency, DeadLetter: cfg.DeadLetter,
		AllOrNothing: cfg.Strict, TxnMaxOps: cfg.TxnMaxOps, TxnMaxBytes: cfg.TxnMaxBytes,
	})
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = st.Close(cctx)
	}()
	state := &readiness{err: errors.New("connecting")}
	connCtx, stopConnect := context.WithCancel(ctx)
	defer stopConnect()
	go connect(connCtx, st, state, log)

	holder := sandbox.NewReloadable(nil)
	srv := server.New(server.Config{Addr: cfg.Addr, ShutdownTimeout: cfg.ShutdownTimeout, ShutdownDrain: cfg.ShutdownDrain, Logger: log, Warnings: warnings,
		Details: func() map[string]any {
			return map[string]any{"token_auth": mode, "database": map[string]any{"embedded": cfg.Embedded(), "name": cfg.Database},
				"guests": describe(holder.Current())}
		}})
	srv.AddCheck(server.Check{Name: "database", Fn: func(ctx context.Context) error {
		if err := state.get(); err != nil {
			return err
		}
		return st.Ping(ctx)
	}})

	schemaTables, err := schemaFiles(cfg.SchemasDir)
	if err != nil {
		return err
	}
	conv := &converter{}
	if len(schemaTables) > 0 {
		set, err := schemas.Load(cfg.SchemasDir)
		if err != nil {
			return fmt.Errorf("SCHEMAS_DIR %s:\n%w", cfg.SchemasDir, err)
		}
		conv.set.Store(set)
	}
	allowed := cfg.Tables
	if len(allowed) == 0 {
		allowed = schemaTables // schema-first: only tables with a schema
	}
	var tables map[string]bool
	if len(allowed) > 0 {
		tables = map[string]bool{}
		for _, t := range allowed {
			tables[strings.TrimSpace(t)] = true
		}
	}

	durations, observe := guestDuration()
	deadlines, err := sandbox.ParseDeadlineMode(cfg.GuestDeadlines)
	if err != nil {
		return err
	}
	rt, err := sandbox.NewRuntime(ctx, sandbox.RuntimeConfig{
		CacheDir:  filepath.Join(cfg.StateDir, "wazero-cache"),
		Limits:    sandbox.Limits{MemoryMiB: cfg.GuestMemory, Timeout: cfg.GuestTimeout, MaxOutput: cfg.GuestOutput, TableEntries: uint32(cfg.GuestTable)},
		Output:    logWriter{log},
		Observe:   observe,
		Deadlines: deadlines,
	})
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		holder.Swap(cctx, nil)
		_ = rt.Close(cctx)
	}()
	srv.Registry().MustRegister(durations, newGuestCollector(holder))
	guests := &readiness{err: errors.New("loading")}
	srv.AddCheck(server.Check{Name: "guests", Fn: func(context.Context) error {
		if holder.Current() == nil {
			return guests.get()
		}
		return nil
	}})
	serveCtx, fail := context.WithCancelCause(ctx)
	watchDone := make(chan struct{})
	defer func() {
		fail(nil)
		<-watchDone // a load in progress must end before the runtime closes
	}()
	go func() {
		defer close(watchDone)
		watchGuests(serveCtx, cfg, rt, holder, conv, guests, log, fail)
	}()

	up := upload.New(upload.Config{
		Limits:       upload.Limits{MaxOps: cfg.MaxOps, MaxDepth: cfg.MaxDepth, MaxIDBytes: cfg.MaxIDBytes, Tables: tables},
		MaxBodyBytes: cfg.MaxBodyBytes, Strict: cfg.Strict, Converter: conv,
	}, st, holder, uploadAuth)
	ah := &auth.Handlers{Keys: keys, Minter: minter, Auth: mintAuth}
	srv.Handle("GET /jwks", ah.JWKS)
	srv.Handle("GET /.well-known/jwks.json", ah.JWKS)
	srv.Handle("GET /token", ah.Token)
	srv.Handle("POST /upload", up.ServeHTTP)
	srv.Handle("GET /openapi.yaml", func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Content-Type", "application/yaml")
		_, err := w.Write(docs.OpenAPI)
		return err
	})

	if err := srv.Listen(); err != nil {
		return err
	}
	log.Info("listening", "addr", srv.Addr(), "token_auth", mode, "upload_auth", cfg.UploadAuth, "routes", srv.Routes())
	if err := srv.Serve(serveCtx); err != nil {
		return err
	}
	if cause := context.Cause(serveCtx); cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	log.Info("stopped cleanly")
	return nil
}

// watchGuests loads the pipeline, then reloads it on SIGHUP or when guest
// or schema files change. A failed first load stops the server (fail); a
// failed reload keeps the old pipeline and logs why.
func watchGuests(ctx context.Context, cfg config.Config, rt *sandbox.Runtime, holder *sandbox.Reloadable, conv *converter, state *readiness, log *slog.Logger, fail context.CancelCauseFunc) {
	print := fingerprint(cfg)
	p, err := loadPipeline(ctx, cfg, rt, log)
	if err != nil {
		if ctx.Err() == nil {
			log.Error("guests failed to load", "err", err)
			state.set(err)
			fail(fmt.Errorf("guests: %w", err))
		}
		return
	}
	holder.Swap(ctx, p)
	// Compiling guests allocates tens of MiB that are garbage once the pools
	// are warm; hand them back to the OS now rather than when the scavenger
	// gets to it (measured: ready-state RSS 261 → see docs/benchmarks.md).
	debug.FreeOSMemory()
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
			now := fingerprint(cfg)
			if now == print {
				continue
			}
			print, why = now, "files changed"
		}
		log.Info("reloading guests and schemas", "why", why)
		var set *schemas.Set
		if tables, _ := schemaFiles(cfg.SchemasDir); len(tables) > 0 {
			if set, err = schemas.Load(cfg.SchemasDir); err != nil {
				log.Error("reload failed; the previous guests and schemas stay live", "err", err)
				continue
			}
		}
		p, err := loadPipeline(ctx, cfg, rt, log)
		if err != nil {
			log.Error("reload failed; the previous guests and schemas stay live", "err", err)
			continue
		}
		conv.set.Store(set)
		holder.Swap(ctx, p)
		debug.FreeOSMemory()
		log.Info("reloaded", "pipeline", describe(p))
	}
}
