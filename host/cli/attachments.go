package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/syncgate/syncgate/guest/authorize/appsrules"
	"github.com/syncgate/syncgate/host/attachments"
	"github.com/syncgate/syncgate/host/config"
	"github.com/syncgate/syncgate/host/filestore"
	"github.com/syncgate/syncgate/host/server"
)

// serveAttachments registers /attachments/{id} and its metrics on srv when
// ATTACHMENTS is on, and returns the file store (nil when off; the admin
// console lists and deletes through it) and a func that closes its client.
// PUT and DELETE are decided by the live set's attachments.json when it has
// one (attachmentRules).
func serveAttachments(cfg config.Config, uri string, auth attachments.Authenticator, srv *server.Server, current func() (*appsrules.Set, error)) (*filestore.Store, func(), error) {
	if !cfg.Attachments {
		return nil, func() {}, nil
	}
	fs, err := filestore.Open(uri, cfg.Database, filestore.Options{Timeout: cfg.DBTimeout})
	if err != nil {
		return nil, nil, err
	}
	h := attachments.New(attachments.Config{MaxBytes: cfg.AttachmentMaxBytes, Types: cfg.AttachmentTypes, MaxIDBytes: cfg.MaxIDBytes,
		Authorize: attachmentRules(current)}, fs, auth)
	for _, rt := range h.Routes() {
		srv.Handle(rt.Pattern, rt.Handler)
	}
	srv.Registry().MustRegister(newAttachmentCollector(&h.Stats))
	return fs, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = fs.Close(ctx)
	}, nil
}

// attachmentCollector exports the attachment handler's counters.
type attachmentCollector struct {
	descs []*prometheus.Desc
	vals  []func() int64
}

func newAttachmentCollector(st *attachments.Stats) *attachmentCollector {
	c := &attachmentCollector{}
	add := func(name, help string, v func() int64) {
		c.descs = append(c.descs, prometheus.NewDesc("syncgate_attachment_"+name, help, nil, nil))
		c.vals = append(c.vals, v)
	}
	add("bytes_in_total", "Bytes of attachment bodies received (also of refused and failed uploads).", st.BytesIn.Load)
	add("bytes_out_total", "Bytes of attachments sent.", st.BytesOut.Load)
	add("uploads_total", "Attachments stored (PUT answered 200).", st.Uploads.Load)
	add("upload_failures_total", "PUTs refused or failed after authentication (limits, type, owner, body cut, store).", st.UploadFailures.Load)
	add("downloads_total", "GETs that sent their whole body or range.", st.Downloads.Load)
	add("download_failures_total", "GETs that failed while opening or sending the file.", st.DownloadFailures.Load)
	add("deletes_total", "Attachments deleted.", st.Deletes.Load)
	return c
}

func (c *attachmentCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c *attachmentCollector) Collect(ch chan<- prometheus.Metric) {
	for i, d := range c.descs {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(c.vals[i]()))
	}
}

const attachmentsUsage = `usage: syncgate attachments <command> [flags]

  list   [--orphans] [--json]   the stored attachments (id, owner, type, size, uploaded), newest first;
                                --orphans: only those no document references (ATTACHMENT_REFS)
  purge  --orphans [--dry-run]  delete the attachments no document references, and the chunks of uploads
                                cut off more than an hour ago (their process died mid-body); count both`

// attachmentsCmd runs `syncgate attachments …` on the server's database.
func attachmentsCmd(ctx context.Context, args []string, env map[string]string, stdout, stderr io.Writer) error {
	if done, err := subcommandUsage(args, attachmentsUsage, "attachments: a command is needed", stdout); done {
		return err
	}
	sub := args[0]
	fset := flag.NewFlagSet("attachments "+sub, flag.ContinueOnError)
	fset.SetOutput(stderr)
	orphans := fset.Bool("orphans", false, "only attachments no document references (ATTACHMENT_REFS)")
	asJSON := fset.Bool("json", false, "list: JSON output for scripts")
	dryRun := fset.Bool("dry-run", false, "purge: count, delete nothing")
	fset.Usage = func() { fmt.Fprintln(fset.Output(), attachmentsUsage) }
	if err := fset.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stdout, attachmentsUsage)
			return nil
		}
		return usageError{"attachments " + sub + ": " + err.Error()}
	}
	if fset.NArg() > 0 {
		return usageError{fmt.Sprintf("attachments %s: unexpected argument %q", sub, fset.Arg(0))}
	}
	switch sub {
	case "list":
	case "purge":
		if !*orphans {
			return usageError{"attachments purge: --orphans is required (only unreferenced attachments are purged)"}
		}
	default:
		return usageError{fmt.Sprintf("attachments: unknown command %q\n%s", sub, attachmentsUsage)}
	}
	cfg, err := config.Parse(env)
	if err != nil {
		return err
	}
	if *orphans && len(cfg.AttachmentRefs) == 0 {
		return usageError{"attachments " + sub + ": --orphans needs ATTACHMENT_REFS (e.g. todos.photo_id): without it every attachment would count as an orphan"}
	}
	if err := needDatabase(cfg); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	uri, closeDB, err := commandURI(cfg, log, stderr)
	if err != nil {
		return err
	}
	defer closeDB()
	fs, err := filestore.Open(uri, cfg.Database, filestore.Options{Timeout: cfg.DBTimeout})
	if err != nil {
		return err
	}
	defer fs.Close(context.WithoutCancel(ctx))
	all, err := fs.List(ctx)
	if err != nil {
		return err
	}
	if *orphans {
		refs, err := fs.Referenced(ctx, cfg.AttachmentRefs)
		if err != nil {
			return err
		}
		all = slices.DeleteFunc(all, func(i attachments.Info) bool { return refs[i.ID] })
	}
	var bytes int64
	for _, i := range all {
		bytes += i.Size
	}
	if sub == "list" {
		if *asJSON {
			if all == nil {
				all = []attachments.Info{}
			}
			return json.NewEncoder(stdout).Encode(all)
		}
		tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tOWNER\tTYPE\tSIZE\tUPLOADED")
		for _, i := range all {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", i.ID, i.Owner, i.ContentType, i.Size, i.Uploaded.UTC().Format(time.RFC3339))
		}
		tw.Flush()
		fmt.Fprintf(stdout, "%d attachments, %d bytes\n", len(all), bytes)
		return nil
	}
	stray, err := fs.Stray(ctx, time.Now().Add(-time.Hour))
	if err != nil {
		return err
	}
	if *dryRun {
		fmt.Fprintf(stdout, "would delete %d unreferenced attachments (%d bytes) and the chunks of %d cut-off uploads; nothing deleted\n", len(all), bytes, len(stray))
		return nil
	}
	for _, oid := range stray {
		if err := fs.DeleteChunks(ctx, oid); err != nil {
			return err
		}
	}
	if len(stray) > 0 {
		fmt.Fprintf(stdout, "deleted the chunks of %d cut-off uploads\n", len(stray))
	}
	deleted, freed := 0, int64(0)
	for _, i := range all {
		if err := fs.Purge(ctx, i.ID); err != nil {
			fmt.Fprintf(stdout, "deleted %d unreferenced attachments (%d bytes) before an error\n", deleted, freed)
			return err
		}
		deleted++
		freed += i.Size
	}
	fmt.Fprintf(stdout, "deleted %d unreferenced attachments (%d bytes)\n", deleted, freed)
	return nil
}
