// Package rewrite checks a guest module against what syncgate accepts and
// rewrites it with deadline checks, before wazero sees it.
//
// It owns the WebAssembly binary format as far as guests need it: the rules
// (which instructions, sections and sizes a guest may have), the fuel checks
// at function entries and loop headers, and the bulk-memory helpers that
// make memory.copy and memory.fill pay fuel by the byte. It must not import
// wazero (the sandbox owns the runtime) and never runs guest code.
//
// # What a guest may contain
//
// Exactly what the Go toolchain emits for GOOS=wasip1 (Go 1.21 to 1.26):
// WebAssembly 1.0 plus sign-extension operators, non-trapping float-to-int
// conversions and memory.copy/memory.fill. Everything else is refused with
// the feature's name: SIMD, reference types (typed select, table.get/set/
// grow/size/fill, ref.*), multi-value and reference block types, passive
// segments, table.init/copy, exceptions, tail calls, threads, start
// functions, imports other than functions, more than one table or memory,
// and modules beyond Limits. Refusing before wazero decodes a byte closes a
// class of attacks at once: wherever two decoders read an encoding
// differently (wazero's validator and compiler disagreed on typed select in
// v1.12, and SIMD and reference block types are read with different widths
// by different readers), code one side skipped as an immediate is code the
// other runs. Within the accepted set every immediate has one reading:
// LEB128 numbers are decoded as the spec bounds them (a u32 in at most five
// bytes whose unused bits are zero, likewise s32 and s64), reserved bytes and
// 0xFC sub-opcodes must be the single canonical byte, and every index is
// range-checked against the module, so nothing wraps onto what the rewrite
// adds.
//
// # The checks
//
// The rewrite adds a mutable i32 global, the fuel, and an imported host
// function (YieldModule.YieldName, returning i32), and puts at every loop
// header, and at the entry of every function that needs it
// (entryCheckNeeded: one that calls defined functions and does not open
// with a loop every call reaches),
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
// calls are refused), so every guest reaches yield within YieldEvery checks:
// a function without an entry check either calls no defined function (its
// run is bounded by its size and its loops) or reaches its first loop's
// check on every call.
// memory.copy and memory.fill become calls to two functions the rewrite
// appends, which work in 64 KiB chunks and charge 64 fuel per chunk, so one
// instruction never holds the guest in native code for more than about a
// MiB of work between two chances to stop it; a call of an imported (host)
// function is charged 64 fuel too, so at most 16 host calls pass between
// two yields whatever each one costs.
//
// The import shifts the index of every function the module defines, so the
// rewrite renumbers them wherever they are named: calls in code, exports,
// element segments and the name section. DWARF sections are dropped: the
// code offsets they name move.
package rewrite

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
)

const (
	// YieldModule and YieldName name the host function rewritten guests
	// import: it fails the call once its context is done and otherwise
	// returns the fuel to refill, YieldEvery.
	YieldModule = "syncgate_sandbox"
	YieldName   = "yield"
	// YieldEvery is how many checks pass between two returns to Go. A yield
	// costs ≈ 65 ns (BenchmarkLoopTurn with YieldEvery = 1), so 1024 turns
	// make it < 0.1 ns a turn; 1024 turns of a tight loop take ≈ 3 µs, about
	// the longest a guest delays a garbage collection or overruns its
	// deadline (longer loop bodies take proportionally longer).
	YieldEvery = 1024

	// bulkChunk is the most memory.copy or memory.fill moves between two
	// fuel checks; bulkCharge is the fuel such a chunk costs. 16 chunks
	// (1 MiB, ≈ 0.1 ms) pass between two yields.
	bulkChunk  = 64 << 10
	bulkCharge = 64
)

// Limits bound what a module may declare, so that compiling it takes
// bounded time and memory. Go guests stay far below them (DefaultLimits).
type Limits struct {
	Functions  uint32 // functions the module defines
	CodeBytes  uint32 // bytes of the code section
	BodyBytes  uint32 // bytes of one function body
	Locals     uint32 // locals one function declares
	Loops      uint32 // loops in one function
	TotalLoops uint32 // loops in the module
	Depth      uint32 // nesting of blocks, loops and ifs in one function
	Table      uint32 // entries of the function table
}

// DefaultLimits leave about ten times the room the largest stock guest,
// the schema gate, needs (TestInstrumentGuests: 3 218 functions, 5.7 MiB of
// code, largest body 143 KB, 20 locals, at most 3 loops in a function and
// 2 397 in all, blocks nested 2 146 deep — Go's wasm nests a block per call
// site —, a table of 7 314 entries). Compile time grows with code size and
// loops (each loop gets a check); within these limits the worst module
// TestCompileWithinLimits builds compiles in seconds, not minutes.
var DefaultLimits = Limits{
	Functions:  50_000,
	CodeBytes:  64 << 20,
	BodyBytes:  2 << 20,
	Locals:     1_000,
	Loops:      200,
	TotalLoops: 25_000,
	Depth:      25_000,
	Table:      100_000,
}

// Stats describe a module the rewrite accepted: what it inserted and the
// largest figures Limits bound.
type Stats struct {
	Checks                   int // fuel checks inserted
	EntrySkipped             int // functions that need no check at their entry (entryCheckNeeded)
	Functions, Table         uint32
	CodeBytes, TotalLoops    uint32
	BodyBytes, Locals, Loops uint32 // largest of any function
	Depth                    uint32
	BulkCalls                int // memory.copy and memory.fill replaced by calls
	HostCalls                int // calls of imported functions, charged bulkCharge each
}

