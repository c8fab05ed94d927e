package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// This file gives guests cheap deadline checks.
//
// Compiled wasm cannot be preempted by the Go scheduler, so a guest stuck in
// a loop can only be stopped by checks compiled into it, and until it leaves
// native code no garbage collection can stop the world: a guest spinning in
// native code without ever returning to Go stalls the whole process (wazero's
// RATIONALE.md, "Why context cancellation is handled in Go code"; we hit it
// as a deadlock in TestHostileGuests/loop). wazero's WithCloseOnContextDone
// therefore calls into Go at every loop header, ≈ 36 ns per loop turn here;
// a guest that parses JSON pays that on every byte or word it scans.
//
// instrument rewrites the guest before it is compiled so that it leaves
// native code every yieldEvery checks instead of every check. It adds a
// mutable i32 global, the fuel, and an imported host function
// (yieldModule.yieldName, returning i32), and puts at every function entry
// and every loop header
//
//	global.get $fuel
//	i32.eqz
//	if
//	  call $yield      ;; in Go: a GC safe point; traps past the deadline
//	  global.set $fuel ;; refilled
//	end
//	global.get $fuel
//	i32.const 1
//	i32.sub
//	global.set $fuel
//
// Any run that does not end turns loops or makes calls without bound (tail
// calls, which could loop without either, are not enabled in the runtime),
// so every guest reaches yield within yieldEvery checks. wazero checks loop
// headers only: a loop-free function calling itself twice per level is not
// stopped there (TestInterruptStops/call_tree).
//
// The import shifts the index of every function the module defines, so the
// rewrite renumbers them wherever they are named: calls and ref.func in code
// and constant expressions, exports, the start function, element segments
// and the name section. It reads every instruction of WebAssembly 2.0 and
// refuses anything else (wazero would too), bodies whose blocks do not
// balance, and code naming the fuel's global index (invalid as written, it
// would validate after the rewrite and could refill the fuel). DWARF sections
// are dropped: the code offsets they name move.

const (
	yieldModule = "syncgate_sandbox"
	yieldName   = "yield"
	// yieldEvery is how many checks pass between two returns to Go. A yield
	// costs ≈ 65 ns (BenchmarkLoopTurn with yieldEvery = 1), so 1024 turns
	// make it < 0.1 ns a turn; 1024 turns of a tight loop take ≈ 3 µs, about
	// the longest a guest delays a garbage collection or overruns its
	// deadline (longer loop bodies take proportionally longer).
	yieldEvery = 1024
)

var errTruncated = errors.New("truncated")

// instantiateYield registers the host function instrumented guests import:
// it fails the call once its context is done and otherwise refills the fuel.
func instantiateYield(ctx context.Context, rt wazero.Runtime) error {
	_, err := rt.NewHostModuleBuilder(yieldModule).
		NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, _ api.Module, stack []uint64) {
			if err := ctx.Err(); err != nil {
				panic(err) // wazero unwinds the guest and returns this from Call
			}
			stack[0] = yieldEvery
		}), nil, []api.ValueType{api.ValueTypeI32}).
		Export(yieldName).
		Instantiate(ctx)
	return err
}

// layout is what the rewrite needs to know of a module before writing it.
type layout struct {
	types, importedFuncs, importedGlobals, definedGlobals uint32
}

// fn renumbers a function index: defined functions move up by one, past the
// added import.
func (l *layout) fn(idx uint32) uint32 {
	if idx >= l.importedFuncs {
		return idx + 1
	}
	return idx
}

