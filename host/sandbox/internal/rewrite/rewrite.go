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
//
// Files by subject: rewrite.go is the driver (Instrument, its limits, stats
// and errors); sections.go reads and checks the sections and renumbers the
// functions they name; code.go instruments function bodies and builds the
// bulk-memory helpers; leb128.go reads the binary format and its LEB128
// numbers.
package rewrite

import (
	"bytes"
	"errors"
	"fmt"
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

// section is one section of the module, as read.
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
