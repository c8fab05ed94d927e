// Package devdb runs the embedded development database: FerretDB v1 as a
// library with its SQLite backend, listening on a loopback port, data kept
// in a folder so it survives restarts.
//
// It is used when MONGO_URI is empty (task run, tests). It knows nothing of
// syncgate's collections and must not be used as a production store.
package devdb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"

	"github.com/FerretDB/FerretDB/ferretdb"
)

// ErrListen is Start's error when addr cannot be listened on.
var ErrListen = errors.New("devdb: cannot listen")

// DB is a running embedded FerretDB.
type DB struct {
	uri    string
	dir    string
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// Start starts FerretDB with its data in dir (created if missing), listening
// on addr ("127.0.0.1:0" picks a free port). logger receives FerretDB's own
// log records; nil discards them.
func Start(dir, addr string, logger *slog.Logger) (*DB, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("devdb: data folder %q: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("devdb: create data folder: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	// FerretDB listens in the background; a busy fixed port would surface
	// there as a hang or a panic. Asking first names the problem.
	if l, err := net.Listen("tcp", addr); err != nil {
		return nil, fmt.Errorf("%w on %s (is another syncgate or a MongoDB using it?): %w", ErrListen, addr, err)
	} else {
		l.Close()
	}
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: addr},
		Logger:    logger,
		Handler:   "sqlite",
		SQLiteURL: "file:" + abs + "/",
	})
	if err != nil {
		return nil, fmt.Errorf("devdb: start: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	db := &DB{uri: f.MongoDBURI(), dir: abs, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(db.done)
		_ = f.Run(ctx)
	}()
	return db, nil
}

// URI is the mongodb:// address clients connect to.
func (db *DB) URI() string { return db.uri }

// Dir is the absolute data folder.
func (db *DB) Dir() string { return db.dir }

// Close stops the listener and closes the SQLite files; it waits until
// FerretDB has finished or ctx ends.
func (db *DB) Close(ctx context.Context) error {
	db.once.Do(db.cancel)
	select {
	case <-db.done:
		return nil
	case <-ctx.Done():
		return errors.New("devdb: close: " + ctx.Err().Error())
	}
}
