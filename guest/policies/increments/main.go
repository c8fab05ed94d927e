// Command increments is the counter-merging conflict policy: a PATCH of a
// counter adds the client's change (new − old) instead of overwriting it.
// See README.md.
package main

import (
	"github.com/syncgate/syncgate/guest"
	"github.com/syncgate/syncgate/guest/policies/internal/setting"
)

func init() {
	guest.Register(guest.Info{Name: "increments", Kind: guest.KindPolicy, Settings: setting.Declare(known)}, handle)
	guest.CheckSettings(check)
}

func main() {}
