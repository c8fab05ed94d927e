package sandbox

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/tetratelabs/wazero"

	"github.com/syncgate/syncgate/guest/guesttest"
	"github.com/syncgate/syncgate/host/sandbox/internal/rewrite"
	"github.com/syncgate/syncgate/host/sandbox/internal/wasmtest"
)

// Benchmarks named …/base and …/ours are reported as pairs by task bench.
// The guests' own benchmarks (BenchmarkGuest, BenchmarkSchemaGate) are in
// host/pipeline: they run a whole stage, the host's encoding included.

// BenchmarkCallOverhead: checkout, a no-op export call and return (base)
// against a whole ABI round trip of an empty request through the echo
// guest (ours: alloc, copy in, handle, copy out).
func BenchmarkCallOverhead(b *testing.B) {
	rt := newRuntime(b, Limits{}, nil)
	g := load(b, rt, "echo", 1, nil)
	b.Run("base", func(b *testing.B) {
		in := <-g.pool
		f := in.mod.ExportedFunction("syncgate_abi_version")
		g.pool <- in
		for b.Loop() {
			in := <-g.pool
			in.stack[0] = 0
			if err := f.CallWithStack(context.Background(), in.stack[:1]); err != nil {
				b.Fatal(err)
			}
			g.pool <- in
		}
	})
	b.Run("ours", func(b *testing.B) {
		req := []byte(`{"abi":1,"ops":[]}`)
		for b.Loop() {
			if _, err := g.Call(context.Background(), req); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkStartup loads the schema gate with a pool of 2: cold (empty
// compilation cache) is the base, warm (cache on disk) is ours.
func BenchmarkStartup(b *testing.B) {
	schemas, _ := filepath.Abs("../../tests/testdata/schemas")
	wasm := readWasm(b, "schemagate")
	run := func(b *testing.B, dir func() string) {
		for b.Loop() {
			rt, err := NewRuntime(context.Background(), RuntimeConfig{CacheDir: dir()})
			if err != nil {
				b.Fatal(err)
			}
			g, err := rt.Load(context.Background(), GuestConfig{Name: "schemagate", Wasm: wasm, Pool: 2, Mounts: []Mount{{schemas, "/schemas"}}})
			if err != nil {
				b.Fatal(err)
			}
			g.Close(context.Background())
			rt.Close(context.Background())
		}
	}
	b.Run("base", func(b *testing.B) { run(b, func() string { return b.TempDir() }) })
	warm := b.TempDir()
	rt, _ := NewRuntime(context.Background(), RuntimeConfig{CacheDir: warm})
	if g, err := rt.Load(context.Background(), GuestConfig{Name: "schemagate", Wasm: wasm, Mounts: []Mount{{schemas, "/schemas"}}}); err == nil {
		g.Close(context.Background())
	}
	rt.Close(context.Background())
	b.Run("ours", func(b *testing.B) { run(b, func() string { return warm }) })
}

// BenchmarkDeadlineCost measures what stopping looping guests costs on the
// schema gate over 100 rows: base without any check (a looping guest could
// never be stopped), ours with the checks syncgate adds (DeadlineChecks).
func BenchmarkDeadlineCost(b *testing.B) {
	b.Run("base", func(b *testing.B) { benchGateMode(b, DeadlineNone) })
	b.Run("ours", func(b *testing.B) { benchGateMode(b, DeadlineChecks) })
}

// BenchmarkDeadlineModes compares the two ways to stop a looping guest on the
// same workload: wazero's WithCloseOnContextDone (base), which leaves compiled
// code for Go at every loop header, and syncgate's checks (ours).
func BenchmarkDeadlineModes(b *testing.B) {
	b.Run("base", func(b *testing.B) { benchGateMode(b, DeadlineWazero) })
	b.Run("ours", func(b *testing.B) { benchGateMode(b, DeadlineChecks) })
}

func benchGateMode(b *testing.B, mode DeadlineMode) {
	schemas, _ := filepath.Abs("../../tests/testdata/schemas")
	req := guesttest.TodoRequest(100)
	rt, err := NewRuntime(context.Background(), RuntimeConfig{CacheDir: filepath.Join(os.TempDir(), "syncgate-bench-cache-"+mode.String()), Deadlines: mode})
	if err != nil {
		b.Fatal(err)
	}
	defer rt.Close(context.Background())
	g, err := rt.Load(context.Background(), GuestConfig{Name: "schemagate", Wasm: readWasm(b, "schemagate"), Mounts: []Mount{{schemas, "/schemas"}}})
	if err != nil {
		b.Fatal(err)
	}
	defer g.Close(context.Background())
	for b.Loop() {
		if out, err := g.Call(context.Background(), req); err != nil || bytes.Contains(out, []byte(`"reject":true`)) {
			b.Fatal(err, string(out))
		}
	}
}

// BenchmarkLoopTurn is the cost of one turn of a bare wasm loop (local
// decrement and branch), per turn: base without any deadline check, ours
// with syncgate's checks; LoopTurnWazero with wazero's WithCloseOnContextDone.
func BenchmarkLoopTurn(b *testing.B) {
	out, _, err := rewrite.Instrument(countModule(), rewrite.DefaultLimits)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("base", func(b *testing.B) { benchLoop(b, countModule(), false) })
	b.Run("ours", func(b *testing.B) { benchLoop(b, out, false) })
}

func BenchmarkLoopTurnWazero(b *testing.B) { benchLoop(b, countModule(), true) }

// countModule exports count(n): a loop that turns n times.
func countModule() []byte {
	code := []byte{0x03, 0x40, 0x20, 0x00, 0x41, 0x01, 0x6b, 0x22, 0x00, 0x0d, 0x00, 0x0b, 0x0b} // loop: n = n-1; br_if n != 0
	return wasmtest.OneFunc("count", []byte{0x7f}, nil, 0, append([]byte{0x00}, code...))
}

func benchLoop(b *testing.B, wasm []byte, closeOnDone bool) {
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCloseOnContextDone(closeOnDone))
	defer rt.Close(ctx)
	if err := instantiateYield(ctx, rt); err != nil {
		b.Fatal(err)
	}
	mod, err := rt.Instantiate(ctx, wasm)
	if err != nil {
		b.Fatal(err)
	}
	count := mod.ExportedFunction("count")
	b.ResetTimer()
	for n := b.N; n > 0; n -= 1 << 30 { // one call turns the loop b.N times
		if _, err := count.Call(ctx, uint64(min(n, 1<<30))); err != nil {
			b.Fatal(err)
		}
	}
}
