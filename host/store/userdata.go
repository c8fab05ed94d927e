package store

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// UserData reads App Services' custom user data for a token: the document
// of coll whose field equals userID (the token's sub), as the JSON values
// a claim holds, or nil when the user has none. Several matching
// documents: the one with the smallest _id (make field unique). A failed
// read is an error; transient ones are Unavailable, as every read's.
//
// Values are as a JSON client would write them: an ObjectId is its 24 hex
// digits, a date ISO 8601 text in UTC with milliseconds, a Decimal128 its
// text, a UUID (binary subtype 4) its canonical text, other binary base64;
// booleans stay booleans (unlike the rows guests see, this is a token's
// JSON, read by PowerSync's sync config too); a non-finite double its name
// (NaN, Infinity, -Infinity); any other type MongoDB's relaxed Extended JSON.
func (m *Mongo) UserData(ctx context.Context, coll, field, userID string) (map[string]any, error) {
	ctx, cancel := context.WithTimeout(ctx, m.opts.Timeout)
	defer cancel()
	raw, err := m.db.Collection(coll).FindOne(ctx, bson.D{{Key: field, Value: userID}},
		options.FindOne().SetSort(bson.D{{Key: "_id", Value: 1}})).Raw()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, nil
	}
	if err != nil {
		return nil, classify("user data "+coll, err)
	}
	out, err := claimObject(raw)
	if err != nil {
		return nil, fmt.Errorf("store: user data %s: %w", coll, err)
	}
	return out, nil
}

func claimObject(raw bson.Raw) (map[string]any, error) {
	elems, err := raw.Elements()
	if err != nil {
		return nil, err
	}
	out := make(map[string]any, len(elems))
	for _, e := range elems {
		v, err := claimFromRaw(e.Value())
		if err != nil {
			return nil, fmt.Errorf("%s: %w", e.Key(), err)
		}
		out[e.Key()] = v
	}
	return out, nil
}

func claimFromRaw(v bson.RawValue) (any, error) {
	switch v.Type {
	case bson.TypeString:
		return v.StringValue(), nil
	case bson.TypeDouble:
		f := v.Double()
		switch {
		case math.IsNaN(f):
			return "NaN", nil
		case math.IsInf(f, 1):
			return "Infinity", nil
		case math.IsInf(f, -1):
			return "-Infinity", nil
		}
		return f, nil
	case bson.TypeInt32:
		return int64(v.Int32()), nil
	case bson.TypeInt64:
		return v.Int64(), nil
	case bson.TypeBoolean:
		return v.Boolean(), nil
	case bson.TypeNull:
		return nil, nil
	case bson.TypeObjectID:
		return v.ObjectID().Hex(), nil
	case bson.TypeDateTime:
		return v.Time().UTC().Format("2006-01-02T15:04:05.000Z"), nil
	case bson.TypeDecimal128:
		return v.Decimal128().String(), nil
	case bson.TypeBinary:
		sub, data := v.Binary()
		if sub == bson.TypeBinaryUUID && len(data) == 16 {
			return fmt.Sprintf("%x-%x-%x-%x-%x", data[0:4], data[4:6], data[6:8], data[8:10], data[10:]), nil
		}
		return base64.StdEncoding.EncodeToString(data), nil
	case bson.TypeEmbeddedDocument:
		return claimObject(v.Document())
	case bson.TypeArray:
		vals, err := v.Array().Values()
		if err != nil {
			return nil, err
		}
		a := make([]any, len(vals))
		for i, e := range vals {
			if a[i], err = claimFromRaw(e); err != nil {
				return nil, err
			}
		}
		return a, nil
	}
	b, err := bson.MarshalExtJSON(bson.D{{Key: "v", Value: v}}, false, false)
	if err != nil {
		return nil, err
	}
	var wrapped struct{ V any }
	if err := json.Unmarshal(b, &wrapped); err != nil {
		return nil, err
	}
	return wrapped.V, nil
}
