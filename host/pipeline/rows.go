package pipeline

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/syncgate/syncgate/guest/abi"

	"github.com/syncgate/syncgate/host/syncgate"
)

// The rows form of the Request (guest package comment, "Input forms"): what
// guests built with this SDK read. The host has decoded and checked every
// row already, so it writes each row's JSON text with an index of its
// members (kind, key, value text, string contents) and the guest reads
// members from the index instead of lexing the text inside wasm.

// encodeRows writes the rows-form Request for the ops at idx.
// Its buffer comes from rowsBufs; the caller may hand it back with
// recycleRows once nothing reads it.
func encodeRows(b *syncgate.Batch, now time.Time, settings map[string]string, ops []syncgate.Op, idx []int, current map[string]map[string]syncgate.Doc) ([]byte, error) {
	var w rowWriter
	if bp, ok := rowsBufs.Get().(*[]byte); ok {
		w.out = *bp
	}
	w.out = slices.Grow(w.out[:0], 1024+len(idx)*640)
	w.out = append(w.out, abi.RowsMagic...)
	w.u32(abi.Version)
	w.out = binary.LittleEndian.AppendUint64(w.out, uint64(now.UnixNano()))
	w.bytes([]byte(b.RequestID))
	w.bytes([]byte(b.Caller.UserID))
	if len(b.Caller.Claims) > 0 {
		claims, err := json.Marshal(b.Caller.Claims)
		if err != nil {
			return nil, err
		}
		w.bytes(claims)
	} else {
		w.u32(0)
	}
	w.u32(len(settings))
	for _, k := range slices.Sorted(maps.Keys(settings)) {
		w.bytes([]byte(k))
		w.bytes([]byte(settings[k]))
	}
	// Which ops name a document another op of the call names too: the
	// guest tracks what earlier ops did to those only.
	type docKey struct{ table, id string }
	count := make(map[docKey]int, len(idx))
	for _, i := range idx {
		count[docKey{ops[i].Table, ops[i].ID}]++
	}
	seen := map[docKey]int{}
	w.u32(len(idx))
	for _, i := range idx {
		op := ops[i]
		k := docKey{op.Table, op.ID}
		w.u32(op.Index)
		switch op.Op {
		case syncgate.Put:
			w.out = append(w.out, abi.OpPut)
		case syncgate.Patch:
			w.out = append(w.out, abi.OpPatch)
		case syncgate.Delete:
			w.out = append(w.out, abi.OpDelete)
		default:
			return nil, fmt.Errorf("op %d: unknown op %q", op.Index, op.Op)
		}
		cur, exists := current[op.Table][op.ID]
		var flags byte
		if exists {
			flags |= abi.FlagExists | abi.FlagCurrent
		}
		if op.Op != syncgate.Delete {
			flags |= abi.FlagData
		}
		extras, err := opExtras(op)
		if err != nil {
			return nil, err
		}
		if extras != nil {
			flags |= abi.FlagExtras
		}
		if count[k] > 1 {
			if seen[k] > 0 {
				flags |= abi.FlagBefore
			}
			if seen[k]++; seen[k] < count[k] {
				flags |= abi.FlagAgain
			}
		}
		w.out = append(w.out, flags)
		w.bytes([]byte(op.Table))
		w.bytes([]byte(op.ID))
		if flags&abi.FlagData != 0 {
			if err := w.row(op.Data); err != nil {
				return nil, fmt.Errorf("op %d data: %w", op.Index, err)
			}
		}
		if flags&abi.FlagCurrent != 0 {
			if err := w.row(cur); err != nil {
				return nil, fmt.Errorf("op %d current: %w", op.Index, err)
			}
		}
		if extras != nil {
			w.bytes(extras)
		}
	}
	if len(w.out) > maxRows {
		return nil, fmt.Errorf("a request of %d bytes is over the rows form's %d", len(w.out), maxRows)
	}
	return w.out, nil
}

// rowsBufs keeps rows-form Request buffers between calls: Guest.Call
// copies a Request into the guest's memory, and a fresh buffer of ≈ 64 KiB
// a call (100 rows) was a fifth of encodeRows' time in allocation and GC.
var rowsBufs sync.Pool

