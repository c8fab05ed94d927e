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
		{"patch of an unowned doc", guest.Op{Op: guest.OpPatch, Data: map[string]any{"name": "y"}, Exists: true, Current: map[string]any{"name": "x"}}, true, ""},
		{"patch of a doc with an empty owner", guest.Op{Op: guest.OpPatch, Data: map[string]any{"owner_id": "alice"}, Exists: true, Current: map[string]any{"owner_id": ""}}, true, ""},
		{"put over an unowned doc", guest.Op{Op: guest.OpPut, Data: map[string]any{}, Exists: true, Current: map[string]any{}}, true, ""},
		{"delete of an unowned doc", guest.Op{Op: guest.OpDelete, Exists: true, Current: map[string]any{}}, true, ""},
		{"patch of an unowned doc, claim_unowned", guest.Op{Op: guest.OpPatch, Data: map[string]any{"name": "y"}, Exists: true, Current: map[string]any{}, Settings: map[string]string{"claim_unowned": "true"}}, false, ""},
		{"claim_unowned for another table", guest.Op{Op: guest.OpPatch, Data: map[string]any{"name": "y"}, Exists: true, Current: map[string]any{}, Settings: map[string]string{"todos.claim_unowned": "true"}}, true, ""},
		{"claim_unowned for this table", guest.Op{Op: guest.OpPatch, Data: map[string]any{"name": "y"}, Exists: true, Current: map[string]any{}, Settings: map[string]string{"lists.claim_unowned": "true", "claim_unowned": "false"}}, false, ""},
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
	// The per-table form wins over the plain key.
	op = guest.Op{Op: guest.OpPut, Table: "todos", Data: map[string]any{}, Settings: map[string]string{"field": "owner_id", "todos.field": "created_by"}, Caller: alice}
	if v := handle(&op); v.Data["created_by"] != "alice" || v.Data["owner_id"] != nil {
		t.Fatalf("todos.field ignored: %v", v.Data)
	}
	if v := handle(&guest.Op{Op: guest.OpPut}); !v.Reject {
		t.Fatal("anonymous write accepted")
	}
}

func TestCheckSettings(t *testing.T) {
	if err := checkSettings(map[string]string{"claim_unowned": "true", "lists.claim_unowned": "false", "field": "x"}); err != nil {
		t.Fatal(err)
	}
	if err := checkSettings(map[string]string{"todos.claim_unowned": "yes"}); err == nil {
		t.Fatal("claim_unowned:yes accepted")
	}
}

// BenchmarkGuest/owner/native pairs with the sandbox's BenchmarkGuest/owner/wasm.
func BenchmarkGuest(b *testing.B) { guesttest.Bench(b, "owner", handle, 100) }
