// Package pipeline runs a batch through its guests in order: it owns the
// stages (which guest runs for which tables), the host's side of the
// request and response wire, verdicts and what conflict policies add to an
// op. It calls guests only through sandbox.Guest's methods and knows no
// HTTP and no database.
package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/syncgate/syncgate/guest/abi"
	"github.com/syncgate/syncgate/host/sandbox"
	"github.com/syncgate/syncgate/host/strictjson"
	"github.com/syncgate/syncgate/host/syncgate"
)

// tracer makes a span per guest call when the request's span records
// (OpenTelemetry on: OTEL_EXPORTER_OTLP_ENDPOINT set).
var tracer = otel.Tracer("github.com/syncgate/syncgate/host/pipeline")

// Stage is one guest and the tables it runs for (nil: every table).
type Stage struct {
	Guest  *sandbox.Guest
	Tables map[string]bool
}

func (s Stage) applies(table string) bool { return s.Tables == nil || s.Tables[table] }

// Pipeline runs a batch through its stages in order: each stage sees the
// ops still accepted, possibly changed by earlier stages. It implements
// upload.Pipeline. It uses only sandbox.Guest's exported methods.
type Pipeline struct {
	stages   []Stage
	maxDepth int
	now      func() time.Time
}

// NewPipeline returns a pipeline of stages; maxDepth bounds guest data.
func NewPipeline(stages []Stage, maxDepth int) *Pipeline {
	return &Pipeline{stages: stages, maxDepth: maxDepth, now: time.Now}
}

// Stages returns the pipeline's stages.
func (p *Pipeline) Stages() []Stage { return p.stages }

// NeedsCurrent reports whether a stage for table asked for stored documents.
func (p *Pipeline) NeedsCurrent(table string) bool {
	for _, s := range p.stages {
		if s.applies(table) && s.Guest.Info().NeedsCurrent {
			return true
		}
	}
	return false
}

// CurrentFields are the fields of table's stored documents its stages
// read: those a guest that needs them narrowed them to
// (abi.Info.CurrentFields, by table or "*"); whole reports that one reads
// whole documents — a guest that did not narrow them, or, when patch, one
// that did not ask for them but gets a PATCH's (the schema gate).
func (p *Pipeline) CurrentFields(table string, patch bool) (fields []string, whole bool) {
	for _, s := range p.stages {
		if !s.applies(table) {
			continue
		}
		info := s.Guest.Info()
		if !info.NeedsCurrent {
			if patch {
				return nil, true
			}
			continue
		}
		list, ok := info.CurrentFields[table]
		if !ok {
			list, ok = info.CurrentFields["*"]
		}
		if !ok {
			return nil, true
		}
		for _, f := range list {
			if !slices.Contains(fields, f) {
				fields = append(fields, f)
			}
		}
	}
	slices.Sort(fields)
	return fields, false
}

// References are the documents the guests declared they read with ops
// (abi.Info.References), for the tables each guest runs for.
func (p *Pipeline) References() []syncgate.Reference {
	var out []syncgate.Reference
	for _, s := range p.stages {
		for _, r := range s.Guest.Info().References {
			if !s.applies(r.Table) {
				continue
			}
			ref := syncgate.Reference{Table: r.Table, Column: r.Column, Parent: r.Parent, Field: r.Field, ByUser: r.ByUser}
			if ref.Field == "id" {
				ref.Field = "_id"
			}
			if !slices.Contains(out, ref) {
				out = append(out, ref)
			}
		}
	}
	return out
}

// Guards reports whether some stage runs for table.
func (p *Pipeline) Guards(table string) bool {
	for _, s := range p.stages {
		if s.applies(table) {
			return true
		}
	}
	return false
}

