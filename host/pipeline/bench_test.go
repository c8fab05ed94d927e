package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/syncgate/syncgate/guest/guesttest"
	"github.com/syncgate/syncgate/guest/schemagate/schemaset"
	"github.com/syncgate/syncgate/host/sandbox"
	"github.com/syncgate/syncgate/host/strictjson"
	"github.com/syncgate/syncgate/host/syncgate"
)

// BenchmarkGuest/<name>/wasm pairs with BenchmarkGuest/<name>/native in the
// guest's package. Native: the guest's logic run by guest.Process on the
// Request JSON (decode, handler per op, encode the Response), what the
// host would spend on the check without a sandbox. Wasm: the same ops as
// syncgate runs them, one Pipeline.Run of one stage: the host encodes the
// Request (the rows form: guest package comment), the guest runs in the
// sandbox with deadlines enforced, the host decodes and checks the Response
// and applies the verdicts. Both report ns/op-in-batch over batches of 100.
func BenchmarkGuest(b *testing.B) {
	schemas, _ := filepath.Abs("../../tests/testdata/schemas")
	rules, _ := filepath.Abs("../../guest/authorize/testdata/bench")
	for _, c := range []struct {
		name   string
		mounts []sandbox.Mount
	}{
		{"owner", nil},
		{"timestamps", nil},
		{"normalize", nil},
		{"schemagate", []sandbox.Mount{{HostDir: schemas, GuestPath: "/schemas"}}},
		// Write authorization on the same rows: a role that does not apply,
		// then a document filter and three field rules (guest/authorize's
		// BenchmarkGuest is the native side).
		{"authorize", []sandbox.Mount{{HostDir: rules, GuestPath: "/rules"}}},
	} {
		b.Run(c.name+"/wasm", func(b *testing.B) { benchRun(b, c.name, nil, c.mounts, guesttest.TodoRequest(100)) })
	}
	// The conflict policies, over PATCHes with stored documents and old values.
	for _, name := range []string{"lww", "version", "transitions", "increments"} {
		s := guesttest.PolicySettings[name]
		b.Run(name+"/wasm", func(b *testing.B) { benchRun(b, name, s, nil, guesttest.PolicyRequest(100, s)) })
	}
}

// BenchmarkSchemaGate is the schema gate's speed target, per op in batches
// of 100 todos rows: jsonschema/v5 natively on the same documents (base:
// the Request JSON decoded with encoding/json, each row validated with the
// same compiled schemas) against the stock guest as syncgate runs it (ours:
// BenchmarkGuest/schemagate/wasm's whole pipeline stage with deadlines
// enforced: encode, call, decode).
func BenchmarkSchemaGate(b *testing.B) {
	dir, _ := filepath.Abs("../../tests/testdata/schemas")
	req := guesttest.TodoRequest(100)
	set, err := schemaset.Load(os.DirFS(dir))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("base", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var r struct {
				Ops []struct {
					Table, ID string
					Data      map[string]any
				}
			}
			dec := json.NewDecoder(bytes.NewReader(req))
			dec.UseNumber()
			if err := dec.Decode(&r); err != nil || len(r.Ops) != 100 {
				b.Fatal(err)
			}
			for _, op := range r.Ops {
				op.Data["id"] = op.ID
				if v := set.Validate(op.Table, op.Data); len(v) > 0 {
					b.Fatal(v)
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*100), "ns/op-in-batch")
	})
	b.Run("ours", func(b *testing.B) {
		benchRun(b, "schemagate", nil, []sandbox.Mount{{HostDir: dir, GuestPath: "/schemas"}}, req)
	})
}

