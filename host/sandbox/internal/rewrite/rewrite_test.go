package rewrite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	. "github.com/syncgate/syncgate/host/sandbox/internal/wasmtest"
)

// features is what the sandbox enables in wazero (sandbox.guestFeatures).
const features = api.CoreFeaturesV1 | api.CoreFeatureSignExtensionOps |
	api.CoreFeatureNonTrappingFloatToIntConversion | api.CoreFeatureBulkMemoryOperations |
	api.CoreFeatureReferenceTypes

func newRuntime(t testing.TB, interp bool) wazero.Runtime {
	ctx := context.Background()
	cfg := wazero.NewRuntimeConfigCompiler()
	if interp {
		cfg = wazero.NewRuntimeConfigInterpreter() // validation is what counts
	}
	rt := wazero.NewRuntimeWithConfig(ctx, cfg.WithCoreFeatures(features))
	t.Cleanup(func() { rt.Close(ctx) })
	_, err := rt.NewHostModuleBuilder(YieldModule).NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, _ api.Module, stack []uint64) {
			if err := ctx.Err(); err != nil {
				panic(err)
			}
			stack[0] = YieldEvery
		}), nil, []api.ValueType{api.ValueTypeI32}).Export(YieldName).Instantiate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

// valid reports whether wazero (with the sandbox's features) accepts wasm.
func valid(rt wazero.Runtime, wasm []byte) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("wazero panicked: %v", p)
		}
	}()
	c, err := rt.CompileModule(context.Background(), wasm)
	if err == nil {
		c.Close(context.Background())
	}
	return err
}

// goShapedWith is a module shaped like a Go guest (a function import, one
// funcref table with an active element segment, one memory, mutable
// globals, active data) whose first function is fn (locals and code, type
// (i32) -> i32), the second returns its argument.
func goShapedWith(fn []byte) []byte {
	return Module(
		Sect(Type, Vec([]byte{0x60, 0x00, 0x00}, []byte{0x60, 0x01, 0x7f, 0x01, 0x7f})...),
		Sect(Import, Vec(Cat(Name("env"), Name("fn"), []byte{0x00, 0x00}))...),
		Sect(Function, Vec([]byte{0x01}, []byte{0x01})...),
		Sect(Table, Vec([]byte{0x70, 0x01, 0x03, 0x03})...),
		Sect(Memory, Vec([]byte{0x00, 0x02})...),
		Sect(Global, Vec([]byte{0x7f, 0x01, 0x41, 0x07, 0x0b}, []byte{0x7e, 0x01, 0x42, 0x00, 0x0b})...),
		Sect(Export, Vec(ExportFunc("f", 1), Cat(Name("mem"), []byte{0x02, 0x00}))...),
		Sect(Element, Vec([]byte{0x00, 0x41, 0x00, 0x0b, 0x02, 0x01, 0x02})...),
		Sect(Code, Vec(Cat(Leb(uint32(len(fn))), fn), Body([]byte{0x00}, 0x20, 0x00, 0x0b))...),
		Sect(Data, Vec(Cat([]byte{0x00, 0x41, 0x08, 0x0b}, Vec([]byte{'a'}, []byte{'b'})))...),
	)
}

