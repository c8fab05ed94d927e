// Package syncgate holds the domain types every other host package shares:
// the write operation model (Op, Batch), the verdict a guest or the store
// gives an op, and the one client-facing error type.
//
// It imports no dependency and performs no I/O; HTTP status mapping lives in
// the server package, database mapping in the store package. Besides the
// types it carries the request id in a context, from the server to upload.
package syncgate

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Kind classifies an Error. The server maps each kind to one HTTP status.
type Kind int

// The error kinds, from the client's point of view.
const (
	Internal     Kind = iota // a bug or an unexpected failure: 500
	Invalid                  // malformed request: 400
	Unauthorized             // missing or bad credentials: 401
	Forbidden                // authenticated but not allowed: 403
	NotFound                 // no such route: 404
	NotAllowed               // wrong method: 405
	TooLarge                 // body or batch over a limit: 413
	Unsupported              // wrong content type: 415
	Rejected                 // the batch was refused in strict mode: 422
	Unavailable              // transient: retry later, 503
)

// Error is the one error type a client sees. Code is stable and
// machine-readable; Message is one sentence for people; Err is the cause,
// logged and never sent.
type Error struct {
	Kind    Kind
	Code    Code
	Message string
	Details []string
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return string(e.Code) + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error of the given kind and code with a formatted message.
func Errorf(kind Kind, code Code, format string, args ...any) *Error {
	return &Error{Kind: kind, Code: code, Message: fmt.Sprintf(format, args...)}
}

// AsError returns err as an *Error, wrapping anything else as Internal.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Kind: Internal, Code: CodeInternal, Message: "internal error", Err: err}
}

// OpType is the kind of write a client asks for.
type OpType string

// The three PowerSync CRUD operations.
const (
	Put    OpType = "PUT"
	Patch  OpType = "PATCH"
	Delete OpType = "DELETE"
)

// Op is one queued client write after decoding and validation.
// Data never contains "id" or "_id": the document id is ID.
type Op struct {
	Index int    // position in the client's batch
	Op    OpType // PUT, PATCH or DELETE
	Table string // MongoDB collection
	ID    string // becomes _id
	// IDType is the _id's BSON type when a schema declares one ("objectId");
	// empty for a string _id.
	IDType string
	// Data holds the row (PUT) or the changed columns (PATCH); integers
	// stay int64, other numbers float64.
	Data Doc
	// Client-side metadata kept for later stages, never written into documents.
	OpID     any `json:",omitempty"`
	TxID     any `json:",omitempty"`
	Old      Doc `json:",omitempty"`
	Metadata any `json:",omitempty"`
}

// Caller is who sent a batch, as established by auth.
type Caller struct {
	UserID string         `json:"user_id"`
	Claims map[string]any `json:"claims,omitempty"`
}

// Batch is one /upload request after decoding.
type Batch struct {
	Ops       []Op
	Caller    Caller
	RequestID string
	Received  time.Time
}

// Rejection is one op the pipeline or the store refused, with the reason.
type Rejection struct {
	Index  int    `json:"index"`
	Op     OpType `json:"op"`
	Table  string `json:"table"`
	ID     string `json:"id"`
	Code   Code   `json:"code"`
	Reason string `json:"reason"`
}

// Result is what an applied batch reports to the client.
type Result struct {
	Applied  int         `json:"applied"`
	Rejected []Rejection `json:"rejected"`
}

type requestIDKey struct{}

// WithRequestID returns ctx carrying the request id the server assigned (or
// the client sent), which the upload path records with dead letters.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestID is the request id ctx carries, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}
