package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/syncgate/syncgate/host/attachments"
	"github.com/syncgate/syncgate/host/syncgate"
)

// The write rules page (what the live set authorizes with, and explain)
// and the attachments page.

// ExplainOp is the write to explain: a PowerSync CRUD entry (type is the
// table; table is accepted too).
type ExplainOp struct {
	Op    string         `json:"op"`
	Type  string         `json:"type"`
	Table string         `json:"table"`
	ID    string         `json:"id"`
	Data  map[string]any `json:"data"`
}

// ExplainRequest is the body of POST /admin/api/authorization/explain: the
// same inputs as `syncgate rules explain`. Numbers are json.Number.
type ExplainRequest struct {
	User    string                      `json:"user"`
	Claims  map[string]any              `json:"claims"`
	Op      ExplainOp                   `json:"op"`
	Current map[string]any              `json:"current"` // null: an insert
	Parents map[string][]map[string]any `json:"parents"`
}

// AttachmentStore is what the console needs of the server's attachment
// store (filestore.Store).
type AttachmentStore interface {
	// List returns every attachment, newest first.
	List(ctx context.Context) ([]attachments.Info, error)
	// Stat returns one; attachments.ErrNotFound when absent.
	Stat(ctx context.Context, id string) (attachments.Info, error)
	// Purge deletes every version of id, whoever owns it.
	Purge(ctx context.Context, id string) error
}

func (c *Console) authorization(w http.ResponseWriter, r *http.Request) error {
	var v any
	if c.cfg.Authorization != nil {
		v = c.cfg.Authorization()
	}
	return writeJSON(w, v)
}

// maxBody bounds an explain or delete body.
const maxBody = 1 << 20

// readJSON decodes the body (at most maxBody) into v, numbers as
// json.Number; anything but one JSON value of v's shape is invalid_body.
func readJSON(r *http.Request, v any) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return syncgate.Errorf(syncgate.Invalid, syncgate.CodeBodyUnreadable, "body: %s", err)
	}
	if len(body) > maxBody {
		return syncgate.Errorf(syncgate.TooLarge, syncgate.CodeBodyTooLarge, "body: over %d bytes", maxBody)
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return syncgate.Errorf(syncgate.Invalid, syncgate.CodeInvalidBody, "body: %s", err)
	}
	if d.More() {
		return syncgate.Errorf(syncgate.Invalid, syncgate.CodeInvalidBody, "body: data after the JSON value")
	}
	return nil
}

func (c *Console) explain(w http.ResponseWriter, r *http.Request) error {
	var req ExplainRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	if c.cfg.Explain == nil {
		return syncgate.Errorf(syncgate.Unavailable, syncgate.CodeGuestsLoading, "no rules are loaded yet")
	}
	v, err := c.cfg.Explain(req)
	if err != nil {
		var se *syncgate.Error
		if errors.As(err, &se) {
			return se
		}
		return syncgate.Errorf(syncgate.Invalid, syncgate.CodeInvalidBody, "%s", err)
	}
	return writeJSON(w, v)
}

// AttachmentList is GET /admin/api/attachments' answer.
type AttachmentList struct {
	// Enabled is ATTACHMENTS: when false the list is empty.
	Enabled     bool               `json:"enabled"`
	Attachments []attachments.Info `json:"attachments"`
	// Total and Bytes count every attachment, listed or not (limit).
	Total int   `json:"total"`
	Bytes int64 `json:"bytes"`
}

func (c *Console) attachmentList(w http.ResponseWriter, r *http.Request) error {
	out := AttachmentList{Attachments: []attachments.Info{}}
	limit := 500
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return syncgate.Errorf(syncgate.Invalid, syncgate.CodeInvalidFilter, "limit: want a positive number")
		}
		limit = min(n, 5000)
	}
	if c.cfg.Attachments == nil {
		return writeJSON(w, out)
	}
	out.Enabled = true
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	all, err := c.cfg.Attachments.List(ctx)
	if err != nil {
		return err
	}
	out.Total = len(all)
	for _, i := range all {
		out.Bytes += i.Size
	}
	if len(all) > limit {
		all = all[:limit]
	}
	if all != nil {
		out.Attachments = all
	}
	return writeJSON(w, out)
}

func (c *Console) attachmentDelete(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		ID string `json:"id"`
	}
	if err := readJSON(r, &req); err != nil {
		return err
	}
	if req.ID == "" {
		return syncgate.Errorf(syncgate.Invalid, syncgate.CodeInvalidBody, "id is required")
	}
	if c.cfg.Attachments == nil {
		return syncgate.Errorf(syncgate.NotFound, syncgate.CodeAttachmentNotFound, "attachments are off (ATTACHMENTS=false)")
	}
	info, err := c.cfg.Attachments.Stat(r.Context(), req.ID)
	if errors.Is(err, attachments.ErrNotFound) {
		return syncgate.Errorf(syncgate.NotFound, syncgate.CodeAttachmentNotFound, "no attachment %q", req.ID)
	}
	if err != nil {
		return err
	}
	if err := c.cfg.Attachments.Purge(r.Context(), req.ID); err != nil {
		return err
	}
	return writeJSON(w, map[string]any{"deleted": info.ID, "size": info.Size, "owner": info.Owner})
}
