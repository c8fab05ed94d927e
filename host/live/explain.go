package live

import (
	"errors"
	"fmt"
	"maps"
	"strings"

	"github.com/syncgate/syncgate/guest/authorize/appsrules"
	"github.com/syncgate/syncgate/guest/authorize/syncscope"
)

// Explaining a write: `syncgate rules explain` (files on disk) and the
// admin console (the live set) decide one op as the authorize guest would
// and show each check's path. Both call Explain.

// ExplainOp is the write to explain: a PowerSync CRUD entry (type is the
// table; table is accepted too).
type ExplainOp struct {
	Op    string         `json:"op"`
	Type  string         `json:"type"`
	Table string         `json:"table"`
	ID    string         `json:"id"`
	Data  map[string]any `json:"data"`
}

// ExplainInput is one write and its context. Values are what
// encoding/json decodes with UseNumber (as the guest sees them).
type ExplainInput struct {
	User string
	// Claims are the token's claims (%%user.data; its custom_data is
	// %%user.custom_data); nil: none.
	Claims map[string]any
	Op     ExplainOp
	// Current is the stored document; nil: the write is an insert.
	Current map[string]any
	// Parents are the parent documents the host would look up, by
	// collection: the sync scope's, and the rules' %%parent
	// (x-syncgate-parents).
	Parents map[string][]map[string]any
}

// Check is one check's answer: the rules' or the sync scope's.
type Check struct {
	Check  string   `json:"check"`  // "rules" or "sync scope"
	Source string   `json:"source"` // RULES_DIR or SYNC_CONFIG
	Trace  []string `json:"trace"`
	Allow  bool     `json:"allow"`
	Reason string   `json:"reason"`
}

// Explanation is the decision: allowed when every check allows.
type Explanation struct {
	Checks []Check `json:"checks"`
	Allow  bool    `json:"allow"`
	// Reason is each check's reason for allowing, or the first denial.
	Reason string `json:"reason"`
}

// Explain decides in with the rules set (from rulesDir) and the sync
// scope (from syncPath); either may be nil. With neither, every write is
// allowed (no write rules). An error is in's fault: op not PUT, PATCH or
// DELETE, no table or no id.
func Explain(set *appsrules.Set, rulesDir string, scope *syncscope.Config, syncPath string, in ExplainInput) (Explanation, error) {
	op := in.Op
	if op.Type == "" {
		op.Type = op.Table
	}
	op.Op = strings.ToUpper(op.Op)
	switch {
	case op.Op != "PUT" && op.Op != "PATCH" && op.Op != "DELETE":
		return Explanation{}, fmt.Errorf("op: op %q is not PUT, PATCH or DELETE", op.Op)
	case op.Type == "":
		return Explanation{}, errors.New("op: no type (the table)")
	case op.ID == "":
		return Explanation{}, errors.New("op: no id")
	}
	var e Explanation
	var allows []string // each check's reason for allowing
	denial := ""        // the first check's reason for denying
	if set == nil && scope == nil {
		e.Allow = true
		e.Reason = "no write rules (RULES_DIR has none, AUTHORIZE has no sync-scope): any authenticated user may write"
		return e, nil
	}
	if set != nil {
		ain := appsrules.Input{Op: op.Op, Table: op.Type, ID: op.ID, Data: appsrules.Map(op.Data),
			User: appsrules.UserOf(in.User, in.Claims), Parents: in.Parents}
		if in.Current != nil {
			cur := maps.Clone(in.Current)
			delete(cur, "id")
			delete(cur, "_id")
			ain.Current, ain.Exists = appsrules.Map(cur), true
		}
		d := set.Explain(ain)
		e.Checks = append(e.Checks, Check{Check: "rules", Source: rulesDir, Trace: d.Trace, Allow: d.Allow, Reason: d.Reason})
		if d.Allow {
			allows = append(allows, d.Reason)
		} else {
			denial = d.Reason
		}
	}
	if scope != nil {
		sin := syncscope.Input{Op: op.Op, Table: op.Type, ID: op.ID, User: syncscope.User{ID: in.User, Claims: in.Claims}, Explain: true,
			Parents: func(table, _ string, _ any) []map[string]any { return in.Parents[table] }}
		if in.Current != nil {
			sin.Before = in.Current
		}
		if op.Op != "DELETE" {
			after := map[string]any{}
			if op.Op == "PATCH" {
				maps.Copy(after, in.Current)
			}
			maps.Copy(after, op.Data)
			sin.After = after
		}
		d := scope.Check(sin)
		where := d.Stream
		if d.Condition != "" {
			where += ": " + d.Condition
		}
		why := strings.TrimPrefix(where+"; "+d.Reason, "; ")
		e.Checks = append(e.Checks, Check{Check: "sync scope", Source: syncPath, Trace: d.Trace, Allow: d.Allow, Reason: why})
		if d.Allow {
			allows = append(allows, "sync scope: "+why)
		} else if denial == "" {
			denial = "sync scope: " + why
		}
	}
	e.Allow = denial == ""
	e.Reason = denial
	if e.Allow {
		e.Reason = strings.Join(allows, "; ")
	}
	return e, nil
}

// Explain decides in with this set's write rules, as its authorize guest
// does (see the package-level Explain).
func (r *Rules) Explain(in ExplainInput) (Explanation, error) {
	return Explain(r.auth.rules, r.auth.dir, r.auth.scope, r.auth.syncPath, in)
}

// Authorization returns the set's write rules: the RULES_DIR set and the
// sync scope, each nil when absent, with the folder and file they came
// from.
func (r *Rules) Authorization() (set *appsrules.Set, dir string, scope *syncscope.Config, syncPath string) {
	return r.auth.rules, r.auth.dir, r.auth.scope, r.auth.syncPath
}
