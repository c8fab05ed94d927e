package server

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/syncgate/syncgate/host/syncgate"
)

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	b, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(b)
}

// TestErrorAfterResponseStarted: a handler that wrote and then failed gets
// no second (error) body appended to its answer.
func TestErrorAfterResponseStarted(t *testing.T) {
	s := New(Config{})
	s.Handle("GET /half", func(w http.ResponseWriter, r *http.Request) error {
		w.Write([]byte(`{"applied":`))
		return syncgate.Errorf(syncgate.Unavailable, syncgate.CodeDatabaseUnavailable, "gone")
	})
	s.Handle("GET /panic", func(w http.ResponseWriter, r *http.Request) error {
		w.WriteHeader(http.StatusAccepted)
		panic("late")
	})
	s.Handle("GET /early", func(w http.ResponseWriter, r *http.Request) error {
		return syncgate.Errorf(syncgate.Unavailable, syncgate.CodeDatabaseUnavailable, "gone")
	})
	if code, body := get(t, s.Handler(), "/half"); code != 200 || body != `{"applied":` {
		t.Errorf("/half: %d %q, want the handler's bytes only", code, body)
	}
	if code, body := get(t, s.Handler(), "/panic"); code != http.StatusAccepted || body != "" {
		t.Errorf("/panic: %d %q", code, body)
	}
	if code, body := get(t, s.Handler(), "/early"); code != 503 || !strings.Contains(body, `"database_unavailable"`) {
		t.Errorf("/early: %d %q", code, body)
	}
	if code, body := get(t, s.Handler(), "/nope"); code != 404 || !strings.Contains(body, `"route_not_found"`) {
		t.Errorf("/nope: %d %q", code, body)
	}
}

// TestReadyzDegraded: a Degraded check keeps /readyz at 200 and says why;
// any other error makes it 503.
func TestReadyzDegraded(t *testing.T) {
	var err error
	s := New(Config{})
	s.AddCheck(Check{Name: "rules", Fn: func(context.Context) error { return err }})
	if code, body := get(t, s.Handler(), "/readyz"); code != 200 || !strings.Contains(body, `"status":"ready"`) {
		t.Errorf("ok: %d %s", code, body)
	}
	err = Degraded(errors.New("last reload failed"))
	if code, body := get(t, s.Handler(), "/readyz"); code != 200 || !strings.Contains(body, `"status":"degraded"`) || !strings.Contains(body, "last reload failed") {
		t.Errorf("degraded: %d %s", code, body)
	}
	err = errors.New("loading")
	if code, body := get(t, s.Handler(), "/readyz"); code != 503 || !strings.Contains(body, `"status":"not ready"`) {
		t.Errorf("not ready: %d %s", code, body)
	}
}

// TestWildcardRoute: /x/{id} matches one non-empty last segment, sets the
// path value, answers 405 with Allow for other methods, and labels metrics
// with the pattern, not the id.
func TestWildcardRoute(t *testing.T) {
	s := New(Config{})
	s.Handle("GET /files/{id}", func(w http.ResponseWriter, r *http.Request) error {
		_, err := w.Write([]byte("id=" + r.PathValue("id")))
		return err
	})
	s.Handle("PUT /files/{id}", func(w http.ResponseWriter, r *http.Request) error { return nil })
	h := s.Handler()
	if code, body := get(t, h, "/files/a%20b"); code != 200 || body != "id=a b" {
		t.Errorf("/files/a%%20b: %d %q", code, body)
	}
	for _, p := range []string{"/files/", "/files", "/files/a/b", "/filesx"} {
		if code, body := get(t, h, p); code != 404 || !strings.Contains(body, "route_not_found") {
			t.Errorf("%s: %d %s", p, code, body)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("DELETE", "/files/x", nil))
	if rec.Code != 405 || rec.Header().Get("Allow") != "GET, HEAD, PUT" {
		t.Errorf("DELETE: %d Allow %q", rec.Code, rec.Header().Get("Allow"))
	}
	_, metrics := get(t, h, "/metrics")
	if !strings.Contains(metrics, `route="/files/{id}"`) || strings.Contains(metrics, `route="/files/a b"`) {
		t.Error("metrics are not labelled by the pattern")
	}
	defer func() {
		if recover() == nil {
			t.Error("a wildcard in the middle was accepted")
		}
	}()
	s.Handle("GET /a/{id}/b", func(w http.ResponseWriter, r *http.Request) error { return nil })
}
