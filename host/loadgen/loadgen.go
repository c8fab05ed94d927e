// Package loadgen simulates PowerSync clients against a syncgate on this
// machine: each client has its own user and token and drains an upload
// queue of mixed PUT/PATCH/DELETE batches over lists and todos, resending a
// batch until it is acknowledged, as the PowerSync SDK does. A ledger keeps
// every acknowledged op (applied or rejected) so the final database state
// can be checked against it, document by document.
//
// With several URLs (instances behind a load balancer) client n uploads to
// URLs[n%len], fetches its tokens from the next instance (so every instance
// must verify every other's tokens), sends each retry to the next instance
// (failover), and may resend acknowledged batches to another instance
// (ResendShare), as a client does when an answer is lost.
//
// It only talks to loopback addresses and stops by itself (Duration,
// MaxBatches, and a bounded drain of unacknowledged batches).
package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/syncgate/syncgate/host/syncgate"
)

// Config describes one run.
type Config struct {
	URL          string        // syncgate base URL; must be a loopback address
	URLs         []string      // several instances instead of URL (all loopback)
	ResendShare  float64       // share of acknowledged batches sent again to another instance
	Clients      int           // concurrent simulated clients
	Duration     time.Duration // how long clients start new batches
	MaxBatches   int           // per client; 0: unbounded within Duration
	BatchSize    int           // ops per batch
	InvalidShare float64       // share of ops that break the demo schemas
	APIKey       string        // for TOKEN_AUTH=api-key
	RunID        string        // prefixes every id; default: time-based
	Drain        time.Duration // how long to keep resending unacknowledged batches after Duration; default 30s
	Seed         uint64
	// Client is the HTTP client; default has a 30 s timeout.
	Client *http.Client
}

// Result is what a run saw.
type Result struct {
	Batches, Ops      int
	Applied, Rejected int
	Statuses          map[int]int // HTTP status → count; 0 = transport error
	Unexpected        []string    // statuses other than 200/503 with their bodies (first 20)
	Latencies         []time.Duration
	Elapsed           time.Duration
	Unacknowledged    int            // batches still not acknowledged when the drain ended
	Resent            int            // acknowledged batches sent again (ResendShare)
	Failovers         int            // retries sent to another instance than the failed attempt
	ByURL             map[string]int // acknowledged answers (200) per instance
	Ledger            *Ledger
}

// Ledger is the expected final state: every id the run touched and its
// document (nil: deleted or never created).
type Ledger struct {
	mu     sync.Mutex
	Prefix string
	Docs   map[string]map[string]map[string]any // table → id → fields
}

func (l *Ledger) set(table, id string, doc map[string]any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.Docs[table] == nil {
		l.Docs[table] = map[string]map[string]any{}
	}
	l.Docs[table][id] = doc
}

// CheckLoopback refuses any target that is not this machine.
func CheckLoopback(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("loadgen: %s is not a loopback address; load is only sent to this machine", raw)
}

// Run drives the clients and returns what they saw.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if len(cfg.URLs) == 0 {
		cfg.URLs = []string{cfg.URL}
	}
	for _, u := range cfg.URLs {
		if err := CheckLoopback(u); err != nil {
			return nil, err
		}
	}
	if cfg.Clients <= 0 || cfg.BatchSize <= 0 || cfg.Duration <= 0 {
		return nil, errors.New("loadgen: Clients, BatchSize and Duration must be positive")
	}
	if cfg.RunID == "" {
		cfg.RunID = fmt.Sprintf("%08x", uint32(time.Now().UnixNano()))
	}
	if cfg.Drain == 0 {
		cfg.Drain = 30 * time.Second
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 30 * time.Second}
	}
	res := &Result{Statuses: map[int]int{}, ByURL: map[string]int{}, Ledger: &Ledger{Prefix: cfg.RunID, Docs: map[string]map[string]map[string]any{}}}
	var mu sync.Mutex
	start := time.Now()
	stopNew := time.Now().Add(cfg.Duration)
	drainEnd := stopNew.Add(cfg.Drain)
	var wg sync.WaitGroup
	errc := make(chan error, cfg.Clients)
	for c := range cfg.Clients {
		wg.Go(func() {
			cl := &client{cfg: cfg, n: c, at: c % len(cfg.URLs), rng: rand.New(rand.NewPCG(cfg.Seed, uint64(c))), model: map[string]map[string]map[string]any{}}
			if err := cl.run(ctx, stopNew, drainEnd, res, &mu); err != nil {
				errc <- err
			}
		})
	}
	wg.Wait()
	close(errc)
	res.Elapsed = time.Since(start)
	for err := range errc {
		return res, err
	}
	return res, nil
}

