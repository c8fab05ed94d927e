package cli_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/syncgate/syncgate/host/cli"
)

// run runs the syncgate command with env as its whole environment.
func run(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = cli.Run(t.Context(), args, func(k string) string { return env[k] }, &out, &errb)
	return code, out.String(), errb.String()
}

const demoRules = "../../examples/authorization/rules"

func TestRulesCheck(t *testing.T) {
	code, out, errOut := run(t, map[string]string{"RULES_DIR": demoRules, "SCHEMAS_DIR": "../../schemas"}, "rules", "check")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"2 table(s) with their own roles, default roles: false",
		"  lists (lists.json): owner → member",
		"  todos (todos.json): creator",
		"  every other table: no rules (writes denied)",
		"ignored: lists.json: /roles/0/document_filters/read",
		"parent (x-syncgate-parents, syncgate extension): todos: %%parent.list is the lists document whose _id equals todos.list_id",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "lists.json"), []byte(`{"roles": [{"name": "r", "apply_when": {"owner_id": {"$regex": "^a"}}}]}`), 0o644)
	os.WriteFile(filepath.Join(dir, "todos.json"), []byte("{\n  \"roles\": [\n}"), 0o644)
	code, out, errOut = run(t, map[string]string{"RULES_DIR": dir}, "rules", "check")
	if code != 1 {
		t.Fatalf("broken rules: exit %d, want 1\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		dir + "/lists.json: /roles/0/apply_when/owner_id/$regex: unknown operator $regex",
		dir + "/todos.json: invalid JSON at line 3, column 1",
		"has 2 problem(s)",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}

	if code, _, errOut := run(t, map[string]string{"RULES_DIR": filepath.Join(dir, "nope")}, "rules", "check"); code != 1 || !strings.Contains(errOut, "is not a directory (set RULES_DIR)") {
		t.Fatalf("missing dir: exit %d: %s", code, errOut)
	}
	if code, _, errOut := run(t, map[string]string{"RULES_DIR": t.TempDir()}, "rules", "check"); code != 1 || !strings.Contains(errOut, "holds no rules file") {
		t.Fatalf("empty dir: exit %d: %s", code, errOut)
	}
	if code, _, _ := run(t, nil, "rules"); code != 2 {
		t.Fatalf("rules without a command: exit %d, want 2", code)
	}
	if code, _, _ := run(t, nil, "rules", "frobnicate"); code != 2 {
		t.Fatalf("unknown rules command: exit %d, want 2", code)
	}
}

func TestRulesCheckListsUncoveredTables(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "lists.json"), []byte(`{"roles": []}`), 0o644)
	os.WriteFile(filepath.Join(dir, "notes.json"), []byte(`{"roles": [{"name": "all", "apply_when": {}, "write": true, "insert": true, "delete": true}]}`), 0o644)
	code, out, errOut := run(t, map[string]string{"RULES_DIR": dir, "SCHEMAS_DIR": "../../schemas"}, "rules", "check")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "tables with a schema and no rules (every write to them is denied): lists, todos") {
		t.Fatalf("uncovered tables not listed:\n%s", out)
	}
	if !strings.Contains(out, "ignored: lists.json: defines no roles, so the default roles apply") {
		t.Fatalf("empty roles not reported:\n%s", out)
	}
}

