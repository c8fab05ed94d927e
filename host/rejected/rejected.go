// Package rejected owns what an operator can do with recorded rejections
// (the dead-letter collection): list and show them, replay them through the
// current rules, mark them resolved or discarded, purge old ones. The
// `syncgate rejected` command and the admin API both use it, so they mean
// the same thing.
//
// A replay runs each recorded op through the write path /upload runs
// (host/batch: decoder rules, guests, authorization, schema gate, type
// conversion) with the recorded user and claims as the caller, in the order the ops were recorded, and marks the record; it
// never deletes one. It must not import the database driver (Store is the
// seam it declares), log, or serve HTTP.
package rejected

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/syncgate/syncgate/host/batch"
	"github.com/syncgate/syncgate/host/syncgate"
	"github.com/syncgate/syncgate/host/upload"
)

// Store is what the service needs of the database to replay: the store
// /upload writes through.
type Store = batch.Store

// DeadLetters is what the service needs of the dead-letter collection
// (store.DeadLetters).
type DeadLetters interface {
	List(ctx context.Context, f syncgate.DeadLetterFilter) ([]syncgate.DeadLetter, error)
	Get(ctx context.Context, id string) (syncgate.DeadLetter, error)
	Mark(ctx context.Context, ids []string, mk syncgate.DeadLetterMark, onlyOpen bool) (int64, error)
	Purge(ctx context.Context, before time.Time, state string) (int64, error)
	Count(ctx context.Context, since time.Time) ([]syncgate.DeadLetterCount, error)
}

// Service runs the operations on recorded rejections.
type Service struct {
	store   Store
	letters DeadLetters
	rules   upload.RulesFunc
	svc     *batch.Service
	limits  upload.Limits
	now     func() time.Time
	// Chunk is how many records of one user go through the pipeline as one
	// batch (one guest call per guest); default 100.
	Chunk int
}

// New returns a service over the dead letters letters that replays through
// the rules rules returns (the live set) with the upload limits lim, writing
// with store.
func New(store Store, letters DeadLetters, rules upload.RulesFunc, lim upload.Limits) *Service {
	// Rejections come back to the replay (which updates the records)
	// instead of being recorded anew.
	svc := batch.New(batch.Config{}, capture{store})
	return &Service{store: store, letters: letters, rules: rules, svc: svc, limits: lim, now: time.Now, Chunk: 100}
}

// List returns the records f selects, newest first.
func (s *Service) List(ctx context.Context, f syncgate.DeadLetterFilter) ([]syncgate.DeadLetter, error) {
	return s.letters.List(ctx, f)
}

// Show returns one record.
func (s *Service) Show(ctx context.Context, id string) (syncgate.DeadLetter, error) {
	return s.letters.Get(ctx, id)
}

// Counts returns the rejections recorded since, by table and code.
func (s *Service) Counts(ctx context.Context, since time.Time) ([]syncgate.DeadLetterCount, error) {
	return s.letters.Count(ctx, since)
}

// Results of one record's replay.
const (
	ResultApplied       = "applied"        // it passed and was written
	ResultWouldApply    = "would_apply"    // dry run: it passes now
	ResultRejected      = "rejected"       // it is refused again (the record keeps the new reason)
	ResultSkipped       = "skipped"        // not open (already replayed, resolved or discarded)
	ResultNotReplayable = "not_replayable" // nothing to replay (no op recorded)
)

// Outcome is what a replay did (or would do) with one record.
type Outcome struct {
	ID     string          `json:"id"`
	Op     syncgate.OpType `json:"op"`
	Table  string          `json:"table"`
	DocID  string          `json:"doc_id"`
	Result string          `json:"result"`
	Code   syncgate.Code   `json:"code,omitempty"`
	Reason string          `json:"reason,omitempty"`
	// Data is what would be written (dry run, PUT and PATCH).
	Data syncgate.Doc `json:"data,omitempty"`
}

// Summary counts a replay's outcomes.
type Summary struct {
	Selected    int           `json:"selected"`
	Applied     int           `json:"applied"`
	WouldApply  int           `json:"would_apply"`
	Rejected    int           `json:"rejected"`
	Skipped     int           `json:"skipped"`
	DryRun      bool          `json:"dry_run"`
	Interrupted bool          `json:"interrupted,omitempty"`
	Took        time.Duration `json:"took_ns"`
}

