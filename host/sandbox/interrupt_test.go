package sandbox

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// Hand-assembled modules: the rewrite is checked against wazero's own
// validator and compiler, on every instruction kind whose immediates it skips.

func leb(v uint32) []byte { return appendU32(nil, v) }

func vec(items ...[]byte) []byte {
	out := leb(uint32(len(items)))
	for _, it := range items {
		out = append(out, it...)
	}
	return out
}

func sect(id byte, payload ...byte) []byte { return appendSection(nil, id, payload) }

func custom(name string, data ...byte) []byte {
	return sect(secCustom, append(appendName(nil, name), data...)...)
}

func module(sections ...[]byte) []byte {
	out := []byte("\x00asm\x01\x00\x00\x00")
	for _, s := range sections {
		out = append(out, s...)
	}
	return out
}

func body(locals []byte, code ...byte) []byte {
	b := append(append([]byte(nil), locals...), code...)
	return append(leb(uint32(len(b))), b...)
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// spinModule has one function that loops forever (exported as "spin" when
// withExport), no global section, a DWARF section and a name section.
func spinModule(withExport bool) []byte {
	secs := [][]byte{
		sect(1, vec([]byte{0x60, 0x00, 0x00})...), // type 0: () -> ()
		sect(3, vec([]byte{0x00})...),             // func 0: type 0
	}
	if withExport {
		secs = append(secs, sect(secExport, vec(cat(appendName(nil, "spin"), []byte{0x00, 0x00}))...))
	}
	secs = append(secs,
		sect(secCode, vec(body([]byte{0x00}, 0x03, 0x40, 0x0c, 0x00, 0x0b, 0x0b))...), // loop br 0 end
		custom(".debug_info", 1, 2, 3),
		custom("name"),
	)
	return module(secs...)
}

// everyImmediate uses one of each instruction kind with immediates, a loop
// with a type-index block type and parameters, nested loops, an imported
// global and a defined one.
func everyImmediate() []byte { return everyImmediateWith(everyImmediateCode()) }

// everyImmediateCode is everyImmediate's first function body: locals and code.
func everyImmediateCode() []byte {
	// Immediates are filled with 0x03, the loop opcode, wherever the format
	// allows: an instruction whose immediates are misread would have a loop
	// found inside them, and the loop count or the block structure would be off.
	threes := func(n int) []byte { return bytes.Repeat([]byte{0x03}, n) }
	v128 := func() []byte { return append([]byte{0xfd, 12}, threes(16)...) }
	code := cat(
		[]byte{0x41, 0x03, 0x03, 0x01, 0x41, 0x03, 0x6a, 0x0b, 0x1a},                                                             // i32.const 3; loop (type 1) i32.const 3 i32.add end; drop
		[]byte{0x03, 0x40, 0x03, 0x40, 0x0b, 0x0b},                                                                               // loop loop end end
		[]byte{0x02, 0x40, 0x02, 0x40, 0x02, 0x40, 0x02, 0x40, 0x41, 0x03, 0x0e, 0x02, 0x03, 0x03, 0x03, 0x0b, 0x0b, 0x0b, 0x0b}, // 4 blocks: br_table [3 3] 3
		[]byte{0x41, 0x03, 0x41, 0x03, 0x41, 0x03, 0x1c, 0x01, 0x7f, 0x1a},                                                       // select (result i32)
		[]byte{0x41, 0x03, 0x10, 0x02, 0x1a},                                                                                     // call 2
		[]byte{0x41, 0x03, 0x11, 0x00, 0x03},                                                                                     // call_indirect type 0 table 3
		[]byte{0x42, 0x83, 0x83, 0x83, 0x83, 0x83, 0x83, 0x83, 0x83, 0x83, 0x7f, 0x1a},                                           // i64.const (10-byte LEB); drop
		[]byte{0x43, 3, 3, 3, 3, 0x1a, 0x44, 3, 3, 3, 3, 3, 3, 3, 3, 0x1a},                                                       // f32.const, f64.const
		[]byte{0x23, 0x00, 0x1a, 0x23, 0x01, 0x24, 0x01},                                                                         // global.get 0; drop; global.get 1; global.set 1
		[]byte{0x41, 0x03, 0x28, 0x02, 0x83, 0x03, 0x1a},                                                                         // i32.load align=2 offset=387
		[]byte{0x3f, 0x00, 0x40, 0x00, 0x1a},                                                                                     // memory.size; memory.grow; drop
		[]byte{0x41, 0x03, 0x41, 0x03, 0x41, 0x03, 0xfc, 0x0b, 0x00},                                                             // memory.fill
		[]byte{0x41, 0x03, 0x41, 0x03, 0x41, 0x03, 0xfc, 0x0a, 0x00, 0x00},                                                       // memory.copy
		[]byte{0x41, 0x03, 0x41, 0x03, 0x41, 0x03, 0xfc, 0x08, 0x03, 0x00},                                                       // memory.init data 3
		[]byte{0xfc, 0x09, 0x03},                                                                                                 // data.drop 3
		[]byte{0x41, 0x03, 0x41, 0x03, 0x41, 0x03, 0xfc, 0x0e, 0x03, 0x03},                                                       // table.copy 3 3
		[]byte{0x41, 0x03, 0x41, 0x03, 0x41, 0x03, 0xfc, 0x0c, 0x01, 0x03},                                                       // table.init elem 1 table 3
		[]byte{0xfc, 0x0d, 0x01},                                                                                                 // elem.drop 1
		[]byte{0xfc, 0x10, 0x03, 0x1a},                                                                                           // table.size 3
		[]byte{0x43, 3, 3, 3, 3, 0xfc, 0x00, 0x1a},                                                                               // i32.trunc_sat_f32_s
		[]byte{0xd0, 0x70, 0xd1, 0x1a, 0xd2, 0x02, 0x1a},                                                                         // ref.null func; ref.is_null; ref.func 2
		[]byte{0x41, 0x03, 0x25, 0x03, 0x1a},                                                                                     // table.get 3
		v128(), v128(), append([]byte{0xfd, 13}, threes(16)...), []byte{0xfd, 21, 0x03, 0x1a},                                    // shuffle; extract_lane_s 3
		[]byte{0x41, 0x03}, v128(), []byte{0xfd, 84, 0x00, 0x03, 0x03, 0x1a}, // v128.load8_lane offset 3 lane 3
		[]byte{0x41, 0x03, 0xfd, 0x00, 0x03, 0x03, 0x1a}, // v128.load align=3 offset=3
		[]byte{0x41, 0x03, 0xfd, 92, 0x02, 0x03, 0x1a},   // v128.load32_zero offset=3
		v128(), []byte{0xfd, 0x63, 0x1a}, // i8x16.all_true (no immediates)
		[]byte{0x0b},
	)
	return append([]byte{0x00}, code...) // no locals
}

// everyImmediateWith is everyImmediate's module with fn (locals and code)
// as the body of its first function.
func everyImmediateWith(fn []byte) []byte {
	passive := cat([]byte{0x01}, vec([]byte{'a'}, []byte{'b'})) // passive data "ab"
	imp := func(field string, desc ...byte) []byte {
		return cat(appendName(nil, "env"), appendName(nil, field), desc)
	}
	return module(
		sect(1, vec([]byte{0x60, 0x00, 0x00}, []byte{0x60, 0x01, 0x7f, 0x01, 0x7f})...), // types: ()->(), (i32)->i32
		sect(2, vec( // imports: function 0, a table, a memory, global 0
			imp("fn", 0x00, 0x00),
			imp("tab", 0x01, 0x70, 0x01, 0x03, 0x83, 0x03), // funcref, min 3 max 387
			imp("mem", 0x02, 0x01, 0x03, 0x83, 0x03),       // min 3 max 387 pages
			imp("g", 0x03, 0x7f, 0x00),                     // immutable i32
		)...),
		sect(3, vec([]byte{0x00}, []byte{0x01})...),                                                   // functions 1 and 2
		sect(4, vec([]byte{0x70, 0x00, 0x03}, []byte{0x70, 0x00, 0x03}, []byte{0x70, 0x00, 0x03})...), // tables 1-3
		sect(6, vec([]byte{0x7f, 0x01, 0x41, 0x07, 0x0b})...),                                         // global 1: mutable i32 = 7
		sect(7, vec(cat(appendName(nil, "f"), []byte{0x00, 0x01}))...),
		sect(9, vec([]byte{0x03, 0x00, 0x01, 0x02}, []byte{0x01, 0x00, 0x01, 0x02})...), // declarative (ref.func 2), passive elem 1
		sect(12, 0x04), // data count
		sect(10, vec(body(nil, fn...), body([]byte{0x01, 0x01, 0x7f}, 0x20, 0x00, 0x0b))...),
		sect(11, vec(passive, passive, passive, passive)...), // data 0-3
	)
}

// compile has wazero validate and compile wasm, and returns its imported
// functions as module.name.
func compile(t *testing.T, wasm []byte) []string {
	t.Helper()
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	c, err := rt.CompileModule(ctx, wasm)
	if err != nil {
		t.Fatalf("wazero refuses the module: %v", err)
	}
	var imports []string
	for _, f := range c.ImportedFunctions() {
		mod, name, _ := f.Import()
		imports = append(imports, mod+"."+name)
	}
	return imports
}

func TestInstrumentHandAssembled(t *testing.T) {
	for _, c := range []struct {
		name   string
		wasm   []byte
		checks int // one per function and per loop
	}{
		{"spin without globals", spinModule(true), 2},
		{"spin without exports", spinModule(false), 2},
		{"every immediate", everyImmediate(), 5},
		{"renumbering", renumberModule(), 6},
	} {
		t.Run(c.name, func(t *testing.T) {
			compile(t, c.wasm) // the test's own module must be valid first
			out, checks, err := instrument(c.wasm)
			if err != nil {
				t.Fatal(err)
			}
			if checks != c.checks {
				t.Fatalf("inserted %d checks, want %d", checks, c.checks)
			}
			if imports := compile(t, out); len(imports) == 0 || imports[len(imports)-1] != yieldModule+"."+yieldName {
				t.Fatalf("imported functions %q, want the yield function last", imports)
			}
			if bytes.Contains(out, []byte(".debug_info")) {
				t.Fatal("DWARF section kept: its code offsets are stale")
			}
			if bytes.Contains(c.wasm, []byte("\x04name")) && !bytes.Contains(out, []byte("\x04name")) {
				t.Fatal("name section dropped")
			}
		})
	}
}

// forkModule exports "fork" (param i32): without a single loop, it calls
// itself twice with n-1 until n is 0 — 2^n calls, never deeper than n.
func forkModule() []byte {
	code := []byte{
		0x20, 0x00, 0x04, 0x40, // local.get 0; if
		0x20, 0x00, 0x41, 0x01, 0x6b, 0x10, 0x00, // fork(n-1)
		0x20, 0x00, 0x41, 0x01, 0x6b, 0x10, 0x00, // fork(n-1)
		0x0b, 0x0b,
	}
	return module(
		sect(1, vec([]byte{0x60, 0x01, 0x7f, 0x00})...),
		sect(3, vec([]byte{0x00})...),
		sect(secExport, vec(cat(appendName(nil, "fork"), []byte{0x00, 0x00}))...),
		sect(secCode, vec(body([]byte{0x00}, code...))...),
	)
}

// renumberModule names its functions every way a module can: it imports
// env.double (function 0) and defines five functions that the added import
// pushes up by one. Function 1 returns double(20). slot(i) calls table[i]:
// slots 0-5 are filled with function 1 by element segments of every form
// (flags 0, 2, 4 and 6 active; 5 and 1 passive, copied in by table.init in
// the start function; 7 declarative), "viaGlobal" calls it through slot 7
// after table.set from a funcref global initialised by ref.func, the start
// function (4) also stores 7 that "seven" returns, and the name section
// names function 1 "forty".
func renumberModule() []byte {
	refFunc1 := []byte{0xd2, 0x01, 0x0b}
	return module(
		sect(1, vec([]byte{0x60, 0x00, 0x01, 0x7f}, []byte{0x60, 0x01, 0x7f, 0x01, 0x7f}, []byte{0x60, 0x00, 0x00})...),
		sect(2, vec(cat(appendName(nil, "env"), appendName(nil, "double"), []byte{0x00, 0x01}))...),
		sect(3, vec([]byte{0x00}, []byte{0x01}, []byte{0x00}, []byte{0x02}, []byte{0x00})...), // functions 1-5
		sect(4, vec([]byte{0x70, 0x00, 0x08})...),                                             // table of 8 funcrefs
		sect(6, vec(
			cat([]byte{0x70, 0x00}, refFunc1),    // global 0: funcref = ref.func 1
			[]byte{0x7f, 0x01, 0x41, 0x00, 0x0b}, // global 1: mutable i32 = 0
		)...),
		sect(secExport, vec(
			cat(appendName(nil, "forty"), []byte{0x00, 0x01}),
			cat(appendName(nil, "slot"), []byte{0x00, 0x02}),
			cat(appendName(nil, "viaGlobal"), []byte{0x00, 0x03}),
			cat(appendName(nil, "seven"), []byte{0x00, 0x05}),
		)...),
		sect(secStart, 0x04),
		sect(secElement, vec(
			[]byte{0x00, 0x41, 0x00, 0x0b, 0x01, 0x01},                      // 0: active, slot 0, function indexes
			[]byte{0x02, 0x00, 0x41, 0x01, 0x0b, 0x00, 0x01, 0x01},          // 1: active, table 0, slot 1, elemkind
			cat([]byte{0x04, 0x41, 0x02, 0x0b, 0x01}, refFunc1),             // 2: active, slot 2, expressions
			cat([]byte{0x06, 0x00, 0x41, 0x03, 0x0b, 0x70, 0x01}, refFunc1), // 3: active, table 0, slot 3, reftype
			cat([]byte{0x05, 0x70, 0x01}, refFunc1),                         // 4: passive, expressions
			[]byte{0x01, 0x00, 0x01, 0x01},                                  // 5: passive, function indexes
			cat([]byte{0x07, 0x70, 0x01}, refFunc1),                         // 6: declarative, expressions
		)...),
		sect(secCode, vec(
			body([]byte{0x00}, 0x41, 0x14, 0x10, 0x00, 0x0b),                                           // 1: double(20)
			body([]byte{0x00}, 0x20, 0x00, 0x11, 0x00, 0x00, 0x0b),                                     // 2: slot(i): call_indirect table[i]
			body([]byte{0x00}, 0x41, 0x07, 0x23, 0x00, 0x26, 0x00, 0x41, 0x07, 0x11, 0x00, 0x00, 0x0b), // 3: table[7] = global 0; call it
			body([]byte{0x00}, // 4 (start): loop end; global 1 = 7; table.init slot 4 from elem 4, slot 5 from elem 5
				0x03, 0x40, 0x0b, 0x41, 0x07, 0x24, 0x01,
				0x41, 0x04, 0x41, 0x00, 0x41, 0x01, 0xfc, 0x0c, 0x04, 0x00,
				0x41, 0x05, 0x41, 0x00, 0x41, 0x01, 0xfc, 0x0c, 0x05, 0x00,
				0x0b),
			body([]byte{0x00}, 0x23, 0x01, 0x0b), // 5: global 1
		)...),
		custom("name", cat([]byte{0x01}, func() []byte {
			m := vec(cat(leb(1), appendName(nil, "forty")))
			return append(leb(uint32(len(m))), m...)
		}())...),
	)
}

// TestInstrumentRenumbers runs renumberModule rewritten: every way of
// naming a function still reaches the same function.
func TestInstrumentRenumbers(t *testing.T) {
	ctx := context.Background()
	rt := yieldRuntime(t)
	_, err := rt.NewHostModuleBuilder("env").NewFunctionBuilder().
		WithFunc(func(v int32) int32 { return 2 * v }).Export("double").Instantiate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mod := instantiateRewritten(t, rt, renumberModule())
	for fn, want := range map[string]uint64{"forty": 40, "viaGlobal": 40, "seven": 7} {
		res, err := mod.ExportedFunction(fn).Call(ctx)
		if err != nil || len(res) != 1 || res[0] != want {
			t.Errorf("%s() = %v, %v; want %d", fn, res, err, want)
		}
	}
	for slot := range uint64(6) {
		res, err := mod.ExportedFunction("slot").Call(ctx, slot)
		if err != nil || len(res) != 1 || res[0] != 40 {
			t.Errorf("slot(%d) = %v, %v; want 40", slot, res, err)
		}
	}
	if name := mod.ExportedFunction("forty").Definition().Name(); name != "forty" {
		t.Errorf("the name section names the exported function %q, want forty", name)
	}
}

// yieldRuntime is a wazero runtime with the yield host function and none of
// wazero's own termination checks.
func yieldRuntime(t *testing.T) wazero.Runtime {
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx) // WithCloseOnContextDone is off by default
	t.Cleanup(func() { rt.Close(ctx) })
	if err := instantiateYield(ctx, rt); err != nil {
		t.Fatal(err)
	}
	return rt
}

