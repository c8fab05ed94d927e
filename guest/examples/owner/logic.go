package main

import (
	"fmt"
	"strings"

	"github.com/syncgate/syncgate/guest"
)

// defaultField is the owner field when the "field" setting is not given:
// owner_id, as the PowerSync to-do demo's lists table has it.
const defaultField = "owner_id"

// settings is what the guest reads, each for every table (owner.key) or
// one (owner.TABLE.key, which wins).
var settings = []string{"field", "*.field", "claim_unowned", "*.claim_unowned"}

// setting is key's value for op's table: TABLE.key, else key.
func setting(op *guest.Op, key string) string {
	if v, ok := op.Settings[op.Table+"."+key]; ok {
		return v
	}
	return op.Settings[key]
}

// checkSettings refuses a claim_unowned that is not true or false.
func checkSettings(s map[string]string) error {
	for k, v := range s {
		if (k == "claim_unowned" || strings.HasSuffix(k, ".claim_unowned")) && v != "true" && v != "false" {
			return fmt.Errorf("owner.%s: want true or false, got %q", k, v)
		}
	}
	return nil
}

// handle stamps the caller as owner on PUT and refuses changes to documents
// someone else owns. Ownership is read from the stored document (the host
// fetches it: NeedsCurrent), never from what the client sent. A stored
// document without an owner value is nobody's: changing it (which would
// make the caller its owner, or let anyone edit it) is refused unless
// claim_unowned is true.
func handle(op *guest.Op) guest.Verdict {
	field := setting(op, "field")
	if field == "" {
		field = defaultField
	}
	user := op.Caller.UserID
	if user == "" {
		return guest.Reject("forbidden", "writes need an authenticated user")
	}
	if op.Exists {
		owner, _ := op.Current[field].(string)
		switch {
		case owner == "" && setting(op, "claim_unowned") != "true":
			return guest.Reject("forbidden", fmt.Sprintf("%s %s has no %s, so nobody may change it (owner.claim_unowned:true lets the first writer claim it)", op.Table, op.ID, field))
		case owner != "" && owner != user:
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