// Error is a module the rewrite refuses; Feature names what it used, for
// the message and for tests.
type Error struct {
	Feature string // e.g. "SIMD", "start function"; empty when malformed
	Where   string
	Msg     string
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Where != "" {
		b.WriteString(e.Where)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	if e.Feature != "" {
		fmt.Fprintf(&b, ": %s is not accepted in a guest (syncgate accepts what Go's wasip1 toolchain emits: WebAssembly 1.0 with sign extension, non-trapping conversions and memory.copy/fill, within size limits; docs/guests.md)", e.Feature)
	}
	return b.String()
}

func refuse(feature, format string, args ...any) *Error {
	return &Error{Feature: feature, Msg: fmt.Sprintf(format, args...)}
}

func malformed(format string, args ...any) *Error {
	return &Error{Msg: fmt.Sprintf(format, args...)}
}

// at prefixes err's location with where.
func at(where string, err error) error {
	var e *Error
	if errors.As(err, &e) {
		c := *e
		if c.Where == "" {
			c.Where = where
		} else {
			c.Where = where + ", " + c.Where
		}
		return &c
	}
	return fmt.Errorf("%s: %w", where, err)
}

var errTruncated = malformed("truncated")

const (
	secCustom   = 0
	secType     = 1
	secImport   = 2
	secFunction = 3
	secTable    = 4
	secMemory   = 5
	secGlobal   = 6
	secExport   = 7
	secStart    = 8
	secElement  = 9
	secCode     = 10
	secData     = 11
	secDataCnt  = 12
	secTag      = 13

	opGlobalGet = 0x23
	opGlobalSet = 0x24
)

// layout is what the rewrite knows of a module before writing it.
type layout struct {
	types, importedFuncs, definedFuncs, globals, tables, memories uint32
	bulk                                                          bool // the rewrite adds the bulk-memory helpers
}

func (l *layout) totalFuncs() uint32 { return l.importedFuncs + l.definedFuncs }

// fn checks a function index against the module and renumbers it: defined
// functions move up by one, past the added import.
func (l *layout) fn(idx uint32) (uint32, error) {
	if idx >= l.totalFuncs() {
		return 0, malformed("function %d does not exist (the module has %d)", idx, l.totalFuncs())
	}
	if idx >= l.importedFuncs {
		return idx + 1, nil
	}
	return idx, nil
}

func (l *layout) yield() uint32     { return l.importedFuncs }
func (l *layout) fuel() uint32      { return l.globals }
func (l *layout) fillFunc() uint32  { return l.totalFuncs() + 1 }
func (l *layout) copyFunc() uint32  { return l.totalFuncs() + 2 }
func (l *layout) bulkType() uint32  { return l.types + 1 }
func (l *layout) yieldType() uint32 { return l.types }

type section struct {
	id      byte
	payload []byte
}

// Instrument checks wasm against the rules and lim and returns it with fuel
// checks at function entries and loop headers.
func Instrument(wasm []byte, lim Limits) ([]byte, Stats, error) {
	var st Stats
	if len(wasm) < 8 || !bytes.Equal(wasm[:4], []byte("\x00asm")) || !bytes.Equal(wasm[4:8], []byte{1, 0, 0, 0}) {
		return nil, st, malformed("not a WebAssembly 1.0 binary (bad magic or version)")
	}
	var secs []section
	r := reader{b: wasm, off: 8}
	last := -1
	for r.off < len(r.b) {
		id, payload, err := r.section()
		if err != nil {
			return nil, st, err
		}
		switch {
		case id == secStart:
			return nil, st, refuse("start function", "the module has a start function, which would run while it loads, before any deadline applies; Go reactors (-buildmode=c-shared) have none")
		case id == secDataCnt:
			return nil, st, refuse("bulk memory", "data count section (used with passive data segments)")
		case id == secTag:
			return nil, st, refuse("exception handling", "tag section")
		case id > secTag:
			return nil, st, malformed("unknown section id %d", id)
		}
		if id != secCustom {
			if int(id) <= last {
				return nil, st, malformed("section %d out of order or repeated", id)
			}
			last = int(id)
		}
		secs = append(secs, section{id, payload})
	}

	var l layout
	var code []byte
	for _, s := range secs {
		var err error
		switch s.id {
		case secType:
			l.types, err = checkTypes(s.payload)
		case secImport:
			err = l.readImports(s.payload)
		case secFunction:
			err = l.readFunctions(s.payload, lim)
		case secTable:
			err = l.readTables(s.payload, lim, &st)
		case secMemory:
			err = l.readMemories(s.payload)
		case secGlobal:
			err = l.readGlobals(s.payload)
		case secCode:
			code = s.payload
		}
		if err != nil {
			return nil, st, at(sectionName(s.id), err)
		}
	}
	if l.definedFuncs > 0 && code == nil {
		return nil, st, malformed("%d functions declared and no code section", l.definedFuncs)
	}
	l.bulk = l.memories > 0 && l.definedFuncs > 0
	st.Functions = l.definedFuncs

	var newCode []byte
	if code != nil {
		var err error
		if newCode, err = instrumentCode(code, &l, lim, &st); err != nil {
			return nil, st, at("code section", err)
		}
	}

	yieldType := []byte{0x60, 0x00, 0x01, 0x7f}            // () -> i32
	bulkType := []byte{0x60, 0x03, 0x7f, 0x7f, 0x7f, 0x00} // (i32 i32 i32) -> ()
	yieldImport := append(appendName(appendName(nil, YieldModule), YieldName), 0x00)
	yieldImport = appendU32(yieldImport, l.yieldType())
	fuelGlobal := append(appendS32([]byte{0x7f, 0x01, 0x41}, YieldEvery), 0x0b) // mutable i32 = YieldEvery

	// Sections that may be missing are created where they belong: before
	// the first section that must follow them.
	missing := map[byte][]byte{
		secType:   append(appendU32(nil, 2), append(yieldType, bulkType...)...),
		secImport: append(appendU32(nil, 1), yieldImport...),
		secGlobal: append(appendU32(nil, 1), fuelGlobal...),
	}
	for _, s := range secs {
		delete(missing, s.id)
	}
	out := make([]byte, 0, len(wasm)+len(wasm)/8)
	out = append(out, wasm[:8]...)
	emitMissing := func(before byte) {
		for _, id := range []byte{secType, secImport, secGlobal} {
			if p, ok := missing[id]; ok && (before == 0xff || id < before) {
				out = appendSection(out, id, p)
				delete(missing, id)
			}
		}
	}
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
			if p, err = appendToVec(s.payload, yieldType); err == nil {
				p, err = appendToVec(p, bulkType)
			}
		case secImport:
			p, err = appendToVec(s.payload, yieldImport)
		case secFunction:
			p = s.payload
			if l.bulk {
				t := appendU32(nil, l.bulkType())
				if p, err = appendToVec(p, t); err == nil {
					p, err = appendToVec(p, t)
				}
			}
		case secGlobal:
			p, err = appendToVec(s.payload, fuelGlobal)
		case secExport:
			p, err = rewriteVec(s.payload, func(out []byte, r *reader) ([]byte, error) {
				return rewriteExport(out, r, &l)
			})
		case secElement:
			p, err = rewriteVec(s.payload, func(out []byte, r *reader) ([]byte, error) {
				return rewriteElement(out, r, &l)
			})
		case secData:
			p, err = s.payload, checkData(s.payload)
		case secCode:
			p = newCode
		default: // table, memory: checked above, unchanged
			p = s.payload
		}
		if err != nil {
			return nil, st, at(sectionName(s.id), err)
		}
		out = appendSection(out, s.id, p)
	}
	emitMissing(0xff)
	return out, st, nil
}