// everyInstructionCode uses each accepted instruction kind that has
// immediates. Immediates are filled with 0x03, the loop opcode, wherever the
// format allows: an instruction whose immediates were misread would have a
// loop found inside them, and the check count or block structure would be
// off. It has 3 loops.
func everyInstructionCode() []byte {
	code := Cat(
		[]byte{0x03, 0x40, 0x03, 0x7f, 0x41, 0x03, 0x0b, 0x1a, 0x0b},                                                             // loop loop (result i32) i32.const 3 end drop end
		[]byte{0x02, 0x40, 0x02, 0x40, 0x02, 0x40, 0x02, 0x40, 0x41, 0x03, 0x0e, 0x02, 0x03, 0x03, 0x03, 0x0b, 0x0b, 0x0b, 0x0b}, // br_table [3 3] 3
		[]byte{0x41, 0x03, 0x41, 0x03, 0x41, 0x03, 0x1b, 0x1a},                                                                   // select
		[]byte{0x10, 0x00}, // call 0 (the import)
		[]byte{0x41, 0x03, 0x41, 0x00, 0x11, 0x01, 0x00, 0x1a},                         // call_indirect type 1 table 0
		[]byte{0x42, 0x83, 0x83, 0x83, 0x83, 0x83, 0x83, 0x83, 0x83, 0x83, 0x7f, 0x1a}, // i64.const (10-byte LEB)
		[]byte{0x41, 0x83, 0x83, 0x83, 0x83, 0x03, 0x1a},                               // i32.const (5-byte LEB)
		[]byte{0x43, 3, 3, 3, 3, 0x1a, 0x44, 3, 3, 3, 3, 3, 3, 3, 3, 0x1a},             // f32.const, f64.const
		[]byte{0x23, 0x00, 0x24, 0x00, 0x23, 0x01, 0x1a},                               // global.get/set
		[]byte{0x20, 0x00, 0x21, 0x01, 0x20, 0x01, 0x22, 0x01, 0x1a},                   // local.get/set/tee
		[]byte{0x41, 0x03, 0x28, 0x02, 0x83, 0x03, 0x1a},                               // i32.load align=2 offset=387
		[]byte{0x41, 0x03, 0x42, 0x03, 0x37, 0x03, 0x83, 0x03},                         // i64.store align=3 offset=387
		[]byte{0x3f, 0x00, 0x40, 0x00, 0x1a},                                           // memory.size; memory.grow; drop
		[]byte{0x41, 0x03, 0x41, 0x03, 0x41, 0x03, 0xfc, 0x0b, 0x00},                   // memory.fill
		[]byte{0x41, 0x03, 0x41, 0x03, 0x41, 0x03, 0xfc, 0x0a, 0x00, 0x00},             // memory.copy
		[]byte{0x43, 3, 3, 3, 3, 0xfc, 0x00, 0x1a},                                     // i32.trunc_sat_f32_s
		[]byte{0x41, 0x03, 0xc0, 0x1a},                                                 // i32.extend8_s
		[]byte{0x41, 0x03, 0x04, 0x40, 0x01, 0x05, 0x01, 0x0b},                         // if else end
		[]byte{0x02, 0x40, 0x41, 0x03, 0x0d, 0x00, 0x0c, 0x00, 0x0b},                   // block br_if br end
		[]byte{0x03, 0x40, 0x0b},                                                       // loop end
		[]byte{0x41, 0x03, 0x0f, 0x0b},                                                 // return end
	)
	return append([]byte{0x01, 0x01, 0x7f}, code...) // one i32 local
}

