package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/syncgate/syncgate/host/store"
	"github.com/syncgate/syncgate/host/syncgate"
	"github.com/syncgate/syncgate/tests/internal/mongostub"
)

// These tests drive the store against mongostub, a wire-level stand-in, and
// assert the commands a MongoDB would receive. They cover what the embedded
// FerretDB cannot: the replica-set transaction path. They live here, not in
// host/store, because the stand-in is under tests/internal, which only
// tests/ may import; they use only the store's exported API. The store's
// pure functions are tested in host/store (plan_test.go, values_test.go).

const db = "app"

// apply is Apply without a stop, reporting the refused ops.
func apply(st *store.Mongo, ctx context.Context, ops []syncgate.Op) ([]syncgate.Rejection, error) {
	w, err := st.Apply(ctx, ops, nil)
	return w.Refused, err
}

// strictStop is strict mode's stop (host/batch): every refusal but a lost
// conflict its policy drops or logs.
func strictStop(r syncgate.Rejection) bool { return !r.Conflict.Quiet() }

func openStub(t *testing.T, cfg mongostub.Config, o store.Options) (*mongostub.Server, *store.Mongo) {
	t.Helper()
	s, err := mongostub.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if o.Timeout == 0 {
		o.Timeout = 2 * time.Second
	}
	st, err := store.Open(s.URI(), db, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close(context.Background()) })
	if _, err := st.Detect(t.Context()); err != nil {
		t.Fatal(err)
	}
	s.Reset()
	return s, st
}

func put(i int, table, id string, kv ...any) syncgate.Op {
	return syncgate.Op{Index: i, Op: syncgate.Put, Table: table, ID: id, Data: doc(kv...)}
}

func patch(i int, table, id string, kv ...any) syncgate.Op {
	return syncgate.Op{Index: i, Op: syncgate.Patch, Table: table, ID: id, Data: doc(kv...)}
}

func del(i int, table, id string) syncgate.Op {
	return syncgate.Op{Index: i, Op: syncgate.Delete, Table: table, ID: id}
}

func doc(kv ...any) syncgate.Doc {
	var d syncgate.Doc
	for i := 0; i+1 < len(kv); i += 2 {
		d = append(d, syncgate.Field{Key: kv[i].(string), Value: kv[i+1]})
	}
	return d
}

// stored is a collection of the stand-in as id → document (Extended JSON).
func stored(s *mongostub.Server, coll string) map[string]string {
	out := map[string]string{}
	for _, d := range s.Docs(db, coll) {
		id, _ := d.Lookup("_id").StringValueOK()
		out[id] = d.String()
	}
	return out
}

