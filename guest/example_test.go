package guest_test

import (
	"errors"
	"fmt"
	"strings"

	"github.com/syncgate/syncgate/guest"
)

// A Request in the JSON form, as the host sends it to a guest built before
// the rows form (Process reads both; abi describes them).
const request = `{"abi":1,"request_id":"r1","now":"2026-01-02T03:04:05Z","caller":{"user_id":"alice"},
	"ops":[{"index":0,"op":"PUT","table":"todos","id":"t1","data":{"description":"milk"}},
	       {"index":1,"op":"DELETE","table":"todos","id":"t2"}]}`

func ExampleRegister() {
	// In a guest's init: its Info and its handler.
	guest.Register(guest.Info{Name: "no-deletes"}, func(op *guest.Op) guest.Verdict {
		if op.Op == guest.OpDelete {
			return guest.Reject("forbidden", "todos are never deleted")
		}
		return guest.Accept()
	})
	fmt.Printf("%s\n", guest.Process([]byte(request)))
	// Output: {"verdicts":[{"index":0},{"index":1,"reject":true,"code":"forbidden","reason":"todos are never deleted"}]}
}

func ExampleProcess() {
	// A native test runs a handler exactly as the host would, without
	// registering it.
	upper := func(op *guest.Op) guest.Verdict {
		if d, ok := op.Data["description"].(string); ok {
			return guest.Replace(map[string]any{"description": strings.ToUpper(d)})
		}
		return guest.Accept()
	}
	fmt.Printf("%s\n", guest.Process([]byte(request), guest.Handler(upper)))
	// Output: {"verdicts":[{"index":0,"data":{"description":"MILK"}},{"index":1}]}
}

func ExampleRawData() {
	// A handler that reads the row's bytes, not a map.
	length := func(op *guest.Op) guest.Verdict {
		m := op.DataMembers()
		for m.Next() {
			if s, _, isStr := m.String(); string(m.Key()) == "description" && isStr && len(s) > 3 {
				return guest.Rejectf("%s: description too long", op.ID)
			}
		}
		return guest.Accept()
	}
	fmt.Printf("%s\n", guest.Process([]byte(request), guest.Handler(length), guest.RawData()))
	// Output: {"verdicts":[{"index":0,"reject":true,"code":"rejected","reason":"t1: description too long"},{"index":1}]}
}

func ExampleAccept() {
	v := guest.Accept()
	fmt.Println(v.Reject, v.Data == nil)
	// Output: false true
}

func ExampleReplace() {
	v := guest.Replace(map[string]any{"title": "Shop"})
	fmt.Println(v.Reject, v.Data["title"])
	// Output: false Shop
}

func ExampleReject() {
	v := guest.Reject("forbidden", "lists belong to their owner")
	fmt.Println(v.Reject, v.Code, v.Reason)
	// Output: true forbidden lists belong to their owner
}

func ExampleRejectf() {
	v := guest.Rejectf("%s must not be empty", "title")
	fmt.Println(v.Code, v.Reason)
	// Output: rejected title must not be empty
}

func ExampleRejectTransaction() {
	v := guest.RejectTransaction("unbalanced", "an order needs its lines")
	fmt.Println(v.Reject, v.RejectTx, v.Code)
	// Output: true true unbalanced
}

func ExampleConflict() {
	v := guest.Conflict("lww", "log", "a newer write is stored")
	fmt.Println(v.Code, v.Rule, v.OnConflict)
	// Output: conflict lww log
}

func ExampleCheckSettings() {
	guest.CheckSettings(func(s map[string]string) error {
		if s["field"] == "" {
			return errors.New("field: not set")
		}
		return nil
	})
	defer guest.CheckSettings(nil)
	fmt.Printf("%s\n", guest.Process([]byte(`{"abi":1,"ops":[]}`), guest.Handler(func(*guest.Op) guest.Verdict { return guest.Accept() })))
	// Output: {"verdicts":null,"error":"settings: field: not set"}
}
