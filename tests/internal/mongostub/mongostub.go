// Package mongostub is a MongoDB stand-in for tests and measurements: a small
// server that speaks the wire protocol (OP_MSG, and OP_QUERY for the driver's
// first handshake) on 127.0.0.1, answers the commands syncgate's store sends,
// records every command it receives and fails the ones a test asks it to.
//
// It exists because no mongod runs on the machines this project is built on,
// yet the store takes a different path on a replica set (one transaction per
// batch) than on the embedded FerretDB. It is a measuring instrument, never
// part of the product: it lives under tests/internal, so Go's internal rule
// lets only the packages under tests/ import it (the store's tests against
// it are in tests/store), and the compiler refuses it to everything else.
//
// What it models, and no more:
//   - hello/isMaster as a replica-set primary (SetName), a mongos (Mongos) or
//     a standalone; buildInfo as MongoDB 7.0 or as FerretDB (ferretdbVersion);
//   - insert, update (replacement, $set, $inc, $push; upsert), delete and find
//     with the filters {}, {_id: v} and {_id: {$in: [...]}}, the first two with
//     conditions on other fields (queries.go: equality, $eq, $ne, $exists,
//     $in, $nin and ranges compared as MongoDB does; what it cannot model is
//     refused), an update of several ids ({_id: {$in: [...]}}, multi)
//     applied to each in _id order, on documents kept in
//     memory by _id (or acknowledged and dropped, Config.Discard), with the
//     n/nModified/upserted counts MongoDB reports, ordered or unordered;
//   - multi-document transactions by lsid and txnNumber: writes go to the
//     transaction's own layer over the shared data (its reads see them and
//     fall through to the shared data: no snapshot isolation) and reach the
//     shared data only on commitTransaction, replayed in order; an
//     abortTransaction, a write error, or a connection closed
//     mid-transaction leaves the shared data untouched; a retried commit of
//     the last committed transaction succeeds, as on MongoDB;
//   - write conflicts: a transaction writing a document another open
//     transaction wrote gets WriteConflict (112, TransientTransactionError)
//     and is aborted; locks last until commit, abort, a new transaction or
//     endSessions on the session, or Config.TxnLifetime;
//   - retryable writes: the last write of a session (lsid) outside a
//     transaction answers its retry (same txnNumber) without running again;
//   - create/collMod/listCollections/drop (validators are recorded, not
//     enforced: Config.Refuse decides which statements fail), and
//     createIndexes/listIndexes (specifications kept and listed, never
//     enforced);
//   - cursors for finds that scan (cursors.go): batchSize and MongoDB's
//     16 MiB cap on a batch (the first: 101 documents by default), getMore
//     (leaving out documents deleted since the find: no snapshot),
//     killCursors; ping, endSessions;
//   - aggregate with $match, $skip, $limit and a $group counting or summing
//     (aggregate.go), with MongoDB's result types and grouping: what
//     CountDocuments and the dead letters' counts send.
//
// Faults (AddFault) answer a matching command with an error code and labels,
// with write errors, late, or by closing the connection, optionally after
// applying it (a commit whose answer was lost). _id values are compared by
// BSON type and bytes, so int32 1 and int64 1 are different ids here.
//
// Use, in a test or a benchmark:
//
//	s, err := mongostub.Start(mongostub.Config{SetName: "rs0"}) // Discard: true for client-side benchmarks
//	defer s.Close()
//	st, err := store.Open(s.URI(), "app", store.Options{})        // or mongo.Connect with s.URI()
//	f := s.AddFault(mongostub.Fault{Command: "commitTransaction", Times: 1, Close: true, AfterApply: true})
//	… s.Names(), s.Commands(false), s.Docs("app", "lists"), s.Fired(f)
//
// Files: mongostub.go the API (Config, Fault, Command, Server); wire.go the
// protocol; commands.go the dispatch, sessions and transactions;
// writes.go the reads and writes of documents; cursors.go batches; aggregate.go
// pipelines; conditions.go filters and
// update operators; memory.go the documents and transaction layers.
package mongostub

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Config describes the server to impersonate. The zero value is a
// standalone MongoDB 7.0 that keeps documents.
type Config struct {
	// SetName makes the server a replica-set primary of that set; empty is
	// a standalone (or a mongos with Mongos).
	SetName string
	// Hosts are the set's members in hello; default this server's address.
	// Give only addresses of this server: the driver connects to each.
	Hosts []string
	// Mongos answers hello as a mongos router (msg: isdbgrid).
	Mongos bool
	// FerretDB answers buildInfo with a ferretdbVersion, as FerretDB does.
	FerretDB bool
	// SessionTimeoutMinutes is hello's logicalSessionTimeoutMinutes; 0 is
	// 30, negative leaves it out (a server without sessions).
	SessionTimeoutMinutes int
	// MaxWireVersion defaults to 21 (MongoDB 7.0).
	MaxWireVersion int
	// TxnLifetime is how long an open transaction holds its documents
	// (MongoDB's transactionLifetimeLimitSeconds); default 60 s. One left
	// open by a lost connection blocks writers of its documents this long,
	// as on MongoDB, unless its session starts another or ends.
	TxnLifetime time.Duration
	// Discard acknowledges writes without keeping documents: every update
	// and delete statement counts as matching one document. For benchmarks
	// of the client side.
	Discard bool
	// Refuse, when set, is asked about every document a write statement
	// would store (insert, replacement, upsert, document after $set) and
	// about every document a delete would remove; a non-nil answer fails
	// that statement as a write error (e.g. code 11000 or 121).
	Refuse func(Statement) *WriteError
	// NoLog keeps no record of the commands (Commands returns none): a
	// benchmark's stand-in would otherwise hold every command it ever got.
	NoLog bool
}

