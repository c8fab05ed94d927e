package guest

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// TestPolicyVerdictFields: expect, inc, on_conflict and rule reach the wire
// as encoding/json writes them, and a later op sees an increment added.
func TestPolicyVerdictFields(t *testing.T) {
	h := func(op *Op) Verdict {
		if op.Index == 1 {
			if got := op.Current["n"]; got != json.Number("15") {
				return Rejectf("saw n=%v, want 15 (10 + 5)", got)
			}
			return Conflict("lww", "log", "older")
		}
		v := Replace(map[string]any{"note": "x"})
		v.Expect = map[string]any{"v": json.Number("3"), "gone": nil}
		v.Inc, v.OnConflict, v.Rule = map[string]any{"n": json.Number("5")}, "drop", "increments"
		return v
	}
	in := `{"abi":1,"ops":[
		{"index":0,"op":"PATCH","table":"t","id":"1","data":{"n":11},"old":{"n":10},"op_id":7,"tx_id":2,"metadata":"dev-1","exists":true,"current":{"n":10}},
		{"index":1,"op":"PATCH","table":"t","id":"1","data":{"a":1}}]}`
	out := Process([]byte(in), Handler(h))
	var got, want Response
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	want = Response{Verdicts: []Verdict{
		{Index: 0, Data: map[string]any{"note": "x"}, Expect: map[string]any{"v": 3.0, "gone": nil}, Inc: map[string]any{"n": 5.0}, OnConflict: "drop", Rule: "increments"},
		{Index: 1, Reject: true, Code: CodeConflict, Reason: "older", OnConflict: "log", Rule: "lww"},
	}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %s\nwant %+v", out, want)
	}
}

// TestCheckSettings: a settings check's error fails the call before any op.
func TestCheckSettings(t *testing.T) {
	defer CheckSettings(nil)
	CheckSettings(func(s map[string]string) error {
		if s["k"] != "ok" {
			return errors.New(`table t: key "k": bad`)
		}
		return nil
	})
	called := false
	h := func(*Op) Verdict { called = true; return Accept() }
	var resp Response
	json.Unmarshal(Process([]byte(`{"abi":1,"settings":{"k":"no"},"ops":[{"index":0,"op":"PUT"}]}`), Handler(h)), &resp)
	if called || !strings.Contains(resp.Error, `settings: table t: key "k": bad`) {
		t.Fatalf("called %v, response %+v", called, resp)
	}
	var ok Response
	json.Unmarshal(Process([]byte(`{"abi":1,"settings":{"k":"ok"},"ops":[]}`), Handler(h)), &ok)
	if ok.Error != "" {
		t.Fatalf("good settings: %+v", ok)
	}
}

func TestOpExtrasDecoded(t *testing.T) {
	req, err := DecodeRequest([]byte(`{"abi":1,"ops":[{"index":0,"op":"PATCH","old":{"n":1},"op_id":7,"tx_id":"t","metadata":"m"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	op := req.Ops[0]
	if op.Old["n"] != json.Number("1") || op.OpID != json.Number("7") || op.TxID != "t" || op.Metadata != "m" {
		t.Fatalf("%+v", op)
	}
}
