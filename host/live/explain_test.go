package live

import (
	"os"
	"strings"
	"testing"

	"github.com/syncgate/syncgate/guest/authorize/appsrules"
	"github.com/syncgate/syncgate/guest/authorize/syncscope"
)

// TestExplain: the decision `rules explain` and the admin console share —
// no rules allow (and say why), bad ops are errors, the rules' and the
// scope's checks are both shown and both must allow.
func TestExplain(t *testing.T) {
	e, err := Explain(nil, "", nil, "", ExplainInput{Op: ExplainOp{Op: "delete", Table: "lists", ID: "l1"}})
	if err != nil || !e.Allow || len(e.Checks) != 0 || !strings.Contains(e.Reason, "no write rules") {
		t.Fatalf("no rules: %+v %v", e, err)
	}
	for _, c := range []struct {
		op   ExplainOp
		want string
	}{
		{ExplainOp{Op: "GET", Type: "lists", ID: "x"}, `op: op "GET" is not PUT, PATCH or DELETE`},
		{ExplainOp{Op: "PUT", ID: "x"}, "op: no type (the table)"},
		{ExplainOp{Op: "PUT", Type: "lists"}, "op: no id"},
	} {
		if _, err := Explain(nil, "", nil, "", ExplainInput{Op: c.op}); err == nil || err.Error() != c.want {
			t.Errorf("%+v: %v, want %q", c.op, err, c.want)
		}
	}
	set, err := appsrules.Load(os.DirFS("../../examples/authorization/rules"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("../../guest/authorize/syncscope/testdata/todo-streams.yaml")
	if err != nil {
		t.Fatal(err)
	}
	scope, err := syncscope.Parse("todo-streams.yaml", b)
	if err != nil {
		t.Fatal(err)
	}
	// alice's todo in bob's list shared with her: the rules allow (she
	// created it, in a list she is a member of: %%parent.list), the scope
	// denies (the demo's streams sync only the owner's lists).
	in := ExplainInput{User: "alice", Op: ExplainOp{Op: "PUT", Type: "todos", ID: "t1", Data: map[string]any{"list_id": "L2", "created_by": "alice"}},
		Parents: map[string][]map[string]any{"lists": {{"_id": "L2", "owner_id": "bob", "members": []any{"alice"}}}}}
	e, err = Explain(set, "rules", scope, "sync.yaml", in)
	if err != nil || e.Allow || len(e.Checks) != 2 || !e.Checks[0].Allow || e.Checks[1].Allow ||
		e.Checks[0].Source != "rules" || e.Checks[1].Source != "sync.yaml" || !strings.HasPrefix(e.Reason, "sync scope: list_todos") {
		t.Fatalf("todo in bob's list: %+v %v", e, err)
	}
	in.Op.Data["list_id"] = "L1"
	in.Parents = map[string][]map[string]any{"lists": {{"_id": "L1", "owner_id": "alice"}}}
	if e, err = Explain(set, "rules", scope, "sync.yaml", in); err != nil || !e.Allow || !strings.Contains(e.Reason, "; sync scope: ") {
		t.Fatalf("todo in her list: %+v %v", e, err)
	}
	// The stored document's id is not a field the write changes.
	cur := map[string]any{"id": "l1", "_id": "l1", "owner_id": "alice", "name": "a"}
	e, err = Explain(set, "rules", nil, "", ExplainInput{User: "alice", Op: ExplainOp{Op: "PATCH", Type: "lists", ID: "l1", Data: map[string]any{"name": "b"}}, Current: cur})
	if err != nil || !e.Allow || cur["_id"] != "l1" {
		t.Fatalf("owner's rename: %+v %v (current %v)", e, err, cur)
	}
}
