// Command echo is the smallest guest: it accepts every op unchanged. The
// host's benchmarks use it to measure call overhead.
package main

import "github.com/syncgate/syncgate/guest"

func init() {
	guest.Register(guest.Info{Name: "echo"}, func(*guest.Op) guest.Verdict { return guest.Accept() })
}

func main() {}