func sectionName(id byte) string {
	names := [...]string{"custom section", "type section", "import section", "function section", "table section",
		"memory section", "global section", "export section", "start section", "element section",
		"code section", "data section", "data count section", "tag section"}
	if int(id) < len(names) {
		return names[id]
	}
	return fmt.Sprintf("section %d", id)
}

// numType reports whether c is one of WebAssembly 1.0's four value types.
func numType(c byte) bool { return c >= 0x7c && c <= 0x7f }

func valTypeFeature(c byte) string {
	switch c {
	case 0x7b:
		return "SIMD"
	case 0x70, 0x6f, 0x63, 0x64:
		return "reference types"
	}
	return ""
}

// badValType is the refusal for a value type outside WebAssembly 1.0.
func badValType(what string, c byte) error {
	if f := valTypeFeature(c); f != "" {
		return refuse(f, "%s of type 0x%02x (%s)", what, c, f)
	}
	return malformed("%s of unknown type 0x%02x", what, c)
}

func checkTypes(p []byte) (uint32, error) {
	return readVec(p, func(i uint32, r *reader) error {
		form, err := r.byte()
		if err != nil {
			return err
		}
		if form != 0x60 {
			return refuse("typed function references", "type %d has form 0x%02x, not a function type", i, form)
		}
		for _, what := range []string{"parameter", "result"} {
			k, err := r.u32()
			if err != nil {
				return err
			}
			if what == "result" && k > 1 {
				return refuse("multi-value", "type %d returns %d values", i, k)
			}
			for range k {
				c, err := r.byte()
				if err != nil {
					return err
				}
				if !numType(c) {
					return at(fmt.Sprintf("type %d", i), badValType(what, c))
				}
			}
		}
		return nil
	})
}

func (l *layout) readImports(p []byte) error {
	_, err := readVec(p, func(i uint32, r *reader) error {
		mod, err := r.name()
		if err != nil {
			return err
		}
		field, err := r.name()
		if err != nil {
			return err
		}
		if mod == YieldModule {
			return refuse("syncgate's own import", "import %d (%s.%s) names the module the sandbox adds", i, mod, field)
		}
		kind, err := r.byte()
		if err != nil {
			return err
		}
		if kind != 0x00 {
			what := map[byte]string{1: "a table", 2: "a memory", 3: "a global", 4: "a tag"}[kind]
			if what == "" {
				return malformed("import %d has unknown kind 0x%02x", i, kind)
			}
			return refuse("imports other than functions", "import %d (%s.%s) is %s; a guest imports functions only", i, mod, field, what)
		}
		t, err := r.u32()
		if err != nil {
			return err
		}
		if t >= l.types {
			return malformed("import %d has type %d, which does not exist", i, t)
		}
		l.importedFuncs++
		return nil
	})
	return err
}

func (l *layout) readFunctions(p []byte, lim Limits) error {
	if n, err := (&reader{b: p}).u32(); err == nil && n > lim.Functions {
		return refuse("size", "%d functions, over the limit of %d", n, lim.Functions)
	}
	var err error
	l.definedFuncs, err = readVec(p, func(i uint32, r *reader) error {
		t, err := r.u32()
		if err != nil {
			return err
		}
		if t >= l.types {
			return malformed("function %d has type %d, which does not exist", i, t)
		}
		return nil
	})
	return err
}