// instrument returns wasm with fuel checks at function entries and loop
// headers, and how many checks it inserted.
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
		id, payload, err := r.section()
		if err != nil {
			return nil, 0, err
		}
		secs = append(secs, section{id, payload})
	}

	var l layout
	for _, s := range secs {
		var err error
		switch s.id {
		case secType:
			l.types, err = (&reader{b: s.payload}).u32()
		case secImport:
			l.importedFuncs, l.importedGlobals, err = countImports(s.payload)
		case secGlobal:
			l.definedGlobals, err = (&reader{b: s.payload}).u32()
		}
		if err != nil {
			return nil, 0, fmt.Errorf("section %d: %w", s.id, err)
		}
	}
	fuel := l.importedGlobals + l.definedGlobals
	yield := l.importedFuncs // the added import is the last imported function
	yieldType := []byte{0x60, 0x00, 0x01, 0x7f}
	yieldImport := append(appendName(appendName(nil, yieldModule), yieldName), 0x00)
	yieldImport = appendU32(yieldImport, l.types)
	fuelGlobal := append(appendS32([]byte{0x7f, 0x01, 0x41}, yieldEvery), 0x0b) // mutable i32 = yieldEvery

	check := []byte{opGlobalGet}
	check = appendU32(check, fuel)
	check = append(check, 0x45, 0x04, 0x40, 0x10) // i32.eqz, if, call
	check = appendU32(check, yield)
	check = append(check, opGlobalSet)
	check = appendU32(check, fuel)
	check = append(check, 0x0b, opGlobalGet) // end
	check = appendU32(check, fuel)
	check = append(check, 0x41, 0x01, 0x6b, opGlobalSet) // i32.const 1, i32.sub
	check = appendU32(check, fuel)

	// Sections that may be missing are created where they belong: before
	// the first section that must follow them.
	missing := map[byte][]byte{
		secType:   append(appendU32(nil, 1), yieldType...),
		secImport: append(appendU32(nil, 1), yieldImport...),
		secGlobal: append(appendU32(nil, 1), fuelGlobal...),
	}
	for _, s := range secs {
		delete(missing, s.id)
	}
	out := make([]byte, 0, len(wasm)+len(wasm)/8)
	out = append(out, wasm[:8]...)
	emit := func(id byte, payload []byte) { out = appendSection(out, id, payload) }
	emitMissing := func(before byte) {
		for _, id := range []byte{secType, secImport, secGlobal} {
			if p, ok := missing[id]; ok && (before == 0xff || order(id) < order(before)) {
				emit(id, p)
				delete(missing, id)
			}
		}
	}
	checks := 0
	for _, s := range secs {
		if s.id != secCustom {
			emitMissing(s.id)
		}
		var p []byte
		var err error
		switch s.id {
		case secCustom:
			name, _ := (&reader{b: s.payload}).name()
			switch {
			case strings.HasPrefix(name, ".debug_"):
				continue
			case name == "name":
				if p, err = renumberNames(s.payload, &l); err != nil {
					continue // names are for stack traces only: drop what cannot be read
				}
			default:
				p = s.payload
			}
		case secType:
			p, err = appendToVec(s.payload, yieldType)
		case secImport:
			p, err = appendToVec(s.payload, yieldImport)
		case secGlobal:
			p, err = rewriteVec(s.payload, func(out []byte, r *reader) ([]byte, error) {
				b, err := r.bytes(2) // value type, mutability
				if err != nil {
					return nil, err
				}
				return rewriteExpr(append(out, b...), r, &l)
			})
			if err == nil {
				p, err = appendToVec(p, fuelGlobal)
			}
		case secExport:
			p, err = rewriteVec(s.payload, func(out []byte, r *reader) ([]byte, error) {
				name, err := r.name()
				if err != nil {
					return nil, err
				}
				kind, err := r.byte()
				if err != nil {
					return nil, err
				}
				idx, err := r.u32()
				if kind == 0x00 {
					idx = l.fn(idx)
				}
				return appendU32(append(appendName(out, name), kind), idx), err
			})
		case secStart:
			var idx uint32
			rr := reader{b: s.payload}
			if idx, err = rr.u32(); err == nil {
				p = appendU32(nil, l.fn(idx))
			}
		case secElement:
			p, err = rewriteVec(s.payload, func(out []byte, r *reader) ([]byte, error) {
				return rewriteElement(out, r, &l)
			})
		case secCode:
			var n int
			p, n, err = instrumentCode(s.payload, check, fuel, &l)
			checks += n
		default:
			p = s.payload
		}
		if err != nil {
			return nil, 0, fmt.Errorf("section %d: %w", s.id, err)
		}
		emit(s.id, p)
	}
	emitMissing(0xff)
	return out, checks, nil
}

