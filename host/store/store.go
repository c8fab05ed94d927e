// Package store applies decoded write batches to MongoDB. It is the only
// product package that imports the MongoDB driver (the test-only stand-in
// tests/internal/mongostub uses the driver's bson package to speak the wire
// protocol).
//
// It owns the mapping from syncgate ops to MongoDB writes (PUT → replace with
// upsert, PATCH → $set, DELETE → delete, all by _id and so idempotent), the
// choice between one transaction per batch (replica set, mongos) and ordered
// bulk writes (FerretDB), and the classification of database errors into
// transient (the client retries) and permanent (one op is rejected). It must
// not decide what is valid input: that is upload's and the guests' job.
//
// One concern per file: store.go connects and detects the server; read.go
// reads (Current, Dump); plan.go builds a batch's write commands (pure
// functions, tested without a database in plan_test.go); apply.go runs them
// in order, in transactions where the server has them; conditional.go and
// doclock.go write the conflict policies' conditional ops (with FerretDB's
// document locks); errors.go classifies database errors; values.go converts
// values to and from BSON; deadletter.go is the dead-letter collection (its
// own type, DeadLetters); conflicts.go the conflict log; validators.go the
// collections' $jsonSchema validators.
package store

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"

	"github.com/syncgate/syncgate/host/syncgate"
)

// Options tunes a Mongo store. The zero value of a field picks the default
// for the detected server.
type Options struct {
	// Tracing makes an OpenTelemetry span of each database command whose
	// context carries a recording span (trace.go).
	Tracing bool
	// Timeout is the deadline of each database call.
	Timeout time.Duration
	// Chunk is the most replace/update statements per write command.
	// FerretDB v1 holds one connection per statement of an update command
	// until the command ends and wedges past its pool size, so the default
	// there is 16; elsewhere 1000.
	Chunk int
	// Concurrency bounds concurrent write commands; default 4 on FerretDB,
	// unbounded elsewhere.
	Concurrency int
	// DeadLetter is the collection that records rejected ops.
	DeadLetter string
	// Conflicts is the collection of conflicts settled by logging them;
	// default ConflictsCollection.
	Conflicts string
	// TxnMaxOps is the most ops in one transaction; a longer batch is
	// written as several transactions in order. Default 1000.
	TxnMaxOps int
	// TxnMaxBytes bounds the BSON size of one transaction's documents;
	// default 8 MiB.
	TxnMaxBytes int
}

// Transaction limits. MongoDB aborts a transaction that runs longer than
// transactionLifetimeLimitSeconds (60 s by default) and advises against
// transactions that modify more than 1000 documents (they hold locks and
// cache for their whole life); a batch past these is written as several
// transactions, each all-or-nothing, in order. Every op is idempotent, so a
// failure between two of them is a 503 whose resend converges.
const (
	DefaultTxnMaxOps   = 1000
	DefaultTxnMaxBytes = 8 << 20
	// MaxTxnTime bounds one transaction attempt, retries of transient
	// errors included, well under MongoDB's 60 s lifetime limit.
	MaxTxnTime = 50 * time.Second
)

// Mode is how a batch is applied.
type Mode string

// The write modes.
const (
	ModeTransaction Mode = "transaction" // replica set or mongos: one transaction per batch
	ModeOrdered     Mode = "ordered"     // standalone or FerretDB: ordered bulk writes
)

// Mongo is a MongoDB-backed store.
type Mongo struct {
	client   *mongo.Client
	db       *mongo.Database
	opts     Options
	detected atomic.Bool
	mode     atomic.Value // Mode
	ferret   atomic.Bool
	chunk    atomic.Int64
	sem      atomic.Pointer[chan struct{}]
	// deadLetters is the dead-letter collection (deadletter.go).
	deadLetters *DeadLetters
}

