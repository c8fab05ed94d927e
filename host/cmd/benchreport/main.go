// Command benchreport reads `go test -bench` output on stdin and writes a
// markdown report: every pair of benchmarks that differ only in their last
// name element (base/ours, native/wasm) with the ratio measured in the same
// run, then the benchmarks that stand alone.
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"
)

// pairs maps a baseline's last name element to its partner's.
var pairs = map[string]string{"base": "ours", "native": "wasm"}

type result struct {
	name    string
	nsPerOp float64
	extra   []string // other metrics, e.g. "125.8 rows/s"
}

var line = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+([\d.]+) ns/op(.*)$`)

func parse(r io.Reader) ([]result, []string) {
	var out []result
	var ctx []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		t := sc.Text()
		if strings.HasPrefix(t, "cpu:") || strings.HasPrefix(t, "goos:") || strings.HasPrefix(t, "goarch:") {
			ctx = append(ctx, t)
		}
		m := line.FindStringSubmatch(t)
		if m == nil {
			continue
		}
		ns, _ := strconv.ParseFloat(m[2], 64)
		var extra []string
		fields := strings.Fields(m[3])
		for i := 0; i+1 < len(fields); i += 2 {
			extra = append(extra, fields[i]+" "+fields[i+1])
		}
		out = append(out, result{name: strings.TrimPrefix(m[1], "Benchmark"), nsPerOp: ns, extra: extra})
	}
	return out, ctx
}

func human(ns float64) string {
	return time.Duration(ns).Round(time.Duration(max(1, ns/1000))).String()
}

func main() {
	results, ctx := parse(os.Stdin)
	byName := map[string]result{}
	for _, r := range results {
		byName[r.name] = r // the last run of a name wins
	}
	used := map[string]bool{}
	var rows []string
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		i := strings.LastIndex(n, "/")
		if i < 0 {
			continue
		}
		partner, ok := pairs[n[i+1:]]
		if !ok {
			continue
		}
		o, ok := byName[n[:i+1]+partner]
		if !ok {
			continue
		}
		b := byName[n]
		used[n], used[o.name] = true, true
		rows = append(rows, fmt.Sprintf("| %s | %s: %s | %s: %s | %.2f× | %.0f%% |", n[:i], n[i+1:], human(b.nsPerOp), partner, human(o.nsPerOp),
			o.nsPerOp/b.nsPerOp, 100*b.nsPerOp/o.nsPerOp))
	}
	fmt.Printf("# Benchmarks\n\nMeasured %s on %d CPUs (%s); every ratio compares two benchmarks of the same run.\n",
		time.Now().UTC().Format("2006-01-02"), runtime.NumCPU(), strings.Join(ctx, ", "))
	fmt.Println("Reproduce: `go tool task bench` (writes this file).")
	fmt.Println("\n## Pairs\n\n| benchmark | baseline | syncgate | time ratio | throughput vs baseline |\n|---|---|---|---|---|")
	for _, r := range rows {
		fmt.Println(r)
	}
	fmt.Println("\n## Single figures\n\n| benchmark | time/op | other |\n|---|---|---|")
	for _, n := range names {
		if used[n] {
			continue
		}
		r := byName[n]
		fmt.Printf("| %s | %s | %s |\n", n, human(r.nsPerOp), strings.Join(r.extra, ", "))
	}
}
