// Command timestamps is an example guest: it sets updated_at on every write
// and created_at on first PUT, from the host's clock. See README.md.
package main

import "github.com/syncgate/syncgate/guest"

func init() { guest.Register(guest.Info{Name: "timestamps", NeedsCurrent: true}, handle) }

func main() {}