// Line is the summary as one line for people.
func (s Summary) Line() string {
	verb := "replayed"
	if s.DryRun {
		verb = "dry run of"
	}
	rate := ""
	if secs := s.Took.Seconds(); secs > 0 && s.Selected > 0 {
		rate = fmt.Sprintf(" (%.0f ops/s)", float64(s.Selected)/secs)
	}
	end := ""
	if s.Interrupted {
		end = "; interrupted: what was applied stays applied and marked, run again to go on"
	}
	if s.DryRun {
		return fmt.Sprintf("%s %d: %d would apply, %d would be rejected, %d skipped in %s%s%s", verb, s.Selected, s.WouldApply, s.Rejected, s.Skipped, s.Took.Round(time.Millisecond), rate, end)
	}
	return fmt.Sprintf("%s %d: %d applied, %d rejected again, %d skipped in %s%s%s", verb, s.Selected, s.Applied, s.Rejected, s.Skipped, s.Took.Round(time.Millisecond), rate, end)
}

// Progress is called after each chunk with how many records are done.
type Progress func(done, total int)

// Replay runs the records f selects through the current rules, oldest
// first (so the ops on one document keep their order), and applies those
// that pass now unless dryRun. Each record is marked as it is done
// (replayed_at, result; a record refused again stays open with the new
// code and reason); records that are not open are skipped, so a second run
// does nothing. Ops are idempotent and marking follows writing, so an
// interrupted replay (ctx done) can simply be run again.
func (s *Service) Replay(ctx context.Context, f syncgate.DeadLetterFilter, dryRun bool, progress Progress) (Summary, []Outcome, error) {
	start := s.now()
	sum := Summary{DryRun: dryRun}
	f.Oldest = true
	if f.State == "" && len(f.IDs) == 0 {
		f.State = syncgate.StateOpen
	}
	records, err := s.letters.List(ctx, f)
	if err != nil {
		return sum, nil, err
	}
	sum.Selected = len(records)
	var out []Outcome
	chunk := max(s.Chunk, 1)
	for done := 0; done < len(records); {
		if ctx.Err() != nil {
			sum.Interrupted = true
			break
		}
		// One chunk: consecutive open records of one user.
		end := done
		for end < len(records) && end-done < chunk && sameCaller(records[end], records[done]) {
			end++
		}
		res, err := s.replayChunk(ctx, records[done:end], dryRun)
		if err != nil {
			if ctx.Err() != nil {
				sum.Interrupted = true
				break
			}
			sum.Took = s.now().Sub(start)
			return sum, out, err
		}
		for _, o := range res {
			switch o.Result {
			case ResultApplied:
				sum.Applied++
			case ResultWouldApply:
				sum.WouldApply++
			case ResultRejected:
				sum.Rejected++
			default:
				sum.Skipped++
			}
		}
		out = append(out, res...)
		done = end
		if progress != nil {
			progress(done, len(records))
		}
	}
	sum.Took = s.now().Sub(start)
	return sum, out, nil
}

// capture is the store a replay applies through: rejections are returned
// to the replay (which updates the records) instead of recorded anew.
type capture struct{ Store }

func (capture) RecordRejections(context.Context, *syncgate.Batch, []syncgate.Rejection) error {
	return nil
}

// sameCaller reports whether two records were written by the same user
// with the same claims (one replay batch has one caller).
func sameCaller(a, b syncgate.DeadLetter) bool {
	return a.UserID == b.UserID && reflect.DeepEqual(a.Claims, b.Claims)
}

