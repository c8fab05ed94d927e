// Package guest is the SDK for syncgate guests: small Go programs compiled
// to WebAssembly (GOOS=wasip1 GOARCH=wasm, -buildmode=c-shared) that the
// syncgate host runs on every write to accept, change or reject it.
//
// A guest author writes one function from an Op to a Verdict and registers
// it in init:
//
//	func init() { guest.Register(guest.Info{Name: "owner", NeedsCurrent: true}, handle) }
//	func handle(op *guest.Op) guest.Verdict { … return guest.Accept() }
//	func main() {}
//
// The logic is plain Go and is tested natively with go test; everything
// WebAssembly-specific lives in this package's abi_wasip1.go.
//
// The wire between host and guest (the exports, the Info a guest answers,
// the JSON and rows forms of a Request) is package guest/abi's, shared with
// the host; this package's abi_wasip1.go holds the exports. A guest that
// reads a few fields of a row as bytes instead of maps registers with
// RawData and reads them with package guest/raw.
//
// The sandbox gives a guest no network, no environment, no arguments, no
// real clock (use Request.Now) and no files except read-only mounts the host
// chooses (the schema gate sees the schemas folder at /schemas). Output to
// stdout and stderr goes to the host's log, capped.
package guest

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/syncgate/syncgate/guest/abi"
	"github.com/syncgate/syncgate/guest/internal/wire"
	"github.com/syncgate/syncgate/guest/raw"
)

// Info describes a guest to the host; it is read once at load.
type Info struct {
	Name string `json:"name"`
	// NeedsCurrent asks the host to fetch the stored document of every op
	// the guest sees (Op.Current).
	NeedsCurrent bool `json:"needs_current"`
	// Settings names every key the guest reads from Op.Settings. The host
	// refuses to start with a GUEST_SETTINGS key the guest does not list
	// (a typo would otherwise be ignored silently). An entry may be a
	// path.Match pattern: "*.field" admits the per-table form TABLE.field,
	// "*" any key, for a guest that checks its own with CheckSettings.
	Settings []string `json:"settings,omitempty"`
	// Kind says where in the write path the guest runs (docs/architecture.md):
	// empty for a guest that transforms or rejects ops (GUESTS order, before
	// authorization and the schema gate), KindPolicy for a conflict policy
	// (after the schema gate, just before the write).
	Kind string `json:"kind,omitempty"`
	// References declare other documents the guest reads with an op (a
	// todo's list): the host looks them up, one query per parent collection
	// per batch, and sends them in Op.Parents, as the batch's earlier ops
	// leave them. No I/O happens inside the sandbox.
	References []Reference `json:"references,omitempty"`
	// CurrentFields narrow NeedsCurrent: by table, the only fields of the
	// stored document the guest reads (its _id aside). The host may then
	// fetch just those (a projection), so Op.Current holds no other field;
	// an empty list asks only whether the document exists. Key "*" stands
	// for every table not listed; a table neither listed nor covered by
	// "*" gets whole documents. A guest that compares whole documents
	// (which fields a PUT changes) must not narrow them.
	CurrentFields map[string][]string `json:"current_fields,omitempty"`
}

// Reference declares that ops on Table name documents of Parent: an op's
// parents are the documents of Parent whose Field ("_id" for the id)
// equals the op's Column, in its data or its stored document — or, with
// ByUser, equals the caller's user id.
type Reference = abi.Reference

// KindPolicy is Info.Kind of a conflict policy (guest/policies).
const KindPolicy = abi.KindPolicy

// Caller is the authenticated user behind a batch.
type Caller struct {
	UserID string         `json:"user_id"`
	Claims map[string]any `json:"claims,omitempty"`
}

// OpType is what an op does to its document.
type OpType string

// The op types, as a PowerSync client names them.
const (
	OpPut    OpType = "PUT"    // create or replace the document
	OpPatch  OpType = "PATCH"  // set some of its fields
	OpDelete OpType = "DELETE" // delete it
)

