// Package raw reads JSON objects as bytes, without building maps: the
// toolkit of guests that read a few fields of a row, or check values where
// they lie (the schema gate, the conflict policies). Members walks an
// object's members, from its bytes (NewMembers) or, inside a guest, from the
// index the host sent with the row (Row; guest.Op.DataMembers); Fields,
// Elements, Unquote, DecodeObject and MergeObjects cover the rest.
//
// It knows the rows form's index (guest/abi) but nothing of ops or verdicts
// (package guest).
package raw

import (
	"fmt"

	"github.com/syncgate/syncgate/guest/abi"
	"github.com/syncgate/syncgate/guest/internal/wire"
)

// DecodeObject decodes a JSON object as encoding/json does into a
// map[string]any with UseNumber; nil or null is an empty map.
func DecodeObject(b []byte) (map[string]any, error) {
	m := map[string]any{}
	if b == nil {
		return m, nil
	}
	d := &wire.Decoder{B: b}
	if d.Null() {
		return m, d.End(nil)
	}
	if d.Peek() != '{' {
		return nil, d.Errf("want an object")
	}
	if err := d.Fields(m); err != nil {
		return nil, err
	}
	return m, d.End(nil)
}

// Members reads the members of a JSON object one at a time without
// allocating (keys with escapes excepted):
//
//	m := raw.NewMembers(obj)
//	for m.Next() {
//		use(m.Key(), m.Value())
//	}
//	if err := m.Err(); err != nil { … }
//
// A nil object has no members.
type Members struct {
	idx        *abi.Index // set: the members come from a rows-form index
	pos        int        // the next entry of idx
	base       *abi.Index // MergedMembers: the stored document's index, read after idx (the data's)
	over       *abi.Index // MergedMembers, reading base: the data's index, whose keys base's members skip
	kind       byte       // the current member's kind (indexed rows only)
	d          wire.Decoder
	state      uint8 // 0: before the object, 1: inside, 2: done
	key, value []byte
	str        []byte
	isStr      bool
	ascii      bool
	err        error
}

// NewMembers starts reading obj.
func NewMembers(obj []byte) Members { return Members{d: wire.Decoder{B: obj}} }

// Row reads the members of obj, a row the host sent in the rows form, from
// idx, the host's index of it, without lexing obj; when idx does not
// describe obj (nil, or the guest replaced the row) it reads obj's bytes.
// Guests get such Members from guest.Op's DataMembers, CurrentMembers and
// MergedMembers.
func Row(obj []byte, idx *abi.Index) Members {
	if idx != nil && idx.Blob != nil && len(obj) == idx.Text && len(obj) > 0 && &idx.Blob[0] == &obj[0] {
		return Members{idx: idx}
	}
	return NewMembers(obj)
}

// Merged reads the members of the document a PATCH leaves when both rows
// come from the host's indexes (Row): data's members, then current's
// members whose keys data does not set, without building the document.
// ok is false when either was read from bytes: merge those with
// MergeObjects.
func Merged(data, current Members) (m Members, ok bool) {
	if data.idx == nil || current.idx == nil || data.pos != 0 || current.pos != 0 {
		return Members{}, false
	}
	data.base = current.idx
	return data, true
}

// Indexed reports whether the members come from a host index (Row), where
// Find compares keys without reading members.
func (m *Members) Indexed() bool { return m.idx != nil && m.base == nil && m.over == nil }

// Kind is the current member's kind (abi.KindNull … abi.KindArray) when the
// members come from a host index (Row), else 0.
func (m *Members) Kind() byte { return m.kind }

