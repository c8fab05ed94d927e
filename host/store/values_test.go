package store

import (
	"bytes"
	"math"
	"reflect"
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
		f, err := appendFilter(nil, op)
		check("filter", f, err, want(bson.D{{Key: "_id", Value: idValue(op)}}))
		r, err := appendReplacement(nil, op)
		check("replacement", r, err, want(replacement(op)))
		set := bson.D{{Key: "$set", Value: toBSON(op.Data)}}
		if len(op.Data) == 0 {
			set = bson.D{{Key: "$set", Value: bson.D{{Key: "_id", Value: idValue(op)}}}}
		}
		s, err := appendSet(nil, op)
		check("$set", s, err, want(set))
	}
	if _, err := appendReplacement(nil, syncgate.Op{ID: "x", Data: syncgate.Doc{{Key: "a\x00b", Value: int64(1)}}}); err == nil {
		t.Error("a key with a NUL byte was encoded")
	}
	if _, err := appendReplacement(nil, syncgate.Op{ID: "x", Data: syncgate.Doc{{Key: "c", Value: make(chan int)}}}); err == nil {
		t.Error("a channel was encoded")
	}
}

// TestDocFromRaw: a stored document read from its bytes is what decoding it
// into a bson.D and fromBSON made of it, for every BSON type.
func TestDocFromRaw(t *testing.T) {
	when := time.Date(2026, 12, 1, 17, 0, 0, 123000000, time.UTC)
	dec, _ := bson.ParseDecimal128("12.50")
	in := bson.D{
		{Key: "_id", Value: "x"}, {Key: "s", Value: "ü"}, {Key: "f", Value: 1.5}, {Key: "i32", Value: int32(7)},
		{Key: "i64", Value: int64(1) << 40}, {Key: "t", Value: true}, {Key: "no", Value: false}, {Key: "n", Value: nil},
		{Key: "when", Value: bson.NewDateTimeFromTime(when)}, {Key: "oid", Value: bson.ObjectID{1, 2, 3}},
		{Key: "dec", Value: dec}, {Key: "obj", Value: bson.D{{Key: "a", Value: bson.A{int32(1), "two", bson.D{}, bson.A{}}}}},
		{Key: "bin", Value: bson.Binary{Subtype: 0, Data: []byte{1, 2}}}, {Key: "re", Value: bson.Regex{Pattern: "a.*", Options: "i"}},
		{Key: "ts", Value: bson.Timestamp{T: 1, I: 2}}, {Key: AppliedOpsField, Value: bson.A{"k"}},
	}
	raw, err := bson.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	got, err := docFromRaw(raw, func(k string) bool { return k == "_id" || k == AppliedOpsField })
	if err != nil {
		t.Fatal(err)
	}
	var d bson.D
	if err := bson.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	var want syncgate.Doc
	for _, e := range d {
		if e.Key != "_id" && e.Key != AppliedOpsField {
			want = append(want, syncgate.Field{Key: e.Key, Value: fromBSON(e.Value)})
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %#v\nwant %#v", got, want)
	}
	if _, err := docFromRaw(bson.Raw{1, 2, 3}, nil); err == nil {
		t.Fatal("a broken document was read")
	}
}

// replacement is a PUT's document as a bson.D, the driver's way: what
// appendReplacement must encode to the same bytes.
func replacement(op syncgate.Op) bson.D {
	doc := make(bson.D, 0, len(op.Data)+1)
	doc = append(doc, bson.E{Key: "_id", Value: idValue(op)})
	return append(doc, toBSON(op.Data)...)
}
