package main

import (
	"fmt"

	"github.com/syncgate/syncgate/guest"
)

// defaultField is the owner field when the "field" setting is not given:
// owner_id, as the PowerSync to-do demo's lists table has it.
const defaultField = "owner_id"

// handle stamps the caller as owner on PUT and refuses changes to documents
// someone else owns. Ownership is read from the stored document (the host
// fetches it: NeedsCurrent), never from what the client sent.
func handle(op *guest.Op) guest.Verdict {
	field := op.Settings["field"]
	if field == "" {
		field = defaultField
	}
	user := op.Caller.UserID
	if user == "" {
		return guest.Reject("forbidden", "writes need an authenticated user")
	}
	if op.Exists {
		if owner, _ := op.Current[field].(string); owner != "" && owner != user {
			return guest.Reject("forbidden", fmt.Sprintf("%s %s belongs to another user", op.Table, op.ID))
		}
	}
	switch op.Op {
	case guest.OpPut:
		if v, ok := op.Data[field]; ok && v != user {
			return guest.Reject("forbidden", fmt.Sprintf("%s must be the caller's user id", field))
		}
		data := make(map[string]any, len(op.Data)+1)
		for k, v := range op.Data {
			data[k] = v
		}
		data[field] = user
		return guest.Replace(data)
	case guest.OpPatch:
		if v, ok := op.Data[field]; ok && v != user {
			return guest.Reject("forbidden", fmt.Sprintf("%s cannot be given to another user", field))
		}
	}
	return guest.Accept()
}
