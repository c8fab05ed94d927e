package tests

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/syncgate/syncgate/tests/internal/mongostub"
)

// The todo demo's sync configs (guest/authorize/syncscope/testdata), as
// Sync Streams and as legacy bucket definitions, with the name a denial
// gives for the todos' stream or bucket.
var todoSyncConfigs = []struct{ name, file, todosBy string }{
	{"streams", "todo-streams.yaml", "list_todos"},
	{"buckets", "todo-buckets.yaml", "owned_lists"},
}

// syncScopeEnv is authzEnv with AUTHORIZE=sync-scope and SYNC_CONFIG at
// path.
func syncScopeEnv(t *testing.T, rulesDir, path string) map[string]string {
	t.Helper()
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	env := authzEnv(t, rulesDir)
	env["AUTHORIZE"] = "sync-scope"
	env["SYNC_CONFIG"] = abs
	return env
}

func todoSyncConfig(file string) string {
	return filepath.Join("..", "guest", "authorize", "syncscope", "testdata", file)
}

func todo(desc, list string) string {
	return `{"description":"` + desc + `","list_id":"` + list + `","created_by":"alice"}`
}

// TestSyncScope runs the todo demo's sync config as the write check
// (issue 27), streams and buckets, with alice's and bob's tokens.
func TestSyncScope(t *testing.T) {
	for _, sc := range todoSyncConfigs {
		t.Run(sc.name, func(t *testing.T) {
			a := start(t, syncScopeEnv(t, "", todoSyncConfig(sc.file)))
			alice, bob := token(t, a, "alice"), token(t, a, "bob")

			// A list and its todos in one batch: the todos' list is the
			// batch's own earlier PUT.
			mustApply(t, a, bob, "bob's list and todo in one batch",
				put("lists", bobList, `{"name":"Bob's","owner_id":"bob"}`),
				put("todos", bobTodo, `{"description":"bob's","list_id":"`+bobList+`"}`))
			mustApply(t, a, alice, "alice's list and todos in one batch",
				put("lists", aliceList, `{"name":"Alice's","owner_id":"alice"}`),
				put("todos", aliceTodo, todo("milk", aliceList)),
				put("todos", aliceTodo2, todo("eggs", aliceList)))

			forbidden(t, a, alice, "alice PUTs a todo into bob's list", put("todos", aliceTodo3, todo("spam", bobList)), sc.todosBy)
			forbidden(t, a, alice, "alice moves her todo into bob's list", patch("todos", aliceTodo, `{"list_id":"`+bobList+`"}`), sc.todosBy)
			forbidden(t, a, alice, "alice DELETEs bob's todo", del("todos", bobTodo), sc.todosBy)
			forbidden(t, a, alice, "alice PATCHes bob's todo", patch("todos", bobTodo, `{"description":"alice was here"}`), sc.todosBy)
			forbidden(t, a, alice, "alice PATCHes bob's list", patch("lists", bobList, `{"name":"mine"}`))
			forbidden(t, a, alice, "alice DELETEs bob's list", del("lists", bobList))
			forbidden(t, a, alice, "alice gives her list to bob", patch("lists", aliceList, `{"owner_id":"bob"}`))
			forbidden(t, a, alice, "alice PUTs a list as bob's", put("lists", sharedList, `{"name":"x","owner_id":"bob"}`))
			if d := docField(t, a.db, "todos", aliceTodo, "list_id"); d != aliceList {
				t.Fatalf("alice's todo moved to %v", d)
			}
			if _, ok := docs(t, a.db, "todos")[bobTodo]; !ok {
				t.Fatal("bob's todo was deleted")
			}
			if _, ok := docs(t, a.db, "todos")[aliceTodo3]; ok {
				t.Fatal("alice's todo landed in bob's list")
			}

			// A list deleted earlier in the batch does not make its todos
			// writable; a todo PUT into a list put in a rejected op is
			// rejected with it.
			r := postUpload(t, a, alice, `{"batch":[`+strings.Join([]string{
				del("lists", aliceList),
				put("todos", aliceTodo3, todo("after the delete", aliceList)),
				patch("todos", aliceTodo2, `{"description":"after the delete"}`),
				put("lists", bobList, `{"name":"taken","owner_id":"bob"}`),
				put("todos", aliceTodo3, todo("into a list a rejected op put", bobList)),
			}, ",")+`]}`)
			res := uploadResult(t, r)
			if res.Applied != 1 || len(res.Rejected) != 4 {
				t.Fatalf("delete-then-write batch: %s", r.body)
			}
			for i, rj := range res.Rejected {
				if rj.Index != i+1 || rj.Code != "forbidden" {
					t.Fatalf("delete-then-write batch: rejection %d: %+v (%s)", i, rj, r.body)
				}
			}
			t.Logf("delete-then-write batch: %s", r.body)
			if _, ok := docs(t, a.db, "lists")[aliceList]; ok {
				t.Fatal("alice's DELETE of her list was not applied")
			}
			if d := docField(t, a.db, "todos", aliceTodo2, "description"); d != "eggs" {
				t.Fatalf("a todo of a list deleted earlier in the batch was changed: %v", d)
			}
			if n := docField(t, a.db, "lists", bobList, "name"); n != "Bob's" {
				t.Fatalf("bob's list: %v", n)
			}

			// The replay looks the parents up again, as they are now:
			// refused while the list is bob's, applied once bob gave it to
			// alice.
			var rec bson.M
			if err := client.Database(a.db).Collection("syncgate_rejected").FindOne(t.Context(),
				bson.D{{Key: "id", Value: aliceTodo3}, {Key: "index", Value: 0}}).Decode(&rec); err != nil {
				t.Fatalf("the dead letter of alice's todo into bob's list: %v", err)
			}
			if rec["stage"] != "guest:authorize" || !strings.Contains(rec["reason"].(string), sc.todosBy) {
				t.Fatalf("dead letter: %v", rec)
			}
			id := rec["_id"].(bson.ObjectID).Hex()
			env := syncScopeEnv(t, "", todoSyncConfig(sc.file))
			env["MONGO_DATABASE"] = a.db
			if code, _, errs := rejectedCLI(t, env, "replay", id); code != 0 || !strings.Contains(errs, "1 rejected again") {
				t.Fatalf("replay while the list is bob's (exit %d): %s", code, errs)
			}
			// (Bob cannot give it away through /upload: it would leave his
			// scope. The backend does, in the database.)
			if _, err := client.Database(a.db).Collection("lists").UpdateOne(t.Context(), bson.D{{Key: "_id", Value: bobList}},
				bson.D{{Key: "$set", Value: bson.D{{Key: "owner_id", Value: "alice"}}}}); err != nil {
				t.Fatal(err)
			}
			if code, _, errs := rejectedCLI(t, env, "replay", id); code != 0 || !strings.Contains(errs, "1 applied") {
				t.Fatalf("replay once the list is alice's (exit %d): %s", code, errs)
			}
			if d := docField(t, a.db, "todos", aliceTodo3, "list_id"); d != bobList {
				t.Fatalf("the replayed todo: list_id %v", d)
			}
		})
	}
}