// recycleRows hands a Request's buffer back to rowsBufs (not one of over
// 4 MiB: a rare huge batch should not pin its buffer).
func recycleRows(b []byte) {
	if cap(b) <= 4<<20 {
		b = b[:0]
		rowsBufs.Put(&b)
	}
}

// maxRows bounds a rows-form Request: the guest reads lengths up to 1 GiB.
const maxRows = 1 << 30

// opExtras is the JSON object of an op's old, metadata, op_id and tx_id;
// nil when it has none.
func opExtras(op syncgate.Op) ([]byte, error) {
	if op.Old == nil && op.Metadata == nil && op.OpID == nil && op.TxID == nil && op.Parents == nil {
		return nil, nil
	}
	var buf []byte
	var err error
	if buf, err = appendOpExtras(buf, op); err != nil {
		return nil, err
	}
	buf[0] = '{' // appendOpExtras starts each member with a comma
	return append(buf, '}'), nil
}

// rowWriter builds a rows-form Request; text, tab and extra are one row's
// scratch space, reused.
type rowWriter struct {
	out         []byte
	text, extra []byte
	ents        []rowEntry
}

// rowEntry is one member's index entry; offsets at or past extraMark are
// into the extra bytes, fixed up once the text's length is known.
type rowEntry struct {
	kind                   byte
	ko, kl, vo, vl, so, sl int
}

const extraMark = 1 << 40

func (w *rowWriter) u32(v int) { w.out = binary.LittleEndian.AppendUint32(w.out, uint32(v)) }

func (w *rowWriter) bytes(b []byte) {
	w.u32(len(b))
	w.out = append(w.out, b...)
}

// row writes doc as a row: member count, text length, extra length, the
// index (abi.MemberSize bytes a member), the text, the extra bytes.
func (w *rowWriter) row(doc syncgate.Doc) error {
	w.text, w.extra, w.ents = append(w.text[:0], '{'), w.extra[:0], w.ents[:0]
	for i, f := range doc {
		if i > 0 {
			w.text = append(w.text, ',')
		}
		ko, kl, _ := w.str(f.Key)
		w.text = append(w.text, ':')
		vo := len(w.text)
		kind, so, sl, err := w.value(f.Value)
		if err != nil {
			return fmt.Errorf("%s: %w", f.Key, err)
		}
		w.ents = append(w.ents, rowEntry{kind, ko, kl, vo, len(w.text) - vo, so, sl})
	}
	w.text = append(w.text, '}')
	w.u32(len(doc))
	w.u32(len(w.text))
	w.u32(len(w.extra))
	fix := func(off int) int {
		if off >= extraMark {
			return off - extraMark + len(w.text)
		}
		return off
	}
	out := slices.Grow(w.out, len(w.ents)*abi.MemberSize+len(w.text)+len(w.extra)) // grown once, a local: no append writing w.out back per value
	for _, e := range w.ents {
		at := len(out)
		out = out[:at+abi.MemberSize]
		out[at] = e.kind
		for j, v := range [...]int{fix(e.ko), e.kl, e.vo, e.vl, fix(e.so), e.sl} {
			binary.LittleEndian.PutUint32(out[at+1+4*j:], uint32(v))
		}
	}
	out = append(out, w.text...)
	w.out = append(out, w.extra...)
	return nil
}