// instantiateRewritten instantiates wasm, rewritten, in rt.
func instantiateRewritten(t *testing.T, rt wazero.Runtime, wasm []byte) api.Module {
	t.Helper()
	out, _, err := instrument(wasm)
	if err != nil {
		t.Fatal(err)
	}
	mod, err := rt.Instantiate(context.Background(), out)
	if err != nil {
		t.Fatal(err)
	}
	return mod
}

// TestInterruptStops: the mechanism on its own, without wazero's checks: a
// bare `loop br 0`, and a loop-free call tree of 2^60 calls (which wazero's
// own checks, at loop headers only, do not stop), each stopped at its
// context's deadline.
func TestInterruptStops(t *testing.T) {
	for _, c := range []struct {
		name, fn string
		wasm     []byte
		args     []uint64
	}{
		{"loop", "spin", spinModule(true), nil},
		{"call tree", "fork", forkModule(), []uint64{60}},
	} {
		t.Run(c.name, func(t *testing.T) {
			mod := instantiateRewritten(t, yieldRuntime(t), c.wasm)
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			done := make(chan error, 1)
			go func() { _, err := mod.ExportedFunction(c.fn).Call(ctx, c.args...); done <- err }()
			select {
			case err := <-done:
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("%s returned %v, want the deadline", c.fn, err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("still running 10 s after its deadline") // the goroutine leaks; the test fails anyway
			}
		})
	}
}

// TestSpinningGuestLetsGCRun: a garbage collection must stop the world, and
// compiled wasm cannot be preempted; a guest that never left native code
// would hold every goroutine of the process until it ended (with checks that
// stayed in native code, TestHostileGuests/loop deadlocked: the deadline
// could never be signalled). The yield every yieldEvery checks lets it in.
func TestSpinningGuestLetsGCRun(t *testing.T) {
	mod := instantiateRewritten(t, yieldRuntime(t), spinModule(true))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { _, err := mod.ExportedFunction("spin").Call(ctx); done <- err }()
	time.Sleep(20 * time.Millisecond) // let it spin
	for range 3 {
		runtime.GC()
	}
	select {
	case err := <-done:
		t.Fatalf("spin ended before the collections (%v): the test proved nothing", err)
	default:
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("spin returned %v, want canceled", err)
	}
}

func TestInstrumentRefusesMalformed(t *testing.T) {
	good := spinModule(true)
	cases := map[string][]byte{
		"empty":              nil,
		"bad magic":          []byte("\x00asx\x01\x00\x00\x00"),
		"version 2":          []byte("\x00asm\x02\x00\x00\x00"),
		"truncated section":  good[:len(good)-3],
		"section past end":   module([]byte{10, 0x20, 0x00}),
		"unknown opcode":     module(sect(1, vec([]byte{0x60, 0, 0})...), sect(3, vec([]byte{0})...), sect(10, vec(body([]byte{0}, 0x12, 0x00, 0x0b))...)),
		"unknown 0xfc":       module(sect(1, vec([]byte{0x60, 0, 0})...), sect(3, vec([]byte{0})...), sect(10, vec(body([]byte{0}, 0xfc, 0x30, 0x0b))...)),
		"truncated leb":      module(sect(1, vec([]byte{0x60, 0, 0})...), sect(3, vec([]byte{0})...), sect(10, vec(body([]byte{0}, 0x41, 0x80))...)),
		"overlong leb":       module(sect(1, vec([]byte{0x60, 0, 0})...), sect(3, vec([]byte{0})...), sect(10, vec(body([]byte{0}, 0x41, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0x1a, 0x0b))...)),
		"bytes after bodies": module(sect(1, vec([]byte{0x60, 0, 0})...), sect(3, vec([]byte{0})...), sect(10, append(vec(body([]byte{0}, 0x0b)), 0x00)...)),
		// Code naming the global the rewrite adds would validate afterwards
		// and could refill the fuel.
		"names the fuel":  module(sect(1, vec([]byte{0x60, 0, 0})...), sect(3, vec([]byte{0})...), sect(10, vec(body([]byte{0}, 0x03, 0x40, 0x41, 0x00, 0x24, 0x00, 0x0c, 0x00, 0x0b, 0x0b))...)),
		"bad import kind": module(sect(2, vec(cat(appendName(nil, "a"), appendName(nil, "b"), []byte{0x09, 0x00}))...)),
	}
	for name, wasm := range cases {
		t.Run(name, func(t *testing.T) {
			if _, _, err := instrument(wasm); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

// TestInstrumentGuests: every stock guest and the test guests, rewritten,
// still compile, and their loops are found.
func TestInstrumentGuests(t *testing.T) {
	for _, name := range []string{"schemagate", "echo", "owner", "hostile", "badabi"} {
		t.Run(name, func(t *testing.T) {
			wasm := readWasm(t, name)
			start := time.Now()
			out, checks, err := instrument(wasm)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %d checks (functions and loops), %d → %d bytes, %v", name, checks, len(wasm), len(out), time.Since(start))
			if checks < 100 { // the Go runtime alone has hundreds
				t.Fatalf("only %d checks inserted", checks)
			}
			compile(t, out)
		})
	}
}

// TestDeadlineModes: both ways of stopping a looping guest work through the
// whole Guest path, and a raised flag never leaks into the next call.
func TestDeadlineModes(t *testing.T) {
	for _, mode := range []DeadlineMode{DeadlineChecks, DeadlineWazero} {
		t.Run(mode.String(), func(t *testing.T) {
			rt, err := NewRuntime(context.Background(), RuntimeConfig{Deadlines: mode, Limits: Limits{Timeout: 300 * time.Millisecond, InitTimeout: 3 * time.Second}})
			if err != nil {
				t.Fatal(err)
			}
			defer rt.Close(context.Background())
			// A guest that never finishes initialising is refused, in time.
			start := time.Now()
			_, err = rt.Load(context.Background(), GuestConfig{Name: "hostile", Path: "hostile.wasm", Wasm: readWasm(t, "hostile"), Mounts: []Mount{{t.TempDir(), "/hang"}}})
			if err == nil || !strings.Contains(err.Error(), "initialisation ran past its 3s deadline") {
				t.Fatalf("hanging init: %v", err)
			}
			if d := time.Since(start); d > 15*time.Second {
				t.Fatalf("hanging init refused after %v", d)
			}
			g := load(t, rt, "hostile", 1, nil)
			p := NewPipeline([]Stage{{Guest: g}}, 64)
			start = time.Now()
			_, rej, err := p.Run(context.Background(), batch(put("loop", "a", nil)), nil)
			if err != nil || len(rej) != 1 || !strings.Contains(rej[0].Reason, "deadline") {
				t.Fatalf("looping guest: %v %v", rej, err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("stopped after %v, deadline 300ms", d)
			}
			if g.Stats().Timeouts.Load() != 1 {
				t.Fatalf("timeouts = %d", g.Stats().Timeouts.Load())
			}
			waitFull(t, g)
			acc, rej, err := p.Run(context.Background(), batch(put("fine", "b", nil)), nil)
			if err != nil || len(acc) != 1 {
				t.Fatalf("after the timeout: %v %v", rej, err)
			}
			// A caller that goes away stops the guest too, without counting a trap.
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			_, rej, err = p.Run(ctx, batch(put("loop", "c", nil)), nil)
			if err == nil && (len(rej) != 1 || !strings.Contains(rej[0].Reason, "request ended")) {
				t.Fatalf("canceled call: %v", rej)
			}
			if err != nil && !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("canceled call: %v", err)
			}
			if n := g.Stats().Traps.Load(); n != 0 {
				t.Fatalf("%d traps counted for a canceled call", n)
			}
		})
	}
	if _, err := ParseDeadlineMode("fast"); err == nil {
		t.Fatal("ParseDeadlineMode accepted an unknown mode")
	}
	for _, s := range []string{"", "checks", "wazero"} {
		if m, err := ParseDeadlineMode(s); err != nil || (s != "" && m.String() != s) {
			t.Fatalf("ParseDeadlineMode(%q) = %v, %v", s, m, err)
		}
	}
}

// FuzzInstrument: the rewrite never panics, takes every function body wazero
// accepts (WebAssembly 2.0), and what it writes wazero accepts too. The
// fuzzer writes one function body inside everyImmediate's module (its types,
// imports, tables, memory, globals and data): whole random modules mostly
// exercise wazero's decoder, which allocates for a declared vector count
// before reading it (a module claiming 2^28 imports in 200 bytes takes the
// machine's memory; instrument refuses it without allocating).
func FuzzInstrument(f *testing.F) {
	f.Add(everyImmediateCode())
	f.Add([]byte{0x00, 0x03, 0x40, 0x0c, 0x00, 0x0b, 0x0b})
	f.Add([]byte{0x00, 0x02, 0x40, 0x03, 0x01, 0x0b, 0x0b})
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	f.Fuzz(func(t *testing.T, fn []byte) {
		wasm := everyImmediateWith(fn)
		out, _, err := instrument(wasm)
		c, cerr := compileModule(ctx, rt, wasm)
		if cerr != nil {
			return
		}
		c.Close(ctx)
		if err != nil {
			t.Fatalf("wazero accepts the module, instrument refuses it: %v", err)
		}
		if c, err = compileModule(ctx, rt, out); err != nil {
			t.Fatalf("the instrumented module does not compile: %v", err)
		}
		c.Close(ctx)
	})
}
