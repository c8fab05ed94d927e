package main

import (
	"testing"

	"github.com/syncgate/syncgate/guest"
	"github.com/syncgate/syncgate/guest/guesttest"
)

func TestOwner(t *testing.T) {
	alice := guest.Caller{UserID: "alice"}
	cases := []struct {
		name   string
		op     guest.Op
		reject bool
		owner  string // want data[owner_id] after a Replace
	}{
		{"put stamps owner", guest.Op{Op: guest.OpPut, Data: map[string]any{"name": "x"}}, false, "alice"},
		{"put with own id", guest.Op{Op: guest.OpPut, Data: map[string]any{"owner_id": "alice"}}, false, "alice"},
		{"put claiming another owner", guest.Op{Op: guest.OpPut, Data: map[string]any{"owner_id": "bob"}}, true, ""},
		{"put over bob's doc", guest.Op{Op: guest.OpPut, Data: map[string]any{}, Exists: true, Current: map[string]any{"owner_id": "bob"}}, true, ""},
		{"patch own doc", guest.Op{Op: guest.OpPatch, Data: map[string]any{"name": "y"}, Exists: true, Current: map[string]any{"owner_id": "alice"}}, false, ""},
		{"patch bob's doc", guest.Op{Op: guest.OpPatch, Data: map[string]any{"name": "y"}, Exists: true, Current: map[string]any{"owner_id": "bob"}}, true, ""},
		{"patch giving away", guest.Op{Op: guest.OpPatch, Data: map[string]any{"owner_id": "bob"}, Exists: true, Current: map[string]any{"owner_id": "alice"}}, true, ""},
		{"delete bob's doc", guest.Op{Op: guest.OpDelete, Exists: true, Current: map[string]any{"owner_id": "bob"}}, true, ""},
		{"delete own doc", guest.Op{Op: guest.OpDelete, Exists: true, Current: map[string]any{"owner_id": "alice"}}, false, ""},
		{"delete missing doc", guest.Op{Op: guest.OpDelete}, false, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			op := c.op
			op.Caller, op.Table, op.ID = alice, "lists", "l1"
			v := handle(&op)
			if v.Reject != c.reject {
				t.Fatalf("%+v: reject=%v (%s), want %v", c.op, v.Reject, v.Reason, c.reject)
			}
			if c.owner != "" && v.Data["owner_id"] != c.owner {
				t.Fatalf("owner_id = %v, want %s", v.Data["owner_id"], c.owner)
			}
		})
	}
	op := guest.Op{Op: guest.OpPut, Data: map[string]any{}, Settings: map[string]string{"field": "created_by"}, Caller: alice}
	if v := handle(&op); v.Data["created_by"] != "alice" {
		t.Fatalf("field setting ignored: %v", v.Data)
	}
	if v := handle(&guest.Op{Op: guest.OpPut}); !v.Reject {
		t.Fatal("anonymous write accepted")
	}
}

// BenchmarkGuest/owner/native pairs with the sandbox's BenchmarkGuest/owner/wasm.
func BenchmarkGuest(b *testing.B) { guesttest.Bench(b, "owner", handle, 100) }