// Run implements upload.Pipeline.
func (p *Pipeline) Run(ctx context.Context, b *syncgate.Batch, current map[string]map[string]syncgate.Doc) ([]syncgate.Op, []syncgate.Rejection, error) {
	if !slices.ContainsFunc(b.Ops, func(op syncgate.Op) bool { return p.Guards(op.Table) }) {
		return b.Ops, nil, nil // no stage runs: b's ops as they are, not a copy
	}
	ops := make([]syncgate.Op, len(b.Ops))
	copy(ops, b.Ops)
	alive := make([]bool, len(ops))
	for i := range alive {
		alive[i] = true
	}
	var rejected []syncgate.Rejection
	var stage string // "guest:NAME": what a rejection records as its stage
	reject := func(i int, code syncgate.Code, reason string) {
		op := ops[i]
		alive[i] = false
		rejected = append(rejected, syncgate.Rejection{Index: op.Index, Op: op.Op, Table: op.Table, ID: op.ID, Code: code, Reason: reason, Stage: stage})
	}
	tracing := trace.SpanFromContext(ctx).IsRecording()
	var txRejects []int // positions whose verdict rejected their transaction
	now := p.now().UTC()
	if !b.Received.IsZero() {
		now = b.Received
	}
	for _, st := range p.stages {
		var idx []int // positions in ops this stage sees
		for i, op := range ops {
			if alive[i] && st.applies(op.Table) {
				idx = append(idx, i)
			}
		}
		if len(idx) == 0 {
			continue
		}
		stage = "guest:" + st.Guest.Name()
		encode, rows := encodeRequest, st.Guest.Info().Input == abi.InputRows
		if rows {
			encode = encodeRows
		}
		input, err := encode(b, now, st.Guest.Settings(), ops, idx, current)
		if err != nil {
			return nil, nil, fmt.Errorf("pipeline: encode request: %w", err)
		}
		var span trace.Span
		cctx := ctx
		if tracing {
			cctx, span = tracer.Start(ctx, "guest "+st.Guest.Name(), trace.WithAttributes(
				attribute.String("syncgate.guest", st.Guest.Name()), attribute.Int("syncgate.ops", len(idx))))
		}
		out, err := st.Guest.Call(cctx, input)
		if span != nil {
			if err != nil {
				span.SetStatus(codes.Error, "guest call failed")
			}
			span.End()
		}
		if rows {
			recycleRows(input) // Call copied it into the guest
		}
		if err != nil {
			var ce *sandbox.CallError
			if !errors.As(err, &ce) {
				if ctx.Err() != nil {
					return nil, nil, &syncgate.Error{Kind: syncgate.Unavailable, Code: syncgate.CodeGuestUnavailable,
						Message: "the write rules could not run in time; retry later", Err: err}
				}
				return nil, nil, err
			}
			for _, i := range idx {
				reject(i, syncgate.CodeGuestFailed, ce.Reason)
			}
			st.Guest.Stats().Rejections.Add(int64(len(idx)))
			continue
		}
		var resp response
		if err := decodeResponse(out, &resp); err != nil || resp.Error != "" {
			reason := fmt.Sprintf("guest %s answered badly", st.Guest.Name())
			if resp.Error != "" {
				reason = fmt.Sprintf("guest %s: %s", st.Guest.Name(), clip(resp.Error, 300))
			}
			for _, i := range idx {
				reject(i, syncgate.CodeGuestFailed, reason)
			}
			st.Guest.Stats().Rejections.Add(int64(len(idx)))
			continue
		}
		byIndex := make(map[int]int, len(idx)) // op.Index → position
		for _, i := range idx {
			byIndex[ops[i].Index] = i
		}
		seen := make(map[int]bool, len(idx))
		for _, v := range resp.Verdicts {
			i, ok := byIndex[v.Index]
			if !ok || seen[i] {
				continue
			}
			seen[i] = true
			if v.Reject {
				code := syncgate.Code(v.Code)
				if code == "" {
					code = syncgate.CodeRejected
				}
				reason := clip(v.Reason, 1000)
				if reason == "" {
					reason = "rejected by guest " + st.Guest.Name()
				}
				st.Guest.Stats().Rejections.Add(1)
				reject(i, code, reason)
				if v.RejectTx && ops[i].TxID != nil {
					txRejects = append(txRejects, i)
				}
				if code == syncgate.CodeConflict {
					rejected[len(rejected)-1].Conflict = v.conflictInfo(st.Guest.Name())
				}
				continue
			}
			if len(v.Data) > 0 && !bytes.Equal(v.Data, []byte("null")) {
				if ops[i].Op == syncgate.Delete {
					continue // a DELETE has no data to change
				}
				doc, err := strictjson.DecodeData(v.Data, p.maxDepth)
				if err == nil {
					err = stripID(&doc, ops[i].ID)
				}
				if err != nil {
					reject(i, syncgate.CodeGuestFailed, fmt.Sprintf("guest %s returned invalid data: %s", st.Guest.Name(), syncgate.AsError(err).Message))
					continue
				}
				ops[i].Data = doc
			}
			// After the data: an increment takes its field out of the final data.
			if err := applyPolicy(&ops[i], v.verdictPolicy, p.maxDepth, st.Guest.Name()); err != nil {
				reject(i, syncgate.CodeGuestFailed, fmt.Sprintf("guest %s: %v", st.Guest.Name(), err))
			}
		}
		for _, i := range idx {
			if !seen[i] && alive[i] {
				reject(i, syncgate.CodeGuestFailed, fmt.Sprintf("guest %s gave no verdict", st.Guest.Name()))
			}
		}
		// A verdict that rejects its transaction takes the batch's other
		// ops of that tx_id with it, whichever stage would see them.
		for _, i := range txRejects {
			tx := fmt.Sprint(ops[i].TxID)
			for j := range ops {
				if alive[j] && ops[j].TxID != nil && fmt.Sprint(ops[j].TxID) == tx {
					reject(j, syncgate.CodeTransactionRejected, fmt.Sprintf("op %d of transaction %s was rejected by guest %s: %s", ops[i].Index, tx, st.Guest.Name(), clip(rejected[rejIndex(rejected, ops[i].Index)].Reason, 300)))
				}
			}
		}
		txRejects = txRejects[:0]
	}
	accepted := make([]syncgate.Op, 0, len(ops))
	for i, op := range ops {
		if alive[i] {
			accepted = append(accepted, op)
		}
	}
	return accepted, rejected, nil
}

