// Package store applies decoded write batches to MongoDB. It is the only
// package that imports the MongoDB driver.
//
// It owns the mapping from syncgate ops to MongoDB writes (PUT → replace with
// upsert, PATCH → $set, DELETE → delete, all by _id and so idempotent), the
// choice between one transaction per batch (replica set, mongos) and ordered
// bulk writes (FerretDB), and the classification of database errors into
// transient (the client retries) and permanent (one op is rejected). It must
// not decide what is valid input: that is upload's and the guests' job.
package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"

	"github.com/syncgate/syncgate/host/syncgate"
)

// Options tunes a Mongo store. The zero value of a field picks the default
// for the detected server.
type Options struct {
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
	// AllOrNothing (strict mode) makes a database refusal end the batch: in
	// a transaction nothing of it is written and Apply returns a Rejected
	// error naming the op, instead of dropping that op and writing the rest.
	AllOrNothing bool
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
	client     *mongo.Client
	db         *mongo.Database
	opts       Options
	detected   atomic.Bool
	mode       atomic.Value // Mode
	ferret     atomic.Bool
	chunk      atomic.Int64
	sem        atomic.Pointer[chan struct{}]
	deadLetter string
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
	if err := co.Validate(); err != nil {
		return nil, fmt.Errorf("store: MONGO_URI: %w", err)
	}
	c, err := mongo.Connect(co)
	if err != nil {
		return nil, fmt.Errorf("store: connect: %w", err)
	}
	m := &Mongo{client: c, db: c.Database(dbName), opts: o, deadLetter: o.DeadLetter}
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

// Current returns the stored documents with the ids of ops, one query per
// collection, keyed by collection then id. The returned documents carry no
// _id field.
func (m *Mongo) Current(ctx context.Context, ops []syncgate.Op) (map[string]map[string]syncgate.Doc, error) {
	if err := m.ready(); err != nil {
		return nil, err
	}
	ids := map[string]bson.A{}
	for _, op := range ops {
		ids[op.Table] = append(ids[op.Table], idValue(op))
	}
	out := make(map[string]map[string]syncgate.Doc, len(ids))
	for table, list := range ids {
		docs, err := m.find(ctx, table, list)
		if err != nil {
			return nil, err
		}
		out[table] = docs
	}
	return out, nil
}

func (m *Mongo) find(ctx context.Context, table string, ids bson.A) (map[string]syncgate.Doc, error) {
	ctx, cancel := context.WithTimeout(ctx, m.opts.Timeout)
	defer cancel()
	filters := []bson.D{{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}}}
	if m.FerretDB() {
		// FerretDB's SQLite backend uses its _id index only for a filter
		// that is exactly {_id: value}; $in scans the whole table (measured:
		// load throughput fell as collections grew). Look ids up one by one.
		filters = filters[:0]
		seen := map[any]bool{}
		for _, id := range ids {
			if !seen[id] {
				seen[id] = true
				filters = append(filters, bson.D{{Key: "_id", Value: id}})
			}
		}
	}
	docs := map[string]syncgate.Doc{}
	for _, f := range filters {
		cur, err := m.db.Collection(table).Find(ctx, f)
		if err != nil {
			return nil, classify("find "+table, err)
		}
		found, err := readDocs(ctx, cur, func(string) bool { return true })
		if err != nil {
			return nil, classify("find "+table, err)
		}
		for id, d := range found {
			docs[id] = d
		}
	}
	return docs, nil
}

// readDocs drains cur into client-view documents by id, keeping the ids
// keep accepts.
func readDocs(ctx context.Context, cur *mongo.Cursor, keep func(id string) bool) (map[string]syncgate.Doc, error) {
	defer cur.Close(ctx)
	docs := map[string]syncgate.Doc{}
	for cur.Next(ctx) {
		var id string
		switch v := cur.Current.Lookup("_id"); v.Type {
		case bson.TypeString:
			id = v.StringValue()
		case bson.TypeObjectID:
			id = v.ObjectID().Hex()
		}
		if !keep(id) {
			continue
		}
		// Without _id, and without the increments' bookkeeping
		// (conditional.go): not the client's.
		doc, err := docFromRaw(cur.Current, func(k string) bool { return k == "_id" || k == AppliedOpsField })
		if err != nil {
			return nil, err
		}
		docs[id] = doc
	}
	return docs, cur.Err()
}

