// Package tests runs syncgate end to end: the real command (cli.Run) on a
// loopback port, against an embedded FerretDB started once for the package
// or, when SYNCGATE_TEST_MONGO_URI is set (go tool task test:mongo), against
// that MongoDB, or against mongostub (the in-process stand-in, as a replica
// set) when it is "mongostub"; spoken to over real HTTP.
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
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/syncgate/syncgate/host/cli"
	"github.com/syncgate/syncgate/host/devdb"
	"github.com/syncgate/syncgate/internal/guestbuild"
	"github.com/syncgate/syncgate/tests/internal/mongostub"
)

var (
	sharedDB *devdb.DB // nil on a real MongoDB
	stubDB   *mongostub.Server
	// dbURI is the database every test shares: the embedded FerretDB or
	// SYNCGATE_TEST_MONGO_URI.
	dbURI  string
	client *mongo.Client
	// guestsDir holds the stock guests, built fresh for this test run.
	guestsDir string
	// stateDir is shared by the servers of this run, so they share the
	// guest compile cache (a cold compile of the schema gate takes seconds).
	stateDir string
)

func TestMain(m *testing.M) {
	if set := os.Getenv(stubProcessEnv); set != "" { // a benchmark's database (startStubProcess)
		serveStubProcess(set)
	}
	if os.Getenv(serveEnv) == "1" { // a server in a process of its own (startProcess)
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := cli.Run(ctx, []string{"serve"}, os.Getenv, os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	dir, err := os.MkdirTemp("", "syncgate-tests-")
	if err != nil {
		panic(err)
	}
	guestsDir, stateDir = filepath.Join(dir, "guests"), filepath.Join(dir, "state")
	// The stock guests, and the authorize guest for the tests that set
	// RULES_DIR (the host runs it when rules files exist).
	if err := guestbuild.Build(guestsDir, guestbuild.With(map[string]string{"authorize": "github.com/syncgate/syncgate/guest/authorize"})); err != nil {
		panic(err)
	}
	if dbURI = os.Getenv("SYNCGATE_TEST_MONGO_URI"); dbURI == "mongostub" {
		if stubDB, err = mongostub.Start(mongostub.Config{SetName: "rs0"}); err != nil {
			panic(err)
		}
		dbURI = stubDB.URI()
		fmt.Fprintf(os.Stderr, "tests: against mongostub as a replica set at %s (validators are not enforced there)\n", dbURI)
	} else if dbURI != "" {
		fmt.Fprintf(os.Stderr, "tests: against the MongoDB at SYNCGATE_TEST_MONGO_URI (databases t_*, dropped at the end)\n")
	} else {
		sharedDB, err = devdb.Start(filepath.Join(dir, "db"), "127.0.0.1:0", nil)
		if err != nil {
			panic(err)
		}
		dbURI = sharedDB.URI()
	}
	client, err = mongo.Connect(options.Client().ApplyURI(dbURI).SetTimeout(30 * time.Second))
	if err != nil {
		panic(err)
	}
	code := m.Run()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	if sharedDB == nil && stubDB == nil {
		dropTestDatabases(ctx)
	}
	_ = client.Disconnect(ctx)
	if sharedDB != nil {
		_ = sharedDB.Close(ctx)
	}
	if stubDB != nil {
		_ = stubDB.Close()
	}
	cancel()
	os.RemoveAll(dir)
	os.Exit(code)
}

// realMongo reports whether the suite runs against SYNCGATE_TEST_MONGO_URI
// (a MongoDB, or mongostub).
func realMongo() bool { return sharedDB == nil }

// needValidators skips a test that needs the database to evaluate
// $jsonSchema validators, which mongostub does not.
func needValidators(t *testing.T) {
	t.Helper()
	needMongo(t)
	if stubDB != nil {
		t.Skip("SYNCGATE_TEST_MONGO_URI=mongostub: the stand-in records validators but does not evaluate them; this test needs a real MongoDB")
	}
}

// needMongo skips a test that needs a real MongoDB.
func needMongo(t *testing.T) {
	t.Helper()
	if !realMongo() {
		t.Skip("SYNCGATE_TEST_MONGO_URI is not set: this test needs a real MongoDB replica set " +
			"(go tool task test:mongo with SYNCGATE_TEST_MONGO_URI=mongodb://127.0.0.1:27017/?replicaSet=rs0; see docs/deploy.md)")
	}
}

// dropTestDatabases removes the t_* databases the suite made on a real MongoDB.
func dropTestDatabases(ctx context.Context) {
	names, err := client.ListDatabaseNames(ctx, bson.D{{Key: "name", Value: bson.D{{Key: "$regex", Value: "^t_"}}}})
	if err != nil {
		fmt.Fprintln(os.Stderr, "tests: list databases:", err)
		return
	}
	for _, n := range names {
		_ = client.Database(n).Drop(ctx)
	}
}

// dbName gives each test its own database.
func dbName(t *testing.T) string {
	r := strings.NewReplacer("/", "_", " ", "_", ".", "_", "$", "_")
	name := r.Replace(t.Name())
	if len(name) > 50 {
		name = name[:50]
	}
	return fmt.Sprintf("t_%s_%d", name, time.Now().UnixNano()%1e6)
}

// app is one running syncgate.
type app struct {
	url    string
	db     string
	cancel context.CancelFunc
	done   chan int
	logs   *syncBuffer
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// baseEnv is a working configuration against the shared database.
func baseEnv(t *testing.T) map[string]string {
	return map[string]string{
		"ADDR":           "127.0.0.1:0",
		"MONGO_URI":      dbURI,
		"MONGO_DATABASE": dbName(t),
		"SYNCGATE_DIR":   stateDir,
		"LOG_FORMAT":     "json",
		"UPLOAD_AUTH":    "off",
		"SCHEMAS_DIR":    t.TempDir(), // no schemas unless a test adds them
		"GUESTS_DIR":     guestsDir,
		"GUEST_POOL":     "2",
	}
}

// start runs syncgate with env and waits until it listens and is ready.
func start(t testing.TB, env map[string]string) *app {
	t.Helper()
	a := startNotReady(t, env)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("syncgate's log:\n%s", a.logs.String())
		}
	})
	waitReady(t, a.url, slowdown*30*time.Second)
	return a
}

