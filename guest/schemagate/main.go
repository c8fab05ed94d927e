// Command schemagate is the stock guest that enforces schemas/<table>.json
// on every PUT and PATCH. It reads the schemas at start-up from the
// read-only mount /schemas, so a schema change needs no rebuild: reload the
// host (SIGHUP) and new instances read the new files.
package main

import (
	"os"

	"github.com/syncgate/syncgate/guest"
)

func init() {
	g, err := newGate(os.DirFS("/schemas"))
	if err != nil {
		guest.Register(guest.Info{Name: "schemagate", NeedsCurrent: false, Settings: []string{"unknown_table"}}, nil)
		guest.SetInitError(err)
		return
	}
	guest.Register(guest.Info{Name: "schemagate", NeedsCurrent: false, Settings: []string{"unknown_table"}}, g.handle, guest.RawData())
}

func main() {}
