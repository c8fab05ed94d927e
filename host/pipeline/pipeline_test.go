package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syncgate/syncgate/host/sandbox"
	"github.com/syncgate/syncgate/host/syncgate"
	"github.com/syncgate/syncgate/internal/guestbuild"
)

// The pipeline runs real guests in the real sandbox: the stock guests and
// the sandbox's hostile test guest, built once for this package.

var wasmDir string

func TestMain(m *testing.M) {
	os.Exit(guestbuild.Run(m, guestbuild.With(map[string]string{"hostile": "../sandbox/testdata/hostile"}), &wasmDir))
}

func newRuntime(t testing.TB, lim sandbox.Limits, out *bytes.Buffer) *sandbox.Runtime {
	cfg := sandbox.RuntimeConfig{CacheDir: filepath.Join(os.TempDir(), "syncgate-test-wazero-cache"), Limits: lim}
	if out != nil {
		cfg.Output = &lockedWriter{w: out}
	}
	rt, err := sandbox.NewRuntime(context.Background(), cfg)
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

func load(t testing.TB, rt *sandbox.Runtime, name string, pool int, settings map[string]string, mounts ...sandbox.Mount) *sandbox.Guest {
	wasm, err := os.ReadFile(filepath.Join(wasmDir, name+".wasm"))
	if err != nil {
		t.Fatal(err)
	}
	g, err := rt.Load(context.Background(), sandbox.GuestConfig{Name: name, Path: name + ".wasm", Wasm: wasm, Pool: pool, Settings: settings, Mounts: mounts})
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
func waitFull(t *testing.T, g *sandbox.Guest) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for g.Idle() < g.PoolSize() {
		if time.Now().After(deadline) {
			t.Fatalf("pool of %s has %d/%d instances after 30s", g.Name(), g.Idle(), g.PoolSize())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// todoBatch is n PUTs of ~300-byte todo rows.
func todoBatch(n int) *syncgate.Batch {
	ops := make([]syncgate.Op, n)
	for i := range ops {
		ops[i] = syncgate.Op{Index: i, Op: syncgate.Put, Table: "todos", ID: fmt.Sprintf("7c1e9f0a-3d2b-4a8e-b6f1-%012d", i), Data: syncgate.Doc{
			{Key: "created_at", Value: "2024-05-01 10:00:00"}, {Key: "description", Value: fmt.Sprintf("Buy oat milk, bread and coffee for the week ahead, item number %06d", i)},
			{Key: "completed", Value: int64(i % 2)}, {Key: "completed_at", Value: nil}, {Key: "created_by", Value: "3f9a8c1e-2b7d-4e6f-9a1c-5d8e7f6a4b3c"},
			{Key: "completed_by", Value: nil}, {Key: "list_id", Value: "0b6f3a52-5a3c-4c59-9ac6-2f2b7f7c1b10"}}}
	}
	return &syncgate.Batch{Ops: ops, Caller: syncgate.Caller{UserID: "alice"}, RequestID: "bench", Received: time.Unix(1700000000, 0).UTC()}
}

// TestHostileGuests: each misbehaviour costs its op a clear rejection, the
// next call still works, and the pool is back to full size.
func TestHostileGuests(t *testing.T) {
	var out bytes.Buffer
	rt := newRuntime(t, sandbox.Limits{MemoryMiB: 64, Timeout: 500 * time.Millisecond, MaxOutput: 64 << 10, LogCap: 1024}, &out)
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

func TestHostileCallsMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("1000 instance replacements")
	}
	rt := newRuntime(t, sandbox.Limits{MemoryMiB: 32, Timeout: 200 * time.Millisecond}, nil)
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
	rt := newRuntime(t, sandbox.Limits{}, nil)
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

// TestRejectTransaction: a verdict with reject_tx takes the batch's other
// ops of the same tx_id with it (earlier and later ones, whichever stage),
// and leaves other transactions and ops without a tx_id alone.
func TestRejectTransaction(t *testing.T) {
	rt := newRuntime(t, sandbox.Limits{}, nil)
	g := load(t, rt, "hostile", 1, nil)
	echo := load(t, rt, "echo", 1, nil)
	p := NewPipeline([]Stage{{Guest: g, Tables: map[string]bool{"rejecttx": true}}, {Guest: echo}}, 64)
	ops := []syncgate.Op{
		put("other", "a", nil),    // tx 1, another table: still rejected
		put("rejecttx", "b", nil), // tx 1
		put("rejecttx", "bad", nil),
		put("rejecttx", "c", nil), // tx 2
		put("rejecttx", "d", nil), // no tx
		put("rejecttx", "bad", nil),
	}
	for i, tx := range []any{int64(1), int64(1), int64(1), int64(2), nil, nil} {
		ops[i].TxID = tx
	}
	accepted, rejected, err := p.Run(t.Context(), batch(ops...), nil)
	if err != nil {
		t.Fatal(err)
	}
	got := map[int]syncgate.Code{}
	for _, r := range rejected {
		got[r.Index] = r.Code
	}
	want := map[int]syncgate.Code{0: syncgate.CodeTransactionRejected, 1: syncgate.CodeTransactionRejected, 2: "bad_tx", 5: "bad_tx"}
	if len(got) != len(want) {
		t.Fatalf("rejected %v, want %v", rejected, want)
	}
	for i, c := range want {
		if got[i] != c {
			t.Errorf("op %d: got %q, want %q (all: %v)", i, got[i], c, rejected)
		}
	}
	if len(accepted) != 2 || accepted[0].ID != "c" || accepted[1].ID != "d" {
		t.Fatalf("accepted %v, want c and d", accepted)
	}
}

// BenchmarkPipelineParallel runs the schema gate over batches of 10 from 1
// and 2 concurrent callers (pool of 2): throughput must scale with cores.
func BenchmarkPipelineParallel(b *testing.B) {
	schemas, _ := filepath.Abs("../../tests/testdata/schemas")
	rt := newRuntime(b, sandbox.Limits{}, nil)
	g := load(b, rt, "schemagate", 2, nil, sandbox.Mount{HostDir: schemas, GuestPath: "/schemas"})
	p := NewPipeline([]Stage{{Guest: g}}, 64)
	batch := todoBatch(10)
	for _, callers := range []int{1, 2} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
			var wg sync.WaitGroup
			per := b.N/callers + 1
			b.ResetTimer()
			for range callers {
				wg.Go(func() {
					for range per {
						if _, _, err := p.Run(context.Background(), batch, nil); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(per*callers*len(batch.Ops))/b.Elapsed().Seconds(), "ops/s")
		})
	}
}

// TestCurrentFieldsFromGuests: the stock authorize guest narrows stored
// documents to the fields its rules read (guest.Info.CurrentFields); a
// guest that reads them whole, a sync config beside the rules, and a
// PATCH the schema gate checks over its stored document widen them back.
func TestCurrentFieldsFromGuests(t *testing.T) {
	rt := newRuntime(t, sandbox.Limits{}, nil)
	rules, _ := filepath.Abs("../../tests/testdata/bench-rules")
	schemas, _ := filepath.Abs("../../tests/testdata/schemas")
	syncDir, _ := filepath.Abs("../../tests/testdata")
	authorize := load(t, rt, "authorize", 1, nil, sandbox.Mount{HostDir: rules, GuestPath: "/rules"})
	gate := load(t, rt, "schemagate", 1, nil, sandbox.Mount{HostDir: schemas, GuestPath: "/schemas"})
	owner := load(t, rt, "owner", 1, nil)
	check := func(name string, p *Pipeline, table string, patch bool, want string) {
		t.Helper()
		fields, whole := p.CurrentFields(table, patch)
		if got := fmt.Sprint(fields, whole); got != want {
			t.Errorf("%s: CurrentFields(%s, patch %v) = %s, want %s", name, table, patch, got, want)
		}
	}
	alone := NewPipeline([]Stage{{Guest: authorize}}, 64)
	// lists: the member role judges unnamed fields (additional_fields
	// false), so which fields a PUT changes needs the whole document.
	check("authorize", alone, "lists", false, "[] true")
	check("authorize", alone, "todos", true, "[completed_by created_by] false")
	check("authorize", alone, "notes", false, "[] true") // no rules file and no default: not narrowed
	withGate := NewPipeline([]Stage{{Guest: authorize}, {Guest: gate}}, 64)
	check("with the schema gate", withGate, "todos", false, "[completed_by created_by] false")
	check("with the schema gate", withGate, "todos", true, "[] true")
	withOwner := NewPipeline([]Stage{{Guest: authorize}, {Guest: owner, Tables: map[string]bool{"todos": true}}}, 64)
	check("with owner", withOwner, "todos", false, "[] true")
	syncCopy := t.TempDir()
	if b, err := os.ReadFile(filepath.Join(syncDir, "bench-sync-streams.yaml")); err != nil {
		t.Fatal(err)
	} else if err := os.WriteFile(filepath.Join(syncCopy, "sync-config.yaml"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	scoped := load(t, rt, "authorize", 1, nil, sandbox.Mount{HostDir: rules, GuestPath: "/rules"}, sandbox.Mount{HostDir: syncCopy, GuestPath: "/sync"})
	check("rules and sync scope", NewPipeline([]Stage{{Guest: scoped}}, 64), "todos", false, "[] true")
}
