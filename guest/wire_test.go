package guest

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// wireSeeds are requests the host sends and variants it never sends.
var wireSeeds = []string{
	`{"abi":1,"request_id":"r1","now":"2023-11-14T22:13:20Z","caller":{"user_id":"alice","claims":{"role":"admin","n":1.5e3}},"settings":{"k":"v"},"ops":[{"index":0,"op":"PUT","table":"t","id":"1","data":{"a":1,"b":[true,false,null,{"c":"d"}],"e":"\u00e9\ud83d\ude00\n\"x\""}}]}`,
	`{"abi":1,"ops":[{"index":0,"op":"PATCH","table":"t","id":"1","data":{"a":-0.0e+1},"exists":true,"current":{"z":0}},null]}`,
	`{"ABI":1,"Ops":[{"INDEX":3,"Op":"DELETE"}]}`,
	`{"abi":1,"ops":[],"ops":[{"index":1}]}`,
	`{"abi":1,"ops":[{"index":1,"data":{"a":1}}],"ops":[{"data":{"b":2}}]}`,
	`{"abi":1,"unknown":{"deep":[1,2,{"x":null}]},"settings":null,"caller":null,"now":null}`,
	`{"abi":1,"settings":{"a":null}}`,
	` {"abi" : 1 , "ops" : [ ] } `,
	`{"abi":1,"ops":[{"id":"\ud800x","table":"\u0041\/"}]}`,
	"{\"abi\":1,\"request_id\":\"bad utf8 \xff\xfe\"}",
	`{"abi":1.0}`, `{"abi":"1"}`, `{"abi":1e400}`, `{"abi":99999999999999999999}`,
	`{"abi":1,"ops":[{"exists":"yes"}]}`, `{"abi":1,"ops":[{"data":[1]}]}`, `{"abi":1,"ops":{}}`,
	`{"abi":1,"now":"yesterday"}`, `{"abi":1,"now":5}`,
	`{"abi":01}`, `{"abi":1,}`, `{"abi":1`, `{"abi":1}x`, `[]`, `null`, ``, `{"a":"\x"}`, `{"a":"` + "\x01" + `"}`,
	`{"abi":1,"ops":[{"data":{"a":1.}}]}`, `{"abi":1,"ops":[{"data":{"a":-}}]}`, `{"abi":1,"ops":[{"data":{"a":1e}}]}`,
	`{"abi":1,"ops":[{"data":{"a":tru}}]}`, `{"abi":1,"ops":[{"data":{"a" 1}}]}`, `{"abi":1,"ops":[{"data":{1:1}}]}`,
	`{"ſettings":{"k":"v"},"abi":1}`,
	`{"abi":1,"ops":[{"index":0,"op":"PATCH","old":{"n":1},"old":{"m":2},"metadata":{"a":1},"metadata":{"b":2},"op_id":7,"tx_id":"t","OP_ID":8}]}`,
	`{"abi":1,"ops":[{"old":null,"metadata":"device-1","op_id":null,"tx_id":[1]}]}`, `{"abi":1,"ops":[{"old":[1]}]}`, `{"abi":1,"ops":[{"id":"\u212a"}]}`,
}

// TestDecodeRequestMatchesEncodingJSON holds the hand-written decoder to
// encoding/json with UseNumber: the same Request, or both refuse.
func TestDecodeRequestMatchesEncodingJSON(t *testing.T) {
	for _, in := range wireSeeds {
		checkDecodeLikeJSON(t, []byte(in))
	}
}

func checkDecodeLikeJSON(t *testing.T, in []byte) {
	t.Helper()
	var want Request
	dec := json.NewDecoder(bytes.NewReader(in))
	dec.UseNumber()
	wantErr := dec.Decode(&want)
	if wantErr == nil && dec.More() || wantErr == nil && strings.TrimSpace(string(in[dec.InputOffset():])) != "" {
		wantErr = json.Unmarshal(in, new(any)) // trailing data: encoding/json's Unmarshal refuses it
	}
	got, gotErr := DecodeRequest(in)
	if (wantErr == nil) != (gotErr == nil) {
		t.Fatalf("%q: encoding/json err %v, DecodeRequest err %v", in, wantErr, gotErr)
	}
	if wantErr == nil && !reflect.DeepEqual(*got, want) {
		t.Fatalf("%q:\n got %#v\nwant %#v", in, *got, want)
	}
}