func ids(s *mongostub.Server, coll string) []string {
	var out []string
	for id := range stored(s, coll) {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// writes are the recorded commands that are not session bookkeeping.
func txnNumbers(cmds []mongostub.Command) []int64 {
	var out []int64
	for _, c := range cmds {
		if n, ok := c.TxnNumber(); ok && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

func names(cmds []mongostub.Command) string {
	var out []string
	for _, c := range cmds {
		if c.Name == "endSessions" {
			continue
		}
		out = append(out, c.Name)
	}
	return strings.Join(out, " ")
}

// TestDetectModes: transactions on a replica-set primary and on mongos;
// ordered writes on a standalone and on FerretDB even when it claims a set.
func TestDetectModes(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  mongostub.Config
		want store.Mode
	}{
		{"replica set", mongostub.Config{SetName: "rs0"}, store.ModeTransaction},
		{"mongos", mongostub.Config{Mongos: true}, store.ModeTransaction},
		{"standalone", mongostub.Config{}, store.ModeOrdered},
		{"FerretDB as a set", mongostub.Config{SetName: "rs0", FerretDB: true}, store.ModeOrdered},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, st := openStub(t, tc.cfg, store.Options{})
			if st.Mode() != tc.want {
				t.Fatalf("mode %s, want %s", st.Mode(), tc.want)
			}
			ops := make([]syncgate.Op, 40)
			for i := range ops {
				ops[i] = put(i, "lists", fmt.Sprintf("l%02d", i), "name", "x")
			}
			rej, err := apply(st, t.Context(), ops)
			if err != nil || len(rej) > 0 {
				t.Fatalf("apply: %v %v", rej, err)
			}
			if n := len(stored(s, "lists")); n != 40 {
				t.Fatalf("%d documents stored, want 40", n)
			}
			cmds := s.Commands(false)
			var inTxn, starts, commits, maxStmts int
			for _, c := range cmds {
				if _, ok := c.Lookup("autocommit").BooleanOK(); ok {
					inTxn++
				}
				if v, _ := c.Lookup("startTransaction").BooleanOK(); v {
					starts++
				}
				if c.Name == "commitTransaction" {
					commits++
				}
				if c.Name == "update" {
					maxStmts = max(maxStmts, len(c.Docs("updates")))
				}
			}
			if tc.want == store.ModeTransaction && (starts != 1 || commits != 1) {
				t.Fatalf("%d transactions started, %d commits, want 1 and 1: %s", starts, commits, names(cmds))
			}
			if tc.want == store.ModeOrdered && (inTxn != 0 || commits != 0) {
				t.Fatalf("transaction commands on a server without transactions: %s", names(cmds))
			}
			wantStmts := 40
			if tc.cfg.FerretDB {
				wantStmts = 16 // FerretDB's small update commands
			}
			if maxStmts != wantStmts {
				t.Fatalf("largest update command has %d statements, want %d", maxStmts, wantStmts)
			}
		})
	}
}

// TestTransactionCommands: what MongoDB sees of one batch over two
// collections: every write in one session and transaction, the first with
// startTransaction and autocommit:false, then commitTransaction with
// majority write concern; the documents as the ops say.
func TestTransactionCommands(t *testing.T) {
	s, st := openStub(t, mongostub.Config{SetName: "rs0"}, store.Options{})
	ctx := t.Context()
	s.Put(db, "lists", bson.D{{Key: "_id", Value: "old"}, {Key: "name", Value: "old"}})
	ops := []syncgate.Op{
		put(0, "lists", "a", "name", "A"),
		patch(1, "lists", "a", "done", int64(1)),
		del(2, "lists", "old"),
		put(3, "todos", "t", "list_id", "a"),
	}
	rej, err := apply(st, ctx, ops)
	if err != nil || len(rej) > 0 {
		t.Fatalf("apply: %v %v", rej, err)
	}
	cmds := s.Commands(false)
	// The delete of a document the batch did not touch before goes first
	// (plan), the lists' updates in one command after it.
	if got, want := names(cmds), "delete update update commitTransaction"; got != want {
		t.Fatalf("commands %q, want %q", got, want)
	}
	lsid := cmds[0].LSID()
	txn, ok := cmds[0].TxnNumber()
	if lsid == nil || !ok {
		t.Fatalf("first write without lsid/txnNumber: %s", cmds[0].Body)
	}
	for i, c := range cmds[:4] {
		if !bytes.Equal(c.LSID(), lsid) {
			t.Errorf("%s: another session", c.Name)
		}
		if n, _ := c.TxnNumber(); n != txn {
			t.Errorf("%s: txnNumber %d, want %d", c.Name, n, txn)
		}
		if auto, ok := c.Lookup("autocommit").BooleanOK(); !ok || auto {
			t.Errorf("%s: autocommit %v, want false", c.Name, c.Lookup("autocommit"))
		}
		start, _ := c.Lookup("startTransaction").BooleanOK()
		if start != (i == 0) {
			t.Errorf("%s: startTransaction %v", c.Name, start)
		}
	}
	if w := cmds[3].Lookup("writeConcern", "w"); w.StringValue() != "majority" {
		t.Errorf("commit write concern %v, want majority", cmds[3].Lookup("writeConcern"))
	}
	if got := stored(s, "lists"); len(got) != 1 || !strings.Contains(got["a"], `"done": {"$numberLong":"1"}`) {
		t.Errorf("lists: %v", got)
	}
	if got := ids(s, "todos"); !slices.Equal(got, []string{"t"}) {
		t.Errorf("todos: %v", got)
	}
	if s.OpenTransactions() != 0 {
		t.Error("a transaction was left open")
	}
}

// refuse makes the stand-in refuse every write of a document whose _id is in
// bad with code.
func refuse(code int, bad ...string) func(mongostub.Statement) *mongostub.WriteError {
	return func(st mongostub.Statement) *mongostub.WriteError {
		if slices.Contains(bad, st.ID()) {
			return &mongostub.WriteError{Code: code, Message: "refused by the test"}
		}
		return nil
	}
}

// TestTransactionRefusedOp: a duplicate key (11000) or a validator refusal
// (121) inside the transaction aborts it; the store drops that op, runs the
// rest as a new transaction, and reports the op rejected. Nothing of the
// aborted attempt is stored.
func TestTransactionRefusedOp(t *testing.T) {
	for _, tc := range []struct {
		code     int
		wantCode string
	}{{11000, "duplicate_key"}, {121, "document_validation"}} {
		t.Run(fmt.Sprint(tc.code), func(t *testing.T) {
			s, st := openStub(t, mongostub.Config{SetName: "rs0", Refuse: refuse(tc.code, "bad")}, store.Options{})
			ops := []syncgate.Op{put(0, "lists", "a"), put(1, "lists", "bad"), put(2, "lists", "c"), put(3, "todos", "t")}
			rej, err := apply(st, t.Context(), ops)
			if err != nil {
				t.Fatal(err)
			}
			if len(rej) != 1 || rej[0].Index != 1 || string(rej[0].Code) != tc.wantCode {
				t.Fatalf("rejections %+v, want index 1 %s", rej, tc.wantCode)
			}
			cmds := s.Commands(false)
			if got, want := names(cmds), "update abortTransaction update update commitTransaction"; got != want {
				t.Fatalf("commands %q, want %q", got, want)
			}
			if tn := txnNumbers(cmds); len(tn) != 2 {
				t.Fatalf("txnNumbers %v, want two transactions", tn)
			}
			if got := ids(s, "lists"); !slices.Equal(got, []string{"a", "c"}) {
				t.Fatalf("lists %v, want [a c]", got)
			}
			if got := ids(s, "todos"); !slices.Equal(got, []string{"t"}) {
				t.Fatalf("todos %v, want [t]", got)
			}
		})
	}
}

// TestTransactionRefusedStrict: with a stop that holds for the refusal
// (strict mode, UPLOAD_STRICT) a refusal aborts the transaction: the op
// reported, Aborted, nothing written.
func TestTransactionRefusedStrict(t *testing.T) {
	s, st := openStub(t, mongostub.Config{SetName: "rs0", Refuse: refuse(121, "bad")}, store.Options{})
	w, err := st.Apply(t.Context(), []syncgate.Op{put(0, "lists", "a"), put(1, "lists", "bad"), put(2, "todos", "t")}, strictStop)
	if err != nil || !w.Aborted || w.CommittedBefore || len(w.Refused) != 1 || w.Refused[0].Index != 1 || w.Refused[0].Code != syncgate.CodeDocumentValidation {
		t.Fatalf("%v %+v, want batch[1] refused and the transaction aborted", err, w)
	}
	if n := len(stored(s, "lists")) + len(stored(s, "todos")); n != 0 {
		t.Fatalf("%d documents written in strict mode", n)
	}
	if got, want := names(s.Commands(false)), "update abortTransaction"; got != want {
		t.Fatalf("commands %q, want %q", got, want)
	}
}

// TestTransactionTransientRetried: a TransientTransactionError (a write
// conflict, as an error reply or as a write error with the label; a
// connection lost mid-transaction) makes the driver retry the whole batch in
// a new transaction; the op is not rejected and everything is stored once.
// The batch alternates collections, and is written as one update per
// collection (lists a and b, then todos t).
func TestTransactionTransientRetried(t *testing.T) {
	label := []string{"TransientTransactionError"}
	for _, tc := range []struct {
		name  string
		fault mongostub.Fault
		want  string
	}{
		{"WriteConflict reply", mongostub.Fault{Command: "update", Skip: 1, Times: 1, Code: 112, CodeName: "WriteConflict", Labels: label},
			"update update abortTransaction update update commitTransaction"},
		{"WriteConflict write error", mongostub.Fault{Command: "update", Skip: 1, Times: 1, WriteErrors: []mongostub.WriteError{{Code: 112}}, Labels: label},
			"update update abortTransaction update update commitTransaction"},
		{"connection closed", mongostub.Fault{Command: "update", Skip: 1, Times: 1, Close: true},
			"update update abortTransaction update update commitTransaction"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, st := openStub(t, mongostub.Config{SetName: "rs0"}, store.Options{})
			f := s.AddFault(tc.fault)
			rej, err := apply(st, t.Context(), []syncgate.Op{put(0, "lists", "a"), put(1, "todos", "t"), put(2, "lists", "b")})
			if err != nil || len(rej) > 0 {
				t.Fatalf("apply: %v %v", rej, err)
			}
			if s.Fired(f) != 1 {
				t.Fatal("the fault did not fire")
			}
			cmds := s.Commands(false)
			if got := names(cmds); got != tc.want {
				t.Fatalf("commands %q, want %q", got, tc.want)
			}
			if tn := txnNumbers(cmds); len(tn) != 2 {
				t.Fatalf("txnNumbers %v, want two attempts", tn)
			}
			if got := ids(s, "lists"); !slices.Equal(got, []string{"a", "b"}) {
				t.Fatalf("lists %v", got)
			}
		})
	}
}

