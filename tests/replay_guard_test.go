package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/syncgate/syncgate/host/cli"
)

// ownerServer runs the owner guest on lists (GUESTS=owner:lists, the
// server's .env in issue 29 item 1) and records bob's refused changes of
// alice's list: two forbidden rejections. It returns the server, the
// shell's environment (the same, without GUESTS) and the .env file that
// holds the server's settings.
func ownerServer(t *testing.T) (a *app, shell map[string]string, dotenv string) {
	t.Helper()
	shell = schemaEnv(t)
	delete(shell, "UPLOAD_AUTH")
	server := maps.Clone(shell)
	server["GUESTS"] = "owner:lists"
	dotenv = filepath.Join(t.TempDir(), ".env")
	if err := os.WriteFile(dotenv, []byte("# the server's settings\nGUESTS=owner:lists\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	a = start(t, server)
	alice, bob := token(t, a, "alice"), token(t, a, "bob")
	if r := postUpload(t, a, alice, `{"batch":[{"op":"PUT","table":"lists","id":"`+listA+`","data":{"name":"Alice's list"}}]}`); uploadResult(t, r).Applied != 1 {
		t.Fatalf("alice PUT: %s", r.body)
	}
	r := postUpload(t, a, bob, `{"batch":[
		{"op":"PATCH","table":"lists","id":"`+listA+`","data":{"name":"bob's now"}},
		{"op":"PUT","table":"lists","id":"`+listA+`","data":{"name":"bob's list","owner_id":"bob"}}]}`)
	if res := uploadResult(t, r); res.Applied != 0 || len(res.Rejected) != 2 || res.Rejected[0].Code != "forbidden" {
		t.Fatalf("bob: %s", r.body)
	}
	return a, shell, dotenv
}

// refusedRow is a row of replay's table whose result is refused.
var refusedRow = regexp.MustCompile(`(?m)^\S+\s+(PUT|PATCH|DELETE)\s+\S+\s+\S+\s+refused\s`)

func aliceOwnsList(t *testing.T, a *app) {
	t.Helper()
	if l := docs(t, a.db, "lists")[listA]; l["owner_id"] != "alice" || l["name"] != "Alice's list" {
		t.Fatalf("alice's list changed: %v", l)
	}
}

// TestReplayUnderWeakerRulesRefused reproduces issue 29 item 1: the server
// runs the owner guest on lists (its .env), bob's writes to alice's list
// are refused and recorded, and an operator replays them from a shell that
// has not got those settings. The replay prints the rules set it runs, sees
// that it differs from the running server's (/readyz rules_id) and refuses
// every record: nothing is applied, the records stay open. Before the
// check, the same replay applied bob's writes (would_apply ×2).
func TestReplayUnderWeakerRulesRefused(t *testing.T) {
	a, shell, dotenv := ownerServer(t)
	for _, dry := range []bool{true, false} {
		args := []string{"replay", "--table", "lists", "--server", a.url}
		if dry {
			args = append(args, "--dry-run")
		}
		code, out, errs := rejectedCLI(t, shell, args...)
		if code != 1 || len(refusedRow.FindAllString(out, -1)) != 2 || strings.Contains(out, "would_apply") || strings.Contains(out, "applied") {
			t.Fatalf("replay %v: exit %d\n%s\n%s", args, code, out, errs)
		}
		for _, want := range []string{"replay: rules set of this run", "1. schemagate on every table", "schemas: _common.json, lists.json, todos.json",
			"differs from the running server's at " + a.url, "2 records refused", "--force applies them anyway"} {
			if !strings.Contains(out+errs, want) {
				t.Errorf("replay %v: output lacks %q:\n%s\n%s", args, want, out, errs)
			}
		}
	}
	aliceOwnsList(t, a)
	for _, d := range listJSON(t, shell, "--table", "lists") {
		if d.State != "open" || d.Replays != 0 {
			t.Fatalf("a refused record was marked: %+v", d)
		}
	}

	// With the server's .env read (as the binary does), the rules are the
	// same: the replay runs, and the owner guest refuses bob again.
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	code := cli.RunWithDotEnv(ctx, dotenv, []string{"rejected", "replay", "--table", "lists", "--server", a.url}, func(k string) string { return shell[k] }, &out, &errb)
	if code != 0 || strings.Count(out.String(), "rejected") != 2 || !strings.Contains(errb.String(), "runs the same rules set") || !strings.Contains(errb.String(), "syncgate: read ") {
		t.Fatalf("replay with .env: exit %d\n%s\n%s", code, out.String(), errb.String())
	}
	aliceOwnsList(t, a)
}

// TestReplayForce: --force replays what the check refuses, names each
// record it overrides and why in the log, and applies it.
func TestReplayForce(t *testing.T) {
	a, shell, _ := ownerServer(t)
	code, out, errs := rejectedCLI(t, shell, "replay", "--table", "lists", "--server", a.url, "--force")
	if code != 0 || strings.Count(out, "applied") != 2 || strings.Count(errs, "replay --force: replaying a record the rules check refuses") != 2 ||
		!strings.Contains(errs, "differs from the running server's") {
		t.Fatalf("replay --force: exit %d\n%s\n%s", code, out, errs)
	}
	if l := docs(t, a.db, "lists")[listA]; l["name"] != "bob's list" || l["owner_id"] != "bob" {
		t.Fatalf("--force did not apply: %v", l)
	}
}

// TestReplayRefusesMissingStage: the server records the stage that
// refused each op (guest:owner here); a replay whose rules set lacks that
// stage refuses the record, even when no server answers to compare with.
func TestReplayRefusesMissingStage(t *testing.T) {
	a, shell, _ := ownerServer(t)
	a.stop(t)
	code, out, _ := rejectedCLI(t, shell, "list", "--json")
	var list []struct{ Stage string }
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil || len(list) != 2 || list[0].Stage != "guest:owner" || list[1].Stage != "guest:owner" {
		t.Fatalf("list: want both records with stage guest:owner: %d %s", code, out)
	}
	code, out, errs := rejectedCLI(t, shell, "replay", "--table", "lists", "--server", "http://127.0.0.1:1")
	if code != 1 || strings.Count(out, "refused by stage guest:owner: guest owner refused it, and this rules set does not run it") != 2 ||
		!strings.Contains(errs, "no server answers at http://127.0.0.1:1") {
		t.Fatalf("replay: exit %d\n%s\n%s", code, out, errs)
	}
	aliceOwnsList(t, a)
}

// TestCLIBesideServer (issue 29 item 2): with MONGO_URI unset, a command
// that needs the database uses the embedded one already running at
// DEV_DB_ADDR (a server's) instead of failing to start its own there.
func TestCLIBesideServer(t *testing.T) {
	if realMongo() {
		t.Skip("needs the embedded database the suite runs")
	}
	env := baseEnv(t)
	delete(env, "MONGO_URI")
	env["DEV_DB_ADDR"] = strings.TrimSuffix(strings.TrimPrefix(dbURI, "mongodb://"), "/")
	code, out, errs := rejectedCLI(t, env, "list")
	if code != 0 || !strings.Contains(out, "(none)") || !strings.Contains(errs, "using the embedded database already running at DEV_DB_ADDR "+env["DEV_DB_ADDR"]) {
		t.Fatalf("rejected list beside a running database: exit %d\n%s\n%s", code, out, errs)
	}
}
