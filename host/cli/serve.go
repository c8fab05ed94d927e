package cli

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/syncgate/syncgate/host/auth"
	"github.com/syncgate/syncgate/host/batch"
	"github.com/syncgate/syncgate/host/live"
	"github.com/syncgate/syncgate/host/server"
	"github.com/syncgate/syncgate/host/upload"
)

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
	keys, devWarning, err := keySource(cfg).Load()
	if err != nil {
		return err
	}
	if devWarning != "" {
		log.Warn(devWarning)
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
	dbState := server.NewCondition(errors.New("connecting"))
	connCtx, stopConnect := context.WithCancel(ctx)
	defer stopConnect()
	go connect(connCtx, cfg, st, dbState, log)

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
		if err := dbState.Err(); err != nil {
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
	ta, err := tokenAuth(cfg)
	if err != nil {
		return err
	}
	ah := &auth.Handlers{Keys: keys, Minter: minter, Auth: ta}
	if coll := cfg.UserDataColl; coll != "" {
		ah.UserData = func(ctx context.Context, userID string) (map[string]any, error) {
			return st.UserData(ctx, coll, cfg.UserDataField, userID)
		}
		log.Info("custom user data: tokens embed the user's document of USER_DATA_COLLECTION as custom_data", "collection", coll, "field", cfg.UserDataField, "clients_may_write", cfg.UserDataRefused() == "")
	}
	srv.Handle("GET /jwks", ah.JWKS)
	srv.Handle("GET /.well-known/jwks.json", ah.JWKS)
	srv.Handle("GET /token", ah.Token)
	srv.Handle("POST /token", ah.Token)
	srv.Handle("POST /upload", up.ServeHTTPReturn)
	srv.Handle("GET /openapi.yaml", openAPI)
	files, closeAttachments, err := serveAttachments(cfg, devURI, auth.NewVerifier(keys, audience), srv, liveWriteRules(rules))
	if err != nil {
		return err
	}
	defer closeAttachments()
	if keys := cfg.AdminKeys(); len(keys) > 0 {
		console, err := newConsole(cfg, keys, st, rules, srv, files)
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
	triggers := sighup(serveCtx)
	go func() {
		defer close(watchDone)
		err := rules.Watch(serveCtx, live.WatchConfig{Poll: cfg.ReloadPoll, Dirs: []string{cfg.GuestsDir, cfg.SchemasDir, cfg.RulesDir, cfg.SyncConfig},
			Triggers: triggers, Report: reportReload(log, cfg.Pool())})
		if err != nil {
			fail(err)
		}
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
