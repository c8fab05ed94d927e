package main

import (
	"testing"
	"time"

	"github.com/syncgate/syncgate/guest"
	"github.com/syncgate/syncgate/guest/guesttest"
)

func TestTimestamps(t *testing.T) {
	now := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	stamp := "2026-11-28T10:00:00Z"
	cases := []struct {
		name                string
		op                  guest.Op
		wantCreated, wantUp any
	}{
		{"first put", guest.Op{Op: guest.OpPut, Data: map[string]any{"a": 1}}, stamp, stamp},
		{"put with created_at", guest.Op{Op: guest.OpPut, Data: map[string]any{"created_at": "2020-01-01"}}, "2020-01-01", stamp},
		{"put over existing keeps created_at", guest.Op{Op: guest.OpPut, Data: map[string]any{"created_at": "2099-01-01"}, Exists: true, Current: map[string]any{"created_at": "2020-01-01"}}, "2020-01-01", stamp},
		{"patch", guest.Op{Op: guest.OpPatch, Data: map[string]any{"a": 2}, Exists: true}, nil, stamp},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			op := c.op
			op.Now = now
			v := handle(&op)
			if v.Reject || v.Data["updated_at"] != c.wantUp || v.Data["created_at"] != c.wantCreated {
				t.Fatalf("got %+v, want created_at %v updated_at %v", v, c.wantCreated, c.wantUp)
			}
		})
	}
	if v := handle(&guest.Op{Op: guest.OpDelete, Now: now}); v.Reject || v.Data != nil {
		t.Fatalf("delete changed: %+v", v)
	}
}

// BenchmarkGuest/timestamps/native pairs with the sandbox's BenchmarkGuest/timestamps/wasm.
func BenchmarkGuest(b *testing.B) { guesttest.Bench(b, "timestamps", handle, 100) }
