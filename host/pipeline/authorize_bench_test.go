package pipeline

import (
	"path/filepath"
	"testing"

	"github.com/syncgate/syncgate/guest/guesttest"
	"github.com/syncgate/syncgate/host/sandbox"
)

// BenchmarkRulesVsSchemaGate is issue #26's target as a pair: checking a
// typical role must cost less per op than the schema gate on the same rows.
// base is the stock schema gate, ours the stock authorize guest, each one
// pipeline stage as syncgate runs it (host encode, sandbox call with
// deadlines enforced, host decode), per op in batches of 100:
//   - rows=todos: guesttest.TodoRequest's PUTs of new todos, with
//     guest/authorize/testdata/bench's rules (a role that does not apply,
//     then a document filter and three field rules);
//   - rows=mix: the gateway benchmark's mix (guesttest.MixRequest: PUTs,
//     PATCHes and DELETEs of lists and todos with their stored documents),
//     with the gateway's rules and schemas (tests/testdata/bench-rules,
//     tests/testdata/schemas). Both guests get every stored document.
func BenchmarkRulesVsSchemaGate(b *testing.B) {
	schemas, _ := filepath.Abs("../../tests/testdata/schemas")
	gate := []sandbox.Mount{{HostDir: schemas, GuestPath: "/schemas"}}
	for _, c := range []struct {
		rows, rules string
		req         []byte
	}{
		{"todos", "../../guest/authorize/testdata/bench", guesttest.TodoRequest(100)},
		{"mix", "../../tests/testdata/bench-rules", guesttest.MixRequest(100)},
	} {
		rules, _ := filepath.Abs(c.rules)
		b.Run("rows="+c.rows+"/base", func(b *testing.B) { benchRun(b, "schemagate", nil, gate, c.req) })
		b.Run("rows="+c.rows+"/ours", func(b *testing.B) {
			benchRun(b, "authorize", nil, []sandbox.Mount{{HostDir: rules, GuestPath: "/rules"}}, c.req)
		})
	}
}
