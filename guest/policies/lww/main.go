// Command lww is the last-write-wins conflict policy: a write whose
// timestamp is older than the stored document's loses. See README.md.
package main

import (
	"github.com/syncgate/syncgate/guest"
	"github.com/syncgate/syncgate/guest/policies/internal/setting"
)

func init() {
	guest.Register(guest.Info{Name: "lww", Kind: guest.KindPolicy, NeedsCurrent: true, Settings: setting.Declare(known)}, handle)
	guest.CheckSettings(check)
}

func main() {}
