package upload

import (
	"strings"
	"testing"

	"github.com/syncgate/syncgate/host/strictjson"
	"github.com/syncgate/syncgate/host/syncgate"
)

var testLimits = Limits{MaxOps: 100, MaxDepth: 8, MaxIDBytes: 64}

func TestDecodeAccepts(t *testing.T) {
	cases := []struct {
		name string
		body string
		want []syncgate.Op
	}{
		{"empty batch", `{"batch":[]}`, []syncgate.Op{}},
		{"put", `{"batch":[{"op":"PUT","table":"lists","id":"a","data":{"name":"x","n":1,"f":1.5,"b":true,"z":null}}]}`,
			[]syncgate.Op{{Op: "PUT", Table: "lists", ID: "a", Data: syncgate.Doc{{Key: "name", Value: "x"}, {Key: "n", Value: int64(1)}, {Key: "f", Value: 1.5}, {Key: "b", Value: true}, {Key: "z", Value: nil}}}}},
		{"powersync crud entry", `{"batch":[{"op_id":7,"op":"PATCH","type":"todos","id":"t","tx_id":3,"data":{"done":1},"old":{"done":0},"metadata":"m"}]}`,
			[]syncgate.Op{{Op: "PATCH", Table: "todos", ID: "t", Data: syncgate.Doc{{Key: "done", Value: int64(1)}}, OpID: int64(7), TxID: int64(3), Old: syncgate.Doc{{Key: "done", Value: int64(0)}}, Metadata: "m"}}},
		{"opData and id inside", `{"batch":[{"op":"PUT","table":"lists","opData":{"id":"x","name":"n"}}]}`,
			[]syncgate.Op{{Op: "PUT", Table: "lists", ID: "x", Data: syncgate.Doc{{Key: "name", Value: "n"}}}}},
		{"agreeing ids", `{"batch":[{"op":"PUT","table":"lists","id":"x","data":{"id":"x"}}]}`,
			[]syncgate.Op{{Op: "PUT", Table: "lists", ID: "x", Data: syncgate.Doc{}}}},
		{"delete ignores data", `{"batch":[{"op":"DELETE","table":"lists","id":"x","data":{"a":1}}]}`,
			[]syncgate.Op{{Op: "DELETE", Table: "lists", ID: "x"}}},
		{"nested", `{"batch":[{"op":"PUT","table":"l","id":"x","data":{"a":{"b":[1,{"c":"d"}]}}}]}`,
			[]syncgate.Op{{Op: "PUT", Table: "l", ID: "x", Data: syncgate.Doc{{Key: "a", Value: syncgate.Doc{{Key: "b", Value: []any{int64(1), syncgate.Doc{{Key: "c", Value: "d"}}}}}}}}}},
		{"big integer stays integer", `{"batch":[{"op":"PUT","table":"l","id":"x","data":{"n":9007199254740993}}]}`,
			[]syncgate.Op{{Op: "PUT", Table: "l", ID: "x", Data: syncgate.Doc{{Key: "n", Value: int64(9007199254740993)}}}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Decode([]byte(c.body), testLimits)
			if err != nil {
				t.Fatalf("Decode(%s): %v", c.body, err)
			}
			if len(got) != len(c.want) {
				t.Fatalf("got %d ops, want %d", len(got), len(c.want))
			}
			for i := range got {
				c.want[i].Index = i
				if g, w := jsonOf(t, got[i]), jsonOf(t, c.want[i]); g != w {
					t.Errorf("op %d:\n got  %s\n want %s", i, g, w)
				}
			}
		})
	}
}

func jsonOf(t *testing.T, op syncgate.Op) string {
	b, err := op.Data.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	old, _ := op.Old.MarshalJSON()
	return string(op.Op) + " " + op.Table + " " + op.ID + " " + string(b) + " old=" + string(old) +
		" " + strings.TrimSpace(strings.Join([]string{fmtAny(op.OpID), fmtAny(op.TxID), fmtAny(op.Metadata)}, ","))
}

