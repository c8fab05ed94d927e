package tests

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syncgate/syncgate/host/devdb"
	"github.com/syncgate/syncgate/host/loadgen"
	"github.com/syncgate/syncgate/host/store"
)

// The reliability suites run short here (task test) and long under
// `go tool task reliability`, which sets RELIABILITY_CLIENTS and
// RELIABILITY_DURATION.
func loadShape(t *testing.T, clients int, d time.Duration) (int, time.Duration) {
	if v, err := strconv.Atoi(os.Getenv("RELIABILITY_CLIENTS")); err == nil && v > 0 {
		clients = v
	}
	if v, err := time.ParseDuration(os.Getenv("RELIABILITY_DURATION")); err == nil && v > 0 {
		d = v
	}
	return clients, d
}

// ownDB starts a FerretDB for one test, so it can be stopped and restarted.
func ownDB(t *testing.T) (*devdb.DB, string) {
	dir := t.TempDir()
	db, err := devdb.Start(dir, "127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		db.Close(ctx)
	})
	return db, dir
}

func verify(t *testing.T, uri, dbName string, res *loadgen.Result) {
	t.Helper()
	st, err := store.Open(uri, dbName, store.Options{Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close(context.Background())
	problems := res.Ledger.Verify(context.Background(), st)
	for i, p := range problems {
		if i == 20 {
			t.Errorf("… %d more", len(problems)-20)
			break
		}
		t.Error("ledger:", p)
	}
	n := 0
	for _, d := range res.Ledger.Docs {
		n += len(d)
	}
	t.Logf("ledger: %d documents checked against the database, %d problems", n, len(problems))
	if n == 0 {
		t.Fatal("the ledger is empty: the run acknowledged nothing")
	}
}

// rssMiB is this process's resident memory now, in MiB.
func rssMiB() int { return vmRSSMiB("/proc/self/status") }

// vmRSSMiB reads VmRSS from a /proc/…/status file, in MiB (0 when absent).
func vmRSSMiB(status string) int {
	b, _ := os.ReadFile(status)
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 1 && f[0] == "VmRSS:" {
			kb, _ := strconv.Atoi(f[1])
			return kb / 1024
		}
	}
	return 0
}

// TestReliabilityLoad: clients × duration of mixed batches with invalid
// rows through the schema gate: no unexpected status, and the database
// equals the ledger of acknowledged ops.
func TestReliabilityLoad(t *testing.T) {
	clients, d := loadShape(t, 4, 5*time.Second)
	env := schemaEnv(t)
	a := start(t, env)
	var peak int
	stopRSS := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			peak = max(peak, rssMiB())
			select {
			case <-stopRSS:
				return
			case <-tick.C:
			}
		}
	})
	res, err := loadgen.Run(context.Background(), loadgen.Config{URL: a.url, Clients: clients, Duration: d, BatchSize: 20, InvalidShare: 0.05, Seed: 1})
	close(stopRSS)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	t.Log(res.Summary())
	t.Logf("peak RSS of the test process (server, embedded database and clients): %d MiB", peak)
	if len(res.Unexpected) > 0 || res.Statuses[0] > 0 || res.Statuses[503] > 0 || res.Unacknowledged > 0 {
		t.Fatalf("unexpected answers: %v %v", res.Statuses, res.Unexpected)
	}
	if res.Rejected == 0 {
		t.Fatal("no invalid row was rejected: the schema gate did not run")
	}
	verify(t, dbURI, a.db, res)
}

