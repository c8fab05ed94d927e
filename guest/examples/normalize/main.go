// Command normalize is an example guest that transforms data: it trims and
// folds white space in strings, lower-cases chosen fields and refuses blank
// required text. See README.md.
package main

import "github.com/syncgate/syncgate/guest"

func init() {
	guest.Register(guest.Info{Name: "normalize", Settings: []string{"lower", "nonempty"}}, handle)
}

func main() {}
