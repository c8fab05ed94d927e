package tests

import (
	"cmp"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	sgbatch "github.com/syncgate/syncgate/host/batch"
)

// otlpCollector is an OTLP/HTTP trace receiver on 127.0.0.1 keeping every
// span it is sent.
type otlpCollector struct {
	mu    sync.Mutex
	spans []*tracepb.Span
}

func (c *otlpCollector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var req collectortrace.ExportTraceServiceRequest
	if r.URL.Path != "/v1/traces" || proto.Unmarshal(body, &req) != nil {
		http.Error(w, "bad export", http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			c.spans = append(c.spans, ss.Spans...)
		}
	}
	c.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-protobuf")
	b, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
	w.Write(b)
}

// TestTraceOfAnUpload: with OTEL_EXPORTER_OTLP_ENDPOINT set, one /upload is
// one trace: the request's span, a child span per stage in order, the
// guests' calls under their stage and the database commands under the
// stages that ran them; ids as attributes, no document data anywhere.
func TestTraceOfAnUpload(t *testing.T) {
	col := &otlpCollector{}
	srv := httptest.NewServer(col)
	defer srv.Close()
	env := schemaEnv(t)
	delete(env, "UPLOAD_AUTH")
	env["GUESTS"] = "owner:lists"
	env["OTEL_EXPORTER_OTLP_ENDPOINT"] = srv.URL
	a := start(t, env)
	const secret = "Groceries-7f3a"
	res := uploadResult(t, postUpload(t, a, token(t, a, "alice"), `{"batch":[
		{"op":"PUT","table":"lists","id":"`+listA+`","data":{"name":"`+secret+`","created_at":"2024-05-01 10:00:00"}},
		{"op":"PUT","table":"todos","id":"`+todoA+`","data":{"description":"bad","list_id":"`+listA+`","completed":"yes"}}]}`))
	if res.Applied != 1 || len(res.Rejected) != 1 {
		t.Fatalf("upload: %+v", res)
	}
	a.stop(t) // the exporter flushes at shutdown

	col.mu.Lock()
	defer col.mu.Unlock()
	byID := map[string]*tracepb.Span{}
	var root *tracepb.Span
	for _, s := range col.spans {
		byID[string(s.SpanId)] = s
		if s.Name == "POST /upload" {
			root = s
		}
		for _, kv := range s.Attributes {
			if strings.Contains(kv.Value.String(), secret) {
				t.Errorf("span %q carries document data in %s", s.Name, kv.Key)
			}
		}
	}
	if root == nil {
		t.Fatalf("no request span among %d spans", len(col.spans))
	}
	attrs := map[string]string{}
	for _, kv := range root.Attributes {
		attrs[kv.Key] = kv.Value.GetStringValue()
	}
	if attrs["syncgate.user_id"] != "alice" || attrs["syncgate.request_id"] == "" {
		t.Errorf("request span attributes %v: want the user id and request id", attrs)
	}
	parent := func(s *tracepb.Span) *tracepb.Span { return byID[string(s.ParentSpanId)] }
	var stageSpans []*tracepb.Span
	var guests, commands []string
	for _, s := range col.spans {
		if string(s.TraceId) != string(root.TraceId) {
			continue
		}
		p := parent(s)
		switch {
		case p == root && strings.HasPrefix(s.Name, "stage "):
			stageSpans = append(stageSpans, s)
		case strings.HasPrefix(s.Name, "guest "):
			if p == nil || !strings.HasPrefix(p.Name, "stage ") {
				t.Errorf("guest span %q not under a stage", s.Name)
			}
			guests = append(guests, p.Name+" > "+s.Name)
		case p != nil && strings.HasPrefix(p.Name, "stage "):
			commands = append(commands, p.Name+" > "+s.Name)
		}
	}
	slices.SortFunc(stageSpans, func(x, y *tracepb.Span) int { return cmp.Compare(x.StartTimeUnixNano, y.StartTimeUnixNano) })
	var stages, want []string
	for _, s := range stageSpans {
		stages = append(stages, s.Name)
	}
	for _, n := range sgbatch.StageNames() {
		want = append(want, "stage "+n)
	}
	// Stages without guests configured run too (and are timed): all of
	// them, one after the other.
	if !slices.Equal(stages, want) {
		t.Errorf("stage spans %v, want %v", stages, want)
	}
	for _, g := range []string{"stage guests > guest owner", "stage schemagate > guest schemagate"} {
		if !slices.Contains(guests, g) {
			t.Errorf("guest spans %v: missing %q", guests, g)
		}
	}
	for _, c := range []string{"stage lookup > find", "stage settle > insert"} {
		if !slices.Contains(commands, c) {
			t.Errorf("database spans %v: missing %q", commands, c)
		}
	}
	if !slices.ContainsFunc(commands, func(c string) bool { return strings.HasPrefix(c, "stage write > ") }) {
		t.Errorf("database spans %v: none under the write stage", commands)
	}
}