func (l *layout) readTables(p []byte, lim Limits, st *Stats) error {
	var err error
	l.tables, err = readVec(p, func(i uint32, r *reader) error {
		if i > 0 {
			return refuse("reference types", "more than one table; a guest has at most one")
		}
		t, err := r.byte()
		if err != nil {
			return err
		}
		if t != 0x70 {
			return refuse("reference types", "a table of type 0x%02x; a guest's table holds funcref", t)
		}
		entries, _, err := r.limits()
		if err != nil {
			return err
		}
		if entries > lim.Table {
			return refuse("size", "a table of %d entries, over the limit of %d", entries, lim.Table)
		}
		st.Table = entries
		return nil
	})
	return err
}

func (l *layout) readMemories(p []byte) error {
	var err error
	l.memories, err = readVec(p, func(i uint32, r *reader) error {
		if i > 0 {
			return refuse("multiple memories", "more than one memory; a guest has at most one")
		}
		_, _, err := r.limits()
		return err
	})
	return err
}

func (l *layout) readGlobals(p []byte) error {
	var err error
	l.globals, err = readVec(p, func(i uint32, r *reader) error {
		t, err := r.byte()
		if err != nil {
			return err
		}
		if !numType(t) {
			return at(fmt.Sprintf("global %d", i), badValType("global", t))
		}
		mut, err := r.byte()
		if err != nil {
			return err
		}
		if mut > 1 {
			return malformed("global %d has mutability %d", i, mut)
		}
		if _, err := constExpr(r); err != nil {
			return at(fmt.Sprintf("global %d", i), err)
		}
		return nil
	})
	return err
}

// constExpr reads a constant expression: one numeric constant and end.
// (With no imported globals, global.get has nothing to name.)
func constExpr(r *reader) ([]byte, error) {
	start := r.off
	op, err := r.byte()
	if err != nil {
		return nil, err
	}
	switch op {
	case 0x41:
		err = r.s32()
	case 0x42:
		err = r.s64()
	case 0x43:
		_, err = r.bytes(4)
	case 0x44:
		_, err = r.bytes(8)
	case 0xd0, 0xd2:
		return nil, refuse("reference types", "constant expression with instruction 0x%02x", op)
	default:
		return nil, malformed("constant expression with instruction 0x%02x; a guest's are numeric constants", op)
	}
	if err != nil {
		return nil, err
	}
	if end, err := r.byte(); err != nil || end != 0x0b {
		return nil, malformed("constant expression of more than one instruction")
	}
	return r.b[start:r.off], nil
}

func rewriteExport(out []byte, r *reader, l *layout) ([]byte, error) {
	name, err := r.name()
	if err != nil {
		return nil, err
	}
	kind, err := r.byte()
	if err != nil {
		return nil, err
	}
	idx, err := r.u32()
	if err != nil {
		return nil, err
	}
	var count uint32
	switch kind {
	case 0x00:
		if idx, err = l.fn(idx); err != nil {
			return nil, at(fmt.Sprintf("export %q", name), err)
		}
		count = ^uint32(0)
	case 0x01:
		count = l.tables
	case 0x02:
		count = l.memories
	case 0x03:
		count = l.globals // the fuel is not one of them
	default:
		return nil, malformed("export %q has unknown kind 0x%02x", name, kind)
	}
	if idx >= count {
		return nil, malformed("export %q names item %d of kind %d, which does not exist", name, idx, kind)
	}
	return appendU32(append(appendName(out, name), kind), idx), nil
}

// rewriteElement copies one element segment with its function indexes
// renumbered. A guest's segments are active, fill table 0 and list
// function indexes (flags 0), as Go emits them.
func rewriteElement(out []byte, r *reader, l *layout) ([]byte, error) {
	flags, err := r.u32()
	if err != nil {
		return nil, err
	}
	if flags != 0 {
		return nil, refuse("reference types", "element segment with flags %d (passive, declarative, expressions or table index)", flags)
	}
	if l.tables == 0 {
		return nil, malformed("element segment without a table")
	}
	expr, err := constExpr(r)
	if err != nil {
		return nil, err
	}
	if expr[0] != 0x41 {
		return nil, malformed("element segment offset is not an i32 constant")
	}
	out = append(appendU32(out, flags), expr...)
	n, err := r.u32()
	if err != nil {
		return nil, err
	}
	out = appendU32(out, n)
	for range n {
		idx, err := r.u32()
		if err != nil {
			return nil, err
		}
		if idx, err = l.fn(idx); err != nil {
			return nil, err
		}
		out = appendU32(out, idx)
	}
	return out, nil
}

// checkData accepts active data segments of memory 0 (flags 0), as Go
// emits them.
func checkData(p []byte) error {
	_, err := readVec(p, func(i uint32, r *reader) error {
		flags, err := r.u32()
		if err != nil {
			return err
		}
		if flags != 0 {
			return at(fmt.Sprintf("data segment %d", i), refuse("bulk memory", "passive or explicit-memory data segment (flags %d)", flags))
		}
		expr, err := constExpr(r)
		if err != nil {
			return at(fmt.Sprintf("data segment %d", i), err)
		}
		if expr[0] != 0x41 {
			return malformed("data segment %d offset is not an i32 constant", i)
		}
		size, err := r.u32()
		if err != nil {
			return err
		}
		_, err = r.bytes(int(size))
		return err
	})
	return err
}