// Next moves to the next member; false at the end or on an error.
func (m *Members) Next() bool {
	for m.idx != nil {
		// The next entry of a rows-form index, checked here, where it is
		// read (one pass instead of two: inside wasm each costs).
		if m.err != nil {
			return false
		}
		if m.pos >= len(m.idx.Tab) {
			if m.base == nil {
				return false
			}
			m.idx, m.over, m.base, m.pos = m.base, m.idx, nil, 0
			continue
		}
		e, b, nt := m.idx.Tab[m.pos:m.pos+abi.MemberSize], m.idx.Blob, m.idx.Text
		m.pos += abi.MemberSize
		ko, kl := u32at(e, 1), u32at(e, 5)
		vo, vl := u32at(e, 9), u32at(e, 13)
		so, sl := u32at(e, 17), u32at(e, 21)
		if kl > len(b) || ko > len(b)-kl || vl == 0 || vl > nt || vo > nt-vl || sl > len(b) || so > len(b)-sl || !abi.KindStarts(e[0], b[vo]) {
			m.err = fmt.Errorf("rows form: member %d of a row is outside it or not of its kind", m.pos/abi.MemberSize-1)
			return false
		}
		if m.over != nil && hasKey(m.over, b[ko:ko+kl]) {
			continue // the data sets it
		}
		m.kind = e[0]
		m.key, m.value = b[ko:ko+kl:ko+kl], b[vo:vo+vl:vo+vl]
		m.isStr = m.kind == abi.KindString || m.kind == abi.KindText
		m.ascii = m.kind == abi.KindString
		m.str = nil
		if m.isStr {
			m.str = b[so : so+sl : so+sl]
		}
		return true
	}
	d := &m.d
	switch m.state {
	case 2:
		return false
	case 0:
		if d.B == nil {
			m.state = 2
			return false
		}
		if m.err = d.Expect('{'); m.err != nil {
			m.state = 2
			return false
		}
		m.state = 1
		if d.Peek() == '}' {
			d.I++
			m.finish()
			return false
		}
	default:
		switch d.Peek() {
		case ',':
			d.I++
		case '}':
			d.I++
			m.finish()
			return false
		default:
			m.fail(d.Errf("after object value: want , or }"))
			return false
		}
	}
	if d.Peek() != '"' {
		m.fail(d.Errf("object key is not a string"))
		return false
	}
	key, err := d.StrBytes()
	if err != nil {
		m.fail(err)
		return false
	}
	if err := d.Expect(':'); err != nil {
		m.fail(err)
		return false
	}
	m.key, m.isStr, m.str, m.ascii = key, d.Peek() == '"', nil, false
	start := d.I
	if m.isStr {
		m.str, err = d.StrBytes()
		m.ascii = d.ASCII
	} else {
		err = d.SkipRaw()
	}
	if err != nil {
		m.fail(err)
		return false
	}
	m.value = d.B[start:d.I:d.I]
	return true
}

// Member is one member of an object, as Find returns it: its key
// (unescaped), its value's JSON text, and a string value's contents
// (unescaped) and whether they are all ASCII. Kind is as Members.Kind.
type Member struct {
	Key, Value, Str []byte
	IsStr, ASCII    bool
	Kind            byte
}

// Find sets *f to the member with key, of repeated keys the last (as
// decoding into a map keeps), reading from m's start (m is not moved), and
// reports false when the object has none. From a host index (Row) it
// compares the keys in the index and checks only the entry it returns:
// rules that read three fields of a row of twenty do not read the other
// seventeen. From bytes, or a merge, it reads every member.
func (m *Members) Find(key string, f *Member) (bool, error) {
	if m.idx != nil && m.base == nil && m.over == nil && m.pos == 0 {
		t, b, nt := m.idx.Tab, m.idx.Blob, m.idx.Text
		for p := len(t) - len(t)%abi.MemberSize - abi.MemberSize; p >= 0; p -= abi.MemberSize {
			ko, kl := u32at(t, p+1), u32at(t, p+5)
			if kl != len(key) {
				continue
			}
			if kl > len(b) || ko > len(b)-kl {
				return false, entryError(p)
			}
			// The last byte first: inside wasm a comparison of strings is
			// a call, and keys of a length often differ only at the end
			// (created_at, created_by).
			if kl > 0 && b[ko+kl-1] != key[kl-1] || string(b[ko:ko+kl]) != key {
				continue
			}
			// The entry's checks, as Members.Next makes them.
			kind := t[p]
			vo, vl := u32at(t, p+9), u32at(t, p+13)
			so, sl := u32at(t, p+17), u32at(t, p+21)
			if vl == 0 || vl > nt || vo > nt-vl || sl > len(b) || so > len(b)-sl || !abi.KindStarts(kind, b[vo]) {
				return false, entryError(p)
			}
			f.Key, f.Value, f.Kind = b[ko:ko+kl:ko+kl], b[vo:vo+vl:vo+vl], kind
			f.IsStr, f.ASCII, f.Str = kind == abi.KindString || kind == abi.KindText, kind == abi.KindString, nil
			if f.IsStr {
				f.Str = b[so : so+sl : so+sl]
			}
			return true, nil
		}
		return false, nil
	}
	ok := false
	c := *m
	for c.Next() {
		if string(c.key) == key {
			*f, ok = c.member(), true
		}
	}
	if c.err != nil {
		return false, c.err
	}
	return ok, nil
}

func entryError(p int) error {
	return fmt.Errorf("rows form: member %d of a row is outside it or not of its kind", p/abi.MemberSize)
}