// response is a guest's Response as the host reads it.
type response struct {
	Verdicts []verdict `json:"verdicts"`
	Error    string    `json:"error"`
}

type verdict struct {
	Index    int             `json:"index"`
	Reject   bool            `json:"reject"`
	RejectTx bool            `json:"reject_tx"`
	Code     string          `json:"code"`
	Reason   string          `json:"reason"`
	Data     json.RawMessage `json:"data"`
	verdictPolicy
}

// decodeResponse reads a guest's Response as encoding/json does. The answer
// of a guest that accepts every op unchanged, {"verdicts":[{"index":0},…]}
// exactly as the SDK writes it, is read by hand (reflection cost ≈ 0.6 µs
// an op); anything else goes to encoding/json (FuzzDecodeResponse holds the
// two to each other).
func decodeResponse(out []byte, resp *response) error {
	if plainVerdicts(out, resp) {
		return nil
	}
	*resp = response{}
	return json.Unmarshal(out, resp)
}

// plainVerdicts reads out when it is exactly {"verdicts":[…]} of
// {"index":N} with N written as the SDK writes it (no sign, no leading
// zero, at most 9 digits); false for anything else.
func plainVerdicts(out []byte, resp *response) bool {
	const head, tail, open = `{"verdicts":[`, `]}`, `{"index":`
	if !bytes.HasPrefix(out, []byte(head)) || !bytes.HasSuffix(out, []byte(tail)) || len(out) < len(head)+len(tail) {
		return false
	}
	b := out[len(head) : len(out)-len(tail)]
	resp.Verdicts = make([]verdict, 0, len(b)/12)
	for len(b) > 0 {
		if len(resp.Verdicts) > 0 {
			if b[0] != ',' {
				return false
			}
			b = b[1:]
		}
		if !bytes.HasPrefix(b, []byte(open)) {
			return false
		}
		b = b[len(open):]
		n, digits := 0, 0
		for digits < len(b) && digits < 10 && '0' <= b[digits] && b[digits] <= '9' {
			n = n*10 + int(b[digits]-'0')
			digits++
		}
		if digits == 0 || digits > 9 || digits > 1 && b[0] == '0' || digits == len(b) || b[digits] != '}' {
			return false
		}
		resp.Verdicts = append(resp.Verdicts, verdict{Index: n})
		b = b[digits+1:]
	}
	return true
}

