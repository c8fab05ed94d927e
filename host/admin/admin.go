// Package admin owns the admin console: the page at /admin/ (HTML, CSS and
// a little vanilla JavaScript embedded in the binary, no CDN, no build
// step) and the JSON API under /admin/api/ that the page calls — overview,
// rejected writes (list, show, replay, resolve, discard), the live schemas
// and guests, the live write rules with explain, and the attachments (list,
// delete).
//
// Every API call needs an admin key in the Authorization header (Bearer);
// the page keeps the key in sessionStorage and sends it itself. No cookie
// is ever set or read, so a cross-site request carries no credential (no
// CSRF), and a PowerSync client token is not an admin key. The assets are
// public (they hold no data) and served with a strict Content-Security-
// Policy. It must not log, read the environment or touch the database
// except through the rejected service and the attachment store.
package admin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/syncgate/syncgate/host/rejected"
	"github.com/syncgate/syncgate/host/syncgate"
)

//go:embed assets
var assets embed.FS

// CSP is the Content-Security-Policy of every admin response: scripts,
// styles and API calls from this origin only; no inline code, frames,
// forms, plugins or foreign connections.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Config is what the console shows and with which keys it opens.
type Config struct {
	// Keys are the admin keys; New refuses none.
	Keys []string
	// Rejected is the rejected-ops service (replays run through the live rules).
	Rejected *rejected.Service
	// Readiness is /readyz's body and whether the server is ready.
	Readiness func(ctx context.Context) (map[string]any, bool)
	// Guests reports per-guest counters of the live pipeline.
	Guests func() []GuestStats
	// Rules describes the live schemas and guests and the last reload.
	Rules func() any
	// Authorization describes the live write rules: RULES_DIR's roles per
	// table and the sync config's streams (the "Write rules" page).
	Authorization func() any
	// Explain decides one write with the live write rules, as `syncgate
	// rules explain` does; an error that is not a *syncgate.Error is the
	// request's fault (400 invalid_body).
	Explain func(ExplainRequest) (any, error)
	// Attachments is the server's attachment store; nil when ATTACHMENTS
	// is off.
	Attachments AttachmentStore
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// GuestStats are one guest's counters since it was loaded.
type GuestStats struct {
	Name       string `json:"name"`
	Tables     string `json:"tables"`
	Calls      int64  `json:"calls"`
	Rejections int64  `json:"rejections"`
	Timeouts   int64  `json:"timeouts"`
	Traps      int64  `json:"traps"`
}

// Console serves the admin routes.
type Console struct {
	cfg  Config
	keys [][32]byte // SHA-256 of each key: compared in constant time
}

// New returns the console, or an error when cfg has no keys.
func New(cfg Config) (*Console, error) {
	if len(cfg.Keys) == 0 {
		return nil, errors.New("admin: no keys")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	c := &Console{cfg: cfg}
	for _, k := range cfg.Keys {
		c.keys = append(c.keys, sha256.Sum256([]byte(k)))
	}
	return c, nil
}

// Route is one admin route: a "METHOD /path" pattern and its handler.
type Route struct {
	Pattern string
	Handler func(w http.ResponseWriter, r *http.Request) error
}

// Routes lists every admin route. The API routes check the key; the
// assets do not (they hold no data).
func (c *Console) Routes() []Route {
	return []Route{
		{"GET /admin", func(w http.ResponseWriter, r *http.Request) error {
			http.Redirect(w, r, "/admin/", http.StatusMovedPermanently)
			return nil
		}},
		{"GET /admin/", c.asset("index.html", "text/html; charset=utf-8")},
		{"GET /admin/app.js", c.asset("app.js", "text/javascript; charset=utf-8")},
		{"GET /admin/app.css", c.asset("app.css", "text/css; charset=utf-8")},
		{"GET /admin/api/overview", c.auth(c.overview)},
		{"GET /admin/api/rejected", c.auth(c.list)},
		{"GET /admin/api/rejected/show", c.auth(c.show)},
		{"POST /admin/api/rejected/replay", c.auth(c.replay)},
		{"POST /admin/api/rejected/resolve", c.auth(c.mark(syncgate.StateResolved))},
		{"POST /admin/api/rejected/discard", c.auth(c.mark(syncgate.StateDiscarded))},
		{"GET /admin/api/rules", c.auth(c.rules)},
		{"GET /admin/api/authorization", c.auth(c.authorization)},
		{"POST /admin/api/authorization/explain", c.auth(c.explain)},
		{"GET /admin/api/attachments", c.auth(c.attachmentList)},
		{"POST /admin/api/attachments/delete", c.auth(c.attachmentDelete)},
	}
}

func secure(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", CSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
}

func (c *Console) asset(name, contentType string) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		b, err := assets.ReadFile("assets/" + name)
		if err != nil {
			return err
		}
		secure(w)
		w.Header().Set("Content-Type", contentType)
		_, err = w.Write(b)
		return err
	}
}

var errKey = &syncgate.Error{Kind: syncgate.Unauthorized, Code: syncgate.CodeInvalidAdminKey,
	Message: "an admin key is required: Authorization: Bearer <one of ADMIN_API_KEYS>"}

// auth admits a request whose bearer token is an admin key.
func (c *Console) auth(h func(http.ResponseWriter, *http.Request) error) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		secure(w)
		key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || key == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="syncgate admin"`)
			return errKey
		}
		sum := sha256.Sum256([]byte(key))
		match := 0
		for _, k := range c.keys {
			match |= subtle.ConstantTimeCompare(sum[:], k[:])
		}
		if match != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="syncgate admin", error="invalid_token"`)
			return errKey
		}
		return h(w, r)
	}
}

