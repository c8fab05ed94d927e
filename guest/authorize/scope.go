package main

import (
	"github.com/syncgate/syncgate/guest"
	"github.com/syncgate/syncgate/guest/authorize/syncscope"
	"github.com/syncgate/syncgate/guest/raw"
)

// checkScope decides the op by the PowerSync sync config: the write must
// keep the document inside the writer's own scope (a new document after
// the write; a PATCH, or a PUT over a stored document, before and after; a
// DELETE before). The parents it reads (a todo's list) come with the op
// (Op.Parents), as the host looked them up for the References the guest
// declared. A denial names the stream or bucket and the failed condition.
// A table the sync config syncs only openly (a global bucket) is denied
// unless rules files allowed the write: with rules, they decide it.
func (a *authorizer) checkScope(op *guest.Op) guest.Verdict {
	in := syncscope.Input{Op: string(op.Op), Table: op.Table, ID: op.ID,
		User: syncscope.User{ID: op.Caller.UserID, Claims: op.Caller.Claims}}
	var err error
	if op.Exists {
		if in.Before, err = rowMap(op.RawCurrent, op.Current); err != nil {
			return guest.Reject("forbidden", "authorize: stored document: "+err.Error())
		}
	}
	if op.Op != guest.OpDelete {
		data, err := rowMap(op.RawData, op.Data)
		if err != nil {
			return guest.Reject("forbidden", "authorize: data: "+err.Error())
		}
		after := data
		if op.Op == guest.OpPatch && in.Before != nil {
			after = make(map[string]any, len(in.Before)+len(data))
			for k, v := range in.Before {
				after[k] = v
			}
			for k, v := range data {
				after[k] = v
			}
		}
		in.After = after
	}
	// The host sent only the parents this op's values name; the check
	// compares each with SQLite's equality itself, so all of them go.
	in.Parents = func(table, _ string, _ any) []map[string]any { return op.Parents[table] }
	d := a.scope.Check(in)
	if !d.Allow && d.Open && a.rules != nil {
		// An open table's writes are the rules' to decide, and the rules
		// check, which runs first, allowed this one.
		return guest.Accept()
	}
	if !d.Allow {
		reason := "sync scope: " + d.Reason
		if d.Stream != "" {
			reason += " (" + d.Stream
			if d.Condition != "" {
				reason += ": " + d.Condition
			}
			reason += ")"
		}
		return guest.Reject("forbidden", reason)
	}
	return guest.Accept()
}

// rowMap is a row as a map: the SDK's decoded map, or the raw row text
// decoded (the guest reads rows raw for the rules).
func rowMap(rawRow []byte, decoded map[string]any) (map[string]any, error) {
	if decoded != nil || len(rawRow) == 0 {
		if decoded == nil {
			return map[string]any{}, nil
		}
		return decoded, nil
	}
	return raw.DecodeObject(rawRow)
}
