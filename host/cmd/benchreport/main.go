// Command benchreport reads `go test -bench` output on stdin and writes a
// markdown report: every pair of benchmarks that differ only in their last
// name element (base/ours, peer/ours, node/ours, native/wasm) with the ratio
// measured in the same run, then the benchmarks that stand alone.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// about says what each pair or figure compares; names not listed print without a note.
var about = map[string]string{
	"CallOverhead":     "base: pool checkout + a no-op export call + return; ours: a whole ABI round trip of an empty JSON request through the echo guest (alloc, copy in, decode/encode in the guest, copy out)",
	"DeadlineCost":     "the schema gate over 100 rows without any deadline check (base: a looping guest could never be stopped) and with the checks syncgate adds to each guest (ours: a countdown per loop turn and at the entry of the functions that need one, a call into Go every 1024)",
	"DeadlineModes":    "the same, wazero's WithCloseOnContextDone (base: compiled code leaves for Go at every wasm loop header) vs syncgate's checks (ours, the default)",
	"LoopTurn":         "one turn of a bare wasm loop (decrement, branch): without deadline checks (base) vs with syncgate's (ours)",
	"LoopTurnWazero":   "the same loop turn under wazero's WithCloseOnContextDone, which calls into Go at every loop header",
	"Guest/normalize":  "100 ~300-byte rows through the same guest logic: native, guest.Process on the Request JSON (decode, logic, encode); wasm, one pipeline stage as syncgate runs it (the host encodes the rows form, the guest runs in the sandbox with deadlines enforced, the host decodes and applies the verdicts)",
	"Guest/owner":      "as above",
	"Guest/schemagate": "as above: the schema gate's code (fast path over the rows' members, jsonschema/v5 when it cannot decide); native from the rows' JSON bytes",
	"SchemaGate":       "issue #6's target, per batch of 100 todos rows: jsonschema/v5 natively on the same documents (base: encoding/json decode of the same request, Validate per row) vs the stock schema gate as syncgate runs it (ours: Guest/schemagate/wasm's whole pipeline stage: host encode, sandbox call with deadlines enforced, host decode)",
	"Guest/timestamps": "as above",
	"Startup":          "the schema gate compiled and a pool of 2 warmed: cold (base, empty compilation cache) vs warm cache (ours)",
	"Token/RS256":      "raw golang-jwt signing of the same claims (base) vs the whole /token handler with an API key (ours)",
	"Upload/batch=1":   "the raw driver's bulk write of the same rows in the same commands (base) vs POST /upload over HTTP with token verification (ours), embedded FerretDB",
	"Gateway/path=standalone/gate=none/batch=100":               "issue #17: mongostub as a fast database (documents kept in memory), 8 clients, batches of mixed PUT/PATCH/DELETE rows alternating lists and todos; base: the raw driver's ordered BulkWrite per collection per batch; node: PowerSync's Node demo backend's write path (Express, zod, one awaited mongodb-driver round trip per op), in its own process (tests/testdata/nodepeer; skipped without node and npm); peer: the stricter Go emulation of that backend (one Go-driver round trip per op, no HTTP or validation, in the benchmark's process); ours: POST /upload with a verified token. Every run starts from an empty stand-in. ops/s and p99-ms over the run; cpu-µs/op is the whole process's CPU (clients, server, stand-in) per op, which other load on the machine barely moves, db-cpu-µs/op the stand-in's share of it (it runs in a process of its own: the database's work), and MiB-peak-RSS the whole process's peak; for node both include the node process's. syncgate only: the wall time per op of the lookup, authorize and schemagate stages (those that took any) from syncgate_upload_stage_duration_seconds in /metrics, and lookup-%, the lookup stage's share of the time in all stages",
	"Gateway/path=standalone/gate=schemas/batch=100":            "as above, with the stock schema gate on lists and todos",
	"Gateway/path=standalone/gate=schemas/batch=100/clients=16": "issue #17's memory target: the schema gate and 16 clients at full speed, with syncgate in a process of its own: server-MiB-peak-RSS is that process's peak; MiB-peak-RSS and cpu-µs/op are the benchmark process's (clients and stand-in) only",
	"Gateway/path=replset/gate=none/batch=100":                  "as above on a replica set: base in one transaction per batch (WithTransaction), ours one transaction per batch",
	"Gateway/path=standalone/gate=rules/batch=100":              "issue #26: as gate=none with write authorization on: the stock authorize guest with tests/testdata/bench-rules (lists: an owner role with a document filter; todos: a creator role with two field rules), every op allowed (any rejection or op not applied fails the run). Checking a typical role must cost less per op than the schema gate on the same rows: compare cpu-µs/op over gate=none's with gate=schemas'",
	"Gateway/path=standalone/gate=rules+schemas/batch=100":      "issue #26: gate=rules (below) with the stock schema gate too, on the same rows (authorization runs first)",
	"Gateway/path=standalone/gate=scope/batch=100":              "issue #27: as gate=none with AUTHORIZE=sync-scope and the todo demo's Sync Streams (tests/testdata/bench-sync-streams.yaml: lists by owner, todos whose list is the writer's): the 8 lists the todos belong to are stored before the run and looked up, one query per batch; every op allowed. lookup-% is the lookup stage's share of the time in all stages",
	"RulesVsSchemaGate/rows=todos":                              "issue #26's target: checking a typical role must cost less per op than the schema gate on the same rows; base: the stock schema gate, ours: the stock authorize guest, each one pipeline stage in the sandbox over 100 PUTs of new todos (guest/authorize/testdata/bench: a role that does not apply, a document filter, three field rules); ratio < 1 meets it",
	"RulesVsSchemaGate/rows=mix":                                "as above over the gateway benchmark's op mix (PUTs, PATCHes and DELETEs of lists and todos with their stored documents) with the gateway's rules and schemas",
	"Guest/authorize":                                           "the stock authorize guest, native (guest.Process) and as one pipeline stage in the sandbox, over the same 100 todos rows as Guest/schemagate, with guest/authorize/testdata/bench's rules (a role that does not apply, then a document filter and three field rules; every field of each new row judged)",
	"Guest/lww":                                                 "as above: a conflict policy over 100 PATCHes with stored documents and old values (guesttest.PolicyRequest)",
	"Guest/version":                                             "as above",
	"Guest/transitions":                                         "as above",
	"Guest/increments":                                          "as above",
	"Policies/base":                                             "issue #19: POST /upload of 100 PATCHes of stored documents on the embedded database with no guest; Policies/<policy>: the same batch through that conflict policy (µs/op-in-batch; docs/conflicts.md)",
	"Attachments/db=ferretdb/size=1MiB/op=upload":               "issue #28, embedded FerretDB, one client: base: the raw driver's GridFS bucket (UploadFromStream of a new file); ours: PUT /attachments/{id} over HTTP with a token (a new id per upload: sniffing, limit, hashing, GridFS write from a 1 MiB buffer, the version check); MB/s of file bytes. FerretDB v1 scans the whole chunks table for each chunk query (docs/design.md), so its downloads depend on the bucket's size and vary from run to run",
	"Attachments/db=ferretdb/size=1MiB/op=download":             "as above: base: the bucket's DownloadToStream; ours: GET /attachments/{id} over HTTP with a token",
	"Attachments/db=ferretdb/size=20MiB/op=upload":              "as above, 20 MiB files",
	"Attachments/db=ferretdb/size=20MiB/op=download":            "as above, 20 MiB files",
	"Attachments/db=stub/size=1MiB/op=upload":                   "as above on mongostub (documents in memory): syncgate's own cost",
	"Attachments/db=stub/size=1MiB/op=download":                 "as above on mongostub",
	"Attachments/db=stub/size=20MiB/op=upload":                  "as above on mongostub, 20 MiB files",
	"Attachments/db=stub/size=20MiB/op=download":                "as above on mongostub, 20 MiB files",
	"AttachmentsPaired/db=ferretdb/size=1MiB/op=upload":         "issue #28's ratio: the Attachments pairs with base and ours interleaved operation by operation in one loop, so both meet the same load; base-MB/s, ours-MB/s and ours/base (their ratio); ns/op is one of each",
	"AttachmentsRSS":                                            "issue #28's memory target: 8 clients PUT 20 MiB files at once to syncgate in a process of its own (the embedded database in the benchmark's): server-MiB-peak-RSS is that process's peak, bounded by two 1 MiB buffers per upload",
	"AttachmentsDownloadRSS/db=ferretdb":                        "the same for downloads: 8 clients GET a 20 MiB file each at once; the peak is bounded by what a download holds ahead of its client (up to two 4 MiB cursor replies); db=stub: on mongostub, a database faster than the clients",
	"LoadRSS":                                                   "16 simulated clients for 10 s through the schema gate: peak RSS of the whole test process (server, embedded FerretDB, clients)",
}

