package main

import (
	"strings"
	"testing"
	"time"
)

// TestReportPairs: base, peer and node each pair with ours (node and peer
// as the Node demo backend and its Go emulation), with their shared
// metrics side by side and then those only ours reports (allocations
// left out); a skipped /node run leaves no row.
func TestReportPairs(t *testing.T) {
	in := `goos: linux
BenchmarkGateway/path=standalone/gate=none/batch=100/base-2   1114   2000000 ns/op   91.00 MiB-peak-RSS   21.09 cpu-µs/op   50000 ops/s   45.93 p99-ms
BenchmarkGateway/path=standalone/gate=none/batch=100/peer-2    481   6000000 ns/op  110.0 MiB-peak-RSS   79.47 cpu-µs/op   16000 ops/s   127.8 p99-ms
BenchmarkGateway/path=standalone/gate=none/batch=100/node-2     75  30000000 ns/op  271.0 MiB-peak-RSS   356.1 cpu-µs/op    3000 ops/s   335.0 p99-ms
BenchmarkGateway/path=standalone/gate=none/batch=100/ours-2    787   3000000 ns/op  169.0 MiB-peak-RSS   29.40 cpu-µs/op   30000 ops/s   65.26 p99-ms
BenchmarkGateway/path=standalone/gate=none/batch=10/base-2    1000    200000 ns/op   50000 ops/s
BenchmarkGateway/path=standalone/gate=none/batch=10/ours-2    1000    300000 ns/op   30000 ops/s
BenchmarkGateway/path=standalone/gate=scope/batch=100/base-2   1114   2000000 ns/op   21.09 cpu-µs/op   50000 ops/s   567138 B/op
BenchmarkGateway/path=standalone/gate=scope/batch=100/ours-2    787   4000000 ns/op   40.10 cpu-µs/op   25000 ops/s   3.2 lookup-µs/op   9.5 authorize-µs/op   12.5 lookup-%   839895 B/op
BenchmarkDecode-2   1000   359359 ns/op   99.64 MB/s
`
	var out strings.Builder
	report(strings.NewReader(in), &out, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), "")
	got := out.String()
	for _, want := range []string{
		"Measured 2026-12-01 on",
		"[measurements.md](measurements.md)",
		"| Gateway/path=standalone/gate=none/batch=100 | base: 2ms | ours: 3ms | 1.50× | 67% |",
		"| Gateway/path=standalone/gate=none/batch=100 | peer: 6ms | ours: 3ms | 0.50× | 200% |",
		"| Gateway/path=standalone/gate=none/batch=100 | node: 30ms | ours: 3ms | 0.10× | 1000% | MiB-peak-RSS 271.0 / 169.0, cpu-µs/op 356.1 / 29.40, ops/s 3000 / 30000, p99-ms 335.0 / 65.26 |",
		"node: PowerSync's Node demo backend's write path (Express, zod, one awaited mongodb-driver round trip per op), in its own process",
		"peer: the stricter Go emulation",
		"| Gateway/path=standalone/gate=none/batch=10 | base: 200µs | ours: 300µs |",
		"| Decode | 359.359µs | 99.64 MB/s |",
		// What only syncgate's run reports follows the shared metrics.
		"| Gateway/path=standalone/gate=scope/batch=100 | base: 2ms | ours: 4ms | 2.00× | 50% | cpu-µs/op 21.09 / 40.10, ops/s 50000 / 25000, syncgate only: lookup-µs/op 3.2, authorize-µs/op 9.5, lookup-% 12.5 | issue #27",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "batch=10 | node") || strings.Contains(got, "| Gateway/path=standalone/gate=none/batch=100/") {
		t.Errorf("a pair member printed alone or a missing node run paired:\n%s", got)
	}
}

// TestReportSection: -section makes a section of docs/measurements.md from a
// partial run: its title, the tables a level down, no single figures
// table when every benchmark paired, and not the whole file's heading.
func TestReportSection(t *testing.T) {
	in := `BenchmarkGateway/path=standalone/gate=rules/batch=100/base-2   1000   2000000 ns/op   21.09 cpu-µs/op
BenchmarkGateway/path=standalone/gate=rules/batch=100/ours-2   1000   3000000 ns/op   30.00 cpu-µs/op
`
	var out strings.Builder
	report(strings.NewReader(in), &out, time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC), "Write authorization")
	got := out.String()
	for _, want := range []string{
		"## Write authorization\n\nMeasured 2026-12-06 on",
		"### Pairs",
		"| Gateway/path=standalone/gate=rules/batch=100 | base: 2ms | ours: 3ms | 1.50× | 67% | cpu-µs/op 21.09 / 30.00 |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("section lacks %q:\n%s", want, got)
		}
	}
	for _, not := range []string{"# Benchmarks", "Single figures", "go tool task bench"} {
		if strings.Contains(got, not) {
			t.Errorf("section has %q:\n%s", not, got)
		}
	}
}
