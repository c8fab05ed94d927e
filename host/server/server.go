// Package server owns syncgate's HTTP surface: the http.Server and its
// timeouts, routing, middleware (request id, access log, panic recovery,
// metrics), the health endpoints and graceful shutdown.
//
// Handlers return errors; writeError is the one place that maps an error to
// an HTTP status. Only this package (and main) logs.
package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/syncgate/syncgate/host/syncgate"
)

// ReturnHandlerFunc is an HTTP handler that returns its error for writeError
// (tsweb's name): it is not an http.Handler, so it is not called ServeHTTP.
type ReturnHandlerFunc func(w http.ResponseWriter, r *http.Request) error

// Check is one readiness condition; it returns nil when ready, or an error
// made with Degraded when serving but not as configured.
type Check struct {
	Name string
	Fn   func(ctx context.Context) error
}

// Degraded marks a Check's error as "serving, but degraded": /readyz still
// answers 200, with status "degraded" and the reason under the check.
func Degraded(err error) error { return degraded{err} }

type degraded struct{ err error }

func (d degraded) Error() string { return "degraded: " + d.err.Error() }
func (d degraded) Unwrap() error { return d.err }

// Config is the server's settings.
type Config struct {
	Addr            string
	ShutdownTimeout time.Duration
	// ShutdownDrain is how long, after the signal to stop, the server goes
	// on serving while /readyz answers 503, so a load balancer's health
	// checks take it out of rotation before it stops accepting.
	ShutdownDrain time.Duration
	Logger        *slog.Logger
	// Details, when set, adds fields to /readyz (e.g. the guest pipeline).
	Details func() map[string]any
}

// Server is syncgate's HTTP server.
type Server struct {
	cfg      Config
	log      *slog.Logger
	routes   map[string]map[string]ReturnHandlerFunc // path → method → handler
	order    []string
	wild     []wildRoute // paths ending in one {name} segment
	checks   []Check
	registry *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	inFlight prometheus.Gauge
	srv      *http.Server
	mu       sync.Mutex
	ln       net.Listener
	draining atomic.Bool
}

// New returns a server with /healthz, /readyz and /metrics registered.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 15 * time.Second
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s := &Server{
		cfg:      cfg,
		log:      cfg.Logger,
		routes:   map[string]map[string]ReturnHandlerFunc{},
		registry: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "syncgate_http_requests_total", Help: "HTTP requests by route, method and status.",
		}, []string{"route", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "syncgate_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route", "method"}),
	}
	s.inFlight = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "syncgate_http_requests_in_flight", Help: "HTTP requests being served.",
	})
	reg.MustRegister(s.requests, s.latency, s.inFlight)
	s.Handle("GET /healthz", s.healthz)
	s.Handle("GET /readyz", s.readyz)
	metrics := promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
	s.Handle("GET /metrics", func(w http.ResponseWriter, r *http.Request) error {
		metrics.ServeHTTP(w, r)
		return nil
	})
	return s
}

// Registry is the server's Prometheus registry; other packages' collectors
// are registered on it by main.
func (s *Server) Registry() *prometheus.Registry { return s.registry }

// AddCheck adds a readiness condition to /readyz.
func (s *Server) AddCheck(c Check) { s.checks = append(s.checks, c) }

// Handle registers h for a "METHOD /path" pattern. GET routes also answer HEAD.
func (s *Server) Handle(pattern string, h ReturnHandlerFunc) {
	method, path, ok := strings.Cut(pattern, " ")
	if !ok {
		panic("server: pattern needs a method: " + pattern)
	}
	if s.routes[path] == nil {
		s.routes[path] = map[string]ReturnHandlerFunc{}
		s.order = append(s.order, path)
		if i := strings.IndexByte(path, '{'); i >= 0 {
			s.wild = append(s.wild, newWildRoute(path, i))
		}
	}
	s.routes[path][method] = h
	if method == http.MethodGet {
		s.routes[path][http.MethodHead] = h
	}
}

// Routes lists the registered "METHOD /path" patterns (HEAD left out).
func (s *Server) Routes() []string {
	var out []string
	for _, p := range s.order {
		for m := range s.routes[p] {
			if m != http.MethodHead {
				out = append(out, m+" "+p)
			}
		}
	}
	slices.Sort(out)
	return out
}

