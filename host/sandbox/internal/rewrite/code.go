package rewrite

import (
	"bytes"
	"fmt"
	"slices"
)

// Code instrumentation: every function body checked instruction by
// instruction against the set Go guests use, with a fuel check inserted at
// loop headers (and at entries that need one, entryCheckNeeded), calls
// renumbered, and memory.copy/memory.fill replaced by the helpers that pay
// fuel by the chunk.

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
