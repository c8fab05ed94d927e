// Package batch is the write path of one batch of client ops, as a
// sequence of named stages (stages.go lists them, in order). Each stage
// takes the ops still going and may reject some, change some, or write
// them; an op's fate — applied, rejected with a code by one stage, or a
// lost conflict settled by its policy — is decided once, by the stage that
// decides it, and recorded as data on the batch's state.
//
// POST /upload (host/upload), a replay of recorded rejections
// (host/rejected) and its dry run all run batches through one Service. It
// knows no HTTP, no database driver and no wazero: the Store, the Rules
// (the live set of guests and schemas) and the Guests of a stage are small
// interfaces declared here.
package batch

import (
	"context"
	"fmt"
	"time"

	"github.com/syncgate/syncgate/host/syncgate"
)

// Store is what the write path needs of the database.
type Store interface {
	// Current returns the stored documents with the ids of ops, by table
	// then id: one query per collection. A table in fields gets only those
	// fields of its documents (and _id, which is dropped); an empty list
	// only tells which exist.
	Current(ctx context.Context, ops []syncgate.Op, fields map[string][]string) (map[string]map[string]syncgate.Doc, error)
	// Apply writes ops in order and reports what the database did: the
	// ops it refused for good, lost conflicts of conditional writes and
	// PATCHes that found no document. stop, when non-nil and true of a
	// refusal inside a transaction, aborts it there (nothing of it is
	// written); without transactions every op is tried.
	Apply(ctx context.Context, ops []syncgate.Op, stop func(syncgate.Rejection) bool) (syncgate.Written, error)
	// Lookup returns the documents of table whose field holds one of its
	// values (keys: field → values; "_id" values typed as idType), each
	// with its "_id": one query (parent documents guests declared).
	Lookup(ctx context.Context, table string, keys map[string][]any, idType string) ([]syncgate.Doc, error)
	// RecordRejections keeps rejected ops in the dead-letter collection.
	RecordRejections(ctx context.Context, b *syncgate.Batch, rejected []syncgate.Rejection) error
	// RecordConflicts keeps the lost conflicts whose policy logs them.
	RecordConflicts(ctx context.Context, b *syncgate.Batch, lost []syncgate.Rejection) error
}

// Guests are the guests of one stage (a pipeline): Run returns the
// accepted ops, possibly changed, in order, and the rejected ones.
type Guests interface {
	// NeedsCurrent reports whether a guest for table wants the stored
	// documents of its ops.
	NeedsCurrent(table string) bool
	// CurrentFields are the fields of stored documents the guests for
	// table read (guest.Info.CurrentFields) — of its PATCHes' too when
	// patch, which a guest that did not ask for stored documents reads
	// whole (the schema gate checks a PATCH over its document); whole
	// reports that one reads them whole.
	CurrentFields(table string, patch bool) (fields []string, whole bool)
	// Guards reports whether a guest runs for table.
	Guards(table string) bool
	// References are the parent documents the guests read with ops
	// (guest.Info.References).
	References() []syncgate.Reference
	Run(ctx context.Context, b *syncgate.Batch, current map[string]map[string]syncgate.Doc) ([]syncgate.Op, []syncgate.Rejection, error)
}

// Rules are one set of what a reload replaces (host/live): the tables
// clients may write, the schemas' typing and the guests of each guest
// stage. A batch uses one set from start to end.
type Rules interface {
	// Tables is the set of collections clients may write; nil: any valid name.
	Tables() map[string]bool
	// PrepareID types op's id before stored documents are fetched.
	PrepareID(op *syncgate.Op) error
	// Convert types op's data, and the values its write expects, as the
	// schemas declare, just before the write.
	Convert(op *syncgate.Op) error
	// Guests returns the guests of a guest stage (GuestStage), nil when
	// none is configured.
	Guests(stage GuestStage) Guests
	// ID fingerprints the set (recorded with dead letters).
	ID() string
}

// GuestStage names a stage made of guests.
type GuestStage string

// The guest stages, in the order they run.
const (
	Transform  GuestStage = "guests"     // GUESTS: guests that transform or reject ops, in configured order
	Authorize  GuestStage = "authorize"  // write authorization (rules files, sync scope)
	SchemaGate GuestStage = "schemagate" // the schemas/ check
	Policies   GuestStage = "policies"   // conflict policies (guest.Info.Kind "policy")
)

// GuestStages are the guest stages in order.
var GuestStages = []GuestStage{Transform, Authorize, SchemaGate, Policies}

// Config is the service's settings.
type Config struct {
	// Strict: any rejection refuses the whole batch (422) and nothing is
	// written (UPLOAD_STRICT).
	Strict bool
	// Observer sees each stage's duration (metrics); nil: none.
	Observer func(stage string, d time.Duration)
}

// Service runs batches through the stages.
type Service struct {
	cfg   Config
	store Store
}

// New returns a service writing to store.
func New(cfg Config, store Store) *Service {
	return &Service{cfg: cfg, store: store}
}

// Run runs a decoded batch through every stage: everything that can reject
// runs before the first write. In strict mode any rejection answers a
// Rejected *syncgate.Error and nothing is written; otherwise rejections are
// recorded in the dead-letter collection and reported beside the applied
// count.
func (s *Service) Run(ctx context.Context, rules Rules, b *syncgate.Batch) (*syncgate.Result, error) {
	if len(b.Ops) == 0 && len(b.Refused) == 0 {
		return &syncgate.Result{Rejected: []syncgate.Rejection{}}, nil
	}
	st := s.newState(rules, b, false)
	if err := s.run(ctx, st); err != nil {
		return nil, err
	}
	return &syncgate.Result{Applied: st.applied, Rejected: st.rejections()}, nil
}

// Check runs a decoded batch through the stages up to the write (a dry
// run): the ops that would be written, ids typed, guests and conversions
// applied, in order, and the rejections, by index. It writes and records
// nothing, so it looks up the document of every PATCH: a missing one is
// rejected here rather than noticed at the write.
func (s *Service) Check(ctx context.Context, rules Rules, b *syncgate.Batch) ([]syncgate.Op, []syncgate.Rejection, error) {
	st := s.newState(rules, b, true)
	if err := s.run(ctx, st); err != nil {
		return nil, nil, err
	}
	return st.ops, st.rejections(), nil
}

func (s *Service) newState(rules Rules, b *syncgate.Batch, dryRun bool) *state {
	if b.RulesID == "" {
		b.RulesID = rules.ID()
	}
	return &state{b: b, rules: rules, dryRun: dryRun, strict: s.cfg.Strict}
}

// maxDetails caps how many rejections a 422 lists.
const maxDetails = 50

// strictError is strict mode's answer: the batch is refused.
func strictError(rejected []syncgate.Rejection, message string) *syncgate.Error {
	details := make([]string, 0, min(len(rejected), maxDetails))
	for i, r := range rejected {
		if i == maxDetails {
			details = append(details, fmt.Sprintf("… and %d more", len(rejected)-maxDetails))
			break
		}
		details = append(details, fmt.Sprintf("batch[%d] %s %s/%s: %s: %s", r.Index, r.Op, r.Table, r.ID, r.Code, r.Reason))
	}
	return &syncgate.Error{Kind: syncgate.Rejected, Code: syncgate.CodeBatchRejected, Message: message, Details: details}
}
