package cli

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/syncgate/syncgate/host/attachments"
	"github.com/syncgate/syncgate/host/config"
	"github.com/syncgate/syncgate/host/filestore"
	"github.com/syncgate/syncgate/host/server"
)

// serveAttachments registers /attachments/{id} and its metrics on srv when
// ATTACHMENTS is on; the returned func closes the file store's client.
func serveAttachments(cfg config.Config, uri string, auth attachments.Authenticator, srv *server.Server) (func(), error) {
	if !cfg.Attachments {
		return func() {}, nil
	}
	fs, err := filestore.Open(uri, cfg.Database, filestore.Options{Timeout: cfg.DBTimeout})
	if err != nil {
		return nil, err
	}
	h := attachments.New(attachments.Config{MaxBytes: cfg.AttachmentMaxBytes, Types: cfg.AttachmentTypes, MaxIDBytes: cfg.MaxIDBytes}, fs, auth)
	for _, rt := range h.Routes() {
		srv.Handle(rt.Pattern, rt.Handler)
	}
	srv.Registry().MustRegister(newAttachmentCollector(&h.Stats))
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = fs.Close(ctx)
	}, nil
}

// attachmentCollector exports the attachment handler's counters.
type attachmentCollector struct {
	st    *attachments.Stats
	descs []*prometheus.Desc
	vals  []func() int64
}

func newAttachmentCollector(st *attachments.Stats) *attachmentCollector {
	c := &attachmentCollector{st: st}
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
