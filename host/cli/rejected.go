package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/syncgate/syncgate/host/batch"
	"github.com/syncgate/syncgate/host/config"
	"github.com/syncgate/syncgate/host/rejected"
	"github.com/syncgate/syncgate/host/store"
	"github.com/syncgate/syncgate/host/syncgate"
	"github.com/syncgate/syncgate/host/upload"
)

const rejectedUsage = `usage: syncgate rejected <command> [flags]

  list     [filters] [--json]                 the recorded rejections, newest first
  show     ID [--json]                        one of them: op, reason, request id, user, time, data or raw text
  replay   [ID…] [filters] [--dry-run] [--json] [--server URL] [--force]
                                              run them through the current guests, schemas and conversions
                                              (as the recorded user) and apply those that pass now; prints
                                              the rules set it runs first, and refuses a record whose
                                              refusing stage is not in it, or all when it differs from the
                                              running server's (/readyz rules_id); --force applies them anyway
  resolve  [ID…] [filters] [--note TEXT]      mark as handled without applying
  discard  [ID…] [filters] [--note TEXT]      mark as dropped on purpose
  purge    --older-than DURATION [--state S]  delete records older than DURATION (e.g. 720h or 30d)

filters: --table T --user U --code C --since TIME --until TIME --limit N --state open|replayed|resolved|discarded|all
         (TIME: RFC 3339, or a duration ago such as 24h or 7d; list and replay default to --state open)`

// rejectedArgs is one `syncgate rejected` command line, parsed.
type rejectedArgs struct {
	sub           string
	f             syncgate.DeadLetterFilter
	olderThan     string
	asJSON        bool
	dryRun, force bool
	server        string
	note          string
}

// parseRejected reads the subcommand, its ids and flags (in any order) and
// checks what each subcommand needs; help is asked when it returns nil,
// nil.
func parseRejected(args []string, stdout, stderr io.Writer) (*rejectedArgs, error) {
	a := &rejectedArgs{sub: args[0]}
	fs := flag.NewFlagSet("rejected "+a.sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var since, until string
	fs.StringVar(&a.f.Table, "table", "", "only this table")
	fs.StringVar(&a.f.User, "user", "", "only this user id")
	fs.StringVar(&a.f.Code, "code", "", "only this rejection code")
	fs.StringVar(&since, "since", "", "recorded at or after TIME (RFC 3339, or a duration ago: 24h, 7d)")
	fs.StringVar(&until, "until", "", "recorded before TIME")
	fs.IntVar(&a.f.Limit, "limit", 0, "at most N records (list: default 50)")
	fs.StringVar(&a.f.State, "state", "", "open, replayed, resolved, discarded or all")
	fs.BoolVar(&a.asJSON, "json", false, "JSON output for scripts")
	fs.BoolVar(&a.dryRun, "dry-run", false, "replay: say what would happen, write nothing")
	fs.BoolVar(&a.force, "force", false, "replay: apply records the rules check refuses (each is named and logged)")
	fs.StringVar(&a.server, "server", "", "replay: the running server whose /readyz rules_id must match (default http://ADDR)")
	fs.StringVar(&a.note, "note", "", "resolve/discard: why")
	fs.StringVar(&a.olderThan, "older-than", "", "purge: records older than this duration (required)")
	fs.Usage = func() { fmt.Fprintln(fs.Output(), rejectedUsage) }
	// Ids and flags in any order: flag stops at the first id, so go on after it.
	for rest := args[1:]; ; {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprintln(stdout, rejectedUsage)
				return nil, nil
			}
			return nil, usageError{"rejected " + a.sub + ": " + err.Error()}
		}
		if fs.NArg() == 0 {
			break
		}
		a.f.IDs = append(a.f.IDs, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	now := time.Now()
	var err error
	if a.f.Since, err = parseWhen(since, now); err != nil {
		return nil, usageError{"rejected " + a.sub + ": --since: " + err.Error()}
	}
	if a.f.Until, err = parseWhen(until, now); err != nil {
		return nil, usageError{"rejected " + a.sub + ": --until: " + err.Error()}
	}
	if (a.force || a.server != "") && a.sub != "replay" {
		return nil, usageError{"rejected " + a.sub + ": --force and --server are replay flags"}
	}
	f := &a.f
	switch a.sub {
	case "list":
		if len(f.IDs) > 0 {
			return nil, usageError{"rejected list: takes no ids (use show)"}
		}
		if f.Limit == 0 {
			f.Limit = 50
		}
		if f.State == "" {
			f.State = syncgate.StateOpen
		}
	case "show":
		if len(f.IDs) != 1 {
			return nil, usageError{"rejected show: one ID"}
		}
	case "replay", "resolve", "discard":
		noFilter := f.Table == "" && f.User == "" && f.Code == "" && f.Since.IsZero() && f.Until.IsZero() && f.State == ""
		if len(f.IDs) == 0 && noFilter && a.sub != "replay" {
			return nil, usageError{"rejected " + a.sub + ": give ids or a filter (resolving everything needs --state open explicitly)"}
		}
	case "purge":
		if a.olderThan == "" {
			return nil, usageError{"rejected purge: --older-than is required (nothing is purged implicitly)"}
		}
	default:
		return nil, usageError{fmt.Sprintf("rejected: unknown command %q\n%s", a.sub, rejectedUsage)}
	}
	return a, nil
}

// rejectedCmd runs `syncgate rejected …` with the server's configuration
// (same environment, same database, same rules): one function per
// subcommand.
func rejectedCmd(ctx context.Context, args []string, env map[string]string, stdout, stderr io.Writer) error {
	if done, err := subcommandUsage(args, rejectedUsage, "rejected: a command is needed", stdout); done {
		return err
	}
	a, err := parseRejected(args, stdout, stderr)
	if a == nil {
		return err
	}
	cfg, st, closeStore, err := commandDatabase(ctx, env, "rejected", stderr)
	if err != nil {
		return err
	}
	defer closeStore()
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if err := st.DeadLetters().EnsureIndexes(ctx); err != nil {
		return fmt.Errorf("rejected: %w", err)
	}
	if a.sub == "replay" {
		return rejectedReplay(ctx, cfg, st, a, log, stdout, stderr)
	}
	noRules := func() (batch.Rules, func(), error) { return nil, nil, errors.New("rejected: no rules loaded") }
	svc := newRejectedService(cfg, st, noRules)
	switch a.sub {
	case "list":
		return rejectedList(ctx, svc, a, stdout)
	case "show":
		return rejectedShow(ctx, svc, a, stdout)
	case "resolve", "discard":
		return rejectedMark(ctx, svc, a, stdout)
	}
	return rejectedPurge(ctx, svc, a, stdout)
}

func rejectedList(ctx context.Context, svc *rejected.Service, a *rejectedArgs, stdout io.Writer) error {
	list, err := svc.List(ctx, a.f)
	if err != nil {
		return err
	}
	if a.asJSON {
		return writeJSON(stdout, list)
	}
	printRejected(stdout, list)
	return nil
}

func rejectedShow(ctx context.Context, svc *rejected.Service, a *rejectedArgs, stdout io.Writer) error {
	dl, err := svc.Show(ctx, a.f.IDs[0])
	if err != nil {
		return err
	}
	if a.asJSON {
		return writeJSON(stdout, dl)
	}
	printDeadLetter(stdout, dl)
	return nil
}

func rejectedMark(ctx context.Context, svc *rejected.Service, a *rejectedArgs, stdout io.Writer) error {
	state := syncgate.StateResolved
	if a.sub == "discard" {
		state = syncgate.StateDiscarded
	}
	n, err := svc.Mark(ctx, a.f, state, a.note)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s %d\n", state, n)
	return nil
}

func rejectedPurge(ctx context.Context, svc *rejected.Service, a *rejectedArgs, stdout io.Writer) error {
	d, err := parseDuration(a.olderThan)
	if err != nil {
		return usageError{"rejected purge: --older-than: " + err.Error()}
	}
	n, err := svc.Purge(ctx, d, a.f.State)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "purged %d records older than %s\n", n, a.olderThan)
	return nil
}