// startNotReady runs syncgate with env and waits until it listens.
func startNotReady(t testing.TB, env map[string]string) *app {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	a := &app{db: env["MONGO_DATABASE"], cancel: cancel, done: make(chan int, 1), logs: &syncBuffer{}}
	go func() {
		code := cli.Run(ctx, []string{"serve"}, func(k string) string { return env[k] }, io.Discard, pw)
		pw.Close()
		a.done <- code
	}()
	addr := listening(pr, func(line []byte) { a.logs.Write(append(line, '\n')) })
	t.Cleanup(func() { a.stop(t) })
	select {
	case ad, ok := <-addr:
		if !ok {
			t.Fatalf("syncgate exited before listening; log:\n%s", a.logs.String())
		}
		a.url = "http://" + ad
	case <-time.After(60 * time.Second):
		t.Fatalf("syncgate did not listen within 60s; log:\n%s", a.logs.String())
	}
	return a
}

// listening reads syncgate's JSON log from r to its end, hands each line to
// each (when set), and sends the address of the "listening" record on the
// channel it returns, which is closed if the log ends without one.
func listening(r io.Reader, each func(line []byte)) <-chan string {
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		sent := false
		for sc.Scan() {
			line := sc.Bytes()
			if each != nil {
				each(line)
			}
			var rec struct{ Msg, Addr string }
			if !sent && json.Unmarshal(line, &rec) == nil && rec.Msg == "listening" {
				addr <- rec.Addr
				sent = true
			}
		}
		if !sent {
			close(addr)
		}
	}()
	return addr
}

// stop cancels the server (as SIGTERM does) and returns its exit code.
func (a *app) stop(t testing.TB) int {
	t.Helper()
	a.cancel()
	select {
	case code := <-a.done:
		a.done <- code
		return code
	case <-time.After(60 * time.Second):
		t.Fatalf("syncgate did not stop within 60s")
		return -1
	}
}

