package store

import (
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/syncgate/syncgate/host/syncgate"
)

// idValue is the _id a client id maps to. Ids are strings as PowerSync sends
// them; a typed id (ObjectId) is the schema gate's conversion, done before
// the op reaches the store.
func idValue(id string) any { return id }

func idValues(ids []string) bson.A {
	a := make(bson.A, len(ids))
	for i, id := range ids {
		a[i] = idValue(id)
	}
	return a
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
	case bson.ObjectID:
		return v.Hex()
	case bson.DateTime:
		return v.Time().UTC().Format("2006-01-02T15:04:05.000Z")
	case bson.Decimal128:
		return v.String()
	}
	return v
}
