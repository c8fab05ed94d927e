package attachments

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"reflect"
	"testing"

	"github.com/syncgate/syncgate/host/syncgate"
)

// decider is a Config.Authorize that records what it was asked: the owner
// or a caller with the "admin" claim may replace or delete.
type decider struct{ asked []Write }

func (d *decider) authorize(_ context.Context, w Write) error {
	d.asked = append(d.asked, w)
	if w.Caller.Claims["admin"] == true || w.Stored == nil || w.Stored.Owner == w.Caller.UserID {
		return nil
	}
	return errors.New(`role "owner": document_filters.write does not hold`)
}

func TestAuthorizePut(t *testing.T) {
	m := newMem()
	d := &decider{}
	h := New(Config{MaxBytes: 1000, Types: []string{"image/*"}, Authorize: d.authorize}, m, claimsAuth{})

	// A new attachment: the decision sees no stored version and the new
	// one's owner, sniffed type and declared size.
	if got, body, _ := call(t, h, "PUT", "alice", bytes.NewReader(png)); got != 200 {
		t.Fatalf("alice's PUT: %d %s", got, body)
	}
	want := Write{Op: "PUT", ID: "f1", Caller: syncgate.Caller{UserID: "alice"},
		New: &Info{ID: "f1", Owner: "alice", ContentType: "image/png", Size: int64(len(png))}}
	if len(d.asked) != 1 || !reflect.DeepEqual(d.asked[0], want) {
		t.Fatalf("asked %+v\nwant %+v", d.asked, want)
	}
	alices := m.files["f1"]

	// Bob may not replace it: 403 forbidden, the rules' reason, nothing stored.
	puts := len(m.replaced)
	got, code, _ := call(t, h, "PUT", "bob", bytes.NewReader(png))
	if got != kind(syncgate.Forbidden) || code != "forbidden" || len(m.replaced) != puts || m.files["f1"] != alices {
		t.Fatalf("bob's PUT: %d %s, store %+v", got, code, m.files["f1"])
	}
	if w := d.asked[1]; w.Stored == nil || *w.Stored != alices || w.New.Owner != "bob" {
		t.Fatalf("bob's PUT asked %+v", w)
	}
	if h.Stats.UploadFailures.Load() != 1 {
		t.Fatalf("refusal not counted: %d", h.Stats.UploadFailures.Load())
	}

	// An admin may: the store is told which version it may replace, and the
	// new version is the admin's. A streamed body has no declared size.
	got, body, _ := call(t, h, "PUT", "admin", io.MultiReader(bytes.NewReader(png)), "X-Admin", "1")
	if got != 200 || m.files["f1"].Owner != "admin" || m.replaced[len(m.replaced)-1] != alices.File {
		t.Fatalf("admin's PUT: %d %s, replaces %v, stored %+v", got, body, m.replaced, m.files["f1"])
	}
	if w := d.asked[2]; w.New.Size != -1 {
		t.Fatalf("undeclared size: asked %+v, want -1", w.New)
	}
}

func TestAuthorizeDelete(t *testing.T) {
	m := newMem()
	d := &decider{}
	h := New(Config{MaxBytes: 1000, Types: []string{"image/*"}, Authorize: d.authorize}, m, claimsAuth{})
	if got, code, _ := call(t, h, "DELETE", "bob", nil); got != http.StatusNoContent || len(d.asked) != 0 {
		t.Fatalf("DELETE of nothing: %d %s, asked %+v (want 204, not decided)", got, code, d.asked)
	}
	m.files["f1"] = Info{ID: "f1", Owner: "alice", File: "v0"}
	got, code, _ := call(t, h, "DELETE", "bob", nil)
	if got != kind(syncgate.Forbidden) || code != "forbidden" || m.files["f1"].ID == "" {
		t.Fatalf("bob's DELETE: %d %s", got, code)
	}
	if w := d.asked[0]; w.Op != "DELETE" || w.New != nil || w.Stored == nil || w.Stored.Owner != "alice" {
		t.Fatalf("asked %+v", w)
	}
	if got, code, _ := call(t, h, "DELETE", "admin", nil, "X-Admin", "1"); got != http.StatusNoContent || m.files["f1"].ID != "" || m.replaced[len(m.replaced)-1] != "v0" {
		t.Fatalf("admin's DELETE: %d %s, replaces %v", got, code, m.replaced)
	}
	if h.Stats.Deletes.Load() != 1 {
		t.Fatalf("deletes %d", h.Stats.Deletes.Load())
	}
}

