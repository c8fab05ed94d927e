// Package attachments serves files for PowerSync's attachment helpers:
// PUT, GET, HEAD and DELETE /attachments/{id}, behind the PowerSync token.
//
// Bodies stream through (never held whole): the first 512 bytes decide the
// type against an allow-list, a counting reader enforces the size limit,
// and the Store (host/filestore: GridFS) writes, hashes and switches the
// new file in atomically. GET serves one byte range, ETags (the SHA-256)
// and 304s. By default the uploader owns an attachment: anyone
// authenticated reads it by id, only the owner replaces or deletes it.
// Config.Authorize replaces that default for PUT and DELETE (the syncgate
// command decides them by an attachments rules file: docs/authorization.md,
// "Attachments"); reads stay open to every authenticated caller.
package attachments

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/syncgate/syncgate/host/syncgate"
)

// Info is one stored attachment's metadata.
type Info struct {
	ID          string    `json:"id"`
	Owner       string    `json:"owner"`
	ContentType string    `json:"content_type"`
	Size        int64     `json:"size"`
	SHA256      string    `json:"sha256"` // hex
	Uploaded    time.Time `json:"uploaded"`
	// File identifies the stored version (the GridFS file id); a replace
	// makes a new one.
	File string `json:"-"`
}

// ETag is the attachment's strong validator: its SHA-256, quoted.
func (i Info) ETag() string { return `"` + i.SHA256 + `"` }

// The Store's errors the handler branches on.
var (
	// ErrNotFound: no such attachment (or, from Open, no longer that version).
	ErrNotFound = errors.New("attachments: not found")
	// ErrOwned: another user owns the attachment.
	ErrOwned = errors.New("attachments: owned by another user")
)

// Store keeps attachments. Put must leave nothing behind when body fails,
// and make the new version visible at once (readers see the old or the new
// one, never a mix).
//
// Put and Delete refuse with ErrOwned when a version of id is another
// user's, unless it is the version replaces names (its Info.File): the
// one Config.Authorize allowed the caller to replace or delete. "" allows
// only owner's versions. A version stored by someone else after the
// decision is never overwritten unseen.
type Store interface {
	Stat(ctx context.Context, id string) (Info, error)
	// Open reads length bytes of version info.File from byte offset on
	// (the caller keeps them within info.Size). A reader that is an
	// io.WriterTo writes to the response itself.
	Open(ctx context.Context, info Info, offset, length int64) (io.ReadCloser, error)
	Put(ctx context.Context, id, owner, contentType, replaces string, body io.Reader) (Info, error)
	// Delete removes attachment id; absent is not an error.
	Delete(ctx context.Context, id, owner, replaces string) error
}

// Write is a PUT or DELETE for Config.Authorize to decide, before anything
// is stored or deleted.
type Write struct {
	Op     string // "PUT" or "DELETE"
	ID     string
	Caller syncgate.Caller
	// Stored is the stored version; nil when there is none (a PUT that
	// creates the attachment). A DELETE of nothing is not decided: it
	// changes nothing and succeeds.
	Stored *Info
	// New is what a PUT would store, as known before its body is read:
	// Owner (the caller), ContentType (sniffed from the first bytes) and
	// Size (the request's Content-Length; -1 when the client did not
	// declare one). Nil for a DELETE.
	New *Info
}

// Authenticator establishes the caller of a request (auth.Verifier).
type Authenticator interface {
	Authenticate(r *http.Request) (syncgate.Caller, error)
}

// Config is the handler's settings.
type Config struct {
	MaxBytes   int64    // largest file
	Types      []string // allowed media types ("image/*" allowed)
	MaxIDBytes int      // longest id
	// BodyTimeout bounds reading one upload or writing one download (the
	// server's own timeouts are sized for JSON); 0 is 15 minutes.
	BodyTimeout time.Duration
	// Authorize, when set, decides every PUT and DELETE instead of the
	// default (only the owner replaces or deletes): nil allows; ErrNoRules
	// leaves this write to the default; another error refuses (a
	// *syncgate.Error as it is; any other error is a 403 "forbidden" with
	// its text). GET and HEAD never consult it.
	Authorize func(ctx context.Context, w Write) error
}

// ErrNoRules, from Config.Authorize, leaves a write to the default: only
// the owner replaces or deletes (no attachments rules file is in force).
var ErrNoRules = errors.New("attachments: no rules decide this write")

