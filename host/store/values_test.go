package store

import (
	"bytes"
	"math"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/syncgate/syncgate/host/syncgate"
)

// TestAppendDocMatchesDriver: the write path's hand-built BSON is byte for
// byte what the driver makes of the same values through its codecs.
func TestAppendDocMatchesDriver(t *testing.T) {
	data := syncgate.Doc{
		{Key: "s", Value: "text with ünïcode"},
		{Key: "empty", Value: ""},
		{Key: "i", Value: int64(-42)},
		{Key: "big", Value: int64(math.MaxInt64)},
		{Key: "f", Value: 3.25},
		{Key: "t", Value: true},
		{Key: "n", Value: nil},
		{Key: "when", Value: time.Date(2026, 12, 1, 17, 0, 0, 123456789, time.UTC)},
		{Key: "oid", Value: syncgate.ObjectID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}},
		{Key: "dec", Value: syncgate.Decimal("12.50")},
		{Key: "notdec", Value: syncgate.Decimal("x")},
		{Key: "obj", Value: syncgate.Doc{{Key: "a", Value: []any{int64(1), "two", syncgate.Doc{}, []any{}}}}},
		{Key: "int32", Value: int32(7)}, // not made by the decoder: the driver's way
	}
	for _, op := range []syncgate.Op{
		{Op: syncgate.Put, Table: "t", ID: "id-1", Data: data},
		{Op: syncgate.Patch, Table: "t", ID: "507f1f77bcf86cd799439011", IDType: "objectId", Data: data},
		{Op: syncgate.Patch, Table: "t", ID: "id-2"}, // empty PATCH: $set of the _id
	} {
		want := func(v any) []byte {
			b, err := bson.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
		check := func(what string, got bson.Raw, err error, wantBytes []byte) {
			t.Helper()
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			if !bytes.Equal(got, wantBytes) {
				t.Errorf("%s of %s:\n got %s\nwant %s", what, op.ID, got, bson.Raw(wantBytes))
			}
		}
		f, err := idFilter(op)
		check("filter", f, err, want(bson.D{{Key: "_id", Value: idValue(op)}}))
		r, err := replacementRaw(op)
		check("replacement", r, err, want(replacement(op)))
		set := bson.D{{Key: "$set", Value: toBSON(op.Data)}}
		if len(op.Data) == 0 {
			set = bson.D{{Key: "$set", Value: bson.D{{Key: "_id", Value: idValue(op)}}}}
		}
		s, err := setRaw(op)
		check("$set", s, err, want(set))
	}
	if _, err := replacementRaw(syncgate.Op{ID: "x", Data: syncgate.Doc{{Key: "a\x00b", Value: int64(1)}}}); err == nil {
		t.Error("a key with a NUL byte was encoded")
	}
	if _, err := replacementRaw(syncgate.Op{ID: "x", Data: syncgate.Doc{{Key: "c", Value: make(chan int)}}}); err == nil {
		t.Error("a channel was encoded")
	}
}
