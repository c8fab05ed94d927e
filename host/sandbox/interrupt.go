package sandbox

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// This file gives guests cheap deadline checks.
//
// wazero's WithCloseOnContextDone calls out of compiled code into Go at every
// wasm loop header, so each loop turn costs ≈ 36 ns here; a guest that parses
// JSON pays that on every byte or word it scans. instrument rewrites the guest
// instead, before it is compiled: it adds one mutable i32 global, exported as
// interruptExport, and puts
//
//	global.get $interrupt
//	if
//	  unreachable
//	end
//
// at the head of every loop and at the entry of every function — a load and
// a branch. The host sets the global from the call's context.AfterFunc when
// the deadline passes or the caller goes away, and the guest traps at its next
// loop turn or call. Any run that does not end turns loops or makes calls
// without bound (tail calls, which could loop without either, are not enabled
// in the runtime), so every guest stops. wazero checks only loop headers: a
// loop-free function that calls itself twice per level is not stopped there.
//
// The rewrite reads the whole code section instruction by instruction and
// refuses (with an error naming the opcode and offset) any instruction outside
// WebAssembly 2.0, which is what the runtime accepts anyway, bodies whose
// blocks do not balance, and code naming the flag's global index. DWARF
// sections are dropped: the code offsets they name move.

// interruptExport is the name of the global instrument adds and exports.
const interruptExport = "syncgate_interrupt"

// The check is global.get <flag index> followed by checkTail: if (empty
// block type), unreachable, end.
const opGlobalGet = 0x23

var (
	checkTail    = []byte{0x04, 0x40, 0x00, 0x0b}
	errTruncated = errors.New("truncated")
)

// instrument returns wasm with interrupt checks at function entries and loop
// headers and the exported
// interrupt global, and how many checks it inserted.
func instrument(wasm []byte) ([]byte, int, error) {
	if len(wasm) < 8 || !bytes.Equal(wasm[:4], []byte("\x00asm")) || !bytes.Equal(wasm[4:8], []byte{1, 0, 0, 0}) {
		return nil, 0, errors.New("not a WebAssembly 1.0 binary (bad magic or version)")
	}
	type section struct {
		id      byte
		payload []byte
	}
	var secs []section
	r := reader{b: wasm, off: 8}
	for r.off < len(r.b) {
		id, err := r.byte()
		if err != nil {
			return nil, 0, err
		}
		size, err := r.u32()
		if err != nil {
			return nil, 0, fmt.Errorf("section %d: %w", id, err)
		}
		payload, err := r.bytes(int(size))
		if err != nil {
			return nil, 0, fmt.Errorf("section %d: %w", id, err)
		}
		secs = append(secs, section{id, payload})
	}

	// Index of the new global: imported globals come first, then defined ones.
	var importedGlobals, definedGlobals uint32
	var haveGlobals, haveExports bool
	for _, s := range secs {
		switch s.id {
		case secImport:
			n, err := countImportedGlobals(s.payload)
			if err != nil {
				return nil, 0, fmt.Errorf("import section: %w", err)
			}
			importedGlobals = n
		case secGlobal:
			sr := reader{b: s.payload}
			n, err := sr.u32()
			if err != nil {
				return nil, 0, fmt.Errorf("global section: %w", err)
			}
			definedGlobals, haveGlobals = n, true
		case secExport:
			haveExports = true
		}
	}
	global := importedGlobals + definedGlobals
	newGlobal := []byte{0x7f, 0x01, 0x41, 0x00, 0x0b} // mutable i32 = i32.const 0
	newExport := appendName(nil, interruptExport)
	newExport = append(newExport, 0x03) // export kind: global
	newExport = appendU32(newExport, global)

	out := make([]byte, 0, len(wasm)+len(wasm)/16)
	out = append(out, wasm[:8]...)
	emit := func(id byte, payload []byte) {
		out = append(out, id)
		out = appendU32(out, uint32(len(payload)))
		out = append(out, payload...)
	}
	checks := 0
	// Sections in their required order; a missing global or export section is
	// created where it belongs (before the first section that must follow it).
	for _, s := range secs {
		if !haveGlobals && s.id != secCustom && order(s.id) > order(secGlobal) {
			emit(secGlobal, append(appendU32(nil, 1), newGlobal...))
			haveGlobals = true
		}
		if !haveExports && s.id != secCustom && order(s.id) > order(secExport) {
			emit(secExport, append(appendU32(nil, 1), newExport...))
			haveExports = true
		}
		switch s.id {
		case secCustom:
			name, _ := (&reader{b: s.payload}).name()
			if strings.HasPrefix(name, ".debug_") {
				continue
			}
			emit(s.id, s.payload)
		case secGlobal:
			p, err := appendToVec(s.payload, newGlobal)
			if err != nil {
				return nil, 0, fmt.Errorf("global section: %w", err)
			}
			emit(s.id, p)
		case secExport:
			if err := checkExportFree(s.payload); err != nil {
				return nil, 0, err
			}
			p, err := appendToVec(s.payload, newExport)
			if err != nil {
				return nil, 0, fmt.Errorf("export section: %w", err)
			}
			emit(s.id, p)
		case secCode:
			p, n, err := instrumentCode(s.payload, global)
			if err != nil {
				return nil, 0, fmt.Errorf("code section: %w", err)
			}
			checks += n
			emit(s.id, p)
		default:
			emit(s.id, s.payload)
		}
	}
	if !haveGlobals {
		emit(secGlobal, append(appendU32(nil, 1), newGlobal...))
	}
	if !haveExports {
		emit(secExport, append(appendU32(nil, 1), newExport...))
	}
	return out, checks, nil
}