func fmtAny(v any) string {
	if v == nil {
		return "-"
	}
	return strings.TrimSpace(strings.ReplaceAll(strings.ReplaceAll(string(must(syncgate.Doc{{Key: "v", Value: v}}.MarshalJSON())), "{", ""), "}", ""))
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// hostileBodies are bodies Decode must refuse, each with the error code and
// a piece of the message that says where.
var hostileBodies = []struct {
	name, body, code, where string
	kind                    syncgate.Kind
}{
	{"invalid json", `{"batch":[`, "invalid_json", "", syncgate.Invalid},
	{"not json", `hello`, "invalid_json", "", syncgate.Invalid},
	{"trailing garbage", `{"batch":[]} x`, "invalid_json", "after", syncgate.Invalid},
	{"two values", `{"batch":[]}{"batch":[]}`, "invalid_json", "after", syncgate.Invalid},
	{"body is array", `[]`, "invalid_body", "", syncgate.Invalid},
	{"no batch", `{}`, "invalid_body", "batch", syncgate.Invalid},
	{"batch not array", `{"batch":{}}`, "invalid_body", "batch", syncgate.Invalid},
	{"batch null", `{"batch":null}`, "invalid_body", "batch", syncgate.Invalid},
	{"duplicate batch", `{"batch":[],"batch":[]}`, "duplicate_key", "batch", syncgate.Invalid},
	{"entry not object", `{"batch":[1]}`, "invalid_entry", "batch[0]", syncgate.Invalid},
	{"entry string", `{"batch":["PUT"]}`, "invalid_entry", "batch[0]", syncgate.Invalid},
	{"missing op", `{"batch":[{"table":"l","id":"a"}]}`, "invalid_op", "batch[0].op", syncgate.Invalid},
	{"unknown op", `{"batch":[{"op":"UPSERT","table":"l","id":"a"}]}`, "invalid_op", `batch[0].op: unknown op "UPSERT"`, syncgate.Invalid},
	{"lower-case op", `{"batch":[{"op":"put","table":"l","id":"a"}]}`, "invalid_op", "batch[0].op", syncgate.Invalid},
	{"op not string", `{"batch":[{"op":1,"table":"l","id":"a"}]}`, "invalid_op", "batch[0].op", syncgate.Invalid},
	{"second entry bad", `{"batch":[{"op":"PUT","table":"l","id":"a"},{"op":"NOPE","table":"l","id":"b"}]}`, "invalid_op", "batch[1].op", syncgate.Invalid},
	{"missing table", `{"batch":[{"op":"PUT","id":"a"}]}`, "invalid_table", "batch[0].table", syncgate.Invalid},
	{"table not string", `{"batch":[{"op":"PUT","table":5,"id":"a"}]}`, "invalid_table", "batch[0].table", syncgate.Invalid},
	{"empty table", `{"batch":[{"op":"PUT","table":"","id":"a"}]}`, "invalid_table", "empty", syncgate.Invalid},
	{"table with $", `{"batch":[{"op":"PUT","table":"a$b","id":"a"}]}`, "invalid_table", "$", syncgate.Invalid},
	{"table with dot", `{"batch":[{"op":"PUT","table":"a.b","id":"a"}]}`, "invalid_table", "dot", syncgate.Invalid},
	{"table with NUL", `{"batch":[{"op":"PUT","table":"a\u0000b","id":"a"}]}`, "invalid_table", "NUL", syncgate.Invalid},
	{"system table", `{"batch":[{"op":"PUT","table":"system.users","id":"a"}]}`, "invalid_table", "", syncgate.Invalid},
	{"system prefix", `{"batch":[{"op":"PUT","table":"systemx","id":"a"}]}`, "invalid_table", "reserved", syncgate.Invalid},
	{"syncgate's locks", `{"batch":[{"op":"PUT","table":"syncgate_locks","id":"a"}]}`, "invalid_table", "reserved", syncgate.Invalid},
	{"syncgate's dead letters", `{"batch":[{"op":"DELETE","table":"syncgate_rejected","id":"a"}]}`, "invalid_table", "reserved", syncgate.Invalid},
	{"long table", `{"batch":[{"op":"PUT","table":"` + strings.Repeat("t", 121) + `","id":"a"}]}`, "invalid_table", "120", syncgate.Invalid},
	{"missing id", `{"batch":[{"op":"PUT","table":"l","data":{}}]}`, "invalid_id", "batch[0].id: missing", syncgate.Invalid},
	{"empty id", `{"batch":[{"op":"PUT","table":"l","id":""}]}`, "invalid_id", "empty", syncgate.Invalid},
	{"numeric id", `{"batch":[{"op":"PUT","table":"l","id":5}]}`, "invalid_id", "string", syncgate.Invalid},
	{"null id", `{"batch":[{"op":"PUT","table":"l","id":null}]}`, "invalid_id", "string", syncgate.Invalid},
	{"long id", `{"batch":[{"op":"PUT","table":"l","id":"` + strings.Repeat("i", 65) + `"}]}`, "invalid_id", "64", syncgate.Invalid},
	{"id with NUL", `{"batch":[{"op":"PUT","table":"l","id":"a\u0000"}]}`, "invalid_id", "NUL", syncgate.Invalid},
	{"data not object", `{"batch":[{"op":"PUT","table":"l","id":"a","data":[1]}]}`, "invalid_data", "batch[0].data", syncgate.Invalid},
	{"data string", `{"batch":[{"op":"PUT","table":"l","id":"a","data":"x"}]}`, "invalid_data", "batch[0].data", syncgate.Invalid},
	{"operator key", `{"batch":[{"op":"PUT","table":"l","id":"a","data":{"$set":{"x":1}}}]}`, "invalid_key", "$", syncgate.Invalid},
	{"deep operator key", `{"batch":[{"op":"PUT","table":"l","id":"a","data":{"a":{"b":[{"$where":"1"}]}}}]}`, "invalid_key", "batch[0].data.a.b[0]", syncgate.Invalid},
	{"dotted key", `{"batch":[{"op":"PATCH","table":"l","id":"a","data":{"a.b":1}}]}`, "invalid_key", "dot", syncgate.Invalid},
	{"deep dotted key", `{"batch":[{"op":"PUT","table":"l","id":"a","data":{"a":{"x.y":1}}}]}`, "invalid_key", "dot", syncgate.Invalid},
	{"NUL key", `{"batch":[{"op":"PUT","table":"l","id":"a","data":{"a\u0000":1}}]}`, "invalid_key", "NUL", syncgate.Invalid},
	{"_id disagrees", `{"batch":[{"op":"PUT","table":"l","id":"a","data":{"_id":"b"}}]}`, "id_mismatch", "_id", syncgate.Invalid},
	{"id in data disagrees", `{"batch":[{"op":"PUT","table":"l","id":"a","data":{"id":"b"}}]}`, "id_mismatch", "batch[0].data.id", syncgate.Invalid},
	{"duplicate data key", `{"batch":[{"op":"PUT","table":"l","id":"a","data":{"x":1,"x":2}}]}`, "duplicate_key", `"x"`, syncgate.Invalid},
	{"duplicate entry key", `{"batch":[{"op":"PUT","op":"DELETE","table":"l","id":"a"}]}`, "duplicate_key", `"op"`, syncgate.Invalid},
	{"duplicate key in big object", `{"batch":[{"op":"PUT","table":"l","id":"a","data":{` + manyKeys(20) + `,"k3":0}}]}`, "duplicate_key", `"k3"`, syncgate.Invalid},
	{"too deep", `{"batch":[{"op":"PUT","table":"l","id":"a","data":` + strings.Repeat(`{"a":`, 9) + `1` + strings.Repeat(`}`, 9) + `}]}`, "too_deep", "deeper than 8", syncgate.Invalid},
	{"too deep arrays", `{"batch":[{"op":"PUT","table":"l","id":"a","data":{"a":` + strings.Repeat(`[`, 9) + strings.Repeat(`]`, 9) + `}}]}`, "too_deep", "", syncgate.Invalid},
	{"invalid utf-8", "{\"batch\":[{\"op\":\"PUT\",\"table\":\"l\",\"id\":\"a\",\"data\":{\"s\":\"\xff\xfe\"}}]}", "invalid_utf8", "", syncgate.Invalid},
	{"integer overflow", `{"batch":[{"op":"PUT","table":"l","id":"a","data":{"n":9223372036854775808}}]}`, "invalid_number", "batch[0].data.n", syncgate.Invalid},
	{"negative overflow", `{"batch":[{"op":"PUT","table":"l","id":"a","data":{"n":-9223372036854775809}}]}`, "invalid_number", "64-bit", syncgate.Invalid},
	{"float overflow", `{"batch":[{"op":"PUT","table":"l","id":"a","data":{"n":1e400}}]}`, "invalid_number", "float64", syncgate.Invalid},
	{"NUL in string value", `{"batch":[{"op":"PUT","table":"l","id":"a","data":{"s":"a\u0000b"}}]}`, "invalid_value", "NUL", syncgate.Invalid},
	{"too many entries", `{"batch":[` + strings.TrimSuffix(strings.Repeat(`{"op":"DELETE","table":"l","id":"a"},`, 101), ",") + `]}`, "too_many_ops", "100", syncgate.TooLarge},
}

func manyKeys(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"k` + string(rune('a'+i%26)) + string(rune('0'+i/26)) + `":1`)
	}
	return strings.ReplaceAll(b.String(), `"kd0"`, `"k3"`)
}

func TestDecodeRefusesHostileInput(t *testing.T) {
	if len(hostileBodies) < 40 {
		t.Fatalf("only %d hostile cases", len(hostileBodies))
	}
	for _, c := range hostileBodies {
		t.Run(c.name, func(t *testing.T) {
			ops, err := Decode([]byte(c.body), testLimits)
			if err == nil {
				t.Fatalf("Decode(%.200s) accepted %d ops, want error %s", c.body, len(ops), c.code)
			}
			e := syncgate.AsError(err)
			if string(e.Code) != c.code || e.Kind != c.kind {
				t.Fatalf("Decode(%.200s): got %v (kind %d), want code %s kind %d", c.body, err, e.Kind, c.code, c.kind)
			}
			if !strings.Contains(e.Message, c.where) {
				t.Fatalf("message %q does not say %q", e.Message, c.where)
			}
			if ops != nil {
				t.Fatalf("partial result returned with an error")
			}
		})
	}
}

func TestDecodeTableAllowlist(t *testing.T) {
	lim := testLimits
	lim.Tables = map[string]bool{"lists": true}
	if _, err := Decode([]byte(`{"batch":[{"op":"PUT","table":"lists","id":"a"}]}`), lim); err != nil {
		t.Fatalf("allowed table refused: %v", err)
	}
	_, err := Decode([]byte(`{"batch":[{"op":"PUT","table":"users","id":"a"}]}`), lim)
	if e := syncgate.AsError(err); e.Code != "table_not_allowed" {
		t.Fatalf("table outside the allowlist: got %v", err)
	}
}

// Decode is DecodeBatch as the tests of whole-batch rules read it: the
// first op-level rejection becomes the error.
func Decode(body []byte, lim Limits) ([]syncgate.Op, error) {
	ops, rejected, err := DecodeBatch(body, lim)
	if err != nil {
		return nil, err
	}
	if len(rejected) > 0 {
		return nil, strictjson.Invalid(rejected[0].Code, "%s", rejected[0].Reason)
	}
	return ops, nil
}
