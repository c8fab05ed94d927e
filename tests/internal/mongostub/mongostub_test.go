package mongostub

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"
)

func connect(t *testing.T, cfg Config) (*Server, *mongo.Client) {
	t.Helper()
	s, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	c, err := mongo.Connect(options.Client().ApplyURI(s.URI()).SetTimeout(5 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Disconnect(context.Background()) })
	return s, c
}

// The counts a driver reads back are MongoDB's: matched, modified, upserted,
// deleted; find by $in returns the stored documents.
func TestCounts(t *testing.T) {
	for _, cfg := range []Config{{}, {SetName: "rs0"}} {
		s, c := connect(t, cfg)
		ctx := t.Context()
		coll := c.Database("d").Collection("c")
		if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "a"}, {Key: "v", Value: 1}}); err != nil {
			t.Fatal(err)
		}
		r, err := coll.ReplaceOne(ctx, bson.D{{Key: "_id", Value: "b"}}, bson.D{{Key: "v", Value: 2}}, options.Replace().SetUpsert(true))
		if err != nil || r.UpsertedCount != 1 || r.MatchedCount != 0 {
			t.Fatalf("upsert: %+v %v", r, err)
		}
		u, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: "a"}}, bson.D{{Key: "$set", Value: bson.D{{Key: "v", Value: 1}}}})
		if err != nil || u.MatchedCount != 1 || u.ModifiedCount != 0 {
			t.Fatalf("same $set: %+v %v", u, err)
		}
		u, err = coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: "a"}}, bson.D{{Key: "$set", Value: bson.D{{Key: "w", Value: 3}}}})
		if err != nil || u.MatchedCount != 1 || u.ModifiedCount != 1 {
			t.Fatalf("$set: %+v %v", u, err)
		}
		u, err = coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: "zz"}}, bson.D{{Key: "$set", Value: bson.D{{Key: "w", Value: 3}}}})
		if err != nil || u.MatchedCount != 0 {
			t.Fatalf("$set of a missing document: %+v %v", u, err)
		}
		_, err = coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "a"}})
		if !mongo.IsDuplicateKeyError(err) {
			t.Fatalf("second insert of a: %v, want duplicate key", err)
		}
		cur, err := coll.Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: bson.A{"a", "b", "x"}}}}})
		if err != nil {
			t.Fatal(err)
		}
		var got []bson.M
		if err := cur.All(ctx, &got); err != nil || len(got) != 2 || got[0]["w"] != int32(3) || got[1]["v"] != int32(2) {
			t.Fatalf("find: %v %v", got, err)
		}
		d, err := coll.DeleteOne(ctx, bson.D{{Key: "_id", Value: "b"}})
		if err != nil || d.DeletedCount != 1 {
			t.Fatalf("delete: %+v %v", d, err)
		}
		if n := len(s.Docs("d", "c")); n != 1 {
			t.Fatalf("%d documents stored, want 1", n)
		}
		if _, err := coll.Find(ctx, bson.D{{Key: "v", Value: bson.D{{Key: "$mod", Value: bson.A{2, 0}}}}}); err == nil {
			t.Fatal("an unsupported filter was answered")
		}
		// Filters on other fields scan (GridFS's finds and deletes).
		coll.InsertMany(ctx, []any{bson.D{{Key: "_id", Value: "p"}, {Key: "g", Value: "x"}, {Key: "n", Value: 2}, {Key: "m", Value: bson.D{{Key: "s", Value: "y"}}}},
			bson.D{{Key: "_id", Value: "q"}, {Key: "g", Value: "x"}, {Key: "n", Value: 1}}})
		cur, err = coll.Find(ctx, bson.D{{Key: "g", Value: bson.D{{Key: "$eq", Value: "x"}}}}, options.Find().SetSort(bson.D{{Key: "n", Value: 1}}))
		if err != nil {
			t.Fatal(err)
		}
		if err := cur.All(ctx, &got); err != nil || len(got) != 2 || got[0]["_id"] != "q" {
			t.Fatalf("find by g sorted by n: %v %v", got, err)
		}
		cur, err = coll.Find(ctx, bson.D{{Key: "m.s", Value: bson.D{{Key: "$exists", Value: true}}}})
		if err != nil {
			t.Fatal(err)
		}
		if err := cur.All(ctx, &got); err != nil || len(got) != 1 || got[0]["_id"] != "p" {
			t.Fatalf("find by m.s $exists: %v %v", got, err)
		}
		if d, err := coll.DeleteMany(ctx, bson.D{{Key: "g", Value: "x"}}); err != nil || d.DeletedCount != 2 {
			t.Fatalf("delete by g: %+v %v", d, err)
		}
	}
}