func waitReady(t testing.TB, url string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		resp, err := http.Get(url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s/readyz not 200 within %s (last: %v)", url, within, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// response is a decoded HTTP answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, r.body)
	}
	return m
}

func (r response) errorCode(t *testing.T) string {
	t.Helper()
	e, _ := r.json(t)["error"].(map[string]any)
	if e == nil {
		t.Fatalf("no error object in %s", r.body)
	}
	c, _ := e["code"].(string)
	return c
}

func do(t *testing.T, method, url string, header map[string]string, body []byte) response {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// rejectionCode is the code of the i-th rejection of a 200 upload answer,
// or "" when there is none.
func rejectionCode(t *testing.T, r response, i int) string {
	t.Helper()
	rej, _ := r.json(t)["rejected"].([]any)
	if i >= len(rej) {
		return ""
	}
	c, _ := rej[i].(map[string]any)["code"].(string)
	return c
}

func get(t *testing.T, url string) response { return do(t, "GET", url, nil, nil) }

func postUpload(t *testing.T, a *app, token string, body string) response {
	h := map[string]string{"Content-Type": "application/json"}
	if token != "" {
		h["Authorization"] = "Bearer " + token
	}
	return do(t, "POST", a.url+"/upload", h, []byte(body))
}

// uploadAnswer is a 200 answer of /upload.
type uploadAnswer struct {
	Applied  int
	Rejected []struct {
		Index        int
		Code, Reason string
	}
}

// uploadResult reads r as a 200 answer of /upload; anything else fails t.
func uploadResult(t *testing.T, r response) uploadAnswer {
	t.Helper()
	var res uploadAnswer
	if r.status != 200 || json.Unmarshal(r.body, &res) != nil {
		t.Fatalf("upload: %d %s", r.status, r.body)
	}
	return res
}

// docs reads a whole collection of the app's database, by _id.
func docs(t *testing.T, db, coll string) map[string]bson.M {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cur, err := client.Database(db).Collection(coll).Find(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	var all []bson.M
	if err := cur.All(ctx, &all); err != nil {
		t.Fatal(err)
	}
	out := map[string]bson.M{}
	for _, d := range all {
		out[fmt.Sprint(d["_id"])] = d
	}
	return out
}

// count is the number of documents in a collection.
func count(t *testing.T, db, coll string) int {
	return len(docs(t, db, coll))
}

// runCommand runs syncgate to completion and returns its exit code and stderr.
func runCommand(t *testing.T, env map[string]string, args ...string) (int, string) {
	t.Helper()
	var stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	code := cli.Run(ctx, args, func(k string) string { return env[k] }, io.Discard, &stderr)
	return code, stderr.String()
}

// cliRun runs syncgate with separate stdout and stderr.
func cliRun(t *testing.T, env map[string]string, stdout, stderr io.Writer, args ...string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	return cli.Run(ctx, args, func(k string) string { return env[k] }, stdout, stderr)
}

// serveEnv makes the test binary run syncgate serve instead of the tests.
const serveEnv = "SYNCGATE_TESTS_SERVE"

// process is syncgate running in a process of its own: a benchmark that
// measures the server's memory must not count its clients' and database's.
type process struct {
	url string
	cmd *exec.Cmd
}

// startProcess runs this test binary as syncgate serve with env (plus the
// environment) and waits until it is ready; cleanup stops it.
func startProcess(t testing.TB, env map[string]string) *process {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), serveEnv+"=1")
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	addr := listening(stderr, nil)
	select {
	case ad, ok := <-addr:
		if !ok {
			t.Fatal("syncgate exited before listening")
		}
		p := &process{url: "http://" + ad, cmd: cmd}
		waitReady(t, p.url, 60*time.Second)
		return p
	case <-time.After(60 * time.Second):
		t.Fatal("syncgate did not listen within 60s")
		return nil
	}
}

// rssMiB is the process's resident memory now, in MiB (0 once it is gone).
func (p *process) rssMiB() int {
	return vmRSSMiB("/proc/" + strconv.Itoa(p.cmd.Process.Pid) + "/status")
}