const (
	secCustom  = 0
	secImport  = 2
	secGlobal  = 6
	secExport  = 7
	secCode    = 10
	secDataCnt = 12
	secTag     = 13
	importGlob = 0x03
)

// order is a section's position in the binary: ids are in order except the
// data count section (before code) and the tag section (before globals).
func order(id byte) int {
	switch id {
	case secDataCnt:
		return 95 // between element (9) and code (10)
	case secTag:
		return 55 // between memory (5) and global (6)
	}
	return int(id) * 10
}

func countImportedGlobals(p []byte) (uint32, error) {
	r := reader{b: p}
	n, err := r.u32()
	if err != nil {
		return 0, err
	}
	var globals uint32
	for range n {
		if _, err := r.name(); err != nil {
			return 0, err
		}
		if _, err := r.name(); err != nil {
			return 0, err
		}
		kind, err := r.byte()
		if err != nil {
			return 0, err
		}
		switch kind {
		case 0x00: // function: type index
			_, err = r.u32()
		case 0x01: // table: reftype, limits
			if _, err = r.byte(); err == nil {
				err = r.limits()
			}
		case 0x02: // memory: limits
			err = r.limits()
		case importGlob: // global: valtype, mutability
			_, err = r.bytes(2)
			globals++
		case 0x04: // tag: attribute, type index
			if _, err = r.byte(); err == nil {
				_, err = r.u32()
			}
		default:
			return 0, fmt.Errorf("unknown import kind 0x%02x", kind)
		}
		if err != nil {
			return 0, err
		}
	}
	if r.off != len(p) {
		return 0, fmt.Errorf("%d bytes after the last import", len(p)-r.off)
	}
	return globals, nil
}

func checkExportFree(p []byte) error {
	r := reader{b: p}
	n, err := r.u32()
	if err != nil {
		return fmt.Errorf("export section: %w", err)
	}
	for range n {
		name, err := r.name()
		if err == nil {
			_, err = r.byte()
		}
		if err == nil {
			_, err = r.u32()
		}
		if err != nil {
			return fmt.Errorf("export section: %w", err)
		}
		if name == interruptExport {
			return fmt.Errorf("the module already exports %q, which syncgate reserves", interruptExport)
		}
	}
	return nil
}

// appendToVec returns a vector payload with one more element.
func appendToVec(p, elem []byte) ([]byte, error) {
	r := reader{b: p}
	n, err := r.u32()
	if err != nil {
		return nil, err
	}
	out := appendU32(make([]byte, 0, len(p)+len(elem)+5), n+1)
	out = append(out, p[r.off:]...)
	return append(out, elem...), nil
}