// A transaction's writes reach the shared data only on commit.
func TestTransactions(t *testing.T) {
	s, c := connect(t, Config{SetName: "rs0"})
	ctx := t.Context()
	coll := c.Database("d").Collection("c")
	sess, err := c.StartSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.EndSession(ctx)
	run := func(commit bool) {
		if err := sess.StartTransaction(); err != nil {
			t.Fatal(err)
		}
		sctx := mongo.NewSessionContext(ctx, sess)
		if _, err := coll.InsertOne(sctx, bson.D{{Key: "_id", Value: commit}}); err != nil {
			t.Fatal(err)
		}
		if n := len(s.Docs("d", "c")); n != 0 && !commit {
			t.Fatalf("uncommitted write visible: %d documents", n)
		}
		if commit {
			err = sess.CommitTransaction(ctx)
		} else {
			err = sess.AbortTransaction(ctx)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	run(false)
	if n := len(s.Docs("d", "c")); n != 0 {
		t.Fatalf("aborted write stored: %d documents", n)
	}
	run(true)
	if n := len(s.Docs("d", "c")); n != 1 {
		t.Fatalf("committed write not stored: %d documents", n)
	}
	if n := s.OpenTransactions(); n != 0 {
		t.Fatalf("%d transactions left open", n)
	}
}

// Faults fire as planned: Skip, Times, code and labels, write errors, and
// a closed connection the driver sees as a network error.
func TestFaults(t *testing.T) {
	s, c := connect(t, Config{})
	ctx := t.Context()
	coll := c.Database("d").Collection("c")
	f := s.AddFault(Fault{Command: "insert", Skip: 1, Times: 1, Code: 112, CodeName: "WriteConflict", Labels: []string{"TransientTransactionError"}})
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}}); err != nil {
		t.Fatalf("skipped insert: %v", err)
	}
	_, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 2}})
	var se mongo.ServerError
	if !errors.As(err, &se) || !se.HasErrorCode(112) || !se.HasErrorLabel("TransientTransactionError") {
		t.Fatalf("faulted insert: %v", err)
	}
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 3}}); err != nil || s.Fired(f) != 1 {
		t.Fatalf("after Times: %v, fired %d", err, s.Fired(f))
	}
	s.AddFault(Fault{Command: "update", Times: 1, WriteErrors: []WriteError{{Code: 121, Message: "Document failed validation"}}})
	_, err = coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$set", Value: bson.D{{Key: "x", Value: 1}}}})
	var we mongo.WriteException
	if !errors.As(err, &we) || len(we.WriteErrors) != 1 || we.WriteErrors[0].Code != 121 {
		t.Fatalf("write error: %v", err)
	}
	// Without a client timeout (CSOT retries until its deadline) the driver
	// retries a read once: two closed connections reach the caller.
	plain, err := mongo.Connect(options.Client().ApplyURI(s.URI()))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Disconnect(context.Background())
	f = s.AddFault(Fault{Command: "find", Times: 2, Close: true})
	_, err = plain.Database("d").Collection("c").Find(ctx, bson.D{})
	if !mongo.IsNetworkError(err) || s.Fired(f) != 2 {
		t.Fatalf("closed connection: %v (fired %d), want a network error; commands %v", err, s.Fired(f), s.Names())
	}
	if _, err := coll.Find(ctx, bson.D{}); err != nil {
		t.Fatalf("after the closed connection: %v", err)
	}
}

// Discard acknowledges without keeping; Delay answers late; an
// unacknowledged write (w:0, moreToCome) gets no answer and the connection
// stays usable.
func TestDiscardDelayUnacknowledged(t *testing.T) {
	s, c := connect(t, Config{Discard: true})
	ctx := t.Context()
	coll := c.Database("d").Collection("c")
	u, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: "x"}}, bson.D{{Key: "$set", Value: bson.D{{Key: "a", Value: 1}}}})
	if err != nil || u.MatchedCount != 1 || u.ModifiedCount != 1 {
		t.Fatalf("discarded update: %+v %v", u, err)
	}
	if n := len(s.Docs("d", "c")); n != 0 {
		t.Fatalf("Discard kept %d documents", n)
	}
	s.AddFault(Fault{Command: "find", Times: 1, Delay: 300 * time.Millisecond})
	began := time.Now()
	if _, err := coll.Find(ctx, bson.D{}); err != nil || time.Since(began) < 300*time.Millisecond {
		t.Fatalf("delayed find: %v after %s", err, time.Since(began))
	}

	s2, c2 := connect(t, Config{})
	w0 := c2.Database("d").Collection("c", options.Collection().SetWriteConcern(writeconcern.Unacknowledged()))
	if _, err := w0.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(s2.Docs("d", "c")) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the unacknowledged insert never arrived")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := c2.Database("d").Collection("c").InsertOne(ctx, bson.D{{Key: "_id", Value: 2}}); err != nil {
		t.Fatalf("after an unacknowledged write: %v", err)
	}
}

