package tests

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// End-to-end tests of the conflict policies (guest/policies, docs/conflicts.md):
// PowerSync client shapes (type, data, old, op_id, tx_id, metadata) through
// the real binary on the embedded database (ordered writes, document locks)
// and, with SYNCGATE_TEST_MONGO_URI=mongostub, on the transaction path.

// policyEnv runs guests with settings and no schemas.
func policyEnv(t *testing.T, guests string, settings string) map[string]string {
	env := baseEnv(t)
	env["GUESTS"] = guests
	env["GUEST_SETTINGS"] = settings
	return env
}

type policyResult struct {
	Applied  int
	Rejected []struct {
		Index        int
		Code, Reason string
	}
}

func upload(t *testing.T, a *app, body string) policyResult {
	t.Helper()
	r := postUpload(t, a, "", body)
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	var res policyResult
	if err := json.Unmarshal(r.body, &res); err != nil {
		t.Fatal(err)
	}
	return res
}

// entry is one CrudEntry.toJSON.
func entry(op, table, id string, opID int, data, old string) string {
	s := fmt.Sprintf(`{"op":%q,"type":%q,"id":%q,"op_id":%d,"tx_id":%d`, op, table, id, opID, opID)
	if data != "" {
		s += `,"data":` + data
	}
	if old != "" {
		s += `,"old":` + old
	}
	return s + `}`
}

func batch(entries ...string) string { return `{"batch":[` + strings.Join(entries, ",") + `]}` }

// TestLWWOfflineEditsConverge: two clients edit one record offline; whichever
// uploads first, the newer edit is what stays, and the older one is settled
// as configured (reject, drop, log).
func TestLWWOfflineEditsConverge(t *testing.T) {
	a := start(t, policyEnv(t, "lww:todos", "lww.todos.on_conflict:reject"))
	older := `{"title":"from A","updated_at":"2026-11-28T10:00:01.000Z"}`
	newer := `{"title":"from B","updated_at":"2026-11-28T10:00:02Z"}`
	for i, order := range [][2]string{{older, newer}, {newer, older}} {
		id := fmt.Sprintf("doc%d", i)
		upload(t, a, batch(entry("PUT", "todos", id, 1, `{"title":"0","updated_at":"2026-11-28T10:00:00Z"}`, "")))
		r1 := upload(t, a, batch(entry("PATCH", "todos", id, 2, order[0], "")))
		r2 := upload(t, a, batch(entry("PATCH", "todos", id, 3, order[1], "")))
		if got := docs(t, a.db, "todos")[id]["title"]; got != "from B" {
			t.Fatalf("order %d: title %v, want from B", i, got)
		}
		if len(r1.Rejected) != 0 || r1.Applied != 1 {
			t.Fatalf("order %d: the first edit to arrive is newer than the stored row: %+v", i, r1)
		}
		if i == 0 && (len(r2.Rejected) != 0 || r2.Applied != 1) {
			t.Fatalf("the newer edit after the older: %+v", r2)
		}
		if i == 1 && (len(r2.Rejected) != 1 || r2.Rejected[0].Code != "conflict" || !strings.Contains(r2.Rejected[0].Reason, "older than the stored")) {
			t.Fatalf("the older edit after the newer: %+v", r2)
		}
	}
	// A tie is accepted (the later arrival wins), so a resend of an applied write passes.
	if r := upload(t, a, batch(entry("PATCH", "todos", "doc0", 3, newer, ""))); r.Applied != 1 {
		t.Fatalf("resend: %+v", r)
	}
	// A write without the timestamp is refused, not guessed.
	if r := upload(t, a, batch(entry("PATCH", "todos", "doc0", 4, `{"title":"x"}`, ""))); len(r.Rejected) != 1 || !strings.Contains(r.Rejected[0].Reason, "has no updated_at") {
		t.Fatalf("no timestamp: %+v", r)
	}
}

