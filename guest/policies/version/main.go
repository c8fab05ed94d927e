// Command version is the optimistic-concurrency conflict policy: a write
// based on an older version of the document than the stored one loses. See
// README.md.
package main

import "github.com/syncgate/syncgate/guest"

func init() {
	guest.Register(guest.Info{Name: "version", NeedsCurrent: true}, handle)
	guest.CheckSettings(check)
}

func main() {}
