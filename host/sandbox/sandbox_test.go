package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syncgate/syncgate/guest/abi"

	"github.com/syncgate/syncgate/host/sandbox/internal/wasmtest"
	"github.com/syncgate/syncgate/internal/guestbuild"
)

// wasmDir holds the guests the tests build once.
var wasmDir string

func TestMain(m *testing.M) {
	os.Exit(guestbuild.Run(m, guestbuild.With(map[string]string{"hostile": "./testdata/hostile", "badabi": "./testdata/badabi"}), &wasmDir))
}

func readWasm(t testing.TB, name string) []byte {
	b, err := os.ReadFile(filepath.Join(wasmDir, name+".wasm"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newRuntime(t testing.TB, lim Limits, out *bytes.Buffer) *Runtime {
	cfg := RuntimeConfig{CacheDir: filepath.Join(os.TempDir(), "syncgate-test-wazero-cache"), Limits: lim}
	if out != nil {
		cfg.Output = &lockedWriter{w: out}
	}
	rt, err := NewRuntime(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close(context.Background()) })
	return rt
}

type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func load(t testing.TB, rt *Runtime, name string, pool int, settings map[string]string, mounts ...Mount) *Guest {
	g, err := rt.Load(context.Background(), GuestConfig{Name: name, Path: name + ".wasm", Wasm: readWasm(t, name), Pool: pool, Settings: settings, Mounts: mounts})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close(context.Background()) })
	return g
}

// request is a guest request with a PUT to each table (the hostile guest
// misbehaves by table name), as the pipeline encodes one.
func request(tables ...string) []byte {
	ops := make([]string, len(tables))
	for i, t := range tables {
		ops[i] = fmt.Sprintf(`{"index":%d,"op":"PUT","table":%q,"id":"id%d","data":{}}`, i, t, i)
	}
	return fmt.Appendf(nil, `{"abi":%d,"request_id":"r1","now":"2026-01-02T03:04:05Z","caller":{"user_id":"alice"},"ops":[%s]}`,
		abi.Version, strings.Join(ops, ","))
}

// waitFull polls until the pool is back to its size.
func waitFull(t *testing.T, g *Guest) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for g.Idle() < g.PoolSize() {
		if time.Now().After(deadline) {
			t.Fatalf("pool of %s has %d/%d instances after 30s", g.Name(), g.Idle(), g.PoolSize())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRefusesBadModules(t *testing.T) {
	rt := newRuntime(t, Limits{}, nil)
	cases := map[string]struct {
		wasm []byte
		want string
	}{
		"not wasm":      {[]byte("hello"), "refused: not a WebAssembly 1.0 binary"},
		"no exports":    {[]byte("\x00asm\x01\x00\x00\x00"), "missing export"},
		"wrong version": {readWasm(t, "badabi"), "ABI version 99"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := rt.Load(context.Background(), GuestConfig{Name: "x", Path: "guests/x.wasm", Wasm: c.wasm})
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "guests/x.wasm") {
				t.Fatalf("got %v, want an error naming the file with %q", err, c.want)
			}
		})
	}
	// A 3-byte body (65 locals of type 0x63) that makes wazero v1.12's
	// decoder panic is refused by the rules before wazero sees it, in both
	// deadline modes.
	crash := wasmtest.OneFunc("f", nil, nil, 0, []byte{0x01, 'A', 'c'})
	for _, mode := range []DeadlineMode{DeadlineChecks, DeadlineWazero} {
		t.Run("decoder panic/"+mode.String(), func(t *testing.T) {
			wrt, err := NewRuntime(context.Background(), RuntimeConfig{Deadlines: mode})
			if err != nil {
				t.Fatal(err)
			}
			defer wrt.Close(context.Background())
			_, err = wrt.Load(context.Background(), GuestConfig{Name: "x", Path: "guests/x.wasm", Wasm: crash})
			if err == nil || !strings.Contains(err.Error(), "reference types is not accepted") {
				t.Fatalf("got %v", err)
			}
		})
	}
	t.Run("broken schema", func(t *testing.T) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "lists.json"), []byte(`{"type":"object","properties":{"a":{"type":"strin"}}}`), 0o644)
		_, err := rt.Load(context.Background(), GuestConfig{Name: "schemagate", Path: "schemagate.wasm", Wasm: readWasm(t, "schemagate"), Mounts: []Mount{{dir, "/schemas"}}})
		if err == nil || !strings.Contains(err.Error(), "lists.json") {
			t.Fatalf("got %v, want a refusal naming lists.json", err)
		}
	})
}

// TestHostileCallsMemoryBounded runs 1000 failing calls in a row and checks
// the process's heap does not grow past a bound (instances are discarded and
// replaced, not leaked).

// writes records each Write as one entry, as a log handler would.
type writes struct {
	mu      sync.Mutex
	entries []string
}

func (w *writes) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.entries = append(w.entries, string(p))
	return len(p), nil
}

// TestGuestPanicIsOneOutputEntry: the Go runtime prints a panic in many
// small writes; the sandbox hands what one call printed to Output as one
// entry, with the panic message and the stack.
func TestGuestPanicIsOneOutputEntry(t *testing.T) {
	out := &writes{}
	rt, err := NewRuntime(context.Background(), RuntimeConfig{CacheDir: filepath.Join(os.TempDir(), "syncgate-test-wazero-cache"),
		Limits: Limits{MemoryMiB: 64, Timeout: 2 * time.Second}, Output: out})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close(context.Background()) })
	g := load(t, rt, "hostile", 1, nil)
	var ce *CallError
	if _, err := g.Call(context.Background(), request("panic")); !errors.As(err, &ce) {
		t.Fatalf("a panicking guest's call: %v", err)
	}
	out.mu.Lock()
	defer out.mu.Unlock()
	if len(out.entries) != 1 {
		t.Fatalf("%d output entries for one panic, want 1:\n%q", len(out.entries), out.entries)
	}
	e := out.entries[0]
	if !strings.HasPrefix(e, "guest hostile: panic: hostile guest panics") || !strings.Contains(e, "goroutine") || !strings.Contains(e, "main.handle") {
		t.Fatalf("entry lacks the prefix, the panic message or the stack:\n%s", e)
	}
}
