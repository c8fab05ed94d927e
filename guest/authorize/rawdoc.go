package main

import (
	"encoding/json"
	"fmt"
	"unsafe"

	"github.com/syncgate/syncgate/guest/internal/wire"
	"github.com/syncgate/syncgate/guest/raw"
)

// rawDoc is a row as the host sent it (its members, from the host's index
// of the row): the rules decode only the fields they read, once each. It
// implements appsrules.Document. It aliases the call's input, so it lives
// no longer than the op it reads.
type rawDoc struct {
	fields []rawField
	err    error // a member that could not be read: the op is refused
	names  *names
	// boxes holds the strings and numbers Get returns as interface
	// values: converting one to an interface allocates, and inside wasm
	// an allocation a field read cost more than the rest of the read. Nil:
	// convert.
	boxes *wire.Arena
}

// names interns field names across ops: a batch's rows repeat their keys,
// so listing a row's fields allocates nothing once its keys were seen.
type names map[string]string

// maxNames bounds the interned names (keys come from clients).
const maxNames = 1024

func (n *names) intern(b []byte) string {
	if s, ok := (*n)[string(b)]; ok {
		return s
	}
	s := string(b)
	if *n == nil {
		*n = names{}
	}
	if len(*n) < maxNames {
		(*n)[s] = s
	}
	return s
}

type rawField struct {
	key, value []byte
	decoded    any
	done       bool
}

// reset reads the members m holds, reusing d's storage.
func (d *rawDoc) reset(m raw.Members) {
	d.fields, d.err = d.fields[:0], nil
	for m.Next() {
		d.fields = append(d.fields, rawField{key: m.Key(), value: m.Value()})
	}
	if err := m.Err(); err != nil {
		d.err = fmt.Errorf("read the row: %w", err)
	}
}

// Get implements appsrules.Document. Of repeated keys the last wins, as
// when decoding into a map.
func (d *rawDoc) Get(field string) (any, bool) {
	for i := len(d.fields) - 1; i >= 0; i-- {
		f := &d.fields[i]
		if string(f.key) != field {
			continue
		}
		if !f.done {
			v, err := decodeValue(f, d.boxes)
			if err != nil {
				d.err = fmt.Errorf("field %s: %w", field, err)
				return nil, false
			}
			f.decoded, f.done = v, true
		}
		return f.decoded, true
	}
	return nil, false
}

// Has says whether the row has a field, without decoding it.
func (d *rawDoc) Has(field string) bool {
	for i := range d.fields {
		if string(d.fields[i].key) == field {
			return true
		}
	}
	return false
}

// AppendFields implements appsrules.Document.
func (d *rawDoc) AppendFields(dst []string) []string {
	for i := range d.fields {
		key := d.fields[i].key
		dup := false
		for _, j := range d.fields[i+1:] {
			dup = dup || string(j.key) == string(key)
		}
		if dup {
			continue
		}
		if d.names != nil {
			dst = append(dst, d.names.intern(key))
		} else {
			dst = append(dst, string(key))
		}
	}
	return dst
}

// decodeValue decodes one member's value as the SDK decodes rows
// (json.Number for numbers), boxing strings and numbers in boxes (nil:
// converting them).
func decodeValue(f *rawField, boxes *wire.Arena) (any, error) {
	v := f.value
	if len(v) == 0 {
		return nil, fmt.Errorf("empty value")
	}
	switch v[0] {
	case '"':
		s, err := raw.Unquote(v)
		if err != nil || len(s) == 0 {
			return string(s), err
		}
		// Aliases the call's input (or Unquote's copy), which outlives
		// the decision: rules keep no value past it.
		str := unsafe.String(&s[0], len(s))
		if boxes != nil {
			return boxes.Box(str), nil
		}
		return str, nil
	case 't':
		return true, nil
	case 'f':
		return false, nil
	case 'n':
		return nil, nil
	case '{':
		return raw.DecodeObject(v)
	case '[':
		wrapped := make([]byte, 0, len(v)+6)
		wrapped = append(append(append(wrapped, `{"a":`...), v...), '}')
		m, err := raw.DecodeObject(wrapped)
		return m["a"], err
	}
	if boxes != nil { // aliases the input, as strings do
		return boxes.BoxNumber(unsafe.String(&v[0], len(v))), nil
	}
	return json.Number(string(v)), nil
}
