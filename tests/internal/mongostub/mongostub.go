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
//     conditions on other fields (conditions.go), on documents kept in
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
//     enforced: Config.Refuse decides which statements fail);
//   - ping, endSessions, killCursors, getMore (empty).
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
package mongostub

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
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

type txn struct {
	// view holds the transaction's own writes per collection, over the
	// shared data: reads fall through to it (no snapshot isolation).
	view    store
	writes  []Command
	aborted bool
	lsid    string
	started time.Time
	// locks are the documents it wrote (db, collection, id key): another
	// open transaction writing one of them gets a WriteConflict.
	locks map[string]bool
}

// open reports whether t still holds its locks: not aborted, and younger
// than the transaction lifetime.
func (t *txn) open(lifetime time.Duration) bool {
	return !t.aborted && time.Since(t.started) < lifetime
}

// colls finds (or, create, makes) a collection for a command.
type colls func(db, name string, create bool) *coll

// over is the transaction's collection lookup: its own layer over base.
func (t *txn) over(base store) colls {
	return func(db, name string, create bool) *coll {
		if c := t.view.coll(db, name, false); c != nil {
			return c
		}
		p := base.coll(db, name, false)
		if p == nil && !create {
			return nil
		}
		if t.view[db] == nil {
			t.view[db] = map[string]*coll{}
		}
		c := &coll{docs: map[string]bson.Raw{}, parent: p, deleted: map[string]bool{}}
		t.view[db][name] = c
		return c
	}
}

// store is db → collection.
type store map[string]map[string]*coll

// coll is one collection's documents by id key, in insertion order; a
// transaction's layer also has the collection under it (parent) and the ids
// it deleted from there.
type coll struct {
	keys    []string // insertion order; may hold removed or repeated keys (see all)
	holes   int
	docs    map[string]bson.Raw
	parent  *coll
	deleted map[string]bool
}

func (s store) coll(db, name string, create bool) *coll {
	if s[db] == nil {
		if !create {
			return nil
		}
		s[db] = map[string]*coll{}
	}
	c := s[db][name]
	if c == nil && create {
		c = &coll{docs: map[string]bson.Raw{}}
		s[db][name] = c
	}
	return c
}

func (c *coll) get(key string) (bson.Raw, bool) {
	if d, ok := c.docs[key]; ok {
		return d, true
	}
	if c.parent != nil && !c.deleted[key] {
		return c.parent.get(key)
	}
	return nil, false
}

func (c *coll) put(key string, doc bson.Raw) {
	if _, ok := c.docs[key]; !ok {
		c.keys = append(c.keys, key)
	}
	c.docs[key] = doc
	delete(c.deleted, key)
}

func (c *coll) remove(key string) {
	if c.parent != nil {
		c.deleted[key] = true
	}
	if _, ok := c.docs[key]; !ok {
		return
	}
	delete(c.docs, key)
	// Removed keys stay in keys until they are half of it: a delete costs
	// O(1), not a scan.
	c.holes++
	if c.holes > len(c.keys)/2 {
		kept := c.keys[:0]
		seen := map[string]bool{}
		for _, k := range c.keys {
			if _, ok := c.docs[k]; ok && !seen[k] {
				seen[k] = true
				kept = append(kept, k)
			}
		}
		c.keys, c.holes = kept, 0
	}
}

// all returns the documents in insertion order (the parent's first).
func (c *coll) all() []bson.Raw {
	var out []bson.Raw
	seen := map[string]bool{}
	if c.parent != nil {
		for _, k := range c.parent.keys {
			if d, ok := c.get(k); ok && !seen[k] {
				seen[k] = true
				out = append(out, d)
			}
		}
	}
	for _, k := range c.keys {
		if d, ok := c.docs[k]; ok && !seen[k] {
			seen[k] = true
			out = append(out, d)
		}
	}
	return out
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
	s := &Server{cfg: cfg, ln: ln, addr: ln.Addr().String(), data: store{}, txns: map[string]*txn{},
		committed: map[string]int64{}, retried: map[string]retry{}, colls: map[string]*CollectionInfo{}, conns: map[net.Conn]int64{}}
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

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.nextConn++
		id := s.nextConn
		s.conns[c] = id
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serveConn(c, id)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
			c.Close()
		}()
	}
}

// Wire protocol op codes.
const (
	opReply = 1
	opQuery = 2004
	opMsg   = 2013
)

const maxMessage = 48_000_000

