package pipeline

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/syncgate/syncgate/host/strictjson"
	"github.com/syncgate/syncgate/host/syncgate"
)

// What the pipeline adds to the wire for conflict policies (guest/policies):
// the client's old values, metadata and ids go to guests, and a verdict's
// expect, inc, on_conflict and rule come back onto the op's WriteRule. Kept
// apart from pipeline.go so both change independently.

// verdictPolicy is the policy part of a guest's verdict.
type verdictPolicy struct {
	Expect     json.RawMessage     `json:"expect"`
	Inc        json.RawMessage     `json:"inc"`
	OnConflict syncgate.Settlement `json:"on_conflict"`
	Rule       string              `json:"rule"`
}

func (v verdictPolicy) empty() bool {
	return isNull(v.Expect) && isNull(v.Inc) && v.OnConflict == "" && v.Rule == ""
}

func isNull(b json.RawMessage) bool { return len(b) == 0 || bytes.Equal(b, []byte("null")) }

// appendOpExtras appends what a PowerSync client sent beside the data, as
// members of the op's JSON object (each starting with a comma).
func appendOpExtras(buf []byte, op syncgate.Op) ([]byte, error) {
	if op.Old != nil {
		d, err := op.Old.MarshalJSON()
		if err != nil {
			return nil, err
		}
		buf = append(append(buf, `,"old":`...), d...)
	}
	if op.Parents != nil {
		buf = append(buf, `,"parents":{`...)
		first := true
		for _, table := range slices.Sorted(maps.Keys(op.Parents)) {
			if !first {
				buf = append(buf, ',')
			}
			first = false
			k, _ := json.Marshal(table)
			buf = append(append(buf, k...), ":["...)
			for i, d := range op.Parents[table] {
				if i > 0 {
					buf = append(buf, ',')
				}
				b, err := d.MarshalJSON()
				if err != nil {
					return nil, err
				}
				buf = append(buf, b...)
			}
			buf = append(buf, ']')
		}
		buf = append(buf, '}')
	}
	for _, f := range []struct {
		key string
		v   any
	}{{"metadata", op.Metadata}, {"op_id", op.OpID}, {"tx_id", op.TxID}} {
		if f.v == nil {
			continue
		}
		b, err := json.Marshal(f.v)
		if err != nil {
			return nil, err
		}
		buf = append(append(buf, `,"`+f.key+`":`...), b...)
	}
	return buf, nil
}

// onConflictRank orders settlements: when policies disagree, the one that
// tells the client most wins (reject over log over drop).
var onConflictRank = map[syncgate.Settlement]int{"": 0, syncgate.SettleDrop: 1, syncgate.SettleLog: 2, syncgate.SettleReject: 3}

// conflictInfo is the settlement of a guest's conflict rejection.
func (v verdictPolicy) conflictInfo(guest string) *syncgate.ConflictInfo {
	rule := v.Rule
	if rule == "" {
		rule = guest
	}
	mode := v.OnConflict
	if _, ok := onConflictRank[mode]; !ok || mode == "" {
		mode = syncgate.SettleReject
	}
	return &syncgate.ConflictInfo{OnConflict: mode, Rule: rule}
}

// applyPolicy merges an accepted verdict's policy into op's WriteRule: the
// conditions of every stage hold together.
func applyPolicy(op *syncgate.Op, v verdictPolicy, maxDepth int, guest string) error {
	if v.empty() {
		return nil
	}
	if _, ok := onConflictRank[v.OnConflict]; !ok {
		return fmt.Errorf("on_conflict %q: want reject, drop or log", v.OnConflict)
	}
	w := op.Write
	if w == nil {
		w = &syncgate.WriteRule{}
	}
	if !isNull(v.Expect) {
		doc, err := strictjson.DecodeData(v.Expect, maxDepth)
		if err != nil {
			return fmt.Errorf("expect: %s", syncgate.AsError(err).Message)
		}
		for _, f := range doc {
			w.Expect.Set(f.Key, f.Value)
		}
	}
	if !isNull(v.Inc) {
		if op.Op != syncgate.Patch {
			return fmt.Errorf("inc on a %s: only a PATCH adds", op.Op)
		}
		doc, err := strictjson.DecodeData(v.Inc, maxDepth)
		if err != nil {
			return fmt.Errorf("inc: %s", syncgate.AsError(err).Message)
		}
		for _, f := range doc {
			switch f.Value.(type) {
			case int64, float64:
			default:
				return fmt.Errorf("inc.%s: not a number", f.Key)
			}
			if _, set := op.Data.Get(f.Key); set {
				// The addition replaces setting the field (copied: the
				// op's data may share the decoded batch's array).
				op.Data = append(syncgate.Doc(nil), op.Data...)
				op.Data.Delete(f.Key)
			}
			w.Inc.Set(f.Key, f.Value)
		}
	}
	if onConflictRank[v.OnConflict] > onConflictRank[w.OnConflict] {
		w.OnConflict = v.OnConflict
	}
	rule := v.Rule
	if rule == "" {
		rule = guest
	}
	if w.Rule == "" {
		w.Rule = rule
	} else if !strings.Contains("+"+w.Rule+"+", "+"+rule+"+") {
		w.Rule += "+" + rule
	}
	op.Write = w
	return nil
}