// readVec reads a vector payload, calling entry for each element, and
// returns its length; bytes after the last element are refused.
func readVec(p []byte, entry func(i uint32, r *reader) error) (uint32, error) {
	r := reader{b: p}
	n, err := r.u32()
	if err != nil {
		return 0, err
	}
	for i := range n {
		if err := entry(i, &r); err != nil {
			return 0, err
		}
	}
	return n, r.end()
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
			return nil, at(fmt.Sprintf("entry %d", i), err)
		}
	}
	if err := r.end(); err != nil {
		return nil, err
	}
	return out, nil
}

// renumberNames rewrites the name section's function names (subsection 1)
// and local names (2, keyed by function); the module name (0) is kept and
// other subsections are dropped.
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
				if idx, err = l.fn(idx); err != nil {
					return nil, err
				}
				out = appendU32(out, idx)
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

// fuelCheck is the sequence put at function entries and loop headers.
func fuelCheck(l *layout) []byte {
	fuel, yield := l.fuel(), l.yield()
	c := appendU32([]byte{opGlobalGet}, fuel)
	c = append(c, 0x45, 0x04, 0x40, 0x10) // i32.eqz, if, call
	c = appendU32(c, yield)
	c = appendU32(append(c, opGlobalSet), fuel)
	c = appendU32(append(c, 0x0b, opGlobalGet), fuel) // end
	c = append(c, 0x41, 0x01, 0x6b, opGlobalSet)      // i32.const 1, i32.sub
	return appendU32(c, fuel)
}

// instrumentCode checks and rewrites every function body of a code section
// and appends the bulk-memory helpers.
func instrumentCode(p []byte, l *layout, lim Limits, st *Stats) ([]byte, error) {
	check, charge := fuelCheck(l), chargeCheck(l)
	r := reader{b: p}
	n, err := r.u32()
	if err != nil {
		return nil, err
	}
	if n != l.definedFuncs {
		return nil, malformed("%d bodies for %d functions", n, l.definedFuncs)
	}
	if uint64(len(p)) > uint64(lim.CodeBytes) {
		return nil, refuse("size", "%d bytes of code, over the limit of %d", len(p), lim.CodeBytes)
	}
	st.CodeBytes = uint32(len(p))
	total := n
	if l.bulk {
		total += 2
	}
	out := appendU32(make([]byte, 0, len(p)+len(p)/4), total)
	var body []byte
	for i := range n {
		size, err := r.u32()
		if err != nil {
			return nil, err
		}
		if size > lim.BodyBytes {
			return nil, at(fmt.Sprintf("function %d", l.importedFuncs+i), refuse("size", "a body of %d bytes, over the limit of %d", size, lim.BodyBytes))
		}
		b, err := r.bytes(int(size))
		if err != nil {
			return nil, err
		}
		body, err = instrumentBody(body[:0], b, check, charge, l, lim, st)
		if err != nil {
			return nil, at(fmt.Sprintf("function %d", l.importedFuncs+i), err)
		}
		out = appendU32(out, uint32(len(body)))
		out = append(out, body...)
	}
	if err := r.end(); err != nil {
		return nil, err
	}
	if l.bulk {
		for _, h := range [][]byte{fillHelper(l), copyHelper(l)} {
			out = append(appendU32(out, uint32(len(h))), h...)
		}
	}
	return out, nil
}

