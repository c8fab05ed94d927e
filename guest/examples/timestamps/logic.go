package main

import (
	"time"

	"github.com/syncgate/syncgate/guest"
)

// handle sets updated_at on PUT and PATCH, and created_at on a PUT of a
// document that does not exist yet when the client did not send one. The
// time is the host's (Op.Now): guests have no clock of their own.
func handle(op *guest.Op) guest.Verdict {
	if op.Op == guest.OpDelete {
		return guest.Accept()
	}
	now := op.Now.UTC().Format(time.RFC3339Nano)
	data := make(map[string]any, len(op.Data)+2)
	for k, v := range op.Data {
		data[k] = v
	}
	data["updated_at"] = now
	if op.Op == guest.OpPut {
		if created, ok := op.Current["created_at"]; op.Exists && ok {
			data["created_at"] = created // a PUT replaces: keep the first creation time
		} else if _, ok := data["created_at"]; !ok {
			data["created_at"] = now
		}
	}
	return guest.Replace(data)
}