// Statement is one write statement as Config.Refuse sees it.
type Statement struct {
	Command    string // insert, update or delete
	DB         string
	Collection string
	Doc        bson.Raw // the document as it would be stored (delete: as stored)
	InTxn      bool
}

// ID returns the statement's document _id as text (fmt of the decoded value).
func (s Statement) ID() string { return idText(s.Doc.Lookup("_id")) }

// WriteError is one statement's failure in a write command's answer.
type WriteError struct {
	Index   int // set by the server for Refuse answers
	Code    int
	Message string
}

// Fault is a planned failure. It matches a command by name (and collection
// when set); the first Skip matching commands pass, then it fires Times
// times (0: every time).
type Fault struct {
	Command    string // command name, e.g. "update", "commitTransaction"; empty: any command but hello/isMaster/buildInfo/ping
	Collection string // optional: only commands on this collection
	Skip       int
	Times      int

	// What it does, in this order of precedence:
	Close       bool         // close the connection without answering
	Code        int          // answer ok:0 with this code, CodeName, Message and Labels
	CodeName    string       // e.g. WriteConflict; default "Error<code>"
	Message     string       // errmsg; default names the fault
	Labels      []string     // errorLabels, e.g. TransientTransactionError
	WriteErrors []WriteError // answer ok:1 with these write errors (n 0) and Labels
	// Delay answers late (alone: a slow server).
	Delay time.Duration
	// AfterApply runs the command first, then fails it: a commit that took
	// effect but whose answer was lost.
	AfterApply bool

	seen, fired int
}

// Command is one command the server received.
type Command struct {
	Name string
	DB   string
	Body bson.Raw // the command document (section kind 0, or OP_QUERY's query)
	// Sequences are OP_MSG document sequences by identifier (documents,
	// updates, deletes).
	Sequences map[string][]bson.Raw
	Conn      int64
}

// Lookup finds a value of the body by its path of keys.
func (c Command) Lookup(key ...string) bson.RawValue { return c.Body.Lookup(key...) }

// Docs returns the command's documents for identifier (documents, updates,
// deletes), from its sequence or its body array.
func (c Command) Docs(identifier string) []bson.Raw {
	if s, ok := c.Sequences[identifier]; ok {
		return s
	}
	v, err := c.Body.LookupErr(identifier)
	if err != nil {
		return nil
	}
	arr, ok := v.ArrayOK()
	if !ok {
		return nil
	}
	vals, _ := arr.Values()
	out := make([]bson.Raw, 0, len(vals))
	for _, v := range vals {
		if d, ok := v.DocumentOK(); ok {
			out = append(out, d)
		}
	}
	return out
}

// Collection is the collection a command names (its first value).
func (c Command) Collection() string {
	v, ok := c.Body.Index(0).Value().StringValueOK()
	if !ok {
		return ""
	}
	return v
}

// TxnNumber reports the command's txnNumber, if it has one.
func (c Command) TxnNumber() (int64, bool) { return c.Body.Lookup("txnNumber").Int64OK() }

// LSID is the session id's bytes, or nil.
func (c Command) LSID() []byte {
	d, ok := c.Body.Lookup("lsid").DocumentOK()
	if !ok {
		return nil
	}
	_, b, ok := d.Lookup("id").BinaryOK()
	if !ok {
		return nil
	}
	return b
}

