// Package abi is the wire contract between the syncgate host and its guests,
// version 1: the exports a guest module has, the Info it answers, and the
// rows form of a Request with its member index. The host (host/pipeline,
// host/sandbox) and the guest SDK (package guest) both import it, so the two
// sides cannot drift; a guest author never needs it (package guest is the
// author's surface).
//
// It must stay a leaf of constants and types: it decodes and encodes
// nothing (each side does that its own way, for speed).
//
// # Exports (version 1)
//
// A guest is a WASI reactor module. The host instantiates it once per pool
// slot, which runs _initialize (the Go runtime and package init, so schemas
// or other setup happen once per instance), then calls these exports:
//
//	syncgate_abi_version() i32       Version; the host refuses any other
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
// Status framing: a Response holds one verdict per op, by index. A guest
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
// A Request comes in one of two forms, told apart by the first byte. The
// JSON form is package guest's Request as JSON ({"abi", "request_id", "now",
// "caller", "settings", "ops"}). The rows form is what the host sends to
// guests whose Info.Input is InputRows (the SDK sets it for every guest built
// with it; a guest built before it gets JSON): the host has decoded and
// checked every row already, so it sends each row's JSON text with an index
// of its members, and the SDK reads members from the index instead of lexing
// the text inside wasm. Integers are little-endian uint32 unless said
// otherwise; str is a uint32 length and the bytes:
//
//	request  RowsMagic, abi, now (int64 Unix nanoseconds, UTC), str request_id,
//	         str user_id, str claims (JSON object, or empty), settings count,
//	         that many str key + str value, op count, that many op
//	op       index, kind byte (OpPut, OpPatch, OpDelete), flags byte (Flag*),
//	         str table, str id, then by flag: row data (FlagData), row
//	         current (FlagCurrent, and exists: FlagExists), str extras
//	         (FlagExtras: a JSON object of old, metadata, op_id, tx_id);
//	         FlagAgain: a later op of the request names the same document,
//	         FlagBefore: an earlier one does (the SDK tracks documents only then)
//	row      member count, text length, extra length, the index (MemberSize
//	         bytes a member), the row's JSON text, extra bytes
//
// The SDK checks every length and offset before it uses it; a malformed
// Request is an error Response, and a malformed index entry ends the
// members with an error.
package abi

// Version is the host↔guest contract version described above.
const Version = 1

// Info describes a guest to the host, as syncgate_info answers it (JSON);
// the host reads it once at load.
type Info struct {
	Name string `json:"name"`
	// NeedsCurrent asks the host to fetch the stored document of every op
	// the guest sees.
	NeedsCurrent bool `json:"needs_current"`
	// Settings names every key the guest reads from the settings. The host
	// refuses to start with a GUEST_SETTINGS key the guest does not list.
	// An entry may be a path.Match pattern: "*.field" admits the per-table
	// form TABLE.field, "*" any key, for a guest that checks its own.
	Settings []string `json:"settings,omitempty"`
	// Kind says where in the write path the guest runs (docs/architecture.md):
	// empty for a guest that transforms or rejects ops, KindPolicy for a
	// conflict policy (after the schema gate, just before the write).
	Kind string `json:"kind,omitempty"`
	// References are the other documents the guest reads with an op: for
	// each, the host looks up every parent a batch's ops name (one query per
	// parent collection per batch) and sends them with each op that names
	// them, as the batch's earlier ops leave them (the op's "parents").
	References []Reference `json:"references,omitempty"`
	// CurrentFields narrow NeedsCurrent: by table ("*": every table not
	// listed), the only fields of the stored document the guest reads
	// besides _id; the host may fetch only those. A table not covered gets
	// whole documents.
	CurrentFields map[string][]string `json:"current_fields,omitempty"`
	// Input is the form of Request the guest reads: InputRows, or empty
	// (JSON, all a guest built before the rows form reads).
	Input string `json:"input,omitempty"`
	// Error, when set, means the guest could not initialise (for example a
	// schema does not compile); the host refuses to load it and logs why.
	Error string `json:"error,omitempty"`
}

// Reference declares that ops on Table name documents of Parent: the
// parents of an op are the documents of Parent whose Field equals the op's
// Column (in its data, or in its stored document), or, with ByUser, equals
// the caller's user id. Field "_id" (or "id") is the parent's id.
type Reference struct {
	Table  string `json:"table"`
	Column string `json:"column,omitempty"`
	Parent string `json:"parent"`
	Field  string `json:"field"`
	ByUser bool   `json:"by_user,omitempty"`
}

// KindPolicy is Info.Kind of a conflict policy (guest/policies). (Not one
// of the member kinds below: those are bytes of the rows form's index.)
const KindPolicy = "policy"

// InputRows is Info.Input for guests that read the rows form.
const InputRows = "rows"

// RowsMagic starts a Request in the rows form. Its first byte, 0, never
// starts JSON text, so a guest tells the forms apart by it.
const RowsMagic = "\x00sgr"

// An op's kind byte in the rows form.
const (
	OpPut    = 1
	OpPatch  = 2
	OpDelete = 3
)

// An op's flags in the rows form.
const (
	FlagExists  = 1  // the stored document exists (with FlagCurrent)
	FlagData    = 2  // a data row follows
	FlagCurrent = 4  // a current (stored document) row follows
	FlagExtras  = 8  // the extras string follows
	FlagAgain   = 16 // a later op of the call names the same document
	FlagBefore  = 32 // an earlier op of the call names the same document
)

// Member kinds in a rows-form index.
const (
	KindNull   = 'n'
	KindTrue   = 't'
	KindFalse  = 'f'
	KindNumber = '0'
	KindString = 's' // the contents are all ASCII
	KindText   = 'u' // a string with non-ASCII contents
	KindObject = '{'
	KindArray  = '['
)

// MemberSize is the size of one member's entry in a row's index: its kind,
// then six little-endian uint32s: the key (unescaped) as offset and length,
// the value's JSON text as offset and length, and a string value's
// contents (unescaped) as offset and length (0, 0 for other kinds).
// Offsets count from the start of the row's JSON text; keys and contents
// with escapes lie in the row's extra bytes, which follow the text.
const MemberSize = 25

// KindStarts reports whether JSON text starting with c can be of kind: an
// index entry whose value does not start so is malformed.
func KindStarts(kind, c byte) bool {
	switch kind {
	case KindNull, KindTrue, KindFalse, KindObject, KindArray:
		return c == kind
	case KindString, KindText:
		return c == '"'
	case KindNumber:
		return c == '-' || '0' <= c && c <= '9'
	}
	return false
}

// Index is one row of the rows form as received: its text and extra bytes
// (Blob, the text first, Text bytes long) and its member entries (Tab,
// MemberSize bytes each). Nothing in it is checked until it is read: the
// reader (package guest/raw's Members) checks each entry where it uses it.
type Index struct {
	Blob []byte
	Tab  []byte
	Text int
}

// Members is the number of entries of the index.
func (x *Index) Members() int { return len(x.Tab) / MemberSize }