// A transaction sees its own writes over the shared data; outside it they
// are invisible until commit, deletes included; many deletes keep the
// insertion order of what is left.
func TestTransactionLayer(t *testing.T) {
	s, c := connect(t, Config{SetName: "rs0"})
	ctx := t.Context()
	coll := c.Database("d").Collection("c")
	for i := range 10 {
		if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: i}}); err != nil {
			t.Fatal(err)
		}
	}
	idsOf := func(ctx context.Context) []int32 {
		cur, err := coll.Find(ctx, bson.D{})
		if err != nil {
			t.Fatal(err)
		}
		var docs []struct {
			ID int32 `bson:"_id"`
		}
		if err := cur.All(ctx, &docs); err != nil {
			t.Fatal(err)
		}
		var out []int32
		for _, d := range docs {
			out = append(out, d.ID)
		}
		return out
	}
	sess, err := c.StartSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.EndSession(ctx)
	if err := sess.StartTransaction(); err != nil {
		t.Fatal(err)
	}
	sctx := mongo.NewSessionContext(ctx, sess)
	for i := range 6 {
		if _, err := coll.DeleteOne(sctx, bson.D{{Key: "_id", Value: i}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := coll.InsertOne(sctx, bson.D{{Key: "_id", Value: 42}}); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(idsOf(sctx)); got != "[6 7 8 9 42]" {
		t.Fatalf("inside the transaction: %s", got)
	}
	if got := fmt.Sprint(idsOf(ctx)); got != "[0 1 2 3 4 5 6 7 8 9]" {
		t.Fatalf("outside before commit: %s", got)
	}
	if err := sess.CommitTransaction(ctx); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(idsOf(ctx)); got != "[6 7 8 9 42]" {
		t.Fatalf("after commit: %s", got)
	}
	if n := len(s.Docs("d", "c")); n != 5 {
		t.Fatalf("%d documents", n)
	}
}

// TestNoLog: a stand-in with NoLog answers as usual and records nothing.
func TestNoLog(t *testing.T) {
	for _, noLog := range []bool{false, true} {
		s, c := connect(t, Config{NoLog: noLog})
		coll := c.Database("d").Collection("c")
		if _, err := coll.InsertOne(t.Context(), bson.D{{Key: "_id", Value: "a"}}); err != nil {
			t.Fatal(err)
		}
		if err := coll.FindOne(t.Context(), bson.D{{Key: "_id", Value: "a"}}).Err(); err != nil {
			t.Fatal(err)
		}
		if got := len(s.Commands(false)); (got == 0) != noLog {
			t.Fatalf("NoLog %v: %d commands recorded", noLog, got)
		}
	}
}

// TestQueryOperators: the filters the store sends besides _id lookups —
// $in and $nin on a field (an array field matching by element, null
// matching an absent field), a top-level $or of them (parents looked up by
// several fields), $nin beside an _id $in (open dead letters) — select as
// on MongoDB, and an operator the stand-in does not know is refused.
func TestQueryOperators(t *testing.T) {
	_, c := connect(t, Config{SetName: "rs0"})
	ctx := t.Context()
	coll := c.Database("d").Collection("lists")
	docs := []any{
		bson.D{{Key: "_id", Value: "a"}, {Key: "owner", Value: "alice"}, {Key: "members", Value: bson.A{"bob"}}, {Key: "state", Value: "open"}},
		bson.D{{Key: "_id", Value: "b"}, {Key: "owner", Value: "bob"}, {Key: "members", Value: bson.A{"carol", "dan"}}, {Key: "state", Value: "replayed"}},
		bson.D{{Key: "_id", Value: "c"}, {Key: "owner", Value: "carol"}},
	}
	if _, err := coll.InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}
	ids := func(filter bson.D) string {
		t.Helper()
		cur, err := coll.Find(ctx, filter)
		if err != nil {
			t.Fatalf("%v: %v", filter, err)
		}
		var got []bson.M
		if err := cur.All(ctx, &got); err != nil {
			t.Fatal(err)
		}
		out := ""
		for _, d := range got {
			out += fmt.Sprint(d["_id"])
		}
		return out
	}
	for _, tc := range []struct {
		filter bson.D
		want   string
	}{
		{bson.D{{Key: "owner", Value: bson.D{{Key: "$in", Value: bson.A{"alice", "carol"}}}}}, "ac"},
		{bson.D{{Key: "members", Value: bson.D{{Key: "$in", Value: bson.A{"dan"}}}}}, "b"},
		{bson.D{{Key: "members", Value: bson.D{{Key: "$in", Value: bson.A{nil}}}}}, "c"},
		{bson.D{{Key: "members", Value: "bob"}}, "a"},
		{bson.D{{Key: "members", Value: bson.D{{Key: "$nin", Value: bson.A{"bob", "dan"}}}}}, "c"},
		{bson.D{{Key: "$or", Value: bson.A{bson.D{{Key: "owner", Value: bson.D{{Key: "$in", Value: bson.A{"bob"}}}}},
			bson.D{{Key: "members", Value: bson.D{{Key: "$in", Value: bson.A{"bob"}}}}}}}}, "ab"},
		{bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: bson.A{"a", "b", "c"}}}}, {Key: "state", Value: bson.D{{Key: "$nin", Value: bson.A{"replayed"}}}}}, "ac"},
		{bson.D{{Key: "state", Value: bson.D{{Key: "$gte", Value: "o"}, {Key: "$lt", Value: "q"}}}}, "a"},
		{bson.D{{Key: "owner", Value: bson.D{{Key: "$gt", Value: "alice"}, {Key: "$lte", Value: "bob"}}}}, "b"},
		{bson.D{{Key: "owner", Value: bson.D{{Key: "$gt", Value: "alice"}, {Key: "$lt", Value: "bob"}}}}, ""},
	} {
		if got := ids(tc.filter); got != tc.want {
			t.Errorf("%v: %q, want %q", tc.filter, got, tc.want)
		}
	}
	if _, err := coll.Find(ctx, bson.D{{Key: "owner", Value: bson.D{{Key: "$regex", Value: "a"}}}}); err == nil {
		t.Error("an unknown operator was not refused")
	}
}