// Handler returns the root handler with all middleware.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(s.serve)
}

type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// serve is the middleware chain: request id, recovery, routing, access log
// and metrics, all in one place.
func (s *Server) serve(rw http.ResponseWriter, r *http.Request) {
	start := time.Now()
	s.inFlight.Inc()
	defer s.inFlight.Dec()
	id := r.Header.Get("X-Request-Id")
	if !validRequestID(id) {
		id = newRequestID()
	}
	rw.Header().Set("X-Request-Id", id)
	r = r.WithContext(syncgate.WithRequestID(r.Context(), id))
	w := &statusWriter{ResponseWriter: rw}
	route := "unknown"
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.log.Error("panic", "request_id", id, "route", route, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			s.writeError(w, r, id, &syncgate.Error{Kind: syncgate.Internal, Code: syncgate.CodeInternal, Message: "internal error"})
		}
		status := w.status
		if status == 0 {
			status = http.StatusOK
		}
		d := time.Since(start)
		s.requests.WithLabelValues(route, r.Method, strconv.Itoa(status)).Inc()
		s.latency.WithLabelValues(route, r.Method).Observe(d.Seconds())
		s.log.Info("request", "method", r.Method, "path", r.URL.Path, "status", status,
			"bytes", w.bytes, "duration", d, "request_id", id)
	}()

	methods, ok := s.routes[r.URL.Path]
	pattern := r.URL.Path
	if !ok {
		pattern, methods, ok = s.matchWild(r)
	}
	if !ok {
		s.writeError(w, r, id, syncgate.Errorf(syncgate.NotFound, syncgate.CodeRouteNotFound, "no route %s", r.URL.Path))
		return
	}
	route = pattern
	h, ok := methods[r.Method]
	if !ok {
		allow := make([]string, 0, len(methods))
		for m := range methods {
			allow = append(allow, m)
		}
		slices.Sort(allow)
		w.Header().Set("Allow", strings.Join(allow, ", "))
		s.writeError(w, r, id, syncgate.Errorf(syncgate.NotAllowed, syncgate.CodeMethodNotAllowed, "%s is not allowed on %s", r.Method, r.URL.Path))
		return
	}
	if err := h(w, r); err != nil {
		s.writeError(w, r, id, err)
	}
}

// wildRoute is a pattern like /attachments/{id}: a fixed prefix and one
// last segment, any non-empty text without a slash, set as r.PathValue(name).
type wildRoute struct{ pattern, prefix, name string }

func newWildRoute(path string, brace int) wildRoute {
	name, ok := strings.CutSuffix(path[brace+1:], "}")
	if !ok || name == "" || strings.ContainsAny(name, "{}/") || !strings.HasSuffix(path[:brace], "/") {
		panic("server: a wildcard must be the last segment, as /x/{name}: " + path)
	}
	return wildRoute{pattern: path, prefix: path[:brace], name: name}
}

// matchWild finds the wildcard route of r's path; the route label of
// metrics is the pattern, so ids never become label values.
func (s *Server) matchWild(r *http.Request) (string, map[string]ReturnHandlerFunc, bool) {
	for _, w := range s.wild {
		rest, ok := strings.CutPrefix(r.URL.Path, w.prefix)
		if ok && rest != "" && !strings.Contains(rest, "/") {
			r.SetPathValue(w.name, rest)
			return w.pattern, s.routes[w.pattern], true
		}
	}
	return "", nil, false
}

// started reports whether a response's status line went out; an error after
// that can only be logged, never written as a second body.
func (w *statusWriter) started() bool { return w.status != 0 }

