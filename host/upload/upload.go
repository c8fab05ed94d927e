// Package upload owns POST /upload: reading and strictly decoding a
// PowerSync client's write batch, running it through the pipeline (guests
// and schema gate), applying what was accepted through the store and
// answering with what was applied and what was rejected.
//
// It must not talk to MongoDB or wazero directly: the store and the pipeline
// are small interfaces declared here. Everything that can reject runs before
// the first write.
package upload

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"time"

	"github.com/syncgate/syncgate/host/syncgate"
)

// Store is what upload needs of the database.
type Store interface {
	// Current returns the stored documents with the ids of ops, by table then id.
	Current(ctx context.Context, ops []syncgate.Op) (map[string]map[string]syncgate.Doc, error)
	// Apply writes ops in order and returns those the database refused for good.
	Apply(ctx context.Context, ops []syncgate.Op) ([]syncgate.Rejection, error)
	// RecordRejections keeps rejected ops in the dead-letter collection.
	RecordRejections(ctx context.Context, b *syncgate.Batch, rejected []syncgate.Rejection) error
}

// Pipeline transforms or rejects ops before they are written: the guests and
// the schema gate.
type Pipeline interface {
	// NeedsCurrent reports whether some stage wants the stored document of
	// ops on table.
	NeedsCurrent(table string) bool
	// Guards reports whether some stage runs for table (so wherever
	// NeedsCurrent does); guests see the stored document of each PATCH
	// they check (the merged row is what a schema validates).
	Guards(table string) bool
	// Run returns the accepted ops, possibly changed, in order, and the
	// rejected ones (the batch's own slice when it changes nothing).
	// current holds the fetched stored documents.
	Run(ctx context.Context, b *syncgate.Batch, current map[string]map[string]syncgate.Doc) ([]syncgate.Op, []syncgate.Rejection, error)
}

// Converter types values as the schemas declare (x-bsonType).
type Converter interface {
	// PrepareID types op's id before stored documents are fetched.
	PrepareID(op *syncgate.Op) error
	// Convert types op's data just before the write.
	Convert(op *syncgate.Op) error
}

// Rules are what a reload replaces as one set: the pipeline, the type
// converter and the tables clients may write. A request uses one set from
// start to end, so a reload never mixes two.
type Rules interface {
	Pipeline
	Converter
	// Tables is the set of collections clients may write; nil: any valid name.
	Tables() map[string]bool
}

// RulesFunc returns the live Rules for one request and the func to call
// when the request is done with them (the set's guests stay open until
// then). Its error (e.g. still loading) is the request's answer.
type RulesFunc func() (Rules, func(), error)

// Authenticator establishes the caller of a request.
type Authenticator interface {
	Authenticate(r *http.Request) (syncgate.Caller, error)
}

