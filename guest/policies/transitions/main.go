// Command transitions is the state-machine conflict policy: a field may only
// move along the transitions its settings allow. See README.md.
package main

import "github.com/syncgate/syncgate/guest"

func init() {
	// Its keys are field names: any key, checked by its own check.
	guest.Register(guest.Info{Name: "transitions", Kind: guest.KindPolicy, NeedsCurrent: true, Settings: []string{"*"}}, handle)
	guest.CheckSettings(check)
}

func main() {}
