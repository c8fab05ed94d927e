package upload

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

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

// Decode parses and validates an upload body strictly: valid UTF-8, one JSON
// value, no duplicate keys, no operator or dotted keys in data, numbers that
// fit int64 or float64, and every entry well formed. It returns the ops in
// order, or an Invalid/TooLarge *syncgate.Error that says what is wrong and
// where. Nothing partial is returned on error.
func Decode(body []byte, lim Limits) ([]syncgate.Op, error) {
	if err := strictjson.CheckUTF8(body, "body"); err != nil {
		return nil, err
	}
	d := decoder{dec: strictjson.NewDecoder(body, strictjson.Options{MaxDepth: lim.MaxDepth, Base: envelopeDepth, IsData: isData}), lim: lim}
	ops, err := d.batch()
	if err != nil {
		return nil, err
	}
	if err := d.dec.End("body"); err != nil {
		return nil, err
	}
	return ops, nil
}

type decoder struct {
	dec *strictjson.Decoder
	lim Limits
}

func invalid(code syncgate.Code, format string, args ...any) *syncgate.Error {
	return strictjson.Invalid(code, format, args...)
}

func (d *decoder) token() (json.Token, error) { return d.dec.Token() }

func (d *decoder) value(path string, depth int, inData bool) (any, error) {
	return d.dec.Value(path, depth, inData)
}

func (d *decoder) batch() ([]syncgate.Op, error) {
	t, err := d.token()
	if err != nil {
		return nil, err
	}
	if t != json.Delim('{') {
		return nil, invalid(syncgate.CodeInvalidBody, `body must be a JSON object {"batch":[…]}`)
	}
	var ops []syncgate.Op
	seen := false
	for d.dec.More() {
		t, err := d.token()
		if err != nil {
			return nil, err
		}
		key := t.(string)
		if key != "batch" {
			if _, err := d.value(key, 1, false); err != nil {
				return nil, err
			}
			continue
		}
		if seen {
			return nil, invalid(syncgate.CodeDuplicateKey, `duplicate key "batch"`)
		}
		seen = true
		if ops, err = d.entries(); err != nil {
			return nil, err
		}
	}
	if _, err := d.token(); err != nil {
		return nil, err
	}
	if !seen {
		return nil, invalid(syncgate.CodeInvalidBody, `body has no "batch" array`)
	}
	return ops, nil
}

func (d *decoder) entries() ([]syncgate.Op, error) {
	t, err := d.token()
	if err != nil {
		return nil, err
	}
	if t != json.Delim('[') {
		return nil, invalid(syncgate.CodeInvalidBody, `"batch" must be an array`)
	}
	ops := []syncgate.Op{}
	for i := 0; d.dec.More(); i++ {
		if d.lim.MaxOps > 0 && i >= d.lim.MaxOps {
			return nil, syncgate.Errorf(syncgate.TooLarge, syncgate.CodeTooManyOps, "batch has more than %d entries", d.lim.MaxOps)
		}
		v, err := d.value(fmt.Sprintf("batch[%d]", i), 2, false)
		if err != nil {
			return nil, err
		}
		op, err := d.entry(i, v)
		if err != nil {
			return nil, err
		}
		ops = append(ops, op)
	}
	_, err = d.token()
	return ops, err
}

// entry turns one decoded batch element into an Op.
func (d *decoder) entry(i int, v any) (syncgate.Op, error) {
	at := fmt.Sprintf("batch[%d]", i)
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
	if d.lim.Tables != nil && !d.lim.Tables[name] {
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
	if d.lim.MaxIDBytes > 0 && len(ids) > d.lim.MaxIDBytes {
		return op, invalid(syncgate.CodeInvalidID, "%s.id: longer than %d bytes", at, d.lim.MaxIDBytes)
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

// checkTable enforces MongoDB's collection name rules and keeps clients out
// of system collections.
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
	}
	return nil
}
