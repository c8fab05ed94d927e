package main

import (
	"strings"
	"testing"

	"github.com/syncgate/syncgate/guest"
	"github.com/syncgate/syncgate/guest/guesttest"
)

func TestLWW(t *testing.T) {
	stored := map[string]any{"title": "a", "updated_at": "2026-11-28T10:00:00Z"}
	cases := []struct {
		name     string
		op       guest.Op
		settings map[string]string
		reject   string // substring of the reason; "" accepts
		code     string
		expect   any // the expected stored value of the write's condition
	}{
		{"newer patch", guest.Op{Op: guest.OpPatch, Data: map[string]any{"title": "b", "updated_at": "2026-11-28T10:00:01Z"}, Exists: true, Current: stored}, nil, "", "", "2026-11-28T10:00:00Z"},
		{"older patch", guest.Op{Op: guest.OpPatch, Data: map[string]any{"title": "b", "updated_at": "2026-11-28T09:59:59Z"}, Exists: true, Current: stored}, nil, "is older than the stored", "conflict", nil},
		{"older, other format", guest.Op{Op: guest.OpPatch, Data: map[string]any{"updated_at": "2026-11-28 09:59:59"}, Exists: true, Current: stored}, nil, "is older", "conflict", nil},
		{"tie accepted", guest.Op{Op: guest.OpPut, Data: map[string]any{"updated_at": "2026-11-28T10:00:00.000Z"}, Exists: true, Current: stored}, nil, "", "", "2026-11-28T10:00:00Z"},
		{"tie rejected", guest.Op{Op: guest.OpPut, Data: map[string]any{"updated_at": "2026-11-28T10:00:00Z"}, Exists: true, Current: stored}, map[string]string{"ties": "reject"}, "ties keep the stored", "conflict", nil},
		{"new document", guest.Op{Op: guest.OpPut, Data: map[string]any{"updated_at": "2020-01-01T00:00:00Z"}}, nil, "", "", nil},
		{"missing field", guest.Op{Op: guest.OpPatch, Data: map[string]any{"title": "b"}, Exists: true, Current: stored}, nil, "has no updated_at", "rejected", nil},
		{"not a timestamp", guest.Op{Op: guest.OpPatch, Data: map[string]any{"updated_at": "soon"}, Exists: true, Current: stored}, nil, "is not a timestamp", "rejected", nil},
		{"per-table field", guest.Op{Op: guest.OpPatch, Table: "todos", Data: map[string]any{"ts": "2026-11-28T09:00:00Z"}, Exists: true, Current: map[string]any{"ts": "2026-11-28T10:00:00Z"}}, map[string]string{"todos.field": "ts"}, "ts", "conflict", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			op := c.op
			op.Settings = c.settings
			v := handle(&op)
			if c.reject != "" {
				if !v.Reject || v.Code != c.code || !strings.Contains(v.Reason, c.reject) {
					t.Fatalf("got %+v, want a %s rejection with %q", v, c.code, c.reject)
				}
				return
			}
			if v.Reject {
				t.Fatalf("rejected: %+v", v)
			}
			f := "updated_at"
			if got, ok := v.Expect[f]; !ok || got != c.expect || v.Rule != "lww" {
				t.Fatalf("expect %v, want %s=%v", v.Expect, f, c.expect)
			}
		})
	}
	if v := handle(&guest.Op{Op: guest.OpDelete}); v.Reject {
		t.Fatalf("delete rejected: %+v", v)
	}
	if err := check(map[string]string{"todos.ties": "coin"}); err == nil || !strings.Contains(err.Error(), `table todos: key "ties"`) {
		t.Fatalf("bad setting: %v", err)
	}
}

// TestLWWOrderIndependent: two clients' offline edits converge on the newer
// one whichever reaches the server first.
func TestLWWOrderIndependent(t *testing.T) {
	a := map[string]any{"title": "A", "updated_at": "2026-11-28T10:00:01Z"}
	b := map[string]any{"title": "B", "updated_at": "2026-11-28T10:00:02Z"}
	for _, order := range [][]map[string]any{{a, b}, {b, a}} {
		doc := map[string]any{"title": "0", "updated_at": "2026-11-28T10:00:00Z"}
		for _, d := range order {
			if v := handle(&guest.Op{Op: guest.OpPatch, Data: d, Exists: true, Current: doc}); !v.Reject {
				doc = map[string]any{"title": d["title"], "updated_at": d["updated_at"]}
			}
		}
		if doc["title"] != "B" {
			t.Fatalf("order %v: got %v, want B", order, doc)
		}
	}
}

// BenchmarkGuest/lww/native pairs with the sandbox's BenchmarkGuest/lww/wasm.
func BenchmarkGuest(b *testing.B) { guesttest.BenchPolicy(b, "lww", handle, 100) }
