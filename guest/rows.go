package guest

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/syncgate/syncgate/guest/internal/wire"
)

// The guest's side of the rows form of the Request (see "Input forms" in
// the package comment): the host has already decoded and checked every row,
// so it sends each row's JSON text together with an index of its members,
// and the SDK reads members from the index instead of lexing the text.
// Inside wasm lexing cost more than the work of most guests
// (docs/design.md, "The host hands guests indexed rows").

// RowsMagic starts a Request in the rows form. Its first byte, 0, never
// starts JSON text, so Process tells the forms apart by it.
const RowsMagic = "\x00sgr"

// Member kinds in a rows-form index. These constants and the ones around
// them are the ABI's, for the host; a guest reads rows through Members.
const (
	KindNull   = 'n'
	KindTrue   = 't'
	KindFalse  = 'f'
	KindNumber = '0'
	KindString = 's' // the contents are all ASCII
	KindText   = 'u' // a string with non-ASCII contents
	KindObject = '{'
	KindArray  = '['
)

// MemberSize is the size of one member's entry in a row's index: its kind,
// then six little-endian uint32s: the key (unescaped) as offset and length,
// the value's JSON text as offset and length, and a string value's
// contents (unescaped) as offset and length (0, 0 for other kinds).
// Offsets count from the start of the row's JSON text; keys and contents
// with escapes lie in the row's extra bytes, which follow the text.
const MemberSize = 25

// rowIndex is a row's index: its text and extra bytes (blob) and its
// member entries (tab), each checked where Members reads it.
type rowIndex struct {
	blob []byte
	tab  []byte
	text int // the length of the row's text
}

func (r *rowIndex) members() int { return len(r.tab) / MemberSize }

// hasKey reports whether one of r's members has key. Members.Next checked
// every entry of r before it asks.
func (r *rowIndex) hasKey(key []byte) bool {
	for p := 0; p+MemberSize <= len(r.tab); p += MemberSize {
		ko, kl := u32at(r.tab, p+1), u32at(r.tab, p+5)
		if string(r.blob[ko:ko+kl]) == string(key) {
			return true
		}
	}
	return false
}

// rowsDecoder reads a rows-form Request. Its readers are small enough to
// be inlined: inside wasm a call costs about as much as the reading.
type rowsDecoder struct {
	b   []byte
	i   int
	bad bool // a read went past the end
	err error
}

func (d *rowsDecoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("rows form at offset %d: %s", d.i, fmt.Sprintf(format, args...))
	}
}

func (d *rowsDecoder) u8() byte {
	if d.i >= len(d.b) {
		d.bad = true
		return 0
	}
	d.i++
	return d.b[d.i-1]
}

func (d *rowsDecoder) u32() int {
	if len(d.b)-d.i < 4 {
		d.bad = true
		return 0
	}
	d.i += 4
	return u32at(d.b, d.i-4)
}

// bytes reads a length-prefixed byte string (aliasing the input).
func (d *rowsDecoder) bytes() []byte {
	n := d.u32()
	if n > len(d.b)-d.i {
		d.bad = true
		return nil
	}
	d.i += n
	return d.b[d.i-n : d.i : d.i]
}

// check turns a short read into the decoder's error.
func (d *rowsDecoder) check() error {
	if d.bad {
		d.fail("unexpected end of input")
	}
	return d.err
}

// row reads a row: its member count, text length, extra length, index,
// text and extra bytes. The index's entries are checked where they are
// read (Members.Next).
func (d *rowsDecoder) row(raw *[]byte, idx *rowIndex) {
	n, nt, ne := d.u32(), d.u32(), d.u32()
	if d.bad || n > (len(d.b)-d.i)/MemberSize || nt+ne > len(d.b)-d.i-n*MemberSize {
		d.fail("a row of %d members and %d+%d bytes is more than the input holds", n, nt, ne)
		return
	}
	tab := d.b[d.i : d.i+n*MemberSize : d.i+n*MemberSize]
	d.i += n * MemberSize
	blob := d.b[d.i : d.i+nt+ne : d.i+nt+ne]
	d.i += nt + ne
	if nt == 0 || blob[0] != '{' {
		d.fail("a row's text is not a JSON object")
		return
	}
	*raw, *idx = blob[:nt:nt], rowIndex{blob: blob, tab: tab, text: nt}
}

// kindStarts reports whether JSON text starting with c can be of kind.
func kindStarts(kind, c byte) bool {
	switch kind {
	case KindNull, KindTrue, KindFalse, KindObject, KindArray:
		return c == kind
	case KindString, KindText:
		return c == '"'
	case KindNumber:
		return c == '-' || '0' <= c && c <= '9'
	}
	return false
}

// u32at reads a little-endian uint32 of b at i (b is long enough: checked
// by the caller). Go's int is 64 bits wide on wasm too, so the sums of two
// such values the callers compare do not wrap.
func u32at(b []byte, i int) int { return int(wire.Load32(b, i)) }

