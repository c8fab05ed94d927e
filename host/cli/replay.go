package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/syncgate/syncgate/host/batch"
	"github.com/syncgate/syncgate/host/config"
	"github.com/syncgate/syncgate/host/live"
	"github.com/syncgate/syncgate/host/rejected"
	"github.com/syncgate/syncgate/host/store"
	"github.com/syncgate/syncgate/host/syncgate"
)

// ResultRefused is a replay outcome: the rules check refused the record
// (replayGuard), so it was not run.
const ResultRefused = "refused"

// serverRules is what the running server said about its rules set.
type serverRules struct {
	url     string
	reached bool
	id      string // its /readyz reload.rules_id; "" when it gives none
	err     error  // why it was not reached
}

// fetchServerRules asks the server at url for its rules fingerprint.
func fetchServerRules(ctx context.Context, url string) serverRules {
	sr := serverRules{url: url}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(url, "/")+"/readyz", nil)
	if err != nil {
		sr.err = err
		return sr
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		sr.err = err
		return sr
	}
	defer resp.Body.Close()
	var body struct {
		Reload struct {
			RulesID string `json:"rules_id"`
		} `json:"reload"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&body); err != nil {
		sr.err = fmt.Errorf("%s/readyz: not a syncgate answer: %w", url, err)
		return sr
	}
	sr.reached, sr.id = true, body.Reload.RulesID
	return sr
}

// replayGuard says why each record must not be replayed with the rules set
// m (none: it may be): a replay never runs an op under weaker rules than
// the ones that refused it. A record is refused when the stage that
// refused it (DeadLetter.Stage) is not in m for its table, and every
// record when a running server answers with another rules set than m (the
// shell's configuration differs from the server's: a .env not read, a
// GUESTS left out).
func replayGuard(records []syncgate.DeadLetter, m live.Manifest, server serverRules) map[string]string {
	why := map[string]string{}
	mismatch := ""
	switch {
	case server.reached && server.id == "":
		mismatch = fmt.Sprintf("the server at %s does not publish its rules set (rules_id on /readyz), so this replay's cannot be compared with it", server.url)
	case server.reached && server.id != m.ID:
		mismatch = fmt.Sprintf("this replay's rules set (rules_id %s) differs from the running server's at %s (%s): run the replay with the server's configuration (its .env, GUESTS, GUEST_SETTINGS, SCHEMAS_DIR)", short(m.ID), server.url, short(server.id))
	}
	for _, r := range records {
		if r.State != syncgate.StateOpen {
			continue // the replay skips it anyway
		}
		var reasons []string
		if mismatch != "" {
			reasons = append(reasons, mismatch)
		}
		if ok, because := m.Has(r.Stage, r.Table); !ok {
			reasons = append(reasons, "refused by stage "+r.Stage+": "+because)
		}
		if len(reasons) > 0 {
			why[r.ID] = strings.Join(reasons, "; ")
		}
	}
	return why
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// rejectedReplay prints the rules set it runs, checks each selected record
// against it and the running server's (replayGuard), and replays those
// that pass (all with --force, which names and logs what it overrides).
func rejectedReplay(ctx context.Context, cfg config.Config, st *store.Mongo, a *rejectedArgs, log *slog.Logger, stdout, stderr io.Writer) error {
	rt, err := newRuntime(ctx, cfg, io.Discard, nil)
	if err != nil {
		return err
	}
	defer rt.Close(context.WithoutCancel(ctx))
	rl := live.New(cfg, rt)
	rules, err := rl.Reload(ctx)
	if err != nil {
		return fmt.Errorf("rejected replay: the rules do not load, fix them first: %w", err)
	}
	defer rl.Close(context.WithoutCancel(ctx))
	m := rules.Manifest()
	fmt.Fprintf(stderr, "replay: rules set of this run (GUESTS, GUEST_SETTINGS, SCHEMAS_DIR %s, GUESTS_DIR %s):\n%s\n", cfg.SchemasDir, cfg.GuestsDir, strings.Join(m.Lines(), "\n"))

	url := a.server
	if url == "" {
		url = "http://" + cfg.Addr
	}
	server := fetchServerRules(ctx, url)
	switch {
	case !server.reached:
		fmt.Fprintf(stderr, "replay: no server answers at %s (%v): the rules set is not compared with a running server's (--server URL names one)\n", url, server.err)
	case server.id == m.ID:
		fmt.Fprintf(stderr, "replay: the server at %s runs the same rules set\n", url)
	}

	svc := newRejectedService(cfg, st, func() (batch.Rules, func(), error) { return rl.Acquire() })
	sel := a.f
	sel.Oldest = true
	if sel.State == "" && len(sel.IDs) == 0 {
		sel.State = syncgate.StateOpen
	}
	records, err := svc.List(ctx, sel)
	if err != nil {
		return err
	}
	refused := replayGuard(records, m, server)
	var refusedOut []rejected.Outcome
	f := a.f
	if len(refused) > 0 {
		for _, r := range records {
			why, ok := refused[r.ID]
			if !ok {
				continue
			}
			if a.force {
				log.Warn("replay --force: replaying a record the rules check refuses", "id", r.ID, "table", r.Table, "doc", r.DocID, "stage", r.Stage, "refused_because", why)
				continue
			}
			refusedOut = append(refusedOut, rejected.Outcome{ID: r.ID, Op: r.Op, Table: r.Table, DocID: r.DocID, Result: ResultRefused, Reason: why})
		}
		if !a.force {
			f.IDs = nil
			for _, r := range records {
				if _, no := refused[r.ID]; !no {
					f.IDs = append(f.IDs, r.ID)
				}
			}
		}
	}

	var sum rejected.Summary
	var outcomes []rejected.Outcome
	if len(refusedOut) == 0 || len(f.IDs) > 0 {
		progress := func(done, total int) {
			if total > svc.Chunk {
				fmt.Fprintf(stderr, "replay: %d/%d\n", done, total)
			}
		}
		sum, outcomes, err = svc.Replay(ctx, f, a.dryRun, progress)
		if err != nil {
			fmt.Fprintln(stderr, sum.Line())
			return err
		}
	}
	outcomes = append(outcomes, refusedOut...)
	if a.asJSON {
		if err := writeJSON(stdout, map[string]any{"summary": sum, "outcomes": outcomes, "refused": len(refusedOut), "rules_id": m.ID}); err != nil {
			return err
		}
	} else {
		printOutcomes(stdout, outcomes)
	}
	fmt.Fprintln(stderr, sum.Line())
	if sum.Interrupted {
		return errors.New("replay interrupted")
	}
	if len(refusedOut) > 0 {
		return fmt.Errorf("rejected replay: %d records refused (result %s above, with why); nothing was applied for them; --force applies them anyway, named in the log", len(refusedOut), ResultRefused)
	}
	return nil
}

func printOutcomes(w io.Writer, outcomes []rejected.Outcome) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tOP\tTABLE\tDOC\tRESULT\tREASON")
	for _, o := range outcomes {
		reason := o.Reason
		if o.Code != "" {
			reason = string(o.Code) + ": " + reason
		}
		limit := 80
		if o.Result == ResultRefused {
			limit = 400 // the why is the point
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", o.ID, o.Op, o.Table, clipText(o.DocID, 24), o.Result, clipText(reason, limit))
	}
	tw.Flush()
}
