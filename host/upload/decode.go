package upload

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/syncgate/syncgate/host/strictjson"
	"github.com/syncgate/syncgate/host/syncgate"
)

// Limits bound what Decode accepts.
type Limits struct {
	MaxOps     int // most entries in a batch
	MaxDepth   int // deepest nesting inside data
	MaxIDBytes int // longest id
	// Tables, when non-nil, is the set of collections clients may write.
	Tables map[string]bool
}

// maxTableBytes is MongoDB's practical limit for a collection name in a
// namespace of at most 255 bytes with a database name.
const maxTableBytes = 120

// envelopeDepth is how deep an entry object sits in a body: { "batch": [ {
const envelopeDepth = 2

// isData: data starts below an entry's "data"/"opData" key.
func isData(depth int, key string) bool {
	return depth == envelopeDepth && (key == "data" || key == "opData")
}

// MaxRawBytes bounds the raw JSON text kept for an op that could not be
// decoded into an Op (Rejection.Raw): enough to read and replay any
// ordinary row, small enough for a dead-letter document.
const MaxRawBytes = 64 << 10

// DecodeBatch parses an upload body strictly. Framing errors — the body is
// not valid UTF-8 or not one JSON value, it is not {"batch":[…]}, "batch"
// appears twice, too many entries — return an Invalid/TooLarge
// *syncgate.Error and nothing else: nothing in such a body can be trusted.
// An entry that is well framed but not a valid op (unknown op, bad table,
// operator or dotted key, number out of range, duplicate key inside the
// entry, …) becomes a Rejection with its raw JSON text (at most
// MaxRawBytes) and what could be read of its op, table, id and tx_id; the
// other entries are returned as ops, in order. The ops' strings share
// body's bytes: the caller never writes body again.
func DecodeBatch(body []byte, lim Limits) ([]syncgate.Op, []syncgate.Rejection, error) {
	if err := strictjson.CheckUTF8(body, "body"); err != nil {
		return nil, nil, err
	}
	// The envelope is read with jsontext and each entry decoded strictly in
	// place from the same stream (entries): a bad entry is that entry's
	// rejection. Duplicate names inside an entry are the entry decoder's to
	// find; UTF-8 was checked above.
	d := decoder{dec: strictjson.NewTokenReader(body), body: body, lim: lim}
	ops, rejected, err := d.batch()
	if err != nil {
		return nil, nil, err
	}
	if _, err := d.dec.ReadToken(); !errors.Is(err, io.EOF) {
		return nil, nil, invalid(syncgate.CodeInvalidJSON, "unexpected data after the JSON body")
	}
	return ops, rejected, nil
}

// DecodeEntry decodes one batch entry's JSON text (a recorded op being
// replayed) with the rules of DecodeBatch; index is its position.
func DecodeEntry(raw []byte, index int, lim Limits) (syncgate.Op, *syncgate.Rejection) {
	if err := strictjson.CheckUTF8(raw, "entry"); err != nil {
		return syncgate.Op{}, entryRejection(raw, index, err)
	}
	return decodeEntry(raw, index, lim)
}

type decoder struct {
	dec   *jsontext.Decoder
	body  []byte
	entry *strictjson.Decoder // reads every entry from dec
	lim   Limits
}

func invalid(code syncgate.Code, format string, args ...any) *syncgate.Error {
	return strictjson.Invalid(code, format, args...)
}

// token reads the envelope's next token.
func (d *decoder) token() (jsontext.Token, error) { return strictjson.ReadToken(d.dec) }

// more reports whether the current object or array has another member.
func (d *decoder) more() bool { return strictjson.More(d.dec) }

func (d *decoder) batch() ([]syncgate.Op, []syncgate.Rejection, error) {
	t, err := d.token()
	if err != nil {
		return nil, nil, err
	}
	if t.Kind() != '{' {
		return nil, nil, invalid(syncgate.CodeInvalidBody, `body must be a JSON object {"batch":[…]}`)
	}
	var ops []syncgate.Op
	var rejected []syncgate.Rejection
	seen := map[string]bool{}
	for d.more() {
		t, err := d.token()
		if err != nil {
			return nil, nil, err
		}
		key := t.String()
		if seen[key] {
			return nil, nil, invalid(syncgate.CodeDuplicateKey, "duplicate key %q", strictjson.Truncate(key))
		}
		seen[key] = true
		if key != "batch" {
			if err := d.dec.SkipValue(); err != nil {
				return nil, nil, strictjson.JSONError(err)
			}
			continue
		}
		if ops, rejected, err = d.entries(); err != nil {
			return nil, nil, err
		}
	}
	if _, err := d.token(); err != nil {
		return nil, nil, err
	}
	if !seen["batch"] {
		return nil, nil, invalid(syncgate.CodeInvalidBody, `body has no "batch" array`)
	}
	return ops, rejected, nil
}