// Apply writes ops in order — each document's ops in the batch's order; ops
// on different collections may be reordered, as they commute — and returns
// the ops the database refused for good (duplicate key, validation), each
// with its reason. A batch's ops on one collection go in one ordered bulk
// write, split into commands of at most Chunk statements. On a replica set or mongos the batch is one transaction,
// or several in order when it is past the transaction limits (TxnMaxOps,
// TxnMaxBytes). A transient failure returns an Unavailable *syncgate.Error;
// what was written before it is safe to write again, since every op is
// idempotent.
func (m *Mongo) Apply(ctx context.Context, ops []syncgate.Op) ([]syncgate.Rejection, error) {
	if len(ops) == 0 {
		return nil, nil
	}
	if err := m.ready(); err != nil {
		return nil, err
	}
	if m.Mode() != ModeTransaction {
		rejected, missed, err := m.applyOrdered(ctx, ops, false)
		if err != nil {
			return nil, err
		}
		rejected = append(rejected, missed...)
		slices.SortFunc(rejected, func(a, b syncgate.Rejection) int { return a.Index - b.Index })
		return rejected, nil
	}
	var rejected []syncgate.Rejection
	for i, part := range TxnParts(ops, m.opts.TxnMaxOps, m.opts.TxnMaxBytes) {
		rej, err := m.applyTxn(ctx, part, i > 0)
		if err != nil {
			return nil, err
		}
		rejected = append(rejected, rej...)
	}
	return rejected, nil
}

// TxnParts splits ops into runs of at most maxOps ops and maxBytes of
// estimated BSON, in order; an op larger than maxBytes is a run by itself.
func TxnParts(ops []syncgate.Op, maxOps, maxBytes int) [][]syncgate.Op {
	var parts [][]syncgate.Op
	start, size := 0, 0
	for i, op := range ops {
		n := opSize(op)
		if i > start && (i-start >= maxOps || size+n > maxBytes) {
			parts = append(parts, ops[start:i])
			start, size = i, 0
		}
		size += n
	}
	return append(parts, ops[start:])
}

// opSize estimates an op's share of a transaction: its document's BSON and
// the statement around it.
func opSize(op syncgate.Op) int {
	b, err := appendFields(nil, op.Data)
	if err != nil {
		return 64 + len(op.ID)
	}
	return len(b) + 64 + len(op.ID) + len(op.Table)
}

// applyTxn writes ops as one transaction. A permanent error aborts it: the
// op it names is dropped and the rest run again, so the batch stays
// all-or-nothing for the others (or, AllOrNothing, the batch ends there).
// committedBefore says an earlier part of the batch is already written.
func (m *Mongo) applyTxn(ctx context.Context, ops []syncgate.Op, committedBefore bool) ([]syncgate.Rejection, error) {
	var rejected, missed []syncgate.Rejection
	remaining := ops
	for range len(ops) + 1 {
		sess, err := m.client.StartSession()
		if err != nil {
			return nil, classify("start session", err)
		}
		var failed *opError
		tctx, cancel := context.WithTimeout(ctx, min(3*m.opts.Timeout, MaxTxnTime))
		_, err = sess.WithTransaction(tctx, func(sctx context.Context) (any, error) {
			failed = nil
			// MongoDB aborts a transaction at its first write error (later
			// statements get NoSuchTransaction), so stop there.
			rej, miss, err := m.applyOrdered(sctx, remaining, true)
			if err != nil {
				return nil, err
			}
			missed = miss
			if len(rej) > 0 {
				failed = &opError{rej: rej[0]}
				return nil, failed
			}
			return nil, nil
		}, options.Transaction().SetWriteConcern(writeconcern.Majority()))
		cancel()
		sess.EndSession(context.WithoutCancel(ctx))
		if err == nil {
			return append(rejected, missed...), nil
		}
		if failed == nil || !errors.Is(err, failed) {
			return nil, classify("transaction", err)
		}
		if m.opts.AllOrNothing && !settledQuietly(failed.rej) {
			return nil, refusedError(failed.rej, committedBefore)
		}
		rejected = append(rejected, failed.rej)
		kept := remaining[:0:0]
		for _, op := range remaining {
			if op.Index != failed.rej.Index {
				kept = append(kept, op)
			}
		}
		remaining = kept
		if len(remaining) == 0 {
			return rejected, nil
		}
	}
	return nil, errors.New("store: transaction: no progress")
}