func (m *Members) member() Member {
	return Member{Key: m.key, Value: m.value, Str: m.str, IsStr: m.isStr, ASCII: m.ascii && m.isStr, Kind: m.kind}
}

func (m *Members) fail(err error) { m.err, m.state = err, 2 }

func (m *Members) finish() {
	m.state = 2
	if m.d.WS(); m.d.I != len(m.d.B) {
		m.err = m.d.Errf("invalid character %q after object", m.d.B[m.d.I])
	}
}

// Key is the current member's key, unescaped.
func (m *Members) Key() []byte { return m.key }

// Value is the current member's value as JSON bytes.
func (m *Members) Value() []byte { return m.value }

// String returns the current value's contents, unescaped, when it is a
// JSON string, and whether they are all ASCII.
func (m *Members) String() (s []byte, ascii, ok bool) { return m.str, m.ascii, m.isStr }

// Err is the error that ended the scan, if any.
func (m *Members) Err() error { return m.err }

// Fields calls fn with the key (unescaped) and the value's JSON bytes of
// each member of the JSON object obj, in order, until fn returns false.
// Both alias obj unless the key has escapes. A nil obj has no fields.
func Fields(obj []byte, fn func(key, value []byte) bool) error {
	m := NewMembers(obj)
	for m.Next() {
		if !fn(m.Key(), m.Value()) {
			return nil
		}
	}
	return m.Err()
}

// Elements calls fn with the JSON bytes of each element of the JSON array
// arr, in order, until fn returns false.
func Elements(arr []byte, fn func(value []byte) bool) error {
	d := &wire.Decoder{B: arr}
	err := d.Array(func() error {
		d.WS()
		start := d.I
		if err := d.SkipRaw(); err != nil {
			return err
		}
		if !fn(d.B[start:d.I:d.I]) {
			return wire.ErrStop
		}
		return nil
	})
	return d.End(err)
}

// Unquote returns the contents of the JSON string s, unescaped (invalid
// UTF-8 as U+FFFD, as decoding does). The result aliases s when s has no
// escapes.
func Unquote(s []byte) ([]byte, error) {
	d := &wire.Decoder{B: s}
	if d.Peek() != '"' {
		return nil, d.Errf("not a string")
	}
	b, err := d.StrBytes()
	if err != nil {
		return nil, err
	}
	if err := d.End(nil); err != nil {
		return nil, err
	}
	return b, nil
}

// MergeObjects returns the JSON object of base with patch's members set
// over it (a PATCH applied to a stored document): base's members in order,
// with patch's value where patch has the key, then patch's other members.
// Of repeated keys the last value wins, as when decoding into a map.
func MergeObjects(base, patch []byte) ([]byte, error) {
	type member struct {
		key   string
		value []byte
	}
	var pm []member
	at := map[string]int{}
	err := Fields(patch, func(k, v []byte) bool {
		if j, ok := at[string(k)]; ok {
			pm[j].value = v
			return true
		}
		at[string(k)] = len(pm)
		pm = append(pm, member{string(k), v})
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("patch: %w", err)
	}
	var bm []member
	bat := map[string]int{}
	err = Fields(base, func(k, v []byte) bool {
		if j, ok := at[string(k)]; ok {
			v = pm[j].value
		}
		if j, ok := bat[string(k)]; ok {
			bm[j].value = v
			return true
		}
		bat[string(k)] = len(bm)
		bm = append(bm, member{string(k), v})
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("current: %w", err)
	}
	for _, m := range pm {
		if _, ok := bat[m.key]; !ok {
			bm = append(bm, m)
		}
	}
	out := make([]byte, 0, len(base)+len(patch)+2)
	out = append(out, '{')
	for i, m := range bm {
		if i > 0 {
			out = append(out, ',')
		}
		out = wire.AppendString(out, m.key)
		out = append(out, ':')
		out = append(out, m.value...)
	}
	return append(out, '}'), nil
}

// hasKey reports whether one of x's members has key. Members.Next checked
// every entry of x before it asks.
func hasKey(x *abi.Index, key []byte) bool {
	for p := 0; p+abi.MemberSize <= len(x.Tab); p += abi.MemberSize {
		ko, kl := u32at(x.Tab, p+1), u32at(x.Tab, p+5)
		if string(x.Blob[ko:ko+kl]) == string(key) {
			return true
		}
	}
	return false
}

// u32at reads a little-endian uint32 of b at i (b is long enough: checked
// by the caller). Go's int is 64 bits wide on wasm too, so the sums of two
// such values the callers compare do not wrap.
func u32at(b []byte, i int) int { return int(wire.Load32(b, i)) }
