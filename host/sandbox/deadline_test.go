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

	"github.com/syncgate/syncgate/host/sandbox/internal/rewrite"
	"github.com/syncgate/syncgate/host/sandbox/internal/wasmtest"
)

// spinModule exports "spin", a function that loops forever.
func spinModule() []byte {
	return wasmtest.OneFunc("spin", nil, nil, 0, []byte{0x00, 0x03, 0x40, 0x0c, 0x00, 0x0b, 0x0b}) // loop br 0 end
}

// forkModule exports "fork" (param i32): without a single loop, it calls
// itself twice with n-1 until n is 0 — 2^n calls, never deeper than n.
func forkModule() []byte {
	return wasmtest.OneFunc("fork", []byte{0x7f}, nil, 0, []byte{
		0x00,
		0x20, 0x00, 0x04, 0x40, // local.get 0; if
		0x20, 0x00, 0x41, 0x01, 0x6b, 0x10, 0x00, // fork(n-1)
		0x20, 0x00, 0x41, 0x01, 0x6b, 0x10, 0x00, // fork(n-1)
		0x0b, 0x0b,
	})
}

// yieldRuntime is a wazero runtime with the yield host function and none of
// wazero's own termination checks.
func yieldRuntime(t *testing.T) wazero.Runtime {
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCoreFeatures(guestFeatures))
	t.Cleanup(func() { rt.Close(ctx) })
	if err := instantiateYield(ctx, rt); err != nil {
		t.Fatal(err)
	}
	return rt
}

// instantiateRewritten instantiates wasm, rewritten, in rt.
func instantiateRewritten(t *testing.T, rt wazero.Runtime, wasm []byte) api.Module {
	t.Helper()
	out, _, err := rewrite.Instrument(wasm, rewrite.DefaultLimits)
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
		{"loop", "spin", spinModule(), nil},
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
	mod := instantiateRewritten(t, yieldRuntime(t), spinModule())
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

// TestInstrumentGuests: every stock guest and the test guests pass the
// rules with room to spare (rewrite.DefaultLimits says how much), and
// their loops are found.
func TestInstrumentGuests(t *testing.T) {
	lim := rewrite.DefaultLimits
	for _, name := range []string{"schemagate", "echo", "owner", "normalize", "timestamps", "hostile", "badabi"} {
		t.Run(name, func(t *testing.T) {
			wasm := readWasm(t, name)
			start := time.Now()
			out, st, err := rewrite.Instrument(wasm, lim)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %d checks, %d bulk calls, %d functions, %d B of code, largest body %d B, %d locals, %d loops (%d in all), depth %d, table %d; %d → %d bytes, %v",
				name, st.Checks, st.BulkCalls, st.Functions, st.CodeBytes, st.BodyBytes, st.Locals, st.Loops, st.TotalLoops, st.Depth, st.Table, len(wasm), len(out), time.Since(start))
			if st.Checks < 100 { // the Go runtime alone has hundreds
				t.Fatalf("only %d checks inserted", st.Checks)
			}
			for what, pair := range map[string][2]uint32{
				"functions": {st.Functions, lim.Functions}, "body bytes": {st.BodyBytes, lim.BodyBytes},
				"code bytes": {st.CodeBytes, lim.CodeBytes}, "loops in all": {st.TotalLoops, lim.TotalLoops},
				"locals": {st.Locals, lim.Locals}, "loops": {st.Loops, lim.Loops}, "depth": {st.Depth, lim.Depth},
				"table": {st.Table, lim.Table},
			} {
				if uint64(pair[0])*8 > uint64(pair[1]) {
					t.Errorf("%s: %d, less than 8x under the limit %d: raise rewrite.DefaultLimits", what, pair[0], pair[1])
				}
			}
			compile(t, out)
		})
	}
}

// compile has wazero, configured as the sandbox configures it, compile wasm.
func compile(t *testing.T, wasm []byte) {
	t.Helper()
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCoreFeatures(guestFeatures))
	defer rt.Close(ctx)
	c, err := rt.CompileModule(ctx, wasm)
	if err != nil {
		t.Fatalf("wazero refuses the module: %v", err)
	}
	c.Close(ctx)
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
			// Compiled first (the runtime keeps the compiled module): the
			// bound below is then the init deadline's, not compilation's,
			// which a loaded machine stretched past it.
			g := load(t, rt, "hostile", 1, nil)
			// A guest that never finishes initialising is refused, in time.
			start := time.Now()
			_, err = rt.Load(context.Background(), GuestConfig{Name: "hostile", Path: "hostile.wasm", Wasm: readWasm(t, "hostile"), Mounts: []Mount{{t.TempDir(), "/hang"}}})
			if err == nil || !strings.Contains(err.Error(), "initialisation ran past its 3s deadline") {
				t.Fatalf("hanging init: %v", err)
			}
			t.Logf("hanging init refused after %v", time.Since(start))
			if d := time.Since(start); d > 15*time.Second {
				t.Fatalf("hanging init refused after %v", d)
			}
			start = time.Now()
			_, err = g.Call(context.Background(), request("loop"))
			var ce *CallError
			if !errors.As(err, &ce) || !strings.Contains(ce.Reason, "deadline") {
				t.Fatalf("looping guest: %v", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("stopped after %v, deadline 300ms", d)
			}
			if g.Stats().Timeouts.Load() != 1 {
				t.Fatalf("timeouts = %d", g.Stats().Timeouts.Load())
			}
			waitFull(t, g)
			if out, err := g.Call(context.Background(), request("fine")); err != nil || !bytes.Contains(out, []byte(`"index":0`)) {
				t.Fatalf("after the timeout: %s %v", out, err)
			}
			// A caller that goes away stops the guest too, without counting a trap.
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			_, err = g.Call(ctx, request("loop"))
			if !errors.As(err, &ce) || !strings.Contains(ce.Reason, "request ended") {
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
