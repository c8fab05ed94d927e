package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/syncgate/syncgate/guest"
	"github.com/syncgate/syncgate/guest/guesttest"
)

func TestIncrements(t *testing.T) {
	settings := map[string]string{"products.fields": "stock|sold"}
	n := func(s string) json.Number { return json.Number(s) }
	cases := []struct {
		name   string
		op     guest.Op
		reject string
		inc    map[string]any
		data   map[string]any
	}{
		{"sale", guest.Op{Op: guest.OpPatch, Data: map[string]any{"stock": n("9"), "name": "x"}, Old: map[string]any{"stock": n("10")}}, "", map[string]any{"stock": n("-1")}, map[string]any{"name": "x"}},
		{"two counters", guest.Op{Op: guest.OpPatch, Data: map[string]any{"stock": n("7"), "sold": n("5")}, Old: map[string]any{"stock": n("10"), "sold": n("2")}}, "", map[string]any{"stock": n("-3"), "sold": n("3")}, map[string]any{}},
		{"fractions", guest.Op{Op: guest.OpPatch, Data: map[string]any{"stock": n("1.5")}, Old: map[string]any{"stock": n("1")}}, "", map[string]any{"stock": n("0.5")}, map[string]any{}},
		{"no old", guest.Op{Op: guest.OpPatch, Data: map[string]any{"stock": n("9")}}, "has no old value", nil, nil},
		{"not a number", guest.Op{Op: guest.OpPatch, Data: map[string]any{"stock": "many"}, Old: map[string]any{"stock": n("1")}}, "not a number", nil, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			op := c.op
			op.Table, op.Settings = "products", settings
			v := handle(&op)
			if c.reject != "" {
				if !v.Reject || !strings.Contains(v.Reason, c.reject) {
					t.Fatalf("got %+v, want %q", v, c.reject)
				}
				return
			}
			if v.Reject || len(v.Inc) != len(c.inc) || len(v.Data) != len(c.data) {
				t.Fatalf("got %+v, want inc %v data %v", v, c.inc, c.data)
			}
			for k, want := range c.inc {
				if v.Inc[k] != want {
					t.Fatalf("inc %v, want %v", v.Inc, c.inc)
				}
			}
		})
	}
	for _, op := range []guest.Op{{Op: guest.OpPut, Data: map[string]any{"stock": n("3")}}, {Op: guest.OpPatch, Data: map[string]any{"name": "y"}}, {Op: guest.OpDelete}} {
		op.Table, op.Settings = "products", settings
		if v := handle(&op); v.Reject || v.Inc != nil || v.Data != nil {
			t.Fatalf("%s changed: %+v", op.Op, v)
		}
	}
	if err := check(map[string]string{"without_old": "set"}); err == nil || !strings.Contains(err.Error(), "fields") {
		t.Fatalf("missing fields: %v", err)
	}
	if err := check(map[string]string{"products.fields": "a|$b"}); err == nil || !strings.Contains(err.Error(), `table products: key "fields"`) {
		t.Fatalf("bad field: %v", err)
	}
}

// BenchmarkGuest/increments/native pairs with the sandbox's BenchmarkGuest/increments/wasm.
func BenchmarkGuest(b *testing.B) { guesttest.BenchPolicy(b, "increments", handle, 100) }
