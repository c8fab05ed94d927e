package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"time"

	"github.com/syncgate/syncgate/host/config"
	"github.com/syncgate/syncgate/host/server"
	"github.com/syncgate/syncgate/host/store"
)

// runningDevDB reports the embedded database a server already runs at
// DEV_DB_ADDR: a command beside `go tool task run` uses it rather than
// starting its own (which could not listen there).
func runningDevDB(cfg config.Config) (uri string, ok bool) {
	if !cfg.Embedded() {
		return "", false
	}
	host, port, err := net.SplitHostPort(cfg.DevDBAddr)
	if err != nil || port == "0" {
		return "", false
	}
	c, err := net.DialTimeout("tcp", cfg.DevDBAddr, 500*time.Millisecond)
	if err != nil {
		return "", false
	}
	c.Close()
	return "mongodb://" + net.JoinHostPort(host, port) + "/", true
}

// openCommandStore opens the database for a command (not the server):
// MONGO_URI, else the embedded database running at DEV_DB_ADDR, else an
// embedded one of its own.
func openCommandStore(cfg config.Config, log *slog.Logger, stderr io.Writer) (st *store.Mongo, uri string, closeStore func(), err error) {
	if uri, ok := runningDevDB(cfg); ok {
		announceRunningDevDB(cfg, stderr)
		cfg.MongoURI = uri
	}
	return openStore(cfg, log, stderr)
}

// commandURI is the database a command (not the server) uses, as
// openCommandStore chooses it; closeDB stops an embedded one it started.
func commandURI(cfg config.Config, log *slog.Logger, stderr io.Writer) (uri string, closeDB func(), err error) {
	if uri, ok := runningDevDB(cfg); ok {
		announceRunningDevDB(cfg, stderr)
		return uri, func() {}, nil
	}
	return databaseURI(cfg, log, stderr)
}

func announceRunningDevDB(cfg config.Config, stderr io.Writer) {
	fmt.Fprintf(stderr, "syncgate: MONGO_URI is not set: using the embedded database already running at DEV_DB_ADDR %s (a syncgate server's)\n", cfg.DevDBAddr)
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

// connect waits for the database (store.WaitReady), keeping cond (a /readyz
// check) up to date, then makes the dead-letter indexes.
func connect(ctx context.Context, cfg config.Config, st *store.Mongo, cond *server.Condition, log *slog.Logger) {
	mode, err := st.WaitReady(ctx, func(err error, retryIn time.Duration) {
		cond.Set(err)
		log.Warn("database not reachable; retrying", "in", retryIn, "err", err)
	})
	if err != nil {
		return // stopping (a failed start included): nothing to report
	}
	cond.Set(nil)
	log.Info("database connected", "write_mode", mode, "ferretdb", st.FerretDB())
	// The rejected-ops queries (CLI, admin console) need these; a failure
	// only makes them slower, so it does not stop serving.
	if err := st.DeadLetters().EnsureIndexes(ctx); err != nil {
		log.Warn("dead-letter indexes not created", "collection", cfg.DeadLetter, "err", err)
	}
}

// commandDatabase is what a command that reads or writes the database
// does first: the configuration parsed, the database required, the store
// opened (beside a running development server when there is one) and its
// kind detected. what names the command in errors; the log shows warnings
// only. closeStore closes it.
func commandDatabase(ctx context.Context, env map[string]string, what string, stderr io.Writer) (cfg config.Config, st *store.Mongo, closeStore func(), err error) {
	if cfg, err = config.Parse(env); err != nil {
		return cfg, nil, nil, err
	}
	if err := needDatabase(cfg); err != nil {
		return cfg, nil, nil, err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	st, _, closeStore, err = openCommandStore(cfg, log, stderr)
	if err != nil {
		return cfg, nil, nil, err
	}
	if _, err := st.Detect(ctx); err != nil {
		closeStore()
		return cfg, nil, nil, fmt.Errorf("%s: database: %w", what, err)
	}
	return cfg, st, closeStore, nil
}