func (s *Server) serveConn(c net.Conn, conn int64) {
	r := bufio.NewReader(c)
	var reqID int32
	for {
		var hdr [16]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return
		}
		size := int32(binary.LittleEndian.Uint32(hdr[0:]))
		reqID++
		requestID := int32(binary.LittleEndian.Uint32(hdr[4:]))
		opCode := int32(binary.LittleEndian.Uint32(hdr[12:]))
		if size < 16 || size > maxMessage {
			return
		}
		body := make([]byte, size-16)
		if _, err := io.ReadFull(r, body); err != nil {
			return
		}
		var cmd Command
		var err error
		var moreToCome bool
		switch opCode {
		case opMsg:
			cmd, moreToCome, err = parseMsg(body)
		case opQuery:
			cmd, err = parseQuery(body)
		default:
			err = fmt.Errorf("op code %d not supported", opCode)
		}
		if err != nil {
			return // a protocol error: drop the connection, as mongod does
		}
		cmd.Conn = conn
		reply, closeConn := s.handle(cmd)
		if closeConn {
			return
		}
		if moreToCome {
			continue
		}
		var out []byte
		if opCode == opQuery {
			out = replyMessage(reqID, requestID, reply)
		} else {
			out = msgMessage(reqID, requestID, reply)
		}
		if _, err := c.Write(out); err != nil {
			return
		}
	}
}

func parseMsg(b []byte) (Command, bool, error) {
	if len(b) < 5 {
		return Command{}, false, errors.New("short OP_MSG")
	}
	flags := binary.LittleEndian.Uint32(b)
	b = b[4:]
	if flags&1 != 0 { // checksumPresent
		if len(b) < 4 {
			return Command{}, false, errors.New("short OP_MSG checksum")
		}
		b = b[:len(b)-4]
	}
	var cmd Command
	for len(b) > 0 {
		kind := b[0]
		b = b[1:]
		switch kind {
		case 0:
			doc, rest, err := readDoc(b)
			if err != nil {
				return Command{}, false, err
			}
			cmd.Body, b = doc, rest
		case 1:
			if len(b) < 4 {
				return Command{}, false, errors.New("short document sequence")
			}
			n := int(binary.LittleEndian.Uint32(b))
			if n < 4 || n > len(b) {
				return Command{}, false, errors.New("bad document sequence size")
			}
			seq := b[4:n]
			b = b[n:]
			i := indexByte(seq, 0)
			if i < 0 {
				return Command{}, false, errors.New("bad sequence identifier")
			}
			ident := string(seq[:i])
			seq = seq[i+1:]
			if cmd.Sequences == nil {
				cmd.Sequences = map[string][]bson.Raw{}
			}
			for len(seq) > 0 {
				doc, rest, err := readDoc(seq)
				if err != nil {
					return Command{}, false, err
				}
				cmd.Sequences[ident] = append(cmd.Sequences[ident], doc)
				seq = rest
			}
		default:
			return Command{}, false, fmt.Errorf("section kind %d", kind)
		}
	}
	if cmd.Body == nil {
		return Command{}, false, errors.New("OP_MSG without a body")
	}
	cmd.Name = cmd.Body.Index(0).Key()
	cmd.DB, _ = cmd.Body.Lookup("$db").StringValueOK()
	return cmd, flags&2 != 0, nil
}

func parseQuery(b []byte) (Command, error) {
	if len(b) < 4 {
		return Command{}, errors.New("short OP_QUERY")
	}
	b = b[4:]
	i := indexByte(b, 0)
	if i < 0 {
		return Command{}, errors.New("bad collection name")
	}
	ns := string(b[:i])
	b = b[i+1:]
	if len(b) < 8 {
		return Command{}, errors.New("short OP_QUERY")
	}
	doc, _, err := readDoc(b[8:])
	if err != nil {
		return Command{}, err
	}
	db, _, _ := strings.Cut(ns, ".")
	return Command{Name: doc.Index(0).Key(), DB: db, Body: doc}, nil
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

func readDoc(b []byte) (bson.Raw, []byte, error) {
	if len(b) < 5 {
		return nil, nil, errors.New("short document")
	}
	n := int(binary.LittleEndian.Uint32(b))
	if n < 5 || n > len(b) {
		return nil, nil, errors.New("bad document size")
	}
	doc := bson.Raw(b[:n])
	if err := doc.Validate(); err != nil {
		return nil, nil, err
	}
	return doc, b[n:], nil
}

func header(dst []byte, reqID, responseTo, opCode int32) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, 0) // size, filled in later
	dst = binary.LittleEndian.AppendUint32(dst, uint32(reqID))
	dst = binary.LittleEndian.AppendUint32(dst, uint32(responseTo))
	return binary.LittleEndian.AppendUint32(dst, uint32(opCode))
}

