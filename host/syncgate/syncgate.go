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

// ReservedPrefix starts the names of syncgate's own collections (dead
// letters, conflicts, locks); clients may not write collections named so,
// and DEAD_LETTER_COLLECTION and CONFLICTS_COLLECTION must use it.
const ReservedPrefix = "syncgate_"

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
	BadRange                 // a Range outside the file: 416
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
	// Write carries what conflict-policy guests asked of the write itself
	// (conditions, increments); nil for a plain write.
	Write *WriteRule `json:",omitempty"`
	// Parents are the documents the guests' References name for this op,
	// by parent collection, each with its "_id", as the batch's earlier ops
	// leave them; set for the guest stage that declared them (host/batch).
	Parents map[string][]Doc `json:"-"`
}

// Reference is what a guest declared it reads with an op (guest.Info's
// References): ops on Table name documents of Parent whose Field equals
// the op's Column (in its data or stored document), or, ByUser, the
// caller's user id. Field "_id" is the parent's id.
type Reference struct {
	Table, Column, Parent, Field string
	ByUser                       bool
}

// WriteRule is what guests asked of an op's write beyond its data: the store
// writes the op only while the stored document still has the Expect values
// (a conditional write: the check a guest made cannot go stale before the
// write), and adds Inc to fields instead of setting them, once per IncKey.
type WriteRule struct {
	// Expect: field → the stored value the guests checked (nil: absent or
	// null), in the client's view until converted like Data.
	Expect Doc
	// Inc: field → number to add ($inc) on a PATCH.
	Inc Doc
	// IncKey identifies the op across resends, so an increment is added
	// once: the store records it in the document with the increment.
	IncKey string
	// OnConflict settles a lost conflict (default SettleReject).
	OnConflict Settlement
	// Rule names the policies that asked, for conflict records.
	Rule string
}

// Conditional reports whether op's write carries conditions or increments
// (the store writes such ops one statement at a time, to see each result).
func (op *Op) Conditional() bool {
	return op.Write != nil && (len(op.Write.Expect) > 0 || len(op.Write.Inc) > 0)
}

// Caller is who sent a batch, as established by auth.
type Caller struct {
	UserID string         `json:"user_id"`
	Claims map[string]any `json:"claims,omitempty"`
}

// Batch is one /upload request after decoding.
type Batch struct {
	Ops []Op
	// Refused holds the entries that could not be decoded into ops (with
	// their raw text); they are rejections from the start.
	Refused   []Rejection
	Caller    Caller
	RequestID string
	Received  time.Time
	// RulesID fingerprints the set of rules (guests per table, settings,
	// schemas, rules files) the batch ran under; recorded with its dead
	// letters.
	RulesID string
}

// Rejection is one op the pipeline or the store refused, with the reason.
type Rejection struct {
	Index  int    `json:"index"`
	Op     OpType `json:"op"`
	Table  string `json:"table"`
	ID     string `json:"id"`
	Code   Code   `json:"code"`
	Reason string `json:"reason"`
	// TxID is the client transaction the op belonged to (PowerSync's
	// tx_id), when it sent one.
	TxID any `json:"tx_id,omitempty"`
	// Raw is the entry's JSON text as the client sent it, set only when it
	// could not be decoded into an Op (then Op, Table and ID are what could
	// be read of it, possibly empty); bounded, RawTruncated when cut. It is
	// recorded with the dead letter, never sent back.
	Raw          string `json:"-"`
	RawTruncated bool   `json:"-"`
	// Conflict, when set, marks a lost conflict (Code is CodeConflict) to
	// be settled as it says ("reject", "drop" or "log") and names the rule.
	Conflict *ConflictInfo `json:"-"`
	// Stage names the stage of the write path that refused the op ("decode",
	// "prepare", "guest:owner", "authorize", "schemagate", "convert",
	// "write", …); recorded with the dead letter so a replay can tell
	// whether its rules include the stage that refused it.
	Stage string `json:"-"`
}

// PatchNotFound is the rejection of a PATCH whose document does not exist: a
// PATCH changes a stored document, and writes nothing when there is none.
// upload decides it before the write when it looked the document up, the
// store after the write otherwise; both say it the same way.
func PatchNotFound(op Op) Rejection {
	return Rejection{Index: op.Index, Op: op.Op, Table: op.Table, ID: op.ID, Code: CodeDocumentNotFound,
		Reason: fmt.Sprintf("PATCH of %s/%s: no such document (a PATCH changes a stored document; a PUT creates one)", op.Table, op.ID)}
}

// ConflictInfo is how a lost conflict is settled and which rule lost it.
type ConflictInfo struct {
	OnConflict Settlement
	Rule       string
}

