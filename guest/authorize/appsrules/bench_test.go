package appsrules

import (
	"encoding/json"
	"testing"
)

// BenchmarkDecideOwnerRole is a typical role: an owner document filter and
// a few field rules (a server-stamped field, a field only the owner may
// set, the rest writable), deciding a PATCH of two fields of a stored
// todo, as the authorize guest does per op.
func BenchmarkDecideOwnerRole(b *testing.B) {
	s := loadSet(b, map[string]string{"todos.json": `{"roles": [
		{"name": "admin", "apply_when": {"%%user.custom_data.isGlobalAdmin": true}, "write": true, "insert": true, "delete": true},
		{"name": "owner", "apply_when": {},
		 "document_filters": {"read": {"owner_id": "%%user.id"}, "write": {"owner_id": "%%user.id"}},
		 "insert": true, "delete": true,
		 "fields": {
		   "owner_id": {"write": {"%%this": "%%user.id"}},
		   "created_by": {"write": false},
		   "completed_by": {"write": {"%or": [{"%%this": "%%user.id"}, {"%%this": null}]}}
		 },
		 "additional_fields": {"write": true}}]}`})
	cur := map[string]any{"owner_id": "alice", "list_id": "l1", "description": "milk", "completed": json.Number("0"),
		"created_by": "alice", "created_at": "2026-12-06T10:00:00.000Z", "completed_by": nil}
	data := map[string]any{"completed": json.Number("1"), "completed_by": "alice"}
	in := Input{Op: "PATCH", Table: "todos", ID: "t1", Data: Map(data), Current: Map(cur), Exists: true,
		User: User{ID: "alice", Type: "normal", Data: map[string]any{"sub": "alice"}}}
	if d := s.Decide(in); !d.Allow {
		b.Fatalf("denied: %s", d.Reason)
	}
	b.ReportAllocs()
	for b.Loop() {
		if d := s.Decide(in); !d.Allow {
			b.Fatal(d.Reason)
		}
	}
}

// BenchmarkDecideParent decides a todo PATCH by its list's owner
// (x-syncgate-parents, %%parent.list.owner_id), checked on the stored todo
// and after the write, among 10 lists the host sent.
func BenchmarkDecideParent(b *testing.B) {
	s := loadSet(b, todoParentRules)
	var lists []map[string]any
	for i := range 10 {
		lists = append(lists, map[string]any{"_id": "L" + string(rune('0'+i)), "owner_id": "bob"})
	}
	lists[9]["owner_id"] = "alice"
	in := Input{Op: "PATCH", Table: "todos", ID: "t1", Exists: true,
		Data: Map{"completed": json.Number("1")}, Current: Map{"list_id": "L9", "description": "milk"},
		User: User{ID: "alice", Type: "normal"}, Parents: map[string][]map[string]any{"lists": lists}}
	if d := s.Decide(in); !d.Allow {
		b.Fatalf("denied: %s", d.Reason)
	}
	b.ReportAllocs()
	for b.Loop() {
		if d := s.Decide(in); !d.Allow {
			b.Fatal(d.Reason)
		}
	}
}