// value appends v's JSON text and returns its kind and, for a string, where
// its contents lie.
func (w *rowWriter) value(v any) (kind byte, so, sl int, err error) {
	switch v := v.(type) {
	case nil:
		w.text = append(w.text, "null"...)
		return abi.KindNull, 0, 0, nil
	case bool:
		if v {
			w.text = append(w.text, "true"...)
			return abi.KindTrue, 0, 0, nil
		}
		w.text = append(w.text, "false"...)
		return abi.KindFalse, 0, 0, nil
	case int64:
		w.text = strconv.AppendInt(w.text, v, 10)
		return abi.KindNumber, 0, 0, nil
	case string:
		so, sl, ascii := w.str(v)
		if ascii {
			return abi.KindString, so, sl, nil
		}
		return abi.KindText, so, sl, nil
	}
	// Everything else as encoding/json writes it (Doc, []any, floats, ObjectID…).
	b, err := json.Marshal(v)
	if err != nil {
		return 0, 0, 0, err
	}
	start := len(w.text)
	w.text = append(w.text, b...)
	switch c := b[0]; {
	case c == '{':
		return abi.KindObject, 0, 0, nil
	case c == '[':
		return abi.KindArray, 0, 0, nil
	case c == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return 0, 0, 0, err
		}
		if len(s) == len(b)-2 && s == string(b[1:len(b)-1]) {
			so, sl = start+1, len(s)
		} else {
			so, sl = w.extraString(s)
		}
		return stringKind(s), so, sl, nil
	case c == 'n':
		return abi.KindNull, 0, 0, nil
	case c == 't':
		return abi.KindTrue, 0, 0, nil
	case c == 'f':
		return abi.KindFalse, 0, 0, nil
	}
	return abi.KindNumber, 0, 0, nil
}

func stringKind(s string) byte {
	for i := range len(s) {
		if s[i] >= utf8.RuneSelf {
			return abi.KindText
		}
	}
	return abi.KindString
}

// str appends s as a JSON string to the text and returns where its
// contents lie (inside the quotes when it needed no escapes, else in the
// extra bytes, as the guest's decoder reads the text: invalid UTF-8 as
// U+FFFD) and whether they are all ASCII.
func (w *rowWriter) str(s string) (off, n int, ascii bool) {
	t := append(w.text, '"') // a local slice: w.text is written back once, not per append
	start := len(t)
	var class byte
	i := 0
	for ; i+8 <= len(s); i += 8 { // eight bytes at a time: most strings are plain ASCII
		if special8(load8(s, i)) {
			for _, c := range []byte(s[i : i+8]) {
				class |= strClass[c]
			}
		}
	}
	for ; i < len(s); i++ {
		class |= strClass[s[i]]
	}
	plain, ascii := class&classEscape == 0, class&classHigh == 0
	if plain && (ascii || utf8.ValidString(s)) {
		t = append(t, s...)
		w.text = append(t, '"')
		return start, len(s), ascii
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				t = append(t, '\\', c)
			case c < 0x20:
				t = append(t, `\u00`...)
				t = append(t, hexDigits[c>>4], hexDigits[c&0xf])
			default:
				t = append(t, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			t = append(t, `\ufffd`...)
		} else {
			t = append(t, s[i:i+size]...)
		}
		i += size
	}
	w.text = append(t, '"')
	off, n = w.extraString(s)
	return off, n, ascii
}

// extraString puts s, with invalid UTF-8 as U+FFFD, into the extra bytes.
func (w *rowWriter) extraString(s string) (off, n int) {
	start := len(w.extra)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			w.extra = utf8.AppendRune(w.extra, utf8.RuneError)
		} else {
			w.extra = append(w.extra, s[i:i+size]...)
		}
		i += size
	}
	return extraMark + start, len(w.extra) - start
}

const hexDigits = "0123456789abcdef"

// strClass says of each byte whether a JSON string must escape it (", \,
// control characters) and whether it is past ASCII.
var strClass = func() (t [256]byte) {
	for c := range 256 {
		switch {
		case c < 0x20 || c == '"' || c == '\\':
			t[c] = classEscape
		case c >= utf8.RuneSelf:
			t[c] = classHigh
		}
	}
	return t
}()

const (
	classEscape = 1
	classHigh   = 2
)

// load8 reads s[i:i+8] as a little-endian word (the compiler makes it one
// load).
func load8(s string, i int) uint64 {
	_ = s[i+7]
	return uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
		uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
}

// special8 reports whether any byte of w may be one strClass marks: '"',
// '\\', a control character or non-ASCII. It has false positives (a borrow
// between bytes), never false negatives: str then looks at each byte.
func special8(w uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	lt := (w - 0x20*ones) &^ w // a byte below 0x20 sets its high bit
	q := w ^ ('"' * ones)      // a '"' becomes 0
	q = (q - ones) &^ q
	bs := w ^ ('\\' * ones)
	bs = (bs - ones) &^ bs
	return (lt|q|bs|w)&highs != 0
}