func msgMessage(reqID, responseTo int32, doc bson.Raw) []byte {
	b := header(make([]byte, 0, 16+5+len(doc)), reqID, responseTo, opMsg)
	b = binary.LittleEndian.AppendUint32(b, 0) // flags
	b = append(b, 0)                           // section kind 0
	b = append(b, doc...)
	binary.LittleEndian.PutUint32(b, uint32(len(b)))
	return b
}

func replyMessage(reqID, responseTo int32, doc bson.Raw) []byte {
	b := header(make([]byte, 0, 36+len(doc)), reqID, responseTo, opReply)
	b = binary.LittleEndian.AppendUint32(b, 0) // responseFlags
	b = binary.LittleEndian.AppendUint64(b, 0) // cursorID
	b = binary.LittleEndian.AppendUint32(b, 0) // startingFrom
	b = binary.LittleEndian.AppendUint32(b, 1) // numberReturned
	b = append(b, doc...)
	binary.LittleEndian.PutUint32(b, uint32(len(b)))
	return b
}

func mustRaw(d bson.D) bson.Raw {
	b, err := bson.Marshal(d)
	if err != nil {
		panic(err) // only values built here
	}
	return b
}

func errorDoc(code int, codeName, msg string, labels []string) bson.Raw {
	d := bson.D{{Key: "ok", Value: 0.0}, {Key: "errmsg", Value: msg}, {Key: "code", Value: int32(code)}, {Key: "codeName", Value: codeName}}
	if len(labels) > 0 {
		d = append(d, bson.E{Key: "errorLabels", Value: labels})
	}
	return mustRaw(d)
}

// handle records cmd, applies faults and answers it. It reports whether the
// connection must be closed instead of answered.
func (s *Server) handle(cmd Command) (bson.Raw, bool) {
	s.mu.Lock()
	if !s.cfg.NoLog {
		s.cmds = append(s.cmds, cmd)
	}
	var fault *Fault
	lname := strings.ToLower(cmd.Name)
	for _, f := range s.faults {
		if f.Command == "" && monitorCommands[lname] {
			continue
		}
		if f.Command != "" && !strings.EqualFold(f.Command, cmd.Name) {
			continue
		}
		if f.Collection != "" && f.Collection != cmd.Collection() {
			continue
		}
		if f.Times > 0 && f.fired >= f.Times {
			continue
		}
		f.seen++
		if f.seen <= f.Skip {
			continue
		}
		f.fired++
		fault = f
		break
	}
	s.mu.Unlock()
	if fault != nil && fault.Delay > 0 {
		time.Sleep(fault.Delay)
	}
	if fault != nil && !fault.AfterApply {
		if r, closeConn, ok := faultReply(fault); ok {
			return r, closeConn
		}
	}
	s.mu.Lock()
	reply := s.run(cmd)
	s.mu.Unlock()
	if fault != nil && fault.AfterApply {
		if r, closeConn, ok := faultReply(fault); ok {
			return r, closeConn
		}
	}
	return reply, false
}

func faultReply(f *Fault) (bson.Raw, bool, bool) {
	switch {
	case f.Close:
		return nil, true, true
	case f.Code != 0:
		name := f.CodeName
		if name == "" {
			name = "Error" + strconv.Itoa(f.Code)
		}
		msg := f.Message
		if msg == "" {
			msg = "mongostub: injected " + name
		}
		return errorDoc(f.Code, name, msg, f.Labels), false, true
	case len(f.WriteErrors) > 0:
		d := bson.D{{Key: "n", Value: int32(0)}, {Key: "nModified", Value: int32(0)}, {Key: "writeErrors", Value: writeErrorsArray(f.WriteErrors)}}
		if len(f.Labels) > 0 {
			d = append(d, bson.E{Key: "errorLabels", Value: f.Labels})
		}
		d = append(d, bson.E{Key: "ok", Value: 1.0})
		return mustRaw(d), false, true
	}
	return nil, false, false
}

func writeErrorsArray(wes []WriteError) bson.A {
	a := make(bson.A, 0, len(wes))
	for _, we := range wes {
		msg := we.Message
		if msg == "" {
			msg = fmt.Sprintf("mongostub: write error %d", we.Code)
		}
		a = append(a, bson.D{{Key: "index", Value: int32(we.Index)}, {Key: "code", Value: int32(we.Code)}, {Key: "errmsg", Value: msg}})
	}
	return a
}

func txnKey(cmd Command) (string, bool) {
	lsid := cmd.LSID()
	n, ok := cmd.TxnNumber()
	if lsid == nil || !ok {
		return "", false
	}
	return string(lsid) + "/" + strconv.FormatInt(n, 10), true
}

