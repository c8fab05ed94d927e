package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/syncgate/syncgate/guest"
	"github.com/syncgate/syncgate/guest/guesttest"
)

func TestVersion(t *testing.T) {
	stored := map[string]any{"title": "a", "version": json.Number("3")}
	cases := []struct {
		name    string
		op      guest.Op
		reject  string
		code    string
		version string // the version written
	}{
		{"based on stored (data)", guest.Op{Op: guest.OpPatch, Data: map[string]any{"title": "b", "version": json.Number("4")}, Exists: true, Current: stored}, "", "", "4"},
		{"based on stored (old)", guest.Op{Op: guest.OpPatch, Data: map[string]any{"title": "b", "version": json.Number("9")}, Old: map[string]any{"version": json.Number("3")}, Exists: true, Current: stored}, "", "", "4"},
		{"stale", guest.Op{Op: guest.OpPatch, Data: map[string]any{"title": "b", "version": json.Number("3")}, Exists: true, Current: stored}, "based on version 2, the stored document is at 3", "conflict", ""},
		{"stale (old)", guest.Op{Op: guest.OpPut, Data: map[string]any{"title": "b", "version": json.Number("4")}, Old: map[string]any{"version": json.Number("1")}, Exists: true, Current: stored}, "based on version 1", "conflict", ""},
		{"resend of an applied write", guest.Op{Op: guest.OpPatch, Data: map[string]any{"title": "a", "version": json.Number("3")}, Exists: true, Current: stored}, "", "", "3"},
		{"no version", guest.Op{Op: guest.OpPatch, Data: map[string]any{"title": "b"}, Exists: true, Current: stored}, "carries no version", "rejected", ""},
		{"new document", guest.Op{Op: guest.OpPut, Data: map[string]any{"title": "b"}}, "", "", "1"},
		{"new document with a version", guest.Op{Op: guest.OpPut, Data: map[string]any{"version": json.Number("7")}}, "", "", "7"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			op := c.op
			v := handle(&op)
			if c.reject != "" {
				if !v.Reject || v.Code != c.code || !strings.Contains(v.Reason, c.reject) {
					t.Fatalf("got %+v, want a %s rejection with %q", v, c.code, c.reject)
				}
				return
			}
			if v.Reject || v.Data["version"] != json.Number(c.version) {
				t.Fatalf("got %+v, want version %s", v, c.version)
			}
			if _, ok := v.Expect["version"]; !ok {
				t.Fatalf("write not conditional: %+v", v)
			}
		})
	}
}

// BenchmarkGuest/version/native pairs with the sandbox's BenchmarkGuest/version/wasm.
func BenchmarkGuest(b *testing.B) { guesttest.BenchPolicy(b, "version", handle, 100) }