// benchRun runs the ops of a guesttest Request through guest name as one
// pipeline stage; every op must be accepted.
func benchRun(b *testing.B, name string, settings map[string]string, mounts []sandbox.Mount, req []byte) {
	batch, current := batchOf(b, req)
	rt := newRuntime(b, sandbox.Limits{}, nil)
	p := NewPipeline([]Stage{{Guest: load(b, rt, name, 1, settings, mounts...)}}, 64)
	b.ReportAllocs()
	cpu0, runs := cpuTime(b), 0
	for b.Loop() {
		runs++
		accepted, rejected, err := p.Run(context.Background(), batch, current)
		if err != nil || len(rejected) > 0 || len(accepted) != len(batch.Ops) {
			b.Fatal(err, rejected)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(batch.Ops)), "ns/op-in-batch")
	// The process's CPU time too: on a machine others load, wall time per
	// op grows with the wait for a core, CPU time much less.
	b.ReportMetric(float64((cpuTime(b)-cpu0).Nanoseconds())/float64(runs*len(batch.Ops)), "cpu-ns/op-in-batch")
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// batchOf turns a guesttest Request into the batch and stored documents
// the host would hold for it, decoded as upload decodes client data.
func batchOf(b testing.TB, req []byte) (*syncgate.Batch, map[string]map[string]syncgate.Doc) {
	var r struct {
		RequestID string `json:"request_id"`
		Now       time.Time
		Caller    syncgate.Caller
		Ops       []struct {
			Index              int
			Op, Table, ID      string
			Data, Current, Old json.RawMessage
			OpID               json.RawMessage `json:"op_id"`
			TxID               json.RawMessage `json:"tx_id"`
			Exists             bool
		}
	}
	if err := json.Unmarshal(req, &r); err != nil {
		b.Fatal(err)
	}
	doc := func(raw json.RawMessage) syncgate.Doc {
		if raw == nil {
			return nil
		}
		d, err := strictjson.DecodeData(raw, 64)
		if err != nil {
			b.Fatal(err)
		}
		return d
	}
	scalar := func(raw json.RawMessage) any {
		if raw == nil {
			return nil
		}
		v, _ := doc(json.RawMessage(`{"v":` + string(raw) + `}`)).Get("v")
		return v
	}
	batch := &syncgate.Batch{RequestID: r.RequestID, Caller: r.Caller, Received: r.Now}
	current := map[string]map[string]syncgate.Doc{}
	for _, o := range r.Ops {
		batch.Ops = append(batch.Ops, syncgate.Op{Index: o.Index, Op: syncgate.OpType(o.Op), Table: o.Table, ID: o.ID,
			Data: doc(o.Data), Old: doc(o.Old), OpID: scalar(o.OpID), TxID: scalar(o.TxID)})
		if o.Exists {
			if current[o.Table] == nil {
				current[o.Table] = map[string]syncgate.Doc{}
			}
			current[o.Table][o.ID] = doc(o.Current)
		}
	}
	return batch, current
}

var update = flag.Bool("update", false, "rewrite guest/guesttest/testdata/todos-rows.bin")

// TestTodoRowsFile: guesttest.TodoRows, the rows-form Request guests'
// native BenchmarkGuest/<name>/rows read, is what encodeRows writes for
// guesttest.TodoRequest's batch (go test -run TestTodoRowsFile -update
// rewrites it after a change to the rows form).
func TestTodoRowsFile(t *testing.T) {
	batch, current := batchOf(t, guesttest.TodoRequest(guesttest.TodoRowsOps))
	idx := make([]int, len(batch.Ops))
	for i := range idx {
		idx[i] = i
	}
	got, err := encodeRows(batch, batch.Received, nil, batch.Ops, idx, current)
	if err != nil {
		t.Fatal(err)
	}
	const file = "../../guest/guesttest/testdata/todos-rows.bin"
	if *update {
		if err := os.WriteFile(file, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return // guesttest embeds the file: the next build reads it
	}
	if want := guesttest.TodoRows(); !bytes.Equal(got, want) {
		t.Fatalf("%s (%d bytes) is not what encodeRows writes (%d bytes): run go test ./host/pipeline -run TestTodoRowsFile -update", file, len(want), len(got))
	}
}

var abWasm = flag.String("ab", "", "TestGuestAB: other builds of the authorize guest (.wasm files, comma-separated) to time beside guest/bin's")

// TestGuestAB times the schema gate, the authorize guest and the builds of
// it given with -ab in one process, in alternating windows (each the least
// of 5 pipeline runs of a batch of 100 ops), and logs each one's median
// time per op-in-batch and the median of its per-window ratio to the schema
// gate: this machine's speed moves between runs by more than a change to a
// guest (docs/design.md, "The schema gate proves rows valid from their
// bytes"). Two request kinds, each timed on its own: 100 todos PUTs with
// guest/authorize/testdata/bench's rules (BenchmarkGuest/authorize/wasm),
// and the gateway's mix with its rules (BenchmarkGuest/authorize/mix/wasm).
// Skipped without -ab.
func TestGuestAB(t *testing.T) {
	if *abWasm == "" {
		t.Skip("a measurement: run with -ab old.wasm[,…] -v")
	}
	schemas, _ := filepath.Abs("../../tests/testdata/schemas")
	benchRules, _ := filepath.Abs("../../guest/authorize/testdata/bench")
	gwRules, _ := filepath.Abs("../../tests/testdata/bench-rules")
	rt := newRuntime(t, sandbox.Limits{}, nil)
	var builds [][]byte
	files := strings.Split(*abWasm, ",")
	for _, file := range files {
		wasm, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		builds = append(builds, wasm)
	}
	for _, kind := range []struct {
		name  string
		rules string
		req   []byte
	}{
		{"todos PUTs", benchRules, guesttest.TodoRequest(100)},
		{"mix", gwRules, guesttest.MixRequest(100)},
	} {
		t.Run(strings.ReplaceAll(kind.name, " ", "_"), func(t *testing.T) {
			abTime(t, rt, schemas, kind.rules, kind.req, files, builds)
		})
	}
}

// abTime is TestGuestAB for one request kind.
func abTime(t *testing.T, rt *sandbox.Runtime, schemas, rules string, req []byte, files []string, builds [][]byte) {
	batch, current := batchOf(t, req)
	type entry struct {
		name string
		p    *Pipeline
		per  []float64 // ns per op-in-batch, by window
	}
	stage := func(g *sandbox.Guest) *Pipeline { return NewPipeline([]Stage{{Guest: g}}, 64) }
	entries := []*entry{
		{name: "schemagate", p: stage(load(t, rt, "schemagate", 1, nil, sandbox.Mount{HostDir: schemas, GuestPath: "/schemas"}))},
		{name: "authorize", p: stage(load(t, rt, "authorize", 1, nil, sandbox.Mount{HostDir: rules, GuestPath: "/rules"}))},
	}
	for i, file := range files {
		g, err := rt.Load(context.Background(), sandbox.GuestConfig{Name: "authorize", Path: file, Wasm: builds[i], Pool: 1,
			Mounts: []sandbox.Mount{{HostDir: rules, GuestPath: "/rules"}}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { g.Close(context.Background()) })
		entries = append(entries, &entry{name: file, p: stage(g)})
	}
	const windows, runs = 100, 5
	for w := range windows {
		for i := range entries {
			e := entries[(i+w)%len(entries)] // each in every place of the order
			best := time.Duration(1 << 62)
			for range runs {
				start := time.Now()
				accepted, rejected, err := e.p.Run(context.Background(), batch, current)
				if d := time.Since(start); d < best {
					best = d
				}
				if err != nil || len(rejected) > 0 || len(accepted) != len(batch.Ops) {
					t.Fatal(e.name, err, rejected)
				}
			}
			e.per = append(e.per, float64(best.Nanoseconds())/float64(len(batch.Ops)))
		}
	}
	median := func(x []float64) float64 {
		x = slices.Clone(x)
		slices.Sort(x)
		return x[len(x)/2]
	}
	for _, e := range entries {
		ratios := make([]float64, windows)
		for w := range ratios {
			ratios[w] = e.per[w] / entries[0].per[w]
		}
		t.Logf("%-40s %7.0f ns/op-in-batch (median of %d windows), %.2f× the schema gate (median ratio; range %.2f–%.2f)",
			e.name, median(e.per), windows, median(ratios), slices.Min(ratios), slices.Max(ratios))
	}
}