// run answers cmd; s.mu is held.
func (s *Server) run(cmd Command) bson.Raw {
	switch strings.ToLower(cmd.Name) {
	case "hello", "ismaster":
		return s.hello(cmd)
	case "buildinfo":
		d := bson.D{{Key: "version", Value: "7.0.0"}, {Key: "versionArray", Value: bson.A{int32(7), int32(0), int32(0), int32(0)}},
			{Key: "maxBsonObjectSize", Value: int32(16 * 1024 * 1024)}}
		if s.cfg.FerretDB {
			d = append(d, bson.E{Key: "ferretdbVersion", Value: "v1.24.2"})
		}
		return mustRaw(append(d, bson.E{Key: "ok", Value: 1.0}))
	case "endsessions":
		// Ending a session aborts its open transaction.
		if arr, ok := cmd.Body.Lookup("endSessions").ArrayOK(); ok {
			vals, _ := arr.Values()
			for _, v := range vals {
				if d, ok := v.DocumentOK(); ok {
					if _, id, ok := d.Lookup("id").BinaryOK(); ok {
						s.abortSession(string(id))
					}
				}
			}
		}
		return mustRaw(bson.D{{Key: "ok", Value: 1.0}})
	case "ping", "killcursors":
		return mustRaw(bson.D{{Key: "ok", Value: 1.0}})
	case "getmore":
		return mustRaw(bson.D{{Key: "cursor", Value: bson.D{{Key: "nextBatch", Value: bson.A{}}, {Key: "id", Value: int64(0)},
			{Key: "ns", Value: cmd.DB + "." + cmd.Collection()}}}, {Key: "ok", Value: 1.0}})
	case "committransaction":
		return s.endTxn(cmd, true)
	case "aborttransaction":
		return s.endTxn(cmd, false)
	}
	// Everything else may run inside a transaction.
	data := colls(s.data.coll)
	var t *txn
	inTxn := false
	if auto, ok := cmd.Body.Lookup("autocommit").BooleanOK(); ok && !auto {
		key, ok := txnKey(cmd)
		if !ok {
			return errorDoc(50768, "NotARetryableWriteCommand", "autocommit:false without lsid and txnNumber", nil)
		}
		inTxn = true
		if start, _ := cmd.Body.Lookup("startTransaction").BooleanOK(); start {
			// A new transaction on a session aborts the one before.
			s.abortSession(string(cmd.LSID()))
			t = &txn{view: store{}, lsid: string(cmd.LSID()), started: time.Now(), locks: map[string]bool{}}
			s.txns[key] = t
		} else {
			t = s.txns[key]
		}
		if t == nil || t.aborted {
			return errorDoc(251, "NoSuchTransaction", "mongostub: transaction "+key+" is not open", []string{"TransientTransactionError"})
		}
		data = t.over(s.data)
	}
	switch strings.ToLower(cmd.Name) {
	case "insert", "update", "delete":
		// A retryable write (lsid and txnNumber outside a transaction) runs
		// once; its retry gets the first answer, as on MongoDB.
		n, retryable := cmd.TxnNumber()
		lsid := string(cmd.LSID())
		retryable = retryable && lsid != "" && !inTxn
		if retryable {
			if r, ok := s.retried[lsid]; ok && r.txnNumber == n {
				return r.reply
			}
		}
		if t != nil {
			if r := s.lock(t, cmd); r != nil {
				return r
			}
		}
		reply, failed := s.write(data, cmd, inTxn)
		if retryable {
			s.retried[lsid] = retry{txnNumber: n, reply: reply}
		}
		if t != nil {
			if failed {
				// A write error aborts a transaction on the server.
				t.aborted = true
			} else {
				t.writes = append(t.writes, cmd)
			}
		}
		return reply
	case "find":
		if f, _ := cmd.Body.Lookup("filter").DocumentOK(); scanFilter(f) {
			return s.findScan(data, cmd, f)
		}
		return s.find(data, cmd)
	case "listindexes", "createindexes":
		return indexCommand(cmd)
	case "listcollections":
		return s.listCollections(cmd)
	case "create", "collmod":
		return s.createOrMod(cmd)
	case "drop":
		if cs := s.data[cmd.DB]; cs != nil {
			delete(cs, cmd.Collection())
		}
		delete(s.colls, cmd.DB+"."+cmd.Collection())
		return mustRaw(bson.D{{Key: "ok", Value: 1.0}})
	case "dropdatabase":
		delete(s.data, cmd.DB)
		return mustRaw(bson.D{{Key: "ok", Value: 1.0}})
	}
	return errorDoc(59, "CommandNotFound", "mongostub: no such command: '"+cmd.Name+"'", nil)
}