// TestTransactionCommitRetried: an UnknownTransactionCommitResult makes the
// driver retry only the commit (same txnNumber), whether the first commit
// took effect (its answer lost) or not.
func TestTransactionCommitRetried(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault mongostub.Fault
	}{
		{"refused with the label", mongostub.Fault{Command: "commitTransaction", Times: 1, Code: 91, CodeName: "ShutdownInProgress",
			Labels: []string{"UnknownTransactionCommitResult", "RetryableWriteError"}}},
		{"applied, answer lost", mongostub.Fault{Command: "commitTransaction", Times: 1, Close: true, AfterApply: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, st := openStub(t, mongostub.Config{SetName: "rs0"}, store.Options{})
			s.AddFault(tc.fault)
			rej, err := apply(st, t.Context(), []syncgate.Op{put(0, "lists", "a"), put(1, "lists", "b")})
			if err != nil || len(rej) > 0 {
				t.Fatalf("apply: %v %v", rej, err)
			}
			cmds := s.Commands(false)
			if got, want := names(cmds), "update commitTransaction commitTransaction"; got != want {
				t.Fatalf("commands %q, want %q", got, want)
			}
			if tn := txnNumbers(cmds); len(tn) != 1 {
				t.Fatalf("txnNumbers %v, want one transaction", tn)
			}
			if w := cmds[2].Lookup("writeConcern", "w"); w.StringValue() != "majority" {
				t.Errorf("retried commit's write concern %v, want majority", cmds[2].Lookup("writeConcern"))
			}
			if got := ids(s, "lists"); !slices.Equal(got, []string{"a", "b"}) {
				t.Fatalf("lists %v", got)
			}
		})
	}
}