// Stats counts what the handler moved; metrics read it.
type Stats struct {
	BytesIn, BytesOut                atomic.Int64
	Uploads, Downloads, Deletes      atomic.Int64
	UploadFailures, DownloadFailures atomic.Int64
}

// Handler serves /attachments/{id}.
type Handler struct {
	cfg   Config
	store Store
	auth  Authenticator
	Stats Stats
}

// New returns the handler; auth must not be nil (every verb needs a token).
func New(cfg Config, store Store, auth Authenticator) *Handler {
	if auth == nil {
		panic("attachments: New needs an Authenticator")
	}
	if cfg.BodyTimeout <= 0 {
		cfg.BodyTimeout = 15 * time.Minute
	}
	return &Handler{cfg: cfg, store: store, auth: auth}
}

// Route is one pattern and its handler, for server.Handle.
type Route struct {
	Pattern string
	Handler func(http.ResponseWriter, *http.Request) error
}

// Routes lists the handler's routes (GET also answers HEAD on the server).
func (h *Handler) Routes() []Route {
	return []Route{
		{"PUT /attachments/{id}", h.Put},
		{"GET /attachments/{id}", h.Get},
		{"DELETE /attachments/{id}", h.Delete},
	}
}

// request authenticates r and checks its id.
func (h *Handler) request(r *http.Request) (syncgate.Caller, string, error) {
	c, err := h.auth.Authenticate(r)
	if err != nil {
		return c, "", err
	}
	id := r.PathValue("id")
	if err := checkID(id, h.cfg.MaxIDBytes); err != nil {
		return c, "", err
	}
	return c, id, nil
}

// checkID accepts what /upload accepts as a document id.
func checkID(id string, maxBytes int) error {
	bad := func(format string, args ...any) error {
		return syncgate.Errorf(syncgate.Invalid, syncgate.CodeInvalidID, "attachment id: "+format, args...)
	}
	switch {
	case id == "":
		return bad("missing")
	case maxBytes > 0 && len(id) > maxBytes:
		return bad("longer than %d bytes", maxBytes)
	case strings.IndexByte(id, 0) >= 0:
		return bad("contains NUL")
	case !utf8.ValidString(id):
		return bad("not valid UTF-8")
	}
	return nil
}

func notFound(id string) error {
	return syncgate.Errorf(syncgate.NotFound, syncgate.CodeAttachmentNotFound, "no attachment %q", id)
}

func notOwner(id string) error {
	return syncgate.Errorf(syncgate.Forbidden, syncgate.CodeNotOwner, "attachment %q belongs to another user: only its owner may replace or delete it", id)
}

// changed is ErrOwned under Config.Authorize: another user's version came
// in after the decision, so the decision no longer holds.
func changed(id string) error {
	return syncgate.Errorf(syncgate.Forbidden, syncgate.CodeForbidden, "attachment %q was replaced by another user while this request ran; nothing was changed: retry, and the rules decide on the version stored then", id)
}

// decide decides w by Config.Authorize, or by the default (only the owner
// replaces or deletes). It returns the stored version the store may
// replace or delete although another user's (its File; "" none), and
// whether the rules decided (ruled). A refusal by Authorize that is not a
// *syncgate.Error becomes a 403 "forbidden" with its text.
func (h *Handler) decide(ctx context.Context, w Write) (replaces string, ruled bool, err error) {
	if h.cfg.Authorize != nil {
		err := h.cfg.Authorize(ctx, w)
		var se *syncgate.Error
		switch {
		case err == nil:
			if w.Stored != nil {
				replaces = w.Stored.File
			}
			return replaces, true, nil
		case errors.As(err, &se):
			return "", true, err
		case !errors.Is(err, ErrNoRules):
			return "", true, syncgate.Errorf(syncgate.Forbidden, syncgate.CodeForbidden, "attachment %q: %s", w.ID, err.Error())
		}
	}
	if w.Stored != nil && w.Stored.Owner != w.Caller.UserID {
		return "", false, notOwner(w.ID)
	}
	return "", false, nil
}

func unavailable(op string, err error) error {
	return &syncgate.Error{Kind: syncgate.Unavailable, Code: syncgate.CodeDatabaseUnavailable,
		Message: "the attachment store is unavailable; retry later", Err: fmt.Errorf("attachments: %s: %w", op, err)}
}

func (h *Handler) tooLarge() error {
	return syncgate.Errorf(syncgate.TooLarge, syncgate.CodeBodyTooLarge, "an attachment may have at most %d bytes (ATTACHMENT_MAX_BYTES)", h.cfg.MaxBytes)
}

