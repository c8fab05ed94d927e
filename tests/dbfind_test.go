package tests

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// TestDBFind (issue 29 item 7): ./bin/syncgate db find TABLE [ID] shows the
// stored data without mongosh, as a client sees it.
func TestDBFind(t *testing.T) {
	a := start(t, schemaEnv(t))
	env := schemaEnv(t)
	env["MONGO_DATABASE"] = a.db
	res := uploadResult(t, postUpload(t, a, "", `{"batch":[
		{"op":"PUT","table":"lists","id":"`+listA+`","data":{"name":"Groceries","owner_id":"u1","created_at":"2024-05-01 10:00:00"}},
		{"op":"PUT","table":"lists","id":"`+todoA+`","data":{"name":"Work","owner_id":"u1"}}]}`))
	if res.Applied != 2 {
		t.Fatalf("upload: %+v", res)
	}
	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := cliRun(t, env, &out, &errb, append([]string{"db", "find"}, args...)...)
		return code, out.String(), errb.String()
	}
	code, out, errs := run("lists")
	var docs []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &docs) != nil || len(docs) != 2 || docs[0]["id"] != listA || docs[0]["name"] != "Groceries" {
		t.Fatalf("db find lists: exit %d\n%s\n%s", code, out, errs)
	}
	code, out, errs = run("lists", "--limit", "1")
	if code != 0 || strings.Count(out, `"id"`) != 1 || !strings.Contains(errs, "1 of 2 documents (--limit 1)") {
		t.Fatalf("--limit 1: exit %d\n%s\n%s", code, out, errs)
	}
	code, out, errs = run("lists", todoA)
	var doc map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &doc) != nil || doc["id"] != todoA || doc["name"] != "Work" {
		t.Fatalf("db find lists ID: exit %d\n%s\n%s", code, out, errs)
	}
	if code, _, errs := run("lists", "missing"); code != 1 || !strings.Contains(errs, "db find: lists/missing: no such document") {
		t.Fatalf("missing id: exit %d %s", code, errs)
	}
	for _, args := range [][]string{{}, {"a", "b", "c"}, {"lists", "--limit", "0"}, {"$bad"}} {
		if code, _, errs := run(args...); code != 2 || !strings.Contains(errs, "db find:") {
			t.Errorf("db find %v: exit %d %s", args, code, errs)
		}
	}
}