// Server is a running stand-in.
type Server struct {
	cfg  Config
	ln   net.Listener
	addr string

	mu        sync.Mutex
	data      store
	cmds      []Command
	faults    []*Fault
	txns      map[string]*txn
	committed map[string]int64 // last committed txnNumber by lsid
	retried   map[string]retry // last retryable write by lsid
	colls     map[string]*CollectionInfo
	conns     map[net.Conn]int64
	nextConn  int64
	conflicts int
	cursors   map[int64]*cursor     // open cursors by id (cursors.go)
	indexes   map[string][]bson.Raw // createIndexes' specifications by namespace (kept, not used)
	cursorID  int64
	closed    bool
	wg        sync.WaitGroup
}

// retry is a retryable write's answer, for its retry.
type retry struct {
	txnNumber int64
	reply     bson.Raw
}

// CollectionInfo is what create/collMod set on a collection.
type CollectionInfo struct {
	Validator        bson.Raw
	ValidationLevel  string
	ValidationAction string
}

// Start listens on 127.0.0.1 (a free port) and serves until Close.
func Start(cfg Config) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("mongostub: listen: %w", err)
	}
	if cfg.MaxWireVersion == 0 {
		cfg.MaxWireVersion = 21
	}
	if cfg.SessionTimeoutMinutes == 0 {
		cfg.SessionTimeoutMinutes = 30
	}
	if cfg.TxnLifetime == 0 {
		cfg.TxnLifetime = 60 * time.Second
	}
	s := &Server{cfg: cfg, ln: ln, addr: ln.Addr().String(), data: store{}, txns: map[string]*txn{}, cursors: map[int64]*cursor{},
		indexes: map[string][]bson.Raw{}, committed: map[string]int64{}, retried: map[string]retry{}, colls: map[string]*CollectionInfo{}, conns: map[net.Conn]int64{}}
	if len(s.cfg.Hosts) == 0 {
		s.cfg.Hosts = []string{s.addr}
	}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Addr is host:port.
func (s *Server) Addr() string { return s.addr }

// URI is a connection string for the driver: with replicaSet when the
// server is a set member, directConnection otherwise.
func (s *Server) URI() string {
	if s.cfg.SetName != "" {
		return "mongodb://" + s.addr + "/?replicaSet=" + s.cfg.SetName
	}
	return "mongodb://" + s.addr + "/?directConnection=true"
}

// Close stops listening, closes every connection and waits for them.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	err := s.ln.Close()
	s.wg.Wait()
	return err
}

// AddFault plans a failure; it applies to commands received from now on.
func (s *Server) AddFault(f Fault) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := &f
	s.faults = append(s.faults, p)
	return p
}

// ClearFaults removes every planned failure.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	s.faults = nil
	s.mu.Unlock()
}

// Fired reports how many times f has fired.
func (s *Server) Fired(f *Fault) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return f.fired
}

// monitorCommands are the driver's connection and monitoring chatter.
var monitorCommands = map[string]bool{"hello": true, "ismaster": true, "ping": true, "buildinfo": true}

// Commands returns the commands received so far, without the driver's
// monitoring (hello, isMaster, ping, buildInfo) unless all is true.
func (s *Server) Commands(all bool) []Command {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Command, 0, len(s.cmds))
	for _, c := range s.cmds {
		if all || !monitorCommands[strings.ToLower(c.Name)] {
			out = append(out, c)
		}
	}
	return out
}

// Names is the names of Commands(false), in order.
func (s *Server) Names() []string {
	var out []string
	for _, c := range s.Commands(false) {
		out = append(out, c.Name)
	}
	return out
}

// Reset forgets the recorded commands.
func (s *Server) Reset() {
	s.mu.Lock()
	s.cmds = nil
	s.mu.Unlock()
}

// Docs returns a collection's stored documents in insertion order.
func (s *Server) Docs(db, collection string) []bson.Raw {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.data.coll(db, collection, false)
	if c == nil {
		return nil
	}
	return c.all()
}

// Put stores doc (which must have an _id) directly, as if written earlier.
func (s *Server) Put(db, collection string, doc any) error {
	raw, err := bson.Marshal(doc)
	if err != nil {
		return err
	}
	id, err := bson.Raw(raw).LookupErr("_id")
	if err != nil {
		return errors.New("mongostub: Put: document has no _id")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.data.coll(db, collection, true).put(idKey(id), raw)
	return nil
}

// Collection returns what create/collMod last set on db.collection, or nil.
func (s *Server) Collection(db, collection string) *CollectionInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.colls[db+"."+collection]
}

// Conflicts counts the WriteConflicts answered so far.
func (s *Server) Conflicts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conflicts
}

// OpenTransactions counts transactions neither committed nor aborted.
func (s *Server) OpenTransactions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, t := range s.txns {
		if t.open(s.cfg.TxnLifetime) {
			n++
		}
	}
	return n
}