// errTooLarge ends a body that goes past the limit.
var errTooLarge = errors.New("attachments: body over the limit")

// body reads the request body up to a limit, counting, and remembers the
// error the client's side gave (to tell it from the store's).
type body struct {
	r       io.Reader
	left, n int64
	err     error
}

func (b *body) Read(p []byte) (int, error) {
	if b.left < 0 {
		return 0, errTooLarge
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	b.n += int64(n)
	if b.left < 0 {
		b.err = errTooLarge
		return n, errTooLarge
	}
	if err != nil && err != io.EOF {
		b.err = err
	}
	return n, err
}

// Put stores the body as attachment id, replacing the caller's own (or,
// with Config.Authorize, whichever version it allows).
func (h *Handler) Put(w http.ResponseWriter, r *http.Request) (err error) {
	caller, id, err := h.request(r)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			h.Stats.UploadFailures.Add(1)
		}
	}()
	if enc := r.Header.Get("Content-Encoding"); enc != "" && enc != "identity" {
		return syncgate.Errorf(syncgate.Unsupported, syncgate.CodeUnsupportedEncoding, "Content-Encoding %q is not accepted; send the file as it is", enc)
	}
	if r.ContentLength > h.cfg.MaxBytes {
		return h.tooLarge()
	}
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(h.cfg.BodyTimeout))
	var stored *Info
	switch old, err := h.store.Stat(r.Context(), id); {
	case errors.Is(err, ErrNotFound):
	case err != nil:
		return unavailable("stat", err)
	case h.cfg.Authorize == nil && old.Owner != caller.UserID:
		return notOwner(id)
	default:
		stored = &old
	}
	src := &body{r: r.Body, left: h.cfg.MaxBytes}
	head := make([]byte, sniffLen)
	n, rerr := io.ReadFull(src, head)
	head = head[:n]
	switch {
	case errors.Is(rerr, errTooLarge):
		return h.tooLarge()
	case src.err != nil || (rerr != nil && rerr != io.EOF && rerr != io.ErrUnexpectedEOF):
		return syncgate.Errorf(syncgate.Invalid, syncgate.CodeBodyUnreadable, "the body could not be read")
	case n == 0:
		return syncgate.Errorf(syncgate.Invalid, syncgate.CodeInvalidBody, "the body is empty: an attachment needs at least one byte")
	}
	ct := sniff(head)
	if !allowed(h.cfg.Types, ct) {
		return &syncgate.Error{Kind: syncgate.Unsupported, Code: syncgate.CodeUnsupportedMedia,
			Message: fmt.Sprintf("the file's content is %s, which is not an allowed attachment type (ATTACHMENT_TYPES)", ct),
			Details: []string{"allowed: " + strings.Join(h.cfg.Types, ", ")}}
	}
	next := &Info{ID: id, Owner: caller.UserID, ContentType: ct, Size: r.ContentLength} // -1: not declared
	replaces, ruled, err := h.decide(r.Context(), Write{Op: "PUT", ID: id, Caller: caller, Stored: stored, New: next})
	if err != nil {
		return err
	}
	info, err := h.store.Put(r.Context(), id, caller.UserID, ct, replaces, io.MultiReader(bytes.NewReader(head), src))
	h.Stats.BytesIn.Add(src.n)
	switch {
	case errors.Is(src.err, errTooLarge):
		return h.tooLarge()
	case src.err != nil:
		return &syncgate.Error{Kind: syncgate.Invalid, Code: syncgate.CodeBodyUnreadable, Message: "the body could not be read to its end; nothing was stored", Err: src.err}
	case errors.Is(err, ErrOwned) && ruled:
		return changed(id)
	case errors.Is(err, ErrOwned):
		return notOwner(id)
	case err != nil:
		return unavailable("put", err)
	}
	h.Stats.Uploads.Add(1)
	w.Header().Set("ETag", info.ETag())
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "application/json")
	return writeJSON(w, info)
}

