// Package guesttest holds native helpers for testing and benchmarking
// guests: the requests the host would send, built without the host.
package guesttest

import (
	"bytes"
	_ "embed"
	"fmt"
	"strings"
	"testing"

	"github.com/syncgate/syncgate/guest"
)

// Bench runs name/native: TodoRequest(n) through h natively, the half of a
// pair whose other half (name/wasm) runs the same bytes in the sandbox.
// opts are h's registration options (guest.RawData).
func Bench(b *testing.B, name string, h guest.HandlerFunc, n int, opts ...guest.Option) {
	opts = append([]guest.Option{guest.Handler(h)}, opts...)
	bench(b, name+"/native", func(req []byte) []byte { return guest.Process(req, opts...) }, TodoRequest(n), n)
}

// BenchRows runs name/rows: TodoRows through h natively, the request the
// sandbox's name/wasm reads (the rows form), so a profile shows what the
// guest spends inside wasm rather than decoding JSON.
func BenchRows(b *testing.B, name string, h guest.HandlerFunc, opts ...guest.Option) {
	opts = append([]guest.Option{guest.Handler(h)}, opts...)
	bench(b, name+"/rows", func(req []byte) []byte { return guest.Process(req, opts...) }, TodoRows(), TodoRowsOps)
}

func bench(b *testing.B, name string, process func([]byte) []byte, req []byte, n int) {
	b.Run(name, func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if out := process(req); bytes.Contains(out, []byte(`"reject":true`)) || bytes.Contains(out, []byte(`"error"`)) {
				b.Fatalf("the benchmark request was not accepted: %s", out)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/op-in-batch")
	})
}

// TodoRequest is the Request JSON the host sends for a batch of n PUTs of
// ~300-byte rows of the demo's todos table, as caller alice. Benchmarks of
// a guest natively and in the sandbox use the same bytes.
func TodoRequest(n int) []byte {
	var b strings.Builder
	b.WriteString(`{"abi":1,"request_id":"bench","now":"2023-11-14T22:13:20Z","caller":{"user_id":"alice"},"ops":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"index":%d,"op":"PUT","table":"todos","id":"7c1e9f0a-3d2b-4a8e-b6f1-%012d","data":{`+
			`"created_at":"2024-05-01 10:00:00","description":"Buy oat milk, bread and coffee for the week ahead, item number %06d",`+
			`"completed":%d,"completed_at":null,"created_by":"3f9a8c1e-2b7d-4e6f-9a1c-5d8e7f6a4b3c","completed_by":null,`+
			`"list_id":"0b6f3a52-5a3c-4c59-9ac6-2f2b7f7c1b10"}}`, i, i, i, i%2)
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}

// todoRows is TodoRequest(TodoRowsOps) in the rows form, as the host
// encodes it; host/pipeline's TestTodoRowsFile checks it is (and rewrites
// it with -update).
//
//go:embed testdata/todos-rows.bin
var todoRows []byte

// TodoRowsOps is the number of ops in TodoRows.
const TodoRowsOps = 100

// TodoRows is the rows-form Request (guest package comment, "Input forms")
// the host sends for TodoRequest(TodoRowsOps): what a guest reads in the
// sandbox.
func TodoRows() []byte { return bytes.Clone(todoRows) }

// PolicyRequest is the Request JSON for a batch of n PATCHes as a PowerSync
// client with previous values tracked sends them, of stored documents every
// conflict policy (guest/policies) accepts with settings: a newer
// updated_at, the next version, status pending → processing, a counter
// 10 → 11.
func PolicyRequest(n int, settings map[string]string) []byte {
	var b strings.Builder
	b.WriteString(`{"abi":1,"request_id":"bench","now":"2023-11-14T22:13:20Z","caller":{"user_id":"alice"},"settings":{`)
	first := true
	for k, v := range settings {
		if !first {
			b.WriteByte(',')
		}
		first = false
		fmt.Fprintf(&b, "%q:%q", k, v)
	}
	b.WriteString(`},"ops":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"index":%d,"op":"PATCH","table":"items","id":"item-%06d","op_id":%d,"tx_id":1,`+
			`"data":{"note":"edited %d","updated_at":"2026-11-28T10:00:01Z","version":3,"status":"processing","stock":11},"old":{"stock":10},`+
			`"exists":true,"current":{"note":"first","updated_at":"2026-11-28T10:00:00Z","version":2,"status":"pending","stock":10}}`, i, i, i, i)
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}

