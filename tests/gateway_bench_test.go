package tests

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
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

	"github.com/syncgate/syncgate/tests/internal/mongostub"
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

func (g *gwClient) row(table, id string, i int) bson.D {
	if table == "lists" {
		return bson.D{{Key: "created_at", Value: "2024-05-01 10:00:00"}, {Key: "name", Value: fmt.Sprintf("Groceries for the week ahead, list number %06d", i)},
			{Key: "owner_id", Value: "3f9a8c1e-2b7d-4e6f-9a1c-5d8e7f6a4b3c"}}
	}
	return bson.D{{Key: "created_at", Value: "2024-05-01 10:00:00"}, {Key: "description", Value: fmt.Sprintf("Buy oat milk, bread and coffee for the week ahead, item number %06d", i)},
		{Key: "completed", Value: int64(i % 2)}, {Key: "completed_at", Value: nil}, {Key: "created_by", Value: "3f9a8c1e-2b7d-4e6f-9a1c-5d8e7f6a4b3c"},
		{Key: "completed_by", Value: nil}, {Key: "list_id", Value: "0b6f3a52-5a3c-4c59-9ac6-2f2b7f7c1b10"}}
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
func runClients(b *testing.B, batch, nClients int, do func(c *gwClient) error) {
	runClientsBeside(b, batch, nClients, nil, do)
}

// runClientsBeside is runClients with the server in another process (node,
// when not nil): its CPU time and RSS count with this process's, so that
// cpu-µs/op and MiB-peak-RSS cover clients, server and stand-in as they do
// when all three share this process. Without /proc to read node's CPU
// time from, cpu-µs/op is left out.
func runClientsBeside(b *testing.B, batch, nClients int, node *nodePeer, do func(c *gwClient) error) {
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
	b.ResetTimer()
	rss := rssMiB
	cpuOK := true
	cpuNow := func() time.Duration {
		d := cpuTime()
		if node != nil {
			p, ok := node.cpuTime()
			cpuOK = cpuOK && ok
			d += p
		}
		return d
	}
	if node != nil {
		rss = func() int { return rssMiB() + node.rssMiB() }
	}
	peak := sampleRSS(rss)
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
	// Peak RSS of the whole process (clients, server and the stand-in with
	// its documents) while the clients ran.
	b.ReportMetric(float64(peakRSS), "MiB-peak-RSS")
	if len(all) > 0 {
		b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
	}
}

// BenchmarkGateway: see the top of this file. gate=none runs no guests
// (UPLOAD_TABLES lists the tables), gate=schemas the stock schema gate;
// path=standalone or replset (one transaction per batch).
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
		cfg := mongostub.Config{NoLog: true}
		var node *nodePeer // started by the first /node run
		b.Cleanup(func() {
			if node != nil {
				node.stop()
			}
		})
		if path == "replset" {
			cfg.SetName = "rs0"
		}
		stub, err := mongostub.Start(cfg)
		if err != nil {
			b.Fatal(err)
		}
		cl, err := mongo.Connect(options.Client().ApplyURI(stub.URI()).SetTimeout(30 * time.Second))
		if err != nil {
			b.Fatal(err)
		}
		// forget empties the stand-in before each run: it keeps every
		// document in this process, and what the runs before left (the
		// ramp-up runs too) grew the heap that the garbage collector scans
		// under the later runs, "ours" always the last of a pair.
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
		for _, gate := range []string{"none", "schemas"} {
			env := map[string]string{
				"ADDR":           "127.0.0.1:0",
				"MONGO_URI":      stub.URI(),
				"MONGO_DATABASE": "gw_ours",
				"SYNCGATE_DIR":   stateDir,
				"LOG_FORMAT":     "json",
				"SCHEMAS_DIR":    b.TempDir(),
				"UPLOAD_TABLES":  "lists,todos",
				"GUESTS_DIR":     guestsDir,
				"TOKEN_AUTH":     "dev",
			}
			if gate == "schemas" {
				env["SCHEMAS_DIR"] = schemas
				delete(env, "UPLOAD_TABLES")
			}
			a := start(b, env)
			token := devToken(b, a.url)
			hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: gatewayClients * 2}}
			for _, n := range []int{1, 10, 100} {
				name := fmt.Sprintf("path=%s/gate=%s/batch=%d", path, gate, n)
				b.Run(name+"/base", func(b *testing.B) {
					forget(b)
					db := cl.Database("gw_raw")
					runClients(b, n, gatewayClients, func(c *gwClient) error {
						return rawWrite(context.Background(), cl, db, c.next(), path == "replset")
					})
				})
				if path == "standalone" {
					b.Run(name+"/peer", func(b *testing.B) {
						forget(b)
						db := cl.Database("gw_peer")
						runClients(b, n, gatewayClients, func(c *gwClient) error { return perOpWrite(context.Background(), db, c.next()) })
					})
					b.Run(name+"/node", func(b *testing.B) {
						if node == nil {
							node = startNodePeer(stub.URI(), "gw_node")
						}
						if node.skip != "" {
							b.Skip(node.skip)
						}
						if node.err != nil {
							b.Fatal(node.err)
						}
						forget(b)
						runClientsBeside(b, n, gatewayClients, node, func(c *gwClient) error {
							return postNode(node.hc, node.url, gwBody(c.next()))
						})
					})
				}
				b.Run(name+"/ours", func(b *testing.B) {
					forget(b)
					runClients(b, n, gatewayClients, func(c *gwClient) error {
						return postBatch(hc, a.url, token, gwBody(c.next()))
					})
				})
			}
			if path == "standalone" && gate == "schemas" {
				// Issue #17's memory target: 16 clients at full speed
				// through the schema gate (MiB-peak-RSS).
				b.Run("path=standalone/gate=schemas/batch=100/clients=16", func(b *testing.B) {
					// The server in a process of its own: its peak RSS
					// (server-MiB-peak-RSS) is the target's figure.
					srv := startProcess(b, env)
					stoken := devToken(b, srv.url)
					// Start from what the process needs, and give the
					// memory back to the OS.
					forget(b)
					debug.FreeOSMemory()
					peak := sampleRSS(srv.rssMiB)
					runClients(b, 100, 16, func(c *gwClient) error {
						return postBatch(hc, srv.url, stoken, gwBody(c.next()))
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
		stub.Close()
	}
}

// nodePeer is tests/testdata/nodepeer, the write path of PowerSync's Node demo
// backend, running in a node process of its own for the /node runs. When it
// cannot run here, skip says why (no node or npm, a failed install) and
// err why it failed after starting.
type nodePeer struct {
	url      string
	hc       *http.Client
	cmd      *exec.Cmd
	stdin    io.Closer
	exited   chan struct{} // closed once the process is gone
	stderr   *syncBuffer
	stopOnce sync.Once
	skip     string
	err      error
}

// nodePeerDir is tests/testdata/nodepeer, from the tests package's directory.
const nodePeerDir = "testdata/nodepeer"

// startNodePeer installs tests/testdata/nodepeer's packages unless they are current
// and starts its server against the stand-in at mongoURI, in database db.
// It waits at most a few minutes in all; the process stops with stop, or
// by itself when this one dies (its stdin closes).
func startNodePeer(mongoURI, db string) *nodePeer {
	node, err := exec.LookPath("node")
	if err != nil {
		return &nodePeer{skip: "node is not on PATH: the /node runs need Node.js ≥ 18 and npm to run tests/testdata/nodepeer"}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	out, err := exec.CommandContext(ctx, node, "--version").Output()
	cancel()
	major, _ := strconv.Atoi(strings.TrimPrefix(strings.SplitN(strings.TrimSpace(string(out)), ".", 2)[0], "v"))
	if err != nil || major < 18 {
		return &nodePeer{skip: fmt.Sprintf("node --version: %q (%v): the /node runs need Node.js ≥ 18", bytes.TrimSpace(out), err)}
	}
	if err := nodePeerInstall(); err != nil {
		return &nodePeer{skip: err.Error()}
	}
	// The stand-in's URI with the peer's own database as its path, which is
	// where the demo's driver takes the database from.
	base, query, _ := strings.Cut(mongoURI, "?")
	uri := strings.TrimSuffix(base, "/") + "/" + db
	if query != "" {
		uri += "?" + query
	}
	p := &nodePeer{
		hc:     &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: gatewayClients * 2}},
		exited: make(chan struct{}),
		stderr: &syncBuffer{},
	}
	p.cmd = exec.Command(node, "server.js")
	p.cmd.Dir = nodePeerDir
	p.cmd.Env = append(os.Environ(), "PORT=0", "MONGO_URI="+uri, "EXIT_ON_STDIN_EOF=1")
	p.cmd.Stderr = p.stderr
	p.cmd.WaitDelay = 5 * time.Second
	pr, pw := io.Pipe()
	p.cmd.Stdout = pw
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		p.err = err
		return p
	}
	if err := p.cmd.Start(); err != nil {
		p.err = fmt.Errorf("start tests/testdata/nodepeer: %w", err)
		return p
	}
	go func() {
		p.cmd.Wait()
		pw.Close()
		close(p.exited)
	}()
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "listening "); ok {
				select {
				case addr <- a:
				default:
				}
			}
		}
		io.Copy(io.Discard, pr)
	}()
	select {
	case a := <-addr:
		p.url = "http://" + a
	case <-p.exited:
		p.err = fmt.Errorf("tests/testdata/nodepeer's server exited before listening (%v); stderr:\n%s", p.cmd.ProcessState, p.stderr)
	case <-time.After(30 * time.Second):
		p.stop()
		p.err = fmt.Errorf("tests/testdata/nodepeer's server did not listen within 30s; stderr:\n%s", p.stderr)
	}
	return p
}

