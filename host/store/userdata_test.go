package store

import (
	"math"
	"reflect"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestClaimObject: a user data document becomes the JSON values a token
// claim holds, every BSON type a document may have included.
func TestClaimObject(t *testing.T) {
	oid := bson.NewObjectID()
	dec, _ := bson.ParseDecimal128("12.50")
	uuid := []byte{0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0}
	raw, err := bson.Marshal(bson.D{
		{Key: "_id", Value: oid}, {Key: "s", Value: "x"}, {Key: "i32", Value: int32(3)}, {Key: "i64", Value: int64(1) << 40},
		{Key: "f", Value: 1.5}, {Key: "nan", Value: math.NaN()}, {Key: "inf", Value: math.Inf(1)}, {Key: "ninf", Value: math.Inf(-1)},
		{Key: "t", Value: true}, {Key: "null", Value: nil},
		{Key: "date", Value: bson.NewDateTimeFromTime(time.Date(2024, 3, 1, 12, 0, 0, 5e6, time.UTC))},
		{Key: "dec", Value: dec}, {Key: "uuid", Value: bson.Binary{Subtype: bson.TypeBinaryUUID, Data: uuid}},
		{Key: "bin", Value: bson.Binary{Subtype: 0, Data: []byte("hi")}},
		{Key: "nested", Value: bson.D{{Key: "a", Value: bson.A{int32(1), "b", bson.D{{Key: "c", Value: false}}}}}},
		{Key: "re", Value: bson.Regex{Pattern: "^a", Options: "i"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := claimObject(raw)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"_id": oid.Hex(), "s": "x", "i32": int64(3), "i64": int64(1) << 40, "f": 1.5,
		"nan": "NaN", "inf": "Infinity", "ninf": "-Infinity", "t": true, "null": nil,
		"date": "2024-03-01T12:00:00.005Z", "dec": "12.50", "uuid": "12345678-9abc-def0-1234-56789abcdef0",
		"bin": "aGk=", "nested": map[string]any{"a": []any{int64(1), "b", map[string]any{"c": false}}},
		"re": map[string]any{"$regularExpression": map[string]any{"pattern": "^a", "options": "i"}},
	}
	for k, w := range want {
		if !reflect.DeepEqual(got[k], w) {
			t.Errorf("%s: got %#v, want %#v", k, got[k], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %d fields, want %d: %v", len(got), len(want), got)
	}
}
