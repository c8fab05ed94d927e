// Command transitions is the state-machine conflict policy: a field may only
// move along the transitions its settings allow. See README.md.
package main

import "github.com/syncgate/syncgate/guest"

func init() {
	guest.Register(guest.Info{Name: "transitions", NeedsCurrent: true}, handle)
	guest.CheckSettings(check)
}

func main() {}
