// Package upload owns POST /upload: the HTTP adapter over the write path
// (host/batch) — the caller, the body's media type and size, the batch
// envelope decoded strictly (decode.go) — and the answer: what was applied
// and what was rejected. It must not talk to MongoDB or wazero.
package upload

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/syncgate/syncgate/host/batch"
	"github.com/syncgate/syncgate/host/syncgate"
)

// RulesFunc returns the live Rules for one request and the func to call
// when the request is done with them (the set's guests stay open until
// then). Its error (e.g. still loading) is the request's answer.
type RulesFunc func() (batch.Rules, func(), error)

// Authenticator establishes the caller of a request.
type Authenticator interface {
	Authenticate(r *http.Request) (syncgate.Caller, error)
}

// Config is the handler's settings.
type Config struct {
	// Limits bound the body; its Tables come from the request's Rules.
	Limits       Limits
	MaxBodyBytes int64
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// Tracer, when set (OpenTelemetry on), makes a span of each request,
	// the parent of its stages' spans; nil: no spans at all.
	Tracer trace.Tracer
}

// Handler serves POST /upload.
type Handler struct {
	cfg   Config
	svc   *batch.Service
	rules RulesFunc
	auth  Authenticator
}

// New returns a handler that runs each batch through svc with the Rules
// rules returns. auth may be nil (anonymous caller, UPLOAD_AUTH=off).
func New(cfg Config, svc *batch.Service, rules RulesFunc, auth Authenticator) *Handler {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Handler{cfg: cfg, svc: svc, rules: rules, auth: auth}
}

// ServeHTTPReturn handles one upload and returns the error to write, if
// any (a server.ReturnHandlerFunc; not an http.Handler).
func (h *Handler) ServeHTTPReturn(w http.ResponseWriter, r *http.Request) error {
	if h.cfg.Tracer != nil {
		ctx := otel.GetTextMapPropagator().Extract(r.Context(), propagation.HeaderCarrier(r.Header)) // a caller's traceparent
		ctx, span := h.cfg.Tracer.Start(ctx, "POST /upload", trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(attribute.String("syncgate.request_id", syncgate.RequestID(r.Context()))))
		defer span.End()
		r = r.WithContext(ctx)
	}
	var caller syncgate.Caller
	if h.auth != nil {
		c, err := h.auth.Authenticate(r)
		if err != nil {
			return err
		}
		caller = c
		if h.cfg.Tracer != nil {
			trace.SpanFromContext(r.Context()).SetAttributes(attribute.String("syncgate.user_id", c.UserID))
		}
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return syncgate.Errorf(syncgate.Unsupported, syncgate.CodeUnsupportedMedia, "Content-Type must be application/json")
		}
	} else {
		return syncgate.Errorf(syncgate.Unsupported, syncgate.CodeUnsupportedMedia, "Content-Type must be application/json")
	}
	if enc := r.Header.Get("Content-Encoding"); enc != "" && enc != "identity" {
		return syncgate.Errorf(syncgate.Unsupported, syncgate.CodeUnsupportedEncoding, "Content-Encoding %q is not accepted; send the body uncompressed", enc)
	}
	body, err := readBody(w, r, h.cfg.MaxBodyBytes)
	if err != nil {
		return err
	}
	rules, done, err := h.rules()
	if err != nil {
		return err
	}
	defer done()
	lim := h.cfg.Limits
	lim.Tables = rules.Tables()
	ops, refused, err := DecodeBatch(body, lim)
	if err != nil {
		return err
	}
	b := &syncgate.Batch{Ops: ops, Refused: refused, Caller: caller, Received: h.cfg.Now().UTC()}
	b.RequestID = syncgate.RequestID(r.Context())
	res, err := h.svc.Run(r.Context(), rules, b)
	if err != nil {
		if h.cfg.Tracer != nil {
			trace.SpanFromContext(r.Context()).SetStatus(codes.Error, string(syncgate.AsError(err).Code))
		}
		return err
	}
	if h.cfg.Tracer != nil {
		trace.SpanFromContext(r.Context()).SetAttributes(attribute.Int("syncgate.ops", len(b.Ops)+len(b.Refused)),
			attribute.Int("syncgate.applied", res.Applied), attribute.Int("syncgate.rejected", len(res.Rejected)))
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	return json.NewEncoder(w).Encode(res)
}

// readAll is io.ReadAll starting at size bytes: a body whose length is
// known is read into one allocation.
func readAll(r io.Reader, size int64) ([]byte, error) {
	b := make([]byte, 0, size)
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, syncgate.Errorf(syncgate.TooLarge, syncgate.CodeBodyTooLarge, "body is larger than %d bytes", limit)
	}
	body, err := readAll(http.MaxBytesReader(w, r.Body, limit), max(512, min(r.ContentLength, limit)+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, syncgate.Errorf(syncgate.TooLarge, syncgate.CodeBodyTooLarge, "body is larger than %d bytes", limit)
		}
		return nil, &syncgate.Error{Kind: syncgate.Invalid, Code: syncgate.CodeBodyUnreadable, Message: "could not read the request body", Err: err}
	}
	return body, nil
}
