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
	"github.com/syncgate/syncgate/host/live"
	"github.com/syncgate/syncgate/host/rejected"
	"github.com/syncgate/syncgate/host/store"
	"github.com/syncgate/syncgate/host/syncgate"
	"github.com/syncgate/syncgate/host/upload"
)

const rejectedUsage = `usage: syncgate rejected <command> [flags]

  list     [filters] [--json]                 the recorded rejections, newest first
  show     ID [--json]                        one of them: op, reason, request id, user, time, data or raw text
  replay   [ID…] [filters] [--dry-run] [--json]
                                              run them through the current guests, schemas and conversions
                                              (as the recorded user) and apply those that pass now
  resolve  [ID…] [filters] [--note TEXT]      mark as handled without applying
  discard  [ID…] [filters] [--note TEXT]      mark as dropped on purpose
  purge    --older-than DURATION [--state S]  delete records older than DURATION (e.g. 720h or 30d)

filters: --table T --user U --code C --since TIME --until TIME --limit N --state open|replayed|resolved|discarded|all
         (TIME: RFC 3339, or a duration ago such as 24h or 7d; list and replay default to --state open)`

// rejectedCmd runs `syncgate rejected …` with the server's configuration
// (same environment, same database, same rules).
func rejectedCmd(ctx context.Context, args []string, env map[string]string, stdout, stderr io.Writer) error {
	if len(args) == 0 || helpAsked(args[:1]) {
		fmt.Fprintln(stdout, rejectedUsage)
		if len(args) == 0 {
			return usageError{"rejected: a command is needed"}
		}
		return nil
	}
	sub := args[0]
	fs := flag.NewFlagSet("rejected "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		f                    syncgate.DeadLetterFilter
		since, until, olderS string
		asJSON, dryRun       bool
		note                 string
	)
	fs.StringVar(&f.Table, "table", "", "only this table")
	fs.StringVar(&f.User, "user", "", "only this user id")
	fs.StringVar(&f.Code, "code", "", "only this rejection code")
	fs.StringVar(&since, "since", "", "recorded at or after TIME (RFC 3339, or a duration ago: 24h, 7d)")
	fs.StringVar(&until, "until", "", "recorded before TIME")
	fs.IntVar(&f.Limit, "limit", 0, "at most N records (list: default 50)")
	fs.StringVar(&f.State, "state", "", "open, replayed, resolved, discarded or all")
	fs.BoolVar(&asJSON, "json", false, "JSON output for scripts")
	fs.BoolVar(&dryRun, "dry-run", false, "replay: say what would happen, write nothing")
	fs.StringVar(&note, "note", "", "resolve/discard: why")
	fs.StringVar(&olderS, "older-than", "", "purge: records older than this duration (required)")
	fs.Usage = func() { fmt.Fprintln(fs.Output(), rejectedUsage) }
	// Ids and flags in any order: flag stops at the first id, so go on after it.
	var ids []string
	for rest := args[1:]; ; {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprintln(stdout, rejectedUsage)
				return nil
			}
			return usageError{"rejected " + sub + ": " + err.Error()}
		}
		if fs.NArg() == 0 {
			break
		}
		ids = append(ids, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	now := time.Now()
	var err error
	if f.Since, err = parseWhen(since, now); err != nil {
		return usageError{"rejected " + sub + ": --since: " + err.Error()}
	}
	if f.Until, err = parseWhen(until, now); err != nil {
		return usageError{"rejected " + sub + ": --until: " + err.Error()}
	}
	f.IDs = ids
	switch sub {
	case "list":
		if len(f.IDs) > 0 {
			return usageError{"rejected list: takes no ids (use show)"}
		}
		if f.Limit == 0 {
			f.Limit = 50
		}
		if f.State == "" {
			f.State = syncgate.StateOpen
		}
	case "show":
		if len(f.IDs) != 1 {
			return usageError{"rejected show: one ID"}
		}
	case "replay", "resolve", "discard":
		noFilter := f.Table == "" && f.User == "" && f.Code == "" && f.Since.IsZero() && f.Until.IsZero() && f.State == ""
		if len(f.IDs) == 0 && noFilter && sub != "replay" {
			return usageError{"rejected " + sub + ": give ids or a filter (resolving everything needs --state open explicitly)"}
		}
	case "purge":
		if olderS == "" {
			return usageError{"rejected purge: --older-than is required (nothing is purged implicitly)"}
		}
	default:
		return usageError{fmt.Sprintf("rejected: unknown command %q\n%s", sub, rejectedUsage)}
	}

	cfg, err := config.Parse(env)
	if err != nil {
		return err
	}
	if err := needDatabase(cfg); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	st, _, closeStore, err := openStore(cfg, log, stderr)
	if err != nil {
		return err
	}
	defer closeStore()
	if _, err := st.Detect(ctx); err != nil {
		return fmt.Errorf("rejected: database: %w", err)
	}
	if err := st.DeadLetters().EnsureIndexes(ctx); err != nil {
		return fmt.Errorf("rejected: %w", err)
	}
	rulesFn := func() (batch.Rules, func(), error) {
		return nil, nil, errors.New("rejected: no rules loaded")
	}
	if sub == "replay" {
		rt, err := newRuntime(ctx, cfg, io.Discard, nil)
		if err != nil {
			return err
		}
		defer rt.Close(context.WithoutCancel(ctx))
		rl := live.New(cfg, rt)
		if _, err := rl.Reload(ctx); err != nil {
			return fmt.Errorf("rejected replay: the rules do not load, fix them first: %w", err)
		}
		defer rl.Close(context.WithoutCancel(ctx))
		rulesFn = func() (batch.Rules, func(), error) { return rl.Acquire() }
	}
	svc := newRejectedService(cfg, st, rulesFn)

	switch sub {
	case "list":
		list, err := svc.List(ctx, f)
		if err != nil {
			return err
		}
		if asJSON {
			return writeJSON(stdout, list)
		}
		printRejected(stdout, list)
	case "show":
		dl, err := svc.Show(ctx, f.IDs[0])
		if err != nil {
			return err
		}
		if asJSON {
			return writeJSON(stdout, dl)
		}
		printDeadLetter(stdout, dl)
	case "replay":
		progress := func(done, total int) {
			if total > svc.Chunk {
				fmt.Fprintf(stderr, "replay: %d/%d\n", done, total)
			}
		}
		sum, outcomes, err := svc.Replay(ctx, f, dryRun, progress)
		if err != nil {
			fmt.Fprintln(stderr, sum.Line())
			return err
		}
		if asJSON {
			if err := writeJSON(stdout, map[string]any{"summary": sum, "outcomes": outcomes}); err != nil {
				return err
			}
		} else {
			tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tOP\tTABLE\tDOC\tRESULT\tREASON")
			for _, o := range outcomes {
				reason := o.Reason
				if o.Code != "" {
					reason = string(o.Code) + ": " + reason
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", o.ID, o.Op, o.Table, clipText(o.DocID, 24), o.Result, clipText(reason, 80))
			}
			tw.Flush()
		}
		fmt.Fprintln(stderr, sum.Line())
		if sum.Interrupted {
			return errors.New("replay interrupted")
		}
	case "resolve", "discard":
		state := syncgate.StateResolved
		if sub == "discard" {
			state = syncgate.StateDiscarded
		}
		n, err := svc.Mark(ctx, f, state, note)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s %d\n", state, n)
	case "purge":
		d, err := parseDuration(olderS)
		if err != nil {
			return usageError{"rejected purge: --older-than: " + err.Error()}
		}
		n, err := svc.Purge(ctx, d, f.State)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "purged %d records older than %s\n", n, olderS)
	}
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