// Settle is how c's conflict is settled; a nil c (no conflict) and an
// unset settlement reject.
func (c *ConflictInfo) Settle() Settlement {
	if c == nil || c.OnConflict == "" {
		return SettleReject
	}
	return c.OnConflict
}

// Quiet reports whether c is a lost conflict that is not a rejection
// (dropped or logged): it neither refuses a strict batch nor is recorded
// as a dead letter.
func (c *ConflictInfo) Quiet() bool {
	s := c.Settle()
	return s == SettleDrop || s == SettleLog
}

// Settlement is what happens to a lost conflict (a conditional write whose
// stored values changed), as the conflict policy's on_conflict says.
type Settlement string

// The settlements.
const (
	SettleReject Settlement = "reject" // a rejection like any other (the default)
	SettleDrop   Settlement = "drop"   // silently: neither applied nor rejected
	SettleLog    Settlement = "log"    // recorded in the conflicts collection instead of rejected
)

// Written is what the database did with a batch's ops (the store's report;
// the write path decides what it means).
type Written struct {
	// Refused are the ops it did not write: refusals (duplicate key,
	// validator), lost conflicts (CodeConflict with Conflict set) and
	// PATCHes that found no document (CodeDocumentNotFound).
	Refused []Rejection
	// Aborted: the write stopped at a refusal (the write's stop said so)
	// inside a transaction, and nothing of it was written;
	// CommittedBefore: earlier transactions of a batch past one
	// transaction's limits were.
	Aborted, CommittedBefore bool
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

// DeadLetter states: what has been done about a recorded rejection.
const (
	StateOpen      = "open"      // nothing yet (a failed replay leaves it open, with the new reason)
	StateReplayed  = "replayed"  // replayed and applied
	StateResolved  = "resolved"  // handled without applying (fixed by other means)
	StateDiscarded = "discarded" // dropped on purpose
)

// DeadLetter is one recorded rejection (the dead-letter collection): the
// op as the client sent it, who sent it, why it was refused and what has
// been done about it since.
type DeadLetter struct {
	ID        string    `json:"id"` // the record's own id
	RequestID string    `json:"request_id"`
	UserID    string    `json:"user_id"`
	At        time.Time `json:"at"`
	Index     int       `json:"index"`
	Op        OpType    `json:"op"`
	Table     string    `json:"table"`
	DocID     string    `json:"doc_id"`
	Code      Code      `json:"code"`
	Reason    string    `json:"reason"`
	Data      Doc       `json:"data,omitempty"`
	OpID      any       `json:"op_id,omitempty"`
	TxID      any       `json:"tx_id,omitempty"`
	// Raw is the entry's JSON text when it could not be decoded (see
	// Rejection.Raw).
	Raw          string `json:"raw,omitempty"`
	RawTruncated bool   `json:"raw_truncated,omitempty"`
	// Stage is the stage that refused the op (Rejection.Stage), Rules the
	// fingerprint of the rules set in force (Batch.RulesID), Claims the
	// caller's claims when the write was made (a replay runs as them).
	Stage  string         `json:"stage,omitempty"`
	Rules  string         `json:"rules,omitempty"`
	Claims map[string]any `json:"claims,omitempty"`
	State  string         `json:"state"`
	// Replays counts replay attempts; ReplayedAt and Result are the last
	// one's ("applied", or "rejected: code: reason").
	Replays    int        `json:"replays,omitempty"`
	ReplayedAt *time.Time `json:"replayed_at,omitempty"`
	Result     string     `json:"result,omitempty"`
	HandledAt  *time.Time `json:"handled_at,omitempty"`
	Note       string     `json:"note,omitempty"`
}

// DeadLetterFilter selects recorded rejections; zero fields match all.
type DeadLetterFilter struct {
	IDs    []string  `json:"ids,omitempty"`
	Table  string    `json:"table,omitempty"`
	User   string    `json:"user,omitempty"`
	Code   string    `json:"code,omitempty"`
	State  string    `json:"state,omitempty"` // "" or "all": any state
	Since  time.Time `json:"since,omitzero"`
	Until  time.Time `json:"until,omitzero"`
	Limit  int       `json:"limit,omitempty"`
	Oldest bool      `json:"-"` // oldest first (replay order); default newest first
}

// DeadLetterMark is what happened to a recorded rejection.
type DeadLetterMark struct {
	State string // the new state
	// Replayed marks a replay attempt (replayed_at, replays+1, result);
	// otherwise it is handled without applying (handled_at).
	Replayed bool
	Result   string
	// Code and Reason, when set, replace the record's (a replay that was
	// rejected again keeps its new reason).
	Code   Code
	Reason string
	Note   string
	At     time.Time
}

// DeadLetterCount is how many rejections one table and code had.
type DeadLetterCount struct {
	Table string `json:"table"`
	Code  string `json:"code"`
	Count int64  `json:"count"`
}
