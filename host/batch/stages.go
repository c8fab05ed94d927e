package batch

import (
	"context"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// The stages of a batch, in the order they run. Each is a function in a
// file of its own; adding a stage is that file and one line here.
var stages = []stage{
	{"prepare", prepare},                     // prepare.go: ids typed as the schemas declare
	{"lookup", lookup},                       // lookup.go: stored documents later stages need; PATCHes of missing documents
	{string(Transform), guests(Transform)},   // guests.go: GUESTS, in configured order
	{string(Authorize), guests(Authorize)},   // guests.go: who may write what
	{string(SchemaGate), guests(SchemaGate)}, // guests.go: schemas/
	{string(Policies), guests(Policies)},     // guests.go: conflict policies; increment keys
	{"convert", convert},                     // convert.go: x-bsonType conversions of data and expected values
	{"write", write},                         // write.go: strict mode; the store writes (not in a dry run)
	{"settle", settle},                       // settle.go: lost conflicts settled; rejections and conflicts recorded
}

// StageNames are the names of the stages in order (metrics, docs).
func StageNames() []string {
	names := make([]string, len(stages))
	for i, s := range stages {
		names[i] = s.name
	}
	return names
}

type stage struct {
	name string
	run  func(ctx context.Context, s *Service, st *state) error
}

// tracer makes the spans of the stages; without an SDK installed
// (OTEL_EXPORTER_OTLP_ENDPOINT unset) the global provider is a no-op, and
// no span is started unless the request's own span records.
var tracer = otel.Tracer("github.com/syncgate/syncgate/host/batch")

// run runs st through every stage, timing each. A dry run stops before
// the write.
func (s *Service) run(ctx context.Context, st *state) error {
	tracing := trace.SpanFromContext(ctx).IsRecording()
	for _, stg := range stages {
		if st.dryRun && stg.name == "write" {
			break
		}
		start := time.Now()
		sctx := ctx
		var span trace.Span
		if tracing {
			sctx, span = tracer.Start(ctx, "stage "+stg.name, trace.WithAttributes(attribute.Int("syncgate.ops", len(st.ops))))
		}
		err := stg.run(sctx, s, st)
		if span != nil {
			span.SetAttributes(attribute.Int("syncgate.rejected", len(st.rejected)))
			if err != nil {
				span.SetStatus(codes.Error, err.Error())
			}
			span.End()
		}
		if s.cfg.Observer != nil {
			s.cfg.Observer(stg.name, time.Since(start))
		}
		if err != nil {
			return err
		}
	}
	return nil
}
