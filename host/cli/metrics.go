package cli

import (
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/syncgate/syncgate/host/sandbox"
)

// guestCollector exports the live pipeline's guest counters.
type guestCollector struct {
	holder                                       *sandbox.Reloadable
	calls, rejections, traps, timeouts, replaced *prometheus.Desc
	idle                                         *prometheus.Desc
}

func newGuestCollector(h *sandbox.Reloadable) *guestCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("syncgate_guest_"+name, help, []string{"guest"}, nil)
	}
	return &guestCollector{holder: h,
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
	p := c.holder.Current()
	if p == nil {
		return
	}
	for _, s := range p.Stages() {
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

// logWriter sends guest stdout/stderr to the log, one record per write.
type logWriter struct{ log *slog.Logger }

func (w logWriter) Write(p []byte) (int, error) {
	w.log.Warn("guest output", "text", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
