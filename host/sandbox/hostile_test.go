package sandbox

import (
	"bytes"
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/syncgate/syncgate/guest/abi"

	. "github.com/syncgate/syncgate/host/sandbox/internal/wasmtest"
)

// Hostile modules, assembled by hand as a guest author trying to break
// the sandbox would write them: each class of issue #14 is refused at load
// by name, or stopped close to its deadline without holding off the
// garbage collector, and the pool recovers.

// abiParts are the bodies (locals and code) of a hand-assembled guest's
// five ABI exports; empty parts are well-behaved.
type abiParts struct {
	initialize, version, info, handle []byte
	pages                             uint32
}

// abiModule is a syncgate guest by the ABI's letter: it imports WASI's
// fd_write (function 0), random_get (1) and poll_oneoff (2); defines
// _initialize (3), syncgate_abi_version (4), syncgate_info (5: "{}" at
// address 0), syncgate_alloc (6: returns 1024) and syncgate_handle (7).
func abiModule(p abiParts) []byte {
	or := func(b []byte, def ...byte) []byte {
		if b != nil {
			return b
		}
		return append([]byte{0x00}, def...)
	}
	body := func(b []byte) []byte { return Cat(Leb(uint32(len(b))), b) }
	if p.pages == 0 {
		p.pages = 1
	}
	version := append([]byte{0x41}, S32(abi.Version)...)
	return Module(
		Sect(Type, Vec(
			[]byte{0x60, 0x00, 0x00},                               // 0: () -> ()
			[]byte{0x60, 0x00, 0x01, 0x7f},                         // 1: () -> i32
			[]byte{0x60, 0x01, 0x7f, 0x01, 0x7f},                   // 2: (i32) -> i32
			[]byte{0x60, 0x02, 0x7f, 0x7f, 0x01, 0x7e},             // 3: (i32 i32) -> i64
			[]byte{0x60, 0x00, 0x01, 0x7e},                         // 4: () -> i64
			[]byte{0x60, 0x04, 0x7f, 0x7f, 0x7f, 0x7f, 0x01, 0x7f}, // 5: fd_write
			[]byte{0x60, 0x02, 0x7f, 0x7f, 0x01, 0x7f},             // 6: random_get
		)...),
		Sect(Import, Vec(
			Cat(Name("wasi_snapshot_preview1"), Name("fd_write"), []byte{0x00, 0x05}),
			Cat(Name("wasi_snapshot_preview1"), Name("random_get"), []byte{0x00, 0x06}),
			Cat(Name("wasi_snapshot_preview1"), Name("poll_oneoff"), []byte{0x00, 0x05}),
		)...),
		Sect(Function, Vec([]byte{0x00}, []byte{0x01}, []byte{0x04}, []byte{0x02}, []byte{0x03})...),
		Sect(Memory, Vec(Cat([]byte{0x00}, Leb(p.pages)))...),
		Sect(Export, Vec(
			ExportFunc("_initialize", 3), ExportFunc("syncgate_abi_version", 4), ExportFunc("syncgate_info", 5),
			ExportFunc("syncgate_alloc", 6), ExportFunc("syncgate_handle", 7), Cat(Name("memory"), []byte{0x02, 0x00}),
		)...),
		Sect(Code, Vec(
			body(or(p.initialize, 0x0b)),
			body(or(p.version, append(version, 0x0b)...)),
			body(or(p.info, 0x42, 0x02, 0x0b)), // ptr 0, len 2
			body([]byte{0x00, 0x41, 0x80, 0x08, 0x0b}),
			body(or(p.handle, 0x42, 0x02, 0x0b)),
		)...),
		Sect(Data, Vec(Cat([]byte{0x00, 0x41, 0x00, 0x0b}, Vec([]byte{'{'}, []byte{'}'})))...),
	)
}

// forever wraps code in loop … br 0 end (code leaves nothing on the stack).
func forever(code ...byte) []byte {
	return Cat([]byte{0x00, 0x03, 0x40}, code, []byte{0x0c, 0x00, 0x0b, 0x42, 0x00, 0x0b})
}

