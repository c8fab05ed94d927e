package mongostub

import (
	"slices"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// A scanning find answers in batches of batchSize, at most 16 MiB each,
// the rest by getMore; a cursor closed early is killed, and then unknown.
func TestCursors(t *testing.T) {
	s, c := connect(t, Config{})
	ctx := t.Context()
	coll := c.Database("d").Collection("c")
	big := make([]byte, 5<<20)
	for i := range 9 {
		if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: i}, {Key: "k", Value: 1}, {Key: "b", Value: bson.Binary{Data: big}}}); err != nil {
			t.Fatal(err)
		}
	}
	count := func(name string) int {
		n := 0
		for _, cmd := range s.Commands(false) {
			if strings.EqualFold(cmd.Name, name) {
				n++
			}
		}
		return n
	}
	read := func(o *options.FindOptionsBuilder, stopAfter int) []int {
		cur, err := coll.Find(ctx, bson.D{{Key: "k", Value: 1}}, o.SetSort(bson.D{{Key: "_id", Value: 1}}))
		if err != nil {
			t.Fatal(err)
		}
		defer cur.Close(ctx)
		var ids []int
		for len(ids) < stopAfter && cur.Next(ctx) {
			ids = append(ids, int(cur.Current.Lookup("_id").Int32()))
		}
		if err := cur.Err(); err != nil {
			t.Fatal(err)
		}
		return ids
	}
	all := []int{0, 1, 2, 3, 4, 5, 6, 7, 8}
	before := count("getMore")
	if ids := read(options.Find().SetBatchSize(2), 99); !slices.Equal(ids, all) || count("getMore")-before != 4 {
		t.Fatalf("batchSize 2: %v with %d getMores, want 4", ids, count("getMore")-before)
	}
	before = count("getMore")
	// 5 MiB documents: three fit in 16 MiB, so 101 by default still means
	// batches of three.
	if ids := read(options.Find(), 99); !slices.Equal(ids, all) || count("getMore")-before != 2 {
		t.Fatalf("default: %v with %d getMores, want 2", ids, count("getMore")-before)
	}
	kills := count("killCursors")
	if ids := read(options.Find().SetBatchSize(1), 2); len(ids) != 2 || count("killCursors") != kills+1 {
		t.Fatalf("closed early: %v, %d killCursors", ids, count("killCursors")-kills)
	}
	s.mu.Lock()
	open := len(s.cursors)
	s.mu.Unlock()
	if open != 0 {
		t.Fatalf("%d cursors left open", open)
	}
}

// TestCursorNoSnapshot: documents deleted after a find are left out of its
// getMores, as on MongoDB (a cursor reads what is stored when it fetches);
// the stand-in returned them, so a GridFS download of a version deleted
// while read got every chunk and never met the version's end.
func TestCursorNoSnapshot(t *testing.T) {
	_, c := connect(t, Config{SetName: "rs0"})
	ctx := t.Context()
	coll := c.Database("d").Collection("c")
	for i := range 6 {
		if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: i}, {Key: "k", Value: 1}}); err != nil {
			t.Fatal(err)
		}
	}
	cur, err := coll.Find(ctx, bson.D{{Key: "k", Value: 1}}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetBatchSize(2).SetProjection(bson.D{{Key: "_id", Value: 0}, {Key: "k", Value: 1}}))
	if err != nil {
		t.Fatal(err)
	}
	defer cur.Close(ctx)
	n := 0
	for cur.Next(ctx) {
		n++
		if n == 1 {
			for _, id := range []int{1, 3, 4} {
				if _, err := coll.DeleteOne(ctx, bson.D{{Key: "_id", Value: id}}); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if err := cur.Err(); err != nil {
		t.Fatal(err)
	}
	// 0 and 1 came in the first batch; of the rest, 2 and 5 remain.
	if n != 4 {
		t.Errorf("read %d documents after deleting 3 of the 4 not yet fetched, want 4", n)
	}
}
