package guest

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/syncgate/syncgate/guest/abi"
	"github.com/syncgate/syncgate/guest/internal/wire"
	"github.com/syncgate/syncgate/guest/raw"
)

// The guest's side of the rows form of the Request (see "Input forms" in
// the package comment): the host has already decoded and checked every row,
// so it sends each row's JSON text together with an index of its members,
// and the SDK reads members from the index instead of lexing the text.
// Inside wasm lexing cost more than the work of most guests
// (docs/design.md, "The host hands guests indexed rows").

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
func (d *rowsDecoder) row(text *[]byte, idx *abi.Index) {
	n, nt, ne := d.u32(), d.u32(), d.u32()
	if d.bad || n > (len(d.b)-d.i)/abi.MemberSize || nt+ne > len(d.b)-d.i-n*abi.MemberSize {
		d.fail("a row of %d members and %d+%d bytes is more than the input holds", n, nt, ne)
		return
	}
	tab := d.b[d.i : d.i+n*abi.MemberSize : d.i+n*abi.MemberSize]
	d.i += n * abi.MemberSize
	blob := d.b[d.i : d.i+nt+ne : d.i+nt+ne]
	d.i += nt + ne
	if nt == 0 || blob[0] != '{' {
		d.fail("a row's text is not a JSON object")
		return
	}
	*text, *idx = blob[:nt:nt], abi.Index{Blob: blob, Tab: tab, Text: nt}
}

// u32at reads a little-endian uint32 of b at i (b is long enough: checked
// by the caller). Go's int is 64 bits wide on wasm too, so the sums of two
// such values the callers compare do not wrap.
func u32at(b []byte, i int) int { return int(wire.Load32(b, i)) }

// decodeRows parses a rows-form Request; rawData keeps rows as bytes and
// indexes (RawData), otherwise rows become maps.
func decodeRows(b []byte, rawData bool) (*Request, error) {
	d := &rowsDecoder{b: b, i: len(abi.RowsMagic)}
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
		case abi.OpPut:
			op.Op = OpPut
		case abi.OpPatch:
			op.Op = OpPatch
		case abi.OpDelete:
			op.Op = OpDelete
		default:
			d.fail("ops[%d]: unknown op kind", k)
		}
		flags := d.u8()
		if t := d.bytes(); string(t) != table {
			table = internString(keys.seen, &arena, t)
		}
		op.Table = table
		op.ID = arena.String(d.bytes())
		op.Exists = flags&abi.FlagExists != 0
		op.again = flags&abi.FlagAgain != 0
		op.before = flags&abi.FlagBefore != 0
		if flags&abi.FlagData != 0 {
			d.row(&op.RawData, &op.dataIdx)
		}
		if flags&abi.FlagCurrent != 0 {
			d.row(&op.RawCurrent, &op.curIdx)
		}
		if flags&abi.FlagExtras != 0 {
			if extras := d.bytes(); !d.bad {
				dec := &reqDecoder{Decoder: wire.Decoder{B: extras}}
				if err := dec.End(dec.op(op)); err != nil {
					return nil, fmt.Errorf("rows form: ops[%d] extras: %w", k, err)
				}
			}
		}
		if flags&^(abi.FlagExists|abi.FlagData|abi.FlagCurrent|abi.FlagExtras|abi.FlagAgain|abi.FlagBefore) != 0 {
			d.fail("ops[%d]: unknown flags %#x", k, flags)
		}
		if err := d.check(); err != nil {
			return nil, err
		}
		if !rawData {
			var err error
			if op.Data, err = rowMap(keys, &arena, op.RawData, &op.dataIdx); err != nil {
				return nil, fmt.Errorf("rows form: ops[%d] data: %w", k, err)
			}
			if op.Current, err = rowMap(keys, &arena, op.RawCurrent, &op.curIdx); err != nil {
				return nil, fmt.Errorf("rows form: ops[%d] current: %w", k, err)
			}
			op.RawData, op.dataIdx, op.RawCurrent, op.curIdx = nil, abi.Index{}, nil, abi.Index{}
		}
	}
	if d.i != len(b) {
		return nil, fmt.Errorf("rows form: %d bytes after the last op", len(b)-d.i)
	}
	return req, nil
}

// internString returns b as a string, one copy in arena per distinct value
// of the request (table names, keys).
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
func rowMap(keys *rowKeys, arena *wire.Arena, text []byte, idx *abi.Index) (map[string]any, error) {
	if text == nil {
		return nil, nil
	}
	m := make(map[string]any, idx.Members())
	mb := raw.Row(text, idx)
	for i := 0; mb.Next(); i++ {
		var v any
		switch mb.Kind() {
		case abi.KindNull:
		case abi.KindTrue:
			v = true
		case abi.KindFalse:
			v = false
		case abi.KindNumber:
			v = arena.BoxNumber(arena.String(mb.Value()))
		case abi.KindString, abi.KindText:
			str, _, _ := mb.String()
			v = arena.Box(arena.String(str))
		default:
			d := &wire.Decoder{B: mb.Value()}
			val, err := d.Value()
			if err = d.End(err); err != nil {
				return nil, err
			}
			v = val
		}
		m[keys.at(i, arena, mb.Key())] = v
	}
	return m, mb.Err()
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
