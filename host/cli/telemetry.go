package cli

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/syncgate/syncgate/host/config"
)

// tracing installs OpenTelemetry when OTEL_EXPORTER_OTLP_ENDPOINT is set:
// spans go in batches to that OTLP/HTTP collector, and the tracer returned
// makes /upload's request spans (stages, guest calls and database commands
// become their children). Unset, it returns a nil tracer and installs
// nothing: no span is ever started (the global provider stays a no-op).
// shutdown flushes what is buffered.
func tracing(ctx context.Context, cfg config.Config) (trace.Tracer, func(context.Context) error, error) {
	if cfg.OTelEndpoint == "" {
		return nil, func(context.Context) error { return nil }, nil
	}
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(cfg.OTelEndpoint+"/v1/traces"))
	if err != nil {
		return nil, nil, fmt.Errorf("OTEL_EXPORTER_OTLP_ENDPOINT: %w", err)
	}
	res := resource.NewSchemaless(semconv.ServiceName(cfg.OTelServiceName))
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	return tp.Tracer("github.com/syncgate/syncgate/host/upload"), tp.Shutdown, nil
}
