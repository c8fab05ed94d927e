package syncscope

import (
	"os"
	"testing"
)

// BenchmarkCheckTodo: a todo PATCH checked against its list (looked up in
// memory), before and after, with the todo demo's streams and buckets.
func BenchmarkCheckTodo(b *testing.B) {
	for _, file := range []string{"testdata/todo-streams.yaml", "testdata/todo-buckets.yaml"} {
		src, err := os.ReadFile(file)
		if err != nil {
			b.Fatal(err)
		}
		c, err := Parse(file, src)
		if err != nil {
			b.Fatal(err)
		}
		list := []map[string]any{{"_id": "6650c0ffee0000000000000a", "owner_id": "alice", "name": "groceries"}}
		parents := func(string, string, any) []map[string]any { return list }
		before := map[string]any{"_id": "t1", "list_id": "6650c0ffee0000000000000a", "description": "milk", "completed": false}
		after := map[string]any{"_id": "t1", "list_id": "6650c0ffee0000000000000a", "description": "milk", "completed": true}
		in := Input{Op: "PATCH", Table: "todos", Before: before, After: after, User: User{ID: "alice"}, Parents: parents}
		b.Run(file[len("testdata/"):], func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if d := c.Check(in); !d.Allow {
					b.Fatal(d)
				}
			}
		})
	}
}