func i32(v int32) []byte { return append([]byte{0x41}, S32(v)...) }

// pollSubscriptions is the start of a body (locals included) that writes
// two poll_oneoff subscriptions at 1024: a read of stdin, and a clock
// (monotonic) that times out in an hour.
func pollSubscriptions() []byte {
	i64 := func(v int64) []byte { return append([]byte{0x42}, S64(v)...) }
	return Cat([]byte{0x00},
		i32(1032), i32(1), []byte{0x3a, 0x00, 0x00}, // tag fd_read (i32.store8)
		i32(1040), i32(0), []byte{0x36, 0x02, 0x00}, // fd 0
		i32(1080), i32(0), []byte{0x3a, 0x00, 0x00}, // tag clock
		i32(1088), i32(1), []byte{0x36, 0x02, 0x00}, // monotonic
		i32(1096), i64(3600e9), []byte{0x37, 0x03, 0x00}, // an hour
	)
}

// TestHostileModulesRefused: classes 1, 2, 3 (start), 5 and 6 are refused
// at load, naming why, in both deadline modes, before wazero compiles a
// byte.
func TestHostileModulesRefused(t *testing.T) {
	withHandle := func(code ...byte) []byte { return abiModule(abiParts{handle: append([]byte{0x00}, code...)}) }
	nested := func(n int) []byte {
		code := []byte{0x00}
		for range n {
			code = append(code, 0x03, 0x40)
		}
		for range n {
			code = append(code, 0x0b)
		}
		return withHandle(append(code[1:], 0x42, 0x00, 0x0b)...)
	}
	start := Module(
		Sect(Type, Vec([]byte{0x60, 0x00, 0x00})...), Sect(Function, Vec([]byte{0x00})...),
		Sect(Start, 0x00), Sect(Code, Vec(Body([]byte{0x00}, 0x03, 0x40, 0x0c, 0x00, 0x0b, 0x0b))...))
	cases := []struct {
		name, want string
		wasm       []byte
		lim        Limits
	}{
		{"1: SIMD hiding a loop", "SIMD", withHandle(0xfd, 0x8c, 0x00, 0x03, 0x40, 0x0c, 0x00, 0x0b, 0x42, 0x00, 0x0b), Limits{}},
		{"1: ref-typed block", "reference types", withHandle(0x02, 0x63, 0x70, 0x0b, 0x42, 0x00, 0x0b), Limits{}},
		{"1: call wrapping onto the added import", "does not exist", withHandle(0x10, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x42, 0x00, 0x0b), Limits{}},
		{"1: the fuel written", "names global 0", withHandle(0x41, 0x00, 0x24, 0x00, 0x42, 0x00, 0x0b), Limits{}},
		{"1: a call of the first helper's index", "does not exist", withHandle(0x41, 0, 0x41, 0, 0x41, 0, 0x10, 0x09, 0x42, 0x00, 0x0b), Limits{}},
		{"2: ref-typed select", "reference types", withHandle(0x41, 0, 0x41, 0, 0x41, 0, 0x1c, 0x01, 0x7f, 0x1a, 0x42, 0x00, 0x0b), Limits{}},
		{"3: start function", "start function", start, Limits{}},
		{"5: table.grow", "reference types", withHandle(0xd0, 0x70, 0x41, 0x7f, 0xfc, 0x0f, 0x00, 0x1a, 0x42, 0x00, 0x0b), Limits{}},
		{"5: table of 2^27 entries", "over the limit", Module(Sect(Table, Vec(Cat([]byte{0x70, 0x00}, Leb(1<<27)))...)), Limits{}},
		{"5: table over a configured limit", "over the limit of 10", Module(Sect(Table, Vec([]byte{0x70, 0x00, 0x0b})...)), Limits{TableEntries: 10}},
		{"6: 2000 nested loops", "loops", nested(2000), Limits{}},
		{"6: 2^28 locals", "locals", abiModule(abiParts{handle: Cat([]byte{0x01}, Leb(1<<28), []byte{0x7f, 0x42, 0x00, 0x0b})}), Limits{}},
	}
	for _, mode := range []DeadlineMode{DeadlineChecks, DeadlineWazero} {
		for _, c := range cases {
			t.Run(mode.String()+"/"+c.name, func(t *testing.T) {
				rt, err := NewRuntime(context.Background(), RuntimeConfig{Deadlines: mode, Limits: c.lim})
				if err != nil {
					t.Fatal(err)
				}
				defer rt.Close(context.Background())
				began := time.Now()
				_, err = rt.Load(context.Background(), GuestConfig{Name: "h", Path: "h.wasm", Wasm: c.wasm})
				if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "h.wasm: refused") {
					t.Fatalf("got %v, want a refusal naming %q", err, c.want)
				}
				if d := time.Since(began); d > time.Second {
					t.Errorf("refused after %v", d)
				}
			})
		}
	}
}