// TestAggregate: CountDocuments (with a filter, skip and limit), a $group by
// a document of fields with a $sum of a field, and the refusal of a stage
// the stand-in does not know.
func TestAggregate(t *testing.T) {
	_, c := connect(t, Config{SetName: "rs0"})
	ctx := t.Context()
	coll := c.Database("d").Collection("dead")
	var docs []any
	for i, tc := range []struct{ table, code string }{{"lists", "forbidden"}, {"todos", "forbidden"}, {"lists", "forbidden"}, {"lists", "schema"}, {"todos", "forbidden"}} {
		docs = append(docs, bson.D{{Key: "_id", Value: i}, {Key: "table", Value: tc.table}, {Key: "code", Value: tc.code}, {Key: "n", Value: i}})
	}
	if _, err := coll.InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		filter bson.D
		opts   *options.CountOptionsBuilder
		want   int64
	}{
		{bson.D{}, nil, 5},
		{bson.D{{Key: "table", Value: "lists"}}, nil, 3},
		{bson.D{{Key: "code", Value: "forbidden"}}, options.Count().SetSkip(1).SetLimit(2), 2},
		{bson.D{{Key: "table", Value: "users"}}, nil, 0},
	} {
		got, err := coll.CountDocuments(ctx, tc.filter, tc.opts)
		if err != nil || got != tc.want {
			t.Errorf("CountDocuments(%v): %d, %v; want %d", tc.filter, got, err, tc.want)
		}
	}
	cur, err := coll.Aggregate(ctx, bson.A{
		bson.D{{Key: "$match", Value: bson.D{{Key: "n", Value: bson.D{{Key: "$gte", Value: 1}}}}}},
		bson.D{{Key: "$group", Value: bson.D{{Key: "_id", Value: bson.D{{Key: "table", Value: "$table"}, {Key: "code", Value: "$code"}}},
			{Key: "count", Value: bson.D{{Key: "$sum", Value: 1}}}, {Key: "total", Value: bson.D{{Key: "$sum", Value: "$n"}}}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []struct {
		ID struct {
			Table string `bson:"table"`
			Code  string `bson:"code"`
		} `bson:"_id"`
		Count int64 `bson:"count"`
		Total int64 `bson:"total"`
	}
	if err := cur.All(ctx, &got); err != nil {
		t.Fatal(err)
	}
	out := fmt.Sprint(got)
	if want := "[{{todos forbidden} 2 5} {{lists forbidden} 1 2} {{lists schema} 1 3}]"; out != want {
		t.Errorf("grouped: %s, want %s", out, want)
	}
	if _, err := coll.Aggregate(ctx, bson.A{bson.D{{Key: "$lookup", Value: bson.D{{Key: "from", Value: "x"}}}}}); err == nil {
		t.Error("an unknown stage was not refused")
	}
}

// TestUpdateManyByIDs: UpdateMany by {_id: {$in: [...]}} with a condition
// on another field updates each matching document once (an id listed
// twice, an absent one and one that fails the condition do not count),
// while a multi update without ids is still refused.
func TestUpdateManyByIDs(t *testing.T) {
	_, c := connect(t, Config{SetName: "rs0"})
	ctx := t.Context()
	coll := c.Database("d").Collection("dead")
	if _, err := coll.InsertMany(ctx, []any{
		bson.D{{Key: "_id", Value: "a"}, {Key: "state", Value: "new"}},
		bson.D{{Key: "_id", Value: "b"}, {Key: "state", Value: "replayed"}},
		bson.D{{Key: "_id", Value: "c"}, {Key: "state", Value: "new"}, {Key: "replays", Value: int32(2)}},
	}); err != nil {
		t.Fatal(err)
	}
	res, err := coll.UpdateMany(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: bson.A{"a", "b", "c", "a", "z"}}}},
		{Key: "state", Value: bson.D{{Key: "$nin", Value: bson.A{"replayed"}}}}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "state", Value: "replayed"}}}, {Key: "$inc", Value: bson.D{{Key: "replays", Value: int32(1)}}}})
	if err != nil || res.MatchedCount != 2 || res.ModifiedCount != 2 {
		t.Fatalf("UpdateMany: %+v, %v; want 2 matched and modified", res, err)
	}
	var got []struct {
		ID      string `bson:"_id"`
		State   string `bson:"state"`
		Replays int64  `bson:"replays"`
	}
	cur, err := coll.Find(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	if err := cur.All(ctx, &got); err != nil {
		t.Fatal(err)
	}
	if s := fmt.Sprint(got); s != "[{a replayed 1} {b replayed 0} {c replayed 3}]" {
		t.Errorf("after UpdateMany: %s", s)
	}
	if _, err := coll.UpdateMany(ctx, bson.D{{Key: "state", Value: "new"}}, bson.D{{Key: "$set", Value: bson.D{{Key: "x", Value: 1}}}}); err == nil {
		t.Error("an update without ids was not refused")
	}
}

