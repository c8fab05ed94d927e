// Command authorize is the stock write-authorization guest: it decides every
// PUT, PATCH and DELETE by App Services rules files (guest/authorize/appsrules)
// that the host mounts read-only at /rules. It reads them once per instance,
// at start-up; a rules change needs no rebuild: the host reloads and new
// instances read the new files. See README.md and docs/authorization.md.
package main

import (
	"errors"
	"io/fs"
	"os"

	"github.com/syncgate/syncgate/guest"
)

func init() {
	var rules fs.FS
	if st, err := os.Stat(RulesMount); err == nil && st.IsDir() {
		rules = os.DirFS(RulesMount)
	}
	syncYAML, err := os.ReadFile(SyncConfig)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		guest.Register(info, nil)
		guest.SetInitError(err)
		return
	}
	a, err := newAuthorizer(rules, syncYAML)
	if err != nil {
		guest.Register(info, nil)
		guest.SetInitError(err)
		return
	}
	i := info
	i.References = a.references()
	guest.Register(i, a.handle, guest.RawData())
}

func main() {}
