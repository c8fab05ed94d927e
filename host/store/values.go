package store

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

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

// The write path's BSON: an op's filter, replacement and $set are built
// here with bsoncore's appenders, straight from the decoded document, and
// handed to the driver as bson.Raw (which it sends as they are). Encoding a
// bson.D of interface values instead goes through the driver's reflection
// codecs, which cost about a fifth of the server's CPU at full speed on a
// fast database (issue #17's profile). The bytes are the driver's own for
// the same values: TestAppendDocMatchesDriver holds the two together.

// appendFilter appends {_id: the op's id}.
func appendFilter(dst []byte, op syncgate.Op) ([]byte, error) {
	idx, dst := bsoncore.AppendDocumentStart(dst)
	dst, err := appendValue(dst, "_id", idValue(op))
	if err != nil {
		return nil, err
	}
	return bsoncore.AppendDocumentEnd(dst, idx)
}

// appendReplacement appends a PUT's document: its _id, then its data.
func appendReplacement(dst []byte, op syncgate.Op) ([]byte, error) {
	idx, dst := bsoncore.AppendDocumentStart(dst)
	dst, err := appendValue(dst, "_id", idValue(op))
	if err == nil {
		dst, err = appendFields(dst, op.Data)
	}
	if err != nil {
		return nil, err
	}
	return bsoncore.AppendDocumentEnd(dst, idx)
}

// appendSet appends a PATCH's update, {$set: data}; $set of nothing is an
// error in MongoDB, so an empty PATCH sets the _id it already has.
func appendSet(dst []byte, op syncgate.Op) ([]byte, error) {
	idx, dst := bsoncore.AppendDocumentStart(dst)
	set, dst := bsoncore.AppendDocumentElementStart(dst, "$set")
	var err error
	if len(op.Data) == 0 {
		dst, err = appendValue(dst, "_id", idValue(op))
	} else {
		dst, err = appendFields(dst, op.Data)
	}
	if err != nil {
		return nil, err
	}
	if dst, err = bsoncore.AppendDocumentEnd(dst, set); err != nil {
		return nil, err
	}
	return bsoncore.AppendDocumentEnd(dst, idx)
}

// appendFields appends d's fields as BSON elements.
func appendFields(dst []byte, d syncgate.Doc) ([]byte, error) {
	var err error
	for _, f := range d {
		if dst, err = appendValue(dst, f.Key, f.Value); err != nil {
			return nil, err
		}
	}
	return dst, nil
}

// appendValue appends one element, as the driver would encode
// valueToBSON(v).
func appendValue(dst []byte, key string, v any) ([]byte, error) {
	if strings.IndexByte(key, 0) >= 0 {
		return nil, fmt.Errorf("store: key %q contains a NUL byte", key)
	}
	switch v := v.(type) {
	case nil:
		return bsoncore.AppendNullElement(dst, key), nil
	case string:
		return bsoncore.AppendStringElement(dst, key, v), nil
	case bool:
		return bsoncore.AppendBooleanElement(dst, key, v), nil
	case int64:
		return bsoncore.AppendInt64Element(dst, key, v), nil
	case float64:
		return bsoncore.AppendDoubleElement(dst, key, v), nil
	case time.Time:
		return bsoncore.AppendDateTimeElement(dst, key, int64(bson.NewDateTimeFromTime(v))), nil
	case syncgate.ObjectID:
		return bsoncore.AppendObjectIDElement(dst, key, v), nil
	case bson.ObjectID:
		return bsoncore.AppendObjectIDElement(dst, key, v), nil
	case syncgate.Decimal:
		if d, err := bson.ParseDecimal128(string(v)); err == nil {
			hi, lo := d.GetBytes()
			return bsoncore.AppendDecimal128Element(dst, key, hi, lo), nil
		}
		return bsoncore.AppendStringElement(dst, key, string(v)), nil
	case syncgate.Doc:
		idx, dst := bsoncore.AppendDocumentElementStart(dst, key)
		dst, err := appendFields(dst, v)
		if err != nil {
			return nil, err
		}
		return bsoncore.AppendDocumentEnd(dst, idx)
	case []any:
		idx, dst := bsoncore.AppendArrayElementStart(dst, key)
		var err error
		for i, e := range v {
			if dst, err = appendValue(dst, strconv.Itoa(i), e); err != nil {
				return nil, err
			}
		}
		return bsoncore.AppendArrayEnd(dst, idx)
	}
	// Anything else (no decoder makes it today) the driver's way.
	t, data, err := bson.MarshalValue(valueToBSON(v))
	if err != nil {
		return nil, fmt.Errorf("store: field %q: %w", key, err)
	}
	return bsoncore.AppendValueElement(dst, key, bsoncore.Value{Type: bsoncore.Type(t), Data: data}), nil
}

// docFromRaw is fromBSON of raw decoded as a bson.D, read straight from the
// bytes: stored documents are read for every PATCH a guest checks, and the
// driver's reflection decode cost about as much as the rest of the lookup.
// Types the client never writes go the driver's way (TestDocFromRaw holds
// the two together). skip leaves out top-level keys (_id, bookkeeping).
func docFromRaw(raw bson.Raw, skip func(key string) bool) (syncgate.Doc, error) {
	elems, err := raw.Elements()
	if err != nil {
		return nil, err
	}
	d := make(syncgate.Doc, 0, len(elems))
	for _, e := range elems {
		k := e.Key()
		if skip != nil && skip(k) {
			continue
		}
		v, err := valueFromRaw(e.Value())
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		d = append(d, syncgate.Field{Key: k, Value: v})
	}
	return d, nil
}

func valueFromRaw(v bson.RawValue) (any, error) {
	switch v.Type {
	case bson.TypeString:
		return v.StringValue(), nil
	case bson.TypeDouble:
		return v.Double(), nil
	case bson.TypeInt32:
		return int64(v.Int32()), nil
	case bson.TypeInt64:
		return v.Int64(), nil
	case bson.TypeBoolean:
		if v.Boolean() {
			return int64(1), nil
		}
		return int64(0), nil
	case bson.TypeNull:
		return nil, nil
	case bson.TypeEmbeddedDocument:
		return docFromRaw(v.Document(), nil)
	case bson.TypeArray:
		vals, err := v.Array().Values()
		if err != nil {
			return nil, err
		}
		a := make([]any, len(vals))
		for i, e := range vals {
			if a[i], err = valueFromRaw(e); err != nil {
				return nil, err
			}
		}
		return a, nil
	}
	var out any
	if err := v.Unmarshal(&out); err != nil {
		return nil, err
	}
	return fromBSON(out), nil
}