type client struct {
	cfg   Config
	n     int
	at    int // index of the instance the next upload goes to
	rng   *rand.Rand
	seq   int
	token string
	model map[string]map[string]map[string]any // what this client believes is stored (acknowledged)
}

func (c *client) id() string {
	c.seq++
	// A UUID-shaped id unique to run, client and sequence.
	return fmt.Sprintf("%s-%04x-4%03x-8%03x-%012x", c.cfg.RunID, c.n&0xffff, (c.seq>>12)&0xfff, c.seq&0xfff, c.seq)
}

const listOfAll = "0b6f3a52-5a3c-4c59-9ac6-2f2b7f7c1b10"

// next makes one op against the client's model.
func (c *client) next() syncgateOp {
	table := "todos"
	if c.rng.IntN(3) == 0 {
		table = "lists"
	}
	existing := make([]string, 0, len(c.model[table]))
	for id, d := range c.model[table] {
		if d != nil {
			existing = append(existing, id)
		}
	}
	sort.Strings(existing)
	invalid := c.rng.Float64() < c.cfg.InvalidShare
	r := c.rng.IntN(10)
	switch {
	case len(existing) > 0 && r < 3:
		id := existing[c.rng.IntN(len(existing))]
		data := map[string]any{}
		if table == "lists" {
			data["name"] = fmt.Sprintf("list %d", c.rng.IntN(1e6))
		} else {
			data["description"] = fmt.Sprintf("todo %d", c.rng.IntN(1e6))
			data["completed"] = int64(c.rng.IntN(2))
		}
		if invalid {
			data["name"], data["description"] = 42, 42
		}
		return syncgateOp{Op: "PATCH", Table: table, ID: id, Data: data, invalid: invalid}
	case len(existing) > 0 && r < 4:
		return syncgateOp{Op: "DELETE", Table: table, ID: existing[c.rng.IntN(len(existing))]}
	}
	id := c.id()
	data := map[string]any{}
	if table == "lists" {
		data["name"] = fmt.Sprintf("list %d", c.rng.IntN(1e6))
		data["owner_id"] = fmt.Sprintf("user-%d", c.n)
	} else {
		data["description"] = fmt.Sprintf("Buy oat milk, bread and coffee for the week ahead, todo %d", c.rng.IntN(1e6))
		data["list_id"] = listOfAll
		data["completed"] = int64(c.rng.IntN(2))
		data["created_by"] = fmt.Sprintf("user-%d", c.n)
	}
	if invalid {
		data["completed"] = "yes"
		if table == "lists" {
			delete(data, "name")
		}
	}
	return syncgateOp{Op: "PUT", Table: table, ID: id, Data: data, invalid: invalid}
}

type syncgateOp struct {
	Op      string         `json:"op"`
	Table   string         `json:"table"`
	ID      string         `json:"id"`
	Data    map[string]any `json:"data,omitempty"`
	invalid bool
}

func (c *client) fetchToken(ctx context.Context) error {
	// Tokens come from another instance than uploads go to.
	tokenURL := c.cfg.URLs[(c.at+1)%len(c.cfg.URLs)]
	req, _ := http.NewRequestWithContext(ctx, "GET", tokenURL+"/token?user_id="+url.QueryEscape(fmt.Sprintf("user-%d", c.n)), nil)
	if c.cfg.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.cfg.APIKey)
	}
	resp, err := c.cfg.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("token: status %d", resp.StatusCode)
	}
	var m struct{ Token string }
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		return err
	}
	c.token = m.Token
	return nil
}

