package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syncgate/syncgate/host/guestbuild"
	"github.com/syncgate/syncgate/host/sandbox/internal/wasmtest"
	"github.com/syncgate/syncgate/host/syncgate"
)

// wasmDir holds the guests the tests build once.
var wasmDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sandbox-guests-")
	if err != nil {
		panic(err)
	}
	wasmDir = dir
	pkgs := map[string]string{"hostile": "./testdata/hostile", "badabi": "./testdata/badabi"}
	for n, p := range guestbuild.Stock {
		pkgs[n] = p
	}
	if err := guestbuild.Build(dir, pkgs); err != nil {
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
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

func batch(ops ...syncgate.Op) *syncgate.Batch {
	for i := range ops {
		ops[i].Index = i
		if ops[i].Data == nil && ops[i].Op != syncgate.Delete {
			ops[i].Data = syncgate.Doc{}
		}
	}
	return &syncgate.Batch{Ops: ops, Caller: syncgate.Caller{UserID: "alice"}, RequestID: "r1", Received: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func put(table, id string, data syncgate.Doc) syncgate.Op {
	return syncgate.Op{Op: syncgate.Put, Table: table, ID: id, Data: data}
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

// TestHostileGuests: each misbehaviour costs its op a clear rejection, the
// next call still works, and the pool is back to full size.
func TestHostileGuests(t *testing.T) {
	var out bytes.Buffer
	rt := newRuntime(t, Limits{MemoryMiB: 64, Timeout: 500 * time.Millisecond, MaxOutput: 64 << 10, LogCap: 1024}, &out)
	g := load(t, rt, "hostile", 2, nil)
	p := NewPipeline([]Stage{{Guest: g}}, 64)
	cases := []struct {
		table, code, reason string
	}{
		{"loop", "guest_failed", "deadline"},
		{"alloc", "guest_failed", ""}, // out of memory: a trap or, while the runtime thrashes, the deadline
		{"panic", "guest_failed", "panicked"},
		{"nil", "guest_failed", "failed"},
		{"bigoutput", "guest_failed", "limit"},
		{"badid", "guest_failed", "not the op's id"},
		{"operator", "guest_failed", "operator"},
	}
	for _, c := range cases {
		t.Run(c.table, func(t *testing.T) {
			acc, rej, err := p.Run(context.Background(), batch(put(c.table, "a", nil), put("fine", "b", nil)), nil)
			if err != nil {
				t.Fatal(err)
			}
			// A failed call costs every op of the call; bad data only its op.
			wantAcc := 0
			if c.table == "badid" || c.table == "operator" {
				wantAcc = 1
			}
			if len(acc) != wantAcc || len(rej) != 2-wantAcc {
				t.Fatalf("accepted %v rejected %v", acc, rej)
			}
			if string(rej[0].Code) != c.code || !strings.Contains(rej[0].Reason, c.reason) {
				t.Fatalf("rejection %+v, want code %s reason with %q", rej[0], c.code, c.reason)
			}
			waitFull(t, g)
			acc, rej, err = p.Run(context.Background(), batch(put("fine", "c", nil)), nil)
			if err != nil || len(acc) != 1 || len(rej) != 0 {
				t.Fatalf("the guest does not serve after %s: %v %v %v", c.table, acc, rej, err)
			}
		})
	}
	for _, table := range []string{"files", "env", "clock"} {
		t.Run(table, func(t *testing.T) {
			acc, rej, err := p.Run(context.Background(), batch(put(table, "a", nil)), nil)
			if err != nil || len(acc) != 1 {
				t.Fatalf("sandbox leak: %v %v", rej, err)
			}
		})
	}
	t.Run("stdout", func(t *testing.T) {
		out.Reset()
		acc, _, err := p.Run(context.Background(), batch(put("stdout", "a", nil)), nil)
		if err != nil || len(acc) != 1 {
			t.Fatalf("%v %v", acc, err)
		}
		if n := out.Len(); n > 4096 {
			t.Fatalf("4 MiB of guest stdout reached the log as %d bytes; cap is 1 KiB per call", n)
		}
	})
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
func TestHostileCallsMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("1000 instance replacements")
	}
	rt := newRuntime(t, Limits{MemoryMiB: 32, Timeout: 200 * time.Millisecond}, nil)
	g := load(t, rt, "hostile", 2, nil)
	p := NewPipeline([]Stage{{Guest: g}}, 64)
	// Guest linear memory is mmapped outside the Go heap: measure the
	// process's resident set.
	rss := func() int {
		runtime.GC()
		b, _ := os.ReadFile("/proc/self/status")
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) > 1 && f[0] == "VmRSS:" {
				kb, _ := strconv.Atoi(f[1])
				return kb >> 10
			}
		}
		t.Skip("no /proc/self/status")
		return 0
	}
	run := func(n int) {
		for range n {
			if _, rej, err := p.Run(context.Background(), batch(put("panic", "a", nil)), nil); err != nil || len(rej) != 1 {
				t.Fatalf("%v %v", rej, err)
			}
		}
	}
	run(100)
	waitFull(t, g)
	before := rss()
	run(1000)
	waitFull(t, g)
	after := rss()
	t.Logf("RSS before %d MiB, after 1000 hostile calls %d MiB; instances replaced %d", before, after, g.Stats().Replaced.Load())
	if after > before+128 {
		t.Fatalf("RSS grew from %d MiB to %d MiB over 1000 hostile calls (bound: +128 MiB)", before, after)
	}
}

func TestExampleGuestsInTheSandbox(t *testing.T) {
	rt := newRuntime(t, Limits{}, nil)
	owner := load(t, rt, "owner", 1, nil)
	stamps := load(t, rt, "timestamps", 1, nil)
	norm := load(t, rt, "normalize", 1, map[string]string{"lower": "email"})
	p := NewPipeline([]Stage{{Guest: norm}, {Guest: owner, Tables: map[string]bool{"lists": true}}, {Guest: stamps}}, 64)
	if !p.NeedsCurrent("lists") || !p.NeedsCurrent("todos") {
		t.Fatal("owner/timestamps need current documents")
	}
	b := batch(
		put("lists", "l1", syncgate.Doc{{Key: "name", Value: "  Shop  "}, {Key: "email", Value: "A@B.C"}}),
		syncgate.Op{Op: syncgate.Patch, Table: "lists", ID: "l2", Data: syncgate.Doc{{Key: "name", Value: "x"}}},
		syncgate.Op{Op: syncgate.Delete, Table: "lists", ID: "l3"},
	)
	current := map[string]map[string]syncgate.Doc{"lists": {
		"l2": {{Key: "owner_id", Value: "bob"}},
		"l3": {{Key: "owner_id", Value: "alice"}},
	}}
	acc, rej, err := p.Run(context.Background(), b, current)
	if err != nil {
		t.Fatal(err)
	}
	if len(rej) != 1 || rej[0].ID != "l2" || rej[0].Code != "forbidden" {
		t.Fatalf("rejections %+v: want l2 forbidden", rej)
	}
	if len(acc) != 2 {
		t.Fatalf("accepted %+v", acc)
	}
	got, _ := json.Marshal(acc[0].Data)
	for _, want := range []string{`"name":"Shop"`, `"email":"a@b.c"`, `"owner_id":"alice"`, `"updated_at":"2026-01-02T03:04:05Z"`, `"created_at":"2026-01-02T03:04:05Z"`} {
		if !strings.Contains(string(got), want) {
			t.Errorf("l1 data %s lacks %s", got, want)
		}
	}
}

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
	p := NewPipeline([]Stage{{Guest: g}}, 64)
	if _, rej, err := p.Run(context.Background(), batch(put("panic", "a", nil)), nil); err != nil || len(rej) != 1 {
		t.Fatalf("%v %v", rej, err)
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
