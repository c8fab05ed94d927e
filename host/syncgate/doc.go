package syncgate

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"strconv"
)

// Doc is a JSON object with its keys in the order the client sent them, so
// stored documents keep the client's field order. Values are string, int64,
// float64, bool, nil, Doc or []any.
type Doc []Field

// Field is one key of a Doc.
type Field struct {
	Key   string
	Value any
}

// Get returns the value of key and whether it is present.
func (d Doc) Get(key string) (any, bool) {
	for _, f := range d {
		if f.Key == key {
			return f.Value, true
		}
	}
	return nil, false
}

// Set replaces the value of key, or appends it when absent.
func (d *Doc) Set(key string, v any) {
	for i := range *d {
		if (*d)[i].Key == key {
			(*d)[i].Value = v
			return
		}
	}
	*d = append(*d, Field{key, v})
}

// Delete removes key if present.
func (d *Doc) Delete(key string) {
	for i := range *d {
		if (*d)[i].Key == key {
			*d = append((*d)[:i], (*d)[i+1:]...)
			return
		}
	}
}

// Merge returns a copy of d with every field of patch set on it: the
// document a PATCH produces.
func (d Doc) Merge(patch Doc) Doc {
	out := make(Doc, len(d), len(d)+len(patch))
	copy(out, d)
	for _, f := range patch {
		out.Set(f.Key, f.Value)
	}
	return out
}

// MarshalJSON writes d as a JSON object in field order.
func (d Doc) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	if err := d.appendJSON(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func (d Doc) appendJSON(buf *bytes.Buffer) error {
	if d == nil {
		buf.WriteString("{}")
		return nil
	}
	buf.WriteByte('{')
	for i, f := range d {
		if i > 0 {
			buf.WriteByte(',')
		}
		k, _ := json.Marshal(f.Key)
		buf.Write(k)
		buf.WriteByte(':')
		if err := appendValue(buf, f.Value); err != nil {
			return err
		}
	}
	buf.WriteByte('}')
	return nil
}

func appendValue(buf *bytes.Buffer, v any) error {
	switch v := v.(type) {
	case nil:
		buf.WriteString("null")
	case string:
		b, _ := json.Marshal(v)
		buf.Write(b)
	case int64:
		buf.WriteString(strconv.FormatInt(v, 10))
	case bool:
		buf.WriteString(strconv.FormatBool(v))
	case Doc:
		return v.appendJSON(buf)
	case []any:
		buf.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := appendValue(buf, e); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		buf.Write(b)
	}
	return nil
}

// ObjectID is a MongoDB ObjectId a schema declared (x-bsonType objectId);
// the store writes it as a BSON ObjectId.
type ObjectID [12]byte

// MarshalJSON writes the id as hex text, as PowerSync shows it to clients.
func (id ObjectID) MarshalJSON() ([]byte, error) {
	return []byte(`"` + hex.EncodeToString(id[:]) + `"`), nil
}

// Decimal is a decimal number a schema declared (x-bsonType decimal); the
// store writes it as a BSON Decimal128.
type Decimal string