func (c *client) run(ctx context.Context, stopNew, drainEnd time.Time, res *Result, mu *sync.Mutex) error {
	for time.Now().Before(drainEnd) {
		if err := c.fetchToken(ctx); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond) // server not ready or database down: retry like a client
	}
	batches := 0
	for time.Now().Before(stopNew) && (c.cfg.MaxBatches == 0 || batches < c.cfg.MaxBatches) && ctx.Err() == nil {
		// Build the batch against a scratch copy of the model, so ops in a
		// batch may build on each other (PUT then PATCH of one id).
		ops := make([]syncgateOp, c.cfg.BatchSize)
		saved := c.model
		c.model = cloneModel(saved)
		for i := range ops {
			ops[i] = c.next()
			c.applyLocal(ops[i])
		}
		c.model = saved
		body, _ := json.Marshal(map[string]any{"batch": ops})
		applied, rejected, ok := c.send(ctx, body, drainEnd, res, mu)
		if !ok {
			mu.Lock()
			res.Unacknowledged++
			mu.Unlock()
			return nil
		}
		if len(c.cfg.URLs) > 1 && c.rng.Float64() < c.cfg.ResendShare {
			// The answer "was lost": send the batch again, to another
			// instance. It must be acknowledged; that it changes nothing
			// is what the ledger check shows.
			c.at = (c.at + 1) % len(c.cfg.URLs)
			if _, _, ok := c.send(ctx, body, drainEnd, res, mu); !ok {
				mu.Lock()
				res.Unacknowledged++
				mu.Unlock()
				return nil
			}
			mu.Lock()
			res.Resent++
			mu.Unlock()
		}
		// Acknowledged: the model and the ledger follow the server's answer.
		for i, op := range ops {
			if rejected[i] {
				continue
			}
			c.applyLocal(op)
			res.Ledger.set(op.Table, op.ID, c.model[op.Table][op.ID])
		}
		mu.Lock()
		res.Batches++
		res.Ops += len(ops)
		res.Applied += applied
		res.Rejected += len(rejected)
		mu.Unlock()
		batches++
	}
	return nil
}

func cloneModel(m map[string]map[string]map[string]any) map[string]map[string]map[string]any {
	out := make(map[string]map[string]map[string]any, len(m))
	for t, docs := range m {
		out[t] = make(map[string]map[string]any, len(docs))
		for id, d := range docs {
			out[t][id] = d
		}
	}
	return out
}

func (c *client) applyLocal(op syncgateOp) {
	if c.model[op.Table] == nil {
		c.model[op.Table] = map[string]map[string]any{}
	}
	switch op.Op {
	case "PUT":
		d := map[string]any{}
		for k, v := range op.Data {
			d[k] = v
		}
		c.model[op.Table][op.ID] = d
	case "PATCH":
		cur := c.model[op.Table][op.ID]
		if cur == nil {
			return
		}
		d := map[string]any{}
		for k, v := range cur {
			d[k] = v
		}
		for k, v := range op.Data {
			d[k] = v
		}
		c.model[op.Table][op.ID] = d
	case "DELETE":
		c.model[op.Table][op.ID] = nil
	}
}