// TestTransactionUnavailable: a primary that keeps failing mid-batch
// (NotWritablePrimary, connections dropped) ends in the store's transient
// error (503 + Retry-After upstream) within the time bound, and nothing of
// the batch is stored: the first collection's writes were never committed.
func TestTransactionUnavailable(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault mongostub.Fault
	}{
		{"NotWritablePrimary", mongostub.Fault{Command: "update", Collection: "todos", Code: 10107, CodeName: "NotWritablePrimary",
			Labels: []string{"TransientTransactionError"}}},
		{"network", mongostub.Fault{Command: "update", Collection: "todos", Close: true}},
		{"commit keeps failing", mongostub.Fault{Command: "commitTransaction", Code: 189, CodeName: "PrimarySteppedDown",
			Labels: []string{"TransientTransactionError"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// 1s: the driver marks the server unknown after these errors and
			// selects it again after a heartbeat (≥ 500ms), so the
			// transaction is tried at least twice.
			s, st := openStub(t, mongostub.Config{SetName: "rs0"}, store.Options{Timeout: time.Second})
			s.AddFault(tc.fault)
			began := time.Now()
			_, err := apply(st, t.Context(), []syncgate.Op{put(0, "lists", "a"), put(1, "todos", "t"), put(2, "lists", "b")})
			var se *syncgate.Error
			if !errors.As(err, &se) || se.Kind != syncgate.Unavailable {
				t.Fatalf("error %v, want Unavailable", err)
			}
			if d := time.Since(began); d > 8*time.Second {
				t.Fatalf("took %s with a 1s timeout", d)
			}
			if n := len(stored(s, "lists")) + len(stored(s, "todos")); n != 0 {
				t.Fatalf("%d documents of a failed transaction stored", n)
			}
			if n := txnNumbers(s.Commands(false)); len(n) < 2 {
				t.Errorf("txnNumbers %v: the transient error was not retried", n)
			}
			// The database recovers: the resend of the batch is applied.
			s.ClearFaults()
			rej, err := apply(st, t.Context(), []syncgate.Op{put(0, "lists", "a"), put(1, "todos", "t"), put(2, "lists", "b")})
			if err != nil || len(rej) > 0 {
				t.Fatalf("resend: %v %v", rej, err)
			}
			if got := ids(s, "lists"); !slices.Equal(got, []string{"a", "b"}) {
				t.Fatalf("lists after resend %v", got)
			}
		})
	}
}