// abortSession aborts the open transactions of a session; s.mu is held.
func (s *Server) abortSession(lsid string) {
	for key, t := range s.txns {
		if t.lsid == lsid {
			delete(s.txns, key)
		}
	}
}

// lock takes the documents a write in t names; when another open
// transaction holds one, t is aborted and the answer is MongoDB's
// WriteConflict, a TransientTransactionError. s.mu is held.
func (s *Server) lock(t *txn, cmd Command) bson.Raw {
	var keys []string
	prefix := cmd.DB + "\x00" + cmd.Collection() + "\x00"
	switch strings.ToLower(cmd.Name) {
	case "insert":
		for _, d := range cmd.Docs("documents") {
			keys = append(keys, prefix+idKey(d.Lookup("_id")))
		}
	case "update", "delete":
		ident := map[string]string{"update": "updates", "delete": "deletes"}[strings.ToLower(cmd.Name)]
		for _, st := range cmd.Docs(ident) {
			q, _ := st.Lookup("q").DocumentOK()
			if want, all, err := ids(q); err == nil && !all {
				for _, id := range want {
					keys = append(keys, prefix+idKey(id))
				}
			}
		}
	}
	for _, other := range s.txns {
		if other == t || !other.open(s.cfg.TxnLifetime) {
			continue
		}
		for _, k := range keys {
			if other.locks[k] {
				t.aborted = true
				s.conflicts++
				return errorDoc(112, "WriteConflict", "mongostub: WriteConflict: the document is written by another open transaction",
					[]string{"TransientTransactionError"})
			}
		}
	}
	for _, k := range keys {
		t.locks[k] = true
	}
	return nil
}

func (s *Server) hello(cmd Command) bson.Raw {
	d := bson.D{{Key: "helloOk", Value: true}}
	if strings.EqualFold(cmd.Name, "hello") {
		d = append(d, bson.E{Key: "isWritablePrimary", Value: true})
	} else {
		d = append(d, bson.E{Key: "ismaster", Value: true})
	}
	if s.cfg.SetName != "" {
		hosts := bson.A{}
		for _, h := range s.cfg.Hosts {
			hosts = append(hosts, h)
		}
		d = append(d, bson.E{Key: "setName", Value: s.cfg.SetName}, bson.E{Key: "setVersion", Value: int32(1)},
			bson.E{Key: "hosts", Value: hosts}, bson.E{Key: "primary", Value: s.addr}, bson.E{Key: "me", Value: s.addr},
			bson.E{Key: "secondary", Value: false},
			bson.E{Key: "electionId", Value: bson.ObjectID{0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 1}})
	}
	if s.cfg.Mongos {
		d = append(d, bson.E{Key: "msg", Value: "isdbgrid"})
	}
	d = append(d,
		bson.E{Key: "maxBsonObjectSize", Value: int32(16 * 1024 * 1024)},
		bson.E{Key: "maxMessageSizeBytes", Value: int32(maxMessage)},
		bson.E{Key: "maxWriteBatchSize", Value: int32(100000)},
		bson.E{Key: "localTime", Value: bson.NewDateTimeFromTime(time.Now())})
	if s.cfg.SessionTimeoutMinutes > 0 {
		d = append(d, bson.E{Key: "logicalSessionTimeoutMinutes", Value: int32(s.cfg.SessionTimeoutMinutes)})
	}
	d = append(d, bson.E{Key: "connectionId", Value: int32(cmd.Conn)},
		bson.E{Key: "minWireVersion", Value: int32(0)}, bson.E{Key: "maxWireVersion", Value: int32(s.cfg.MaxWireVersion)},
		bson.E{Key: "readOnly", Value: false}, bson.E{Key: "ok", Value: 1.0})
	return mustRaw(d)
}

func (s *Server) endTxn(cmd Command, commit bool) bson.Raw {
	key, ok := txnKey(cmd)
	if !ok {
		return errorDoc(50768, "NotARetryableWriteCommand", "mongostub: no lsid or txnNumber", nil)
	}
	t := s.txns[key]
	n, _ := cmd.TxnNumber()
	if t == nil {
		if last, ok := s.committed[string(cmd.LSID())]; commit && ok && last == n {
			return mustRaw(bson.D{{Key: "ok", Value: 1.0}}) // a retried commit: already done
		}
		return errorDoc(251, "NoSuchTransaction", "mongostub: transaction "+key+" is not open", []string{"TransientTransactionError"})
	}
	delete(s.txns, key)
	if t.aborted {
		return errorDoc(251, "NoSuchTransaction", "mongostub: transaction "+key+" was aborted", []string{"TransientTransactionError"})
	}
	if commit {
		for _, w := range t.writes {
			s.write(s.data.coll, w, false)
		}
		s.committed[string(cmd.LSID())] = n
	}
	return mustRaw(bson.D{{Key: "ok", Value: 1.0}})
}