func TestInstrumentAccepted(t *testing.T) {
	rt := newRuntime(t, false)
	wasm := goShapedWith(everyInstructionCode())
	if err := valid(rt, wasm); err != nil {
		t.Fatalf("the test's own module is invalid: %v", err)
	}
	out, st, err := Instrument(wasm, DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	// One check per loop (three) and none at the functions' entries (the
	// first opens with a loop, the second calls nothing: TestEntryChecks);
	// one bulk call each; one host call (the import).
	if st.Checks != 3 || st.EntrySkipped != 2 || st.BulkCalls != 2 || st.HostCalls != 1 {
		t.Fatalf("checks %d (entries skipped %d), bulk calls %d, host calls %d; want 3 (2), 2 and 1", st.Checks, st.EntrySkipped, st.BulkCalls, st.HostCalls)
	}
	if err := valid(rt, out); err != nil {
		t.Fatalf("the rewritten module is invalid: %v", err)
	}
	if st.Loops != 3 || st.Locals != 1 || st.Depth != 4 || st.Table != 3 || st.Functions != 2 {
		t.Fatalf("stats %+v", st)
	}
}

// TestInstrumentRefuses: each feature outside the accepted set, each
// malformed encoding that could make the rewrite and wazero read different
// code, each reference to what the rewrite adds, and each size limit is
// refused by name, before wazero sees the module.
// TestEntryChecks: a function keeps its entry check unless it calls no
// defined function or opens with a loop that every call reaches (see
// entryCheckNeeded); the second function of each module is a leaf.
func TestEntryChecks(t *testing.T) {
	rt := newRuntime(t, false)
	for _, c := range []struct {
		name   string
		code   []byte
		checks int // entry checks kept plus loops
	}{
		{"leaf with a loop", []byte{0x03, 0x40, 0x0b, 0x20, 0x00, 0x0b}, 1},
		{"call tree without loops", []byte{0x20, 0x00, 0x10, 0x01, 0x0b}, 1},
		{"opens with a loop", []byte{0x03, 0x40, 0x20, 0x00, 0x10, 0x01, 0x1a, 0x0b, 0x20, 0x00, 0x0b}, 1},
		{"straight code and blocks before the loop", []byte{0x02, 0x40, 0x0b, 0x41, 0x00, 0x04, 0x40, 0x20, 0x00, 0x1a, 0x0b,
			0x03, 0x40, 0x20, 0x00, 0x10, 0x01, 0x1a, 0x0b, 0x20, 0x00, 0x0b}, 1},
		{"a call in an if before the loop", []byte{0x41, 0x00, 0x04, 0x40, 0x20, 0x00, 0x10, 0x01, 0x1a, 0x0b,
			0x03, 0x40, 0x20, 0x00, 0x10, 0x01, 0x1a, 0x0b, 0x20, 0x00, 0x0b}, 2},
		{"br_if before the loop", []byte{0x02, 0x40, 0x20, 0x00, 0x0d, 0x00, 0x0b, 0x03, 0x40, 0x20, 0x00, 0x10, 0x01, 0x1a, 0x0b, 0x20, 0x00, 0x0b}, 2},
		{"return before the loop", []byte{0x41, 0x00, 0x04, 0x40, 0x20, 0x00, 0x0f, 0x0b, 0x03, 0x40, 0x20, 0x00, 0x10, 0x01, 0x1a, 0x0b, 0x20, 0x00, 0x0b}, 2},
		{"first loop inside an if", []byte{0x20, 0x00, 0x04, 0x40, 0x03, 0x40, 0x0b, 0x0b, 0x20, 0x00, 0x10, 0x01, 0x0b}, 2},
		{"first loop inside blocks (Go's functions)", []byte{0x02, 0x40, 0x02, 0x40, 0x03, 0x40, 0x20, 0x00, 0x10, 0x01, 0x1a, 0x0b, 0x0b, 0x0b, 0x20, 0x00, 0x0b}, 1},
		{"first loop inside a block inside an if", []byte{0x20, 0x00, 0x04, 0x40, 0x02, 0x40, 0x03, 0x40, 0x0b, 0x0b, 0x0b, 0x20, 0x00, 0x10, 0x01, 0x0b}, 2},
		{"call_indirect", []byte{0x20, 0x00, 0x41, 0x00, 0x11, 0x01, 0x00, 0x0b}, 1},
		// A call before the first loop keeps the entry check: otherwise
		// functions that call each other before their loops recurse
		// without passing a check.
		{"recursion before the loop", []byte{0x20, 0x00, 0x10, 0x01, 0x1a, 0x03, 0x40, 0x0b, 0x20, 0x00, 0x0b}, 2},
		{"host call before the loop", []byte{0x20, 0x00, 0x10, 0x00, 0x1a, 0x03, 0x40, 0x0b, 0x20, 0x00, 0x0b}, 1}, // charged, cannot call back
	} {
		t.Run(c.name, func(t *testing.T) {
			wasm := goShapedWith(append([]byte{0x01, 0x01, 0x7f}, c.code...))
			if err := valid(rt, wasm); err != nil {
				t.Fatalf("the test's own module is invalid: %v", err)
			}
			out, st, err := Instrument(wasm, DefaultLimits)
			if err != nil {
				t.Fatal(err)
			}
			if st.Checks != c.checks || st.Checks+st.EntrySkipped != int(st.TotalLoops)+2 {
				t.Fatalf("checks %d, entries skipped %d; want %d checks", st.Checks, st.EntrySkipped, c.checks)
			}
			if err := valid(rt, out); err != nil {
				t.Fatalf("the rewritten module is invalid: %v", err)
			}
		})
	}
}

func TestInstrumentRefuses(t *testing.T) {
	fn := func(code ...byte) []byte { return goShapedWith(Cat([]byte{0x00}, code, []byte{0x41, 0x00, 0x0b})) }
	small := Limits{Functions: 1, CodeBytes: 999, BodyBytes: 64, Locals: 4, Loops: 1, TotalLoops: 9, Depth: 2, Table: 2}
	cases := []struct {
		name, want string
		wasm       []byte
	}{
		{"SIMD v128.const", "SIMD", fn(append([]byte{0xfd, 0x0c}, make([]byte, 16)...)...)},
		{"SIMD with an LEB sub-opcode", "SIMD", fn(0xfd, 0x8c, 0x00)},
		{"typed select", "reference types", fn(0x41, 0, 0x41, 0, 0x41, 0, 0x1c, 0x01, 0x7f, 0x1a)},
		{"ref-type block 0x63", "reference types", fn(0x02, 0x63, 0x70, 0x0b)},
		{"ref-type block 0x64", "reference types", fn(0x02, 0x64, 0x70, 0x0b)},
		{"funcref block", "reference types", fn(0x02, 0x70, 0xd0, 0x70, 0x0b, 0x1a)},
		{"v128 block", "SIMD", fn(0x02, 0x7b, 0x0b)},
		{"type-index block", "multi-value", fn(0x02, 0x00, 0x0b)},
		{"table.get", "reference types", fn(0x41, 0, 0x25, 0x00, 0x1a)},
		{"table.set", "reference types", fn(0x41, 0, 0xd0, 0x70, 0x26, 0x00)},
		{"ref.func", "reference types", fn(0xd2, 0x01, 0x1a)},
		{"table.grow", "reference types", fn(0xd0, 0x70, 0x41, 0x7f, 0xfc, 0x0f, 0x00, 0x1a)},
		{"table.fill", "reference types", fn(0x41, 0, 0xd0, 0x70, 0x41, 0x7f, 0xfc, 0x11, 0x00)},
		{"table.size", "reference types", fn(0xfc, 0x10, 0x00, 0x1a)},
		{"table.copy", "reference types", fn(0x41, 0, 0x41, 0, 0x41, 0, 0xfc, 0x0e, 0x00, 0x00)},
		{"memory.init", "bulk memory", fn(0x41, 0, 0x41, 0, 0x41, 0, 0xfc, 0x08, 0x00, 0x00)},
		{"data.drop", "bulk memory", fn(0xfc, 0x09, 0x00)},
		{"atomics", "threads", fn(0xfe, 0x03, 0x00)},
		{"exceptions", "exception handling", fn(0x06, 0x40, 0x0b)},
		{"tail call", "tail calls", fn(0x12, 0x00)},
		{"non-canonical 0xfc sub-opcode", "unknown instruction 0xfc", fn(0x41, 0, 0x41, 0, 0x41, 0, 0xfc, 0x8b, 0x00, 0x00)},
		{"call_indirect through table 1", "reference types", fn(0x41, 0, 0x41, 0, 0x11, 0x01, 0x81, 0x00, 0x1a)},
		{"memory.size reserved byte", "must be the byte 0x00", fn(0x3f, 0x01, 0x1a)},
		{"call index over 32 bits", "LEB128", fn(0x41, 0, 0x10, 0x81, 0x80, 0x80, 0x80, 0x70, 0x1a)},
		{"call index wrapping onto the yield import", "does not exist", fn(0x41, 0, 0x10, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x1a)},
		{"call of a helper's index", "does not exist", fn(0x41, 0, 0x41, 0, 0x41, 0, 0x10, 0x04)},
		{"global.set of the fuel", "names global 2", fn(0x41, 0x00, 0x24, 0x02)},
		{"global.get of the fuel", "names global 2", fn(0x23, 0x02, 0x1a)},
		{"i32.const of 6 bytes", "LEB128", fn(0x41, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0x1a)},
		{"i32.const with bad sign bits", "LEB128", fn(0x41, 0x80, 0x80, 0x80, 0x80, 0x40, 0x1a)},
		{"memarg offset over 32 bits", "LEB128", fn(0x41, 0, 0x28, 0x02, 0x80, 0x80, 0x80, 0x80, 0x10, 0x1a)},
		{"start section", "start function", Module(
			Sect(Type, Vec([]byte{0x60, 0x00, 0x00})...), Sect(Function, Vec([]byte{0x00})...),
			Sect(Start, 0x00), Sect(Code, Vec(Body([]byte{0x00}, 0x03, 0x40, 0x0c, 0x00, 0x0b, 0x0b))...))},
		{"data count section", "bulk memory", Module(Sect(12, 0x00))},
		{"tag section", "exception handling", Module(Sect(13, 0x00))},
		{"passive data", "bulk memory", nil}, // filled below
		{"table import", "imports other than functions", Module(Sect(Import, Vec(Cat(Name("env"), Name("t"), []byte{0x01, 0x70, 0x00, 0x01}))...))},
		{"memory import", "imports other than functions", Module(Sect(Import, Vec(Cat(Name("env"), Name("m"), []byte{0x02, 0x00, 0x01}))...))},
		{"global import", "imports other than functions", Module(Sect(Import, Vec(Cat(Name("env"), Name("g"), []byte{0x03, 0x7f, 0x00}))...))},
		{"import of the yield module", "syncgate's own import", Module(
			Sect(Type, Vec([]byte{0x60, 0x00, 0x01, 0x7f})...), Sect(Import, Vec(Cat(Name(YieldModule), Name(YieldName), []byte{0x00, 0x00}))...))},
		{"export of the fuel global", "does not exist", Module(Sect(Export, Vec(Cat(Name("fuel"), []byte{0x03, 0x00}))...))},
		{"export of a missing function", "does not exist", Module(Sect(Export, Vec(ExportFunc("f", 0))...))},
		{"multi-value type", "multi-value", Module(Sect(Type, Vec([]byte{0x60, 0x00, 0x02, 0x7f, 0x7f})...))},
		{"v128 parameter", "SIMD", Module(Sect(Type, Vec([]byte{0x60, 0x01, 0x7b, 0x00})...))},
		{"funcref global", "reference types", Module(Sect(Global, Vec([]byte{0x70, 0x00, 0xd0, 0x70, 0x0b})...))},
		{"v128 local", "SIMD", goShapedWith([]byte{0x01, 0x01, 0x7b, 0x41, 0x00, 0x0b})},
		{"two tables", "reference types", Module(Sect(Table, Vec([]byte{0x70, 0x00, 0x01}, []byte{0x70, 0x00, 0x01})...))},
		{"externref table", "reference types", Module(Sect(Table, Vec([]byte{0x6f, 0x00, 0x01})...))},
		{"two memories", "multiple memories", Module(Sect(Memory, Vec([]byte{0x00, 0x01}, []byte{0x00, 0x01})...))},
		{"shared memory", "threads", Module(Sect(Memory, Vec([]byte{0x03, 0x01, 0x01})...))},
		{"element segment with expressions", "reference types", Module(
			Sect(Table, Vec([]byte{0x70, 0x00, 0x01})...), Sect(Element, Vec([]byte{0x05, 0x70, 0x00})...))},
		{"global.get in a constant", "numeric constants", Module(Sect(Global, Vec([]byte{0x7f, 0x00, 0x23, 0x00, 0x0b})...))},
		{"huge table", "over the limit", Module(Sect(Table, Vec(Cat([]byte{0x70, 0x00}, Leb(1<<27)))...))},
		{"functions over the limit", "2 functions", goShapedWith([]byte{0x00, 0x41, 0x00, 0x0b})},
		{"2^28 locals", "locals", goShapedWith(Cat([]byte{0x02}, Leb(1<<27), []byte{0x7f}, Leb(1<<27), []byte{0x7f, 0x41, 0x00, 0x0b}))},
		{"loops over the limit", "loops", fn(0x03, 0x40, 0x0b, 0x03, 0x40, 0x0b)},
		{"nesting over the limit", "nested", fn(0x02, 0x40, 0x02, 0x40, 0x02, 0x40, 0x0b, 0x0b, 0x0b)},
		{"body over the limit", "bytes", fn(bytes.Repeat([]byte{0x01}, 100)...)},
	}
	limits := map[string]Limits{
		"functions over the limit": small,
		"loops over the limit":     {Functions: 9, CodeBytes: 999, BodyBytes: 99, Locals: 9, Loops: 1, TotalLoops: 9, Depth: 9, Table: 9},
		"nesting over the limit":   {Functions: 9, CodeBytes: 999, BodyBytes: 99, Locals: 9, Loops: 9, TotalLoops: 9, Depth: 2, Table: 9},
		"body over the limit":      {Functions: 9, CodeBytes: 999, BodyBytes: 99, Locals: 9, Loops: 9, TotalLoops: 9, Depth: 9, Table: 9},
	}
	passive := Module(Sect(Memory, Vec([]byte{0x00, 0x01})...), Sect(Data, Vec(Cat([]byte{0x01}, Vec([]byte{'a'})))...))
	for i := range cases {
		if cases[i].name == "passive data" {
			cases[i].wasm = passive
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			lim, ok := limits[c.name]
			if !ok {
				lim = DefaultLimits
			}
			_, _, err := Instrument(c.wasm, lim)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error naming %q", err, c.want)
			}
		})
	}
}

