package attachments

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/syncgate/syncgate/host/syncgate"
)

// memStore is a Store in memory whose calls can be made to fail.
type memStore struct {
	files                         map[string]Info
	data                          map[string][]byte
	statErr, putErr, openErr, del error
	putRead                       int64    // bytes Put read
	versions                      int      // names each stored version's File
	replaced                      []string // the replaces argument of each Put and Delete
}

func newMem() *memStore { return &memStore{files: map[string]Info{}, data: map[string][]byte{}} }

func (m *memStore) Stat(_ context.Context, id string) (Info, error) {
	if m.statErr != nil {
		return Info{}, m.statErr
	}
	i, ok := m.files[id]
	if !ok {
		return Info{}, ErrNotFound
	}
	return i, nil
}

func (m *memStore) Open(_ context.Context, info Info, off, n int64) (io.ReadCloser, error) {
	if m.openErr != nil {
		return nil, m.openErr
	}
	return io.NopCloser(bytes.NewReader(m.data[info.ID][off : off+n])), nil
}

// Put and Delete refuse another owner's version unless replaces names it,
// as the Store contract says.
func (m *memStore) Put(_ context.Context, id, owner, ct, replaces string, body io.Reader) (Info, error) {
	m.replaced = append(m.replaced, replaces)
	b, err := io.ReadAll(body)
	m.putRead = int64(len(b))
	if err != nil {
		return Info{}, err
	}
	if m.putErr != nil {
		return Info{}, m.putErr
	}
	if old, ok := m.files[id]; ok && old.Owner != owner && old.File != replaces {
		return Info{}, ErrOwned
	}
	m.versions++
	i := Info{ID: id, Owner: owner, ContentType: ct, Size: int64(len(b)), SHA256: "x", File: fmt.Sprintf("v%d", m.versions)}
	m.files[id], m.data[id] = i, b
	return i, nil
}

func (m *memStore) Delete(_ context.Context, id, owner, replaces string) error {
	m.replaced = append(m.replaced, replaces)
	if m.del != nil {
		return m.del
	}
	if old, ok := m.files[id]; ok && old.Owner != owner && old.File != replaces {
		return ErrOwned
	}
	delete(m.files, id)
	return nil
}

// userAuth takes the user from the X-User header; none is a 401.
type userAuth struct{}

func (userAuth) Authenticate(r *http.Request) (syncgate.Caller, error) {
	if u := r.Header.Get("X-User"); u != "" {
		return syncgate.Caller{UserID: u}, nil
	}
	return syncgate.Caller{}, syncgate.Errorf(syncgate.Unauthorized, syncgate.CodeMissingToken, "no token")
}

var png = append([]byte("\x89PNG\r\n\x1a\n"), make([]byte, 600)...)

func call(t *testing.T, h *Handler, method, user string, body io.Reader, hdr ...string) (int, string, http.Header) {
	t.Helper()
	r := httptest.NewRequest(method, "/attachments/f1", body)
	r.SetPathValue("id", "f1")
	if user != "" {
		r.Header.Set("X-User", user)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	var fn func(http.ResponseWriter, *http.Request) error
	switch method {
	case "PUT":
		fn = h.Put
	case "DELETE":
		fn = h.Delete
	default:
		fn = h.Get
	}
	if err := fn(w, r); err != nil {
		e := syncgate.AsError(err)
		return -int(e.Kind) - 1, string(e.Code), w.Header()
	}
	return w.Code, w.Body.String(), w.Header()
}

// errReader fails after its bytes, as a body whose client went away.
type errReader struct{ b []byte }

func (e *errReader) Read(p []byte) (int, error) {
	if len(e.b) == 0 {
		return 0, io.ErrUnexpectedEOF
	}
	n := copy(p, e.b)
	e.b = e.b[n:]
	return n, nil
}

func kind(k syncgate.Kind) int { return -int(k) - 1 }

func TestHandlerFailurePaths(t *testing.T) {
	cfg := Config{MaxBytes: 1000, Types: []string{"image/*"}, MaxIDBytes: 10}
	down := errors.New("connection refused")
	for _, c := range []struct {
		name   string
		prep   func(m *memStore)
		method string
		body   io.Reader
		want   int
		code   string
	}{
		{"stat fails on PUT", func(m *memStore) { m.statErr = down }, "PUT", bytes.NewReader(png), kind(syncgate.Unavailable), "database_unavailable"},
		{"put fails", func(m *memStore) { m.putErr = down }, "PUT", bytes.NewReader(png), kind(syncgate.Unavailable), "database_unavailable"},
		{"owner race in the store", func(m *memStore) { m.putErr = ErrOwned }, "PUT", bytes.NewReader(png), kind(syncgate.Forbidden), "not_owner"},
		{"body cut after the head", nil, "PUT", &errReader{b: png}, kind(syncgate.Invalid), "body_unreadable"},
		{"body cut in the head", nil, "PUT", &errReader{b: png[:20]}, kind(syncgate.Invalid), "body_unreadable"},
		{"over the limit while streaming", nil, "PUT", io.MultiReader(bytes.NewReader(png), bytes.NewReader(make([]byte, 1000))), kind(syncgate.TooLarge), "body_too_large"},
		{"stat fails on GET", func(m *memStore) { m.statErr = down }, "GET", nil, kind(syncgate.Unavailable), "database_unavailable"},
		{"open fails", func(m *memStore) { m.files["f1"] = Info{ID: "f1", Size: 1}; m.openErr = down }, "GET", nil, kind(syncgate.Unavailable), "database_unavailable"},
		{"version gone twice", func(m *memStore) { m.files["f1"] = Info{ID: "f1", Size: 1}; m.openErr = ErrNotFound }, "GET", nil, kind(syncgate.Unavailable), "database_unavailable"},
		{"stat fails on DELETE", func(m *memStore) { m.statErr = down }, "DELETE", nil, kind(syncgate.Unavailable), "database_unavailable"},
		{"delete fails", func(m *memStore) { m.files["f1"] = Info{ID: "f1", Owner: "u"}; m.del = down }, "DELETE", nil, kind(syncgate.Unavailable), "database_unavailable"},
		{"delete raced by another owner", func(m *memStore) { m.files["f1"] = Info{ID: "f1", Owner: "u"}; m.del = ErrOwned }, "DELETE", nil, kind(syncgate.Forbidden), "not_owner"},
		{"no user", func(m *memStore) {}, "", nil, kind(syncgate.Unauthorized), "missing_token"},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := newMem()
			if c.prep != nil {
				c.prep(m)
			}
			h := New(cfg, m, userAuth{})
			user := "u"
			if c.method == "" {
				c.method, user = "GET", ""
			}
			got, code, _ := call(t, h, c.method, user, c.body)
			if got != c.want || code != c.code {
				t.Fatalf("got %d %s, want %d %s", got, code, c.want, c.code)
			}
			if c.method == "PUT" && got != 200 && h.Stats.UploadFailures.Load() != 1 {
				t.Fatal("the failure is not counted")
			}
		})
	}
}

