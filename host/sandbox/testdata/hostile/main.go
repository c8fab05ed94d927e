// Command hostile is a test guest that misbehaves on demand: the op's table
// names the misbehaviour (or, for rejecttx, a verdict to test). It is built by the sandbox tests.
package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/syncgate/syncgate/guest"
)

var sink [][]byte

func handle(op *guest.Op) guest.Verdict {
	switch op.Table {
	case "loop":
		for {
		}
	case "alloc":
		for {
			sink = append(sink, make([]byte, 1<<20))
		}
	case "panic":
		panic("hostile guest panics")
	case "nil":
		var m map[string]*int
		return guest.Reject("x", fmt.Sprint(*m["x"]))
	case "bigoutput":
		return guest.Replace(map[string]any{"s": strings.Repeat("x", 256<<10)})
	case "stdout":
		chunk := strings.Repeat("y", 1<<16)
		for range 64 { // 4 MiB
			fmt.Print(chunk)
		}
		return guest.Accept()
	case "files":
		for _, p := range []string{"/etc/passwd", "/", "/tmp/x"} {
			if f, err := os.Open(p); err == nil {
				f.Close()
				return guest.Rejectf("opened %s", p)
			}
		}
		if err := os.WriteFile("/tmp/owned", []byte("x"), 0o644); err == nil {
			return guest.Rejectf("wrote a file")
		}
		return guest.Accept()
	case "env":
		if len(os.Environ()) > 0 || len(os.Args) > 1 {
			return guest.Rejectf("saw env %v args %v", os.Environ(), os.Args)
		}
		return guest.Accept()
	case "clock":
		// The host gives no real clock: wazero's fake starts at 2022-01-01
		// and only ticks forward by tiny steps.
		if time.Now().After(time.Date(2022, 1, 2, 0, 0, 0, 0, time.UTC)) {
			return guest.Rejectf("saw the real clock: %s", time.Now())
		}
		return guest.Accept()
	case "rejecttx": // not hostile: refuses its whole client transaction
		if op.ID == "bad" {
			return guest.RejectTransaction("bad_tx", "the transaction holds a bad op")
		}
		return guest.Accept()
	case "badid":
		return guest.Replace(map[string]any{"_id": "other"})
	case "operator":
		return guest.Replace(map[string]any{"$set": map[string]any{"admin": true}})
	}
	return guest.Accept()
}

func init() {
	// Given a /hang folder, the guest never finishes initialising.
	if _, err := os.Stat("/hang"); err == nil {
		for {
		}
	}
	guest.Register(guest.Info{Name: "hostile"}, handle)
}

func main() {}