// newRejectedService is the rejected-ops service over st with cfg's upload
// limits; the CLI and the admin API share it.
func newRejectedService(cfg config.Config, st *store.Mongo, rules upload.RulesFunc) *rejected.Service {
	return rejected.New(st, st.DeadLetters(), rules, upload.Limits{MaxOps: cfg.MaxOps, MaxDepth: cfg.MaxDepth, MaxIDBytes: cfg.MaxIDBytes})
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func printRejected(w io.Writer, list []syncgate.DeadLetter) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tAT\tUSER\tOP\tTABLE\tDOC\tCODE\tSTATE\tREASON")
	for _, d := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.ID, d.At.Format(time.RFC3339), clipText(d.UserID, 20), d.Op,
			clipText(d.Table, 24), clipText(d.DocID, 24), d.Code, d.State, clipText(d.Reason, 60))
	}
	tw.Flush()
	if len(list) == 0 {
		fmt.Fprintln(w, "(none)")
	}
}

func printDeadLetter(w io.Writer, d syncgate.DeadLetter) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	row := func(k string, v any) { fmt.Fprintf(tw, "%s\t%v\n", k, v) }
	row("id", d.ID)
	row("state", d.State)
	row("at", d.At.Format(time.RFC3339Nano))
	row("request_id", d.RequestID)
	row("user_id", d.UserID)
	row("op", fmt.Sprintf("%s %s/%s (batch index %d)", d.Op, d.Table, d.DocID, d.Index))
	row("code", d.Code)
	row("reason", d.Reason)
	if d.TxID != nil {
		row("tx_id", d.TxID)
	}
	if d.ReplayedAt != nil {
		row("replayed_at", d.ReplayedAt.Format(time.RFC3339))
		row("replays", d.Replays)
		row("result", d.Result)
	}
	if d.HandledAt != nil {
		row("handled_at", d.HandledAt.Format(time.RFC3339))
	}
	if d.Note != "" {
		row("note", d.Note)
	}
	tw.Flush()
	if d.Data != nil {
		b, _ := json.MarshalIndent(d.Data, "", "  ")
		fmt.Fprintf(w, "data:\n%s\n", b)
	}
	if d.Raw != "" {
		cut := ""
		if d.RawTruncated {
			cut = " (cut at 64 KiB)"
		}
		fmt.Fprintf(w, "raw%s:\n%s\n", cut, d.Raw)
	}
}

func clipText(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

// parseWhen reads an RFC 3339 time or a duration ago; "" is the zero time.
func parseWhen(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	d, err := parseDuration(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time nor a duration", s)
	}
	return now.Add(-d), nil
}

// parseDuration is time.ParseDuration plus whole days ("30d").
func parseDuration(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n <= 0 {
			return 0, fmt.Errorf("bad duration %q", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("bad duration %q (e.g. 720h or 30d)", s)
	}
	return d, nil
}
