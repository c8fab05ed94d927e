package store

import (
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/syncgate/syncgate/host/syncgate"
)

// idValue is the _id an op's id maps to: the string PowerSync sends, or an
// ObjectId when the collection's schema declares one (checked before).
func idValue(op syncgate.Op) any {
	if op.IDType == "objectId" {
		if oid, err := bson.ObjectIDFromHex(op.ID); err == nil {
			return oid
		}
	}
	return op.ID
}

// idString is the client id of a stored _id.
func idString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case bson.ObjectID:
		return v.Hex()
	}
	return ""
}

// toBSON converts a decoded document to an ordered BSON document.
func toBSON(d syncgate.Doc) bson.D {
	out := make(bson.D, len(d))
	for i, f := range d {
		out[i] = bson.E{Key: f.Key, Value: valueToBSON(f.Value)}
	}
	return out
}

func valueToBSON(v any) any {
	switch v := v.(type) {
	case syncgate.Doc:
		return toBSON(v)
	case []any:
		a := make(bson.A, len(v))
		for i, e := range v {
			a[i] = valueToBSON(e)
		}
		return a
	case syncgate.ObjectID:
		return bson.ObjectID(v)
	case syncgate.Decimal:
		if d, err := bson.ParseDecimal128(string(v)); err == nil {
			return d
		}
		return string(v)
	}
	return v
}

// fromBSON converts a stored value to the types guests and the schema gate
// see: what a PowerSync client would have seen of it.
func fromBSON(v any) any {
	switch v := v.(type) {
	case bson.D:
		d := make(syncgate.Doc, len(v))
		for i, e := range v {
			d[i] = syncgate.Field{Key: e.Key, Value: fromBSON(e.Value)}
		}
		return d
	case bson.A:
		a := make([]any, len(v))
		for i, e := range v {
			a[i] = fromBSON(e)
		}
		return a
	case int32:
		return int64(v)
	case bool: // as a PowerSync client holds it: SQLite has no booleans
		if v {
			return int64(1)
		}
		return int64(0)
	case bson.ObjectID:
		return v.Hex()
	case bson.DateTime:
		return v.Time().UTC().Format("2006-01-02T15:04:05.000Z")
	case bson.Decimal128:
		return v.String()
	}
	return v
}
