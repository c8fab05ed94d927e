package mongostub

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestRangeOperatorsAsMongoDB: $gt, $gte, $lt and $lte compare as MongoDB
// does — doubles by their value (5.5 > 5, 1.2 < 1.5: not truncated to
// whole numbers), only within a type's bracket (a string is never
// greater than a number), an array field by its elements — on the
// scanning path and on the _id path alike ({_id: v, at: {$lt: t}}: a
// stale lock's takeover, the dead letters listed by id and time); {x:
// null} matches an absent x; and what the stand-in cannot order
// ($gt: null, $gt: [..]), a $exists that is not a boolean and a regular
// expression are refused, not misread (a $exists: 1 crashed the stand-in).
func TestRangeOperatorsAsMongoDB(t *testing.T) {
	_, c := connect(t, Config{SetName: "rs0"})
	ctx := t.Context()
	coll := c.Database("d").Collection("v")
	if _, err := coll.InsertMany(ctx, []any{
		bson.D{{Key: "_id", Value: 1}, {Key: "x", Value: 5.5}},
		bson.D{{Key: "_id", Value: 2}, {Key: "x", Value: int32(5)}},
		bson.D{{Key: "_id", Value: 3}, {Key: "x", Value: "a"}},
		bson.D{{Key: "_id", Value: 4}, {Key: "x", Value: bson.A{1, 9}}},
		bson.D{{Key: "_id", Value: 5}},
		bson.D{{Key: "_id", Value: 6}, {Key: "x", Value: nil}},
		bson.D{{Key: "_id", Value: 7}, {Key: "x", Value: 1.2}},
		bson.D{{Key: "_id", Value: 8}, {Key: "x", Value: int64(1) << 60}},
	}); err != nil {
		t.Fatal(err)
	}
	find := func(filter bson.D) (string, error) {
		t.Helper()
		cur, err := coll.Find(ctx, filter)
		if err != nil {
			return "", err
		}
		var got []bson.M
		if err := cur.All(ctx, &got); err != nil {
			return "", err
		}
		var ids []string
		for _, d := range got {
			ids = append(ids, fmt.Sprint(d["_id"]))
		}
		slices.Sort(ids)
		return strings.Join(ids, ""), nil
	}
	x := func(ops ...any) bson.D {
		d := bson.D{}
		for i := 0; i+1 < len(ops); i += 2 {
			d = append(d, bson.E{Key: ops[i].(string), Value: ops[i+1]})
		}
		return bson.D{{Key: "x", Value: d}}
	}
	for _, tc := range []struct {
		filter bson.D
		want   string
	}{
		{x("$gt", 5), "148"},
		{x("$gte", 5), "1248"},
		{x("$lt", 5), "47"},
		{x("$lt", 1.5), "47"},
		{x("$gt", 1.2, "$lt", 5.5), "24"},
		{x("$lte", int64(1)<<60), "12478"},
		{x("$gte", ""), "3"},
		{x("$gt", "a"), ""},
		{bson.D{{Key: "x", Value: nil}}, "56"},
		{x("$eq", nil), "56"},
		{x("$exists", true), "123467" + "8"},
		{bson.D{{Key: "_id", Value: 2}, {Key: "x", Value: bson.D{{Key: "$lt", Value: 6}}}}, "2"},
		{bson.D{{Key: "_id", Value: 2}, {Key: "x", Value: bson.D{{Key: "$gt", Value: 6}}}}, ""},
		{bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: bson.A{1, 2, 3, 7}}}}, {Key: "x", Value: bson.D{{Key: "$gt", Value: 1}}}}, "127"},
		{bson.D{{Key: "_id", Value: 5}, {Key: "x", Value: bson.D{{Key: "$exists", Value: false}}}}, "5"},
		{bson.D{{Key: "_id", Value: 5}, {Key: "x", Value: nil}}, "5"},
	} {
		got, err := find(tc.filter)
		if err != nil || got != tc.want {
			t.Errorf("find %v: %q, %v; want %q", tc.filter, got, err, tc.want)
		}
	}
	for _, filter := range []bson.D{
		x("$gt", nil),
		x("$lt", bson.A{1}),
		x("$gte", bson.D{{Key: "a", Value: 1}}),
		x("$exists", 1),
		x("$gte", 1, "y", 2),
		x("$in", bson.A{bson.Regex{Pattern: "^a"}}),
		{{Key: "x", Value: bson.Regex{Pattern: "^a"}}},
		{{Key: "_id", Value: 2}, {Key: "x", Value: bson.D{{Key: "$mod", Value: bson.A{2, 0}}}}},
		{{Key: "_id", Value: 2}, {Key: "x", Value: bson.D{{Key: "$exists", Value: 1}}}},
		{{Key: "_id", Value: bson.D{{Key: "$in", Value: bson.A{1, 2}}, {Key: "$nin", Value: bson.A{2}}}}},
	} {
		if got, err := find(filter); err == nil {
			t.Errorf("find %v: answered %q, want a refusal", filter, got)
		}
	}
	if _, err := coll.DeleteOne(ctx, bson.D{{Key: "_id", Value: 2}, {Key: "x", Value: bson.D{{Key: "$lt", Value: 6}}}}); err != nil {
		t.Fatal(err)
	}
	if got, _ := find(bson.D{{Key: "_id", Value: 2}}); got != "" {
		t.Errorf("DeleteOne {_id: 2, x: {$lt: 6}} left %q", got)
	}
}

