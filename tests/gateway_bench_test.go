package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/go-json-experiment/json/jsontext"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// The gateway benchmarks measure syncgate's own cost against a database
// that is not the bottleneck: mongostub, a wire-level stand-in that keeps
// documents in memory (so PATCH targets exist) and answers in microseconds,
// where the embedded FerretDB caps everything at a few hundred ops/s.
// Issue #17's figures: 8 concurrent clients posting batches of mixed
// PUT/PATCH/DELETE ~300-byte rows that alternate between lists and todos.
//
//	base: the raw driver, one ordered BulkWrite per collection per batch
//	      (inside one transaction on the replica-set path), 8 goroutines;
//	peer: the Go emulation of PowerSync's Node demo backend (perOpWrite:
//	      one driver round trip per op), in this process; stricter than
//	      the real thing, which is several times slower;
//	node: the real thing, tests/testdata/nodepeer: the Node demo backend's write
//	      path (Express, zod, one awaited mongodb-driver round trip per op)
//	      in a node process of its own, the same batches POSTed to it;
//	ours: POST /upload over HTTP with a verified token, the same ops.
//
// Reported per pair: ops/s and p99 batch latency (ms); task bench puts the
// ratios side by side.

const gatewayClients = 8

// gwOp is one op of a generated batch.
type gwOp struct {
	op, table, id string
	data          bson.D // nil for DELETE
}

// gwClient generates a client's batches: PUTs of new rows, PATCHes of rows
// it PUT in its previous batch, DELETEs of rows from the one before, on
// lists and todos in turn.
type gwClient struct {
	n, c     int
	prefix   string
	seq      int
	previous [][2]string // table, id: PUT in the last batch
	older    [][2]string // PUT in the batch before
}

func newGWClient(c, n int) *gwClient {
	// Ids must stay UUIDs for the schema gate whatever c grows to: the low
	// 16 bits of c in the fourth group, the rest at the head of the fifth.
	return &gwClient{n: n, c: c, prefix: fmt.Sprintf("7c1e9f0a-3d2b-4a8e-%04x", c&0xffff)}
}

var gwTables = [2]string{"lists", "todos"}

// gwUser is the benchmark's user: its token's subject, every list's owner
// and every todo's creator, so that the authorization gates allow every op.
const gwUser = "3f9a8c1e-2b7d-4e6f-9a1c-5d8e7f6a4b3c"

// gwParentLists are the lists the todos belong to, gwUser's: gate=scope
// stores them before a run (a todo is writable only in a list of the
// writer's), and a batch's todos name several, as a client's would.
var gwParentLists = func() []string {
	ids := make([]string, 8)
	for i := range ids {
		ids[i] = fmt.Sprintf("0b6f3a52-5a3c-4c59-9ac6-2f2b7f7c1b%02x", i)
	}
	return ids
}()

func (g *gwClient) row(table, id string, i int) bson.D {
	if table == "lists" {
		return bson.D{{Key: "created_at", Value: "2024-05-01 10:00:00"}, {Key: "name", Value: fmt.Sprintf("Groceries for the week ahead, list number %06d", i)},
			{Key: "owner_id", Value: gwUser}}
	}
	return bson.D{{Key: "created_at", Value: "2024-05-01 10:00:00"}, {Key: "description", Value: fmt.Sprintf("Buy oat milk, bread and coffee for the week ahead, item number %06d", i)},
		{Key: "completed", Value: int64(i % 2)}, {Key: "completed_at", Value: nil}, {Key: "created_by", Value: gwUser},
		{Key: "completed_by", Value: nil}, {Key: "list_id", Value: gwParentLists[i%len(gwParentLists)]}}
}

// next returns the next batch: 40 % PUT, 40 % PATCH, 20 % DELETE once the
// client has history (PUTs only before).
func (g *gwClient) next() []gwOp {
	var ops []gwOp
	var put [][2]string
	patches := min(len(g.previous), g.n*2/5)
	deletes := min(len(g.older), g.n/5)
	for i := 0; len(ops) < g.n; i++ {
		switch {
		case i < patches:
			t, id := g.previous[i][0], g.previous[i][1]
			ops = append(ops, gwOp{"PATCH", t, id, bson.D{{Key: map[string]string{"lists": "name", "todos": "description"}[t], Value: fmt.Sprintf("Renamed in batch %d, op %d of the client", g.seq, i)}}})
		case i < patches+deletes:
			t, id := g.older[i-patches][0], g.older[i-patches][1]
			ops = append(ops, gwOp{"DELETE", t, id, nil})
		default:
			g.seq++
			t := gwTables[g.seq%2]
			id := fmt.Sprintf("%s-%04x%08d", g.prefix, (g.c>>16)&0xffff, g.seq)
			ops = append(ops, gwOp{"PUT", t, id, g.row(t, id, g.seq)})
			put = append(put, [2]string{t, id})
		}
	}
	// Interleave kinds and tables the way a client's queue would.
	slices.SortStableFunc(ops, func(a, b gwOp) int { return strings.Compare(a.id[len(a.id)-3:], b.id[len(b.id)-3:]) })
	g.older, g.previous = g.previous, put
	return ops
}

