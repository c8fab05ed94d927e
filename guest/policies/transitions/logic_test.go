package main

import (
	"strings"
	"testing"

	"github.com/syncgate/syncgate/guest"
	"github.com/syncgate/syncgate/guest/guesttest"
)

func TestTransitions(t *testing.T) {
	settings := map[string]string{"orders.status": "pending>processing>shipped;processing>cancelled;pending>cancelled", "orders.locked": "status=shipped|cancelled"}
	at := func(st string) map[string]any { return map[string]any{"status": st, "note": "x"} }
	cases := []struct {
		name   string
		op     guest.Op
		reject string
	}{
		{"forward", guest.Op{Op: guest.OpPatch, Data: map[string]any{"status": "processing"}, Exists: true, Current: at("pending")}, ""},
		{"jump", guest.Op{Op: guest.OpPatch, Data: map[string]any{"status": "shipped"}, Exists: true, Current: at("pending")}, "may not go from pending to shipped"},
		{"back", guest.Op{Op: guest.OpPatch, Data: map[string]any{"status": "pending"}, Exists: true, Current: at("processing")}, "may not go from processing to pending"},
		{"branch", guest.Op{Op: guest.OpPatch, Data: map[string]any{"status": "cancelled"}, Exists: true, Current: at("processing")}, ""},
		{"stay (resend)", guest.Op{Op: guest.OpPatch, Data: map[string]any{"status": "processing"}, Exists: true, Current: at("processing")}, ""},
		{"other field", guest.Op{Op: guest.OpPatch, Data: map[string]any{"note": "y"}, Exists: true, Current: at("processing")}, ""},
		{"locked", guest.Op{Op: guest.OpPatch, Data: map[string]any{"note": "y"}, Exists: true, Current: at("shipped")}, "locked (status is shipped)"},
		{"locked delete", guest.Op{Op: guest.OpDelete, Exists: true, Current: at("shipped")}, "locked"},
		{"locked resend", guest.Op{Op: guest.OpPatch, Data: map[string]any{"status": "shipped"}, Exists: true, Current: at("shipped")}, ""},
		{"new at start", guest.Op{Op: guest.OpPut, Data: map[string]any{"status": "pending"}}, ""},
		{"new mid-way", guest.Op{Op: guest.OpPut, Data: map[string]any{"status": "shipped"}}, "must be one of pending"},
		{"put without status", guest.Op{Op: guest.OpPut, Data: map[string]any{"note": "x"}}, "must be one of"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			op := c.op
			op.Table, op.Settings = "orders", settings
			v := handle(&op)
			if c.reject != "" {
				if !v.Reject || v.Code != "conflict" || !strings.Contains(v.Reason, c.reject) {
					t.Fatalf("got %+v, want a conflict with %q", v, c.reject)
				}
				return
			}
			if v.Reject {
				t.Fatalf("rejected: %+v", v)
			}
			if _, ok := v.Expect["status"]; !ok {
				t.Fatalf("write not conditional on status: %+v", v)
			}
		})
	}
	// Another table is not governed.
	if v := handle(&guest.Op{Op: guest.OpPatch, Table: "lists", Settings: settings, Data: map[string]any{"status": "x"}, Exists: true, Current: at("y")}); v.Reject || v.Expect != nil {
		t.Fatalf("lists: %+v", v)
	}
}

func TestTransitionsSettings(t *testing.T) {
	for in, want := range map[string]string{
		"orders.status:a":       `table orders: key "status": "a": want chains`,
		"orders.status:a>b;b>a": `no state to start in`,
		"orders.locked:shipped": `table orders: key "locked": "shipped": want FIELD=state|state`,
		"orders.on_conflict:x":  `table orders: key "on_conflict"`,
		"orders.$x:a>b":         `table orders: key "$x"`,
	} {
		k, v, _ := strings.Cut(in, ":")
		if err := check(map[string]string{k: v}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %s", in, err, want)
		}
	}
}

// BenchmarkGuest/transitions/native pairs with the sandbox's BenchmarkGuest/transitions/wasm.
func BenchmarkGuest(b *testing.B) { guesttest.BenchPolicy(b, "transitions", handle, 100) }
