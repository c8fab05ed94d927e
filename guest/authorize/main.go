// Command authorize is the stock write-authorization guest: it decides every
// PUT, PATCH and DELETE by App Services rules files (guest/authorize/appsrules)
// that the host mounts read-only at /rules. It reads them once per instance,
// at start-up; a rules change needs no rebuild: the host reloads and new
// instances read the new files. See README.md and docs/authorization.md.
package main

import (
	"fmt"
	"io/fs"
	"os"
	"path"

	"github.com/syncgate/syncgate/guest"
)

func init() {
	var rules fs.FS
	if st, err := os.Stat(RulesMount); err == nil && st.IsDir() {
		rules = os.DirFS(RulesMount)
	}
	// The sandbox has no root folder: a path outside the mounts is not
	// "not exist" but a bad descriptor, so look for the mount first.
	var syncYAML []byte
	if st, err := os.Stat(path.Dir(SyncConfig)); err == nil && st.IsDir() {
		if syncYAML, err = os.ReadFile(SyncConfig); err != nil {
			guest.Register(info, nil)
			guest.SetInitError(fmt.Errorf("authorize: %w", err))
			return
		}
	}
	a, err := newAuthorizer(rules, syncYAML)
	if err != nil {
		guest.Register(info, nil)
		guest.SetInitError(err)
		return
	}
	i := info
	i.References = a.references()
	i.CurrentFields = a.currentFields()
	guest.Register(i, a.handle, guest.RawData())
}

func main() {}