// instrumentBody copies one function body to out with check after its
// local declarations and after every loop instruction's block type, calls
// renumbered, and memory.copy/fill turned into calls of the helpers.
func instrumentBody(out, b, check, charge []byte, l *layout, lim Limits, st *Stats) ([]byte, error) {
	r := reader{b: b}
	groups, err := r.u32()
	if err != nil {
		return nil, err
	}
	var locals uint64
	for range groups {
		n, err := r.u32()
		if err != nil {
			return nil, err
		}
		if locals += uint64(n); locals > uint64(lim.Locals) {
			return nil, refuse("size", "over %d locals", lim.Locals)
		}
		t, err := r.byte()
		if err != nil {
			return nil, err
		}
		if !numType(t) {
			return nil, badValType("local", t)
		}
	}
	out = append(out, b[:r.off]...)
	entry := len(out) // the entry check, taken out again when it adds nothing (entryCheckNeeded)
	out = append(out, check...)
	st.Checks++
	calls, prefix := false, prefixOpen
	var opened []bool // in the prefix: the open blocks (false) and ifs (true)
	copied := r.off   // b[:copied] is in out
	// depth counts open blocks; the body's own end closes depth 0, and must
	// be its last byte.
	depth, loops, maxDepth := 0, uint32(0), 0
	for r.off < len(b) {
		if depth < 0 {
			return nil, malformed("code after the function's end at body offset %d", r.off)
		}
		at := r.off
		op, _ := r.byte()
		imm, err := r.instruction(op)
		if err != nil {
			return nil, atOffset(op, at, err)
		}
		switch op {
		case opGlobalGet, opGlobalSet:
			if imm >= l.globals {
				return nil, malformed("instruction 0x%02x at body offset %d names global %d, which does not exist", op, at, imm)
			}
		case 0x10: // call
			idx, err := l.fn(imm)
			if err != nil {
				return nil, atOffset(op, at, err)
			}
			if imm >= l.importedFuncs {
				calls = true
				if prefix == prefixOpen {
					prefix = prefixBranches // a call before the loop: see entryCheckNeeded
				}
			}
			out = append(out, b[copied:at]...)
			if imm < l.importedFuncs {
				// A host function may do work in proportion to its
				// arguments (poll_oneoff's subscriptions, fd_read's
				// iovecs): each call pays like a chunk of bulk memory.
				out = append(out, charge...)
				st.HostCalls++
			}
			out = appendU32(append(out, op), idx)
			copied = r.off
		case 0x11: // call_indirect
			calls = true
			if prefix == prefixOpen {
				prefix = prefixBranches
			}
			if imm >= l.types {
				return nil, malformed("call_indirect at body offset %d names type %d, which does not exist", at, imm)
			}
			if l.tables == 0 {
				return nil, malformed("call_indirect at body offset %d without a table", at)
			}
		case 0x3f, 0x40, 0x28, 0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35,
			0x36, 0x37, 0x38, 0x39, 0x3a, 0x3b, 0x3c, 0x3d, 0x3e:
			if l.memories == 0 {
				return nil, malformed("memory instruction 0x%02x at body offset %d without a memory", op, at)
			}
		case 0xfc:
			if imm == 10 || imm == 11 { // memory.copy, memory.fill
				if !l.bulk {
					return nil, malformed("memory.copy or memory.fill at body offset %d without a memory", at)
				}
				helper := l.copyFunc()
				if imm == 11 {
					helper = l.fillFunc()
				}
				out = append(out, b[copied:at]...)
				out = appendU32(append(out, 0x10), helper)
				copied = r.off
				st.BulkCalls++
			}
		case 0x0c, 0x0d, 0x0e, 0x0f: // br, br_if, br_table, return
			if prefix == prefixOpen {
				prefix = prefixBranches
			}
		case 0x02, 0x04: // block, if
			if prefix == prefixOpen {
				opened = append(opened, op == 0x04)
			}
			depth++
		case 0x03: // loop
			if prefix == prefixOpen {
				prefix = prefixLoop // reached by every call unless an open if may skip it
				if slices.Contains(opened, true) {
					prefix = prefixBranches
				}
			}
			depth++
			loops++
			if loops > lim.Loops {
				return nil, refuse("size", "over %d loops in one function", lim.Loops)
			}
			if st.TotalLoops++; st.TotalLoops > lim.TotalLoops {
				return nil, refuse("size", "over %d loops in the module", lim.TotalLoops)
			}
			out = append(out, b[copied:r.off]...)
			out = append(out, check...)
			copied = r.off
			st.Checks++
		case 0x0b: // end
			if prefix == prefixOpen {
				if len(opened) == 0 {
					prefix = prefixBranches // the body's end: no loop
				} else {
					opened = opened[:len(opened)-1]
				}
			}
			depth--
		}
		if depth > maxDepth {
			if maxDepth = depth; uint32(maxDepth) > lim.Depth {
				return nil, refuse("size", "blocks nested over %d deep", lim.Depth)
			}
		}
	}
	if depth != -1 {
		return nil, malformed("unbalanced blocks: the body does not end with its own end")
	}
	if !entryCheckNeeded(calls, prefix) {
		out = append(out[:entry], out[entry+len(check):]...)
		st.Checks--
		st.EntrySkipped++
	}
	st.Locals = max(st.Locals, uint32(locals))
	st.Loops = max(st.Loops, loops)
	st.Depth = max(st.Depth, uint32(maxDepth))
	st.BodyBytes = max(st.BodyBytes, uint32(len(b)))
	return append(out, b[copied:]...), nil
}

// What a function body does before its first loop (the prefix): still
// reading it; nothing but straight-line code without calls, blocks and ifs
// closed again until that loop, so every call reaches it; or something else
// first (a call, a branch, a return, an if still open around the loop, the
// body's end).
// Go's functions with resume points open with "block, loop".
const (
	prefixOpen = iota
	prefixLoop
	prefixBranches
)

// entryCheckNeeded reports whether a function needs the check at its
// entry: the checks exist so that a run that does not end passes one
// within a bounded number of steps, and a run is unbounded only by turning
// loops (each header is checked) or by making calls without end. So a
// function that calls no defined function (a leaf: its run is bounded by
// its size and its loops' checks; calls of imports are charged, and the
// bulk-memory helpers check their chunks) needs none, nor does one whose
// every call reaches the header check of its first loop before it can
// return, branch or call (Go's functions with resume points open with such
// a loop). A call before that loop would let a chain of such functions
// recurse, or descend a deep call tree, without passing any check until
// the stack ran out (wazero's ceiling is 400 MB of stack). Every call of any other function still passes a check, so a call
// tree without loops is stopped as before (TestEntryChecks).
func entryCheckNeeded(callsDefined bool, prefix int) bool {
	return callsDefined && prefix != prefixLoop
}

func atOffset(op byte, off int, err error) error {
	return at(fmt.Sprintf("instruction 0x%02x at body offset %d", op, off), err)
}

