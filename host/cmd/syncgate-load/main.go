// Command syncgate-load drives simulated PowerSync clients against a
// syncgate on this machine and checks, with -mongo-uri, that the database
// holds exactly what the server acknowledged. See host/loadgen.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/syncgate/syncgate/host/loadgen"
	"github.com/syncgate/syncgate/host/store"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("syncgate-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg loadgen.Config
	fs.StringVar(&cfg.URL, "url", "http://127.0.0.1:8090", "syncgate base URL (loopback only); several instances comma separated")
	fs.Float64Var(&cfg.ResendShare, "resend", 0, "with several -url instances: share of acknowledged batches sent again to another instance")
	fs.IntVar(&cfg.Clients, "clients", 16, "concurrent simulated clients")
	fs.DurationVar(&cfg.Duration, "duration", 60*time.Second, "how long clients start new batches")
	fs.IntVar(&cfg.BatchSize, "batch", 20, "ops per batch")
	fs.Float64Var(&cfg.InvalidShare, "invalid", 0.05, "share of ops that break the demo schemas")
	fs.StringVar(&cfg.APIKey, "api-key", "", "API key for /token (TOKEN_AUTH=api-key)")
	mongoURI := fs.String("mongo-uri", "", "MongoDB URI to verify the final state against the ledger")
	db := fs.String("db", "syncgate", "database name for -mongo-uri")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if strings.Contains(cfg.URL, ",") {
		cfg.URLs = strings.Split(cfg.URL, ",")
	}
	res, err := loadgen.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(stderr, "syncgate-load:", err)
		return 1
	}
	fmt.Fprintln(stdout, res.Summary())
	for _, u := range res.Unexpected {
		fmt.Fprintln(stdout, "unexpected:", u)
	}
	bad := len(res.Unexpected) > 0 || res.Unacknowledged > 0
	if *mongoURI != "" {
		st, err := store.Open(*mongoURI, *db, store.Options{})
		if err != nil {
			fmt.Fprintln(stderr, "syncgate-load:", err)
			return 1
		}
		defer st.Close(context.Background())
		problems := res.Ledger.Verify(ctx, st)
		for _, p := range problems {
			fmt.Fprintln(stdout, "ledger:", p)
		}
		fmt.Fprintf(stdout, "verdict: %d acknowledged documents checked, %d problems\n", countDocs(res.Ledger), len(problems))
		bad = bad || len(problems) > 0
	}
	if bad {
		return 1
	}
	return 0
}

func countDocs(l *loadgen.Ledger) int {
	n := 0
	for _, docs := range l.Docs {
		n += len(docs)
	}
	return n
}