// instrumentCode rewrites every function body of a code section.
func instrumentCode(p []byte, global uint32) ([]byte, int, error) {
	r := reader{b: p}
	n, err := r.u32()
	if err != nil {
		return nil, 0, err
	}
	check := append(appendU32([]byte{opGlobalGet}, global), checkTail...)
	out := appendU32(make([]byte, 0, len(p)+len(p)/8), n)
	var body []byte
	checks := 0
	for fn := range n {
		size, err := r.u32()
		if err != nil {
			return nil, 0, fmt.Errorf("function %d: %w", fn, err)
		}
		b, err := r.bytes(int(size))
		if err != nil {
			return nil, 0, fmt.Errorf("function %d: %w", fn, err)
		}
		body, err = instrumentBody(body[:0], b, check, global, &checks)
		if err != nil {
			return nil, 0, fmt.Errorf("function %d: %w", fn, err)
		}
		out = appendU32(out, uint32(len(body)))
		out = append(out, body...)
	}
	if r.off != len(p) {
		return nil, 0, fmt.Errorf("%d bytes after the last function", len(p)-r.off)
	}
	return out, checks, nil
}

// instrumentBody copies one function body to out with check after its
// local declarations and after every loop instruction's block type. It refuses code that names the flag's
// global index: the flag does not exist in the module as written, so such
// code would be invalid, yet after the rewrite it would validate and could
// clear the flag and outrun its deadline.
func instrumentBody(out, b, check []byte, flag uint32, checks *int) ([]byte, error) {
	r := reader{b: b}
	groups, err := r.u32()
	if err != nil {
		return nil, err
	}
	for range groups {
		if _, err := r.u32(); err != nil {
			return nil, err
		}
		t, err := r.byte()
		if err != nil {
			return nil, err
		}
		if !isValType(t) {
			return nil, fmt.Errorf("local of type 0x%02x, not a WebAssembly 2.0 value type", t)
		}
	}
	out = append(out, b[:r.off]...)
	out = append(out, check...)
	*checks++
	copied := r.off // b[:copied] is in out
	// depth counts open blocks; the body's own end closes depth 0, and must
	// be its last byte. A misread immediate would almost always break this.
	depth := 0
	for r.off < len(b) {
		if depth < 0 {
			return nil, fmt.Errorf("code after the function's end at body offset %d", r.off)
		}
		at := r.off
		op, _ := r.byte()
		if err := r.skipImmediates(op); err != nil {
			return nil, fmt.Errorf("instruction 0x%02x at body offset %d: %w", op, at, err)
		}
		switch op {
		case 0x23, 0x24: // global.get, global.set
			idx, _ := (&reader{b: b, off: at + 1}).u32()
			if idx >= flag {
				return nil, fmt.Errorf("instruction 0x%02x at body offset %d names global %d, which does not exist", op, at, idx)
			}
		case 0x02, 0x04: // block, if
			depth++
		case 0x03: // loop
			depth++
			out = append(out, b[copied:r.off]...)
			out = append(out, check...)
			copied = r.off
			*checks++
		case 0x0b: // end
			depth--
		}
	}
	if depth != -1 {
		return nil, errors.New("unbalanced blocks: the body does not end with its own end")
	}
	return append(out, b[copied:]...), nil
}

// reader decodes the WebAssembly binary format.
type reader struct {
	b   []byte
	off int
}

func (r *reader) byte() (byte, error) {
	if r.off >= len(r.b) {
		return 0, errTruncated
	}
	c := r.b[r.off]
	r.off++
	return c, nil
}

func (r *reader) bytes(n int) ([]byte, error) {
	if n < 0 || n > len(r.b)-r.off {
		return nil, errTruncated
	}
	s := r.b[r.off : r.off+n]
	r.off += n
	return s, nil
}

// leb skips an LEB128 number of at most maxBytes bytes and returns its low
// 32 bits (unsigned reading).
func (r *reader) leb(maxBytes int) (uint32, error) {
	var v uint32
	for i := 0; i < maxBytes; i++ {
		c, err := r.byte()
		if err != nil {
			return 0, err
		}
		if i < 5 {
			v |= uint32(c&0x7f) << (7 * i)
		}
		if c&0x80 == 0 {
			return v, nil
		}
	}
	return 0, errors.New("LEB128 number too long")
}

func (r *reader) u32() (uint32, error) { return r.leb(5) }

func (r *reader) name() (string, error) {
	n, err := r.u32()
	if err != nil {
		return "", err
	}
	b, err := r.bytes(int(n))
	return string(b), err
}

func (r *reader) limits() error {
	flags, err := r.byte()
	if err != nil {
		return err
	}
	if _, err := r.leb(10); err != nil {
		return err
	}
	if flags&1 != 0 {
		_, err = r.leb(10)
	}
	return err
}