// TestTransactionLimits: a batch past TxnMaxOps or TxnMaxBytes is written as
// several transactions in order; a failure in a later one is transient and
// the resend converges.
func TestTransactionLimits(t *testing.T) {
	big := strings.Repeat("x", 1000)
	ops := make([]syncgate.Op, 25)
	for i := range ops {
		ops[i] = put(i, "lists", fmt.Sprintf("l%02d", i), "name", big)
	}
	for _, tc := range []struct {
		name string
		o    store.Options
		want []int // ops per transaction
	}{
		{"ops", store.Options{TxnMaxOps: 10}, []int{10, 10, 5}},
		{"bytes", store.Options{TxnMaxBytes: 8 * 1100}, []int{8, 8, 8, 1}},
		{"within", store.Options{}, []int{25}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, st := openStub(t, mongostub.Config{SetName: "rs0"}, tc.o)
			rej, err := apply(st, t.Context(), ops)
			if err != nil || len(rej) > 0 {
				t.Fatalf("apply: %v %v", rej, err)
			}
			var got []int
			for _, c := range s.Commands(false) {
				if c.Name == "update" {
					got = append(got, len(c.Docs("updates")))
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("statements per transaction %v, want %v", got, tc.want)
			}
			if n := len(txnNumbers(s.Commands(false))); n != len(tc.want) {
				t.Fatalf("%d transactions, want %d", n, len(tc.want))
			}
			if n := len(stored(s, "lists")); n != 25 {
				t.Fatalf("%d stored", n)
			}
		})
	}
	t.Run("later part fails", func(t *testing.T) {
		s, st := openStub(t, mongostub.Config{SetName: "rs0"}, store.Options{TxnMaxOps: 10, Timeout: 500 * time.Millisecond})
		s.AddFault(mongostub.Fault{Command: "update", Skip: 1, Code: 10107, CodeName: "NotWritablePrimary", Labels: []string{"TransientTransactionError"}})
		_, err := apply(st, t.Context(), ops)
		var se *syncgate.Error
		if !errors.As(err, &se) || se.Kind != syncgate.Unavailable {
			t.Fatalf("error %v, want transient", err)
		}
		if n := len(stored(s, "lists")); n != 10 {
			t.Fatalf("%d stored, want the first transaction's 10", n)
		}
		s.ClearFaults()
		if _, err := apply(st, t.Context(), ops); err != nil {
			t.Fatal(err)
		}
		if n := len(stored(s, "lists")); n != 25 {
			t.Fatalf("%d stored after the resend", n)
		}
	})
	t.Run("strict refusal in a later part", func(t *testing.T) {
		s, st := openStub(t, mongostub.Config{SetName: "rs0", Refuse: refuse(121, "l12")}, store.Options{TxnMaxOps: 10})
		w, err := st.Apply(t.Context(), ops, strictStop)
		if err != nil || !w.Aborted || !w.CommittedBefore {
			t.Fatalf("%v %+v, want an abort after earlier transactions were written", err, w)
		}
		if n := len(stored(s, "lists")); n != 10 {
			t.Fatalf("%d stored, want the first transaction's 10", n)
		}
	})
}

// TestCurrentLookups: on MongoDB one find per collection with $in; on
// FerretDB one find per id (its $in does not use the _id index).
func TestCurrentLookups(t *testing.T) {
	for _, tc := range []struct {
		name      string
		cfg       mongostub.Config
		wantFinds int
		wantIn    bool
	}{
		{"replica set", mongostub.Config{SetName: "rs0"}, 2, true},
		{"FerretDB", mongostub.Config{FerretDB: true}, 3, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, st := openStub(t, tc.cfg, store.Options{})
			s.Put(db, "lists", bson.D{{Key: "_id", Value: "a"}, {Key: "name", Value: "A"}})
			s.Put(db, "todos", bson.D{{Key: "_id", Value: "t"}, {Key: "done", Value: true}})
			cur, err := st.Current(t.Context(), []syncgate.Op{patch(0, "lists", "a"), patch(1, "lists", "missing"), patch(2, "todos", "t")}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(cur["lists"]) != 1 || len(cur["todos"]) != 1 || cur["lists"]["a"][0].Value != "A" {
				t.Fatalf("current %v", cur)
			}
			finds := 0
			for _, c := range s.Commands(false) {
				if c.Name != "find" {
					continue
				}
				finds++
				_, err := c.Body.LookupErr("filter", "_id", "$in")
				if (err == nil) != tc.wantIn {
					t.Errorf("filter %s, want $in %v", c.Lookup("filter"), tc.wantIn)
				}
			}
			if finds != tc.wantFinds {
				t.Fatalf("%d finds, want %d", finds, tc.wantFinds)
			}
		})
	}
}

// TestCurrentProjected: a collection given fields is read with a
// projection of those fields (and _id) and its documents hold no other; an
// empty list tells only which documents exist; a collection not given
// fields is read whole. On both lookup shapes ($in, one find per id).
func TestCurrentProjected(t *testing.T) {
	for _, cfg := range []mongostub.Config{{SetName: "rs0"}, {FerretDB: true}} {
		s, st := openStub(t, cfg, store.Options{})
		s.Put(db, "lists", bson.D{{Key: "_id", Value: "a"}, {Key: "name", Value: "A"}, {Key: "owner_id", Value: "u1"}, {Key: "members", Value: bson.A{"u2"}}})
		s.Put(db, "todos", bson.D{{Key: "_id", Value: "t"}, {Key: "done", Value: true}})
		s.Put(db, "items", bson.D{{Key: "_id", Value: "i"}, {Key: "n", Value: int64(1)}, {Key: "m", Value: int64(2)}})
		ops := []syncgate.Op{patch(0, "lists", "a"), patch(1, "todos", "t"), patch(2, "todos", "gone"), patch(3, "items", "i")}
		cur, err := st.Current(t.Context(), ops, map[string][]string{"lists": {"owner_id", "members"}, "todos": {}})
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(cur["lists"]["a"]); got != "[{owner_id u1} {members [u2]}]" {
			t.Errorf("%+v: lists a %s, want owner_id and members only", cfg, got)
		}
		if d, ok := cur["todos"]["t"]; !ok || len(d) != 0 {
			t.Errorf("%+v: todos t %v (found %v), want found with no fields", cfg, d, ok)
		}
		if _, ok := cur["todos"]["gone"]; ok {
			t.Errorf("%+v: a missing document found", cfg)
		}
		if got := fmt.Sprint(cur["items"]["i"]); got != "[{n 1} {m 2}]" {
			t.Errorf("%+v: items i %s, want the whole document", cfg, got)
		}
		for _, c := range s.Commands(false) {
			if c.Name != "find" {
				continue
			}
			proj, hasProj := c.Body.Lookup("projection").DocumentOK()
			if coll := c.Collection(); coll == "items" && hasProj || coll != "items" && !hasProj {
				t.Errorf("%+v: find %s with projection %v", cfg, coll, proj)
			}
		}
	}
}

