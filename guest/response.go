package guest

import (
	"strconv"

	"github.com/syncgate/syncgate/guest/internal/wire"
)

// encodeResponse writes a Response as JSON without reflection for the
// values JSON decoding produces; other values in Verdict.Data go through
// encoding/json.
func encodeResponse(r *Response) ([]byte, error) {
	out := make([]byte, 0, 32+48*len(r.Verdicts))
	out = append(out, `{"verdicts":`...)
	if r.Verdicts == nil {
		out = append(out, "null"...)
	} else {
		out = append(out, '[')
		for i := range r.Verdicts {
			v := &r.Verdicts[i]
			if i > 0 {
				out = append(out, ',')
			}
			out = append(out, `{"index":`...)
			out = strconv.AppendInt(out, int64(v.Index), 10)
			if v.Reject {
				out = append(out, `,"reject":true`...)
			}
			if v.Code != "" {
				out = append(out, `,"code":`...)
				out = wire.AppendString(out, v.Code)
			}
			if v.Reason != "" {
				out = append(out, `,"reason":`...)
				out = wire.AppendString(out, v.Reason)
			}
			if len(v.Data) > 0 {
				out = append(out, `,"data":`...)
				var err error
				if out, err = wire.AppendValue(out, v.Data); err != nil {
					return nil, err
				}
			}
			if v.RejectTx { // after data: encoding/json's field order
				out = append(out, `,"reject_tx":true`...)
			}
			var err error
			if out, err = appendPolicy(out, v); err != nil {
				return nil, err
			}
			out = append(out, '}')
		}
		out = append(out, ']')
	}
	if r.Error != "" {
		out = append(out, `,"error":`...)
		out = wire.AppendString(out, r.Error)
	}
	return append(out, '}'), nil
}

// appendPolicy writes a verdict's conflict-policy fields (expect, inc,
// on_conflict, rule), when set.
func appendPolicy(out []byte, v *Verdict) ([]byte, error) {
	var err error
	if len(v.Expect) > 0 {
		out = append(out, `,"expect":`...)
		if out, err = wire.AppendValue(out, v.Expect); err != nil {
			return nil, err
		}
	}
	if len(v.Inc) > 0 {
		out = append(out, `,"inc":`...)
		if out, err = wire.AppendValue(out, v.Inc); err != nil {
			return nil, err
		}
	}
	if v.OnConflict != "" {
		out = append(out, `,"on_conflict":`...)
		out = wire.AppendString(out, v.OnConflict)
	}
	if v.Rule != "" {
		out = append(out, `,"rule":`...)
		out = wire.AppendString(out, v.Rule)
	}
	return out, nil
}