// Open creates a client for uri and database dbName. It does not wait for
// the server: call Detect (retrying) before serving.
func Open(uri, dbName string, o Options) (*Mongo, error) {
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.DeadLetter == "" {
		o.DeadLetter = "syncgate_rejected"
	}
	if o.TxnMaxOps <= 0 {
		o.TxnMaxOps = DefaultTxnMaxOps
	}
	if o.TxnMaxBytes <= 0 {
		o.TxnMaxBytes = DefaultTxnMaxBytes
	}
	co := options.Client().ApplyURI(uri).
		SetServerSelectionTimeout(o.Timeout).
		SetConnectTimeout(o.Timeout).
		SetTimeout(o.Timeout).
		SetAppName("syncgate")
	if o.Tracing {
		co.SetMonitor(commandSpans())
	}
	if err := co.Validate(); err != nil {
		return nil, fmt.Errorf("store: MONGO_URI: %w", err)
	}
	c, err := mongo.Connect(co)
	if err != nil {
		return nil, fmt.Errorf("store: connect: %w", err)
	}
	db := c.Database(dbName)
	m := &Mongo{client: c, db: db, opts: o,
		deadLetters: &DeadLetters{coll: db.Collection(o.DeadLetter), timeout: o.Timeout}}
	m.mode.Store(ModeOrdered)
	return m, nil
}

// Close disconnects the client.
func (m *Mongo) Close(ctx context.Context) error {
	return m.client.Disconnect(ctx)
}

// Ping checks that the primary answers.
func (m *Mongo) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, m.opts.Timeout)
	defer cancel()
	if err := m.client.Ping(ctx, readpref.Primary()); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	return nil
}

// Detect asks the server what it is and picks the write mode: a transaction
// per batch on a replica set or mongos, ordered bulk writes otherwise, and
// FerretDB's small update commands when the server is FerretDB.
func (m *Mongo) Detect(ctx context.Context) (Mode, error) {
	ctx, cancel := context.WithTimeout(ctx, m.opts.Timeout)
	defer cancel()
	admin := m.client.Database("admin")
	var hello struct {
		SetName string `bson:"setName"`
		Msg     string `bson:"msg"`
	}
	if err := admin.RunCommand(ctx, bson.D{{Key: "hello", Value: 1}}).Decode(&hello); err != nil {
		return "", fmt.Errorf("store: hello: %w", err)
	}
	var info bson.M
	if err := admin.RunCommand(ctx, bson.D{{Key: "buildInfo", Value: 1}}).Decode(&info); err != nil {
		return "", fmt.Errorf("store: buildInfo: %w", err)
	}
	_, ferret := info["ferretdbVersion"]
	mode := ModeOrdered
	if !ferret && (hello.SetName != "" || hello.Msg == "isdbgrid") {
		mode = ModeTransaction
	}
	chunk, conc := m.opts.Chunk, m.opts.Concurrency
	if chunk == 0 {
		chunk = 1000
		if ferret {
			chunk = 16
		}
	}
	if conc == 0 && ferret {
		conc = 4
	}
	if conc > 0 {
		sem := make(chan struct{}, conc)
		m.sem.Store(&sem)
	}
	m.chunk.Store(int64(chunk))
	m.ferret.Store(ferret)
	m.mode.Store(mode)
	m.detected.Store(true)
	return mode, nil
}

// Mode reports the write mode Detect chose.
func (m *Mongo) Mode() Mode { return m.mode.Load().(Mode) }

// FerretDB reports whether the server is FerretDB.
func (m *Mongo) FerretDB() bool { return m.ferret.Load() }

// ready refuses writes until Detect has chosen the write mode: writing to
// FerretDB with MongoDB's command sizes could wedge it.
func (m *Mongo) ready() error {
	if !m.detected.Load() {
		return &syncgate.Error{Kind: syncgate.Unavailable, Code: syncgate.CodeDatabaseUnavailable,
			Message: "the database is not connected yet; retry later"}
	}
	return nil
}

// acquire takes one of the concurrent write commands the store allows
// (FerretDB: WriteConcurrency), or none when unbounded.
func (m *Mongo) acquire(ctx context.Context, what string) (release func(), err error) {
	sem := m.sem.Load()
	if sem == nil {
		return func() {}, nil
	}
	select {
	case *sem <- struct{}{}:
		return func() { <-*sem }, nil
	case <-ctx.Done():
		return nil, classify(what, ctx.Err())
	}
}