// TestHostileAtLoad (class 3): guest code run while loading — the ABI
// version and info calls — is stopped at the init deadline.
func TestHostileAtLoad(t *testing.T) {
	spin := []byte{0x00, 0x03, 0x40, 0x0c, 0x00, 0x0b, 0x00, 0x0b} // loop br 0 end; unreachable
	for name, p := range map[string]abiParts{
		"_initialize":          {initialize: spin},
		"syncgate_abi_version": {version: spin},
		"syncgate_info":        {info: spin},
	} {
		t.Run(name, func(t *testing.T) {
			rt := newRuntime(t, Limits{InitTimeout: 200 * time.Millisecond}, nil)
			began := time.Now()
			_, err := rt.Load(context.Background(), GuestConfig{Name: "h", Path: "h.wasm", Wasm: abiModule(p)})
			if err == nil || !strings.Contains(err.Error(), "deadline") {
				t.Fatalf("got %v, want the init deadline", err)
			}
			if d := time.Since(began); d > 5*time.Second {
				t.Fatalf("Load returned after %v with a 200ms init deadline", d)
			}
			t.Logf("refused after %v", time.Since(began))
		})
	}
}

// TestHostileExpensiveSteps (class 4): single instructions and WASI calls
// that do a lot of work are stopped close to the deadline, a garbage
// collection started meanwhile finishes promptly, and the pool recovers.
func TestHostileExpensiveSteps(t *testing.T) {
	const mib = 1 << 20
	cases := map[string]abiParts{
		// memory.fill of 64 MiB, forever.
		"memory.fill": {pages: 64 * 16, handle: forever(Cat(i32(0), i32(1), i32(64*mib), []byte{0xfc, 0x0b, 0x00})...)},
		// memory.copy of 32 MiB, overlapping, forever.
		"memory.copy": {pages: 64 * 16, handle: forever(Cat(i32(1), i32(0), i32(32*mib), []byte{0xfc, 0x0a, 0x00, 0x00})...)},
		// fd_write of 1024 empty iovecs (the most it takes), forever.
		"fd_write": {pages: 1, handle: forever(Cat(i32(1), i32(0), i32(1024), i32(60000), []byte{0x10, 0x00, 0x1a})...)},
		// random_get of 60 MiB, forever.
		"random_get": {pages: 64 * 16, handle: forever(Cat(i32(0), i32(60*mib), []byte{0x10, 0x01, 0x1a})...)},
		// poll_oneoff on stdin and a one-hour clock, forever.
		"poll_oneoff": {pages: 1, handle: Cat(pollSubscriptions(), forever(Cat(i32(1024), i32(2048), i32(2), i32(4000), []byte{0x10, 0x02, 0x1a})...)[1:])},
		// poll_oneoff of 1 300 clock subscriptions (a page of them), forever.
		"poll_oneoff many": {pages: 2, handle: Cat([]byte{0x00}, forever(Cat(i32(0), i32(65536), i32(1300), i32(4000), []byte{0x10, 0x02, 0x1a})...)[1:])},
	}
	for name, p := range cases {
		t.Run(name, func(t *testing.T) {
			rt := newRuntime(t, Limits{Timeout: 200 * time.Millisecond}, nil)
			g, err := rt.Load(context.Background(), GuestConfig{Name: "h", Path: "h.wasm", Wasm: abiModule(p)})
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close(context.Background())
			done := make(chan error, 1)
			began := time.Now()
			go func() { _, err := g.Call(context.Background(), []byte("{}")); done <- err }()
			time.Sleep(50 * time.Millisecond) // let it work
			gcStart := time.Now()
			runtime.GC()
			gc := time.Since(gcStart)
			err = <-done
			past := time.Since(began) - 200*time.Millisecond
			if err == nil || !strings.Contains(err.Error(), "deadline") {
				t.Fatalf("got %v, want the deadline", err)
			}
			t.Logf("%s: stopped %v past its deadline; a GC during the call took %v", name, past, gc)
			if past > 2*time.Second || gc > 2*time.Second {
				t.Fatalf("stopped %v past its deadline, GC took %v", past, gc)
			}
			waitFull(t, g)
		})
	}
}

