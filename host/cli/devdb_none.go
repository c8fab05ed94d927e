//go:build nodevdb

package cli

import (
	"context"
	"errors"
	"log/slog"

	"github.com/syncgate/syncgate/host/config"
)

// buildKind names this build in `syncgate version`: built with -tags
// nodevdb, it leaves the embedded FerretDB/SQLite out (production images).
const buildKind = "nodevdb: MONGO_URI required"

var errNoDevDB = errors.New("MONGO_URI is not set, and this build (-tags nodevdb) has no embedded development database: set MONGO_URI to a mongodb:// or mongodb+srv:// URI")

func startDevDB(string, string, *slog.Logger) (uri, where string, stop func(context.Context) error, err error) {
	return "", "", nil, errNoDevDB
}

// needDatabase refuses to start without MONGO_URI, before anything else
// (development keys included) is set up.
func needDatabase(cfg config.Config) error {
	if cfg.Embedded() {
		return errNoDevDB
	}
	return nil
}