// TestIncTypes: $inc keeps MongoDB's number types: an int stays an int (a
// long once it overflows), a long or a double in either makes the sum one,
// and an absent field counts as an int.
func TestIncTypes(t *testing.T) {
	_, c := connect(t, Config{SetName: "rs0"})
	ctx := t.Context()
	coll := c.Database("d").Collection("n")
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}, {Key: "i", Value: int32(1)}, {Key: "big", Value: int32(2147483647)},
		{Key: "l", Value: int64(1)}, {Key: "d", Value: 1.5}}); err != nil {
		t.Fatal(err)
	}
	if _, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$inc", Value: bson.D{
		{Key: "i", Value: int32(2)}, {Key: "big", Value: int32(1)}, {Key: "l", Value: int32(1)}, {Key: "d", Value: int32(1)},
		{Key: "new", Value: int32(3)}, {Key: "i2l", Value: int64(3)}}}}); err != nil {
		t.Fatal(err)
	}
	var got bson.Raw
	if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: 1}}).Decode(&got); err != nil {
		t.Fatal(err)
	}
	for field, want := range map[string]bson.Type{"i": bson.TypeInt32, "big": bson.TypeInt64, "l": bson.TypeInt64,
		"d": bson.TypeDouble, "new": bson.TypeInt32, "i2l": bson.TypeInt64} {
		if v := got.Lookup(field); v.Type != want {
			t.Errorf("%s: %s %v, want a %s", field, v.Type, v, want)
		}
	}
	if v := got.Lookup("big").Int64(); v != 2147483648 {
		t.Errorf("big: %d, want 2147483648", v)
	}
}