// rejIndex is the position in rejected of the op with batch index index.
func rejIndex(rejected []syncgate.Rejection, index int) int {
	for k := len(rejected) - 1; k >= 0; k-- {
		if rejected[k].Index == index {
			return k
		}
	}
	return 0
}

// stripID removes id/_id a guest put into data, refusing a different one.
func stripID(doc *syncgate.Doc, id string) error {
	for _, k := range []string{"id", "_id"} {
		if v, ok := doc.Get(k); ok {
			if v != id {
				return syncgate.Errorf(syncgate.Invalid, syncgate.CodeIDMismatch, "%s %v is not the op's id", k, v)
			}
			doc.Delete(k)
		}
	}
	return nil
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// encodeRequest writes the guest.Request JSON for the ops at idx, with data
// in the client's field order.
// Guests that read the rows form get encodeRows instead (rows.go).
func encodeRequest(b *syncgate.Batch, now time.Time, settings map[string]string, ops []syncgate.Op, idx []int, current map[string]map[string]syncgate.Doc) ([]byte, error) {
	var buf bytes.Buffer
	head, err := json.Marshal(struct {
		ABI       int               `json:"abi"`
		RequestID string            `json:"request_id"`
		Now       time.Time         `json:"now"`
		Caller    syncgate.Caller   `json:"caller"`
		Settings  map[string]string `json:"settings,omitempty"`
	}{abi.Version, b.RequestID, now, b.Caller, settings})
	if err != nil {
		return nil, err
	}
	buf.Write(head[:len(head)-1])
	buf.WriteString(`,"ops":[`)
	for n, i := range idx {
		op := ops[i]
		if n > 0 {
			buf.WriteByte(',')
		}
		fmt.Fprintf(&buf, `{"index":%d,"op":"%s","table":`, op.Index, op.Op)
		writeString(&buf, op.Table)
		buf.WriteString(`,"id":`)
		writeString(&buf, op.ID)
		if op.Op != syncgate.Delete {
			buf.WriteString(`,"data":`)
			d, err := op.Data.MarshalJSON()
			if err != nil {
				return nil, err
			}
			buf.Write(d)
		}
		extras, err := appendOpExtras(nil, op)
		if err != nil {
			return nil, err
		}
		buf.Write(extras)
		if cur, ok := current[op.Table][op.ID]; ok {
			buf.WriteString(`,"exists":true,"current":`)
			d, err := cur.MarshalJSON()
			if err != nil {
				return nil, err
			}
			buf.Write(d)
		}
		buf.WriteByte('}')
	}
	buf.WriteString("]}")
	return buf.Bytes(), nil
}

func writeString(buf *bytes.Buffer, s string) {
	b, _ := json.Marshal(s)
	buf.Write(b)
}

// Close closes the pipeline's guests.
func (p *Pipeline) Close(ctx context.Context) {
	for _, s := range p.stages {
		s.Guest.Close(ctx)
	}
}