// FuzzDecodeRequest: on any input the decoder agrees with encoding/json.
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range wireSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) { checkDecodeLikeJSON(t, in) })
}

// TestEncodeResponseMatchesEncodingJSON: the encoder writes what
// encoding/json writes for the values guests return.
func TestEncodeResponseMatchesEncodingJSON(t *testing.T) {
	resps := []Response{
		{},
		{Verdicts: []Verdict{}},
		{Error: "boom <&> \u2028 \xff"},
		{Verdicts: []Verdict{{Index: 0}, {Index: -7, Reject: true, Code: "c", Reason: "a \"quoted\" \\ reason\n\t\x01"}}},
		{Verdicts: []Verdict{RejectTransaction("tx", "whole transaction"), {Index: 2, RejectTx: true, Data: map[string]any{"a": 1}}}},
		{Verdicts: []Verdict{{Index: 1, Data: map[string]any{
			"s": "é😀", "n": json.Number("-1.5e3"), "b": true, "z": nil, "i": 3, "i64": int64(-4), "f": 0.1,
			"l": []any{1.5, "x", nil, map[string]any{"k": []any{}}}, "m": map[string]any{"b": 1, "a": 2}, "t": []string{"typed"},
		}}}},
	}
	for _, r := range resps {
		got, err := EncodeResponse(&r)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(r)
		if !bytes.Equal(got, want) {
			t.Errorf("\n got %s\nwant %s", got, want)
		}
	}
	if _, err := EncodeResponse(&Response{Verdicts: []Verdict{{Data: map[string]any{"n": json.Number("1x")}}}}); err == nil {
		t.Error("an invalid json.Number was encoded")
	}
	if out := mustJSON(Response{Verdicts: []Verdict{{Data: map[string]any{"f": make(chan int)}}}}); !bytes.Contains(out, []byte(`"error":"guest: encode response`)) {
		t.Errorf("unencodable data: %s", out)
	}
}

// TestRawProcessTracksDocuments is TestProcessTracksDocumentsWithinACall
// for raw handlers: later ops see earlier accepted ops' effects as bytes.
func TestRawProcessTracksDocuments(t *testing.T) {
	var seen []string
	h := func(op *Op) Verdict {
		seen = append(seen, string(op.Op)+" "+string(op.RawCurrent)+" "+string(op.RawData))
		if op.Op == "PUT" {
			return Replace(map[string]any{"a": json.Number("1"), "stamped": true})
		}
		if bytes.Contains(op.RawData, []byte("bad")) {
			return Reject("x", "bad")
		}
		return Accept()
	}
	in := `{"abi":1,"ops":[
		{"index":0,"op":"PUT","table":"t","id":"1","data":{"a":1}},
		{"index":1,"op":"PATCH","table":"t","id":"1","data":{"b":2}},
		{"index":2,"op":"PATCH","table":"t","id":"1","data":{"bad":1}},
		{"index":3,"op":"DELETE","table":"t","id":"1"},
		{"index":4,"op":"PATCH","table":"t","id":"2","data":{"e":5},"exists":true,"current":{"z":0}}
	]}`
	var resp Response
	if err := json.Unmarshal(Process([]byte(in), Handler(h), RawData()), &resp); err != nil || resp.Error != "" || len(resp.Verdicts) != 5 {
		t.Fatalf("%v %+v", err, resp)
	}
	want := []string{
		`PUT  {"a":1}`,
		`PATCH {"a":1,"stamped":true} {"b":2}`,
		`PATCH {"a":1,"stamped":true,"b":2} {"bad":1}`,
		`DELETE {"a":1,"stamped":true,"b":2} `,
		`PATCH {"z":0} {"e":5}`,
	}
	if !reflect.DeepEqual(seen, want) {
		t.Fatalf("seen:\n%s\nwant:\n%s", strings.Join(seen, "\n"), strings.Join(want, "\n"))
	}
}
