package store

import (
	"context"
	"sync"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Tracing: a span per database command, from the driver's own command
// monitoring. The OpenTelemetry contrib instrumentation for mongo-driver v2
// is not available from the module proxy here (docs/design.md), and what a
// span needs is small: the command's name, collection and outcome, keyed
// by the driver's request id between its started and finished events.
// Commands' contents (documents, filters) never go into a span.

var tracer = otel.Tracer("github.com/syncgate/syncgate/host/store")

// commandSpans returns the driver's command monitor that makes the spans:
// only under a context whose span records, so commands outside a traced
// request (pings, lookups of the CLI) cost a map-free check.
func commandSpans() *event.CommandMonitor {
	var spans sync.Map // request id → trace.Span
	end := func(id int64, err string) {
		if s, ok := spans.LoadAndDelete(id); ok {
			span := s.(trace.Span)
			if err != "" {
				span.SetStatus(codes.Error, err)
			}
			span.End()
		}
	}
	return &event.CommandMonitor{
		Started: func(ctx context.Context, e *event.CommandStartedEvent) {
			if !trace.SpanFromContext(ctx).IsRecording() {
				return
			}
			attrs := []attribute.KeyValue{
				attribute.String("db.system", "mongodb"),
				attribute.String("db.operation.name", e.CommandName),
				attribute.String("db.namespace", e.DatabaseName),
			}
			if coll, ok := commandCollection(e.Command, e.CommandName); ok {
				attrs = append(attrs, attribute.String("db.collection.name", coll))
			}
			_, span := tracer.Start(ctx, e.CommandName, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
			spans.Store(e.RequestID, span)
		},
		Succeeded: func(_ context.Context, e *event.CommandSucceededEvent) { end(e.RequestID, "") },
		Failed:    func(_ context.Context, e *event.CommandFailedEvent) { end(e.RequestID, e.Failure.Error()) },
	}
}

// commandCollection is the collection a command names (its first
// element's value, for find, update, delete, insert …).
func commandCollection(cmd bson.Raw, name string) (string, bool) {
	v, err := cmd.LookupErr(name)
	if err != nil {
		return "", false
	}
	s, ok := v.StringValueOK()
	return s, ok
}
