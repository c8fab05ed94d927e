package tests

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/syncgate/syncgate/host/cli"
)

func TestHealthReadyMetrics(t *testing.T) {
	a := start(t, baseEnv(t))
	if r := get(t, a.url+"/healthz"); r.status != 200 || r.json(t)["status"] != "ok" {
		t.Fatalf("healthz: %d %s", r.status, r.body)
	}
	r := get(t, a.url+"/readyz")
	if r.status != 200 {
		t.Fatalf("readyz: %d %s", r.status, r.body)
	}
	checks := r.json(t)["checks"].(map[string]any)
	if checks["database"] != "ok" {
		t.Fatalf("readyz database check: %v", checks)
	}
	m := get(t, a.url+"/metrics")
	for _, want := range []string{`syncgate_http_requests_total{method="GET",route="/readyz",status="200"}`, "syncgate_http_request_duration_seconds_bucket", "go_goroutines"} {
		if !bytes.Contains(m.body, []byte(want)) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if got := r.header.Get("X-Request-Id"); got == "" {
		t.Error("no X-Request-Id on responses")
	}
	echo := do(t, "GET", a.url+"/healthz", map[string]string{"X-Request-Id": "my-id-1"}, nil)
	if got := echo.header.Get("X-Request-Id"); got != "my-id-1" {
		t.Errorf("X-Request-Id not kept: got %q", got)
	}
	if !strings.Contains(a.logs.String(), `"request_id":"my-id-1"`) {
		t.Errorf("access log lacks the request id")
	}
}

func TestNotFoundAndMethodNotAllowed(t *testing.T) {
	a := start(t, baseEnv(t))
	r := get(t, a.url+"/nope")
	if r.status != 404 || r.errorCode(t) != "route_not_found" {
		t.Fatalf("404: got %d %s", r.status, r.body)
	}
	r = do(t, "DELETE", a.url+"/upload", nil, nil)
	if r.status != 405 || r.errorCode(t) != "method_not_allowed" || r.header.Get("Allow") != "POST" {
		t.Fatalf("405: got %d allow=%q %s", r.status, r.header.Get("Allow"), r.body)
	}
	r = do(t, "POST", a.url+"/jwks", nil, nil)
	if r.status != 405 || r.header.Get("Allow") != "GET, HEAD" {
		t.Fatalf("405 on /jwks: got %d allow=%q", r.status, r.header.Get("Allow"))
	}
}

func TestConfigErrorsNameTheVariable(t *testing.T) {
	cases := []struct {
		name, key, value, want string
	}{
		{"bad addr", "ADDR", "nonsense", "ADDR"},
		{"bad uri", "MONGO_URI", "http://x", "MONGO_URI"},
		{"bad db", "MONGO_DATABASE", "a.b", "MONGO_DATABASE"},
		{"bad duration", "MONGO_TIMEOUT", "soon", "MONGO_TIMEOUT"},
		{"bad int", "UPLOAD_MAX_OPS", "many", "UPLOAD_MAX_OPS"},
		{"zero ops", "UPLOAD_MAX_OPS", "0", "UPLOAD_MAX_OPS"},
		{"bad bool", "UPLOAD_STRICT", "maybe", "UPLOAD_STRICT"},
		{"bad token auth", "TOKEN_AUTH", "everyone", "TOKEN_AUTH"},
		{"ttl too long", "TOKEN_TTL", "25h", "TOKEN_TTL"},
		{"ttl longer than PowerSync accepts", "TOKEN_TTL", "2h", "PowerSync service refuses tokens"},
		{"ttl too short", "TOKEN_TTL", "5s", "TOKEN_TTL"},
		{"bad upload auth", "UPLOAD_AUTH", "maybe", "UPLOAD_AUTH"},
		{"bad log level", "LOG_LEVEL", "loud", "LOG_LEVEL"},
		{"public without private", "POWERSYNC_PUBLIC_KEY", "abc", "POWERSYNC_PRIVATE_KEY"},
		{"bad memory", "GUEST_MEMORY_MB", "1", "GUEST_MEMORY_MB"},
		{"negative drain", "SHUTDOWN_DRAIN", "-1s", "SHUTDOWN_DRAIN"},
		{"zero txn ops", "STORE_TXN_MAX_OPS", "0", "STORE_TXN_MAX_OPS"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := baseEnv(t)
			env[c.key] = c.value
			var stderr bytes.Buffer
			code := cli.Run(t.Context(), []string{"serve"}, func(k string) string { return env[k] }, io.Discard, &stderr)
			if code == 0 {
				t.Fatalf("%s=%q: exit 0, want non-zero", c.key, c.value)
			}
			if !strings.Contains(stderr.String(), c.want) {
				t.Fatalf("%s=%q: message does not name %s: %s", c.key, c.value, c.want, stderr.String())
			}
		})
	}
}

func TestHelpListsCommandsAndVariables(t *testing.T) {
	var out bytes.Buffer
	if code := cli.Run(t.Context(), []string{"--help"}, func(string) string { return "" }, &out, io.Discard); code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"serve", "keys generate", "schemas check", "POWERSYNC_PUBLIC_KEY", "POWERSYNC_PRIVATE_KEY", "POWERSYNC_URL", "MONGO_URI", "ADDR", "127.0.0.1:8090"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("--help lacks %q", want)
		}
	}
	if code := cli.Run(t.Context(), []string{"frobnicate"}, func(string) string { return "" }, io.Discard, io.Discard); code != 2 {
		t.Errorf("unknown command: exit %d, want 2", code)
	}
}

// TestGracefulShutdown stops the server while an upload's body is still
// arriving: the request completes, its write is in the database, and the
// exit code is 0.
func TestGracefulShutdown(t *testing.T) {
	a := start(t, baseEnv(t))
	host := strings.TrimPrefix(a.url, "http://")
	conn, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"batch":[{"op":"PUT","table":"lists","id":"slow","data":{"name":"in flight"}}]}`
	head := "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
		strconv.Itoa(len(body)) + "\r\nConnection: close\r\n\r\n"
	if _, err := io.WriteString(conn, head+body[:10]); err != nil {
		t.Fatal(err)
	}
	// Wait until the server is serving it (this scrape is the other one).
	waitFor(t, 10*time.Second, func() bool {
		return strings.Contains(string(get(t, a.url+"/metrics").body), "syncgate_http_requests_in_flight 2")
	})
	stopped := make(chan int, 1)
	go func() { stopped <- a.stop(t) }()
	// New connections are refused once shutdown starts.
	waitFor(t, 5*time.Second, func() bool {
		c, err := net.DialTimeout("tcp", host, 200*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	if _, err := io.WriteString(conn, body[10:]); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("in-flight request failed: %v; log:\n%s", err, a.logs.String())
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("in-flight request: status %d", resp.StatusCode)
	}
	select {
	case code := <-stopped:
		if code != 0 {
			t.Fatalf("exit code %d after clean shutdown; log:\n%s", code, a.logs.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no exit within 30s")
	}
	if _, ok := docs(t, a.db, "lists")["slow"]; !ok {
		t.Fatal("the in-flight write is not in the database")
	}
}

func waitFor(t *testing.T, within time.Duration, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("condition not met within %s", within)
		case <-time.After(10 * time.Millisecond):
		}
	}
}