// refusedError is strict mode's answer to a database refusal inside a
// transaction: the transaction was aborted.
func refusedError(r syncgate.Rejection, committedBefore bool) *syncgate.Error {
	msg := "the database refused an op of the batch; nothing was written (strict mode)"
	if committedBefore {
		msg = "the database refused an op of the batch; the transactions before it (the batch was past one transaction's limits) were written (strict mode)"
	}
	return &syncgate.Error{Kind: syncgate.Rejected, Code: syncgate.CodeBatchRejected, Message: msg,
		Details: []string{fmt.Sprintf("batch[%d] %s %s/%s: %s: %s", r.Index, r.Op, r.Table, r.ID, r.Code, r.Reason)}}
}

// ready refuses writes until Detect has chosen the write mode: writing to
// FerretDB with MongoDB's command sizes could wedge it.
func (m *Mongo) ready() error {
	if !m.detected.Load() {
		return &syncgate.Error{Kind: syncgate.Unavailable, Code: syncgate.CodeDatabaseUnavailable,
			Message: "the database is not connected yet; retry later"}
	}
	return nil
}

type opError struct{ rej syncgate.Rejection }

func (e *opError) Error() string { return "store: op rejected: " + e.rej.Reason }

// applyOrdered writes ops as ordered bulk writes, one series per
// collection: ops on different collections name different documents and
// commute, so grouping them keeps every document's order and makes a batch
// that alternates collections two commands instead of one per run. Within a
// collection the ops go in the commands plan makes. An op the database
// refuses for good is recorded and the writes of its collection go on after
// it, or everything stops there when stopAtRefusal. Rejections come back in
// batch order; missed are the PATCHes that found no document.
func (m *Mongo) applyOrdered(ctx context.Context, ops []syncgate.Op, stopAtRefusal bool) (rejected, missed []syncgate.Rejection, err error) {
	chunk := int(m.chunk.Load())
	if chunk <= 0 {
		chunk = 1000
	}
	for _, coll := range byCollection(ops) {
		for start := 0; start < len(coll); {
			if coll[start].Conditional() {
				// One statement, to see whether it matched (conditional.go).
				// In a transaction a lost conflict ends it like a refusal:
				// the op is dropped and the rest run again.
				rej, err := m.writeConditional(ctx, coll[start])
				if err != nil {
					return nil, nil, err
				}
				if rej != nil {
					rejected = append(rejected, *rej)
					if stopAtRefusal {
						return rejected, missed, nil
					}
				}
				start++
				continue
			}
			end := start + 1
			for end < len(coll) && !coll[end].Conditional() {
				end++
			}
			for _, cmd := range plan(coll[start:end], chunk) {
				for len(cmd) > 0 {
					n, res, rej, err := m.bulk(ctx, cmd)
					if err != nil {
						return nil, nil, err
					}
					if rej != nil && stopAtRefusal {
						return append(rejected, *rej), missed, nil // the transaction is over
					}
					miss, err := m.missedPatches(ctx, cmd[:n], res)
					if err != nil {
						return nil, nil, err
					}
					missed = append(missed, miss...)
					if rej == nil {
						break
					}
					rejected = append(rejected, *rej)
					cmd = cmd[n+1:] // skip the refused op, go on after it
				}
			}
			start = end
		}
	}
	slices.SortFunc(rejected, func(a, b syncgate.Rejection) int { return a.Index - b.Index })
	return rejected, missed, nil
}

