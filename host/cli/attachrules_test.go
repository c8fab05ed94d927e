package cli

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/syncgate/syncgate/guest/authorize/appsrules"
	"github.com/syncgate/syncgate/host/attachments"
	"github.com/syncgate/syncgate/host/live"
	"github.com/syncgate/syncgate/host/syncgate"
)

// attachmentsRulesFile: admins may do anything; an uploader replaces and
// deletes only their own files, of at most 1000 declared bytes.
const attachmentsRulesFile = `{"roles": [
	{"name": "admin", "apply_when": {"%%user.data.role": "admin"}, "write": true, "insert": true, "delete": true},
	{"name": "uploader", "apply_when": {"owner": "%%user.id"},
	 "document_filters": {"write": {"owner": "%%user.id"}},
	 "write": {"size": {"$lte": 1000}}, "insert": true, "delete": true}]}`

func rulesSet(t *testing.T, files map[string]string) *appsrules.Set {
	t.Helper()
	fsys := fstest.MapFS{}
	for n, text := range files {
		fsys[n] = &fstest.MapFile{Data: []byte(text)}
	}
	s, err := appsrules.Load(fsys)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestAttachmentRules(t *testing.T) {
	set := rulesSet(t, map[string]string{"attachments.json": attachmentsRulesFile})
	decide := attachmentRules(func() (*appsrules.Set, error) { return set, nil })
	alices := &attachments.Info{ID: "f1", Owner: "alice", ContentType: "image/png", Size: 600, SHA256: "ab", File: "v1"}
	put := func(user string, size int64, stored *attachments.Info, claims map[string]any) attachments.Write {
		return attachments.Write{Op: "PUT", ID: "f1", Caller: syncgate.Caller{UserID: user, Claims: claims}, Stored: stored,
			New: &attachments.Info{ID: "f1", Owner: user, ContentType: "image/png", Size: size}}
	}
	del := func(user string, claims map[string]any) attachments.Write {
		return attachments.Write{Op: "DELETE", ID: "f1", Caller: syncgate.Caller{UserID: user, Claims: claims}, Stored: alices}
	}
	admin := map[string]any{"role": "admin"}
	for _, c := range []struct {
		name string
		w    attachments.Write
		deny string // "" allows
	}{
		{"alice uploads a new file", put("alice", 600, nil, nil), ""},
		{"alice replaces her file", put("alice", 700, alices, nil), ""},
		{"alice uploads too large a file", put("alice", 5000, nil, nil), `role "uploader": write`},
		{"an undeclared size never allows a size rule", put("alice", -1, nil, nil), `role "uploader": write`},
		{"bob replaces alice's file", put("bob", 600, alices, nil), "no role: apply_when"},
		{"bob deletes alice's file", del("bob", nil), "no role: apply_when"},
		{"an admin deletes alice's file", del("root", admin), ""},
		{"an admin replaces alice's file", put("root", 600, alices, admin), ""},
		{"alice deletes her file", del("alice", nil), ""},
	} {
		err := decide(t.Context(), c.w)
		if c.deny == "" {
			if err != nil {
				t.Errorf("%s: %v, want allowed", c.name, err)
			}
			continue
		}
		var se *syncgate.Error
		if !errors.As(err, &se) || se.Kind != syncgate.Forbidden || se.Code != syncgate.CodeForbidden || !strings.Contains(se.Message, c.deny) {
			t.Errorf("%s: %v, want forbidden naming %q", c.name, err, c.deny)
		}
	}

	// No attachments.json (a default rule is not one), no rules, or rules not
	// loaded yet.
	for name, current := range map[string]func() (*appsrules.Set, error){
		"default rule only": func() (*appsrules.Set, error) {
			return rulesSet(t, map[string]string{"default_rule.json": `{"roles": [{"name": "all", "apply_when": {}, "write": true, "insert": true, "delete": true}]}`}), nil
		},
		"attachments.json without roles": func() (*appsrules.Set, error) {
			return rulesSet(t, map[string]string{"attachments.json": `{"roles": []}`, "lists.json": attachmentsRulesFile}), nil
		},
		"no rules": func() (*appsrules.Set, error) { return nil, nil },
	} {
		if err := attachmentRules(current)(t.Context(), del("bob", nil)); !errors.Is(err, attachments.ErrNoRules) {
			t.Errorf("%s: %v, want ErrNoRules (the owner default)", name, err)
		}
	}
	notLoaded := attachmentRules(func() (*appsrules.Set, error) { return nil, live.ErrNotLoaded })
	if err := notLoaded(t.Context(), del("bob", nil)); err != live.ErrNotLoaded {
		t.Errorf("before the first reload: %v", err)
	}
}

func TestAttachmentDoc(t *testing.T) {
	up := time.Date(2026, 12, 6, 10, 0, 0, 0, time.FixedZone("x", 3600))
	i := attachments.Info{ID: "f1", Owner: "alice", ContentType: "image/png", Size: 600, SHA256: "ab", Uploaded: up, File: "v1"}
	want := appsrules.Map{"owner": "alice", "content_type": "image/png", "size": int64(600), "sha256": "ab", "uploaded": "2026-12-06T09:00:00Z"}
	if got := attachmentDoc(i, true); !reflect.DeepEqual(got, want) {
		t.Errorf("stored: %v, want %v", got, want)
	}
	i.Size = -1
	if got := attachmentDoc(i, false); !reflect.DeepEqual(got, appsrules.Map{"owner": "alice", "content_type": "image/png"}) {
		t.Errorf("new, size not declared: %v", got)
	}
	in := attachmentInput(attachments.Write{Op: "DELETE", ID: "f1", Caller: syncgate.Caller{UserID: "u", Claims: map[string]any{"custom_data": map[string]any{"team": "a"}}}, Stored: &i})
	if in.Table != "attachments" || !in.Exists || in.Data != nil || in.User.CustomData["team"] != "a" || in.User.Data == nil || in.User.Type != "normal" {
		t.Errorf("input %+v", in)
	}
}