func idKey(v bson.RawValue) string { return string(rune(v.Type)) + string(v.Value) }

func idText(v bson.RawValue) string {
	if v.Type == 0 {
		return ""
	}
	if s, ok := v.StringValueOK(); ok {
		return s
	}
	if oid, ok := v.ObjectIDOK(); ok {
		return oid.Hex()
	}
	return v.String()
}

// ids selects the ids a filter names: nil, true means every document.
func ids(filter bson.Raw) ([]bson.RawValue, bool, error) {
	if len(filter) == 0 {
		return nil, true, nil
	}
	elems, err := filter.Elements()
	if err != nil {
		return nil, false, err
	}
	if len(elems) == 0 {
		return nil, true, nil
	}
	if elems[0].Key() != "_id" {
		return nil, false, errors.New("mongostub: only {}, {_id: v} and {_id: {$in: [...]}} filters are supported (with conditions on other fields: conditions.go)")
	}
	v := elems[0].Value()
	if d, ok := v.DocumentOK(); ok {
		if eq, err := d.LookupErr("$eq"); err == nil {
			return []bson.RawValue{eq}, false, nil
		}
		in, err := d.LookupErr("$in")
		if err != nil {
			return nil, false, errors.New("mongostub: only $in is supported in an _id filter")
		}
		arr, ok := in.ArrayOK()
		if !ok {
			return nil, false, errors.New("mongostub: $in needs an array")
		}
		vals, err := arr.Values()
		return vals, false, err
	}
	return []bson.RawValue{v}, false, nil
}

func (s *Server) find(data colls, cmd Command) bson.Raw {
	filter, _ := cmd.Body.Lookup("filter").DocumentOK()
	want, all, err := ids(filter)
	if err != nil {
		return errorDoc(2, "BadValue", err.Error(), nil)
	}
	batch := bson.A{}
	if c := data(cmd.DB, cmd.Collection(), false); c != nil {
		if all {
			for _, d := range c.all() {
				batch = append(batch, d)
			}
		} else {
			seen := map[string]bool{}
			conds := conditions(filter)
			for _, id := range want {
				k := idKey(id)
				if d, ok := c.get(k); ok && !seen[k] && matches(d, conds) {
					seen[k] = true
					batch = append(batch, d)
				}
			}
		}
	}
	return mustRaw(bson.D{{Key: "cursor", Value: bson.D{{Key: "firstBatch", Value: batch}, {Key: "id", Value: int64(0)},
		{Key: "ns", Value: cmd.DB + "." + cmd.Collection()}}}, {Key: "ok", Value: 1.0}})
}

func (s *Server) listCollections(cmd Command) bson.Raw {
	filter, _ := cmd.Body.Lookup("filter").DocumentOK()
	name, _ := filter.Lookup("name").StringValueOK()
	batch := bson.A{}
	seen := map[string]bool{}
	add := func(n string) {
		if !seen[n] && (name == "" || n == name) {
			seen[n] = true
			batch = append(batch, bson.D{{Key: "name", Value: n}, {Key: "type", Value: "collection"}})
		}
	}
	for n := range s.data[cmd.DB] {
		add(n)
	}
	for k := range s.colls {
		if db, n, _ := strings.Cut(k, "."); db == cmd.DB {
			add(n)
		}
	}
	return mustRaw(bson.D{{Key: "cursor", Value: bson.D{{Key: "firstBatch", Value: batch}, {Key: "id", Value: int64(0)},
		{Key: "ns", Value: cmd.DB + ".$cmd.listCollections"}}}, {Key: "ok", Value: 1.0}})
}