// gwBody is the /upload request for ops, appended by hand: the load
// generator shares the CPUs with what it measures, so it should cost as
// little as the baseline's (which builds bson.D models).
func gwBody(ops []gwOp) []byte {
	b := make([]byte, 0, 64+len(ops)*320)
	b = append(b, `{"batch":[`...)
	for i, o := range ops {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"op":"`...)
		b = append(b, o.op...)
		b = append(b, `","table":"`...)
		b = append(b, o.table...)
		b = append(b, `","id":`...)
		b, _ = jsontext.AppendQuote(b, o.id)
		if o.data != nil {
			b = append(b, `,"data":{`...)
			for j, e := range o.data {
				if j > 0 {
					b = append(b, ',')
				}
				b, _ = jsontext.AppendQuote(b, e.Key)
				b = append(b, ':')
				switch v := e.Value.(type) {
				case string:
					b, _ = jsontext.AppendQuote(b, v)
				case int64:
					b = strconv.AppendInt(b, v, 10)
				case nil:
					b = append(b, "null"...)
				default:
					panic(fmt.Sprintf("gwBody: %T", v))
				}
			}
			b = append(b, '}')
		}
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

// rawWrite is the baseline: one ordered BulkWrite per collection, in the
// batch's order within each collection (ops on different collections
// commute), optionally in one transaction.
func rawWrite(ctx context.Context, cl *mongo.Client, db *mongo.Database, ops []gwOp, txn bool) error {
	write := func(ctx context.Context) error {
		var order []string
		models := map[string][]mongo.WriteModel{}
		for _, o := range ops {
			if _, ok := models[o.table]; !ok {
				order = append(order, o.table)
			}
			var m mongo.WriteModel
			switch o.op {
			case "PUT":
				m = mongo.NewReplaceOneModel().SetFilter(bson.D{{Key: "_id", Value: o.id}}).SetReplacement(o.data).SetUpsert(true)
			case "PATCH":
				m = mongo.NewUpdateOneModel().SetFilter(bson.D{{Key: "_id", Value: o.id}}).SetUpdate(bson.D{{Key: "$set", Value: o.data}})
			default:
				m = mongo.NewDeleteOneModel().SetFilter(bson.D{{Key: "_id", Value: o.id}})
			}
			models[o.table] = append(models[o.table], m)
		}
		for _, t := range order {
			if _, err := db.Collection(t).BulkWrite(ctx, models[t]); err != nil {
				return err
			}
		}
		return nil
	}
	if !txn {
		return write(ctx)
	}
	sess, err := cl.StartSession()
	if err != nil {
		return err
	}
	defer sess.EndSession(ctx)
	_, err = sess.WithTransaction(ctx, func(ctx context.Context) (any, error) { return nil, write(ctx) })
	return err
}

// perOpWrite is the Go emulation of how PowerSync's Node demo backend
// applies a batch: one driver call, one round trip, per op, in order (an
// upserting replace where the demo inserts). Without the demo's HTTP
// framework, validation and JavaScript it is a stricter peer than the real
// one (tests/testdata/nodepeer, the /node runs), several times faster.
func perOpWrite(ctx context.Context, db *mongo.Database, ops []gwOp) error {
	for _, o := range ops {
		coll := db.Collection(o.table)
		var err error
		switch o.op {
		case "PUT":
			_, err = coll.ReplaceOne(ctx, bson.D{{Key: "_id", Value: o.id}}, o.data, options.Replace().SetUpsert(true))
		case "PATCH":
			_, err = coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: o.id}}, bson.D{{Key: "$set", Value: o.data}})
		default:
			_, err = coll.DeleteOne(ctx, bson.D{{Key: "_id", Value: o.id}})
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// runClients runs b.N batches over gatewayClients goroutines with do and
// reports ops/s and the p99 batch latency.
func runClients(b *testing.B, db *stubProcess, batch, nClients int, do func(c *gwClient) error) {
	runClientsBeside(b, db, batch, nClients, nil, nil, do)
}

// runClientsBeside is runClients with the server in another process (node,
// when not nil): its CPU time and RSS count with this process's, so that
// cpu-µs/op and MiB-peak-RSS cover clients, server and stand-in as they do
// when all three share this process. Without /proc to read node's CPU
// time from, cpu-µs/op is left out. atStart, when not nil, runs once the
// clients have their history, just before the measured batches. db, the
// stand-in the writes go to, in a process of its own, counts in cpu-µs/op
// and MiB-peak-RSS too, and its CPU time alone is db-cpu-µs/op: the
// database's work, beside the rest (clients and server).
func runClientsBeside(b *testing.B, db *stubProcess, batch, nClients int, node *nodePeer, atStart func(), do func(c *gwClient) error) {
	clients := make([]*gwClient, nClients)
	for c := range clients {
		clients[c] = newGWClient(c+int(benchSeq.Add(1))*64, batch)
		for range 2 { // history for PATCH and DELETE
			if err := do(clients[c]); err != nil {
				b.Fatal(err)
			}
		}
	}
	var left atomic.Int64
	left.Store(int64(b.N))
	lat := make([][]time.Duration, nClients)
	var wg sync.WaitGroup
	var failed atomic.Value
	if atStart != nil {
		atStart()
	}
	b.ResetTimer()
	rss := rssMiB
	cpuOK := true
	dbCPU := func() time.Duration {
		if db == nil {
			return 0
		}
		d, ok := db.cpuTime()
		cpuOK = cpuOK && ok
		return d
	}
	cpuNow := func() time.Duration {
		d := cpuTime() + dbCPU()
		if node != nil {
			p, ok := node.cpuTime()
			cpuOK = cpuOK && ok
			d += p
		}
		return d
	}
	rss = func() int {
		n := rssMiB()
		if node != nil {
			n += node.rssMiB()
		}
		if db != nil {
			n += db.rssMiB()
		}
		return n
	}
	peak := sampleRSS(rss)
	db0 := dbCPU()
	cpu0 := cpuNow()
	start := time.Now()
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for left.Add(-1) >= 0 {
				t0 := time.Now()
				if err := do(clients[c]); err != nil {
					failed.Store(err)
					return
				}
				lat[c] = append(lat[c], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu := cpuNow() - cpu0
	dbUsed := dbCPU() - db0
	peakRSS := peak()
	b.StopTimer()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	b.ReportMetric(float64(b.N*batch)/elapsed.Seconds(), "ops/s")
	// The process's CPU time per op (clients, server and stand-in alike):
	// what the throughput costs, and a figure other load on the machine
	// barely moves.
	if cpuOK {
		b.ReportMetric(float64(cpu.Microseconds())/float64(b.N*batch), "cpu-µs/op")
	}
	if db != nil && cpuOK {
		b.ReportMetric(float64(dbUsed.Microseconds())/float64(b.N*batch), "db-cpu-µs/op")
	}
	// Peak RSS of the whole process (clients, server and the stand-in with
	// its documents) while the clients ran.
	b.ReportMetric(float64(peakRSS), "MiB-peak-RSS")
	if len(all) > 0 {
		b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
	}
}

// BenchmarkGateway: see the top of this file and gwGates; path=standalone
// or replset (one transaction per batch). peer and node run beside none
// and schemas only: they do not depend on the gate.
func BenchmarkGateway(b *testing.B) {
	schemas := b.TempDir()
	for _, f := range []string{"_common.json", "lists.json", "todos.json"} {
		data, err := os.ReadFile(filepath.Join("testdata", "bench-schemas", f))
		if err != nil {
			b.Fatal(err)
		}
		os.WriteFile(filepath.Join(schemas, f), data, 0o644)
	}
	for _, path := range []string{"standalone", "replset"} {
		var node *nodePeer // started by the first /node run
		b.Cleanup(func() {
			if node != nil {
				node.stop()
			}
		})
		set := ""
		if path == "replset" {
			set = "rs0"
		}
		// The stand-in in a process of its own, as a database is: its CPU
		// time is the database's share (db-cpu-µs/op), and its documents
		// are not in the heap the benchmark's garbage collector scans.
		stub := startStubProcess(b, set)
		cl, err := mongo.Connect(options.Client().ApplyURI(stub.uri).SetTimeout(30 * time.Second))
		if err != nil {
			b.Fatal(err)
		}
		// forget empties the stand-in before each run: it keeps every
		// document in memory, and what the runs before left (the ramp-up
		// runs too) grew the heap its garbage collector scans under the
		// later runs, "ours" always the last of a pair.
		forget := func(b *testing.B) {
			for _, d := range []string{"gw_raw", "gw_peer", "gw_node", "gw_ours"} {
				for _, c := range gwTables {
					if err := cl.Database(d).Collection(c).Drop(context.Background()); err != nil {
						b.Fatal(err)
					}
				}
			}
			runtime.GC()
		}
		for _, gate := range gwGates {
			if !gwGateWanted(path, gate) {
				continue // none of its runs match -test.bench: no server to start
			}
			env := gwEnv(b, stub.uri, gate, schemas)
			a := start(b, env)
			token := devToken(b, a.url, gwUser)
			hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: gatewayClients * 2}}
			if gate != "none" && gate != "schemas" {
				requireForbidden(b, hc, a.url, token)
			}
			for _, n := range []int{1, 10, 100} {
				name := fmt.Sprintf("path=%s/gate=%s/batch=%d", path, gate, n)
				b.Run(name+"/base", func(b *testing.B) {
					forget(b)
					db := cl.Database("gw_raw")
					runClients(b, stub, n, gatewayClients, func(c *gwClient) error {
						return rawWrite(context.Background(), cl, db, c.next(), path == "replset")
					})
				})
				if path == "standalone" && (gate == "none" || gate == "schemas") {
					b.Run(name+"/peer", func(b *testing.B) {
						forget(b)
						db := cl.Database("gw_peer")
						runClients(b, stub, n, gatewayClients, func(c *gwClient) error { return perOpWrite(context.Background(), db, c.next()) })
					})
					b.Run(name+"/node", func(b *testing.B) {
						if node == nil {
							node = startNodePeer(stub.uri, "gw_node")
						}
						if node.skip != "" {
							b.Skip(node.skip)
						}
						if node.err != nil {
							b.Fatal(node.err)
						}
						forget(b)
						runClientsBeside(b, stub, n, gatewayClients, node, nil, func(c *gwClient) error {
							return postNode(node.hc, node.url, gwBody(c.next()))
						})
					})
				}
				b.Run(name+"/ours", func(b *testing.B) {
					forget(b)
					if gate == "scope" {
						storeParentLists(b, cl.Database("gw_ours"))
					}
					var before stageTimes
					runClientsBeside(b, stub, n, gatewayClients, nil, func() { before = readStageTimes(b, a.url) }, func(c *gwClient) error {
						return postBatch(hc, a.url, token, c.next())
					})
					readStageTimes(b, a.url).since(before).report(b, b.N*n, gwStages(gate))
				})
			}
			if path == "standalone" && gate == "schemas" {
				// Issue #17's memory target: 16 clients at full speed
				// through the schema gate (MiB-peak-RSS).
				b.Run("path=standalone/gate=schemas/batch=100/clients=16", func(b *testing.B) {
					// The server in a process of its own: its peak RSS
					// (server-MiB-peak-RSS) is the target's figure.
					srv := startProcess(b, env)
					stoken := devToken(b, srv.url, gwUser)
					// Start from what the process needs, and give the
					// memory back to the OS.
					forget(b)
					debug.FreeOSMemory()
					peak := sampleRSS(srv.rssMiB)
					runClients(b, stub, 100, 16, func(c *gwClient) error {
						return postBatch(hc, srv.url, stoken, c.next())
					})
					b.ReportMetric(float64(peak()), "server-MiB-peak-RSS")
				})
			}
			a.stop(b)
		}
		if node != nil {
			node.stop()
		}
		cl.Disconnect(context.Background())
		stub.stop()
	}
}

// sampleRSS samples an RSS (rss, in MiB) every 20 ms until the returned
// func is called, which returns the peak.
func sampleRSS(rss func() int) func() int {
	stop, done := make(chan struct{}), make(chan int)
	go func() {
		peak := rss()
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				done <- max(peak, rss())
				return
			case <-t.C:
				peak = max(peak, rss())
			}
		}
	}()
	return func() int { close(stop); return <-done }
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// devToken gets user's PowerSync token from a server in development token
// mode.
func devToken(t testing.TB, url, user string) string {
	t.Helper()
	resp, err := http.Get(url + "/token?user_id=" + user)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ Token string }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.Token == "" {
		t.Fatalf("token: %v (status %d)", err, resp.StatusCode)
	}
	return out.Token
}

// postBatch posts ops as one /upload and requires every op applied: an
// op rejected (a gate's denial too) fails the benchmark, whose figure
// would otherwise count work not done.
func postBatch(hc *http.Client, url, token string, ops []gwOp) error {
	req, _ := http.NewRequest("POST", url+"/upload", bytes.NewReader(gwBody(ops)))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || bytes.Contains(out, []byte(`"rejected":[{`)) || !bytes.Contains(out, []byte(`"applied":`+strconv.Itoa(len(ops))+`,`)) {
		return fmt.Errorf("upload of %d ops: %d %s", len(ops), resp.StatusCode, out)
	}
	return nil
}
