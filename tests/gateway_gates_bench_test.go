package tests

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// BenchmarkGateway's gates (issues #26 and #27) and what their runs report
// beyond the others: the write path's stage times from /metrics.

// gwGates are BenchmarkGateway's gates: none runs no guest (UPLOAD_TABLES
// lists the tables); schemas the stock schema gate; rules the stock
// authorize guest with testdata/bench-rules (lists: the owner role; todos:
// the creator role with two field rules); rules+schemas both; scope the
// authorize guest with AUTHORIZE=sync-scope and the todo demo's Sync
// Streams, testdata/bench-sync-streams.yaml (lists by owner, todos by their
// list's owner: the lists a batch's todos name are looked up, one query
// per batch).
var gwGates = []string{"none", "schemas", "rules", "rules+schemas", "scope"}

// gwEnv is the server's configuration for gate on the stand-in at uri.
func gwEnv(b *testing.B, uri, gate, schemas string) map[string]string {
	env := map[string]string{
		"ADDR":           "127.0.0.1:0",
		"MONGO_URI":      uri,
		"MONGO_DATABASE": "gw_ours",
		"SYNCGATE_DIR":   stateDir,
		"LOG_FORMAT":     "json",
		"SCHEMAS_DIR":    b.TempDir(),
		"UPLOAD_TABLES":  "lists,todos",
		"GUESTS_DIR":     guestsDir,
		"TOKEN_AUTH":     "dev",
		"RULES_DIR":      b.TempDir(), // no rules unless the gate has them
	}
	if strings.Contains(gate, "schemas") {
		env["SCHEMAS_DIR"] = schemas
		delete(env, "UPLOAD_TABLES")
	}
	if strings.HasPrefix(gate, "rules") {
		env["RULES_DIR"] = filepath.Join("testdata", "bench-rules")
	}
	if gate == "scope" {
		env["AUTHORIZE"] = "sync-scope"
		env["SYNC_CONFIG"] = filepath.Join("testdata", "bench-sync-streams.yaml")
	}
	return env
}

// gwGateWanted reports whether -test.bench can select a run of gate on
// path, so that BenchmarkGateway starts no server for a gate none of whose
// runs will run. Like go test, it splits the pattern at slashes outside
// brackets and parentheses and matches each part, unanchored, against the
// name's part at the same level. Unanchored, gate=schemas also selects
// gate=rules+schemas: write gate=schemas$ for the one alone.
func gwGateWanted(path, gate string) bool {
	f := flag.Lookup("test.bench")
	if f == nil {
		return true
	}
	names := []string{"BenchmarkGateway", "path=" + path, "gate=" + gate}
	for i, part := range splitBenchPattern(f.Value.String()) {
		if i >= len(names) {
			break
		}
		re, err := regexp.Compile(part)
		if err != nil {
			return true // go test reports the bad pattern itself
		}
		if !re.MatchString(names[i]) {
			return false
		}
	}
	return true
}

// splitBenchPattern splits a -test.bench pattern at the slashes outside
// brackets and parentheses.
func splitBenchPattern(p string) []string {
	var parts []string
	depth, from := 0, 0
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '\\':
			i++
		case '[', '(':
			depth++
		case ']', ')':
			depth--
		case '/':
			if depth == 0 {
				parts = append(parts, p[from:i])
				from = i + 1
			}
		}
	}
	return append(parts, p[from:])
}

// storeParentLists stores gwParentLists in db's lists, gwUser's, as the
// todos' parents gate=scope looks up.
func storeParentLists(b *testing.B, db *mongo.Database) {
	docs := make([]any, len(gwParentLists))
	for i, id := range gwParentLists {
		docs[i] = bson.D{{Key: "_id", Value: id}, {Key: "created_at", Value: "2024-05-01 10:00:00"},
			{Key: "name", Value: fmt.Sprintf("Parent list %d of the benchmark's todos", i)}, {Key: "owner_id", Value: gwUser}}
	}
	if _, err := db.Collection("lists").InsertMany(context.Background(), docs); err != nil {
		b.Fatal(err)
	}
}

// requireForbidden checks that gate's authorization is on before its runs
// count allowed ops: a todo created as another user in a list nobody
// stored must come back forbidden (the rules: created_by is not the
// writer; the sync scope: the list is not the writer's).
func requireForbidden(b *testing.B, hc *http.Client, url, token string) {
	op := gwOp{"PUT", "todos", "7c1e9f0a-3d2b-4a8e-ffff-000000000001", bson.D{{Key: "description", Value: "Not mine"},
		{Key: "created_by", Value: "someone-else"}, {Key: "list_id", Value: "ffffffff-5a3c-4c59-9ac6-2f2b7f7c1b10"}}}
	err := postBatch(hc, url, token, []gwOp{op})
	if err == nil || !strings.Contains(err.Error(), `"code":"forbidden"`) {
		b.Fatalf("an op the gate must refuse: %v, want a forbidden rejection", err)
	}
}

// stageTimes are the seconds the server's batches spent in each stage of
// the write path so far: syncgate_upload_stage_duration_seconds_sum by
// stage, read from /metrics.
type stageTimes map[string]float64

// stageMetric starts the lines of the stage histogram's sums.
const stageMetric = `syncgate_upload_stage_duration_seconds_sum{stage="`

func readStageTimes(b *testing.B, url string) stageTimes {
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	st := stageTimes{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), stageMetric)
		if !ok {
			continue
		}
		name, val, ok := strings.Cut(rest, `"} `)
		v, err := strconv.ParseFloat(val, 64)
		if !ok || err != nil {
			b.Fatalf("/metrics: unreadable line %q", sc.Text())
		}
		st[name] = v
	}
	if err := sc.Err(); err != nil {
		b.Fatal(err)
	}
	if len(st) == 0 {
		b.Fatalf("/metrics has no %s… line", stageMetric)
	}
	return st
}

// since is the time spent in each stage between before and s.
func (s stageTimes) since(before stageTimes) stageTimes {
	d := stageTimes{}
	for k, v := range s {
		d[k] = v - before[k]
	}
	return d
}

// gwStages are the stages whose time a gate's runs report: the lookup
// (stored documents; parents under scope) and the gate's own guest stages.
func gwStages(gate string) []string {
	stages := []string{"lookup"}
	if strings.HasPrefix(gate, "rules") || gate == "scope" {
		stages = append(stages, "authorize")
	}
	if strings.Contains(gate, "schemas") {
		stages = append(stages, "schemagate")
	}
	return stages
}

// report reports, for ops ops, the wall time per op of stages and the
// lookup stage's share of the time in all stages. Wall time, not CPU: under
// load a stage's time includes waiting for a CPU and for the database.
func (s stageTimes) report(b *testing.B, ops int, stages []string) {
	var total float64
	for _, v := range s {
		total += v
	}
	if total <= 0 || ops == 0 {
		return
	}
	for _, stage := range stages {
		b.ReportMetric(s[stage]*1e6/float64(ops), stage+"-µs/op")
	}
	b.ReportMetric(100*s["lookup"]/total, "lookup-%")
}
