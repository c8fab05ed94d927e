package strictjson

import (
	"encoding/json"
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
	})
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
