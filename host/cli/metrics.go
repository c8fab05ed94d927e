package cli

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/syncgate/syncgate/host/batch"
	"github.com/syncgate/syncgate/host/live"
	"github.com/syncgate/syncgate/host/server"
)

// guestCollector exports the live pipeline's guest counters.
type guestCollector struct {
	rules                                        *live.Reloader
	calls, rejections, traps, timeouts, replaced *prometheus.Desc
	idle                                         *prometheus.Desc
}

func newGuestCollector(rules *live.Reloader) *guestCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("syncgate_guest_"+name, help, []string{"guest"}, nil)
	}
	return &guestCollector{rules: rules,
		calls:      d("calls_total", "Guest calls (one per batch and guest)."),
		rejections: d("rejections_total", "Ops a guest rejected or that failed in a guest."),
		traps:      d("traps_total", "Guest calls that trapped (panic, memory, ABI)."),
		timeouts:   d("timeouts_total", "Guest calls that ran past their deadline."),
		replaced:   d("instances_replaced_total", "Instances discarded after a failure and replaced."),
		idle:       d("instances_idle", "Warm instances waiting in the pool."),
	}
}

func (c *guestCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.calls, c.rejections, c.traps, c.timeouts, c.replaced, c.idle} {
		ch <- d
	}
}

func (c *guestCollector) Collect(ch chan<- prometheus.Metric) {
	r := c.rules.Current()
	if r == nil {
		return
	}
	for _, s := range r.Pipeline().Stages() {
		st, name := s.Guest.Stats(), s.Guest.Name()
		ch <- prometheus.MustNewConstMetric(c.calls, prometheus.CounterValue, float64(st.Calls.Load()), name)
		ch <- prometheus.MustNewConstMetric(c.rejections, prometheus.CounterValue, float64(st.Rejections.Load()), name)
		ch <- prometheus.MustNewConstMetric(c.traps, prometheus.CounterValue, float64(st.Traps.Load()), name)
		ch <- prometheus.MustNewConstMetric(c.timeouts, prometheus.CounterValue, float64(st.Timeouts.Load()), name)
		ch <- prometheus.MustNewConstMetric(c.replaced, prometheus.CounterValue, float64(st.Replaced.Load()), name)
		ch <- prometheus.MustNewConstMetric(c.idle, prometheus.GaugeValue, float64(s.Guest.Idle()), name)
	}
}

// guestDuration is the per-guest call latency histogram.
func guestDuration() (*prometheus.HistogramVec, func(string, time.Duration)) {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "syncgate_guest_call_duration_seconds", Help: "Guest call latency (one call per batch).",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	}, []string{"guest"})
	return h, func(g string, d time.Duration) { h.WithLabelValues(g).Observe(d.Seconds()) }
}

// stageDuration is the latency histogram of the write path's stages
// (host/batch), one series per stage.
func stageDuration() (*prometheus.HistogramVec, func(string, time.Duration)) {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "syncgate_upload_stage_duration_seconds", Help: "Time one batch spent in each stage of the write path (prepare, lookup, guests, authorize, schemagate, policies, convert, write, settle).",
		Buckets: []float64{.00001, .00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	}, []string{"stage"})
	byStage := map[string]prometheus.Observer{}
	for _, s := range batch.StageNames() {
		byStage[s] = h.WithLabelValues(s) // every series exists from the start, at 0
	}
	return h, func(s string, d time.Duration) { byStage[s].Observe(d.Seconds()) }
}

// logWriter logs guest output: the sandbox writes what one call printed as
// one "guest <name>: <text>" write, so each becomes one record; a Go panic
// becomes one "guest panicked" record with the message and the stack.
type logWriter struct{ log *slog.Logger }

func (w logWriter) Write(p []byte) (int, error) {
	text := strings.TrimRight(string(p), "\n")
	name := ""
	if rest, ok := strings.CutPrefix(text, "guest "); ok {
		if n, t, ok := strings.Cut(rest, ": "); ok && !strings.Contains(n, " ") {
			name, text = n, t
		}
	}
	if i := strings.Index(text, "panic: "); i >= 0 {
		msg, stack, _ := strings.Cut(text[i+len("panic: "):], "\n")
		w.log.Error("guest panicked", "guest", name, "panic", msg, "stack", strings.TrimSpace(stack), "before", strings.TrimSpace(text[:i]))
		return len(p), nil
	}
	w.log.Warn("guest output", "guest", name, "text", text)
	return len(p), nil
}

// reloadCollector exports what the last reloads did.
type reloadCollector struct {
	rules                           *live.Reloader
	reloads, failures, last, failed *prometheus.Desc
}

func newReloadCollector(rules *live.Reloader) *reloadCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("syncgate_reload_"+name, help, nil, nil)
	}
	return &reloadCollector{rules: rules,
		reloads:  d("success_total", "Reloads of schemas and guests that made a new set live (start-up included)."),
		failures: d("failures_total", "Reloads that failed; the previous set stayed live."),
		last:     d("last_success_timestamp_seconds", "When the live set of schemas and guests was made."),
		failed:   d("last_failed", "1 when the last reload failed (the previous set is serving), else 0."),
	}
}

func (c *reloadCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.reloads, c.failures, c.last, c.failed} {
		ch <- d
	}
}

func (c *reloadCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.rules.Status()
	failed := 0.0
	if st.Err != nil {
		failed = 1
	}
	ch <- prometheus.MustNewConstMetric(c.reloads, prometheus.CounterValue, float64(st.Reloads))
	ch <- prometheus.MustNewConstMetric(c.failures, prometheus.CounterValue, float64(st.Failures))
	ch <- prometheus.MustNewConstMetric(c.failed, prometheus.GaugeValue, failed)
	if !st.LastOK.IsZero() {
		ch <- prometheus.MustNewConstMetric(c.last, prometheus.GaugeValue, float64(st.LastOK.UnixNano())/1e9)
	}
}

// reloadHealth is the /readyz "guests" check: not ready until the first
// set is live; degraded (still 200) while the last reload failed.
func reloadHealth(st live.Status) error {
	switch {
	case !st.Loaded && st.Err != nil:
		return st.Err
	case !st.Loaded:
		return errors.New("loading")
	case st.Err != nil:
		return server.Degraded(fmt.Errorf("the last reload failed at %s, the previous set is serving: %w", st.Last.UTC().Format(time.RFC3339), st.Err))
	}
	return nil
}

// reloadDetails is the "reload" object of /readyz.
func reloadDetails(st live.Status) map[string]any {
	d := map[string]any{"reloads": st.Reloads, "failures": st.Failures}
	if st.RulesID != "" {
		d["rules_id"] = st.RulesID // the live set's fingerprint; `rejected replay` compares its own with it
	}
	if !st.Last.IsZero() {
		d["last"] = st.Last.UTC().Format(time.RFC3339Nano)
	}
	if !st.LastOK.IsZero() {
		d["last_success"] = st.LastOK.UTC().Format(time.RFC3339Nano)
	}
	if st.Err != nil {
		d["error"] = st.Err.Error()
	}
	return d
}