// TestSyncScopeGlobalBucket: a bucket that syncs every todo to everyone
// (PowerSync's own MongoDB demo does so) grants no writes: it is reported
// open at start, and writes to its table are denied; a table no bucket
// syncs is denied too.
func TestSyncScopeGlobalBucket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "global.yaml")
	cfg := "bucket_definitions:\n  global:\n    data:\n      - SELECT * FROM todos\n"
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	a := start(t, syncScopeEnv(t, "", path))
	rd := get(t, a.url+"/readyz")
	t.Logf("/readyz: %s", rd.body)
	const open = "global todos is open — needs a rule"
	if !strings.Contains(string(rd.body), open) {
		t.Fatalf("/readyz does not report the open table: %s", rd.body)
	}
	// The set is live (ready) a moment before the loader logs its warnings.
	waitFor(t, 10*time.Second, func() bool { return strings.Contains(a.logs.String(), open) })
	alice := token(t, a, "alice")
	forbidden(t, a, alice, "alice PUTs a todo under a global bucket", put("todos", aliceTodo, todo("x", aliceList)), "global")
	forbidden(t, a, alice, "alice PUTs a list no bucket syncs", put("lists", aliceList, `{"name":"x","owner_id":"alice"}`), "lists")
	if n := count(t, a.db, "todos") + count(t, a.db, "lists"); n != 0 {
		t.Fatalf("%d documents written", n)
	}

	// "Denied unless rules allow": with rules files, the rules decide the
	// open table's writes; a table no bucket syncs stays denied.
	t.Run("with rules", func(t *testing.T) {
		a := start(t, syncScopeEnv(t, copyRules(t), path))
		alice, bob := token(t, a, "alice"), token(t, a, "bob")
		// alice's list, written by the backend: no bucket syncs lists, so
		// no client may write one; the demo's todo rules read it
		// (%%parent.list).
		if _, err := client.Database(a.db).Collection("lists").InsertOne(t.Context(), bson.D{{Key: "_id", Value: aliceList}, {Key: "name", Value: "x"}, {Key: "owner_id", Value: "alice"}}); err != nil {
			t.Fatal(err)
		}
		mustApply(t, a, alice, "alice PUTs her todo (the rules allow it)", put("todos", aliceTodo, todo("x", aliceList)))
		forbidden(t, a, bob, "bob PATCHes alice's todo (the rules deny it)", patch("todos", aliceTodo, `{"description":"bob's now"}`), "no role")
		forbidden(t, a, alice, "alice clears created_by (the rules deny it)", patch("todos", aliceTodo, `{"created_by":null}`), `role "creator"`)
		forbidden(t, a, alice, "alice PUTs a list no bucket syncs (the rules allow it)", put("lists", aliceList, `{"name":"x","owner_id":"alice"}`), "not in any stream")
	})
}