// TestFdWriteLimits: fd_write refuses more than IOV_MAX iovecs, writes
// only stdout and stderr, and what a call prints is capped.
func TestFdWriteLimits(t *testing.T) {
	// handle: fd_write(fd, iovs at 16, n, nwritten at 8); returns the errno
	// in the high word.
	call := func(fd, n int32) []byte {
		return Cat([]byte{0x00}, i32(fd), i32(16), i32(n), i32(8), []byte{0x10, 0x00, 0xad, 0x42, 0x20, 0x86}, // errno as i64 << 32
			[]byte{0x0b})
	}
	for _, c := range []struct {
		name      string
		fd, n     int32
		wantErrno uint32
	}{
		{"1024 iovecs", 1, 1024, 0},
		{"1025 iovecs", 1, 1025, errnoInval},
		{"ten million iovecs", 2, 10_000_000, errnoInval},
		{"a file descriptor other than stdout/stderr", 3, 1, errnoBadf},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out bytes.Buffer
			rt := newRuntime(t, Limits{}, &out)
			g, err := rt.Load(context.Background(), GuestConfig{Name: "h", Path: "h.wasm", Wasm: abiModule(abiParts{handle: call(c.fd, c.n)})})
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close(context.Background())
			in := g.instance(t)
			res, err := in.handle.Call(in.ctx(context.Background()), 0, 0)
			g.pool <- in
			if err != nil {
				t.Fatal(err)
			}
			if errno := uint32(res[0] >> 32); errno != c.wantErrno {
				t.Fatalf("errno %d, want %d", errno, c.wantErrno)
			}
		})
	}
}

// instance takes an instance from the pool for a test that calls its
// exports directly.
func (g *Guest) instance(t *testing.T) *instance {
	t.Helper()
	select {
	case in := <-g.pool:
		return in
	case <-time.After(10 * time.Second):
		t.Fatal("no instance")
	}
	return nil
}

// TestRandomPerInstance (class 7): two instances of one guest draw
// different random bytes.
func TestRandomPerInstance(t *testing.T) {
	// handle: random_get(0, 16); return ptr 0, len 16.
	wasm := abiModule(abiParts{handle: Cat([]byte{0x00}, i32(0), i32(16), []byte{0x10, 0x01, 0x1a, 0x42, 0x10, 0x0b})})
	rt := newRuntime(t, Limits{}, nil)
	var got [][]byte
	for range 2 {
		g, err := rt.Load(context.Background(), GuestConfig{Name: "h", Path: "h.wasm", Wasm: wasm})
		if err != nil {
			t.Fatal(err)
		}
		out, err := g.Call(context.Background(), nil)
		g.Close(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, out)
	}
	if len(got[0]) != 16 || bytes.Equal(got[0], got[1]) || bytes.Equal(got[0], make([]byte, 16)) {
		t.Fatalf("instances drew %x and %x", got[0], got[1])
	}
}
