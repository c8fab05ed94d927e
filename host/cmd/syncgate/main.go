// Command syncgate is the PowerSync backend for MongoDB. See the README.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/syncgate/syncgate/host/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.RunWithDotEnv(ctx, ".env", os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