func TestHandlerPutGetStats(t *testing.T) {
	m := newMem()
	h := New(Config{MaxBytes: 1000, Types: []string{"image/png"}}, m, userAuth{})
	if got, body, _ := call(t, h, "PUT", "u", bytes.NewReader(png), "Content-Type", "text/plain"); got != 200 {
		t.Fatalf("PUT: %d %s", got, body)
	} else {
		var i Info
		if json.Unmarshal([]byte(body), &i) != nil || i.ContentType != "image/png" || i.Size != int64(len(png)) {
			t.Fatalf("PUT answer %s", body)
		}
	}
	got, body, hd := call(t, h, "GET", "v", nil, "Range", "bytes=1-3")
	if got != 206 || body != string(png[1:4]) || hd.Get("Content-Range") != "bytes 1-3/608" || hd.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("GET range: %d %q %v", got, body, hd)
	}
	if h.Stats.Uploads.Load() != 1 || h.Stats.BytesIn.Load() != int64(len(png)) || h.Stats.BytesOut.Load() != 3 || h.Stats.Downloads.Load() != 1 {
		t.Fatalf("stats %+v", &h.Stats)
	}
	if got, _, _ := call(t, h, "PUT", "u", strings.NewReader("GIF89a......")); got != kind(syncgate.Unsupported) {
		t.Fatalf("GIF with only PNG allowed: %d", got)
	}
}

func TestSniff(t *testing.T) {
	ftyp := func(brands ...string) []byte {
		b := []byte{0, 0, 0, byte(8 + 4*len(brands) + 4), 'f', 't', 'y', 'p'}
		b = append(b, brands[0]...)
		b = append(b, 0, 0, 0, 0)
		for _, x := range brands[1:] {
			b = append(b, x...)
		}
		return append(b, make([]byte, 32)...)
	}
	for _, c := range []struct {
		b    []byte
		want string
	}{
		{png, "image/png"},
		{[]byte{0xFF, 0xD8, 0xFF, 0xE1, 0, 0}, "image/jpeg"},
		{[]byte("GIF89a"), "image/gif"},
		{[]byte("RIFF\x00\x00\x00\x00WEBPVP8 "), "image/webp"},
		{[]byte("%PDF-1.7\n"), "application/pdf"},
		{ftyp("heic", "mif1", "heic"), "image/heic"},
		{ftyp("mif1", "mif1", "miaf"), "image/heif"},
		{ftyp("avif", "avif", "mif1"), "image/avif"},
		{ftyp("isom", "isom", "mp41"), "video/mp4"},
		{[]byte("hello"), "text/plain"},
		{[]byte{0, 1, 2, 3}, "application/octet-stream"},
	} {
		if got := sniff(c.b); got != c.want {
			t.Errorf("sniff(%q) = %s, want %s", c.b[:min(12, len(c.b))], got, c.want)
		}
	}
	if !allowed([]string{"image/*"}, "image/heic") || allowed([]string{"image/*"}, "application/pdf") || !allowed([]string{"*/*"}, "x/y") || !allowed([]string{" Image/PNG"}, "image/png") {
		t.Error("allowed")
	}
}

func TestCheckID(t *testing.T) {
	for id, ok := range map[string]bool{"a": true, "0b6f3a52-5a3c-4c59-9ac6-2f2b7f7c1b13": true, "": false, "a\x00": false, "\xff": false, strings.Repeat("x", 41): false} {
		if err := checkID(id, 40); (err == nil) != ok {
			t.Errorf("checkID(%q) = %v", id, err)
		}
	}
}