// TestReliabilityOutage stops the database under load for a few seconds:
// only 503 with Retry-After meanwhile, recovery without restart, and the
// final state equals the ledger.
func TestReliabilityOutage(t *testing.T) {
	clients, d := loadShape(t, 4, 6*time.Second)
	db, dir := ownDB(t)
	addr := strings.TrimSuffix(strings.TrimPrefix(db.URI(), "mongodb://"), "/")
	env := schemaEnv(t)
	env["MONGO_URI"] = db.URI()
	// Short enough that the outage answers 503 quickly, long enough that a
	// write slowed by the load does not time out and land after the
	// client's resend (docs/configuration.md, MONGO_TIMEOUT).
	env["MONGO_TIMEOUT"] = "3s"
	a := start(t, env)
	done := make(chan *loadgen.Result, 1)
	go func() {
		res, err := loadgen.Run(context.Background(), loadgen.Config{URL: a.url, Clients: clients, Duration: d, BatchSize: 10, InvalidShare: 0.05, Seed: 2, Drain: 60 * time.Second})
		if err != nil {
			t.Error(err)
		}
		done <- res
	}()
	time.Sleep(d / 3) // let load build up before the outage (bounded wait, not a sync point)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := db.Close(ctx); err != nil {
		t.Fatal(err)
	}
	outage := time.Now()
	waitFor(t, 10*time.Second, func() bool { return get(t, a.url+"/readyz").status == 503 })
	time.Sleep(2 * time.Second) // the outage lasts a few seconds
	db2, err := devdb.Start(dir, addr, nil)
	if err != nil {
		t.Fatalf("restart the database on %s: %v", addr, err)
	}
	defer db2.Close(context.Background())
	back := time.Now()
	waitReady(t, a.url, 5*time.Second)
	t.Logf("outage %s; ready again %s after the database returned", back.Sub(outage).Round(time.Millisecond), time.Since(back).Round(time.Millisecond))
	res := <-done
	t.Log(res.Summary())
	if len(res.Unexpected) > 0 || res.Unacknowledged > 0 {
		logErrors(t, a) // the cause of a 500 is only in the server's log
		t.Fatalf("unexpected answers: %v %v unacknowledged %d", res.Statuses, res.Unexpected, res.Unacknowledged)
	}
	if res.Statuses[503] == 0 {
		t.Log("no request hit the outage (all clients were between batches)")
	}
	verify(t, db2.URI(), a.db, res)
}

// TestReliabilityShutdown stops the server (as SIGTERM does) while clients
// are mid-batch: exit 0 within the grace period, nothing acknowledged lost;
// a restart serves at once and the clients finish against it.
func TestReliabilityShutdown(t *testing.T) {
	clients, d := loadShape(t, 16, 4*time.Second)
	env := schemaEnv(t)
	env["SHUTDOWN_TIMEOUT"] = "10s"
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	env["ADDR"] = l.Addr().String() // a fixed port, so the restart serves the same URL
	l.Close()
	a := start(t, env)
	done := make(chan *loadgen.Result, 1)
	go func() {
		res, err := loadgen.Run(context.Background(), loadgen.Config{URL: a.url, Clients: clients, Duration: d, BatchSize: 10, Seed: 3, Drain: 60 * time.Second})
		if err != nil {
			t.Error(err)
		}
		done <- res
	}()
	waitFor(t, 20*time.Second, func() bool {
		return strings.Contains(string(get(t, a.url+"/metrics").body), `route="/upload",status="200"`)
	})
	began := time.Now()
	if code := a.stop(t); code != 0 {
		t.Fatalf("exit code %d; log:\n%s", code, a.logs.String())
	}
	t.Logf("stopped in %s", time.Since(began).Round(time.Millisecond))
	if time.Since(began) > 12*time.Second {
		t.Fatalf("shutdown took %s, grace is 10s", time.Since(began))
	}
	restarted := time.Now()
	b := start(t, env)
	t.Logf("restart to ready: %s (warm compilation cache)", time.Since(restarted).Round(time.Millisecond))
	res := <-done
	t.Log(res.Summary())
	if len(res.Unexpected) > 0 || res.Unacknowledged > 0 {
		t.Fatalf("unexpected answers: %v %v unacknowledged %d", res.Statuses, res.Unexpected, res.Unacknowledged)
	}
	verify(t, dbURI, b.db, res)
}

