package main

import (
	"encoding/json"
	"testing"

	"github.com/syncgate/syncgate/guest"
	"github.com/syncgate/syncgate/guest/guesttest"
)

func TestNormalize(t *testing.T) {
	settings := map[string]string{"lower": "email", "nonempty": "name"}
	cases := []struct {
		name   string
		data   map[string]any
		want   map[string]any // nil: accepted unchanged
		reject bool
	}{
		{"trims and folds", map[string]any{"name": "  Big \t shop  ", "n": json.Number("3")}, map[string]any{"name": "Big shop", "n": json.Number("3")}, false},
		{"lower-cases email", map[string]any{"email": " A@B.Test"}, map[string]any{"email": "a@b.test"}, false},
		{"already clean", map[string]any{"name": "ok"}, nil, false},
		{"blank required", map[string]any{"name": "   "}, nil, true},
		{"blank optional", map[string]any{"note": "  "}, map[string]any{"note": ""}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := handle(&guest.Op{Op: guest.OpPut, Data: c.data, Settings: settings})
			if v.Reject != c.reject {
				t.Fatalf("reject=%v (%s), want %v", v.Reject, v.Reason, c.reject)
			}
			got, _ := json.Marshal(v.Data)
			want, _ := json.Marshal(c.want)
			if string(got) != string(want) {
				t.Fatalf("data %s, want %s", got, want)
			}
		})
	}
}

// BenchmarkGuest/normalize/native pairs with the sandbox's BenchmarkGuest/normalize/wasm.
func BenchmarkGuest(b *testing.B) { guesttest.Bench(b, "normalize", handle, 100) }