// TestSyncScopeAndRules: with rules files and sync scope both on, a write
// needs both to allow it.
func TestSyncScopeAndRules(t *testing.T) {
	a := start(t, syncScopeEnv(t, copyRules(t), todoSyncConfig("todo-streams.yaml")))
	alice, bob := token(t, a, "alice"), token(t, a, "bob")
	mustApply(t, a, bob, "bob's lists",
		put("lists", bobList, `{"name":"Bob's","owner_id":"bob"}`),
		put("lists", sharedList, `{"name":"Shared","owner_id":"bob","members":["alice"]}`))
	mustApply(t, a, alice, "alice's list and todo",
		put("lists", aliceList, `{"name":"Alice's","owner_id":"alice"}`),
		put("todos", aliceTodo, todo("milk", aliceList)))
	// The rules allow (alice creates her own todo in a list shared with
	// her: %%parent.list), the scope does not (the streams sync lists by
	// owner only).
	forbidden(t, a, alice, "rules allow, scope denies: alice's todo into bob's list shared with her", put("todos", aliceTodo2, todo("x", sharedList)), "list_todos")
	// Into bob's own list both deny; the rules, checked first, give the reason.
	forbidden(t, a, alice, "both deny: alice's todo into bob's list", put("todos", aliceTodo2, todo("x", bobList)), `role "creator": document_filters.write`)
	// The scope allows (alice's list), the rules do not (created_by).
	forbidden(t, a, alice, "scope allows, rules deny: alice clears created_by", patch("todos", aliceTodo, `{"created_by":null}`), `role "creator"`)
	// The rules allow a member to rename the shared list; the streams
	// sync lists by owner only, so the scope denies it.
	forbidden(t, a, alice, "rules allow, scope denies: member alice renames bob's shared list", patch("lists", sharedList, `{"name":"renamed"}`), "lists")
	if n := docField(t, a.db, "lists", sharedList, "name"); n != "Shared" {
		t.Fatalf("shared list renamed: %v", n)
	}
	// Both allow.
	mustApply(t, a, alice, "both allow: alice completes her todo", patch("todos", aliceTodo, `{"completed":1,"completed_by":"alice"}`))
}

