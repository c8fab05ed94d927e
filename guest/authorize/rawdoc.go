package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"unsafe"

	"github.com/syncgate/syncgate/guest"
	"github.com/syncgate/syncgate/guest/abi"
	"github.com/syncgate/syncgate/guest/authorize/appsrules"
	"github.com/syncgate/syncgate/guest/internal/wire"
	"github.com/syncgate/syncgate/guest/raw"
)

// rawDoc is a row as the host sent it: the rules decode only the fields
// they read, once each. It implements appsrules.Document. It aliases the
// call's input, so it lives no longer than the op it reads.
//
// A row with the host's index (the rows form) is read where the rules
// look: a field by its key in the index (raw.Members.Find), remembered for
// the rest of the op; inside wasm reading every member of both rows of
// every op cost more than the schema gate's whole check. A row of bytes
// (the JSON form, natively) is read whole at reset.
type rawDoc struct {
	m       raw.Members // the row from its start
	indexed bool
	fields  []rawField // !indexed: every member
	seen    []rawField // indexed: the fields looked up in this op
	err     error      // a member that could not be read: the op is refused
	names   *names
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

// rawField is a member (from an index: a key looked up, present or not;
// its Str and Kind are set from an index only).
type rawField struct {
	raw.Member
	name    string // indexed: the key looked up, as the rules hold it
	absent  bool
	decoded any
	done    bool
}

// setData and setCurrent are reset for the op's data and stored
// document, setting the reader in place: inside wasm each copy of it was
// a bulk copy.
func (d *rawDoc) setData(op *guest.Op) {
	d.m = op.DataMembers()
	if d.m.Indexed() { // start's first steps, without its call
		d.indexed, d.err, d.seen = true, nil, d.seen[:0]
		return
	}
	d.start()
}

func (d *rawDoc) setCurrent(op *guest.Op) {
	d.m = op.CurrentMembers()
	if d.m.Indexed() {
		d.indexed, d.err, d.seen = true, nil, d.seen[:0]
		return
	}
	d.start()
}

// reset starts reading the members m holds, reusing d's storage.
func (d *rawDoc) reset(m *raw.Members) {
	d.m = *m
	d.start()
}

// start starts reading d.m's members.
func (d *rawDoc) start() {
	d.indexed, d.err = d.m.Indexed(), nil
	d.fields, d.seen = d.fields[:0], d.seen[:0]
	if d.indexed {
		return
	}
	m := d.m // d.m stays at the row's start
	for m.Next() {
		d.fields = append(d.fields, rawField{Member: raw.Member{Key: m.Key(), Value: m.Value()}})
	}
	if err := m.Err(); err != nil {
		d.err = fmt.Errorf("read the row: %w", err)
	}
}

// field finds a member by key; nil when the row has none (or on an error,
// which d.err holds).
func (d *rawDoc) field(key string) *rawField {
	if !d.indexed {
		return d.fieldOfBytes(key)
	}
	for i := range d.seen {
		// The rules ask with the same strings op after op: most keys are
		// told by their data, without comparing bytes (a call inside wasm).
		if f := &d.seen[i]; len(f.name) == len(key) && (unsafe.StringData(f.name) == unsafe.StringData(key) || f.name == key) {
			if f.absent {
				return nil
			}
			return f
		}
	}
	// A slot of seen, reused without clearing (each field is set).
	n := len(d.seen)
	if n < cap(d.seen) {
		d.seen = d.seen[:n+1]
	} else {
		d.seen = append(d.seen, rawField{})
	}
	f := &d.seen[n]
	ok, err := d.m.Find(key, &f.Member)
	if err != nil {
		d.seen = d.seen[:n]
		d.readError(err)
		return nil
	}
	f.name, f.absent, f.decoded, f.done = key, !ok, nil, false
	if !ok {
		f.Key = unsafe.Slice(unsafe.StringData(key), len(key))
		return nil
	}
	return f
}

// fieldOfBytes is field for a row read whole (not indexed). It and
// readError are field's rare steps, out of it: inside wasm a function's
// size costs at every call.
func (d *rawDoc) fieldOfBytes(key string) *rawField {
	for i := len(d.fields) - 1; i >= 0; i-- { // of repeated keys the last wins, as in a map
		if string(d.fields[i].Key) == key {
			return &d.fields[i]
		}
	}
	return nil
}

// readError records a member that could not be read.
func (d *rawDoc) readError(err error) { d.err = fmt.Errorf("read the row: %w", err) }

// Get implements appsrules.Document.
func (d *rawDoc) Get(field string) (any, bool) {
	f := d.field(field)
	if f == nil {
		return nil, false
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

// Has implements appsrules.ScalarDocument.
func (d *rawDoc) Has(field string) bool { return d.field(field) != nil }

// Scalar implements appsrules.ScalarDocument: a string or null member of
// an indexed row without decoding it (the index holds a string's
// contents); anything else is read with Get.
func (d *rawDoc) Scalar(field string) (string, appsrules.ScalarKind, bool) {
	f := d.field(field)
	switch {
	case f == nil:
		return "", appsrules.ScalarOther, false
	case f.Kind == abi.KindString || f.Kind == abi.KindText:
		// Aliases the call's input, as Get's strings do.
		return unsafe.String(unsafe.SliceData(f.Str), len(f.Str)), appsrules.ScalarString, true
	case f.Kind == abi.KindNull:
		return "", appsrules.ScalarNull, true
	}
	return "", appsrules.ScalarOther, true
}

// AppendFields implements appsrules.Document.
func (d *rawDoc) AppendFields(dst []string) []string {
	if d.indexed {
		start := len(dst)
		m := d.m
		for m.Next() {
			if !slices.Contains(dst[start:], string(m.Key())) {
				dst = append(dst, d.name(m.Key()))
			}
		}
		if err := m.Err(); err != nil {
			d.err = fmt.Errorf("read the row: %w", err)
		}
		return dst
	}
	for i := range d.fields {
		key := d.fields[i].Key
		dup := false
		for _, j := range d.fields[i+1:] {
			dup = dup || string(j.Key) == string(key)
		}
		if !dup {
			dst = append(dst, d.name(key))
		}
	}
	return dst
}

func (d *rawDoc) name(key []byte) string {
	if d.names != nil {
		return d.names.intern(key)
	}
	return string(key)
}

// decodeValue decodes one member's value as the SDK decodes rows
// (json.Number for numbers), boxing strings and numbers in boxes (nil:
// converting them).
func decodeValue(f *rawField, boxes *wire.Arena) (any, error) {
	v := f.Value
	if len(v) == 0 {
		return nil, fmt.Errorf("empty value")
	}
	switch v[0] {
	case '"':
		s, err := f.Str, error(nil)
		if f.Kind == 0 { // from bytes
			s, err = raw.Unquote(v)
		}
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
	case '{', '[':
		d := &wire.Decoder{B: v}
		x, err := d.Value()
		return x, d.End(err)
	}
	if boxes != nil { // aliases the input, as strings do
		return boxes.BoxNumber(unsafe.String(&v[0], len(v))), nil
	}
	return json.Number(string(v)), nil
}
