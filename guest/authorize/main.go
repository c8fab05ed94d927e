// Command authorize is the stock write-authorization guest: it decides every
// PUT, PATCH and DELETE by App Services rules files (guest/authorize/appsrules)
// that the host mounts read-only at /rules. It reads them once per instance,
// at start-up; a rules change needs no rebuild: the host reloads and new
// instances read the new files. See README.md and docs/authorization.md.
package main

import (
	"os"

	"github.com/syncgate/syncgate/guest"
)

func init() {
	a, err := newAuthorizer(os.DirFS(RulesMount))
	if err != nil {
		guest.Register(info, nil)
		guest.SetInitError(err)
		return
	}
	guest.Register(info, a.handle, guest.RawData())
}

func main() {}