func writeJSON(w http.ResponseWriter, v any) error {
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(v)
}

// Overview is the console's first page.
type Overview struct {
	Ready     bool                       `json:"ready"`
	Readiness map[string]any             `json:"readiness"`
	Guests    []GuestStats               `json:"guests"`
	LastHour  []syncgate.DeadLetterCount `json:"rejected_last_hour"`
	LastDay   []syncgate.DeadLetterCount `json:"rejected_last_day"`
	// Attachments says whether ATTACHMENTS is on (the page shows its view).
	Attachments bool `json:"attachments"`
}

func (c *Console) overview(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	o := Overview{Attachments: c.cfg.Attachments != nil}
	if c.cfg.Readiness != nil {
		o.Readiness, o.Ready = c.cfg.Readiness(ctx)
	}
	if c.cfg.Guests != nil {
		o.Guests = c.cfg.Guests()
	}
	now := c.cfg.Now()
	var err error
	if o.LastHour, err = c.cfg.Rejected.Counts(ctx, now.Add(-time.Hour)); err != nil {
		return err
	}
	if o.LastDay, err = c.cfg.Rejected.Counts(ctx, now.Add(-24*time.Hour)); err != nil {
		return err
	}
	return writeJSON(w, o)
}

// filterFrom reads a filter from query parameters (table, user, code,
// state, since, until: RFC 3339, limit).
func filterFrom(q map[string][]string) (syncgate.DeadLetterFilter, error) {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	f := syncgate.DeadLetterFilter{Table: get("table"), User: get("user"), Code: get("code"), State: get("state")}
	for _, p := range []struct {
		key string
		to  *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if v := get(p.key); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return f, syncgate.Errorf(syncgate.Invalid, syncgate.CodeInvalidFilter, "%s: want an RFC 3339 time", p.key)
			}
			*p.to = t
		}
	}
	if v := get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return f, syncgate.Errorf(syncgate.Invalid, syncgate.CodeInvalidFilter, "limit: want a number")
		}
		f.Limit = n
	}
	return f, nil
}

func (c *Console) list(w http.ResponseWriter, r *http.Request) error {
	f, err := filterFrom(r.URL.Query())
	if err != nil {
		return err
	}
	if f.Limit == 0 || f.Limit > 1000 {
		f.Limit = min(max(f.Limit, 100), 1000)
	}
	if f.State == "" {
		f.State = syncgate.StateOpen
	}
	list, err := c.cfg.Rejected.List(r.Context(), f)
	if err != nil {
		return err
	}
	if list == nil {
		list = []syncgate.DeadLetter{}
	}
	return writeJSON(w, map[string]any{"rejected": list})
}

func (c *Console) show(w http.ResponseWriter, r *http.Request) error {
	id := r.URL.Query().Get("id")
	if id == "" {
		return syncgate.Errorf(syncgate.Invalid, syncgate.CodeInvalidFilter, "id is required")
	}
	d, err := c.cfg.Rejected.Show(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, d)
}

// Selection is the body of replay, resolve and discard: ids, or a filter
// (with no ids) that selects open records.
type Selection struct {
	IDs    []string                  `json:"ids"`
	Filter syncgate.DeadLetterFilter `json:"filter"`
	DryRun bool                      `json:"dry_run"`
	Note   string                    `json:"note"`
}

func readSelection(r *http.Request) (Selection, syncgate.DeadLetterFilter, error) {
	var s Selection
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return s, syncgate.DeadLetterFilter{}, err
	}
	if len(body) > 0 {
		if err := json.Unmarshal(body, &s); err != nil {
			return s, syncgate.DeadLetterFilter{}, syncgate.Errorf(syncgate.Invalid, syncgate.CodeInvalidBody, "body: %s", err)
		}
	}
	f := s.Filter
	f.IDs = s.IDs
	if len(f.IDs) == 0 && f.Table == "" && f.User == "" && f.Code == "" && f.Since.IsZero() && f.Until.IsZero() {
		return s, f, syncgate.Errorf(syncgate.Invalid, syncgate.CodeInvalidFilter, "give ids or a filter (table, user, code, since, until)")
	}
	return s, f, nil
}

func (c *Console) replay(w http.ResponseWriter, r *http.Request) error {
	s, f, err := readSelection(r)
	if err != nil {
		return err
	}
	// A replay outlives a closed browser tab: what was applied is marked.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 10*time.Minute)
	defer cancel()
	sum, outcomes, err := c.cfg.Rejected.Replay(ctx, f, s.DryRun, nil)
	if err != nil {
		return err
	}
	if outcomes == nil {
		outcomes = []rejected.Outcome{}
	}
	return writeJSON(w, map[string]any{"summary": sum, "line": sum.Line(), "outcomes": outcomes})
}

func (c *Console) mark(state string) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		s, f, err := readSelection(r)
		if err != nil {
			return err
		}
		n, err := c.cfg.Rejected.Mark(r.Context(), f, state, s.Note)
		if err != nil {
			return err
		}
		return writeJSON(w, map[string]any{"state": state, "marked": n})
	}
}

func (c *Console) rules(w http.ResponseWriter, r *http.Request) error {
	var v any
	if c.cfg.Rules != nil {
		v = c.cfg.Rules()
	}
	return writeJSON(w, v)
}
