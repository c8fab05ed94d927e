package tests

import (
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSilentMisconfigurationStopsStartup: settings that would run without
// effect stop start-up with a message naming them (issue #20 item 4).
func TestSilentMisconfigurationStopsStartup(t *testing.T) {
	for _, c := range []struct {
		name string
		set  map[string]string
		want string
	}{
		{"guest table typo", map[string]string{"GUESTS": "owner:list"}, `GUESTS: owner:list names table "list", which clients cannot write`},
		{"undeclared setting", map[string]string{"GUESTS": "owner:lists", "GUEST_SETTINGS": "owner.feild:owner_id"}, "GUEST_SETTINGS: owner.feild: guest owner does not read this setting (it declares owner.field"},
		{"setting for a guest not configured", map[string]string{"GUESTS": "owner:lists", "GUEST_SETTINGS": "normalize.lower:name"}, `guest "normalize" is not in GUESTS`},
	} {
		t.Run(c.name, func(t *testing.T) {
			env := schemaEnv(t)
			for k, v := range c.set {
				env[k] = v
			}
			code, stderr := runCommand(t, env, "serve")
			if code == 0 || !strings.Contains(stderr, c.want) {
				t.Fatalf("exit %d, want non-zero with %q in:\n%s", code, c.want, stderr)
			}
		})
	}
}

// TestAllowListRule: UPLOAD_TABLES adds to the tables with a schema (its
// tables pass the gate unchecked); SCHEMA_UNKNOWN_TABLE=allow alone has no
// effect and says so at start-up and on /readyz (issue #20 item 2).
func TestAllowListRule(t *testing.T) {
	env := schemaEnv(t)
	env["UPLOAD_TABLES"] = "comments"
	a := start(t, env)
	res := uploadResult(t, postUpload(t, a, "", `{"batch":[
		{"op":"PUT","table":"lists","id":"`+listA+`","data":{"name":"Groceries","owner_id":"u1"}},
		{"op":"PUT","table":"comments","id":"c1","data":{"anything":"goes"}},
		{"op":"PUT","table":"lists","id":"bad","data":{"name":5}}]}`))
	if res.Applied != 2 || len(res.Rejected) != 1 || res.Rejected[0].Code != "schema_violation" {
		t.Fatalf("want lists (schema) and comments (UPLOAD_TABLES) writable, lists still checked: %+v", res)
	}
	if r := postUpload(t, a, "", `{"batch":[{"op":"PUT","table":"other","id":"x","data":{}}]}`); r.status != 200 || rejectionCode(t, r, 0) != "table_not_allowed" {
		t.Fatalf("a table in neither: %d %s", r.status, r.body)
	}

	env = schemaEnv(t)
	env["SCHEMA_UNKNOWN_TABLE"] = "allow"
	a = start(t, env)
	const want = "SCHEMA_UNKNOWN_TABLE=allow has no effect"
	if w := strings.Join(anyStrings(get(t, a.url+"/readyz").json(t)["warnings"]), "\n"); !strings.Contains(w, want) {
		t.Fatalf("/readyz warnings %q do not contain %q", w, want)
	}
	// The warning is logged right after the load that made /readyz ready.
	waitFor(t, 10*time.Second, func() bool { return strings.Contains(a.logs.String(), want) })
}

// TestEmbeddedDatabaseAddress: the embedded database listens where
// DEV_DB_ADDR says, and the connection string is logged and on /readyz; a
// busy address names the variable (issue #20 item 8).
func TestEmbeddedDatabaseAddress(t *testing.T) {
	if realMongo() {
		t.Skip("the embedded database is not used against SYNCGATE_TEST_MONGO_URI")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	env := baseEnv(t)
	delete(env, "MONGO_URI")
	env["SYNCGATE_DIR"] = t.TempDir()
	env["DEV_DB_ADDR"] = addr
	if code, stderr := runCommand(t, env, "serve"); code == 0 || !strings.Contains(stderr, "DEV_DB_ADDR: devdb: cannot listen on "+addr) {
		t.Fatalf("a busy DEV_DB_ADDR: exit %d\n%s", code, stderr)
	}
	l.Close()
	env["GUESTS_DIR"] = filepath.Join(env["SYNCGATE_DIR"], "none") // no schemas, no guests: nothing to compile
	a := start(t, env)
	uri := fmt.Sprintf("mongodb://%s/", addr)
	db, _ := get(t, a.url+"/readyz").json(t)["database"].(map[string]any)
	if db["uri"] != uri {
		t.Fatalf("/readyz database %v, want uri %s", db, uri)
	}
	if !strings.Contains(a.logs.String(), "connect mongosh or MongoDB Compass to "+uri) {
		t.Fatalf("start-up does not print the connection string:\n%s", a.logs.String())
	}
}