// instruction moves past the immediates of op and returns its first index
// immediate (call, global, call_indirect's type; the 0xFC sub-opcode). It
// refuses every instruction outside the set Go guests use, naming its
// feature.
func (r *reader) instruction(op byte) (uint32, error) {
	switch {
	case op == 0x02 || op == 0x03 || op == 0x04: // block, loop, if: block type
		c, err := r.byte()
		if err != nil {
			return 0, err
		}
		if c != 0x40 && !numType(c) {
			if f := valTypeFeature(c); f != "" {
				return 0, refuse(f, "block type 0x%02x", c)
			}
			return 0, refuse("multi-value", "block type 0x%02x (a type index)", c)
		}
		return 0, nil
	case op == 0x0c || op == 0x0d || op == 0x10 || (op >= 0x20 && op <= 0x24): // br, br_if, call, local.*, global.*
		return r.u32()
	case op == 0x0e: // br_table
		n, err := r.u32()
		for i := uint64(0); i <= uint64(n) && err == nil; i++ {
			_, err = r.u32()
		}
		return 0, err
	case op == 0x11: // call_indirect: type, table 0
		t, err := r.u32()
		if err != nil {
			return 0, err
		}
		// A u32 like wazero reads it (linkers pad it to five bytes), and 0.
		if table, err := r.u32(); err != nil || table != 0 {
			if err != nil {
				return 0, err
			}
			return 0, refuse("reference types", "call_indirect through table %d", table)
		}
		return t, nil
	case op >= 0x28 && op <= 0x3e: // loads and stores: memarg
		if _, err := r.u32(); err != nil { // alignment
			return 0, err
		}
		_, err := r.u32() // offset
		return 0, err
	case op == 0x3f || op == 0x40: // memory.size, memory.grow
		return 0, r.zero("the memory index")
	case op == 0x41:
		return 0, r.s32()
	case op == 0x42:
		return 0, r.s64()
	case op == 0x43:
		_, err := r.bytes(4)
		return 0, err
	case op == 0x44:
		_, err := r.bytes(8)
		return 0, err
	case op <= 0x01, op == 0x05, op == 0x0b, op == 0x0f, op == 0x1a, op == 0x1b,
		op >= 0x45 && op <= 0xc4:
		return 0, nil // no immediates
	case op == 0xfc:
		sub, err := r.byte()
		if err != nil {
			return 0, err
		}
		switch {
		case sub <= 7: // trunc_sat
			return uint32(sub), nil
		case sub == 10: // memory.copy 0 0
			if err := r.zero("memory.copy's memory"); err != nil {
				return 0, err
			}
			return 10, r.zero("memory.copy's memory")
		case sub == 11: // memory.fill 0
			return 11, r.zero("memory.fill's memory")
		case sub == 8 || sub == 9:
			return 0, refuse("bulk memory", "memory.init/data.drop (passive data segments)")
		case sub >= 12 && sub <= 17:
			return 0, refuse("reference types", "table instruction 0xfc %d (table.init/copy/grow/size/fill, elem.drop)", sub)
		}
		return 0, malformed("unknown instruction 0xfc %d (sub-opcodes must be one canonical byte)", sub)
	case op == 0xfd:
		return 0, refuse("SIMD", "SIMD instruction")
	case op == 0xfe:
		return 0, refuse("threads", "atomic instruction")
	case op == 0x1c || op == 0x25 || op == 0x26 || (op >= 0xd0 && op <= 0xd6):
		return 0, refuse("reference types", "reference-types instruction")
	case op >= 0x06 && op <= 0x0a, op == 0x18, op == 0x19, op == 0x1f:
		return 0, refuse("exception handling", "exception-handling instruction")
	case op >= 0x12 && op <= 0x15:
		return 0, refuse("tail calls", "tail call or call_ref")
	}
	return 0, malformed("not a WebAssembly instruction")
}

// Bulk-memory helpers. Both take (i32 d, i32 v|s, i32 n) like the
// instructions they stand for. Out of bounds they run the instruction
// itself once, so it traps exactly as before (nothing written); in bounds
// they move bulkChunk bytes at a time with a fuel check charging
// bulkCharge per chunk, so a yield comes every MiB. memory.copy copies
// backwards when the destination is above the source, like memmove.

const (
	opLocalGet, opLocalSet   = 0x20, 0x21
	opI32Add, opI32Sub       = 0x6a, 0x6b
	opI32LeU, opI32GtU       = 0x4d, 0x4b
	opI32LtS, opI32Or        = 0x48, 0x72
	opI64ExtendU, opI64Add   = 0xad, 0x7c
	opI64Shl, opI64GtU       = 0x86, 0x56
	opBrIf, opBr, opReturn   = 0x0d, 0x0c, 0x0f
	opBlock, opLoop, opIf    = 0x02, 0x03, 0x04
	opElse, opEnd, opI32Cnst = 0x05, 0x0b, 0x41
)

var (
	memFill = []byte{0xfc, 0x0b, 0x00}
	memCopy = []byte{0xfc, 0x0a, 0x00, 0x00}
)

// chargeCheck refills the fuel when less than bulkCharge is left, then
// takes bulkCharge (so the fuel never goes below zero, which the
// function-entry check's i32.eqz would miss).
func chargeCheck(l *layout) []byte {
	fuel := l.fuel()
	c := appendU32([]byte{opGlobalGet}, fuel)
	c = append(appendS32(append(c, opI32Cnst), bulkCharge), opI32LtS, opIf, 0x40, 0x10)
	c = appendU32(c, l.yield())
	c = appendU32(append(c, opGlobalSet), fuel)
	c = appendU32(append(c, opEnd, opGlobalGet), fuel)
	c = append(appendS32(append(c, opI32Cnst), bulkCharge), opI32Sub, opGlobalSet)
	return appendU32(c, fuel)
}

func local(op byte, i byte) []byte { return []byte{op, i} }

func i32c(v int32) []byte { return appendS32([]byte{opI32Cnst}, v) }

// outOfBounds leaves (a + n > memory size in bytes) on the stack.
func outOfBounds(a byte) []byte {
	return cat(local(opLocalGet, a), []byte{opI64ExtendU}, local(opLocalGet, 2), []byte{opI64ExtendU, opI64Add},
		[]byte{0x3f, 0x00, opI64ExtendU, 0x42, 16, opI64Shl, opI64GtU})
}