func (s *Service) replayChunk(ctx context.Context, records []syncgate.DeadLetter, dryRun bool) ([]Outcome, error) {
	rules, release, err := s.rules()
	if err != nil {
		return nil, err
	}
	defer release()
	lim := s.limits
	lim.Tables = rules.Tables()
	out := make([]Outcome, len(records))
	// The recorded user with the claims the write was made with: rules
	// decide as they did for the client.
	b := &syncgate.Batch{Caller: syncgate.Caller{UserID: records[0].UserID, Claims: records[0].Claims}, Received: s.now().UTC(),
		RequestID: "replay-" + records[0].ID}
	for i, r := range records {
		out[i] = Outcome{ID: r.ID, Op: r.Op, Table: r.Table, DocID: r.DocID}
		if r.State != syncgate.StateOpen {
			out[i].Result, out[i].Reason = ResultSkipped, "already "+r.State
			continue
		}
		op, rej := recordedOp(r, i, lim)
		if rej != nil {
			if rej.Code == "" {
				out[i].Result, out[i].Reason = ResultNotReplayable, rej.Reason
				continue
			}
			b.Refused = append(b.Refused, *rej)
			continue
		}
		out[i].Op, out[i].Table, out[i].DocID = op.Op, op.Table, op.ID
		b.Ops = append(b.Ops, op)
	}
	var rejected []syncgate.Rejection
	if dryRun {
		accepted, rej, err := s.svc.Check(ctx, rules, b)
		if err != nil {
			return nil, err
		}
		rejected = rej
		for _, op := range accepted {
			out[op.Index].Result, out[op.Index].Data = ResultWouldApply, op.Data
		}
	} else if len(b.Ops)+len(b.Refused) > 0 {
		res, err := s.svc.Run(ctx, rules, b)
		if err != nil {
			return nil, err
		}
		rejected = res.Rejected
	}
	refused := make(map[int]syncgate.Rejection, len(rejected))
	for _, r := range rejected {
		refused[r.Index] = r
	}
	if dryRun {
		for i := range out {
			if r, ok := refused[i]; ok {
				out[i].Result, out[i].Code, out[i].Reason = ResultRejected, r.Code, r.Reason
			}
		}
		return out, nil
	}
	// Written first, marked second: an interruption between the two leaves
	// the records open, and replaying them again is idempotent.
	mctx := context.WithoutCancel(ctx)
	at := s.now().UTC()
	var applied []string
	for i := range out {
		if out[i].Result == ResultSkipped || out[i].Result == ResultNotReplayable {
			continue
		}
		r, ok := refused[i]
		if !ok {
			out[i].Result = ResultApplied
			applied = append(applied, records[i].ID)
			continue
		}
		out[i].Result, out[i].Code, out[i].Reason = ResultRejected, r.Code, r.Reason
		mk := syncgate.DeadLetterMark{State: syncgate.StateOpen, Replayed: true, At: at, Code: r.Code, Reason: r.Reason,
			Result: fmt.Sprintf("%s: %s: %s", ResultRejected, r.Code, r.Reason)}
		if _, err := s.letters.Mark(mctx, []string{records[i].ID}, mk, true); err != nil {
			return nil, err
		}
	}
	mk := syncgate.DeadLetterMark{State: syncgate.StateReplayed, Replayed: true, At: at, Result: ResultApplied}
	if _, err := s.letters.Mark(mctx, applied, mk, true); err != nil {
		return nil, err
	}
	return out, nil
}

// recordedOp rebuilds the op a record holds: from its raw text when the
// decoder could not read it (decoded again under today's rules), else from
// its fields. A rejection without a code means there is nothing to replay.
func recordedOp(r syncgate.DeadLetter, index int, lim upload.Limits) (syncgate.Op, *syncgate.Rejection) {
	if r.Raw != "" {
		if r.RawTruncated {
			return syncgate.Op{}, &syncgate.Rejection{Index: index, Reason: "the recorded text was cut at 64 KiB; it cannot be replayed"}
		}
		return upload.DecodeEntry([]byte(r.Raw), index, lim)
	}
	switch r.Op {
	case syncgate.Put, syncgate.Patch, syncgate.Delete:
	default:
		return syncgate.Op{}, &syncgate.Rejection{Index: index, Reason: "no op recorded"}
	}
	if lim.Tables != nil && !lim.Tables[r.Table] {
		return syncgate.Op{}, &syncgate.Rejection{Index: index, Op: r.Op, Table: r.Table, ID: r.DocID, Code: syncgate.CodeTableNotAllowed,
			Reason: fmt.Sprintf("%q is not a table clients may write", r.Table)}
	}
	op := syncgate.Op{Index: index, Op: r.Op, Table: r.Table, ID: r.DocID, Data: r.Data, OpID: r.OpID, TxID: r.TxID}
	if op.Op == syncgate.Delete {
		op.Data = nil
	} else if op.Data == nil {
		op.Data = syncgate.Doc{}
	}
	return op, nil
}

// Mark sets the records f selects that are open to state (resolved or
// discarded: handled without applying) and returns how many it marked.
func (s *Service) Mark(ctx context.Context, f syncgate.DeadLetterFilter, state, note string) (int, error) {
	if state != syncgate.StateResolved && state != syncgate.StateDiscarded {
		return 0, errors.New("rejected: mark: state must be resolved or discarded")
	}
	if len(f.IDs) == 0 {
		f.State = syncgate.StateOpen
	}
	records, err := s.letters.List(ctx, f)
	if err != nil {
		return 0, err
	}
	ids := make([]string, len(records))
	for i, r := range records {
		ids[i] = r.ID
	}
	n, err := s.letters.Mark(ctx, ids, syncgate.DeadLetterMark{State: state, Note: note, At: s.now().UTC()}, true)
	return int(n), err
}

// Purge deletes the records older than olderThan in state ("" or "all":
// any) and returns how many. olderThan must be positive: purging is never
// implicit.
func (s *Service) Purge(ctx context.Context, olderThan time.Duration, state string) (int64, error) {
	if olderThan <= 0 {
		return 0, errors.New("rejected: purge: --older-than must be a positive duration")
	}
	return s.letters.Purge(ctx, s.now().Add(-olderThan), state)
}