// send posts the batch until the server acknowledges it (200) or the drain
// ends; 503 and transport errors are retried, as the PowerSync SDK does.
func (c *client) send(ctx context.Context, body []byte, drainEnd time.Time, res *Result, mu *sync.Mutex) (int, map[int]bool, bool) {
	wait := 50 * time.Millisecond
	for time.Now().Before(drainEnd) && ctx.Err() == nil {
		url := c.cfg.URLs[c.at]
		req, _ := http.NewRequestWithContext(ctx, "POST", url+"/upload", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+c.token)
		start := time.Now()
		resp, err := c.cfg.Client.Do(req)
		status := 0
		var out []byte
		if err == nil {
			status = resp.StatusCode
			out, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		mu.Lock()
		res.Statuses[status]++
		res.Latencies = append(res.Latencies, time.Since(start))
		if status != 200 && status != 503 && status != 0 && len(res.Unexpected) < 20 {
			res.Unexpected = append(res.Unexpected, fmt.Sprintf("%d %s", status, strings.TrimSpace(string(out))))
		}
		if status == 200 {
			res.ByURL[url]++
		}
		mu.Unlock()
		switch status {
		case 200:
			var r struct {
				Applied  int
				Rejected []syncgate.Rejection
			}
			if json.Unmarshal(out, &r) != nil {
				return 0, nil, false
			}
			rej := map[int]bool{}
			for _, x := range r.Rejected {
				rej[x.Index] = true
			}
			return r.Applied, rej, true
		case 401:
			_ = c.fetchToken(ctx) // expired: refresh and resend
		}
		if len(c.cfg.URLs) > 1 && (status == 0 || status == 503) {
			// A load balancer sends the retry elsewhere.
			c.at = (c.at + 1) % len(c.cfg.URLs)
			mu.Lock()
			res.Failovers++
			mu.Unlock()
		}
		time.Sleep(wait)
		wait = min(wait*2, time.Second)
	}
	return 0, nil, false
}

// Percentile returns the p-th percentile (0–100) of the latencies.
func (r *Result) Percentile(p float64) time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	l := append([]time.Duration(nil), r.Latencies...)
	sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
	return l[min(len(l)-1, int(float64(len(l))*p/100))]
}

// Summary is a human-readable report of the run.
func (r *Result) Summary() string {
	statuses := make([]string, 0, len(r.Statuses))
	for s, n := range r.Statuses {
		statuses = append(statuses, fmt.Sprintf("%d×%d", n, s))
	}
	sort.Strings(statuses)
	s := fmt.Sprintf("%d batches, %d ops in %s (%.0f ops/s acknowledged); applied %d, rejected %d; latency p50 %s p95 %s p99 %s; statuses %s; unacknowledged %d",
		r.Batches, r.Ops, r.Elapsed.Round(time.Millisecond), float64(r.Ops)/r.Elapsed.Seconds(), r.Applied, r.Rejected,
		r.Percentile(50).Round(time.Microsecond), r.Percentile(95).Round(time.Microsecond), r.Percentile(99).Round(time.Microsecond),
		strings.Join(statuses, " "), r.Unacknowledged)
	if len(r.ByURL) > 1 || r.Resent > 0 || r.Failovers > 0 {
		s += fmt.Sprintf("; acknowledged per instance %v, resent %d, failovers %d", r.ByURL, r.Resent, r.Failovers)
	}
	return s
}

// Dumper reads the stored documents of a table whose ids start with prefix.
type Dumper interface {
	Dump(ctx context.Context, table, prefix string) (map[string]syncgate.Doc, error)
}

// Verify compares the database with the ledger: every id the run
// acknowledged must be stored with exactly the ledger's fields, or be
// absent when the ledger says deleted; nothing else of the run may exist.
func (l *Ledger) Verify(ctx context.Context, db Dumper) []string {
	var problems []string
	for _, table := range []string{"lists", "todos"} {
		stored, err := db.Dump(ctx, table, l.Prefix)
		if err != nil {
			return []string{err.Error()}
		}
		want := l.Docs[table]
		for id, doc := range want {
			got, ok := stored[id]
			switch {
			case doc == nil && ok:
				problems = append(problems, fmt.Sprintf("%s/%s: deleted in the ledger, stored as %v", table, id, got))
			case doc != nil && !ok:
				problems = append(problems, fmt.Sprintf("%s/%s: acknowledged, missing from the database", table, id))
			case doc != nil && !same(doc, got):
				problems = append(problems, fmt.Sprintf("%s/%s: ledger %v, stored %v", table, id, doc, got))
			}
		}
		for id := range stored {
			if _, ok := want[id]; !ok {
				problems = append(problems, fmt.Sprintf("%s/%s: stored but never acknowledged", table, id))
			}
		}
	}
	return problems
}

func same(want map[string]any, got syncgate.Doc) bool {
	if len(want) != len(got) {
		return false
	}
	for _, f := range got {
		w, ok := want[f.Key]
		if !ok || fmt.Sprint(w) != fmt.Sprint(f.Value) {
			return false
		}
	}
	return true
}