// PolicySettings are the settings PolicyRequest's batch needs, by guest.
var PolicySettings = map[string]map[string]string{
	"lww":         nil,
	"version":     nil,
	"transitions": {"items.status": "pending>processing>shipped"},
	"increments":  {"items.fields": "stock"},
}

// BenchPolicy is Bench over PolicyRequest(n) with the guest's settings.
func BenchPolicy(b *testing.B, name string, h guest.HandlerFunc, n int) {
	req := PolicyRequest(n, PolicySettings[name])
	opts := []guest.Option{guest.Handler(h)}
	b.Run(name+"/native", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if out := guest.Process(req, opts...); bytes.Contains(out, []byte(`"reject":true`)) || bytes.Contains(out, []byte(`"error"`)) {
				b.Fatalf("the benchmark request was not accepted: %s", out)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/op-in-batch")
	})
}

// MixUser is MixRequest's caller: every list's owner and every todo's
// creator, so that the gateway benchmark's rules (tests/testdata/bench-rules)
// allow every op.
const MixUser = "3f9a8c1e-2b7d-4e6f-9a1c-5d8e7f6a4b3c"

// MixRequest is the Request JSON the host sends for a batch of n ops as
// tests/ BenchmarkGateway's clients make them once they have history: lists
// and todos in turn, 40 % PUTs of new rows, 40 % PATCHes of stored rows
// (one field), 20 % DELETEs of stored rows, every stored document sent
// (what a guest that needs them gets), as caller MixUser.
func MixRequest(n int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, `{"abi":1,"request_id":"bench","now":"2023-11-14T22:13:20Z","caller":{"user_id":%q},"ops":[`, MixUser)
	row := func(table string, i int) string {
		if table == "lists" {
			return fmt.Sprintf(`{"created_at":"2024-05-01 10:00:00","name":"Groceries for the week ahead, list number %06d","owner_id":%q}`, i, MixUser)
		}
		return fmt.Sprintf(`{"created_at":"2024-05-01 10:00:00","description":"Buy oat milk, bread and coffee for the week ahead, item number %06d",`+
			`"completed":%d,"completed_at":null,"created_by":%q,"completed_by":null,"list_id":"0b6f3a52-5a3c-4c59-9ac6-2f2b7f7c1b%02d"}`, i, i%2, MixUser, i%8)
	}
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		table := [2]string{"lists", "todos"}[i%2]
		id := fmt.Sprintf("7c1e9f0a-3d2b-4a8e-b6f1-%012d", i)
		switch i % 5 {
		case 0, 1: // PUT of a new row
			fmt.Fprintf(&b, `{"index":%d,"op":"PUT","table":%q,"id":%q,"data":%s}`, i, table, id, row(table, i))
		case 2, 3: // PATCH of one field of a stored row
			field := map[string]string{"lists": "name", "todos": "description"}[table]
			fmt.Fprintf(&b, `{"index":%d,"op":"PATCH","table":%q,"id":%q,"data":{%q:"Renamed in batch 7, op %d of the client"},"exists":true,"current":%s}`,
				i, table, id, field, i, row(table, i))
		default: // DELETE of a stored row
			fmt.Fprintf(&b, `{"index":%d,"op":"DELETE","table":%q,"id":%q,"exists":true,"current":%s}`, i, table, id, row(table, i))
		}
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}