func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, c := range id {
		if c < 0x21 || c > 0x7e {
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Status maps an error kind to its HTTP status: the one place that does.
func Status(k syncgate.Kind) int {
	switch k {
	case syncgate.Invalid:
		return http.StatusBadRequest
	case syncgate.Unauthorized:
		return http.StatusUnauthorized
	case syncgate.Forbidden:
		return http.StatusForbidden
	case syncgate.NotFound:
		return http.StatusNotFound
	case syncgate.NotAllowed:
		return http.StatusMethodNotAllowed
	case syncgate.TooLarge:
		return http.StatusRequestEntityTooLarge
	case syncgate.Unsupported:
		return http.StatusUnsupportedMediaType
	case syncgate.BadRange:
		return http.StatusRequestedRangeNotSatisfiable
	case syncgate.Rejected:
		return http.StatusUnprocessableEntity
	case syncgate.Unavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// RetryAfter is the Retry-After of 503 answers, in seconds.
const RetryAfter = 5

// writeError writes the JSON error body and logs internal and transient
// causes with the request id. Causes never reach the client. Once the
// response has started (a handler wrote, then failed) it only logs: a
// second body would corrupt the first.
func (s *Server) writeError(w *statusWriter, r *http.Request, id string, err error) {
	if w.started() {
		s.log.Error("error after the response started", "request_id", id, "path", r.URL.Path, "status", w.status, "err", err)
		return
	}
	e := syncgate.AsError(err)
	status := Status(e.Kind)
	switch e.Kind {
	case syncgate.Internal:
		s.log.Error("internal error", "request_id", id, "path", r.URL.Path, "err", err)
	case syncgate.Unavailable:
		w.Header().Set("Retry-After", strconv.Itoa(RetryAfter))
		s.log.Warn("unavailable", "request_id", id, "path", r.URL.Path, "err", err)
	case syncgate.Unauthorized:
		if w.Header().Get("WWW-Authenticate") == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="syncgate"`)
		}
	}
	type body struct {
		Code    syncgate.Code `json:"code"`
		Message string        `json:"message"`
		Details []string      `json:"details,omitempty"`
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]body{"error": {Code: e.Code, Message: e.Message, Details: e.Details}})
}

// WriteJSON writes v as a 200 JSON response.
func WriteJSON(w http.ResponseWriter, v any) error {
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(v)
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) error {
	return WriteJSON(w, map[string]string{"status": "ok"})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	body, ready := s.Readiness(ctx)
	w.Header().Set("Cache-Control", "no-store")
	if !ready {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		return json.NewEncoder(w).Encode(body)
	}
	return WriteJSON(w, body)
}

// Readiness runs the checks and returns /readyz's body and whether the
// server is ready (the admin console shows the same).
func (s *Server) Readiness(ctx context.Context) (map[string]any, bool) {
	checks := map[string]string{}
	ready, degradedBy := true, false
	for _, c := range s.checks {
		err := c.Fn(ctx)
		var d degraded
		switch {
		case err == nil:
			checks[c.Name] = "ok"
		case errors.As(err, &d):
			checks[c.Name] = err.Error()
			degradedBy = true
		default:
			checks[c.Name] = err.Error()
			ready = false
		}
	}
	if s.draining.Load() {
		checks["shutdown"] = "shutting down: draining for the load balancer"
		ready = false
	}
	body := map[string]any{"status": "ready", "checks": checks}
	if degradedBy {
		body["status"] = "degraded"
	}
	if s.cfg.Details != nil {
		for k, v := range s.cfg.Details() {
			body[k] = v
		}
	}
	if !ready {
		body["status"] = "not ready"
	}
	return body, ready
}

// Listen binds the configured address; Addr then reports the bound one.
func (s *Server) Listen() error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("server: listen %s: %w", s.cfg.Addr, err)
	}
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	return nil
}

// Addr is the bound address after Listen.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Serve serves until ctx ends, then shuts down gracefully: it stops
// accepting, lets in-flight requests finish within ShutdownTimeout and
// returns. A clean shutdown returns nil.
func (s *Server) Serve(ctx context.Context) error {
	if s.ln == nil {
		if err := s.Listen(); err != nil {
			return err
		}
	}
	s.srv = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      90 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("server: %w", err)
	case <-ctx.Done():
	}
	if s.cfg.ShutdownDrain > 0 {
		s.draining.Store(true)
		s.log.Info("draining: /readyz answers 503 while requests are still served", "for", s.cfg.ShutdownDrain)
		t := time.NewTimer(s.cfg.ShutdownDrain)
		select {
		case <-t.C:
		case err := <-errc:
			t.Stop()
			return fmt.Errorf("server: %w", err)
		}
	}
	s.log.Info("shutting down", "grace", s.cfg.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := s.srv.Shutdown(sctx); err != nil {
		_ = s.srv.Close()
		return fmt.Errorf("server: shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("server: %w", err)
	}
	return nil
}