// Get serves GET and HEAD: the whole file, one range, or 304.
func (h *Handler) Get(w http.ResponseWriter, r *http.Request) error {
	_, id, err := h.request(r)
	if err != nil {
		return err
	}
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(h.cfg.BodyTimeout))
	// A replace between Stat and Open deletes the version Stat named: look
	// again, once.
	for attempt := 0; ; attempt++ {
		info, err := h.store.Stat(r.Context(), id)
		if errors.Is(err, ErrNotFound) {
			return notFound(id)
		}
		if err != nil {
			return unavailable("stat", err)
		}
		err = h.serveFile(w, r, info)
		if errors.Is(err, ErrNotFound) {
			if attempt == 0 {
				continue
			}
			err = unavailable("open", err) // replaced twice while opening
		}
		if err != nil {
			h.Stats.DownloadFailures.Add(1)
		}
		return err
	}
}

func (h *Handler) serveFile(w http.ResponseWriter, r *http.Request, info Info) error {
	hd := w.Header()
	hd.Set("ETag", info.ETag())
	hd.Set("Last-Modified", info.Uploaded.UTC().Format(http.TimeFormat))
	hd.Set("Cache-Control", "private, no-cache")
	hd.Set("Accept-Ranges", "bytes")
	if inm := r.Header.Get("If-None-Match"); inm != "" && etagMatches(inm, info.ETag()) {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	rangeHeader := r.Header.Get("Range")
	if ir := r.Header.Get("If-Range"); ir != "" && ir != info.ETag() {
		rangeHeader = "" // the client's part is of another version
	}
	br, res := parseRange(rangeHeader, info.Size)
	switch res {
	case rangeUnsatisfiable:
		hd.Set("Content-Range", "bytes */"+strconv.FormatInt(info.Size, 10))
		return syncgate.Errorf(syncgate.BadRange, syncgate.CodeRangeNotSatisfiable, "the range %q is outside the file's %d bytes", rangeHeader, info.Size)
	case rangeWhole:
		br = byteRange{Start: 0, Length: info.Size}
	}
	var rc io.ReadCloser
	if r.Method != http.MethodHead {
		var err error
		if rc, err = h.store.Open(r.Context(), info, br.Start, br.Length); err != nil {
			if errors.Is(err, ErrNotFound) {
				return err
			}
			return unavailable("open", err)
		}
		defer rc.Close()
	}
	hd.Set("Content-Type", info.ContentType)
	hd.Set("Content-Length", strconv.FormatInt(br.Length, 10))
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	status := http.StatusOK
	if res == rangePart {
		hd.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", br.Start, br.Start+br.Length-1, info.Size))
		status = http.StatusPartialContent
	}
	w.WriteHeader(status)
	if rc == nil {
		return nil
	}
	var n int64
	var err error
	if wt, ok := rc.(io.WriterTo); ok { // the store's chunks as they are, no copy between
		n, err = wt.WriteTo(w)
	} else {
		bp := copyBufs.Get().(*[]byte)
		n, err = io.CopyBuffer(w, io.LimitReader(rc, br.Length), *bp)
		copyBufs.Put(bp)
	}
	if err == nil && n < br.Length {
		err = io.ErrUnexpectedEOF
	}
	h.Stats.BytesOut.Add(n)
	if err != nil {
		return fmt.Errorf("attachments: send %s after %d of %d bytes: %w", info.ID, n, br.Length, err)
	}
	h.Stats.Downloads.Add(1)
	return nil
}

// Delete removes the caller's attachment (with Config.Authorize, any it
// allows); deleting one that is not there succeeds (a client's retry).
func (h *Handler) Delete(w http.ResponseWriter, r *http.Request) error {
	caller, id, err := h.request(r)
	if err != nil {
		return err
	}
	info, err := h.store.Stat(r.Context(), id)
	switch {
	case errors.Is(err, ErrNotFound):
		w.WriteHeader(http.StatusNoContent)
		return nil
	case err != nil:
		return unavailable("stat", err)
	}
	replaces, ruled, err := h.decide(r.Context(), Write{Op: "DELETE", ID: id, Caller: caller, Stored: &info})
	if err != nil {
		return err
	}
	switch err := h.store.Delete(r.Context(), id, caller.UserID, replaces); {
	case errors.Is(err, ErrOwned) && ruled:
		return changed(id)
	case errors.Is(err, ErrOwned):
		return notOwner(id)
	case err != nil:
		return unavailable("delete", err)
	}
	h.Stats.Deletes.Add(1)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// copyBufs hold a GridFS chunk (255 KiB) each, for a Store whose reader is
// not an io.WriterTo: a download moves a chunk per write instead of 32 KiB
// pieces.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

func writeJSON(w http.ResponseWriter, v any) error {
	return json.NewEncoder(w).Encode(v)
}