// TestAggregateAsMongoDB: $group's answers have MongoDB's types and
// groups — a $sum of longs is a long even when small, numbers equal in
// value are one group whatever their types, and a document _id leaves out
// a field that is missing (so {} and {a: null} are two groups) — and
// $limit and $skip refuse a number that is not whole.
func TestAggregateAsMongoDB(t *testing.T) {
	_, c := connect(t, Config{SetName: "rs0"})
	ctx := t.Context()
	coll := c.Database("d").Collection("g")
	if _, err := coll.InsertMany(ctx, []any{
		bson.D{{Key: "_id", Value: 1}, {Key: "k", Value: int32(5)}, {Key: "l", Value: int64(2)}},
		bson.D{{Key: "_id", Value: 2}, {Key: "k", Value: 5.0}, {Key: "l", Value: int64(3)}},
		bson.D{{Key: "_id", Value: 3}, {Key: "k", Value: int64(5)}, {Key: "a", Value: nil}},
		bson.D{{Key: "_id", Value: 4}, {Key: "k", Value: "5"}},
	}); err != nil {
		t.Fatal(err)
	}
	agg := func(stages ...bson.D) ([]bson.Raw, error) {
		t.Helper()
		p := bson.A{}
		for _, s := range stages {
			p = append(p, s)
		}
		cur, err := coll.Aggregate(ctx, p)
		if err != nil {
			return nil, err
		}
		var out []bson.Raw
		err = cur.All(ctx, &out)
		return out, err
	}
	sum := func(of any) bson.D { return bson.D{{Key: "$sum", Value: of}} }
	rows, err := agg(bson.D{{Key: "$group", Value: bson.D{{Key: "_id", Value: nil}, {Key: "l", Value: sum("$l")}, {Key: "n", Value: sum(1)}}}})
	if err != nil || len(rows) != 1 {
		t.Fatalf("group by null: %v, %v", rows, err)
	}
	if l := rows[0].Lookup("l"); l.Type != bson.TypeInt64 || l.Int64() != 5 {
		t.Errorf("$sum of longs 2 and 3: %s (%s), want 5 as a long", l, l.Type)
	}
	if n := rows[0].Lookup("n"); n.Type != bson.TypeInt32 || n.Int32() != 4 {
		t.Errorf("$sum of 1 over 4 documents: %s (%s), want 4 as an int", n, n.Type)
	}
	rows, err = agg(bson.D{{Key: "$group", Value: bson.D{{Key: "_id", Value: "$k"}, {Key: "n", Value: sum(1)}}}})
	if err != nil || len(rows) != 2 {
		t.Errorf("group by k (5, 5.0, long 5, \"5\"): %v, %v; want 2 groups", rows, err)
	}
	rows, err = agg(bson.D{{Key: "$group", Value: bson.D{{Key: "_id", Value: bson.D{{Key: "a", Value: "$a"}}}, {Key: "n", Value: sum(1)}}}})
	var keys []string
	for _, r := range rows {
		keys = append(keys, fmt.Sprintf("%s=%d", r.Lookup("_id"), r.Lookup("n").AsInt64()))
	}
	if got := strings.Join(keys, " "); err != nil || got != `{}=3 {"a": null}=1` {
		t.Errorf("group by {a: $a}: %s, %v; want {}=3 {\"a\": null}=1", got, err)
	}
	for _, stage := range []bson.D{{{Key: "$limit", Value: 2.5}}, {{Key: "$skip", Value: 1.5}}, {{Key: "$limit", Value: 0}}, {{Key: "$skip", Value: -1}}} {
		if rows, err := agg(stage); err == nil {
			t.Errorf("%v: %d documents, want a refusal", stage, len(rows))
		}
	}
	if rows, err := agg(bson.D{{Key: "$limit", Value: 2.0}}, bson.D{{Key: "$skip", Value: int64(1)}}); err != nil || len(rows) != 1 {
		t.Errorf("$limit 2.0, $skip 1: %d documents, %v; want 1", len(rows), err)
	}
}