// Op is one write as a guest sees it. Data and Current hold JSON values
// decoded with json.Number for numbers.
type Op struct {
	Index int    `json:"index"`
	Op    OpType `json:"op"`
	Table string `json:"table"`
	ID    string `json:"id"`
	// Data is the row (PUT) or the changed columns (PATCH); nil for DELETE.
	Data map[string]any `json:"data,omitempty"`
	// Current is the stored document (without id) when the host fetched it
	// and it exists; Exists tells the two apart.
	Current map[string]any `json:"current,omitempty"`
	Exists  bool           `json:"exists"`

	// What a PowerSync client sent beside the data (CrudEntry.toJSON):
	// Old holds the previous values of the changed columns when the app
	// tracks them (trackPreviousValues), Metadata the op's metadata
	// (trackMetadata), OpID and TxID the client's op and transaction ids.
	// Absent values are nil.
	Old      map[string]any `json:"old,omitempty"`
	Metadata any            `json:"metadata,omitempty"`
	OpID     any            `json:"op_id,omitempty"`
	// Parents are the documents the guest's References name for this op,
	// by parent collection, each with its id as "_id"; as the batch's
	// earlier ops leave them (a list PUT earlier in the batch is there, a
	// list deleted earlier is not). Nil when the guest declares none.
	Parents map[string][]map[string]any `json:"parents,omitempty"`
	TxID    any                         `json:"tx_id,omitempty"`

	// RawData and RawCurrent are Data and Current as the JSON bytes of
	// objects (nil when absent) for guests registered with RawData, which
	// get them instead of the decoded maps: a guest that reads a few
	// fields, or checks values where they lie, skips building maps it does
	// not need. Iterate them with Op.DataMembers and Op.CurrentMembers
	// (from the host's index of the row, without lexing it) or raw.Fields.
	// They alias the call's input: copy what must outlive the call.
	RawData    []byte `json:"-"`
	RawCurrent []byte `json:"-"`
	// The rows form's indexes of RawData and RawCurrent (DataMembers).
	dataIdx, curIdx abi.Index
	// The rows form says whether an earlier (before) or a later (again)
	// op of the call names the same document.
	before, again bool

	// Filled from the Request for convenience.
	Caller    Caller            `json:"-"`
	RequestID string            `json:"-"`
	Now       time.Time         `json:"-"`
	Settings  map[string]string `json:"-"`
}

// Request is one call's input: a batch's ops for this guest.
type Request struct {
	ABI       int               `json:"abi"`
	RequestID string            `json:"request_id"`
	Now       time.Time         `json:"now"`
	Caller    Caller            `json:"caller"`
	Settings  map[string]string `json:"settings,omitempty"`
	Ops       []*Op             `json:"ops"`

	repeats bool // the ops' before and again are known (the rows form)
}

// Verdict is a guest's answer for one op.
type Verdict struct {
	Index  int    `json:"index"`
	Reject bool   `json:"reject,omitempty"`
	Code   string `json:"code,omitempty"`
	Reason string `json:"reason,omitempty"`
	// Data, when set, replaces the op's data.
	Data map[string]any `json:"data,omitempty"`
	// RejectTx, with Reject, refuses every op of the batch that belongs to
	// the same client transaction (tx_id) as this one; they are rejected
	// with code "transaction_rejected". An op without a tx_id is rejected
	// alone.
	RejectTx bool `json:"reject_tx,omitempty"`

	// Conflict policies (guest/policies) use these; every other guest leaves
	// them empty.
	//
	// Expect makes an accepted write conditional: the host writes it only
	// while the stored document still has these values (nil: the field is
	// absent or null; Op.Current's view of values), so what the guest
	// checked cannot go stale before the write, even with other syncgate
	// instances writing. A write that finds the document changed is a lost
	// conflict, settled by OnConflict.
	Expect map[string]any `json:"expect,omitempty"`
	// Inc adds numbers to fields of a PATCH instead of setting them
	// (MongoDB's $inc), once per op however often the client resends it.
	Inc map[string]any `json:"inc,omitempty"`
	// OnConflict settles a lost conflict, this verdict's (Code "conflict")
	// or one the host finds at the write: "reject" (the default), "drop"
	// (silently) or "log" (a record in the conflicts collection).
	OnConflict string `json:"on_conflict,omitempty"`
	// Rule names the policy in conflict records and rejections.
	Rule string `json:"rule,omitempty"`
}

// Response is one call's output.
type Response struct {
	Verdicts []Verdict `json:"verdicts"`
	Error    string    `json:"error,omitempty"`
}

// Accept lets the op through unchanged.
func Accept() Verdict { return Verdict{} }

// Replace lets the op through with data instead of what the client sent.
func Replace(data map[string]any) Verdict { return Verdict{Data: data} }

// Reject refuses the op; reason is shown to the client and recorded.
func Reject(code, reason string) Verdict { return Verdict{Reject: true, Code: code, Reason: reason} }