const (
	secCustom  = 0
	secType    = 1
	secImport  = 2
	secGlobal  = 6
	secExport  = 7
	secStart   = 8
	secElement = 9
	secCode    = 10
	secDataCnt = 12
	secTag     = 13

	opGlobalGet = 0x23
	opGlobalSet = 0x24
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

// countImports counts imported functions and globals.
func countImports(p []byte) (funcs, globals uint32, err error) {
	r := reader{b: p}
	n, err := r.u32()
	if err != nil {
		return 0, 0, err
	}
	for range n {
		if _, err := r.name(); err != nil {
			return 0, 0, err
		}
		if _, err := r.name(); err != nil {
			return 0, 0, err
		}
		kind, err := r.byte()
		if err != nil {
			return 0, 0, err
		}
		switch kind {
		case 0x00: // function: type index
			_, err = r.u32()
			funcs++
		case 0x01: // table: reftype, limits
			if _, err = r.byte(); err == nil {
				err = r.limits()
			}
		case 0x02: // memory: limits
			err = r.limits()
		case 0x03: // global: valtype, mutability
			_, err = r.bytes(2)
			globals++
		case 0x04: // tag: attribute, type index
			if _, err = r.byte(); err == nil {
				_, err = r.u32()
			}
		default:
			return 0, 0, fmt.Errorf("unknown import kind 0x%02x", kind)
		}
		if err != nil {
			return 0, 0, err
		}
	}
	if r.off != len(p) {
		return 0, 0, fmt.Errorf("%d bytes after the last import", len(p)-r.off)
	}
	return funcs, globals, nil
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

// rewriteVec rewrites each element of a vector payload with elem, which
// reads one element from r and appends its new form to out.
func rewriteVec(p []byte, elem func(out []byte, r *reader) ([]byte, error)) ([]byte, error) {
	r := reader{b: p}
	n, err := r.u32()
	if err != nil {
		return nil, err
	}
	out := appendU32(make([]byte, 0, len(p)+len(p)/8), n)
	for i := range n {
		if out, err = elem(out, &r); err != nil {
			return nil, fmt.Errorf("entry %d: %w", i, err)
		}
	}
	if r.off != len(p) {
		return nil, fmt.Errorf("%d bytes after the last entry", len(p)-r.off)
	}
	return out, nil
}

// rewriteExpr copies a constant expression (up to and including its end)
// with ref.func renumbered.
func rewriteExpr(out []byte, r *reader, l *layout) ([]byte, error) {
	for {
		at := r.off
		op, err := r.byte()
		if err != nil {
			return nil, err
		}
		if op == 0xd2 { // ref.func
			idx, err := r.u32()
			if err != nil {
				return nil, err
			}
			out = appendU32(append(out, op), l.fn(idx))
			continue
		}
		if err := r.skipImmediates(op); err != nil {
			return nil, fmt.Errorf("instruction 0x%02x in a constant expression: %w", op, err)
		}
		out = append(out, r.b[at:r.off]...)
		if op == 0x0b {
			return out, nil
		}
	}
}

// rewriteElement copies one element segment with its function indexes
// renumbered. The flags' bit 0 marks a passive or declarative segment,
// bit 1 an explicit table index (active) or a declarative one, bit 2
// expressions instead of function indexes.
func rewriteElement(out []byte, r *reader, l *layout) ([]byte, error) {
	flags, err := r.u32()
	if err != nil {
		return nil, err
	}
	if flags > 7 {
		return nil, fmt.Errorf("element segment flags %d", flags)
	}
	out = appendU32(out, flags)
	if flags&3 == 2 { // active with a table index
		idx, err := r.u32()
		if err != nil {
			return nil, err
		}
		out = appendU32(out, idx)
	}
	if flags&1 == 0 { // active: offset expression
		if out, err = rewriteExpr(out, r, l); err != nil {
			return nil, err
		}
	}
	if flags&3 != 0 { // elemkind (0x00) or reftype byte
		b, err := r.byte()
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	n, err := r.u32()
	if err != nil {
		return nil, err
	}
	out = appendU32(out, n)
	for range n {
		if flags&4 != 0 {
			out, err = rewriteExpr(out, r, l)
		} else {
			var idx uint32
			idx, err = r.u32()
			out = appendU32(out, l.fn(idx))
		}
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// renumberNames rewrites the name section's function names (subsection 1)
// and local names (2, keyed by function); the module name (0) is kept and
// the extended subsections, which name no functions we can renumber
// safely, are dropped.
func renumberNames(p []byte, l *layout) ([]byte, error) {
	r := reader{b: p}
	if _, err := r.name(); err != nil {
		return nil, err
	}
	out := append([]byte(nil), p[:r.off]...)
	for r.off < len(p) {
		id, sub, err := r.section()
		if err != nil {
			return nil, err
		}
		var np []byte
		switch id {
		case 0:
			np = sub
		case 1, 2:
			np, err = rewriteVec(sub, func(out []byte, r *reader) ([]byte, error) {
				idx, err := r.u32()
				if err != nil {
					return nil, err
				}
				out = appendU32(out, l.fn(idx))
				if id == 1 {
					name, err := r.name()
					return appendName(out, name), err
				}
				return copyNameMap(out, r) // local names
			})
			if err != nil {
				return nil, err
			}
		default:
			continue
		}
		out = appendSection(out, id, np)
	}
	return out, nil
}

// copyNameMap copies a name map (a vector of index, name) unchanged.
func copyNameMap(out []byte, r *reader) ([]byte, error) {
	start := r.off
	n, err := r.u32()
	if err != nil {
		return nil, err
	}
	for range n {
		if _, err := r.u32(); err != nil {
			return nil, err
		}
		if _, err := r.name(); err != nil {
			return nil, err
		}
	}
	return append(out, r.b[start:r.off]...), nil
}

// instrumentCode rewrites every function body of a code section.
func instrumentCode(p, check []byte, fuel uint32, l *layout) ([]byte, int, error) {
	checks := 0
	var body []byte
	fn := 0
	out, err := rewriteVec(p, func(out []byte, r *reader) ([]byte, error) {
		size, err := r.u32()
		if err != nil {
			return nil, err
		}
		b, err := r.bytes(int(size))
		if err != nil {
			return nil, err
		}
		body, err = instrumentBody(body[:0], b, check, fuel, l, &checks)
		if err != nil {
			return nil, fmt.Errorf("function %d: %w", fn, err)
		}
		fn++
		out = appendU32(out, uint32(len(body)))
		return append(out, body...), nil
	})
	return out, checks, err
}

// instrumentBody copies one function body to out with check after its local
// declarations and after every loop instruction's block type, and calls and
// ref.func renumbered. It refuses code that names the fuel's global index.
func instrumentBody(out, b, check []byte, fuel uint32, l *layout, checks *int) ([]byte, error) {
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
		case opGlobalGet, opGlobalSet:
			idx, _ := (&reader{b: b, off: at + 1}).u32()
			if idx >= fuel {
				return nil, fmt.Errorf("instruction 0x%02x at body offset %d names global %d, which does not exist", op, at, idx)
			}
		case 0x10, 0xd2: // call, ref.func
			idx, _ := (&reader{b: b, off: at + 1}).u32()
			out = append(out, b[copied:at+1]...)
			out = appendU32(out, l.fn(idx))
			copied = r.off
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

// section reads a section (or a name subsection): its id and payload.
func (r *reader) section() (byte, []byte, error) {
	id, err := r.byte()
	if err != nil {
		return 0, nil, err
	}
	size, err := r.u32()
	if err == nil {
		var p []byte
		if p, err = r.bytes(int(size)); err == nil {
			return id, p, nil
		}
	}
	return 0, nil, fmt.Errorf("section %d: %w", id, err)
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

// appendS32 appends v as a signed LEB128 number.
func appendS32(b []byte, v int32) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

// appendSection appends a section (or a name subsection): id, size, payload.
func appendSection(b []byte, id byte, payload []byte) []byte {
	return append(appendU32(append(b, id), uint32(len(payload))), payload...)
}

func appendName(b []byte, s string) []byte {
	return append(appendU32(b, uint32(len(s))), s...)
}