// plan splits one collection's ops into write commands of one kind each
// (the driver sends a run of updates as one update command and a run of
// deletes as one delete command, so ops in their batch order would cost a
// round trip per run: ~40 commands for a mixed batch of 100). Ops on
// different documents commute except through a unique secondary index,
// where a delete can free a value a later write takes; so:
//
//   - replacements and $sets keep their order among themselves and stay
//     after every delete that came before them: each goes into the last
//     command when that is an update command, else into a new one;
//   - a delete moves earlier, into the first delete command after the one
//     holding its document's previous op (the first of all when the batch
//     did not touch the document before). Moving a delete earlier only
//     frees unique values sooner: a write that would have hit a duplicate
//     key with the value the delete frees now succeeds — the state the
//     client's batch asked for;
//   - an update command ends before a replacement of a document it
//     PATCHes, so that a PATCH's document is there after the command if
//     and only if it was there at the PATCH (missedPatches);
//   - a command holds at most chunk statements.
//
// Every document's ops stay in batch order. A typical mixed batch becomes
// one update and one delete command per collection.
func plan(ops []syncgate.Op, chunk int) [][]syncgate.Op {
	type command struct {
		del bool
		ops []syncgate.Op
	}
	// The first command takes the deletes of documents the batch did not
	// touch before (dropped if none).
	cmds := []command{{del: true}}
	last := make(map[string]int, len(ops)) // document → command of its latest op
	var patched map[string]bool            // documents PATCHed in the last command
	for _, op := range ops {
		prev, seen := last[op.ID]
		if !seen {
			prev = -1
		}
		if op.Op == syncgate.Delete {
			at := -1
			for i := prev + 1; i < len(cmds); i++ {
				if cmds[i].del && len(cmds[i].ops) < chunk {
					at = i
					break
				}
			}
			if at < 0 {
				cmds = append(cmds, command{del: true})
				at = len(cmds) - 1
			}
			cmds[at].ops = append(cmds[at].ops, op)
			last[op.ID] = at
			continue
		}
		n := len(cmds) - 1
		if cmds[n].del || len(cmds[n].ops) >= chunk || op.Op == syncgate.Put && patched[op.ID] {
			cmds = append(cmds, command{})
			n++
			patched = nil
		}
		cmds[n].ops = append(cmds[n].ops, op)
		last[op.ID] = n
		if op.Op == syncgate.Patch {
			if patched == nil {
				patched = map[string]bool{}
			}
			patched[op.ID] = true
		}
	}
	out := make([][]syncgate.Op, 0, len(cmds))
	for _, c := range cmds {
		if len(c.ops) > 0 {
			out = append(out, c.ops)
		}
	}
	return out
}

// byCollection splits ops into one run per collection, in the order each
// collection first appears, keeping the ops' order within each. A batch of
// one collection is returned as it is.
func byCollection(ops []syncgate.Op) [][]syncgate.Op {
	single := true
	for i := 1; i < len(ops) && single; i++ {
		single = ops[i].Table == ops[0].Table
	}
	if single {
		return [][]syncgate.Op{ops}
	}
	// Count each collection's ops (in order of first appearance), then fill
	// one array.
	type group struct {
		table    string
		n, start int
	}
	var groups []group
	index := make(map[string]int, 4)
	at := make([]int, len(ops)) // op → its group
	for i, op := range ops {
		g, ok := index[op.Table]
		if !ok {
			g = len(groups)
			index[op.Table] = g
			groups = append(groups, group{table: op.Table})
		}
		groups[g].n++
		at[i] = g
	}
	out := make([][]syncgate.Op, len(groups))
	all := make([]syncgate.Op, 0, len(ops))
	for g := range groups {
		groups[g].start = len(all)
		all = all[:len(all)+groups[g].n]
		out[g] = all[groups[g].start:groups[g].start:len(all)]
	}
	for i, op := range ops {
		out[at[i]] = append(out[at[i]], op)
	}
	return out
}

// bulk runs one ordered bulk write on one collection. It returns how many
// ops were applied (those before a permanent write error), the command's
// result when all were, and the op the database refused, if any.
func (m *Mongo) bulk(ctx context.Context, ops []syncgate.Op) (int, *mongo.BulkWriteResult, *syncgate.Rejection, error) {
	models, err := writeModels(ops)
	if err != nil {
		return 0, nil, nil, err
	}
	release, err := m.acquire(ctx, "bulk write")
	if err != nil {
		return 0, nil, nil, err
	}
	defer release()
	wctx, cancel := context.WithTimeout(ctx, m.opts.Timeout)
	defer cancel()
	res, err := m.db.Collection(ops[0].Table).BulkWrite(wctx, models, options.BulkWrite().SetOrdered(true))
	if err == nil {
		return len(ops), res, nil, nil
	}
	var bwe mongo.BulkWriteException
	if errors.As(err, &bwe) && len(bwe.WriteErrors) > 0 && bwe.WriteConcernError == nil {
		we := bwe.WriteErrors[0]
		if !transientCode(we.Code) && we.Index >= 0 && we.Index < len(ops) {
			// The driver's counts of a failed command are not final.
			return we.Index, nil, refusal(ops[we.Index], we.Code, we.Message), nil
		}
	}
	return 0, nil, nil, classify("bulk write "+ops[0].Table, err)
}