// TestConflictSettlements: the same lost conflict rejected, dropped silently
// or logged with the winner in syncgate_conflicts (and not dead-lettered).
func TestConflictSettlements(t *testing.T) {
	a := start(t, policyEnv(t, "lww", "lww.a.on_conflict:reject,lww.b.on_conflict:drop,lww.c.on_conflict:log"))
	for _, table := range []string{"a", "b", "c"} {
		upload(t, a, batch(entry("PUT", table, "x", 1, `{"v":"new","updated_at":"2026-11-28T10:00:02Z"}`, "")))
	}
	var res []policyResult
	for _, table := range []string{"a", "b", "c"} {
		r := postUpload(t, a, "", `{"batch":[{"op":"PATCH","type":"`+table+`","id":"x","op_id":7,"tx_id":7,"metadata":"device-2","data":{"v":"old","updated_at":"2026-11-28T10:00:01Z"},"old":{"v":"new"}}]}`)
		var u policyResult
		json.Unmarshal(r.body, &u)
		res = append(res, u)
	}
	if len(res[0].Rejected) != 1 || res[0].Rejected[0].Code != "conflict" {
		t.Fatalf("reject: %+v", res[0])
	}
	for i, r := range res[1:] {
		if r.Applied != 0 || len(r.Rejected) != 0 {
			t.Fatalf("%s: %+v: want neither applied nor rejected", []string{"drop", "log"}[i], r)
		}
	}
	for _, table := range []string{"a", "b", "c"} {
		if got := docs(t, a.db, table)["x"]["v"]; got != "new" {
			t.Fatalf("%s: the losing write landed: %v", table, got)
		}
	}
	logged := docs(t, a.db, "syncgate_conflicts")
	if len(logged) != 1 {
		t.Fatalf("conflicts: %v", logged)
	}
	for _, c := range logged {
		winner, data := subDoc(c, "winner"), subDoc(c, "data")
		if c["table"] != "c" || c["id"] != "x" || c["rule"] != "lww" || c["metadata"] != "device-2" || winner["v"] != "new" || data["v"] != "old" {
			t.Fatalf("conflict record %v", c)
		}
	}
	if n := count(t, a.db, "syncgate_rejected"); n != 1 {
		t.Fatalf("dead letters: %d, want 1 (only the rejected conflict)", n)
	}
}

// subDoc is a nested document of d as a map.
func subDoc(d bson.M, key string) map[string]any {
	out := map[string]any{}
	switch v := d[key].(type) {
	case bson.D:
		for _, e := range v {
			out[e.Key] = e.Value
		}
	case bson.M:
		return v
	}
	return out
}

// TestVersionPolicy: stale writes lose, accepted ones increment the stored
// version, and a resend after a lost response is accepted without a second
// increment.
func TestVersionPolicy(t *testing.T) {
	a := start(t, policyEnv(t, "version:orders", ""))
	upload(t, a, batch(entry("PUT", "orders", "o1", 1, `{"note":"new"}`, "")))
	if v := docs(t, a.db, "orders")["o1"]["version"]; fmt.Sprint(v) != "1" {
		t.Fatalf("new document at version %v, want 1", v)
	}
	// Client A (increments locally: 1 → 2) and client B (sends old) both start from 1.
	a1 := batch(entry("PATCH", "orders", "o1", 2, `{"note":"A","version":2}`, ""))
	if r := upload(t, a, a1); r.Applied != 1 {
		t.Fatalf("A: %+v", r)
	}
	// (B's connector names the data opData, as some community connectors do.)
	r := upload(t, a, `{"batch":[{"op":"PATCH","type":"orders","id":"o1","op_id":2,"tx_id":2,"opData":{"note":"B","version":2},"old":{"note":"new","version":1}}]}`)
	if len(r.Rejected) != 1 || r.Rejected[0].Code != "conflict" || !strings.Contains(r.Rejected[0].Reason, "based on version 1, the stored document is at 2") {
		t.Fatalf("B: %+v", r)
	}
	// A's response was lost: the resend is accepted and changes nothing.
	if r := upload(t, a, a1); r.Applied != 1 || len(r.Rejected) != 0 {
		t.Fatalf("resend: %+v", r)
	}
	d := docs(t, a.db, "orders")["o1"]
	if d["note"] != "A" || fmt.Sprint(d["version"]) != "2" {
		t.Fatalf("document %v, want note A at version 2", d)
	}
}

// TestTransitionsPolicy: allowed moves pass, jumps and moves back lose, a
// locked document takes no change.
func TestTransitionsPolicy(t *testing.T) {
	a := start(t, policyEnv(t, "transitions:orders", "transitions.orders.status:pending>processing>shipped;processing>cancelled,transitions.orders.locked:status=shipped|cancelled"))
	check := func(body string, wantApplied int, wantReason string) {
		t.Helper()
		r := upload(t, a, body)
		if r.Applied != wantApplied || (wantReason == "") != (len(r.Rejected) == 0) || (wantReason != "" && !strings.Contains(r.Rejected[0].Reason, wantReason)) {
			t.Fatalf("%s: %+v, want %d applied, %q", body, r, wantApplied, wantReason)
		}
	}
	check(batch(entry("PUT", "orders", "o1", 1, `{"status":"shipped"}`, "")), 0, "a new status must be one of pending")
	check(batch(entry("PUT", "orders", "o1", 1, `{"status":"pending"}`, "")), 1, "")
	check(batch(entry("PATCH", "orders", "o1", 2, `{"status":"shipped"}`, "")), 0, "may not go from pending to shipped")
	check(batch(entry("PATCH", "orders", "o1", 3, `{"status":"processing"}`, ""), entry("PATCH", "orders", "o1", 4, `{"status":"shipped"}`, "")), 2, "")
	check(batch(entry("PATCH", "orders", "o1", 5, `{"status":"processing"}`, "")), 0, "locked (status is shipped)")
	check(batch(entry("PATCH", "orders", "o1", 6, `{"note":"late"}`, "")), 0, "locked")
	if d := docs(t, a.db, "orders")["o1"]; d["status"] != "shipped" || d["note"] != nil {
		t.Fatalf("document %v", d)
	}
}

