package tests

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// The todo demo's ids for the authorization tests: alice's list, bob's
// private list, bob's list shared with alice (members), and todos.
const (
	aliceList  = "a11ce000-0000-4000-8000-000000000001"
	bobList    = "b0b00000-0000-4000-8000-000000000002"
	sharedList = "5a4ed000-0000-4000-8000-000000000003"
	aliceTodo  = "a11ce000-0000-4000-8000-0000000000a1"
	aliceTodo2 = "a11ce000-0000-4000-8000-0000000000a2"
	aliceTodo3 = "a11ce000-0000-4000-8000-0000000000a3"
	bobTodo    = "b0b00000-0000-4000-8000-0000000000b1"
)

// copyRules copies the demo's rules (examples/authorization/rules) into a
// folder the test may edit.
func copyRules(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join("..", "examples", "authorization", "rules")
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// authzEnv is the demo's tables (lists, todos; no schemas, so members
// may be an array) behind real tokens, with rules as rulesDir holds them
// ("" for none).
func authzEnv(t *testing.T, rulesDir string) map[string]string {
	env := baseEnv(t)
	delete(env, "UPLOAD_AUTH")
	env["UPLOAD_TABLES"] = "lists,todos"
	env["RELOAD_POLL"] = "100ms"
	if rulesDir == "" {
		rulesDir = t.TempDir()
	}
	env["RULES_DIR"] = rulesDir
	return env
}

// oneOp uploads one op as the token's user and returns the answer.
func oneOp(t *testing.T, a *app, tok, op string) uploadAnswer {
	t.Helper()
	return uploadResult(t, postUpload(t, a, tok, `{"batch":[`+op+`]}`))
}

// mustApply fails t unless every op of the batch was applied.
func mustApply(t *testing.T, a *app, tok, what string, ops ...string) {
	t.Helper()
	r := postUpload(t, a, tok, `{"batch":[`+strings.Join(ops, ",")+`]}`)
	if res := uploadResult(t, r); res.Applied != len(ops) || len(res.Rejected) != 0 {
		t.Fatalf("%s: %s", what, r.body)
	}
}

// forbidden fails t unless the single op is rejected as forbidden with a
// reason holding each of want; it returns the reason.
func forbidden(t *testing.T, a *app, tok, what, op string, want ...string) string {
	t.Helper()
	res := oneOp(t, a, tok, op)
	if res.Applied != 0 || len(res.Rejected) != 1 || res.Rejected[0].Code != "forbidden" {
		t.Fatalf("%s: want forbidden, got %+v", what, res)
	}
	for _, w := range want {
		if !strings.Contains(res.Rejected[0].Reason, w) {
			t.Fatalf("%s: reason %q does not name %q", what, res.Rejected[0].Reason, w)
		}
	}
	t.Logf("%s: forbidden: %s", what, res.Rejected[0].Reason)
	return res.Rejected[0].Reason
}

func put(table, id, data string) string {
	return `{"op":"PUT","table":"` + table + `","id":"` + id + `","data":` + data + `}`
}

func patch(table, id, data string) string {
	return `{"op":"PATCH","table":"` + table + `","id":"` + id + `","data":` + data + `}`
}

func del(table, id string) string {
	return `{"op":"DELETE","table":"` + table + `","id":"` + id + `"}`
}

// docField is a stored document's field (nil when the document or field
// is missing).
func docField(t *testing.T, db, coll, id, field string) any {
	t.Helper()
	d, ok := docs(t, db, coll)[id]
	if !ok {
		return nil
	}
	return d[field]
}

// TestAuthorizationRules runs the todo demo's rules
// (examples/authorization/rules) through the binary with alice's and
// bob's tokens: the attacks of issue 26, a mixed batch, its dead letter,
// and the replay after the rules are fixed.
func TestAuthorizationRules(t *testing.T) {
	rules := copyRules(t)
	env := authzEnv(t, rules)
	a := start(t, env)
	alice, bob := token(t, a, "alice"), token(t, a, "bob")

	mustApply(t, a, bob, "bob's lists",
		put("lists", bobList, `{"name":"Bob's","owner_id":"bob"}`),
		put("lists", sharedList, `{"name":"Shared","owner_id":"bob","members":["alice","carol"]}`))
	mustApply(t, a, alice, "alice's list and todo",
		put("lists", aliceList, `{"name":"Alice's","owner_id":"alice"}`),
		put("todos", aliceTodo, `{"description":"milk","list_id":"`+aliceList+`","created_by":"alice","completed":0}`))

	// bob's private list: no role applies to alice.
	forbidden(t, a, alice, "alice PATCH bob's list", patch("lists", bobList, `{"name":"mine"}`), "no role")
	forbidden(t, a, alice, "alice PUT over bob's list", put("lists", bobList, `{"name":"mine","owner_id":"alice"}`))
	forbidden(t, a, alice, "alice DELETE bob's list", del("lists", bobList), "no role")
	if l := docs(t, a.db, "lists")[bobList]; l == nil || l["name"] != "Bob's" || l["owner_id"] != "bob" {
		t.Fatalf("bob's list after alice's attacks: %v", l)
	}
	// Her own list: she may not give it away (the owner role's write
	// filter holds on the document after the write too).
	forbidden(t, a, alice, "alice PATCH her list's owner_id to bob", patch("lists", aliceList, `{"owner_id":"bob"}`), "owner")
	forbidden(t, a, alice, "alice PUT her list with owner_id bob", put("lists", aliceList, `{"name":"Alice's","owner_id":"bob"}`), "owner")
	if o := docField(t, a.db, "lists", aliceList, "owner_id"); o != "alice" {
		t.Fatalf("alice's list owner_id = %v", o)
	}
	// A server-owned field: created_by may only ever be the writer.
	forbidden(t, a, alice, "alice clears created_by", patch("todos", aliceTodo, `{"created_by":null}`), "created_by")
	forbidden(t, a, alice, "alice sets created_by to bob", patch("todos", aliceTodo, `{"created_by":"bob"}`))
	forbidden(t, a, alice, "alice PUTs a todo as bob", put("todos", aliceTodo2, `{"description":"x","list_id":"`+aliceList+`","created_by":"bob"}`))
	if c := docField(t, a.db, "todos", aliceTodo, "created_by"); c != "alice" {
		t.Fatalf("created_by after the attacks = %v", c)
	}
	mustApply(t, a, alice, "alice completes her todo", patch("todos", aliceTodo, `{"completed":1,"completed_by":"alice"}`))
	forbidden(t, a, alice, "alice says bob completed it", patch("todos", aliceTodo, `{"completed_by":"bob"}`), "completed_by")
	forbidden(t, a, bob, "bob PATCHes alice's todo", patch("todos", aliceTodo, `{"description":"bob was here"}`), "no role")

	// The shared list: a member renames it, but may not delete it, take
	// it, or change who is a member.
	mustApply(t, a, alice, "member alice renames the shared list", patch("lists", sharedList, `{"name":"Shared (renamed by alice)"}`))
	if n := docField(t, a.db, "lists", sharedList, "name"); n != "Shared (renamed by alice)" {
		t.Fatalf("shared list name = %v", n)
	}
	forbidden(t, a, alice, "member alice DELETEs the shared list", del("lists", sharedList), `role "member"`)
	forbidden(t, a, alice, "member alice takes the shared list", patch("lists", sharedList, `{"owner_id":"alice"}`), "member", "owner_id")
	forbidden(t, a, alice, "member alice changes the members", patch("lists", sharedList, `{"members":["alice"]}`), "member", "members")
	forbidden(t, a, alice, "member alice adds a field", patch("lists", sharedList, `{"color":"red"}`), "member")
	forbidden(t, a, token(t, a, "carol"), "carol (member) PUTs over the shared list", put("lists", sharedList, `{"name":"Carol's","owner_id":"bob","members":["alice","carol"],"x":1}`), "member")
	mustApply(t, a, bob, "owner bob renames the shared list", patch("lists", sharedList, `{"name":"Shared"}`))

	// A forbidden op in a batch: the others are applied, it is dead-lettered.
	r := postUpload(t, a, alice, `{"batch":[`+strings.Join([]string{
		patch("lists", aliceList, `{"name":"Alice's groceries"}`),
		patch("lists", sharedList, `{"members":["alice","carol","dave"]}`),
		put("todos", aliceTodo2, `{"description":"eggs","list_id":"`+aliceList+`","created_by":"alice"}`),
	}, ",")+`]}`)
	res := uploadResult(t, r)
	if res.Applied != 2 || len(res.Rejected) != 1 || res.Rejected[0].Index != 1 || res.Rejected[0].Code != "forbidden" ||
		!strings.Contains(res.Rejected[0].Reason, "member") {
		t.Fatalf("mixed batch: %s", r.body)
	}
	if docField(t, a.db, "lists", aliceList, "name") != "Alice's groceries" || docField(t, a.db, "todos", aliceTodo2, "description") != "eggs" ||
		len(docField(t, a.db, "lists", sharedList, "members").(bson.A)) != 2 {
		t.Fatalf("after the mixed batch: lists %v todos %v", docs(t, a.db, "lists"), docs(t, a.db, "todos"))
	}
	var rec bson.M
	if err := client.Database(a.db).Collection("syncgate_rejected").FindOne(t.Context(),
		bson.D{{Key: "id", Value: sharedList}, {Key: "op", Value: "PATCH"}, {Key: "index", Value: 1}}).Decode(&rec); err != nil {
		t.Fatalf("the dead letter of alice's PATCH of the members: %v", err)
	}
	claims := bson.M{}
	if d, ok := rec["claims"].(bson.D); ok {
		for _, e := range d {
			claims[e.Key] = e.Value
		}
	}
	if rec["code"] != "forbidden" || rec["stage"] != "guest:authorize" || rec["user_id"] != "alice" || rec["rules"] == nil || rec["rules"] == "" ||
		claims["sub"] != "alice" || !strings.Contains(rec["reason"].(string), `role "member": fields.members.write`) {
		t.Fatalf("dead letter: %v", rec)
	}
	id := rec["_id"].(bson.ObjectID).Hex()

	// Replay before the fix: refused again, as alice.
	code, _, errs := rejectedCLI(t, env, "replay", id)
	if code != 0 || !strings.Contains(errs, "1 rejected again") {
		t.Fatalf("replay before the fix (exit %d): %s", code, errs)
	}
	// The fix: members may invite others (edit members). The server
	// reloads it; the replay applies alice's PATCH as alice.
	fixed, err := os.ReadFile(filepath.Join(rules, "lists.json"))
	if err != nil {
		t.Fatal(err)
	}
	fix := strings.Replace(string(fixed), `"members": { "write": false }`, `"members": { "write": true }`, 1)
	if fix == string(fixed) {
		t.Fatal("the demo's member role changed: the fix no longer applies")
	}
	if err := os.WriteFile(filepath.Join(rules, "lists.json"), []byte(fix), 0o644); err != nil {
		t.Fatal(err)
	}
	waitReloaded(t, a, 2)
	code, out, errs := rejectedCLI(t, env, "replay", id)
	if code != 0 || !strings.Contains(errs, "1 applied") {
		t.Fatalf("replay after the fix (exit %d):\n%s\n%s", code, out, errs)
	}
	if m := docField(t, a.db, "lists", sharedList, "members").(bson.A); len(m) != 3 || m[2] != "dave" {
		t.Fatalf("the replayed PATCH: members %v", m)
	}
	// The server's reloaded rules say the same; the rest still holds.
	mustApply(t, a, alice, "member alice edits members under the fixed rules", patch("lists", sharedList, `{"members":["alice","carol"]}`))
	forbidden(t, a, alice, "member alice DELETEs the shared list after the fix", del("lists", sharedList), `role "member"`)
	forbidden(t, a, alice, "alice DELETE bob's list after the fix", del("lists", bobList), "no role")
}

// TestAuthorizationRulesReload: a broken rules file on reload keeps the
// last good set serving, and /readyz names the file and JSON pointer;
// AUTHORIZE=required refuses to start without rules.
func TestAuthorizationRulesReload(t *testing.T) {
	t.Run("required without rules", func(t *testing.T) {
		env := authzEnv(t, "")
		env["AUTHORIZE"] = "required"
		code, errs := runCommand(t, env, "serve")
		if code == 0 || !strings.Contains(errs, "AUTHORIZE=required") || !strings.Contains(errs, env["RULES_DIR"]) ||
			!strings.Contains(errs, "no rules file") {
			t.Fatalf("serve with AUTHORIZE=required and no rules: exit %d\n%s", code, errs)
		}
	})
	t.Run("required without rules for a table", func(t *testing.T) {
		rules := copyRules(t)
		os.Remove(filepath.Join(rules, "todos.json"))
		env := authzEnv(t, rules)
		env["AUTHORIZE"] = "required"
		code, errs := runCommand(t, env, "serve")
		if code == 0 || !strings.Contains(errs, "AUTHORIZE=required: no rules for todos") {
			t.Fatalf("serve with AUTHORIZE=required and no todos rules: exit %d\n%s", code, errs)
		}
	})

	rules := copyRules(t)
	env := authzEnv(t, rules)
	env["AUTHORIZE"] = "required"
	a := start(t, env)
	alice, bob := token(t, a, "alice"), token(t, a, "bob")
	mustApply(t, a, bob, "bob's list", put("lists", bobList, `{"name":"Bob's","owner_id":"bob"}`))

	// An unsupported operator: a load error, never an allow.
	broken := `{"roles":[{"name":"owner","apply_when":{"owner_id":{"%function":{"name":"isOwner"}}},"write":true,"insert":true,"delete":true}]}`
	if err := os.WriteFile(filepath.Join(rules, "lists.json"), []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, func() bool { return get(t, a.url+"/readyz").json(t)["status"] == "degraded" })
	rd := get(t, a.url+"/readyz").json(t)
	why, _ := rd["checks"].(map[string]any)["guests"].(string)
	if !strings.Contains(why, "lists.json") || !strings.Contains(why, "/roles/0/apply_when") {
		t.Fatalf("/readyz does not name the file and JSON pointer: %v", rd["checks"])
	}
	t.Logf("/readyz: %s", why)
	// The last good set still decides.
	forbidden(t, a, alice, "alice DELETE bob's list while the rules are broken", del("lists", bobList), "no role")
	mustApply(t, a, alice, "alice's own list while the rules are broken", put("lists", aliceList, `{"name":"Alice's","owner_id":"alice"}`))

	// Fixed: ready again.
	good, _ := os.ReadFile(filepath.Join("..", "examples", "authorization", "rules", "lists.json"))
	if err := os.WriteFile(filepath.Join(rules, "lists.json"), good, 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, func() bool { return get(t, a.url+"/readyz").json(t)["status"] == "ready" })
	forbidden(t, a, alice, "alice DELETE bob's list after the repair", del("lists", bobList), "no role")
}

// TestAuthorizationReplayUsesClaims: a role that applies by a token claim
// (roles contains "editor"); alice's write under it is refused by a field
// rule and dead-lettered with her claims; after the rule is fixed, the
// replay applies it — as alice with those claims: without them no role
// applies, as a token minted without claims shows.
func TestAuthorizationReplayUsesClaims(t *testing.T) {
	env := claimsEnv(t)
	env["RELOAD_POLL"] = "100ms"
	rule := func(additional bool) string {
		return `{"roles":[{"name":"org editor","apply_when":{"%%user.data.roles":"editor"},"insert":true,"delete":false,
			"fields":{"name":{"write":true},"org_id":{"write":{"%%this":"%%user.data.org_id"}}},
			"additional_fields":{"write":` + map[bool]string{true: "true", false: "false"}[additional] + `}}]}`
	}
	rulesFile := filepath.Join(env["RULES_DIR"], "lists.json")
	if err := os.WriteFile(rulesFile, []byte(rule(false)), 0o644); err != nil {
		t.Fatal(err)
	}
	a := start(t, env)
	r := mintToken(t, a, "POST", "/token", `{"user_id":"alice","claims":{"org_id":"acme","roles":["viewer","editor"]}}`)
	var minted struct{ Token string }
	if r.status != 200 || json.Unmarshal(r.body, &minted) != nil {
		t.Fatalf("POST /token: %d %s", r.status, r.body)
	}
	editor := minted.Token
	r = mintToken(t, a, "GET", "/token?user_id=alice", "")
	if r.status != 200 || json.Unmarshal(r.body, &minted) != nil {
		t.Fatalf("GET /token: %d %s", r.status, r.body)
	}
	plain := minted.Token

	mustApply(t, a, editor, "editor alice PUTs an acme list", put("lists", "l1", `{"name":"acme","org_id":"acme"}`))
	forbidden(t, a, editor, "editor alice PUTs a list for another org", put("lists", "l2", `{"name":"x","org_id":"globex"}`), `role "org editor"`, "org_id")
	forbidden(t, a, plain, "alice without claims PUTs an acme list", put("lists", "l3", `{"name":"x","org_id":"acme"}`), "no role")
	forbidden(t, a, editor, "editor alice adds a field", put("lists", "l4", `{"name":"x","org_id":"acme","color":"red"}`), `role "org editor"`, "additional_fields")

	var rec bson.M
	if err := client.Database(a.db).Collection("syncgate_rejected").FindOne(t.Context(), bson.D{{Key: "id", Value: "l4"}}).Decode(&rec); err != nil {
		t.Fatal(err)
	}
	id := rec["_id"].(bson.ObjectID).Hex()
	if err := os.WriteFile(rulesFile, []byte(rule(true)), 0o644); err != nil {
		t.Fatal(err)
	}
	waitReloaded(t, a, 2)
	code, out, errs := rejectedCLI(t, env, "replay", id)
	if code != 0 || !strings.Contains(errs, "1 applied") {
		t.Fatalf("replay with the recorded claims (exit %d):\n%s\n%s", code, out, errs)
	}
	if c := docField(t, a.db, "lists", "l4", "color"); c != "red" {
		t.Fatalf("the replayed PUT: color %v", c)
	}
	// The same fix does not open it to alice without the editor claim.
	forbidden(t, a, plain, "alice without claims after the fix", put("lists", "l5", `{"name":"x","org_id":"acme","color":"red"}`), "no role")
	// Replayed under the fixed rules, the other refusals stay refused: the
	// other org's list (the claim says acme), and the write made without
	// the claim (its record has none).
	var others []string
	for _, doc := range []string{"l2", "l3"} {
		var rec bson.M
		if err := client.Database(a.db).Collection("syncgate_rejected").FindOne(t.Context(), bson.D{{Key: "id", Value: doc}}).Decode(&rec); err != nil {
			t.Fatal(err)
		}
		others = append(others, rec["_id"].(bson.ObjectID).Hex())
	}
	if code, _, errs := rejectedCLI(t, env, append([]string{"replay"}, others...)...); code != 0 || !strings.Contains(errs, "0 applied, 2 rejected again") {
		t.Fatalf("replay of the others (exit %d): %s", code, errs)
	}
}