// TestDeadLettersRetried: the dead-letter insert is a retryable write
// (lsid, txnNumber): when its answer is lost the driver sends it again with
// the same txnNumber and MongoDB (here the stand-in) does not insert twice.
func TestDeadLettersRetried(t *testing.T) {
	s, st := openStub(t, mongostub.Config{SetName: "rs0"}, store.Options{})
	s.AddFault(mongostub.Fault{Command: "insert", Times: 1, Close: true, AfterApply: true})
	b := &syncgate.Batch{Ops: []syncgate.Op{put(0, "lists", "x")}, RequestID: "r1"}
	rej := []syncgate.Rejection{{Index: 0, Op: syncgate.Put, Table: "lists", ID: "x", Code: "c", Reason: "r"}}
	if err := st.RecordRejections(t.Context(), b, rej); err != nil {
		t.Fatal(err)
	}
	var inserts []mongostub.Command
	for _, c := range s.Commands(false) {
		if c.Name == "insert" {
			inserts = append(inserts, c)
		}
	}
	if len(inserts) != 2 {
		t.Fatalf("%d inserts, want the first and its retry", len(inserts))
	}
	n0, ok0 := inserts[0].TxnNumber()
	n1, ok1 := inserts[1].TxnNumber()
	if !ok0 || !ok1 || n0 != n1 {
		t.Fatalf("txnNumbers %d/%v %d/%v: not a retryable write", n0, ok0, n1, ok1)
	}
	if n := len(s.Docs(db, "syncgate_rejected")); n != 1 {
		t.Fatalf("%d dead letters, want 1", n)
	}
}

// TestConcurrentBatchesConflict: concurrent batches writing the same
// document in transactions meet MongoDB's WriteConflict; the driver retries
// the losers, every batch is applied, none is rejected, and the document is
// one batch's whole result (n and by from the same batch), never a mix.
func TestConcurrentBatchesConflict(t *testing.T) {
	s, st := openStub(t, mongostub.Config{SetName: "rs0"}, store.Options{Timeout: 10 * time.Second})
	const writers = 8
	errs := make(chan error, writers)
	for i := range writers {
		go func() {
			rej, err := apply(st, t.Context(), []syncgate.Op{
				put(0, "lists", "shared", "n", int64(i)),
				put(1, "todos", fmt.Sprintf("t%d", i)),
				patch(2, "lists", "shared", "by", int64(i)),
			})
			if err == nil && len(rej) > 0 {
				err = fmt.Errorf("rejected %v", rej)
			}
			errs <- err
		}()
	}
	for range writers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if s.Conflicts() == 0 {
		t.Log("no write conflict happened: the batches did not overlap this time")
	}
	docs := s.Docs(db, "lists")
	if len(docs) != 1 {
		t.Fatalf("%d lists", len(docs))
	}
	n, by := docs[0].Lookup("n").Int64(), docs[0].Lookup("by").Int64()
	if n != by {
		t.Fatalf("shared is a mix of two batches: n %d, by %d", n, by)
	}
	if got := len(s.Docs(db, "todos")); got != writers {
		t.Fatalf("%d todos, want %d", got, writers)
	}
	t.Logf("%d write conflicts retried", s.Conflicts())
}