// TestAuthorizeReadsOpen: GET and HEAD never consult Authorize.
func TestAuthorizeReadsOpen(t *testing.T) {
	m := newMem()
	m.files["f1"], m.data["f1"] = Info{ID: "f1", Owner: "alice", ContentType: "image/png", Size: int64(len(png))}, png
	h := New(Config{MaxBytes: 1000, Types: []string{"image/*"}, Authorize: func(context.Context, Write) error {
		t.Fatal("a read was decided")
		return nil
	}}, m, claimsAuth{})
	if got, _, _ := call(t, h, "GET", "bob", nil); got != 200 {
		t.Fatalf("bob's GET: %d", got)
	}
}

// TestAuthorizeErrors: a *syncgate.Error refusal is answered as it is; a
// version another user stored after the decision is never overwritten.
func TestAuthorizeErrors(t *testing.T) {
	m := newMem()
	own := syncgate.Errorf(syncgate.Unavailable, syncgate.CodeDatabaseUnavailable, "rules loading")
	h := New(Config{MaxBytes: 1000, Types: []string{"image/*"}, Authorize: func(context.Context, Write) error { return own }}, m, claimsAuth{})
	if got, code, _ := call(t, h, "PUT", "bob", bytes.NewReader(png)); got != kind(syncgate.Unavailable) || code != "database_unavailable" {
		t.Fatalf("own error: %d %s", got, code)
	}

	// The decision allowed replacing version v0; carol's v9 came in meanwhile.
	m.files["f1"] = Info{ID: "f1", Owner: "alice", File: "v0"}
	race := func(_ context.Context, w Write) error {
		m.files["f1"] = Info{ID: "f1", Owner: "carol", File: "v9"}
		return nil
	}
	h = New(Config{MaxBytes: 1000, Types: []string{"image/*"}, Authorize: race}, m, claimsAuth{})
	if got, code, _ := call(t, h, "PUT", "bob", bytes.NewReader(png)); got != kind(syncgate.Forbidden) || code != "forbidden" || m.files["f1"].Owner != "carol" {
		t.Fatalf("raced PUT: %d %s, stored %+v", got, code, m.files["f1"])
	}
	m.files["f1"] = Info{ID: "f1", Owner: "alice", File: "v0"}
	if got, code, _ := call(t, h, "DELETE", "bob", nil); got != kind(syncgate.Forbidden) || code != "forbidden" || m.files["f1"].Owner != "carol" {
		t.Fatalf("raced DELETE: %d %s, stored %+v", got, code, m.files["f1"])
	}
}

// TestAuthorizeNoRules: ErrNoRules leaves a write to the default: only the
// owner replaces or deletes.
func TestAuthorizeNoRules(t *testing.T) {
	m := newMem()
	asked := 0
	h := New(Config{MaxBytes: 1000, Types: []string{"image/*"}, Authorize: func(context.Context, Write) error { asked++; return ErrNoRules }}, m, claimsAuth{})
	if got, body, _ := call(t, h, "PUT", "alice", bytes.NewReader(png)); got != 200 {
		t.Fatalf("alice's PUT: %d %s", got, body)
	}
	if got, code, _ := call(t, h, "PUT", "bob", bytes.NewReader(png), "X-Admin", "1"); got != kind(syncgate.Forbidden) || code != "not_owner" {
		t.Fatalf("bob's PUT: %d %s", got, code)
	}
	if got, code, _ := call(t, h, "DELETE", "bob", nil); got != kind(syncgate.Forbidden) || code != "not_owner" {
		t.Fatalf("bob's DELETE: %d %s", got, code)
	}
	if got, code, _ := call(t, h, "PUT", "alice", bytes.NewReader(png)); got != 200 || m.replaced[len(m.replaced)-1] != "" {
		t.Fatalf("alice's replace: %d %s, replaces %q", got, code, m.replaced)
	}
	if got, code, _ := call(t, h, "DELETE", "alice", nil); got != http.StatusNoContent || asked != 5 {
		t.Fatalf("alice's DELETE: %d %s, asked %d times", got, code, asked)
	}
}

// claimsAuth is userAuth with the claim admin: true when X-Admin is set.
type claimsAuth struct{}

func (claimsAuth) Authenticate(r *http.Request) (syncgate.Caller, error) {
	c, err := userAuth{}.Authenticate(r)
	if err == nil && r.Header.Get("X-Admin") != "" {
		c.Claims = map[string]any{"admin": true}
	}
	return c, err
}