// TestInstrumentRenumbers: a module that names its functions every way a
// guest can (calls, an exported function, an element segment called
// through call_indirect, the name section), rewritten, reaches the same
// functions. env.double is function 0; function 1 returns double(20),
// slot(i) calls table[i], and both slots hold function 1.
func TestInstrumentRenumbers(t *testing.T) {
	ctx := context.Background()
	rt := newRuntime(t, false)
	_, err := rt.NewHostModuleBuilder("env").NewFunctionBuilder().
		WithFunc(func(v int32) int32 { return 2 * v }).Export("double").Instantiate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wasm := Module(
		Sect(Type, Vec([]byte{0x60, 0x00, 0x01, 0x7f}, []byte{0x60, 0x01, 0x7f, 0x01, 0x7f})...),
		Sect(Import, Vec(Cat(Name("env"), Name("double"), []byte{0x00, 0x01}))...),
		Sect(Function, Vec([]byte{0x00}, []byte{0x01})...),
		Sect(Table, Vec([]byte{0x70, 0x00, 0x02})...),
		Sect(Export, Vec(ExportFunc("forty", 1), ExportFunc("slot", 2))...),
		Sect(Element, Vec([]byte{0x00, 0x41, 0x00, 0x0b, 0x02, 0x01, 0x01})...),
		Sect(Code, Vec(
			Body([]byte{0x00}, 0x41, 0x14, 0x10, 0x00, 0x0b),
			Body([]byte{0x00}, 0x20, 0x00, 0x11, 0x00, 0x00, 0x0b),
		)...),
		CustomSect("name", Cat([]byte{0x01}, func() []byte {
			m := Vec(Cat(Leb(1), Name("forty")))
			return append(Leb(uint32(len(m))), m...)
		}())...),
		CustomSect(".debug_info", 1, 2, 3),
	)
	out, _, err := Instrument(wasm, DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(out, []byte(".debug_info")) {
		t.Fatal("DWARF section kept: its code offsets are stale")
	}
	mod, err := rt.Instantiate(ctx, out)
	if err != nil {
		t.Fatal(err)
	}
	for _, call := range []struct {
		fn   string
		args []uint64
	}{{"forty", nil}, {"slot", []uint64{0}}, {"slot", []uint64{1}}} {
		res, err := mod.ExportedFunction(call.fn).Call(ctx, call.args...)
		if err != nil || len(res) != 1 || res[0] != 40 {
			t.Errorf("%s%v = %v, %v; want 40", call.fn, call.args, res, err)
		}
	}
	if name := mod.ExportedFunction("forty").Definition().Name(); name != "forty" {
		t.Errorf("the name section names the exported function %q, want forty", name)
	}
}

// bulkModule exports fill(d, v, n) and copy(d, s, n) over a memory of
// pages pages, exported as "mem".
func bulkModule(pages uint32) []byte {
	return Module(
		Sect(Type, Vec([]byte{0x60, 0x03, 0x7f, 0x7f, 0x7f, 0x00})...),
		Sect(Function, Vec([]byte{0x00}, []byte{0x00})...),
		Sect(Memory, Vec(Cat([]byte{0x00}, Leb(pages)))...),
		Sect(Export, Vec(ExportFunc("fill", 0), ExportFunc("copy", 1), Cat(Name("mem"), []byte{0x02, 0x00}))...),
		Sect(Code, Vec(
			Body([]byte{0x00}, 0x20, 0x00, 0x20, 0x01, 0x20, 0x02, 0xfc, 0x0b, 0x00, 0x0b),
			Body([]byte{0x00}, 0x20, 0x00, 0x20, 0x01, 0x20, 0x02, 0xfc, 0x0a, 0x00, 0x00, 0x0b),
		)...),
	)
}

// TestBulkHelpers: memory.fill and memory.copy, rewritten into chunked
// helpers, leave memory exactly as the instructions do — sizes around the
// chunk, overlapping copies both ways, and out-of-bounds calls, which trap
// with nothing written.
func TestBulkHelpers(t *testing.T) {
	ctx := context.Background()
	const pages = 8 // 512 KiB
	size := uint32(pages << 16)
	orig := bulkModule(pages)
	out, _, err := Instrument(orig, DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	rt := newRuntime(t, false)
	want, err := rt.InstantiateWithConfig(ctx, orig, wazero.NewModuleConfig().WithName("orig"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := rt.InstantiateWithConfig(ctx, out, wazero.NewModuleConfig().WithName("rewritten"))
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	seed := make([]byte, size)
	for i := range seed {
		seed[i] = byte(rng.Uint32())
	}
	sizes := []uint32{0, 1, bulkChunk - 1, bulkChunk, bulkChunk + 1, 3*bulkChunk + 5, size / 2, size}
	type call struct {
		fn      string
		a, b, n uint32
	}
	var calls []call
	for _, n := range sizes {
		calls = append(calls,
			call{"fill", 0, 0xab, n}, call{"fill", size - n, 7, n},
			call{"copy", 0, size - n, n}, call{"copy", size - n, 0, n}, // disjoint or overlapping, both ways
			call{"copy", 100, 0, min(n, size-100)}, call{"copy", 0, 100, min(n, size-100)}, // overlapping by 100
		)
	}
	calls = append(calls,
		call{"fill", size - 10, 1, 11}, call{"fill", 0xffff0000, 1, 0x20000}, call{"fill", 0, 1, 0xffffffff},
		call{"copy", 0, size - 10, 11}, call{"copy", size - 10, 0, 11}, call{"copy", 0xffff0000, 0, 0x20000},
		call{"copy", 1, 0, 0xffffffff}, call{"copy", size, size, 0},
	)
	for i := range 40 {
		n := rng.Uint32N(size / 2)
		calls = append(calls, call{[]string{"fill", "copy"}[i%2], rng.Uint32N(size - n), rng.Uint32N(size - n), n})
	}
	for _, c := range calls {
		want.Memory().Write(0, seed)
		got.Memory().Write(0, seed)
		_, werr := want.ExportedFunction(c.fn).Call(ctx, uint64(c.a), uint64(c.b), uint64(c.n))
		_, gerr := got.ExportedFunction(c.fn).Call(ctx, uint64(c.a), uint64(c.b), uint64(c.n))
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("%s(%#x, %#x, %#x): instruction %v, helper %v", c.fn, c.a, c.b, c.n, werr, gerr)
		}
		wm, _ := want.Memory().Read(0, size)
		gm, _ := got.Memory().Read(0, size)
		if !bytes.Equal(wm, gm) {
			t.Fatalf("%s(%#x, %#x, %#x): memory differs (trap: %v)", c.fn, c.a, c.b, c.n, werr)
		}
	}
}

// interleaveNops returns wasm with a nop before every instruction the
// rewrite's decoder sees in each function body. If its instruction
// boundaries were not wazero's, a nop would land inside an immediate as
// wazero reads it, and wazero would judge the module differently.
func interleaveNops(wasm []byte) ([]byte, error) {
	r := reader{b: wasm, off: 8}
	out := append([]byte(nil), wasm[:8]...)
	for r.off < len(r.b) {
		id, p, err := r.section()
		if err != nil {
			return nil, err
		}
		if id == secCode {
			if p, err = rewriteVec(p, func(out []byte, r *reader) ([]byte, error) {
				size, err := r.u32()
				if err != nil {
					return nil, err
				}
				b, err := r.bytes(int(size))
				if err != nil {
					return nil, err
				}
				br := reader{b: b}
				groups, err := br.u32()
				for i := uint32(0); i < groups && err == nil; i++ {
					if _, err = br.u32(); err == nil {
						_, err = br.byte()
					}
				}
				if err != nil {
					return nil, err
				}
				nb := append([]byte(nil), b[:br.off]...)
				for br.off < len(b) {
					start := br.off
					op, _ := br.byte()
					if _, err := br.instruction(op); err != nil {
						return nil, err
					}
					nb = append(append(nb, 0x01), b[start:br.off]...)
				}
				return append(appendU32(out, uint32(len(nb))), nb...), nil
			}); err != nil {
				return nil, err
			}
		}
		out = appendSection(out, id, p)
	}
	return out, nil
}

// checkAgainstWazero holds the rewrite to wazero on one module: whenever
// the rewrite accepts it, wazero's verdict on the rewritten module and on
// the module with a nop at every instruction boundary the rewrite saw is
// its verdict on the original (a module wazero refuses never becomes one it
// accepts, and the two read the same instructions).
func checkAgainstWazero(rt wazero.Runtime, wasm []byte) (accepted bool, err error) {
	out, _, ierr := Instrument(wasm, DefaultLimits)
	if ierr != nil {
		return false, nil
	}
	werr := valid(rt, wasm)
	if oerr := valid(rt, out); (werr == nil) != (oerr == nil) {
		return true, fmt.Errorf("wazero on the original: %v; on the rewritten module: %v", werr, oerr)
	}
	nops, err := interleaveNops(wasm)
	if err != nil {
		return true, fmt.Errorf("the rewrite accepted it, its decoder fails on a second pass: %v", err)
	}
	if nerr := valid(rt, nops); (werr == nil) != (nerr == nil) {
		return true, fmt.Errorf("wazero on the original: %v; with a nop at each boundary the rewrite saw: %v", werr, nerr)
	}
	return werr == nil, nil
}

// wazeroDir is the wazero module's folder in the module cache: its test data
// holds the WebAssembly spec tests as binaries and programs built by other
// toolchains (Rust, Zig, TinyGo).
func wazeroDir(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/tetratelabs/wazero").Output()
	dir := strings.TrimSpace(string(out))
	if err != nil || dir == "" {
		t.Fatalf("wazero's module folder not found (%v): the corpus tests need the module cache", err)
	}
	return dir
}

// TestSpecCorpus runs checkAgainstWazero over every module of the
// WebAssembly 1.0 and 2.0 spec tests that wazero ships, and counts what the
// rewrite refuses by feature.
func TestSpecCorpus(t *testing.T) {
	dir := wazeroDir(t)
	rt := newRuntime(t, true)
	var files []string
	for _, d := range []string{"v1", "v2"} {
		m, _ := filepath.Glob(filepath.Join(dir, "internal/integration_test/spectest", d, "testdata", "*.wasm"))
		files = append(files, m...)
	}
	if len(files) < 1000 {
		t.Fatalf("only %d spec test modules under %s", len(files), dir)
	}
	refused := map[string]int{}
	rewritten, validRewritten := 0, 0
	for _, f := range files {
		wasm, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, ierr := Instrument(wasm, DefaultLimits); ierr != nil {
			var e *Error
			if errors.As(ierr, &e) && e.Feature != "" {
				refused[e.Feature]++
			} else {
				refused["malformed"]++
			}
			continue
		}
		rewritten++
		ok, err := checkAgainstWazero(rt, wasm)
		if err != nil {
			t.Errorf("%s: %v", filepath.Base(f), err)
		}
		if ok {
			validRewritten++
		}
	}
	if validRewritten < 1000 {
		t.Errorf("only %d valid spec modules rewritten: the accepted set lost WebAssembly 1.0", validRewritten)
	}
	t.Logf("%d spec modules: %d rewritten (%d valid, held to wazero), refused %v", len(files), rewritten, validRewritten, refused)
}

// TestOtherToolchains: `cat` built with Rust, Zig's C compiler and TinyGo is
// either refused naming a feature, or runs rewritten and prints the file.
func TestOtherToolchains(t *testing.T) {
	dir := filepath.Join(wazeroDir(t), "imports/wasi_snapshot_preview1/example/testdata")
	want, err := os.ReadFile(filepath.Join(dir, "sub/test.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []string{"cargo-wasi", "zig-cc", "tinygo"} {
		t.Run(tc, func(t *testing.T) {
			wasm, err := os.ReadFile(filepath.Join(dir, tc, "cat.wasm"))
			if err != nil {
				t.Fatal(err)
			}
			out, st, err := Instrument(wasm, DefaultLimits)
			var e *Error
			if errors.As(err, &e) && e.Feature != "" {
				t.Logf("%s refused: %v", tc, err)
				return
			} else if err != nil {
				t.Fatalf("refused without naming a feature: %v", err)
			}
			ctx := context.Background()
			rt := newRuntime(t, false)
			wasi_snapshot_preview1.MustInstantiate(ctx, rt)
			var stdout, stderr bytes.Buffer
			cfg := wazero.NewModuleConfig().WithStdout(&stdout).WithStderr(&stderr).
				WithFSConfig(wazero.NewFSConfig().WithReadOnlyDirMount(dir, "/")).
				WithArgs("cat", "/sub/test.txt")
			if _, err := rt.InstantiateWithConfig(ctx, out, cfg); err != nil && !strings.Contains(err.Error(), "exit_code(0)") {
				t.Fatalf("%v (stderr %q)", err, stderr.String())
			}
			if !bytes.Equal(stdout.Bytes(), want) {
				t.Fatalf("printed %q, want %q", stdout.String(), want)
			}
			t.Logf("%s: %d checks, output as expected", tc, st.Checks)
		})
	}
}

// FuzzInstrument: the rewrite never panics, and on a function body inside
// a Go-shaped module it is held to wazero by checkAgainstWazero; and every
// body wazero accepts with only the instructions Go emits is accepted. The
// seeds include the encodings that broke an earlier rewrite (SIMD with an
// LEB sub-opcode, ref-typed blocks and select).
func FuzzInstrument(f *testing.F) {
	f.Add(everyInstructionCode())
	f.Add([]byte{0x00, 0x03, 0x40, 0x0c, 0x00, 0x0b, 0x41, 0x00, 0x0b})
	f.Add([]byte{0x00, 0xfd, 0x8c, 0x00, 0x03, 0x40, 0x0b, 0x41, 0x00, 0x0b})
	f.Add([]byte{0x00, 0x02, 0x63, 0x70, 0x03, 0x40, 0x0b, 0x0b, 0x41, 0x00, 0x0b})
	f.Add([]byte{0x00, 0x41, 0x00, 0x41, 0x00, 0x41, 0x00, 0x1c, 0x01, 0x64, 0x70, 0x1a, 0x41, 0x00, 0x0b})
	f.Add([]byte{0x00, 0x41, 0x00, 0x10, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x0b})
	rt := newRuntime(f, true)
	f.Fuzz(func(t *testing.T, fn []byte) {
		wasm := goShapedWith(fn)
		if _, err := checkAgainstWazero(rt, wasm); err != nil {
			t.Fatal(err)
		}
	})
}
