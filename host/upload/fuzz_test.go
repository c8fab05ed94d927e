package upload

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"unicode/utf8"

	"github.com/syncgate/syncgate/host/strictjson"
	"github.com/syncgate/syncgate/host/syncgate"
)

// FuzzDecodeBatch checks that Decode never panics and never accepts what
// the strict rules forbid: invalid JSON or UTF-8, unknown ops, bad tables or
// ids, operator/dotted/NUL keys, or nesting past the limit.
func FuzzDecodeBatch(f *testing.F) {
	for _, c := range hostileBodies {
		f.Add([]byte(c.body))
	}
	f.Add([]byte(`{"batch":[{"op":"PUT","table":"lists","id":"a","data":{"name":"x","n":1,"f":1.5,"b":true,"z":null,"o":{"a":[1,2]}}}]}`))
	f.Add([]byte(`{"batch":[{"op_id":1,"op":"PATCH","type":"todos","id":"t","tx_id":2,"data":{"done":1},"old":{"done":0}}]}`))
	// Each of these once failed the data check's own reading of the body.
	f.Add([]byte(`{"batch":[{"op":"DELETE","table":"lists","id":"a","data":{"x":1}}]}`))
	f.Add([]byte(`{"batch":[{"op":"PUT","table":"lists","data":{"_id":"a","x":1}}]}`))
	f.Add([]byte(`{"batch":[{"op":"PUT","table":"lists","id":"a","opData":{"x":"s\u00e9"}}]}`))
	f.Add([]byte(`{"batch":[{"op":"PUT","table":"lists","id":"a","data":{"x":1}}],"BATCH":[{"data":{"y":2}}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		ops, err := Decode(body, testLimits)
		if err != nil {
			if ops != nil {
				t.Fatal("ops returned with an error")
			}
			if e := syncgate.AsError(err); e.Kind != syncgate.Invalid && e.Kind != syncgate.TooLarge {
				t.Fatalf("error of kind %d: %v", e.Kind, err)
			}
			return
		}
		if !utf8.Valid(body) || !json.Valid(body) {
			t.Fatalf("accepted invalid JSON or UTF-8: %q", body)
		}
		if len(ops) > testLimits.MaxOps {
			t.Fatalf("accepted %d ops", len(ops))
		}
		for _, op := range ops {
			switch op.Op {
			case syncgate.Put, syncgate.Patch, syncgate.Delete:
			default:
				t.Fatalf("accepted op %q", op.Op)
			}
			if checkTable(op.Table) != nil || op.ID == "" || len(op.ID) > testLimits.MaxIDBytes {
				t.Fatalf("accepted table %q id %q", op.Table, op.ID)
			}
			if _, ok := op.Data.Get("id"); ok {
				t.Fatal("id left in data")
			}
			checkValue(t, op.Data, 1)
			// What was accepted encodes back to JSON.
			if _, err := op.Data.MarshalJSON(); err != nil {
				t.Fatalf("accepted data does not encode: %v", err)
			}
		}
		checkDataMatchesJSON(t, body, ops)
	})
}

// checkDataMatchesJSON: every op's data holds what encoding/json reads in
// its entry (strings come straight from the body's bytes: Options.Shared),
// taken as entry() takes it: "data" or else "opData", without "id" and
// "_id", none for a DELETE.
func checkDataMatchesJSON(t *testing.T, body []byte, ops []syncgate.Op) {
	t.Helper()
	var env map[string]json.RawMessage // exact names: a struct field would match "BATCH" too
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatalf("encoding/json refuses an accepted body: %v", err)
	}
	var entries []map[string]any
	if err := json.Unmarshal(env["batch"], &entries); err != nil {
		t.Fatalf("encoding/json refuses an accepted batch: %v", err)
	}
	for _, op := range ops {
		if op.Index >= len(entries) {
			t.Fatalf("op %d of %d entries", op.Index, len(entries))
		}
		e := entries[op.Index]
		data, ok := e["data"]
		if !ok {
			data = e["opData"]
		}
		want, _ := data.(map[string]any)
		if want == nil || op.Op == syncgate.Delete {
			want = map[string]any{}
		}
		delete(want, "id")
		delete(want, "_id")
		text, err := op.Data.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]any
		if err := json.Unmarshal(text, &got); err != nil {
			t.Fatalf("%s: %v", text, err)
		}
		if got == nil {
			got = map[string]any{}
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("op %d data:\n got %v\nwant %v", op.Index, got, want)
		}
	}
}

// FuzzDecodeBatchSplit checks the per-op split: DecodeBatch never panics;
// with a framing error nothing is returned; otherwise every entry is
// either an op or a rejection (indexes 0…n-1, each once), a rejection has
// a code, a reason and at most MaxRawBytes of valid UTF-8 raw text that is
// a prefix of an entry's text, and Decode fails exactly when there is one.
func FuzzDecodeBatchSplit(f *testing.F) {
	for _, c := range hostileBodies {
		f.Add([]byte(c.body))
	}
	f.Add([]byte(`{"batch":[{"op":"PUT","table":"l","id":"a"},{"op":"X"},7,{"op":"PUT","table":"l","id":"b","data":{"$x":1}}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		ops, rejected, err := DecodeBatch(body, testLimits)
		if err != nil {
			if ops != nil || rejected != nil {
				t.Fatal("results returned with a framing error")
			}
			return
		}
		seen := map[int]bool{}
		for _, op := range ops {
			seen[op.Index] = true
		}
		for _, r := range rejected {
			if seen[r.Index] || r.Code == "" || r.Reason == "" || len(r.Raw) > MaxRawBytes || !utf8.ValidString(r.Raw) || r.Raw == "" {
				t.Fatalf("bad rejection %+v", r)
			}
			if !bytes.Contains(body, []byte(r.Raw)) {
				t.Fatalf("raw %q is not in the body", r.Raw)
			}
			seen[r.Index] = true
		}
		for i := range len(seen) {
			if !seen[i] {
				t.Fatalf("entry %d is neither an op nor a rejection", i)
			}
		}
	})
}

func checkValue(t *testing.T, v any, depth int) {
	if depth > testLimits.MaxDepth+1 {
		t.Fatalf("accepted nesting deeper than %d", testLimits.MaxDepth)
	}
	switch v := v.(type) {
	case syncgate.Doc:
		for _, f := range v {
			if strictjson.CheckKey(f.Key) != nil {
				t.Fatalf("accepted key %q", f.Key)
			}
			checkValue(t, f.Value, depth+1)
		}
	case []any:
		for _, e := range v {
			checkValue(t, e, depth+1)
		}
	case nil, string, int64, float64, bool:
	default:
		t.Fatalf("accepted value of type %T", v)
	}
}