// advance adds (sign +1) or subtracts bulkChunk to local i.
func advance(i byte, op byte) []byte {
	return cat(local(opLocalGet, i), i32c(bulkChunk), []byte{op}, local(opLocalSet, i))
}

// chunkLoop is block loop charge; exit when n <= bulkChunk; step; br 0 end end.
func chunkLoop(l *layout, step []byte) []byte {
	return cat([]byte{opBlock, 0x40, opLoop, 0x40}, chargeCheck(l),
		local(opLocalGet, 2), i32c(bulkChunk), []byte{opI32LeU, opBrIf, 1},
		step, []byte{opBr, 0, opEnd, opEnd})
}

func all3() []byte { return cat(local(opLocalGet, 0), local(opLocalGet, 1), local(opLocalGet, 2)) }

func fillHelper(l *layout) []byte {
	return cat([]byte{0x00}, // no locals
		outOfBounds(0), []byte{opIf, 0x40}, all3(), memFill, []byte{opReturn, opEnd},
		chunkLoop(l, cat(local(opLocalGet, 0), local(opLocalGet, 1), i32c(bulkChunk), memFill,
			advance(0, opI32Add), advance(2, opI32Sub))),
		all3(), memFill, []byte{opEnd})
}

func copyHelper(l *layout) []byte {
	backward := chunkLoop(l, cat(advance(2, opI32Sub),
		local(opLocalGet, 0), local(opLocalGet, 2), []byte{opI32Add},
		local(opLocalGet, 1), local(opLocalGet, 2), []byte{opI32Add},
		i32c(bulkChunk), memCopy))
	forward := chunkLoop(l, cat(local(opLocalGet, 0), local(opLocalGet, 1), i32c(bulkChunk), memCopy,
		advance(0, opI32Add), advance(1, opI32Add), advance(2, opI32Sub)))
	return cat([]byte{0x00},
		outOfBounds(0), outOfBounds(1), []byte{opI32Or, opIf, 0x40}, all3(), memCopy, []byte{opReturn, opEnd},
		local(opLocalGet, 0), local(opLocalGet, 1), []byte{opI32GtU, opIf, 0x40}, backward, []byte{opElse}, forward, []byte{opEnd},
		all3(), memCopy, []byte{opEnd})
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

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

// end refuses bytes after a vector's last element.
func (r *reader) end() error {
	if r.off != len(r.b) {
		return malformed("%d bytes after the last entry", len(r.b)-r.off)
	}
	return nil
}

// zero reads a reserved byte, which must be the single byte 0x00.
func (r *reader) zero(what string) error {
	c, err := r.byte()
	if err != nil {
		return err
	}
	if c != 0x00 {
		return malformed("%s must be the byte 0x00, got 0x%02x", what, c)
	}
	return nil
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
	return 0, nil, at(fmt.Sprintf("section %d", id), err)
}

func (r *reader) bytes(n int) ([]byte, error) {
	if n < 0 || n > len(r.b)-r.off {
		return nil, errTruncated
	}
	s := r.b[r.off : r.off+n]
	r.off += n
	return s, nil
}

// u32 reads an unsigned LEB128 number as the spec bounds it: at most five
// bytes, the fifth with no bits above the 32nd.
func (r *reader) u32() (uint32, error) {
	var v uint32
	for i := 0; i < 5; i++ {
		c, err := r.byte()
		if err != nil {
			return 0, err
		}
		if i == 4 && c&0xf0 != 0 {
			return 0, malformed("u32 LEB128 number too long or over 32 bits")
		}
		v |= uint32(c&0x7f) << (7 * i)
		if c&0x80 == 0 {
			return v, nil
		}
	}
	return 0, malformed("u32 LEB128 number too long")
}

// s32 skips a signed LEB128 number: at most five bytes, the fifth's unused
// bits a sign extension (the value itself is never needed).
func (r *reader) s32() error {
	for i := 0; i < 5; i++ {
		c, err := r.byte()
		if err != nil {
			return err
		}
		if i == 4 && (c&0x80 != 0 || (c&0x78 != 0 && c&0x78 != 0x78)) {
			return malformed("s32 LEB128 number too long or over 32 bits")
		}
		if c&0x80 == 0 {
			return nil
		}
	}
	return malformed("s32 LEB128 number too long")
}

// s64 skips a signed LEB128 number: at most ten bytes, the tenth's unused
// bits a sign extension.
func (r *reader) s64() error {
	for i := 0; i < 10; i++ {
		c, err := r.byte()
		if err != nil {
			return err
		}
		if i == 9 && c != 0x00 && c != 0x7f {
			return malformed("s64 LEB128 number too long or over 64 bits")
		}
		if c&0x80 == 0 {
			return nil
		}
	}
	return malformed("s64 LEB128 number too long")
}

func (r *reader) name() (string, error) {
	n, err := r.u32()
	if err != nil {
		return "", err
	}
	b, err := r.bytes(int(n))
	return string(b), err
}

// limits reads a table's or memory's limits: flags 0 (min) or 1 (min, max).
func (r *reader) limits() (lo, hi uint32, err error) {
	flags, err := r.byte()
	if err != nil {
		return 0, 0, err
	}
	if flags > 1 {
		return 0, 0, refuse("threads or memory64", "limits with flags 0x%02x (shared or 64-bit)", flags)
	}
	if lo, err = r.u32(); err != nil {
		return 0, 0, err
	}
	if flags == 1 {
		hi, err = r.u32()
	}
	return lo, hi, err
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