// RejectTransaction refuses the op and every other op of its client
// transaction in the batch (see Verdict.RejectTx).
func RejectTransaction(code, reason string) Verdict {
	return Verdict{Reject: true, RejectTx: true, Code: code, Reason: reason}
}

// Rejectf refuses the op with a formatted reason and code "rejected".
func Rejectf(format string, args ...any) Verdict {
	return Reject("rejected", fmt.Sprintf(format, args...))
}

// CodeConflict is the rejection code of a lost conflict.
const CodeConflict = "conflict"

// Conflict refuses the op as the loser of a conflict under rule; the host
// settles it as onConflict says ("reject", "drop" or "log").
func Conflict(rule, onConflict, reason string) Verdict {
	return Verdict{Reject: true, Code: CodeConflict, Reason: reason, Rule: rule, OnConflict: onConflict}
}

// HandlerFunc decides one op.
type HandlerFunc func(op *Op) Verdict

var (
	info      Info
	initError string
	handler   HandlerFunc
	rawOps    bool
	settings  func(map[string]string) error
)

// CheckSettings installs a check of the guest's settings, run before the
// ops of every call (and by the host once at load, with no ops): its error
// fails the call, and at load refuses the guest, so a bad setting stops
// start-up with the guest's message. Guests cache what they parse.
func CheckSettings(f func(map[string]string) error) { settings = f }

// An Option changes how Register or Process runs a handler.
type Option struct {
	handler HandlerFunc
	raw     bool
}

// RawData makes the handler get Op.RawData and Op.RawCurrent (JSON bytes,
// read with Op.DataMembers or package guest/raw) instead of Data and
// Current: for guests that read a few fields, or check values where they
// lie, and would waste time building maps.
func RawData() Option { return Option{raw: true} }

// Handler makes Process run h instead of the registered handler (tests of
// a handler that is not registered; with RawData when it reads bytes).
func Handler(h HandlerFunc) Option { return Option{handler: h} }

// Register installs the guest's handler, described by i; call it once,
// from init. opts: RawData.
func Register(i Info, h HandlerFunc, opts ...Option) {
	raw := false
	for _, o := range opts {
		raw = raw || o.raw
	}
	info, handler, rawOps = i, h, raw
}

// SetInitError marks the guest as unable to serve, with the reason the host
// shows when it refuses to load it.
func SetInitError(err error) { initError = err.Error() }

// infoJSON is the registered Info as the host reads it (abi.Info).
func infoJSON() []byte {
	b, _ := json.Marshal(abi.Info{Name: info.Name, NeedsCurrent: info.NeedsCurrent, Settings: info.Settings,
		Kind: info.Kind, References: info.References, CurrentFields: info.CurrentFields, Input: abi.InputRows, Error: initError})
	return b
}

// Process runs a Request (either form, guest/abi) through the registered
// handler and returns the Response JSON. It is what syncgate_handle calls,
// and what native tests call to run a guest exactly as the host would;
// opts (Handler, RawData) run another handler instead.
func Process(input []byte, opts ...Option) []byte {
	if len(opts) == 0 {
		return process(handler, input, rawOps)
	}
	h, raw := handler, false
	for _, o := range opts {
		if o.handler != nil {
			h = o.handler
		}
		raw = raw || o.raw
	}
	return process(h, input, raw)
}

