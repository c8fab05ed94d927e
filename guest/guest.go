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
// # ABI (version 1)
//
// A guest is a WASI reactor module. The host instantiates it once per pool
// slot, which runs _initialize (the Go runtime and package init, so schemas
// or other setup happen once per instance), then calls these exports:
//
//	syncgate_abi_version() i32       ABIVersion; the host refuses any other
//	syncgate_info() i64              the Info JSON, packed as ptr<<32 | len
//	syncgate_alloc(size i32) i32     a guest buffer of size bytes for the input
//	syncgate_handle(ptr, len i32) i64
//	                                 runs the Request at ptr/len (JSON or the
//	                                 rows form, below); returns the Response
//	                                 JSON, packed as ptr<<32 | len
//
// Memory ownership: the buffer from syncgate_alloc belongs to the guest and
// stays valid until syncgate_handle returns; the host writes the input into
// it. The returned output buffer stays valid until the next call into the
// instance; the host copies it out at once. One instance serves one call at
// a time.
//
// Status framing: a Response holds one Verdict per Op, by Index. A guest
// that fails (panics, traps, exceeds its deadline or memory limit) costs
// every op of that call a rejection; the host discards the instance. A
// Response whose "error" is set rejects every op with that reason.
//
// Within version 1, fields were added without breaking either side (each
// side skips what it does not know): an op's old, metadata, op_id and tx_id,
// and a verdict's expect, inc, on_conflict and rule (the conflict policies;
// docs/conflicts.md). A guest that sets them needs a host that knows them.
//
// # Input forms
//
// A Request comes in one of two forms; Process tells them apart by the
// first byte. The JSON form is the Request type as JSON. The rows form is
// what the host sends to guests whose Info.Input is "rows" (InfoJSON sets
// it for every guest built with this SDK; a guest built before it gets
// JSON): the host has decoded and checked every row already, so it sends
// each row's JSON text with an index of its members, and the SDK reads
// members from the index (Op.DataMembers, and the maps of Register guests)
// instead of lexing the text inside wasm. Integers are little-endian
// uint32 unless said otherwise; str is a uint32 length and the bytes:
//
//	request  RowsMagic, abi, now (int64 Unix nanoseconds, UTC), str request_id,
//	         str user_id, str claims (JSON object, or empty), settings count,
//	         that many str key + str value, op count, that many op
//	op       index, kind byte (1 PUT, 2 PATCH, 3 DELETE), flags byte, str table,
//	         str id, then by flag: row data (2), row current (4, and exists: 1),
//	         str extras (8: a JSON object of old, metadata, op_id, tx_id);
//	         flag 16: a later op of the request names the same document,
//	         32: an earlier one does (the SDK tracks documents only then)
//	row      member count, text length, extra length, the index (MemberSize
//	         bytes a member), the row's JSON text, extra bytes
//
// The SDK checks every length and offset before it uses it; a malformed
// Request is an error Response, and a malformed index entry ends Members
// with an error.
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

	"github.com/syncgate/syncgate/guest/internal/wire"
)

// ABIVersion is the host↔guest contract version described above.
const ABIVersion = 1

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
	// Input is the form of Request the guest reads: "rows" (the SDK's
	// guests: rows indexed by the host, see "Input forms" above) or empty
	// (JSON, all a guest built before the rows form reads). The SDK sets
	// it; a guest author never does.
	Input string `json:"input,omitempty"`
	// Error, when set, means the guest could not initialise (for example a
	// schema does not compile); the host refuses to load it and logs why.
	Error string `json:"error,omitempty"`
}

// KindPolicy is Info.Kind of a conflict policy (guest/policies).
const KindPolicy = "policy"

// Caller is the authenticated user behind a batch.
type Caller struct {
	UserID string         `json:"user_id"`
	Claims map[string]any `json:"claims,omitempty"`
}