func (s *Server) createOrMod(cmd Command) bson.Raw {
	name := cmd.Collection()
	key := cmd.DB + "." + name
	exists := s.colls[key] != nil || s.data.coll(cmd.DB, name, false) != nil
	create := strings.EqualFold(cmd.Name, "create")
	if create && exists {
		return errorDoc(48, "NamespaceExists", "mongostub: collection already exists. NS: "+key, nil)
	}
	if !create && !exists {
		return errorDoc(26, "NamespaceNotFound", "mongostub: ns does not exist: "+key, nil)
	}
	info := s.colls[key]
	if info == nil {
		info = &CollectionInfo{ValidationLevel: "strict", ValidationAction: "error"}
	}
	if v, ok := cmd.Body.Lookup("validator").DocumentOK(); ok {
		info.Validator = append(bson.Raw(nil), v...)
	}
	if v, ok := cmd.Body.Lookup("validationLevel").StringValueOK(); ok {
		if v != "off" && v != "strict" && v != "moderate" {
			return errorDoc(2, "BadValue", "mongostub: bad validationLevel "+v, nil)
		}
		info.ValidationLevel = v
	}
	if v, ok := cmd.Body.Lookup("validationAction").StringValueOK(); ok {
		if v != "error" && v != "warn" {
			return errorDoc(2, "BadValue", "mongostub: bad validationAction "+v, nil)
		}
		info.ValidationAction = v
	}
	s.colls[key] = info
	s.data.coll(cmd.DB, name, true)
	return mustRaw(bson.D{{Key: "ok", Value: 1.0}})
}

// write runs an insert, update or delete on data and reports whether a
// statement failed.
func (s *Server) write(data colls, cmd Command, inTxn bool) (bson.Raw, bool) {
	name := strings.ToLower(cmd.Name)
	ident := map[string]string{"insert": "documents", "update": "updates", "delete": "deletes"}[name]
	stmts := cmd.Docs(ident)
	ordered := true
	if o, ok := cmd.Body.Lookup("ordered").BooleanOK(); ok {
		ordered = o
	}
	var c *coll
	if !s.cfg.Discard {
		c = data(cmd.DB, cmd.Collection(), true)
	}
	st := Statement{Command: name, DB: cmd.DB, Collection: cmd.Collection(), InTxn: inTxn}
	n, modified := 0, 0
	var upserted bson.A
	var wes []WriteError
	for i, stmt := range stmts {
		var we *WriteError
		switch name {
		case "insert":
			we = s.insert(c, st, stmt)
			if we == nil {
				n++
			}
		case "update":
			var m, mod int
			var up *bson.RawValue
			m, mod, up, we = s.update(c, st, stmt)
			n += m
			modified += mod
			if up != nil {
				n++ // MongoDB counts an upsert in n
				upserted = append(upserted, bson.D{{Key: "index", Value: int32(i)}, {Key: "_id", Value: *up}})
			}
		case "delete":
			var m int
			m, we = s.remove(c, st, stmt)
			n += m
		}
		if we != nil {
			we.Index = i
			wes = append(wes, *we)
			if ordered {
				break
			}
		}
	}
	d := bson.D{{Key: "n", Value: int32(n)}}
	if name == "update" {
		d = append(d, bson.E{Key: "nModified", Value: int32(modified)})
		if len(upserted) > 0 {
			d = append(d, bson.E{Key: "upserted", Value: upserted})
		}
	}
	if len(wes) > 0 {
		d = append(d, bson.E{Key: "writeErrors", Value: writeErrorsArray(wes)})
	}
	return mustRaw(append(d, bson.E{Key: "ok", Value: 1.0})), len(wes) > 0
}

func (s *Server) refuse(st Statement, doc bson.Raw) *WriteError {
	if s.cfg.Refuse == nil {
		return nil
	}
	st.Doc = doc
	return s.cfg.Refuse(st)
}

func (s *Server) insert(c *coll, st Statement, doc bson.Raw) *WriteError {
	id, err := doc.LookupErr("_id")
	if err != nil {
		return &WriteError{Code: 2, Message: "mongostub: insert without _id"}
	}
	if we := s.refuse(st, doc); we != nil {
		return we
	}
	if c == nil {
		return nil
	}
	if _, ok := c.get(idKey(id)); ok {
		return &WriteError{Code: 11000, Message: "E11000 duplicate key error collection: " + st.DB + "." + st.Collection + " index: _id_ dup key: { _id: " + id.String() + " }"}
	}
	c.put(idKey(id), append(bson.Raw(nil), doc...))
	return nil
}

