package upload

import (
	"strings"
	"testing"

	"github.com/syncgate/syncgate/host/syncgate"
)

// framing are the hostile bodies that stay errors of the whole request:
// nothing in them can be trusted.
var framing = map[string]bool{
	"invalid json": true, "not json": true, "trailing garbage": true, "two values": true, "body is array": true,
	"no batch": true, "batch not array": true, "batch null": true, "duplicate batch": true, "invalid utf-8": true,
	"too many entries": true,
}

// TestDecodeBatchRejectsOps: every hostile body that is well framed gives
// one rejection with the decoder's code and the entry's raw text, and the
// valid entries around it as ops; framing errors stay errors.
func TestDecodeBatchRejectsOps(t *testing.T) {
	opLevel := 0
	for _, c := range hostileBodies {
		t.Run(c.name, func(t *testing.T) {
			ops, rejected, err := DecodeBatch([]byte(c.body), testLimits)
			if framing[c.name] {
				if err == nil || ops != nil || rejected != nil {
					t.Fatalf("framing error %s: got ops %v rejected %v err %v", c.name, ops, rejected, err)
				}
				return
			}
			opLevel++
			if err != nil {
				t.Fatalf("DecodeBatch(%.200s): %v, want a rejection %s", c.body, err, c.code)
			}
			if len(rejected) != 1 {
				t.Fatalf("got %d rejections (%v), want 1", len(rejected), rejected)
			}
			r := rejected[0]
			if string(r.Code) != c.code || !strings.Contains(r.Reason, c.where) || r.Raw == "" {
				t.Fatalf("rejection %+v, want code %s saying %q with raw text", r, c.code, c.where)
			}
			if !strings.Contains(c.body, r.Raw) {
				t.Fatalf("raw %q is not the entry's text", r.Raw)
			}
		})
	}
	if opLevel < 35 {
		t.Fatalf("only %d op-level cases", opLevel)
	}
	t.Logf("%d op-level bad inputs become rejections; %d framing errors stay errors", opLevel, len(framing))
}

func TestDecodeBatchKeepsGoodOps(t *testing.T) {
	body := `{"batch":[{"op":"PUT","table":"l","id":"a","tx_id":7},{"op":"PUT","table":"a$b","id":"x","tx_id":7,"data":{"$set":1}},{"op":"DELETE","table":"l","id":"c"}]}`
	ops, rejected, err := DecodeBatch([]byte(body), testLimits)
	if err != nil {
		t.Fatal(err)
	}
	if len(ops) != 2 || ops[0].Index != 0 || ops[1].Index != 2 {
		t.Fatalf("ops %v", ops)
	}
	want := syncgate.Rejection{Index: 1, Op: "PUT", Table: "a$b", ID: "x", Code: syncgate.CodeInvalidKey, TxID: int64(7),
		Raw: `{"op":"PUT","table":"a$b","id":"x","tx_id":7,"data":{"$set":1}}`}
	r := rejected[0]
	r.Reason = ""
	if len(rejected) != 1 || r != want {
		t.Fatalf("rejected %+v, want %+v", rejected, want)
	}
}

func TestDecodeBatchBoundsRaw(t *testing.T) {
	big := `{"op":"PUT","table":"l","id":"a","data":{"$x":"` + strings.Repeat("é", MaxRawBytes) + `"}}`
	_, rejected, err := DecodeBatch([]byte(`{"batch":[`+big+`]}`), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	r := rejected[0]
	if len(r.Raw) > MaxRawBytes || !r.RawTruncated || !strings.HasPrefix(big, r.Raw) {
		t.Fatalf("raw of %d bytes, truncated %v", len(r.Raw), r.RawTruncated)
	}
}

func TestDecodeBatchDuplicateEnvelopeKey(t *testing.T) {
	_, _, err := DecodeBatch([]byte(`{"x":1,"batch":[],"x":2}`), testLimits)
	if e := syncgate.AsError(err); e.Code != syncgate.CodeDuplicateKey {
		t.Fatalf("duplicate envelope key: %v", err)
	}
}

// TestRejectionRawIsTheEntry: a rejected entry's raw text is exactly its
// JSON value, whatever spaces and separators surround it, whether the
// entry broke a decoding rule mid-way (the rest of it is skipped) or was
// decoded and then refused.
func TestRejectionRawIsTheEntry(t *testing.T) {
	body := "{\"batch\" : [ \n\t{\"op\":\"PUT\",\"table\":\"a\",\"id\":\"1\",\"data\":{}} ,\n" +
		"  {\"op\":\"PUT\",\"table\":\"a\",\"id\":\"2\",\"data\":{\"x\":{\"k\":1,\"k\":2},\"y\":[1,{\"z\":\"w\"}]}}\r\n," +
		"{\"op\":\"NOPE\",\"table\":\"a\",\"id\":\"3\"}  ,  7 ,{\"op\":\"DELETE\",\"table\":\"a\",\"id\":\"4\"}]}"
	ops, rejected, err := DecodeBatch([]byte(body), testLimits)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`{"op":"PUT","table":"a","id":"2","data":{"x":{"k":1,"k":2},"y":[1,{"z":"w"}]}}`,
		`{"op":"NOPE","table":"a","id":"3"}`,
		`7`,
	}
	if len(ops) != 2 || ops[0].ID != "1" || ops[1].ID != "4" || len(rejected) != len(want) {
		t.Fatalf("ops %v rejected %v", ops, rejected)
	}
	for i, r := range rejected {
		if r.Raw != want[i] || r.Index != i+1 {
			t.Errorf("rejection %d: index %d raw %q, want %q", i, r.Index, r.Raw, want[i])
		}
	}
	if rejected[0].Code != syncgate.CodeDuplicateKey {
		t.Errorf("code %s, want the duplicate key", rejected[0].Code)
	}
}