// Op is one write as a guest sees it. Data and Current hold JSON values
// decoded with json.Number for numbers.
type Op struct {
	Index int    `json:"index"`
	Op    string `json:"op"` // PUT, PATCH or DELETE
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
	TxID     any            `json:"tx_id,omitempty"`

	// RawData and RawCurrent are Data and Current as the JSON bytes of
	// objects (nil when absent) for guests registered with RegisterRaw,
	// which get them instead of the decoded maps: a guest that reads a few
	// fields, or checks values where they lie, skips building maps it does
	// not need. Iterate them with Op.DataMembers and Op.CurrentMembers
	// (from the host's index of the row, without lexing it) or Fields.
	// They alias the call's input: copy what must outlive the call.
	RawData    []byte `json:"-"`
	RawCurrent []byte `json:"-"`
	// The rows form's indexes of RawData and RawCurrent (DataMembers).
	dataIdx, curIdx rowIndex
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
	info     Info
	handler  HandlerFunc
	rawOps   bool
	settings func(map[string]string) error
)

// CheckSettings installs a check of the guest's settings, run before the
// ops of every call (and by the host once at load, with no ops): its error
// fails the call, and at load refuses the guest, so a bad setting stops
// start-up with the guest's message. Guests cache what they parse.
func CheckSettings(f func(map[string]string) error) { settings = f }

// Register installs the guest's handler; call it once, from init.
func Register(i Info, h HandlerFunc) {
	info, handler, rawOps = i, h, false
}

// RegisterRaw installs a handler that gets Op.RawData and Op.RawCurrent
// instead of Data and Current.
func RegisterRaw(i Info, h HandlerFunc) {
	info, handler, rawOps = i, h, true
}

// SetInitError marks the guest as unable to serve, with the reason the host
// shows when it refuses to load it.
func SetInitError(err error) { info.Error = err.Error() }

// InputRows is Info.Input for guests that read the rows form.
const InputRows = "rows"

// InfoJSON is the registered Info as the host reads it.
func InfoJSON() []byte {
	i := info
	i.Input = InputRows
	b, _ := json.Marshal(i)
	return b
}

// Process runs the registered handler over a Request JSON and returns the
// Response JSON. It is what syncgate_handle calls, and what native tests can
// call to run a guest exactly as the host would.
func Process(input []byte) []byte {
	return process(handler, input, rawOps)
}

// ProcessWith is Process with an explicit handler registered with Register.
func ProcessWith(h HandlerFunc, input []byte) []byte { return process(h, input, false) }

// ProcessRawWith is Process with an explicit handler registered with
// RegisterRaw.
func ProcessRawWith(h HandlerFunc, input []byte) []byte { return process(h, input, true) }

func process(h HandlerFunc, input []byte, raw bool) []byte {
	decode := decodeRequest
	if len(input) >= len(RowsMagic) && string(input[:len(RowsMagic)]) == RowsMagic {
		decode = decodeRows
	}
	req, err := decode(input, raw)
	if err != nil {
		return mustJSON(Response{Error: "guest: decode request: " + err.Error()})
	}
	if req.ABI != ABIVersion {
		return mustJSON(Response{Error: fmt.Sprintf("guest: ABI %d, want %d", req.ABI, ABIVersion)})
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
				op.Current, op.RawCurrent, op.Exists, op.curIdx = st.doc, st.rawDoc, st.exists, rowIndex{}
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
		if raw {
			data := op.RawData
			if v.Data != nil {
				if data, err = wire.AppendValue(nil, v.Data); err != nil {
					return mustJSON(Response{Error: "guest: encode data: " + err.Error()})
				}
			}
			switch op.Op {
			case "PUT":
				state[k] = docState{rawDoc: data, exists: true}
			case "PATCH":
				merged, err := MergeObjects(op.RawCurrent, data)
				if err != nil {
					return mustJSON(Response{Error: fmt.Sprintf("guest: ops[%d]: %v", i, err)})
				}
				state[k] = docState{rawDoc: merged, exists: op.Exists}
			case "DELETE":
				state[k] = docState{}
			}
			continue
		}
		data := op.Data
		if v.Data != nil {
			data = v.Data
		}
		switch op.Op {
		case "PUT":
			state[k] = docState{doc: data, exists: true}
		case "PATCH":
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
		case "DELETE":
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