// TestMultiUpdateReplacementRefused: a multi update with a replacement
// document is an error on MongoDB ("multi update is not supported for
// replacement-style update"); the stand-in replaced every document listed.
func TestMultiUpdateReplacementRefused(t *testing.T) {
	s, c := connect(t, Config{SetName: "rs0"})
	ctx := t.Context()
	db := c.Database("d")
	if _, err := db.Collection("m").InsertMany(ctx, []any{bson.D{{Key: "_id", Value: "a"}, {Key: "v", Value: 1}}, bson.D{{Key: "_id", Value: "b"}, {Key: "v", Value: 1}}}); err != nil {
		t.Fatal(err)
	}
	for _, ids := range []bson.A{{"a", "b"}, {"a"}} {
		var res bson.Raw
		err := db.RunCommand(ctx, bson.D{{Key: "update", Value: "m"}, {Key: "updates", Value: bson.A{bson.D{
			{Key: "q", Value: bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}}},
			{Key: "u", Value: bson.D{{Key: "w", Value: 2}}}, {Key: "multi", Value: true}}}}}).Decode(&res)
		if we, _ := res.Lookup("writeErrors").ArrayOK(); err == nil && len(we) <= 5 { // 5: an empty array
			t.Errorf("multi replacement of %v: answered %s, want an error", ids, res)
		}
	}
	for _, d := range s.Docs("d", "m") {
		if _, err := d.LookupErr("w"); err == nil {
			t.Errorf("a multi replacement replaced %s", d)
		}
	}
}

// TestMultiUpdateWriteError: a multi update by ids that meets a write error
// stops there and reports n 0 and nModified 0 for the statement, as MongoDB
// does (SERVER-8537, SERVER-25716: the documents updated before stay
// updated), and it goes through the ids in _id order, as MongoDB's scan of
// the _id index does, not in the order listed: a is updated, b refused, c
// not reached.
func TestMultiUpdateWriteError(t *testing.T) {
	s, c := connect(t, Config{SetName: "rs0", Refuse: func(st Statement) *WriteError {
		if st.Command == "update" && st.ID() == "b" {
			return &WriteError{Code: 121, Message: "Document failed validation"}
		}
		return nil
	}})
	ctx := t.Context()
	db := c.Database("d")
	if _, err := db.Collection("m").InsertMany(ctx, []any{bson.D{{Key: "_id", Value: "a"}}, bson.D{{Key: "_id", Value: "b"}}, bson.D{{Key: "_id", Value: "c"}}}); err != nil {
		t.Fatal(err)
	}
	res, err := db.RunCommand(ctx, bson.D{{Key: "update", Value: "m"}, {Key: "updates", Value: bson.A{bson.D{
		{Key: "q", Value: bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: bson.A{"c", "b", "a"}}}}}},
		{Key: "u", Value: bson.D{{Key: "$set", Value: bson.D{{Key: "x", Value: 1}}}}}, {Key: "multi", Value: true}}}}}).Raw()
	if res == nil {
		t.Fatalf("no answer: %v", err)
	}
	we, _ := res.Lookup("writeErrors").ArrayOK()
	if errs, _ := we.Values(); len(errs) != 1 || res.Lookup("n").AsInt64() != 0 || res.Lookup("nModified").AsInt64() != 0 {
		t.Errorf("multi update refused at b: %s; want one write error, n 0, nModified 0", res)
	}
	var set []string
	for _, d := range s.Docs("d", "m") {
		if _, err := d.LookupErr("x"); err == nil {
			set = append(set, d.Lookup("_id").StringValue())
		}
	}
	slices.Sort(set)
	if fmt.Sprint(set) != "[a]" {
		t.Errorf("updated before the refusal: %v, want [a]", set)
	}
}