// decodeRows parses a rows-form Request; raw keeps rows as bytes and
// indexes (RegisterRaw), otherwise rows become maps.
func decodeRows(b []byte, raw bool) (*Request, error) {
	d := &rowsDecoder{b: b, i: len(RowsMagic)}
	req := &Request{ABI: d.u32(), repeats: true}
	if len(d.b)-d.i >= 8 {
		req.Now = time.Unix(0, int64(binary.LittleEndian.Uint64(d.b[d.i:]))).UTC()
		d.i += 8
	} else {
		d.bad = true
	}
	req.RequestID = string(d.bytes())
	req.Caller.UserID = string(d.bytes())
	if claims := d.bytes(); len(claims) > 0 {
		cd := &wire.Decoder{B: claims}
		if err := cd.End(cd.ObjectInto(&req.Caller.Claims)); err != nil {
			return nil, fmt.Errorf("rows form: claims: %w", err)
		}
	}
	if n := d.u32(); n > 0 && n <= len(b)/8 {
		req.Settings = make(map[string]string, n)
		for range n {
			k := d.bytes()
			req.Settings[string(k)] = string(d.bytes())
		}
	} else if n > 0 {
		d.fail("%d settings are more than the input holds", n)
	}
	n := d.u32()
	if n > len(b)/16 {
		d.fail("op count %d is more than the input holds", n)
	}
	if err := d.check(); err != nil {
		return nil, err
	}
	req.Ops = make([]*Op, n)
	var slab []Op // ops in chunks: an allocation past 32 KiB takes fresh pages of the heap
	keys := &rowKeys{seen: map[string]string{}}
	var table string // the previous op's table, shared while it repeats
	var arena wire.Arena
	for k := range n {
		if len(slab) == 0 {
			slab = make([]Op, min(n-k, 32))
		}
		op := &slab[0]
		slab = slab[1:]
		req.Ops[k] = op
		op.Index = d.u32()
		switch d.u8() {
		case 1:
			op.Op = "PUT"
		case 2:
			op.Op = "PATCH"
		case 3:
			op.Op = "DELETE"
		default:
			d.fail("ops[%d]: unknown op kind", k)
		}
		flags := d.u8()
		if t := d.bytes(); string(t) != table {
			table = internString(keys.seen, &arena, t)
		}
		op.Table = table
		op.ID = arena.String(d.bytes())
		op.Exists = flags&flagExists != 0
		op.again = flags&flagAgain != 0
		op.before = flags&flagBefore != 0
		if flags&flagData != 0 {
			d.row(&op.RawData, &op.dataIdx)
		}
		if flags&flagCurrent != 0 {
			d.row(&op.RawCurrent, &op.curIdx)
		}
		if flags&flagExtras != 0 {
			if extras := d.bytes(); !d.bad {
				dec := &reqDecoder{Decoder: wire.Decoder{B: extras}}
				if err := dec.End(dec.op(op)); err != nil {
					return nil, fmt.Errorf("rows form: ops[%d] extras: %w", k, err)
				}
			}
		}
		if flags&^(flagExists|flagData|flagCurrent|flagExtras|flagAgain|flagBefore) != 0 {
			d.fail("ops[%d]: unknown flags %#x", k, flags)
		}
		if err := d.check(); err != nil {
			return nil, err
		}
		if !raw {
			var err error
			if op.Data, err = rowMap(keys, &arena, op.RawData, &op.dataIdx); err != nil {
				return nil, fmt.Errorf("rows form: ops[%d] data: %w", k, err)
			}
			if op.Current, err = rowMap(keys, &arena, op.RawCurrent, &op.curIdx); err != nil {
				return nil, fmt.Errorf("rows form: ops[%d] current: %w", k, err)
			}
			op.RawData, op.dataIdx, op.RawCurrent, op.curIdx = nil, rowIndex{}, nil, rowIndex{}
		}
	}
	if d.i != len(b) {
		return nil, fmt.Errorf("rows form: %d bytes after the last op", len(b)-d.i)
	}
	return req, nil
}

// Op flags in the rows form.
const (
	flagExists  = 1
	flagData    = 2
	flagCurrent = 4
	flagExtras  = 8
	flagAgain   = 16 // a later op of the call has the same table and id
	flagBefore  = 32 // an earlier op of the call has the same table and id
)

func internString(seen map[string]string, arena *wire.Arena, b []byte) string {
	if s, ok := seen[string(b)]; ok {
		return s
	}
	s := arena.String(b)
	seen[s] = s
	return s
}

// rowMap builds the map a Register guest gets from an indexed row, as
// DecodeObject would from its text (nil for an absent row).
func rowMap(keys *rowKeys, arena *wire.Arena, text []byte, idx *rowIndex) (map[string]any, error) {
	if text == nil {
		return nil, nil
	}
	m := make(map[string]any, idx.members())
	mb := Members{idx: idx}
	for i := 0; mb.Next(); i++ {
		var v any
		switch mb.kind {
		case KindNull:
		case KindTrue:
			v = true
		case KindFalse:
			v = false
		case KindNumber:
			v = arena.BoxNumber(arena.String(mb.value))
		case KindString, KindText:
			v = arena.Box(arena.String(mb.str))
		default:
			d := &wire.Decoder{B: mb.value}
			val, err := d.Value()
			if err = d.End(err); err != nil {
				return nil, err
			}
			v = val
		}
		m[keys.at(i, arena, mb.key)] = v
	}
	return m, mb.err
}

// rowKeys shares one string per key among a call's maps. Rows of a table
// repeat their keys in the same order, so the key at a position is first
// compared with the last row's there; a lookup hashes in software in wasm.
type rowKeys struct {
	seen map[string]string
	prev []string
}

func (k *rowKeys) at(i int, arena *wire.Arena, b []byte) string {
	if i < len(k.prev) && k.prev[i] == string(b) {
		return k.prev[i]
	}
	s := internString(k.seen, arena, b)
	if i < len(k.prev) {
		k.prev[i] = s
	} else if i == len(k.prev) {
		k.prev = append(k.prev, s)
	}
	return s
}