// skipImmediates moves past the immediates of op (WebAssembly 2.0: MVP,
// sign extension, saturating conversions, bulk memory, reference types,
// multi-value, SIMD).
func (r *reader) skipImmediates(op byte) error {
	var err error
	switch {
	case op == 0x02 || op == 0x03 || op == 0x04: // block, loop, if: block type
		var c byte
		if c, err = r.byte(); err == nil && c != 0x40 && !isValType(c) {
			r.off--
			_, err = r.leb(5) // type index, as s33
		}
	case op == 0x0c || op == 0x0d: // br, br_if
		_, err = r.u32()
	case op == 0x0e: // br_table
		var n uint32
		if n, err = r.u32(); err == nil {
			for i := uint32(0); i <= n && err == nil; i++ {
				_, err = r.u32()
			}
		}
	case op == 0x10: // call
		_, err = r.u32()
	case op == 0x11: // call_indirect: type, table
		if _, err = r.u32(); err == nil {
			_, err = r.u32()
		}
	case op == 0x1c: // select t*
		var n uint32
		if n, err = r.u32(); err == nil {
			_, err = r.bytes(int(n))
		}
	case op >= 0x20 && op <= 0x26: // local.*, global.*, table.get/set
		_, err = r.u32()
	case op >= 0x28 && op <= 0x3e: // loads and stores: memarg
		err = r.memarg()
	case op == 0x3f || op == 0x40: // memory.size, memory.grow: memory index
		_, err = r.u32()
	case op == 0x41: // i32.const
		_, err = r.leb(5)
	case op == 0x42: // i64.const
		_, err = r.leb(10)
	case op == 0x43:
		_, err = r.bytes(4)
	case op == 0x44:
		_, err = r.bytes(8)
	case op == 0xd0: // ref.null: reftype
		_, err = r.byte()
	case op == 0xd2: // ref.func
		_, err = r.u32()
	case op == 0xfc:
		err = r.skipMisc()
	case op == 0xfd:
		err = r.skipSIMD()
	case op <= 0x01, op == 0x05, op == 0x0b, op == 0x0f, op == 0x1a, op == 0x1b,
		op >= 0x45 && op <= 0xc4, op == 0xd1:
		// no immediates
	default:
		return errors.New("not a WebAssembly 2.0 instruction")
	}
	return err
}

func isValType(c byte) bool {
	switch c {
	case 0x7f, 0x7e, 0x7d, 0x7c, 0x7b, 0x70, 0x6f:
		return true
	}
	return false
}

func (r *reader) memarg() error {
	if _, err := r.u32(); err != nil { // alignment
		return err
	}
	_, err := r.leb(10) // offset
	return err
}

// skipMisc handles the 0xFC prefix: saturating truncation, bulk memory and
// table instructions.
func (r *reader) skipMisc() error {
	sub, err := r.u32()
	if err != nil {
		return err
	}
	// Immediates are u32 indexes (the reserved zero bytes are read as such).
	var n int
	switch {
	case sub <= 7: // trunc_sat
		n = 0
	case sub == 8: // memory.init data, mem
		n = 2
	case sub == 9: // data.drop
		n = 1
	case sub == 10: // memory.copy mem, mem
		n = 2
	case sub == 11: // memory.fill mem
		n = 1
	case sub == 12, sub == 14: // table.init, table.copy
		n = 2
	case sub == 13, sub >= 15 && sub <= 17: // elem.drop, table.grow/size/fill
		n = 1
	default:
		return fmt.Errorf("unknown 0xfc instruction %d", sub)
	}
	for range n {
		if _, err := r.u32(); err != nil {
			return err
		}
	}
	return nil
}

// skipSIMD handles the 0xFD prefix (fixed-width SIMD).
func (r *reader) skipSIMD() error {
	sub, err := r.u32()
	if err != nil {
		return err
	}
	switch {
	case sub <= 11, sub == 92, sub == 93: // v128 loads and stores
		return r.memarg()
	case sub == 12, sub == 13: // v128.const, i8x16.shuffle
		_, err = r.bytes(16)
	case sub >= 21 && sub <= 34: // extract/replace lane
		_, err = r.byte()
	case sub >= 84 && sub <= 91: // load/store lane: memarg, lane
		if err = r.memarg(); err == nil {
			_, err = r.byte()
		}
	case sub <= 255:
		// no immediates
	default:
		return fmt.Errorf("unknown 0xfd instruction %d", sub)
	}
	return err
}

func appendU32(b []byte, v uint32) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v == 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

func appendName(b []byte, s string) []byte {
	return append(appendU32(b, uint32(len(s))), s...)
}