func TestRulesExplain(t *testing.T) {
	env := map[string]string{"RULES_DIR": demoRules}
	cases := []struct {
		name  string
		args  []string
		code  int
		wants []string
	}{
		{"owner renames her list", []string{"--user", "alice", "--op", `{"op":"PATCH","type":"lists","id":"l1","data":{"name":"x"}}`, "--current", `{"id":"l1","owner_id":"alice","name":"a"}`}, 0,
			[]string{`role "owner": apply_when owner_id == %%user.id → true`, "document_filters.write on the stored document", `decision: allow (role "owner" allows this update)`}},
		{"member cannot delete", []string{"--user", "alice", "--claims", `{"sub":"alice"}`, "--op", `{"op":"DELETE","type":"lists","id":"l1"}`, "--current", `{"owner_id":"bob","members":["alice"]}`}, 1,
			[]string{`role "owner": apply_when owner_id == %%user.id → false`, `role "member": apply_when members == %%user.id → true`, `decision: deny, code forbidden: role "member": fields.members.write`}},
		{"insert for another owner", []string{"--user", "alice", "--op", `{"op":"put","table":"lists","id":"l2","data":{"owner_id":"bob","name":"x"}}`}, 1,
			[]string{"PUT lists l2: insert (nothing stored)", "decision: deny, code forbidden: no role: apply_when"}},
		{"custom_data claim, todo in her list", []string{"--user", "alice", "--claims", `{"custom_data":{"x":1}}`, "--op", `{"op":"PUT","type":"todos","id":"t1","data":{"created_by":"alice","completed_by":null,"list_id":"L1"}}`,
			"--parents", `{"lists":[{"_id":"L1","owner_id":"alice"}]}`}, 0,
			[]string{"parents list: todos.list_id = lists._id (1 document(s) given)", "decision: allow"}},
		{"todo in bob's list (rules' %%parent)", []string{"--user", "alice", "--op", `{"op":"PUT","type":"todos","id":"t1","data":{"created_by":"alice","list_id":"L2"}}`,
			"--parents", `{"lists":[{"_id":"L2","owner_id":"bob"}]}`}, 1,
			[]string{`%%parent.list.owner_id == %%user.id`, `decision: deny, code forbidden: role "creator": document_filters.write`}},
		{"todo without its list given", []string{"--user", "alice", "--op", `{"op":"PUT","type":"todos","id":"t1","data":{"created_by":"alice","list_id":"L1"}}`}, 1,
			[]string{`decision: deny, code forbidden: role "creator": document_filters.write`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out, errOut := run(t, env, append([]string{"rules", "explain"}, c.args...)...)
			if code != c.code {
				t.Fatalf("exit %d, want %d\n%s%s", code, c.code, out, errOut)
			}
			for _, w := range c.wants {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
	for _, bad := range []struct {
		args []string
		want string
	}{
		{[]string{"--user", "a"}, "--op is required"},
		{[]string{"--op", `{"op":"GET","type":"lists","id":"x"}`}, `op "GET" is not PUT, PATCH or DELETE`},
		{[]string{"--op", `{"op":"PUT","id":"x"}`}, "no type"},
		{[]string{"--op", `{"op":"PUT","type":"lists"}`}, "no id"},
		{[]string{"--op", `{"op":`}, "--op:"},
		{[]string{"--op", `{"op":"PUT","type":"lists","id":"x"}`, "--claims", `[1]`}, "--claims: want a JSON object"},
		{[]string{"--op", `{"op":"PUT","type":"lists","id":"x"}`, "--current", `null`}, "--current: want a JSON object"},
		{[]string{"--op", `{"op":"PUT","type":"lists","id":"x"}`, "extra"}, `unexpected argument "extra"`},
	} {
		code, _, errOut := run(t, env, append([]string{"rules", "explain"}, bad.args...)...)
		if code != 2 || !strings.Contains(errOut, bad.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", bad.args, code, errOut, bad.want)
		}
	}
}

// TestRulesExplainSyncScope: with AUTHORIZE=sync-scope, explain shows the
// scope's decision beside the role's, from the parents given; both must
// allow.
func TestRulesExplainSyncScope(t *testing.T) {
	env := map[string]string{"RULES_DIR": t.TempDir(), "AUTHORIZE": "sync-scope", "SYNC_CONFIG": "../../guest/authorize/syncscope/testdata/todo-streams.yaml"}
	bobs := `{"lists":[{"_id":"L2","owner_id":"bob"}]}`
	alices := `{"lists":[{"_id":"L1","owner_id":"alice"}]}`
	code, out, errOut := run(t, env, "rules", "explain", "--user", "alice", "--op", `{"op":"PUT","type":"todos","id":"t1","data":{"list_id":"L2"}}`, "--parents", bobs)
	if code != 1 || !strings.Contains(out, "sync scope (") || !strings.Contains(out, "scope: deny (list_todos") || !strings.Contains(out, "decision: deny, code forbidden: sync scope: list_todos") {
		t.Fatalf("todo into bob's list: exit %d\n%s\n%s", code, out, errOut)
	}
	if strings.Contains(out, "rules (") {
		t.Fatalf("no rules files, yet a rules decision:\n%s", out)
	}
	code, out, errOut = run(t, env, "rules", "explain", "--user", "alice", "--op", `{"op":"PUT","type":"todos","id":"t1","data":{"list_id":"L1"}}`, "--parents", alices)
	if code != 0 || !strings.Contains(out, "decision: allow (sync scope: ") {
		t.Fatalf("todo into her list: exit %d\n%s\n%s", code, out, errOut)
	}
	// With rules files too, both decisions are shown and both must allow.
	env["RULES_DIR"] = demoRules
	code, out, errOut = run(t, env, "rules", "explain", "--user", "alice", "--op", `{"op":"PUT","type":"lists","id":"L9","data":{"owner_id":"alice","name":"x"}}`)
	if code != 0 || !strings.Contains(out, "rules (") || !strings.Contains(out, "sync scope (") || !strings.Contains(out, "decision: allow (") {
		t.Fatalf("her own list: exit %d\n%s\n%s", code, out, errOut)
	}
	if code, _, errOut := run(t, env, "rules", "explain", "--user", "alice", "--op", `{"op":"PUT","type":"todos","id":"t1","data":{}}`, "--parents", `[1]`); code != 2 || !strings.Contains(errOut, "--parents") {
		t.Fatalf("bad --parents: exit %d %s", code, errOut)
	}
}

// TestRulesAttachments: rules check says attachments.json decides
// /attachments, and explain decides an attachment's write from its
// metadata as the host would (docs/authorization.md, "Attachments").
func TestRulesAttachments(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "attachments.json"), []byte(`{"roles": [{"name": "uploader", "apply_when": {"owner": "%%user.id"},
		"document_filters": {"write": {"owner": "%%user.id"}}, "write": true, "insert": true, "delete": true}]}`), 0o644)
	env := map[string]string{"RULES_DIR": dir}
	if code, out, errOut := run(t, env, "rules", "check"); code != 0 || !strings.Contains(out, "attachments (attachments.json): uploader (also decides PUT and DELETE of /attachments") {
		t.Fatalf("check: exit %d\n%s%s", code, out, errOut)
	}
	current := `{"owner":"alice","content_type":"image/jpeg","size":600,"sha256":"ab","uploaded":"2026-12-06T10:00:00Z"}`
	if code, out, _ := run(t, env, "rules", "explain", "--user", "bob", "--op", `{"op":"DELETE","type":"attachments","id":"f1"}`, "--current", current); code != 1 || !strings.Contains(out, "decision: deny, code forbidden: no role: apply_when") {
		t.Fatalf("bob deletes alice's file: exit %d\n%s", code, out)
	}
	if code, out, _ := run(t, env, "rules", "explain", "--user", "alice", "--op", `{"op":"DELETE","type":"attachments","id":"f1"}`, "--current", current); code != 0 {
		t.Fatalf("alice deletes her file: exit %d\n%s", code, out)
	}
}