// TestReliabilityHotReload swaps a schema while clients run: no request
// fails because of the swap, and later ops see the new rules.
func TestReliabilityHotReload(t *testing.T) {
	clients, d := loadShape(t, 4, 4*time.Second)
	env := schemaEnv(t)
	env["RELOAD_POLL"] = "100ms"
	a := start(t, env)
	done := make(chan *loadgen.Result, 1)
	go func() {
		res, err := loadgen.Run(context.Background(), loadgen.Config{URL: a.url, Clients: clients, Duration: d, BatchSize: 10, Seed: 4})
		if err != nil {
			t.Error(err)
		}
		done <- res
	}()
	path := env["SCHEMAS_DIR"] + "/lists.json"
	for i := range 3 { // three swaps during the run
		time.Sleep(d / 4)
		b, _ := os.ReadFile(path)
		os.WriteFile(path, []byte(strings.Replace(string(b), `"title": "lists"`, fmt.Sprintf(`"title": "lists v%d"`, i), 1)), 0o644)
		os.Chtimes(path, time.Now(), time.Now().Add(time.Duration(i+1)*time.Second))
	}
	res := <-done
	t.Log(res.Summary())
	if len(res.Unexpected) > 0 || res.Statuses[503] > 0 || res.Statuses[0] > 0 || res.Unacknowledged > 0 {
		t.Fatalf("requests failed during reloads: %v %v", res.Statuses, res.Unexpected)
	}
	if n := strings.Count(a.logs.String(), `"msg":"reloaded"`); n == 0 {
		t.Fatal("no reload happened during the run")
	}
	verify(t, dbURI, a.db, res)
	// After the run, new rules apply: names longer than 3 are refused.
	b, _ := os.ReadFile(path)
	os.WriteFile(path, []byte(strings.Replace(string(b), `"maxLength": 200`, `"maxLength": 3`, 1)), 0o644)
	waitFor(t, 30*time.Second, func() bool {
		r := postUpload(t, a, "", `{"batch":[{"op":"PUT","table":"lists","id":"0b6f3a52-5a3c-4c59-9ac6-2f2b7f7c1b99","data":{"name":"long name","owner_id":"u"}}]}`)
		return r.status == 200 && r.json(t)["applied"] == float64(0)
	})
}

// TestReliabilityHostileClients holds 1000 idle connections, slowloris
// headers and never-finishing bodies open while a normal client keeps being
// served; oversized headers are refused.
func TestReliabilityHostileClients(t *testing.T) {
	a := start(t, baseEnv(t))
	host := strings.TrimPrefix(a.url, "http://")
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range 1000 {
		c, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		switch i % 3 {
		case 0: // slowloris: a header line that never ends
			fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
		case 1: // a body that never finishes
			fmt.Fprintf(c, "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"batch\":[")
		}
		conns = append(conns, c)
	}
	before := rssMiB()
	for i := range 20 {
		began := time.Now()
		r := postUpload(t, a, "", fmt.Sprintf(`{"batch":[{"op":"PUT","table":"lists","id":"x%d","data":{"n":%d}}]}`, i, i))
		if r.status != 200 {
			t.Fatalf("normal client refused while hostile connections are held: %d %s", r.status, r.body)
		}
		if d := time.Since(began); d > 5*time.Second {
			t.Fatalf("normal request took %s", d)
		}
	}
	t.Logf("RSS with 1000 hostile connections held: %d MiB", before)
	big := do(t, "GET", a.url+"/healthz", map[string]string{"X-Big": strings.Repeat("a", 100<<10)}, nil)
	if big.status != 431 {
		t.Fatalf("oversized headers: %d, want 431", big.status)
	}
}

// logErrors prints the server's ERROR records.
func logErrors(t *testing.T, a *app) {
	for _, l := range strings.Split(a.logs.String(), "\n") {
		if strings.Contains(l, `"level":"ERROR"`) {
			t.Log(l)
		}
	}
}