// TestIncrementsResend: two clerks' sales from the same stock both count,
// and resending a batch whose response was lost adds nothing.
func TestIncrementsResend(t *testing.T) {
	a := start(t, policyEnv(t, "increments:products", "increments.products.fields:stock|sold"))
	upload(t, a, batch(entry("PUT", "products", "p1", 1, `{"name":"tea","stock":10,"sold":0}`, "")))
	clerk1 := batch(entry("PATCH", "products", "p1", 2, `{"stock":9,"sold":1}`, `{"stock":10,"sold":0}`))
	clerk2 := batch(entry("PATCH", "products", "p1", 2, `{"stock":7,"sold":3,"name":"green tea"}`, `{"stock":10,"sold":0,"name":"tea"}`))
	for _, b := range []string{clerk1, clerk2, clerk1, clerk2, clerk1} {
		if r := upload(t, a, b); r.Applied != 1 || len(r.Rejected) != 0 {
			t.Fatalf("%s: %+v", b, r)
		}
	}
	d := docs(t, a.db, "products")["p1"]
	if fmt.Sprint(d["stock"]) != "6" || fmt.Sprint(d["sold"]) != "4" || d["name"] != "green tea" {
		t.Fatalf("document %v, want stock 6, sold 4", d)
	}
	// Without old the client's app has not enabled previous values: refused.
	if r := upload(t, a, batch(entry("PATCH", "products", "p1", 3, `{"stock":1}`, ""))); len(r.Rejected) != 1 || !strings.Contains(r.Rejected[0].Reason, "trackPreviousValues") {
		t.Fatalf("no old: %+v", r)
	}
}

// TestPolicySettingsRefused: a bad setting stops start-up, naming the guest,
// the table and the key.
func TestPolicySettingsRefused(t *testing.T) {
	for _, c := range []struct{ guests, settings, want string }{
		{"lww", "lww.todos.ties:coin", `guest lww: GUEST_SETTINGS: settings: table todos: key "ties": "coin": want accept or reject`},
		// An unknown key is the host's check (guest.Info.Settings); a bad value the guest's.
		{"version", "version.orders.feild:v", `GUEST_SETTINGS: version.orders.feild: guest version does not read this setting`},
		{"transitions", "transitions.orders.status:a>b;b>a", `guest transitions: GUEST_SETTINGS: settings: table orders: key "status"`},
		{"increments", "increments.products.without_old:set", `guest increments: GUEST_SETTINGS: settings: key "fields": missing`},
		// A setting for a table the guest does not run for would do nothing (issue 29 item 4).
		{"lww:todos", "lww.todos.on_conflict:reject,lww.notes.on_conflict:log", `GUEST_SETTINGS: lww.notes.on_conflict names table "notes", but guest lww runs only for todos (GUESTS), so the setting would do nothing`},
	} {
		code, stderr := runCommand(t, policyEnv(t, c.guests, c.settings), "serve")
		if code == 0 || !strings.Contains(stderr, c.want) {
			t.Errorf("%s %s: exit %d, stderr:\n%s\nwant %q", c.guests, c.settings, code, stderr, c.want)
		}
	}
}

// TestPoliciesComposeWithSchemaGate: policies run in GUESTS order, the schema
// gate last; a write a policy accepts is still validated.
func TestPoliciesComposeWithSchemaGate(t *testing.T) {
	env := schemaEnv(t)
	env["GUESTS"] = "lww:todos"
	// missing:accept lets the PATCH without completed_at reach the gate,
	// which refuses it. (Had the policy checked it, the ops after it on the
	// document would be conditional on a value the gate then kept from
	// being written: they would lose as conflicts, safely.)
	env["GUEST_SETTINGS"] = "lww.field:completed_at,lww.missing:accept"
	a := start(t, env)
	r := upload(t, a, batch(
		entry("PUT", "lists", listA, 1, `{"name":"Groceries","owner_id":"u1","created_at":"2024-05-01 10:00:00"}`, ""),
		entry("PUT", "todos", todoA, 2, `{"description":"milk","list_id":"`+listA+`","completed":1,"completed_at":"2024-05-02T08:00:00Z"}`, ""),
		entry("PATCH", "todos", todoA, 3, `{"description":"old","completed_at":"2024-05-01T08:00:00Z"}`, ""),
		entry("PATCH", "todos", todoA, 4, `{"completed":"yes"}`, ""),
		entry("PATCH", "todos", todoA, 5, `{"description":"oat milk","completed_at":"2024-05-03T08:00:00Z"}`, ""),
	))
	if r.Applied != 3 || len(r.Rejected) != 2 || r.Rejected[0].Code != "conflict" || r.Rejected[1].Code != "schema_violation" {
		t.Fatalf("%+v", r)
	}
	if d := docs(t, a.db, "todos")[todoA]; d["description"] != "oat milk" {
		t.Fatalf("document %v", d)
	}
}

