package admin

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/syncgate/syncgate/host/attachments"
	"github.com/syncgate/syncgate/host/syncgate"
)

// fakeStore is an attachment store in memory whose calls can fail.
type fakeStore struct {
	files            map[string]attachments.Info
	listErr, statErr error
	purgeErr         error
	purged           []string
}

func (f *fakeStore) List(context.Context) ([]attachments.Info, error) {
	var out []attachments.Info
	for _, i := range f.files {
		out = append(out, i)
	}
	return out, f.listErr
}

func (f *fakeStore) Stat(_ context.Context, id string) (attachments.Info, error) {
	if f.statErr != nil {
		return attachments.Info{}, f.statErr
	}
	i, ok := f.files[id]
	if !ok {
		return i, attachments.ErrNotFound
	}
	return i, nil
}

func (f *fakeStore) Purge(_ context.Context, id string) error {
	if f.purgeErr != nil {
		return f.purgeErr
	}
	f.purged = append(f.purged, id)
	delete(f.files, id)
	return nil
}

func console(t *testing.T, cfg Config) *Console {
	t.Helper()
	cfg.Keys = []string{"k"}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// call runs h on a request with body and returns the recorder and the
// handler's error.
func call(h func(http.ResponseWriter, *http.Request) error, method, target, body string) (*httptest.ResponseRecorder, error) {
	w := httptest.NewRecorder()
	return w, h(w, httptest.NewRequest(method, target, strings.NewReader(body)))
}

func code(err error) syncgate.Code {
	var se *syncgate.Error
	if errors.As(err, &se) {
		return se.Code
	}
	return ""
}

func TestAttachmentDelete(t *testing.T) {
	st := &fakeStore{files: map[string]attachments.Info{"a1": {ID: "a1", Owner: "bob", Size: 5, Uploaded: time.Unix(0, 0)}}}
	c := console(t, Config{Attachments: st})
	_, err := call(c.attachmentDelete, "POST", "/", `{"id":"nope"}`)
	if code(err) != syncgate.CodeAttachmentNotFound {
		t.Errorf("absent id: %v", err)
	}
	if _, err = call(c.attachmentDelete, "POST", "/", `{"id":""}`); code(err) != syncgate.CodeInvalidBody || !strings.Contains(err.Error(), "id is required") {
		t.Errorf("empty id: %v", err)
	}
	if _, err = call(c.attachmentDelete, "POST", "/", strings.Repeat(" ", maxBody)+`{"id":"a1"}`); code(err) != syncgate.CodeBodyTooLarge {
		t.Errorf("body over the limit: %v", err)
	}
	st.statErr = errors.New("filestore: stat: connection reset")
	if _, err = call(c.attachmentDelete, "POST", "/", `{"id":"a1"}`); err == nil || code(err) != "" {
		t.Errorf("a store failure must stay internal (500), got %v", err)
	}
	st.statErr, st.purgeErr = nil, errors.New("filestore: purge: connection reset")
	if _, err = call(c.attachmentDelete, "POST", "/", `{"id":"a1"}`); err == nil || code(err) != "" || len(st.purged) != 0 {
		t.Errorf("purge failure: %v (purged %v)", err, st.purged)
	}
	st.purgeErr = nil
	rec, err := call(c.attachmentDelete, "POST", "/", `{"id":"a1"}`)
	if err != nil || !strings.Contains(rec.Body.String(), `"deleted":"a1"`) || len(st.purged) != 1 {
		t.Fatalf("delete: %v %s", err, rec.Body)
	}
}

func TestAttachmentListLimit(t *testing.T) {
	st := &fakeStore{files: map[string]attachments.Info{"a": {ID: "a", Size: 1}, "b": {ID: "b", Size: 2}, "c": {ID: "c", Size: 4}}}
	c := console(t, Config{Attachments: st})
	rec, err := call(c.attachmentList, "GET", "/?limit=2", "")
	var got AttachmentList
	if err != nil || json.Unmarshal(rec.Body.Bytes(), &got) != nil || len(got.Attachments) != 2 || got.Total != 3 || got.Bytes != 7 || !got.Enabled {
		t.Fatalf("limit 2: %v %s", err, rec.Body)
	}
	for _, bad := range []string{"0", "-1", "x"} {
		if _, err := call(c.attachmentList, "GET", "/?limit="+bad, ""); code(err) != syncgate.CodeInvalidFilter {
			t.Errorf("limit=%s: %v", bad, err)
		}
	}
	st.listErr = errors.New("filestore: list: timeout")
	if _, err := call(c.attachmentList, "GET", "/", ""); err == nil || code(err) != "" {
		t.Errorf("list failure: %v", err)
	}
}

func TestExplainHandler(t *testing.T) {
	var got ExplainRequest
	c := console(t, Config{Explain: func(req ExplainRequest) (any, error) {
		got = req
		if req.Op.Op == "GET" {
			return nil, errors.New(`op: op "GET" is not PUT, PATCH or DELETE`)
		}
		if req.User == "loading" {
			return nil, &syncgate.Error{Kind: syncgate.Unavailable, Code: syncgate.CodeGuestsLoading, Message: "no rules are loaded yet"}
		}
		return map[string]any{"allow": true}, nil
	}})
	rec, err := call(c.explain, "POST", "/", `{"user":"alice","claims":{"n":12345678901234567890},"op":{"op":"PUT","type":"lists","id":"l1","data":{"x":1}},"current":null}`)
	if err != nil || !strings.Contains(rec.Body.String(), `"allow":true`) {
		t.Fatalf("explain: %v %s", err, rec.Body)
	}
	if n, ok := got.Claims["n"].(json.Number); !ok || n.String() != "12345678901234567890" || got.Op.Type != "lists" || got.Current != nil {
		t.Errorf("request as decoded: %#v", got)
	}
	if _, err := call(c.explain, "POST", "/", `{"op":{"op":"GET","type":"lists","id":"l1"}}`); code(err) != syncgate.CodeInvalidBody || !strings.Contains(err.Error(), `op "GET"`) {
		t.Errorf("the input's fault is 400 invalid_body: %v", err)
	}
	if _, err := call(c.explain, "POST", "/", `{"user":"loading","op":{}}`); code(err) != syncgate.CodeGuestsLoading {
		t.Errorf("a syncgate.Error passes through: %v", err)
	}
	if _, err := call(console(t, Config{}).explain, "POST", "/", `{}`); code(err) != syncgate.CodeGuestsLoading {
		t.Errorf("no Explain func: %v", err)
	}
}