// TestSyncScopeLookupsOnStub counts the commands one batch costs on the
// stand-in as a replica set (the transaction path): todos in several
// lists, one of them bob's, look their lists up with exactly one find on
// lists; the rest is the todos' stored documents (one find), the write
// (one update in one transaction) and the dead letter.
func TestSyncScopeLookupsOnStub(t *testing.T) {
	s := stub(t, mongostub.Config{SetName: "rs0"})
	env := syncScopeEnv(t, "", todoSyncConfig("todo-streams.yaml"))
	env["MONGO_URI"], env["MONGO_TIMEOUT"] = s.URI(), "1s"
	a := start(t, env)
	alice := token(t, a, "alice")
	lists := []string{aliceList, sharedList, "a11ce000-0000-4000-8000-000000000004"}
	for _, id := range lists {
		if err := s.Put(a.db, "lists", bson.D{{Key: "_id", Value: id}, {Key: "name", Value: "l"}, {Key: "owner_id", Value: "alice"}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Put(a.db, "lists", bson.D{{Key: "_id", Value: bobList}, {Key: "name", Value: "b"}, {Key: "owner_id", Value: "bob"}}); err != nil {
		t.Fatal(err)
	}
	var ops []string
	for i := range 9 {
		ops = append(ops, put("todos", fmt.Sprintf("70d00000-0000-4000-8000-%012d", i), todo("t", lists[i%3])))
	}
	ops = append(ops, put("todos", bobTodo, todo("into bob's list", bobList)))
	s.Reset()
	r := postUpload(t, a, alice, `{"batch":[`+strings.Join(ops, ",")+`]}`)
	if res := uploadResult(t, r); res.Applied != 9 || len(res.Rejected) != 1 || res.Rejected[0].Index != 9 || res.Rejected[0].Code != "forbidden" {
		t.Fatalf("batch: %s", r.body)
	}
	if n := len(s.Docs(a.db, "todos")); n != 9 {
		t.Fatalf("%d todos stored, want 9", n)
	}
	var got []string
	listFinds := 0
	for _, c := range batchCommands(s) {
		got = append(got, c.Name+" "+c.Collection())
		if c.Name == "find" && c.Collection() == "lists" {
			listFinds++
			in, _ := c.Lookup("filter", "_id", "$in").ArrayOK()
			if vals, _ := in.Values(); len(vals) != 4 {
				t.Errorf("the lists find asks for %d ids, want the 4 lists the batch names: %s", len(vals), c.Body)
			}
		}
	}
	t.Logf("commands of the batch: %v", got)
	if listFinds != 1 {
		t.Fatalf("%d finds on lists, want 1: %v", listFinds, got)
	}
	sameCommands(t, got, []string{"find todos", "find lists"}, []string{"update todos", "commitTransaction ", "insert syncgate_rejected"})
	if st, _ := batchCommands(s)[2].Lookup("startTransaction").BooleanOK(); !st {
		t.Fatalf("the write is not in a transaction: %s", batchCommands(s)[2].Body)
	}

	// A new list and its todos in one batch, and a list deleted before its
	// todo: lists are read once, as the ops' stored documents (the
	// authorize guest needs them), which are also the todos' parents (the
	// new list is not stored: the batch's own PUT is its parent; the
	// deleted one is gone for the todo after it), all in one transaction.
	newList := "a11ce000-0000-4000-8000-000000000005"
	s.Reset()
	r = postUpload(t, a, alice, `{"batch":[`+strings.Join([]string{
		put("lists", newList, `{"name":"new","owner_id":"alice"}`),
		put("todos", aliceTodo, todo("in the new list", newList)),
		del("lists", lists[2]),
		put("todos", aliceTodo2, todo("in a deleted list", lists[2])),
	}, ",")+`]}`)
	if res := uploadResult(t, r); res.Applied != 3 || len(res.Rejected) != 1 || res.Rejected[0].Index != 3 {
		t.Fatalf("list and todos batch: %s", r.body)
	}
	got = nil
	for _, c := range batchCommands(s) {
		got = append(got, c.Name+" "+c.Collection())
	}
	t.Logf("commands of the list-and-todos batch: %v", got)
	sameCommands(t, got, []string{"find lists", "find todos"}, []string{"delete lists", "update lists", "update todos", "commitTransaction ", "insert syncgate_rejected"})
}

// batchCommands are the commands the stand-in received that read or write
// data or end a transaction: not the driver's session housekeeping
// (endSessions, killCursors), which it sends when it likes.
func batchCommands(s *mongostub.Server) []mongostub.Command {
	var out []mongostub.Command
	for _, c := range s.Commands(false) {
		switch c.Name {
		case "find", "insert", "update", "delete", "commitTransaction", "abortTransaction":
			out = append(out, c)
		}
	}
	return out
}

// sameCommands fails t unless got is the reads (in any order: the stored
// documents of several collections are read concurrently) followed by the
// writes in order.
func sameCommands(t *testing.T, got, reads, writes []string) {
	t.Helper()
	if len(got) != len(reads)+len(writes) {
		t.Fatalf("commands %v, want the reads %v then %v", got, reads, writes)
	}
	r := slices.Sorted(slices.Values(got[:len(reads)]))
	if !slices.Equal(r, slices.Sorted(slices.Values(reads))) || !slices.Equal(got[len(reads):], writes) {
		t.Fatalf("commands %v, want the reads %v then %v", got, reads, writes)
	}
}

// TestRulesReadStoredFieldsOnly: with rules that read some fields of the
// stored documents (the gateway benchmark's: todos by created_by and
// completed_by; lists with a role that judges unnamed fields, so whole),
// the lookup asks the database for those fields only, and the rules still
// decide on them: bob's PATCH and DELETE of alice's todos are refused by
// the stored created_by, alice's are applied, and nothing else of the
// stored todos is lost by the projection.
func TestRulesReadStoredFieldsOnly(t *testing.T) {
	s := stub(t, mongostub.Config{SetName: "rs0"})
	rules, err := filepath.Abs(filepath.Join("testdata", "bench-rules"))
	if err != nil {
		t.Fatal(err)
	}
	env := authzEnv(t, rules)
	env["MONGO_URI"], env["MONGO_TIMEOUT"] = s.URI(), "1s"
	a := start(t, env)
	alice, bob := token(t, a, "alice"), token(t, a, "bob")
	for i, id := range []string{aliceTodo, aliceTodo2} {
		if err := s.Put(a.db, "todos", bson.D{{Key: "_id", Value: id}, {Key: "description", Value: fmt.Sprint("todo ", i)},
			{Key: "created_by", Value: "alice"}, {Key: "completed_by", Value: nil}, {Key: "list_id", Value: aliceList}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Put(a.db, "lists", bson.D{{Key: "_id", Value: aliceList}, {Key: "name", Value: "l"}, {Key: "owner_id", Value: "alice"}}); err != nil {
		t.Fatal(err)
	}
	s.Reset()
	r := postUpload(t, a, bob, `{"batch":[`+patch("todos", aliceTodo, `{"description":"mine now"}`)+`,`+del("todos", aliceTodo2)+`,`+
		patch("lists", aliceList, `{"name":"bob's"}`)+`]}`)
	if res := uploadResult(t, r); res.Applied != 0 || len(res.Rejected) != 3 || res.Rejected[0].Code != "forbidden" || res.Rejected[1].Code != "forbidden" {
		t.Fatalf("bob's batch: %s", r.body)
	}
	projections := map[string]string{}
	for _, c := range batchCommands(s) {
		if c.Name == "find" {
			proj, _ := c.Lookup("projection").DocumentOK()
			projections[c.Collection()] = fmt.Sprint(proj)
		}
	}
	if want := `{"_id": {"$numberInt":"1"},"completed_by": {"$numberInt":"1"},"created_by": {"$numberInt":"1"}}`; projections["todos"] != want {
		t.Errorf("find todos projected %s, want %s", projections["todos"], want)
	}
	if p, ok := projections["lists"]; !ok || p != "" {
		t.Errorf("find lists projected %q (found %v), want the whole documents", p, ok)
	}
	mustApply(t, a, alice, "alice's todos", patch("todos", aliceTodo, `{"description":"done soon","completed_by":"alice"}`), del("todos", aliceTodo2))
	got := s.Docs(a.db, "todos")
	if len(got) != 1 {
		t.Fatalf("%d todos stored, want 1", len(got))
	}
	if d := fmt.Sprint(got[0]); !strings.Contains(d, `"list_id": "`+aliceList) || !strings.Contains(d, `"description": "done soon"`) || !strings.Contains(d, `"created_by": "alice"`) {
		t.Fatalf("the PATCHed todo lost fields: %s", d)
	}
}