func (s *Server) update(c *coll, st Statement, stmt bson.Raw) (int, int, *bson.RawValue, *WriteError) {
	q, _ := stmt.Lookup("q").DocumentOK()
	u, ok := stmt.Lookup("u").DocumentOK()
	if !ok {
		return 0, 0, nil, &WriteError{Code: 9, Message: "mongostub: update needs a document u (pipelines are not supported)"}
	}
	upsert, _ := stmt.Lookup("upsert").BooleanOK()
	want, all, err := ids(q)
	if err != nil || all || len(want) != 1 {
		return 0, 0, nil, &WriteError{Code: 2, Message: "mongostub: updates need an {_id: v} filter"}
	}
	id := want[0]
	elems, _ := u.Elements()
	operator := len(elems) > 0 && strings.HasPrefix(elems[0].Key(), "$")
	if c == nil { // Discard: as if the document existed
		next, we := s.updated(mustRaw(bson.D{{Key: "_id", Value: id}}), id, u, operator)
		if we == nil {
			we = s.refuse(st, next)
		}
		if we != nil {
			return 0, 0, nil, we
		}
		return 1, 1, nil, nil
	}
	old, exists := c.get(idKey(id))
	if exists && !matches(old, conditions(q)) {
		if upsert { // the insert collides with the document that failed the filter
			return 0, 0, nil, &WriteError{Code: 11000, Message: "E11000 duplicate key error collection: " + st.DB + "." + st.Collection + " index: _id_ dup key: { _id: " + id.String() + " }"}
		}
		return 0, 0, nil, nil
	}
	if !exists && !upsert {
		return 0, 0, nil, nil
	}
	base := bson.Raw(mustRaw(bson.D{{Key: "_id", Value: id}}))
	if exists {
		base = old
	}
	next, we := s.updated(base, id, u, operator)
	if we == nil {
		we = s.refuse(st, next)
	}
	if we != nil {
		return 0, 0, nil, we
	}
	c.put(idKey(id), next)
	if !exists {
		return 0, 0, &id, nil
	}
	mod := 0
	if string(old) != string(next) {
		mod = 1
	}
	return 1, mod, nil, nil
}

// updated is base after u: a replacement keeps base's _id; $set sets
// top-level fields in place or at the end.
func (s *Server) updated(base bson.Raw, id bson.RawValue, u bson.Raw, operator bool) (bson.Raw, *WriteError) {
	if !operator {
		out := bson.D{{Key: "_id", Value: id}}
		elems, _ := u.Elements()
		for _, e := range elems {
			if e.Key() == "_id" {
				if idKey(e.Value()) != idKey(id) {
					return nil, &WriteError{Code: 66, Message: "mongostub: the _id field cannot be changed"}
				}
				continue
			}
			out = append(out, bson.E{Key: e.Key(), Value: e.Value()})
		}
		return mustRaw(out), nil
	}
	var doc bson.D
	belems, _ := base.Elements()
	for _, e := range belems {
		doc = append(doc, bson.E{Key: e.Key(), Value: e.Value()})
	}
	uelems, _ := u.Elements()
	for _, op := range uelems {
		if op.Key() == "$inc" || op.Key() == "$push" {
			var we *WriteError
			if doc, we = applyOperator(doc, op); we != nil {
				return nil, we
			}
			continue
		}
		if op.Key() != "$set" {
			return nil, &WriteError{Code: 9, Message: "mongostub: only $set, $inc and $push are supported, not " + op.Key()}
		}
		set, ok := op.Value().DocumentOK()
		if !ok {
			return nil, &WriteError{Code: 9, Message: "mongostub: $set needs a document"}
		}
		fields, _ := set.Elements()
	field:
		for _, f := range fields {
			if f.Key() == "_id" {
				if idKey(f.Value()) != idKey(id) {
					return nil, &WriteError{Code: 66, Message: "mongostub: the _id field cannot be changed"}
				}
				continue
			}
			for i := range doc {
				if doc[i].Key == f.Key() {
					doc[i].Value = f.Value()
					continue field
				}
			}
			doc = append(doc, bson.E{Key: f.Key(), Value: f.Value()})
		}
	}
	return mustRaw(doc), nil
}

func (s *Server) remove(c *coll, st Statement, stmt bson.Raw) (int, *WriteError) {
	q, _ := stmt.Lookup("q").DocumentOK()
	if scanFilter(q) {
		return s.removeScan(c, st, stmt, q)
	}
	want, all, err := ids(q)
	if err != nil || all || len(want) != 1 {
		return 0, &WriteError{Code: 2, Message: "mongostub: deletes need an {_id: v} filter"}
	}
	if c == nil {
		if we := s.refuse(st, mustRaw(bson.D{{Key: "_id", Value: want[0]}})); we != nil {
			return 0, we
		}
		return 1, nil
	}
	old, ok := c.get(idKey(want[0]))
	if !ok || !matches(old, conditions(q)) {
		return 0, nil
	}
	if we := s.refuse(st, old); we != nil {
		return 0, we
	}
	c.remove(idKey(want[0]))
	return 1, nil
}