// writeModels are ops as the driver's write models, their BSON built in one
// buffer and the models in one slice per kind (a command's worth of small
// allocations would be three per op).
func writeModels(ops []syncgate.Op) ([]mongo.WriteModel, error) {
	size := 0
	for _, op := range ops {
		size += 2*len(op.ID) + 32 + opDataSize(op.Data)
	}
	buf := make([]byte, 0, size)
	type span struct{ filter, doc [2]int }
	spans := make([]span, len(ops))
	var err error
	for i, op := range ops {
		start := len(buf)
		if buf, err = appendFilter(buf, op); err != nil {
			return nil, err
		}
		spans[i].filter = [2]int{start, len(buf)}
		start = len(buf)
		switch op.Op {
		case syncgate.Put:
			buf, err = appendReplacement(buf, op)
		case syncgate.Patch:
			buf, err = appendSet(buf, op)
		case syncgate.Delete:
		default:
			return nil, fmt.Errorf("store: unknown op %q", op.Op)
		}
		if err != nil {
			return nil, err
		}
		spans[i].doc = [2]int{start, len(buf)}
	}
	// The buffer is complete: slices of it stay valid.
	raw := func(s [2]int) bson.Raw { return bson.Raw(buf[s[0]:s[1]:s[1]]) }
	upsert := true
	var puts []mongo.ReplaceOneModel
	var patches []mongo.UpdateOneModel
	var deletes []mongo.DeleteOneModel
	models := make([]mongo.WriteModel, len(ops))
	for i, op := range ops {
		switch op.Op {
		case syncgate.Put:
			if puts == nil {
				puts = make([]mongo.ReplaceOneModel, 0, len(ops))
			}
			puts = append(puts, mongo.ReplaceOneModel{Filter: raw(spans[i].filter), Replacement: raw(spans[i].doc), Upsert: &upsert})
			models[i] = &puts[len(puts)-1]
		case syncgate.Patch:
			if patches == nil {
				patches = make([]mongo.UpdateOneModel, 0, len(ops))
			}
			patches = append(patches, mongo.UpdateOneModel{Filter: raw(spans[i].filter), Update: raw(spans[i].doc)})
			models[i] = &patches[len(patches)-1]
		default:
			if deletes == nil {
				deletes = make([]mongo.DeleteOneModel, 0, len(ops))
			}
			deletes = append(deletes, mongo.DeleteOneModel{Filter: raw(spans[i].filter)})
			models[i] = &deletes[len(deletes)-1]
		}
	}
	return models, nil
}

// opDataSize estimates d's BSON size, to size one buffer for a command.
func opDataSize(d syncgate.Doc) int {
	n := 16
	for _, f := range d {
		n += len(f.Key) + 16
		if s, ok := f.Value.(string); ok {
			n += len(s)
		}
	}
	return n
}

