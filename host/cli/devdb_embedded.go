//go:build !nodevdb

package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/syncgate/syncgate/host/config"
	"github.com/syncgate/syncgate/host/devdb"
)

// buildKind names this build in `syncgate version`: the default build
// embeds FerretDB with SQLite for running without MONGO_URI.
const buildKind = "embedded dev database"

// startDevDB starts the embedded development database in dir.
func startDevDB(dir, addr string, log *slog.Logger) (uri, where string, stop func(context.Context) error, err error) {
	db, err := devdb.Start(dir, addr, log)
	if errors.Is(err, devdb.ErrListen) {
		return "", "", nil, fmt.Errorf("DEV_DB_ADDR: %w; stop that process, or set DEV_DB_ADDR to another address (127.0.0.1:0 picks any free port)", err)
	}
	if err != nil {
		return "", "", nil, err
	}
	return db.URI(), db.Dir(), db.Close, nil
}

// needDatabase reports a configuration this build cannot serve: none.
func needDatabase(config.Config) error { return nil }