// Config is the handler's settings.
type Config struct {
	// Limits bound the body; its Tables come from the request's Rules.
	Limits       Limits
	MaxBodyBytes int64
	Strict       bool // any rejection: 422 and nothing written
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// Handler serves POST /upload.
type Handler struct {
	cfg   Config
	store Store
	rules RulesFunc
	auth  Authenticator
}

// New returns a handler that takes each request's Rules from rules. auth
// may be nil (anonymous caller, UPLOAD_AUTH=off).
func New(cfg Config, store Store, rules RulesFunc, auth Authenticator) *Handler {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Handler{cfg: cfg, store: store, rules: rules, auth: auth}
}

// ServeHTTPReturn handles one upload and returns the error to write, if
// any (a server.ReturnHandlerFunc; not an http.Handler).
func (h *Handler) ServeHTTPReturn(w http.ResponseWriter, r *http.Request) error {
	var caller syncgate.Caller
	if h.auth != nil {
		c, err := h.auth.Authenticate(r)
		if err != nil {
			return err
		}
		caller = c
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
	res, err := h.Apply(r.Context(), rules, b)
	if err != nil {
		return err
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

// Check runs a decoded batch through rules up to the write: the ops that
// would be written (ids typed, guests and conversions applied), in order,
// and the rejections, sorted by index. It writes nothing (a replay's dry
// run), so it looks up the document of every PATCH: a missing one is
// rejected here rather than noticed by the store at the write.
func (h *Handler) Check(ctx context.Context, rules Rules, b *syncgate.Batch) ([]syncgate.Op, []syncgate.Rejection, error) {
	return h.check(ctx, rules, b, true)
}

// check is Check; allPatches says whether every PATCH's document is looked
// up first. Otherwise only those of tables a guest guards are, and the store
// rejects a PATCH that found no document when it writes it (without a query
// when the write's counts show none missed): most batches then need no
// lookup at all. Strict mode looks every one up, so that a missing document
// refuses the batch before anything is written.
func (h *Handler) check(ctx context.Context, rules Rules, b *syncgate.Batch, allPatches bool) ([]syncgate.Op, []syncgate.Rejection, error) {
	ops, rejected := keep(slices.Clone(b.Ops), slices.Clone(b.Refused), rules.PrepareID)
	prepared := *b // the pipeline sees the ops that survived; b keeps all for the dead letters
	prepared.Ops = ops
	patchesLooked := func(table string) bool { return allPatches || rules.Guards(table) } // a stage that needs stored documents guards its table
	current, err := fetchCurrent(ctx, h.store, rules, ops, patchesLooked)
	if err != nil {
		return nil, nil, err
	}
	// A PATCH of a missing document is refused as not_found before any guest
	// sees it, so no guest (the schema gate: "missing required property")
	// explains it as something else. Checked again after the guests, which
	// may have rejected the PUT that would have created it.
	var missing []syncgate.Rejection
	prepared.Ops, missing = rejectMissingPatches(prepared.Ops, current, patchesLooked)
	rejected = append(rejected, missing...)
	accepted, guestRejected, err := rules.Run(ctx, &prepared, current)
	if err != nil {
		return nil, nil, err
	}
	rejected = append(rejected, guestRejected...)
	accepted, missing = rejectMissingPatches(accepted, current, patchesLooked)
	rejected = append(rejected, missing...)
	accepted, rejected = keep(accepted, rejected, rules.Convert)
	accepted, rejected = keep(accepted, rejected, convertExpect(rules.Convert))
	setIncKeys(b, accepted)
	return accepted, sortRejections(withTxIDs(b, rejected)), nil
}

// Apply runs a decoded batch through rules and the store: every rejection
// is decided before the first write (Check). In strict mode any rejection
// answers 422 and nothing is written; otherwise rejections are recorded in
// the dead-letter collection and reported beside the applied count.
func (h *Handler) Apply(ctx context.Context, rules Rules, b *syncgate.Batch) (*syncgate.Result, error) {
	res := &syncgate.Result{Rejected: []syncgate.Rejection{}}
	if len(b.Ops) == 0 && len(b.Refused) == 0 {
		return res, nil
	}
	accepted, rejected, err := h.check(ctx, rules, b, h.cfg.Strict)
	if err != nil {
		return nil, err
	}
	// Lost conflicts a policy drops or logs are neither applied nor rejected.
	recorder, canLog := h.store.(ConflictRecorder)
	var logged []syncgate.Rejection
	rejected, logged = settleConflicts(rejected, logged, canLog)
	if h.cfg.Strict && len(rejected) > 0 {
		return nil, strictError(rejected)
	}
	dbRejected, err := h.store.Apply(ctx, accepted)
	if err != nil {
		return nil, err
	}
	applied := len(accepted) - len(dbRejected)
	dbRejected, logged = settleConflicts(dbRejected, logged, canLog)
	if h.cfg.Strict && len(dbRejected) > 0 {
		// Only a store without transactions gets here (with transactions it
		// aborts and answers a Rejected error itself): the ops before the
		// refused ones are written and cannot be taken back.
		e := strictError(dbRejected)
		e.Message = fmt.Sprintf("the database refused %d of the batch's ops; this database has no transactions, so the other ops were written (strict mode)", len(dbRejected))
		return nil, e
	}
	rejected = sortRejections(append(rejected, withTxIDs(b, dbRejected)...))
	if err := h.store.RecordRejections(ctx, b, rejected); err != nil {
		return nil, err
	}
	if len(logged) > 0 {
		if err := recorder.RecordConflicts(ctx, b, logged); err != nil {
			return nil, err
		}
	}
	res.Applied = applied
	res.Rejected = rejected
	return res, nil
}

// withTxIDs fills in each rejection's client transaction from its op.
func withTxIDs(b *syncgate.Batch, rejected []syncgate.Rejection) []syncgate.Rejection {
	var tx map[int]any
	for i := range rejected {
		if rejected[i].TxID != nil {
			continue
		}
		if tx == nil {
			tx = make(map[int]any, len(b.Ops))
			for _, op := range b.Ops {
				if op.TxID != nil {
					tx[op.Index] = op.TxID
				}
			}
		}
		rejected[i].TxID = tx[rejected[i].Index]
	}
	return rejected
}

// keep runs f on each op and moves the ops it fails into rejected. It
// filters ops in place: check hands it its own copy of the batch's ops.
func keep(ops []syncgate.Op, rejected []syncgate.Rejection, f func(*syncgate.Op) error) ([]syncgate.Op, []syncgate.Rejection) {
	out := ops[:0]
	for i := range ops {
		op := &ops[i] // f changes the op where it lies: a copy passed to f would escape to the heap
		if err := f(op); err != nil {
			rejected = append(rejected, syncgate.Rejection{Index: op.Index, Op: op.Op, Table: op.Table, ID: op.ID,
				Code: syncgate.CodeTypeConversion, Reason: err.Error()})
			continue
		}
		out = append(out, *op)
	}
	return out, rejected
}

// fetchCurrent loads the stored documents that the pipeline needs and those
// of the PATCHes on tables patchesLooked names, one query per collection.
func fetchCurrent(ctx context.Context, store Store, p Pipeline, ops []syncgate.Op, patchesLooked func(table string) bool) (map[string]map[string]syncgate.Doc, error) {
	var need []syncgate.Op
	for _, op := range ops {
		if op.Op == syncgate.Patch && patchesLooked(op.Table) || p.NeedsCurrent(op.Table) {
			need = append(need, op)
		}
	}
	if len(need) == 0 {
		return map[string]map[string]syncgate.Doc{}, nil
	}
	return store.Current(ctx, need)
}

// rejectMissingPatches refuses PATCHes of documents that will not exist when
// the PATCH runs: not stored, or deleted earlier in the batch, and not put
// earlier in it. A PATCH never invents a document. Whether it is stored is
// known only on the tables patchesLooked names; elsewhere the store tells
// at the write (Mongo.missedPatches).
func rejectMissingPatches(ops []syncgate.Op, current map[string]map[string]syncgate.Doc, patchesLooked func(table string) bool) ([]syncgate.Op, []syncgate.Rejection) {
	type key struct{ table, id string }
	// The PATCHed documents only: 0 while no op of the batch decided
	// whether they exist, then +1 (put) or -1 (deleted).
	var state map[key]int8
	for _, op := range ops {
		if op.Op == syncgate.Patch {
			if state == nil {
				state = map[key]int8{}
			}
			state[key{op.Table, op.ID}] = 0
		}
	}
	if state == nil {
		return ops, nil
	}
	var rejected []syncgate.Rejection
	kept := ops[:0] // in place, like keep
	for _, op := range ops {
		k := key{op.Table, op.ID}
		switch op.Op {
		case syncgate.Put, syncgate.Delete:
			if _, patched := state[k]; patched {
				state[k] = -1
				if op.Op == syncgate.Put {
					state[k] = 1
				}
			}
		case syncgate.Patch:
			present, known := state[k] > 0, state[k] != 0
			if !known && patchesLooked(op.Table) {
				_, present = current[op.Table][op.ID]
				known = true
			}
			if known && !present {
				rejected = append(rejected, syncgate.PatchNotFound(op))
				continue
			}
		}
		kept = append(kept, op)
	}
	return kept, rejected
}

func sortRejections(r []syncgate.Rejection) []syncgate.Rejection {
	if r == nil {
		return []syncgate.Rejection{}
	}
	slices.SortStableFunc(r, func(a, b syncgate.Rejection) int { return a.Index - b.Index })
	return r
}

// maxDetails caps how many rejections a 422 lists.
const maxDetails = 50

func strictError(rejected []syncgate.Rejection) *syncgate.Error {
	details := make([]string, 0, min(len(rejected), maxDetails))
	for i, r := range rejected {
		if i == maxDetails {
			details = append(details, fmt.Sprintf("… and %d more", len(rejected)-maxDetails))
			break
		}
		details = append(details, fmt.Sprintf("batch[%d] %s %s/%s: %s: %s", r.Index, r.Op, r.Table, r.ID, r.Code, r.Reason))
	}
	return &syncgate.Error{Kind: syncgate.Rejected, Code: syncgate.CodeBatchRejected,
		Message: fmt.Sprintf("%d of the batch's ops were rejected; nothing was written (strict mode)", len(rejected)),
		Details: details}
}