func (d *decoder) entries() ([]syncgate.Op, []syncgate.Rejection, error) {
	if k := d.dec.PeekKind(); k != '[' {
		if k == 0 { // a syntax error: let the read say which
			_, err := d.token()
			return nil, nil, err
		}
		return nil, nil, invalid(syncgate.CodeInvalidBody, `"batch" must be an array`)
	}
	if _, err := d.token(); err != nil {
		return nil, nil, err
	}
	ops := []syncgate.Op{}
	var rejected []syncgate.Rejection
	for i := 0; d.more(); i++ {
		if d.lim.MaxOps > 0 && i >= d.lim.MaxOps {
			return nil, nil, syncgate.Errorf(syncgate.TooLarge, syncgate.CodeTooManyOps, "batch has more than %d entries", d.lim.MaxOps)
		}
		// The entry is decoded in place, from the envelope's stream; its
		// text is taken only for a rejection.
		if d.entry == nil {
			o := entryOptions(d.lim)
			o.Shared = d.body // read in place by d.dec; never written again
			d.entry = strictjson.NewDecoderOn(d.dec, o)
		}
		start, depth := d.dec.InputOffset(), d.dec.StackDepth()
		v, err := d.entry.ValueAt("batch", i, envelopeDepth, false)
		switch {
		case strictjson.IsSyntax(err):
			return nil, nil, err // the body is broken: nothing in it can be trusted
		case err != nil: // a rule broken mid-entry: skip the rest of it
			if err := strictjson.SkipTo(d.dec, depth); err != nil {
				return nil, nil, err
			}
		default:
			var op syncgate.Op
			if op, err = entry(i, v, d.lim); err == nil {
				ops = append(ops, op)
				continue
			}
		}
		rejected = append(rejected, *entryRejection(entryText(d.body, start, d.dec.InputOffset()), i, err))
	}
	if _, err := d.token(); err != nil {
		return nil, nil, err
	}
	return ops, rejected, nil
}

// decodeEntry decodes one entry's text strictly; any failure is that op's
// rejection, with its raw text.
func decodeEntry(raw []byte, i int, lim Limits) (syncgate.Op, *syncgate.Rejection) {
	sd := strictjson.NewDecoder(raw, entryOptions(lim))
	v, err := sd.ValueAt("batch", i, envelopeDepth, false)
	if err == nil {
		err = sd.End("entry")
	}
	if err != nil {
		return syncgate.Op{}, entryRejection(raw, i, err)
	}
	op, err := entry(i, v, lim)
	if err != nil {
		return syncgate.Op{}, entryRejection(raw, i, err)
	}
	return op, nil
}

func entryOptions(lim Limits) strictjson.Options {
	return strictjson.Options{MaxDepth: lim.MaxDepth, Base: envelopeDepth, IsData: isData}
}

// entryText is an entry's JSON text: body from start to end without the
// separator and spaces before the entry.
func entryText(body []byte, start, end int64) []byte {
	return bytes.TrimLeft(body[start:end], ", \t\r\n")
}

// entryRejection is the rejection of an entry that is not a valid op:
// what can be read of it leniently, its code and reason, its raw text.
func entryRejection(raw []byte, i int, err error) *syncgate.Rejection {
	e := syncgate.AsError(err)
	r := &syncgate.Rejection{Index: i, Code: e.Code, Reason: e.Message, Raw: string(raw)}
	if len(r.Raw) > MaxRawBytes {
		r.Raw = r.Raw[:MaxRawBytes]
		for !utf8.ValidString(r.Raw) { // never cut a character in two
			r.Raw = r.Raw[:len(r.Raw)-1]
		}
		r.RawTruncated = true
	}
	var loose map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if dec.Decode(&loose) == nil {
		if s, ok := loose["op"].(string); ok {
			r.Op = syncgate.OpType(clipString(s))
		}
		t, ok := loose["table"].(string)
		if !ok {
			t, _ = loose["type"].(string)
		}
		r.Table = clipString(t)
		if s, ok := loose["id"].(string); ok {
			r.ID = clipString(s)
		}
		if n, ok := loose["tx_id"].(json.Number); ok {
			if v, err := n.Int64(); err == nil {
				r.TxID = v
			}
		} else if s, ok := loose["tx_id"].(string); ok {
			r.TxID = clipString(s)
		}
	}
	return r
}