// missedPatches returns the PATCHes among ops, all written by one ordered
// command, that found no document and so wrote nothing. upload looks a
// PATCH's document up before the write only when a guest or strict mode
// needs it; otherwise this is where a missing one is noticed, without a
// query when the counts settle it: a PUT (replace with upsert) either
// matches or upserts, so the PATCHes matched MatchedCount − (PUTs −
// UpsertedCount) documents, and when that is every PATCH none missed
// (res nil: counts unknown, as after a refusal). Otherwise the documents are looked up after
// the write: applyOrdered ends a command before a PUT or DELETE of a
// document it PATCHes, so a PATCH's document is there now if and only if it
// was there at the PATCH, unless a PUT or DELETE earlier in the command
// decided it. Inside a transaction the lookup reads the transaction's own
// snapshot, so it is exact; without one, a concurrent writer changing the
// same document between the write and the lookup can make it wrong, as it
// could make a lookup before the write wrong.
func (m *Mongo) missedPatches(ctx context.Context, ops []syncgate.Op, res *mongo.BulkWriteResult) ([]syncgate.Rejection, error) {
	var puts, patches int64
	for _, op := range ops {
		switch op.Op {
		case syncgate.Put:
			puts++
		case syncgate.Patch:
			patches++
		}
	}
	if patches == 0 || res != nil && res.MatchedCount-(puts-res.UpsertedCount) >= patches {
		return nil, nil
	}
	var missed []syncgate.Rejection
	var look []int
	var ids bson.A
	exists := map[string]bool{} // decided by a PUT or DELETE earlier in ops
	for i, op := range ops {
		switch op.Op {
		case syncgate.Put:
			exists[op.ID] = true
		case syncgate.Delete:
			exists[op.ID] = false
		case syncgate.Patch:
			if e, decided := exists[op.ID]; decided {
				if !e {
					missed = append(missed, syncgate.PatchNotFound(op))
				}
				continue
			}
			look = append(look, i)
			ids = append(ids, idValue(op))
		}
	}
	if len(look) > 0 {
		found, err := m.find(ctx, ops[0].Table, ids)
		if err != nil {
			return nil, err
		}
		for _, i := range look {
			if _, ok := found[idString(idValue(ops[i]))]; !ok {
				missed = append(missed, syncgate.PatchNotFound(ops[i]))
			}
		}
	}
	return missed, nil
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

// refusal is op's rejection for a permanent database write error.
func refusal(op syncgate.Op, code int, msg string) *syncgate.Rejection {
	c, reason := permanentReason(code, msg)
	return &syncgate.Rejection{Index: op.Index, Op: op.Op, Table: op.Table, ID: op.ID, Code: c, Reason: reason}
}

// permanentReason gives a client-safe reason for a database write error.
func permanentReason(code int, msg string) (syncgate.Code, string) {
	switch code {
	case 11000, 11001:
		return syncgate.CodeDuplicateKey, "a document with the same unique key already exists"
	case 121:
		return syncgate.CodeDocumentValidation, "the database's collection validator refused the document"
	case 17419, 10334, 2:
		return syncgate.CodeDatabaseRefused, "the database refused the document: " + truncate(msg, 200)
	}
	return syncgate.CodeDatabaseRefused, fmt.Sprintf("the database refused the write (code %d)", code)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// RecordRejections stores rejected ops in the dead-letter collection.
func (m *Mongo) RecordRejections(ctx context.Context, b *syncgate.Batch, rejected []syncgate.Rejection) error {
	if len(rejected) == 0 {
		return nil
	}
	byIndex := opsByIndex(b)
	docs := make([]any, 0, len(rejected))
	for _, r := range rejected {
		d := append(recordHead(b, r),
			bson.E{Key: "code", Value: r.Code},
			bson.E{Key: "reason", Value: r.Reason},
			bson.E{Key: "state", Value: syncgate.StateOpen},
		)
		if op, ok := byIndex[r.Index]; ok {
			d = append(d, bson.E{Key: "data", Value: toBSON(op.Data)})
			if op.OpID != nil {
				d = append(d, bson.E{Key: "op_id", Value: op.OpID})
			}
		}
		if r.TxID != nil {
			d = append(d, bson.E{Key: "tx_id", Value: r.TxID})
		}
		if r.Raw != "" {
			d = append(d, bson.E{Key: "raw", Value: r.Raw})
			if r.RawTruncated {
				d = append(d, bson.E{Key: "raw_truncated", Value: true})
			}
		}
		docs = append(docs, d)
	}
	ctx, cancel := context.WithTimeout(ctx, m.opts.Timeout)
	defer cancel()
	if _, err := m.db.Collection(m.deadLetter).InsertMany(ctx, docs); err != nil {
		return classify("record rejections", err)
	}
	return nil
}

// opsByIndex finds a batch's ops by their index in the request.
func opsByIndex(b *syncgate.Batch) map[int]*syncgate.Op {
	byIndex := make(map[int]*syncgate.Op, len(b.Ops))
	for i := range b.Ops {
		byIndex[b.Ops[i].Index] = &b.Ops[i]
	}
	return byIndex
}

// recordHead is what a dead letter and a logged conflict both say of an
// op: which request, who, when, and which op of the batch on which document.
func recordHead(b *syncgate.Batch, r syncgate.Rejection) bson.D {
	return bson.D{
		{Key: "request_id", Value: b.RequestID},
		{Key: "user_id", Value: b.Caller.UserID},
		{Key: "at", Value: b.Received},
		{Key: "index", Value: r.Index},
		{Key: "op", Value: string(r.Op)},
		{Key: "table", Value: r.Table},
		{Key: "id", Value: r.ID},
	}
}

// classify wraps err with the operation. Transient failures (network,
// timeouts, server selection, not primary, shutdown) become an Unavailable
// *syncgate.Error, so the client is told to retry.
func classify(op string, err error) error {
	if err == nil {
		return nil
	}
	wrapped := fmt.Errorf("store: %s: %w", op, err)
	if isTransient(err) {
		return &syncgate.Error{Kind: syncgate.Unavailable, Code: syncgate.CodeDatabaseUnavailable,
			Message: "the database is unavailable; retry later", Err: wrapped}
	}
	return wrapped
}

func isTransient(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, mongo.ErrClientDisconnected) ||
		mongo.IsNetworkError(err) || mongo.IsTimeout(err) {
		return true
	}
	var sse mongo.ServerError
	if errors.As(err, &sse) {
		if sse.HasErrorLabel("RetryableWriteError") || sse.HasErrorLabel("TransientTransactionError") ||
			sse.HasErrorLabel("NetworkError") {
			return true
		}
		for _, c := range transientCodes {
			if sse.HasErrorCode(c) {
				return true
			}
		}
	}
	msg := err.Error()
	return strings.Contains(msg, "server selection") || strings.Contains(msg, "connection refused") ||
		strings.Contains(msg, "no reachable servers") || ferretInterrupted(err)
}

// ferretInterrupted reports FerretDB's answer to a command it was running
// while it shut down: an InternalError (code 1) whose message ends in
// "context canceled" (seen in TestReliabilityOutage as a 500: the database
// stopped mid-update). MongoDB says InterruptedAtShutdown (11600) there.
func ferretInterrupted(err error) bool {
	var sse mongo.ServerError
	return errors.As(err, &sse) && sse.HasErrorCode(1) && strings.Contains(err.Error(), "context canceled")
}

// transientCodes are MongoDB error codes that mean "try again later".
var transientCodes = []int{
	6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436, 50, 24, 112, 251, 46,
}

func transientCode(code int) bool {
	for _, c := range transientCodes {
		if c == code {
			return true
		}
	}
	return false
}

// ErrNoValidators means the server cannot hold $jsonSchema validators.
var ErrNoValidators = errors.New("this database does not support $jsonSchema collection validators (FerretDB does not); apply them on MongoDB")

// ApplyValidator sets collection's validator: create when missing, collMod
// otherwise, with the given validationLevel (strict, moderate) and
// validationAction (error, warn).
func (m *Mongo) ApplyValidator(ctx context.Context, collection string, validator any, level, action string) error {
	if m.FerretDB() {
		return ErrNoValidators
	}
	ctx, cancel := context.WithTimeout(ctx, m.opts.Timeout)
	defer cancel()
	names, err := m.db.ListCollectionNames(ctx, bson.D{{Key: "name", Value: collection}})
	if err != nil {
		return classify("list collections", err)
	}
	cmd := bson.D{{Key: "create", Value: collection}}
	if len(names) > 0 {
		cmd = bson.D{{Key: "collMod", Value: collection}}
	}
	cmd = append(cmd, bson.E{Key: "validator", Value: validator},
		bson.E{Key: "validationLevel", Value: level}, bson.E{Key: "validationAction", Value: action})
	if err := m.db.RunCommand(ctx, cmd).Err(); err != nil {
		var se mongo.ServerError
		if errors.As(err, &se) && se.HasErrorCode(115) { // CommandNotSupported / NotImplemented
			return ErrNoValidators
		}
		return classify(cmd[0].Key+" "+collection, err)
	}
	return nil
}

// Dump returns every document of table whose id starts with prefix, as a
// PowerSync client would see it (see fromBSON), keyed by id. It is for
// verification tools (the load generator's ledger check), not the request path.
func (m *Mongo) Dump(ctx context.Context, table, prefix string) (map[string]syncgate.Doc, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*m.opts.Timeout)
	defer cancel()
	cur, err := m.db.Collection(table).Find(ctx, bson.D{})
	if err != nil {
		return nil, classify("dump "+table, err)
	}
	out, err := readDocs(ctx, cur, func(id string) bool { return strings.HasPrefix(id, prefix) })
	if err != nil {
		return nil, classify("dump "+table, err)
	}
	return out, nil
}
