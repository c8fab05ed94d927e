// Command version is the optimistic-concurrency conflict policy: a write
// based on an older version of the document than the stored one loses. See
// README.md.
package main

import (
	"github.com/syncgate/syncgate/guest"
	"github.com/syncgate/syncgate/guest/policies/internal/setting"
)

func init() {
	guest.Register(guest.Info{Name: "version", Kind: guest.KindPolicy, NeedsCurrent: true, Settings: setting.Declare(known)}, handle)
	guest.CheckSettings(check)
}

func main() {}