// pairs maps a baseline's last name element to its partner's.
var pairs = map[string]string{"base": "ours", "native": "wasm", "peer": "ours", "node": "ours"}

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
		if (strings.HasPrefix(t, "cpu:") || strings.HasPrefix(t, "goos:") || strings.HasPrefix(t, "goarch:")) && !slices.Contains(ctx, t) {
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

// sideBySide pairs the custom metrics the two benchmarks both report
// (ops/s, p99-ms), except the allocation figures, then names those only
// the partner reports (the stage times of the gateway's runs).
func sideBySide(b, o result) string {
	var out, only []string
	for _, f := range o.extra {
		oval, ounit, _ := strings.Cut(f, " ")
		if ounit == "B/op" || ounit == "allocs/op" || ounit == "MB/s" {
			continue
		}
		shared := false
		for _, e := range b.extra {
			if val, unit, _ := strings.Cut(e, " "); unit == ounit {
				out = append(out, fmt.Sprintf("%s %s / %s", unit, val, oval))
				shared = true
			}
		}
		if !shared {
			only = append(only, ounit+" "+oval)
		}
	}
	if len(only) > 0 {
		out = append(out, "syncgate only: "+strings.Join(only, ", "))
	}
	return strings.Join(out, ", ")
}

func human(ns float64) string {
	if ns < 100 { // time.Duration has no fractions of a nanosecond
		return strconv.FormatFloat(ns, 'f', 1, 64) + "ns"
	}
	return time.Duration(ns).Round(time.Duration(max(1, ns/1000))).String()
}

func main() {
	section := flag.String("section", "", "write a section (## TITLE) for a partial run, to add to docs/measurements.md, instead of the whole of docs/benchmarks.md")
	flag.Parse()
	report(os.Stdin, os.Stdout, time.Now(), *section)
}

// report writes the markdown report of the benchmark output in to out,
// dated now: the whole of docs/benchmarks.md, or with section a section
// titled so, for a run of some benchmarks only, to add to
// docs/measurements.md (which task bench leaves alone).
func report(in io.Reader, out io.Writer, now time.Time, section string) {
	results, ctx := parse(in)
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
		rows = append(rows, fmt.Sprintf("| %s | %s: %s | %s: %s | %.2f× | %.0f%% | %s | %s |", n[:i], n[i+1:], human(b.nsPerOp), partner, human(o.nsPerOp),
			o.nsPerOp/b.nsPerOp, 100*b.nsPerOp/o.nsPerOp, sideBySide(b, o), about[n[:i]]))
	}
	title, sub := "# Benchmarks", "##"
	if section != "" {
		title, sub = "## "+section, "###"
	}
	fmt.Fprintf(out, "%s\n\nMeasured %s on %d CPUs (%s); every ratio compares two benchmarks of the same run.\n",
		title, now.UTC().Format("2006-01-02"), runtime.NumCPU(), strings.Join(ctx, ", "))
	if section == "" {
		fmt.Fprintln(out, "Reproduce: `go tool task bench` (writes this file). Runs made by hand for a change (alternated before/after binaries, partial runs, variants not kept) are in [measurements.md](measurements.md).")
	}
	fmt.Fprintf(out, "\n%s Pairs\n\n| benchmark | baseline | syncgate | time ratio | throughput vs baseline | other metrics (baseline / syncgate) | what |\n|---|---|---|---|---|---|---|\n", sub)
	for _, r := range rows {
		fmt.Fprintln(out, r)
	}
	if section != "" && len(used) == len(names) {
		return
	}
	fmt.Fprintf(out, "\n%s Single figures\n\n| benchmark | time/op | other | what |\n|---|---|---|---|\n", sub)
	for _, n := range names {
		if used[n] {
			continue
		}
		r := byName[n]
		fmt.Fprintf(out, "| %s | %s | %s | %s |\n", n, human(r.nsPerOp), strings.Join(r.extra, ", "), about[n])
	}
}
