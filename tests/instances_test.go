package tests

import (
	"context"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syncgate/syncgate/host/loadgen"
)

// Several syncgate instances in front of one database, as behind a load
// balancer: what must be shared is the signing keys (and the same
// schemas, guests and configuration); nothing else.

const instancesAPIKey = "a-long-api-key-for-the-instances-test"

// instancesEnv is a production-like configuration (keys from the
// environment, api-key minting, tokens required) shared by the instances,
// and the database they share with its URI.
//
// On the embedded FerretDB the instances get a database of their own, with
// half the usual write concurrency each: FerretDB v1 holds a connection per
// statement of an update command (docs/design.md, "FerretDB-safe writes")
// and the bound is per instance, so two instances at 4 commands × 16
// statements could hold 128 connections of its pool of 100. A database of
// their own keeps any trouble there away from the other tests.
func instancesEnv(t *testing.T) (map[string]string, string) {
	env := templateEnv(t, schemaEnv(t))
	delete(env, "UPLOAD_AUTH")
	env["TOKEN_API_KEYS"] = instancesAPIKey
	uri := dbURI
	if !realMongo() {
		db, _ := ownDB(t)
		uri = db.URI()
		env["STORE_WRITE_CONCURRENCY"] = "2"
	}
	env["MONGO_URI"] = uri
	return env, uri
}

// fixedAddr reserves a loopback port, so a restarted instance serves the
// same URL.
func fixedAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func with(env map[string]string, k, v string) map[string]string {
	out := make(map[string]string, len(env)+1)
	for a, b := range env {
		out[a] = b
	}
	out[k] = v
	return out
}

func uploadsServed(t *testing.T, a *app) bool {
	return strings.Contains(string(get(t, a.url+"/metrics").body), `route="/upload",status="200"`)
}

// TestReliabilityTwoInstances: two instances, one database; clients upload
// to one with tokens minted by the other, fail over on 503, and resend a
// share of acknowledged batches to the other instance. Every answer is 200,
// and the database equals the ledger document by document: nothing lost,
// nothing duplicated, resends across instances change nothing.
func TestReliabilityTwoInstances(t *testing.T) {
	clients, d := loadShape(t, 8, 4*time.Second)
	env, uri := instancesEnv(t)
	a := start(t, with(env, "ADDR", "127.0.0.1:0"))
	b := start(t, with(env, "ADDR", "127.0.0.1:0"))
	res, err := loadgen.Run(context.Background(), loadgen.Config{URLs: []string{a.url, b.url}, APIKey: instancesAPIKey,
		Clients: clients, Duration: d, BatchSize: 10, InvalidShare: 0.05, ResendShare: 0.2, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(res.Summary())
	if len(res.Unexpected) > 0 || res.Statuses[0] > 0 || res.Statuses[503] > 0 || res.Unacknowledged > 0 {
		t.Fatalf("unexpected answers: %v %v unacknowledged %d", res.Statuses, res.Unexpected, res.Unacknowledged)
	}
	if res.ByURL[a.url] == 0 || res.ByURL[b.url] == 0 {
		t.Fatalf("not both instances served uploads: %v", res.ByURL)
	}
	if res.Resent == 0 {
		t.Fatal("no batch was resent across instances")
	}
	if res.Rejected == 0 {
		t.Fatal("no invalid row was rejected: the schema gate did not run")
	}
	verify(t, uri, a.db, res)
}

// TestReliabilityRollingRestart restarts each of two instances in turn
// under load (graceful stop, start on the same address, ready): clients
// that retry on 503 and connection errors, each retry to the other
// instance, see no failed upload, and the database equals the ledger.
func TestReliabilityRollingRestart(t *testing.T) {
	clients, d := loadShape(t, 8, 6*time.Second)
	env, uri := instancesEnv(t)
	env["SHUTDOWN_TIMEOUT"] = "10s"
	envs := []map[string]string{with(env, "ADDR", fixedAddr(t)), with(env, "ADDR", fixedAddr(t))}
	apps := []*app{start(t, envs[0]), start(t, envs[1])}
	urls := []string{apps[0].url, apps[1].url}
	done := make(chan *loadgen.Result, 1)
	go func() {
		res, err := loadgen.Run(context.Background(), loadgen.Config{URLs: urls, APIKey: instancesAPIKey,
			Clients: clients, Duration: d, BatchSize: 10, InvalidShare: 0.05, Seed: 6, Drain: 60 * time.Second})
		if err != nil {
			t.Error(err)
		}
		done <- res
	}()
	began := time.Now()
	var restarts sync.WaitGroup
	restarts.Go(func() {
		for i := range apps {
			// Under load: this instance has acknowledged uploads, and the
			// restarts are spread over the run (at 1/3 and 2/3 of it).
			at := began.Add(d * time.Duration(i+1) / 3)
			deadline := at.Add(30 * time.Second)
			for time.Now().Before(at) || !uploadsServed(t, apps[i]) {
				if time.Now().After(deadline) {
					t.Errorf("instance %d served no upload within 30s", i)
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
			stopped := time.Now()
			if code := apps[i].stop(t); code != 0 {
				t.Errorf("instance %d: exit code %d; log:\n%s", i, code, apps[i].logs.String())
				return
			}
			apps[i] = start(t, envs[i])
			t.Logf("instance %d restarted at %s: ready again after %s", i, stopped.Sub(began).Round(time.Millisecond), time.Since(stopped).Round(time.Millisecond))
		}
	})
	restarts.Wait()
	res := <-done
	t.Log(res.Summary())
	if len(res.Unexpected) > 0 || res.Unacknowledged > 0 {
		t.Fatalf("failed uploads: %v %v unacknowledged %d", res.Statuses, res.Unexpected, res.Unacknowledged)
	}
	if t.Failed() {
		return
	}
	if res.ByURL[urls[0]] == 0 || res.ByURL[urls[1]] == 0 {
		t.Fatalf("not both instances served uploads: %v", res.ByURL)
	}
	verify(t, uri, apps[0].db, res)
}

// TestShutdownDrain: with SHUTDOWN_DRAIN, a stopping instance first answers
// /readyz with 503 (a load balancer's health check takes it out of
// rotation) while it still serves uploads, then shuts down cleanly.
func TestShutdownDrain(t *testing.T) {
	env := baseEnv(t)
	env["SHUTDOWN_DRAIN"] = "3s"
	a := start(t, env)
	began := time.Now()
	a.cancel() // as SIGTERM does
	waitFor(t, 2*time.Second, func() bool {
		r := get(t, a.url+"/readyz")
		return r.status == 503 && strings.Contains(string(r.body), "shutting down")
	})
	if d := time.Since(began); d > 2*time.Second {
		t.Fatalf("/readyz turned 503 after %s", d)
	}
	if r := postUpload(t, a, "", `{"batch":[{"op":"PUT","table":"lists","id":"draining","data":{"name":"n"}}]}`); r.status != 200 {
		t.Fatalf("upload while draining: %d %s", r.status, r.body)
	}
	if time.Since(began) >= 3*time.Second {
		t.Fatal("the drain ended before the checks: the test proves nothing; raise SHUTDOWN_DRAIN")
	}
	select {
	case code := <-a.done:
		a.done <- code
		if code != 0 {
			t.Fatalf("exit code %d", code)
		}
		if d := time.Since(began); d < 3*time.Second {
			t.Fatalf("stopped after %s, before the 3s drain", d)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("did not stop within 20s")
	}
	if _, err := http.Get(a.url + "/healthz"); err == nil {
		t.Fatal("still accepting connections after shutdown")
	}
}
