package strictjson

import (
	"bytes"
	"encoding/json"
	"strconv"
	"testing"

	"github.com/syncgate/syncgate/host/syncgate"
)

// testMaxDepth is host/upload's test limit, which this fuzz target's
// corpus was grown with.
const testMaxDepth = 8

// FuzzDecodeData: a guest's replacement data is outside input too; the
// same rules hold.
func FuzzDecodeData(f *testing.F) {
	f.Add([]byte(`{"a":1,"b":{"c":[1,2]}}`))
	f.Add([]byte(`{"$set":1}`))
	f.Add([]byte(`{"a.b":1}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		doc, err := DecodeData(raw, testMaxDepth)
		if err != nil {
			return
		}
		if !json.Valid(raw) {
			t.Fatalf("accepted invalid JSON %q", raw)
		}
		checkValue(t, doc, 1)
		// The values are encoding/json's (numbers read with UseNumber).
		var want any
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&want); err != nil {
			t.Fatalf("accepted %q, which encoding/json refuses: %v", raw, err)
		}
		sameValue(t, doc, want)
	})
}

// sameValue compares a decoded value with encoding/json's decoding of the
// same text.
func sameValue(t *testing.T, got, want any) {
	t.Helper()
	switch g := got.(type) {
	case syncgate.Doc:
		w, ok := want.(map[string]any)
		if !ok || len(w) != len(g) {
			t.Fatalf("object %v, want %v", g, want)
		}
		for _, f := range g {
			sameValue(t, f.Value, w[f.Key])
		}
	case []any:
		w, ok := want.([]any)
		if !ok || len(w) != len(g) {
			t.Fatalf("array %v, want %v", g, want)
		}
		for i := range g {
			sameValue(t, g[i], w[i])
		}
	case int64:
		n, ok := want.(json.Number)
		if i, err := strconv.ParseInt(string(n), 10, 64); !ok || err != nil || i != g {
			t.Fatalf("integer %d, want %v", g, want)
		}
	case float64:
		n, ok := want.(json.Number)
		if f, err := strconv.ParseFloat(string(n), 64); !ok || err != nil || f != g {
			t.Fatalf("number %v, want %v", g, want)
		}
	default:
		if got != want {
			t.Fatalf("value %#v, want %#v", got, want)
		}
	}
}

func checkValue(t *testing.T, v any, depth int) {
	if depth > testMaxDepth+1 {
		t.Fatalf("accepted nesting deeper than %d", testMaxDepth)
	}
	switch v := v.(type) {
	case syncgate.Doc:
		for _, f := range v {
			if CheckKey(f.Key) != nil {
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
