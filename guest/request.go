package guest

import (
	"github.com/syncgate/syncgate/guest/internal/wire"
)

// The guest's side of the wire: the Request decoder (here, because it fills
// the SDK's types) on the lexer in guest/internal/wire. wire_test.go holds it
// to encoding/json with UseNumber on the same inputs.

// reqDecoder is the lexer plus what decoding a Request keeps.
type reqDecoder struct {
	wire.Decoder
	raw   bool   // ops keep data and current as bytes (RawData)
	slab  []Op   // ops are allocated in chunks
	table string // the last table name read, reused while it repeats
}

// decodeRequest parses a Request JSON as encoding/json would with UseNumber,
// without reflection; raw keeps ops' data and current as bytes.
func decodeRequest(b []byte, raw bool) (*Request, error) {
	d := &reqDecoder{Decoder: wire.Decoder{B: b}, raw: raw}
	req := &Request{}
	if err := d.request(req); err != nil {
		return nil, err
	}
	d.WS()
	if d.I != len(d.B) {
		return nil, d.Errf("invalid character %q after top-level value", d.B[d.I])
	}
	return req, nil
}

func (d *reqDecoder) request(req *Request) error {
	if d.Null() {
		return nil
	}
	return d.Object(func(key []byte) error {
		switch wire.FieldName(key, "abi", "request_id", "now", "caller", "settings", "ops") {
		case "abi":
			return d.Int(&req.ABI)
		case "request_id":
			return d.String(&req.RequestID)
		case "now":
			if d.Null() {
				return nil
			}
			if d.Peek() != '"' {
				return d.Errf("now: want a string")
			}
			start := d.I
			if _, err := d.StrBytes(); err != nil {
				return err
			}
			// As encoding/json does: the raw token, escapes and all.
			if err := req.Now.UnmarshalJSON(d.B[start:d.I]); err != nil {
				return d.Errf("now: %v", err)
			}
			return nil
		case "caller":
			return d.caller(&req.Caller)
		case "settings":
			if d.Null() {
				req.Settings = nil
				return nil
			}
			if req.Settings == nil {
				req.Settings = map[string]string{}
			}
			return d.Object(func(k []byte) error {
				var v string
				if err := d.String(&v); err != nil {
					return err
				}
				req.Settings[string(k)] = v
				return nil
			})
		case "ops":
			if d.Null() {
				req.Ops = nil
				return nil
			}
			// As encoding/json does, a repeated "ops" decodes into the
			// elements already there.
			old := req.Ops[:cap(req.Ops)]
			req.Ops = req.Ops[:0]
			if req.Ops == nil {
				req.Ops = []*Op{}
			}
			return d.Array(func() error {
				n := len(req.Ops)
				if d.Null() {
					req.Ops = append(req.Ops, nil)
					return nil
				}
				var op *Op
				if n < len(old) && old[n] != nil {
					op = old[n]
				} else {
					if len(d.slab) == 0 {
						d.slab = make([]Op, 32)
					}
					op, d.slab = &d.slab[0], d.slab[1:]
				}
				req.Ops = append(req.Ops, op)
				return d.op(op)
			})
		}
		return d.Skip()
	})
}

func (d *reqDecoder) caller(c *Caller) error {
	if d.Null() {
		return nil
	}
	return d.Object(func(key []byte) error {
		switch wire.FieldName(key, "user_id", "claims") {
		case "user_id":
			return d.String(&c.UserID)
		case "claims":
			return d.ObjectInto(&c.Claims)
		}
		return d.Skip()
	})
}

func (d *reqDecoder) op(op *Op) error {
	return d.Object(func(key []byte) error {
		switch wire.FieldName(key, "index", "op", "table", "id", "data", "current", "exists", "old", "metadata", "op_id", "tx_id", "parents") {
		case "index":
			return d.Int(&op.Index)
		case "op":
			var kind string
			if err := d.String(&kind); err != nil {
				return err
			}
			switch OpType(kind) { // the usual values share one copy
			case OpPut:
				op.Op = OpPut
			case OpPatch:
				op.Op = OpPatch
			case OpDelete:
				op.Op = OpDelete
			default:
				op.Op = OpType(kind)
			}
			return nil
		case "table":
			if d.Null() {
				return nil
			}
			if d.Peek() != '"' {
				return d.Errf("want a string")
			}
			b, err := d.StrBytes()
			if err != nil {
				return err
			}
			if string(b) != d.table {
				d.table = string(b)
			}
			op.Table = d.table
			return nil
		case "id":
			return d.String(&op.ID)
		case "data":
			if d.raw {
				return d.RawObject(&op.RawData)
			}
			return d.ObjectInto(&op.Data)
		case "current":
			if d.raw {
				return d.RawObject(&op.RawCurrent)
			}
			return d.ObjectInto(&op.Current)
		case "exists":
			if d.Null() {
				return nil
			}
			switch {
			case d.Literal("true"):
				op.Exists = true
			case d.Literal("false"):
				op.Exists = false
			default:
				return d.Errf("exists: want a boolean")
			}
			return nil
		case "old":
			return d.ObjectInto(&op.Old)
		case "metadata":
			return d.valueInto(&op.Metadata)
		case "op_id":
			return d.valueInto(&op.OpID)
		case "tx_id":
			return d.valueInto(&op.TxID)
		case "parents":
			return d.parents(&op.Parents)
		}
		return d.Skip()
	})
}

// parents decodes an op's parents: an object of arrays of objects.
func (d *reqDecoder) parents(p *map[string][]map[string]any) error {
	var m map[string]any
	if err := d.ObjectInto(&m); err != nil {
		return err
	}
	out := make(map[string][]map[string]any, len(m))
	for table, v := range m {
		arr, ok := v.([]any)
		if !ok {
			return d.Errf("parents.%s: want an array", table)
		}
		docs := make([]map[string]any, 0, len(arr))
		for _, e := range arr {
			doc, ok := e.(map[string]any)
			if !ok {
				return d.Errf("parents.%s: want objects", table)
			}
			docs = append(docs, doc)
		}
		out[table] = docs
	}
	*p = out
	return nil
}

// valueInto decodes any value into *p as encoding/json does into an
// interface{} field: a repeated key replaces the value.
func (d *reqDecoder) valueInto(p *any) error {
	v, err := d.Value()
	if err != nil {
		return err
	}
	*p = v
	return nil
}