// TestPoliciesTwoInstances: two syncgate instances on one database take
// concurrent batches for the same documents. Of writes based on the same
// version exactly one lands per version, and every increment counts once
// however many times, and through which instance, it is resent.
func TestPoliciesTwoInstances(t *testing.T) {
	env := policyEnv(t, "version:orders,increments:products", "increments.products.fields:stock")
	a, b := start(t, env), start(t, env)
	apps := []*app{a, b}
	upload(t, a, batch(entry("PUT", "orders", "o1", 1, `{"note":"new"}`, ""), entry("PUT", "products", "p1", 1, `{"stock":0}`, "")))

	// Version: rounds of 6 writers all based on the version they read.
	const rounds, writers = 5, 6
	accepted := 0
	for round := range rounds {
		base := round + 1
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins := 0
		for w := range writers {
			wg.Go(func() {
				r := upload(t, apps[w%2], batch(entry("PATCH", "orders", "o1", 10+w, fmt.Sprintf(`{"note":"r%d w%d","version":%d}`, round, w, base+1), "")))
				mu.Lock()
				defer mu.Unlock()
				if r.Applied == 1 {
					wins++
				} else if len(r.Rejected) != 1 || r.Rejected[0].Code != "conflict" {
					t.Errorf("round %d writer %d: %+v", round, w, r)
				}
			})
		}
		wg.Wait()
		if wins != 1 {
			t.Fatalf("round %d: %d writers based on version %d were accepted, want 1", round, wins, base)
		}
		accepted += wins
	}
	if v := docs(t, a.db, "orders")["o1"]["version"]; fmt.Sprint(v) != fmt.Sprint(1+accepted) {
		t.Fatalf("version %v, want %d", v, 1+accepted)
	}

	// Increments: 20 ops of +1..+20, each sent 3 times across both instances, concurrently.
	var wg sync.WaitGroup
	want := 0
	for op := 1; op <= 20; op++ {
		want += op
		body := batch(entry("PATCH", "products", "p1", 100+op, fmt.Sprintf(`{"stock":%d}`, op), `{"stock":0}`))
		for try := range 3 {
			wg.Go(func() {
				if r := upload(t, apps[(op+try)%2], body); r.Applied != 1 {
					t.Errorf("op %d try %d: %+v", op, try, r)
				}
			})
		}
	}
	wg.Wait()
	if got := docs(t, a.db, "products")["p1"]["stock"]; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("stock %v, want %d (each increment once)", got, want)
	}
}

// TestPoliciesCompose: lww and version on one table, in that order; a write
// must pass both, and a lost conflict is settled by the policy that found it.
func TestPoliciesCompose(t *testing.T) {
	a := start(t, policyEnv(t, "lww:notes,version:notes", "lww.on_conflict:log,version.on_conflict:drop"))
	upload(t, a, batch(entry("PUT", "notes", "n1", 1, `{"text":"0","updated_at":"2026-11-28T10:00:00Z"}`, "")))
	// b: newer by timestamp, stale by version (a was based on the same
	// version): version drops it. c: older by timestamp: lww logs it.
	r := upload(t, a, batch(
		entry("PATCH", "notes", "n1", 2, `{"text":"a","updated_at":"2026-11-28T10:00:01Z","version":2}`, ""),
		entry("PATCH", "notes", "n1", 3, `{"text":"b","updated_at":"2026-11-28T10:00:02Z","version":2}`, ""),
		entry("PATCH", "notes", "n1", 4, `{"text":"c","updated_at":"2026-11-28T09:00:00Z","version":3}`, ""),
	))
	if r.Applied != 1 || len(r.Rejected) != 0 {
		t.Fatalf("%+v: want one applied, the others settled quietly", r)
	}
	if d := docs(t, a.db, "notes")["n1"]; d["text"] != "a" || fmt.Sprint(d["version"]) != "2" {
		t.Fatalf("document %v", d)
	}
	if n := count(t, a.db, "syncgate_conflicts"); n != 1 {
		t.Fatalf("%d conflicts logged, want 1 (the older timestamp: lww logs; the stale version is dropped)", n)
	}
}
