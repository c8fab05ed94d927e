package upload

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

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

// Decode parses and validates an upload body strictly: valid UTF-8, one JSON
// value, no duplicate keys, no operator or dotted keys in data, numbers that
// fit int64 or float64, and every entry well formed. It returns the ops in
// order, or an Invalid/TooLarge *syncgate.Error that says what is wrong and
// where. Nothing partial is returned on error.
func Decode(body []byte, lim Limits) ([]syncgate.Op, error) {
	if !utf8.Valid(body) {
		return nil, invalid(syncgate.CodeInvalidUTF8, "body is not valid UTF-8")
	}
	d := decoder{dec: json.NewDecoder(bytes.NewReader(body)), lim: lim}
	d.dec.UseNumber()
	ops, err := d.batch()
	if err != nil {
		return nil, err
	}
	if _, err := d.dec.Token(); err != io.EOF {
		return nil, invalid(syncgate.CodeInvalidJSON, "unexpected data after the JSON body")
	}
	return ops, nil
}

type decoder struct {
	dec *json.Decoder
	lim Limits
}

func invalid(code syncgate.Code, format string, args ...any) *syncgate.Error {
	return syncgate.Errorf(syncgate.Invalid, code, format, args...)
}

func (d *decoder) token() (json.Token, error) {
	t, err := d.dec.Token()
	if err != nil {
		if err == io.EOF {
			return nil, invalid(syncgate.CodeInvalidJSON, "body ends too early")
		}
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, invalid(syncgate.CodeInvalidJSON, "invalid JSON at byte %d: %s", se.Offset, se.Error())
		}
		return nil, invalid(syncgate.CodeInvalidJSON, "invalid JSON: %s", err.Error())
	}
	return t, nil
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
			return op, invalid(syncgate.CodeIDMismatch, "%s.data.%s: %v disagrees with %s.id", at, k, truncate(inner), at)
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

func truncate(v any) string {
	s := fmt.Sprint(v)
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
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

// checkKey refuses keys MongoDB would read as operators or paths.
func checkKey(k string) error {
	switch {
	case strings.HasPrefix(k, "$"):
		return errors.New("starts with $ (operator injection)")
	case strings.Contains(k, "."):
		return errors.New("contains a dot")
	case strings.IndexByte(k, 0) >= 0:
		return errors.New("contains NUL")
	}
	return nil
}

// value decodes one JSON value. depth counts levels from the body's top;
// inData switches on the key rules and the data depth limit.
func (d *decoder) value(path string, depth int, inData bool) (any, error) {
	if max := d.lim.MaxDepth; max > 0 && depth > max+envelopeDepth {
		return nil, invalid(syncgate.CodeTooDeep, "%s: nested deeper than %d levels", path, max)
	}
	t, err := d.token()
	if err != nil {
		return nil, err
	}
	switch t := t.(type) {
	case json.Delim:
		switch t {
		case '{':
			return d.object(path, depth, inData)
		case '[':
			a := []any{}
			for i := 0; d.dec.More(); i++ {
				v, err := d.value(fmt.Sprintf("%s[%d]", path, i), depth+1, inData)
				if err != nil {
					return nil, err
				}
				a = append(a, v)
			}
			_, err := d.token()
			return a, err
		}
		return nil, invalid(syncgate.CodeInvalidJSON, "%s: unexpected %v", path, t)
	case json.Number:
		return number(path, t)
	case string:
		if strings.IndexByte(t, 0) >= 0 && inData {
			// BSON strings may hold NUL, but C drivers and tools truncate them.
			return nil, invalid(syncgate.CodeInvalidValue, "%s: string contains NUL", path)
		}
		return t, nil
	default: // bool, nil
		return t, nil
	}
}

func (d *decoder) object(path string, depth int, inData bool) (syncgate.Doc, error) {
	doc := syncgate.Doc{}
	var seen map[string]struct{}
	for d.dec.More() {
		t, err := d.token()
		if err != nil {
			return nil, err
		}
		k := t.(string)
		kpath := path + "." + k
		if inData {
			if err := checkKey(k); err != nil {
				return nil, invalid(syncgate.CodeInvalidKey, "%s: key %q %s", path, truncate(k), err)
			}
		}
		if len(doc) < 16 {
			for _, f := range doc {
				if f.Key == k {
					return nil, invalid(syncgate.CodeDuplicateKey, "%s: duplicate key %q", path, truncate(k))
				}
			}
		} else {
			if seen == nil {
				seen = make(map[string]struct{}, 32)
				for _, f := range doc {
					seen[f.Key] = struct{}{}
				}
			}
			if _, dup := seen[k]; dup {
				return nil, invalid(syncgate.CodeDuplicateKey, "%s: duplicate key %q", path, truncate(k))
			}
			seen[k] = struct{}{}
		}
		// Data starts below an entry's "data"/"opData" key.
		childInData := inData || (depth == 2 && (k == "data" || k == "opData"))
		v, err := d.value(kpath, depth+1, childInData)
		if err != nil {
			return nil, err
		}
		doc = append(doc, syncgate.Field{Key: k, Value: v})
	}
	_, err := d.token()
	return doc, err
}

// number keeps integers as int64 and everything else as float64, refusing
// values neither can hold.
func number(path string, n json.Number) (any, error) {
	s := string(n)
	if !strings.ContainsAny(s, ".eE") {
		i, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, invalid(syncgate.CodeInvalidNumber, "%s: %s is outside the 64-bit integer range", path, truncate(s))
		}
		return i, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) {
		return nil, invalid(syncgate.CodeInvalidNumber, "%s: %s is outside the float64 range", path, truncate(s))
	}
	return f, nil
}

// DecodeData parses one data object (a guest's replacement data) with the
// same rules as a client's: valid UTF-8 JSON object, no duplicate, operator,
// dotted or NUL keys, numbers that fit, nesting within maxDepth.
func DecodeData(raw []byte, maxDepth int) (syncgate.Doc, error) {
	if !utf8.Valid(raw) {
		return nil, invalid(syncgate.CodeInvalidUTF8, "data is not valid UTF-8")
	}
	d := decoder{dec: json.NewDecoder(bytes.NewReader(raw)), lim: Limits{MaxDepth: maxDepth}}
	d.dec.UseNumber()
	// Depth counts as if the object sat at an entry's data key.
	v, err := d.value("data", envelopeDepth+1, true)
	if err != nil {
		return nil, err
	}
	if _, err := d.dec.Token(); err != io.EOF {
		return nil, invalid(syncgate.CodeInvalidJSON, "unexpected data after the JSON object")
	}
	doc, ok := v.(syncgate.Doc)
	if !ok {
		return nil, invalid(syncgate.CodeInvalidData, "data must be an object")
	}
	return doc, nil
}
