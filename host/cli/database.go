package cli

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/syncgate/syncgate/host/config"
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
		fmt.Fprintf(stderr, "syncgate: MONGO_URI is not set: using the embedded database already running at DEV_DB_ADDR %s (a syncgate server's)\n", cfg.DevDBAddr)
		cfg.MongoURI = uri
	}
	return openStore(cfg, log, stderr)
}
