// Command owner is an example guest: it stamps the caller's user id as the
// owner of every document it PUTs and refuses PATCH and DELETE of documents
// owned by someone else. See README.md.
package main

import "github.com/syncgate/syncgate/guest"

func init() {
	guest.Register(guest.Info{Name: "owner", NeedsCurrent: true, Settings: settings}, handle)
	guest.CheckSettings(checkSettings)
}

func main() {}
