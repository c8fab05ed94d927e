package guest

import (
	"encoding/json"
	"testing"
)

// TestProcessTracksDocumentsWithinACall: later ops on a document see what
// earlier accepted ops of the call made of it; rejected ops change nothing.
func TestProcessTracksDocumentsWithinACall(t *testing.T) {
	var seen []string
	h := func(op *Op) Verdict {
		b, _ := json.Marshal(op.Current)
		seen = append(seen, string(op.Op)+" "+string(b)+" "+map[bool]string{true: "exists", false: "absent"}[op.Exists])
		if op.Data["bad"] != nil {
			return Reject("x", "bad")
		}
		if op.Op == "PUT" {
			return Replace(map[string]any{"a": op.Data["a"], "stamped": true})
		}
		return Accept()
	}
	in := `{"abi":1,"ops":[
		{"index":0,"op":"PUT","table":"t","id":"1","data":{"a":1}},
		{"index":1,"op":"PATCH","table":"t","id":"1","data":{"b":2}},
		{"index":2,"op":"PATCH","table":"t","id":"1","data":{"bad":1}},
		{"index":3,"op":"PATCH","table":"t","id":"1","data":{"c":3}},
		{"index":4,"op":"DELETE","table":"t","id":"1"},
		{"index":5,"op":"PATCH","table":"t","id":"1","data":{"d":4}},
		{"index":6,"op":"PATCH","table":"t","id":"2","data":{"e":5},"exists":true,"current":{"z":0}}
	]}`
	var resp Response
	if err := json.Unmarshal(Process([]byte(in), Handler(h)), &resp); err != nil || resp.Error != "" || len(resp.Verdicts) != 7 {
		t.Fatalf("%v %+v", err, resp)
	}
	want := []string{
		`PUT null absent`,
		`PATCH {"a":1,"stamped":true} exists`,
		`PATCH {"a":1,"b":2,"stamped":true} exists`,
		`PATCH {"a":1,"b":2,"stamped":true} exists`,
		`DELETE {"a":1,"b":2,"c":3,"stamped":true} exists`,
		`PATCH null absent`,
		`PATCH {"z":0} exists`,
	}
	for i := range want {
		if seen[i] != want[i] {
			t.Errorf("op %d saw %s, want %s", i, seen[i], want[i])
		}
	}
	if !resp.Verdicts[2].Reject || resp.Verdicts[2].Index != 2 {
		t.Errorf("verdict 2: %+v", resp.Verdicts[2])
	}
}

func TestProcessRefusesBadInput(t *testing.T) {
	for _, in := range []string{`nope`, `{"abi":2,"ops":[]}`} {
		var resp Response
		json.Unmarshal(Process([]byte(in), Handler(func(*Op) Verdict { return Accept() })), &resp)
		if resp.Error == "" {
			t.Errorf("%s: no error", in)
		}
	}
}

// FuzzGuestInput: whatever the host sends, the SDK answers with a Response
// (an error or one verdict per op), never a panic.
func FuzzGuestInput(f *testing.F) {
	f.Add([]byte(`{"abi":1,"ops":[{"index":0,"op":"PUT","table":"t","id":"1","data":{"a":1}}]}`))
	f.Add([]byte(`{"abi":1,"ops":[{"index":0,"op":"PATCH","table":"t","id":"1","data":{"a":[1,{"b":null}]},"exists":true,"current":{}}]}`))
	f.Add([]byte(`{"abi":1,"ops":[null]}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		h := func(op *Op) Verdict {
			if op == nil {
				return Accept()
			}
			return Replace(op.Data)
		}
		var resp Response
		if err := json.Unmarshal(Process(in, Handler(h)), &resp); err != nil {
			t.Fatalf("response is not JSON: %v", err)
		}
	})
}