func process(h HandlerFunc, input []byte, rawData bool) []byte {
	decode := decodeRequest
	if len(input) >= len(abi.RowsMagic) && string(input[:len(abi.RowsMagic)]) == abi.RowsMagic {
		decode = decodeRows
	}
	req, err := decode(input, rawData)
	if err != nil {
		return mustJSON(Response{Error: "guest: decode request: " + err.Error()})
	}
	if req.ABI != abi.Version {
		return mustJSON(Response{Error: fmt.Sprintf("guest: ABI %d, want %d", req.ABI, abi.Version)})
	}
	if h == nil {
		return mustJSON(Response{Error: "guest: no handler registered"})
	}
	if settings != nil {
		if err := settings(req.Settings); err != nil {
			return mustJSON(Response{Error: "settings: " + err.Error()})
		}
	}
	for i, op := range req.Ops {
		if op == nil {
			return mustJSON(Response{Error: fmt.Sprintf("guest: ops[%d] is null", i)})
		}
	}
	resp := Response{Verdicts: make([]Verdict, len(req.Ops))}
	// The host fetched each document once, before the batch. Later ops on a
	// document see it as the ops this guest accepted earlier in the call
	// left it: a PATCH after a PUT in one batch sees the PUT's row.
	type key struct{ table, id string }
	type docState struct {
		doc    map[string]any
		rawDoc []byte
		exists bool
	}
	var state map[key]docState
	for i, op := range req.Ops {
		op.Caller, op.RequestID, op.Now, op.Settings = req.Caller, req.RequestID, req.Now, req.Settings
		k := key{op.Table, op.ID}
		if !req.repeats || op.before {
			if st, ok := state[k]; ok {
				op.Current, op.RawCurrent, op.Exists, op.curIdx = st.doc, st.rawDoc, st.exists, abi.Index{}
			}
		}
		v := h(op)
		v.Index = op.Index
		resp.Verdicts[i] = v
		if v.Reject || req.repeats && !op.again {
			continue
		}
		if state == nil {
			state = make(map[key]docState, len(req.Ops))
		}
		if rawData {
			data := op.RawData
			if v.Data != nil {
				if data, err = wire.AppendValue(nil, v.Data); err != nil {
					return mustJSON(Response{Error: "guest: encode data: " + err.Error()})
				}
			}
			switch op.Op {
			case OpPut:
				state[k] = docState{rawDoc: data, exists: true}
			case OpPatch:
				merged, err := raw.MergeObjects(op.RawCurrent, data)
				if err != nil {
					return mustJSON(Response{Error: fmt.Sprintf("guest: ops[%d]: %v", i, err)})
				}
				state[k] = docState{rawDoc: merged, exists: op.Exists}
			case OpDelete:
				state[k] = docState{}
			}
			continue
		}
		data := op.Data
		if v.Data != nil {
			data = v.Data
		}
		switch op.Op {
		case OpPut:
			state[k] = docState{doc: data, exists: true}
		case OpPatch:
			merged := make(map[string]any, len(op.Current)+len(data))
			for f, val := range op.Current {
				merged[f] = val
			}
			for f, val := range data {
				merged[f] = val
			}
			for f, d := range v.Inc { // the host adds to the stored value, whatever the data said
				merged[f] = addNumbers(op.Current[f], d)
			}
			state[k] = docState{doc: merged, exists: op.Exists}
		case OpDelete:
			state[k] = docState{}
		}
	}
	return mustJSON(resp)
}

// addNumbers is a+b for JSON numbers (a missing counts as 0), as $inc adds.
func addNumbers(a, b any) any {
	x, xok := wire.Float(a)
	if a == nil {
		x, xok = 0, true
	}
	y, yok := wire.Float(b)
	if !xok || !yok {
		return a
	}
	return json.Number(strconv.FormatFloat(x+y, 'g', -1, 64))
}

func mustJSON(r Response) []byte {
	b, err := encodeResponse(&r)
	if err != nil {
		b, _ = encodeResponse(&Response{Error: "guest: encode response: " + err.Error()})
	}
	return b
}

// DataMembers reads the members of op.RawData. In a call from the host
// they come from the index the host sent with the row (no lexing; see
// "Input forms" in guest/abi), otherwise from the bytes.
func (op *Op) DataMembers() raw.Members { return raw.Row(op.RawData, &op.dataIdx) }

// CurrentMembers reads the members of op.RawCurrent, as DataMembers.
func (op *Op) CurrentMembers() raw.Members { return raw.Row(op.RawCurrent, &op.curIdx) }

// MergedMembers reads the members of the document a PATCH leaves:
// op.RawCurrent with op.RawData's members set over it, the members of
// raw.MergeObjects(op.RawCurrent, op.RawData) though not in its order. When
// the host indexed both rows it builds no document: it reads the data's
// members, then the stored document's members whose keys the data does not
// set (inside wasm merging and lexing the merged text cost four times the
// schema gate's check of it). A key repeated within a row is read each
// time, as DataMembers reads it. Skipping the data's keys scans them for
// each stored member: meant for PATCHes of a few columns. The error is
// MergeObjects' when the rows were not indexed (JSON form); with indexes
// it is nil, and a damaged index ends the members with Err, as
// DataMembers does.
func (op *Op) MergedMembers() (raw.Members, error) {
	if m, ok := raw.Merged(op.DataMembers(), op.CurrentMembers()); ok {
		return m, nil
	}
	merged, err := raw.MergeObjects(op.RawCurrent, op.RawData)
	return raw.NewMembers(merged), err
}