// clipString bounds a value read from a refused entry for display.
func clipString(s string) string {
	if len(s) <= 200 {
		return s
	}
	s = s[:200]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// entry turns one decoded batch element into an Op.
func entry(i int, v any, lim Limits) (syncgate.Op, error) {
	at := entryAt(i)
	e, ok := v.(syncgate.Doc)
	if !ok {
		return syncgate.Op{}, invalid(syncgate.CodeInvalidEntry, "%s: must be an object", at)
	}
	op := syncgate.Op{Index: i}

	opv, ok := e.Get("op")
	if !ok {
		return op, invalid(syncgate.CodeInvalidOp, "%s.op: missing", at)
	}
	s, _ := opv.(string)
	switch syncgate.OpType(s) {
	case syncgate.Put, syncgate.Patch, syncgate.Delete:
		op.Op = syncgate.OpType(s)
	default:
		if _, isStr := opv.(string); !isStr {
			return op, invalid(syncgate.CodeInvalidOp, "%s.op: must be a string", at)
		}
		return op, invalid(syncgate.CodeInvalidOp, "%s.op: unknown op %q (want PUT, PATCH or DELETE)", at, s)
	}

	table, tableKey := e.Get("table")
	if !tableKey {
		table, tableKey = e.Get("type") // the PowerSync SDK's CrudEntry.toJSON
	}
	if !tableKey {
		return op, invalid(syncgate.CodeInvalidTable, "%s.table: missing", at)
	}
	name, ok := table.(string)
	if !ok {
		return op, invalid(syncgate.CodeInvalidTable, "%s.table: must be a string", at)
	}
	if err := checkTable(name); err != nil {
		return op, invalid(syncgate.CodeInvalidTable, "%s.table: %s", at, err)
	}
	if lim.Tables != nil && !lim.Tables[name] {
		return op, invalid(syncgate.CodeTableNotAllowed, "%s.table: %q is not a table clients may write", at, name)
	}
	op.Table = name

	data, hasData := e.Get("data")
	if !hasData {
		data, hasData = e.Get("opData") // some community connectors
	}
	if hasData && data != nil {
		doc, ok := data.(syncgate.Doc)
		if !ok {
			return op, invalid(syncgate.CodeInvalidData, "%s.data: must be an object", at)
		}
		op.Data = doc
	}

	// The id: beside data, or inside it; both must agree.
	id, hasID := e.Get("id")
	for _, k := range []string{"id", "_id"} {
		inner, ok := op.Data.Get(k)
		if !ok {
			continue
		}
		if hasID && inner != id {
			return op, invalid(syncgate.CodeIDMismatch, "%s.data.%s: %v disagrees with %s.id", at, k, strictjson.Truncate(inner), at)
		}
		id, hasID = inner, true
		op.Data.Delete(k)
	}
	if !hasID {
		return op, invalid(syncgate.CodeInvalidID, "%s.id: missing", at)
	}
	ids, ok := id.(string)
	if !ok {
		return op, invalid(syncgate.CodeInvalidID, "%s.id: must be a string", at)
	}
	if ids == "" {
		return op, invalid(syncgate.CodeInvalidID, "%s.id: must not be empty", at)
	}
	if lim.MaxIDBytes > 0 && len(ids) > lim.MaxIDBytes {
		return op, invalid(syncgate.CodeInvalidID, "%s.id: longer than %d bytes", at, lim.MaxIDBytes)
	}
	if strings.IndexByte(ids, 0) >= 0 {
		return op, invalid(syncgate.CodeInvalidID, "%s.id: contains NUL", at)
	}
	op.ID = ids
	if op.Op == syncgate.Delete {
		op.Data = nil
	} else if op.Data == nil {
		op.Data = syncgate.Doc{}
	}

	op.OpID, _ = e.Get("op_id")
	op.TxID, _ = e.Get("tx_id")
	if old, ok := e.Get("old"); ok {
		op.Old, _ = old.(syncgate.Doc)
	}
	op.Metadata, _ = e.Get("metadata")
	return op, nil
}

// entryAt names batch entry i in error messages: batch[i].
type entryAt int

func (i entryAt) String() string { return "batch[" + strconv.Itoa(int(i)) + "]" }

// checkTable enforces MongoDB's collection name rules and keeps clients out
// of system collections and of syncgate's own (dead letters, conflicts, the
// conditional-write locks: a client that could write syncgate_locks could
// hold other clients' writes), whatever the allow-list says.
func checkTable(name string) error {
	switch {
	case name == "":
		return errors.New("must not be empty")
	case len(name) > maxTableBytes:
		return fmt.Errorf("longer than %d bytes", maxTableBytes)
	case strings.ContainsAny(name, "$\x00"):
		return fmt.Errorf("%q contains $ or NUL", name)
	case strings.Contains(name, "."):
		return fmt.Errorf("%q contains a dot", name)
	case strings.HasPrefix(name, "system"):
		return fmt.Errorf("%q is reserved (system collections)", name)
	case strings.HasPrefix(name, syncgate.ReservedPrefix):
		return fmt.Errorf("%q is reserved (syncgate's own collections start with %s)", name, syncgate.ReservedPrefix)
	}
	return nil
}
