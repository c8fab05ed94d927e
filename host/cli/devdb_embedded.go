//go:build !nodevdb

package cli

import (
	"context"
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
	if err != nil {
		return "", "", nil, err
	}
	return db.URI(), db.Dir(), db.Close, nil
}

// needDatabase reports a configuration this build cannot serve: none.
func needDatabase(config.Config) error { return nil }