// TestWriteConflictBetweenTransactions: the stand-in's lock, checked
// directly: a second transaction writing a document the first holds gets
// WriteConflict until the first commits.
func TestWriteConflictBetweenTransactions(t *testing.T) {
	s, err := mongostub.Start(mongostub.Config{SetName: "rs0"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, err := mongo.Connect(options.Client().ApplyURI(s.URI()).SetTimeout(5 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect(context.Background())
	ctx := t.Context()
	coll := c.Database(db).Collection("lists")
	s1, _ := c.StartSession()
	s2, _ := c.StartSession()
	defer s1.EndSession(ctx)
	defer s2.EndSession(ctx)
	s1.StartTransaction()
	s2.StartTransaction()
	if _, err := coll.InsertOne(mongo.NewSessionContext(ctx, s1), bson.D{{Key: "_id", Value: "x"}}); err != nil {
		t.Fatal(err)
	}
	_, err = coll.UpdateOne(mongo.NewSessionContext(ctx, s2), bson.D{{Key: "_id", Value: "x"}}, bson.D{{Key: "$set", Value: bson.D{{Key: "a", Value: 1}}}})
	var se mongo.ServerError
	if !errors.As(err, &se) || !se.HasErrorCode(112) || !se.HasErrorLabel("TransientTransactionError") {
		t.Fatalf("second writer: %v, want WriteConflict with TransientTransactionError", err)
	}
	s2.AbortTransaction(ctx)
	if err := s1.CommitTransaction(ctx); err != nil {
		t.Fatal(err)
	}
	s2.StartTransaction()
	if _, err := coll.UpdateOne(mongo.NewSessionContext(ctx, s2), bson.D{{Key: "_id", Value: "x"}}, bson.D{{Key: "$set", Value: bson.D{{Key: "a", Value: 1}}}}); err != nil {
		t.Fatalf("after the first committed: %v", err)
	}
	if err := s2.CommitTransaction(ctx); err != nil {
		t.Fatal(err)
	}
	if got := s.Docs(db, "lists"); len(got) != 1 || got[0].Lookup("a").Int32() != 1 {
		t.Fatalf("lists %v", got)
	}
}

// TestApplyGroupsByCollection: a batch that alternates collections is
// written as one series of commands per collection, each document's ops in
// the batch's order; a refused op (no transactions here) is rejected and
// the ops of its collection after it still run; rejections come back in
// batch order.
func TestApplyGroupsByCollection(t *testing.T) {
	s, st := openStub(t, mongostub.Config{Refuse: refuse(11000, "b")}, store.Options{})
	ops := []syncgate.Op{
		put(0, "lists", "a", "n", 1), put(1, "todos", "t", "n", 1), patch(2, "lists", "a", "n", 2),
		del(3, "todos", "t"), put(4, "lists", "b"), put(5, "todos", "u", "n", 3), put(6, "lists", "c", "n", 4),
		put(7, "todos", "b"),
	}
	rej, err := apply(st, t.Context(), ops)
	if err != nil {
		t.Fatal(err)
	}
	if len(rej) != 2 || rej[0].Index != 4 || rej[1].Index != 7 {
		t.Fatalf("rejections %+v, want batch[4] then batch[7]", rej)
	}
	lists, todos := stored(s, "lists"), stored(s, "todos")
	if len(lists) != 2 || !strings.Contains(lists["a"], `"n": {"$numberInt":"2"}`) || lists["c"] == "" {
		t.Errorf("lists %v: want a patched to 2, and c", lists)
	}
	if len(todos) != 1 || todos["u"] == "" {
		t.Errorf("todos %v: want u only (t put then deleted)", todos)
	}
	// lists: update [a, patch a, b refused], update [c]; todos: update [t],
	// delete [t], update [u, b refused]. One run per op kind, not per
	// collection switch (the batch switches collection 7 times).
	if got := names(s.Commands(false)); got != "update update update delete update" {
		t.Errorf("commands %q", got)
	}
}

// TestFerretDBShutdownIsTransient: FerretDB answers a command it was running
// when it stopped with InternalError "… context canceled"; that is a 503 the
// client retries (it was a 500 in TestReliabilityOutage), while another
// InternalError stays an internal error.
func TestFerretDBShutdownIsTransient(t *testing.T) {
	for _, tc := range []struct {
		msg       string
		transient bool
	}{
		{"[msg_update.go:133 handler.(*Handler).updateDocument] [db.go:167 fsql.(*DB).InTransaction] context canceled", true},
		{"something else broke", false},
	} {
		s, st := openStub(t, mongostub.Config{FerretDB: true}, store.Options{})
		s.AddFault(mongostub.Fault{Command: "update", Times: 1, Code: 1, CodeName: "InternalError", Message: tc.msg})
		_, err := apply(st, t.Context(), []syncgate.Op{put(0, "lists", "a")})
		var se *syncgate.Error
		if got := errors.As(err, &se) && se.Kind == syncgate.Unavailable; got != tc.transient {
			t.Errorf("%q: error %v; transient %v, want %v", tc.msg, err, got, tc.transient)
		}
	}
}

// TestPatchMissesFoundAtWrite: a PATCH whose document is not there writes
// nothing and comes back rejected not_found, whether the write's counts
// settle it or the store has to look (after a refusal); a PATCH of a
// document the same command puts or deletes later is exact too, since the
// command ends before that op. When every PATCH matched there is no lookup.
func TestPatchMissesFoundAtWrite(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  mongostub.Config
	}{
		{"standalone", mongostub.Config{Refuse: refuse(11000, "refused")}},
		{"replica set", mongostub.Config{SetName: "rs0", Refuse: refuse(11000, "refused")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, st := openStub(t, tc.cfg, store.Options{})
			s.Put(db, "lists", bson.D{{Key: "_id", Value: "a"}, {Key: "n", Value: int32(0)}})
			s.Put(db, "lists", bson.D{{Key: "_id", Value: "gone"}, {Key: "n", Value: int32(0)}})

			// Every PATCH finds its document: the counts say so, no find.
			rej, err := apply(st, t.Context(), []syncgate.Op{patch(0, "lists", "a", "n", 1), put(1, "lists", "b"), patch(2, "lists", "b", "n", 2)})
			if err != nil || len(rej) != 0 {
				t.Fatalf("rejections %+v, err %v", rej, err)
			}
			for _, c := range s.Commands(false) {
				if c.Name == "find" {
					t.Fatalf("a lookup although every PATCH matched: %s", c.Body)
				}
			}

			ops := []syncgate.Op{
				patch(0, "lists", "a", "n", 3),
				patch(1, "lists", "ghost", "n", 1),    // never there
				del(2, "lists", "gone"),               //
				patch(3, "lists", "gone", "n", 1),     // deleted just before
				patch(4, "lists", "later", "n", 1),    // not there yet...
				put(5, "lists", "later", "n", 5),      // ...put after it
				patch(6, "lists", "a", "n", 4),        //
				patch(7, "lists", "phantom", "n", 1),  // missing, before a refusal
				put(8, "lists", "refused"),            // refused: duplicate key
				patch(9, "lists", "b", "n", 9),        //
				patch(10, "todos", "nowhere", "n", 1), // another collection
				put(11, "todos", "t", "n", 1),         //
			}
			rej, err = apply(st, t.Context(), ops)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range rej {
				got = append(got, fmt.Sprintf("%d:%s", r.Index, r.Code))
				if r.Code == syncgate.CodeDocumentNotFound && !strings.Contains(r.Reason, "no such document") {
					t.Errorf("reason %q", r.Reason)
				}
			}
			slices.Sort(got)
			want := []string{"10:not_found", "1:not_found", "3:not_found", "4:not_found", "7:not_found", "8:duplicate_key"}
			if !slices.Equal(got, want) {
				t.Fatalf("rejections %v, want %v", got, want)
			}
			lists := stored(s, "lists")
			if !strings.Contains(lists["a"], `"$numberInt":"4"`) || !strings.Contains(lists["b"], `"$numberInt":"9"`) ||
				!strings.Contains(lists["later"], `"$numberInt":"5"`) {
				t.Errorf("lists %v: want a=4, b=9, later=5", lists)
			}
			for _, id := range []string{"ghost", "gone", "phantom", "refused"} {
				if _, ok := lists[id]; ok {
					t.Errorf("lists has %s: %v", id, lists)
				}
			}
			if todos := stored(s, "todos"); len(todos) != 1 || todos["t"] == "" {
				t.Errorf("todos %v: want t only", todos)
			}
		})
	}
}

// TestDeadLetterRecordsStageRulesClaims: a dead letter keeps the stage that
// refused the op, the rules set's id and the caller's claims, and reads
// them back as a token's claims decode (numbers float64, objects maps).
func TestDeadLetterRecordsStageRulesClaims(t *testing.T) {
	_, st := openStub(t, mongostub.Config{SetName: "rs0"}, store.Options{})
	claims := map[string]any{"org_id": "o1", "roles": []any{"admin"}, "level": float64(3), "custom_data": map[string]any{"team": "t1"}}
	b := &syncgate.Batch{Ops: []syncgate.Op{put(0, "lists", "x")}, RequestID: "r1", RulesID: "abc123",
		Caller: syncgate.Caller{UserID: "alice", Claims: claims}}
	rej := []syncgate.Rejection{{Index: 0, Op: syncgate.Put, Table: "lists", ID: "x", Code: "forbidden", Reason: "no role", Stage: "authorize"}}
	if err := st.RecordRejections(t.Context(), b, rej); err != nil {
		t.Fatal(err)
	}
	got, err := st.DeadLetters().List(t.Context(), syncgate.DeadLetterFilter{})
	if err != nil || len(got) != 1 {
		t.Fatalf("%v %v", got, err)
	}
	if d := got[0]; d.Stage != "authorize" || d.Rules != "abc123" || !reflect.DeepEqual(d.Claims, claims) {
		t.Fatalf("recorded stage %q rules %q claims %#v", d.Stage, d.Rules, d.Claims)
	}
}
