package upload

import (
	"fmt"
	"strings"
	"testing"
)

// todoBody is an upload of n ~300-byte todo rows.
func todoBody(n int) []byte {
	var b strings.Builder
	b.WriteString(`{"batch":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"op":"PUT","table":"todos","id":"7c1e9f0a-3d2b-4a8e-b6f1-%012d","data":{"created_at":"2024-05-01 10:00:00",`+
			`"description":"Buy oat milk, bread and coffee for the week ahead, item number %06d","completed":%d,"completed_at":null,`+
			`"created_by":"3f9a8c1e-2b7d-4e6f-9a1c-5d8e7f6a4b3c","completed_by":null,"list_id":"0b6f3a52-5a3c-4c59-9ac6-2f2b7f7c1b10"}}`, i, i, i%2)
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}

// BenchmarkDecode reports the strict decoder's cost and allocations per op.
func BenchmarkDecode(b *testing.B) {
	body := todoBody(100)
	lim := Limits{MaxOps: 1000, MaxDepth: 64, MaxIDBytes: 1024}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := Decode(body, lim); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*100), "ns/op-in-batch")
}