// nodePeerInstall runs npm ci in tests/testdata/nodepeer unless its
// node_modules is current (npmCI).
func nodePeerInstall() error { return npmCI(nodePeerDir, 5*time.Minute) }

// stop ends the process (SIGTERM, then SIGKILL after 10 s) and waits for it.
func (p *nodePeer) stop() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	p.stopOnce.Do(func() {
		p.stdin.Close()
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
			p.cmd.Process.Kill()
			<-p.exited
		}
	})
}

// cpuTime is the process's user and system CPU time so far, from
// /proc/<pid>/stat (false where there is no /proc).
func (p *nodePeer) cpuTime() (time.Duration, bool) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(p.cmd.Process.Pid) + "/stat")
	if err != nil {
		return 0, false
	}
	// Fields after the command name (which may hold spaces), from the
	// state: utime and stime are the 12th and 13th, in clock ticks, which
	// Linux exposes to user space at 100 per second (USER_HZ).
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 13 {
		return 0, false
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(utime+stime) * (time.Second / 100), true
}

// rssMiB is the process's resident memory now, in MiB (0 without /proc).
func (p *nodePeer) rssMiB() int {
	return vmRSSMiB("/proc/" + strconv.Itoa(p.cmd.Process.Pid) + "/status")
}

// postNode posts one batch to the node peer's /api/data, which answers 200
// once every op is written.
func postNode(hc *http.Client, url string, body []byte) error {
	resp, err := hc.Post(url+"/api/data", "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("node peer: %d %s", resp.StatusCode, out)
	}
	return nil
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

// devToken gets a PowerSync token from a server in development token mode.
func devToken(t testing.TB, url string) string {
	t.Helper()
	resp, err := http.Get(url + "/token?user_id=bench")
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

// postBatch posts one /upload and requires every op applied.
func postBatch(hc *http.Client, url, token string, body []byte) error {
	req, _ := http.NewRequest("POST", url+"/upload", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || bytes.Contains(out, []byte(`"rejected":[{`)) {
		return fmt.Errorf("upload: %d %s", resp.StatusCode, out)
	}
	return nil
}
