package cli

import (
	"context"
	"time"

	"github.com/syncgate/syncgate/guest/authorize/appsrules"
	"github.com/syncgate/syncgate/host/attachments"
	"github.com/syncgate/syncgate/host/live"
	"github.com/syncgate/syncgate/host/syncgate"
)

// Attachment rules (docs/authorization.md, "Attachments"): RULES_DIR's
// attachments.json decides every PUT and DELETE of /attachments, natively on
// the host, with the attachment's metadata as the document. The file is
// read with the rest of RULES_DIR at each reload; without it (or with it
// defining no roles) the default stands: only the owner replaces or
// deletes. default_rule.json never decides attachments.

// attachmentsTable is the rules file's table name: attachments.json.
const attachmentsTable = "attachments"

// liveWriteRules returns the live set's rules files (nil: none), or
// live.ErrNotLoaded before the first reload.
func liveWriteRules(rules *live.Reloader) func() (*appsrules.Set, error) {
	return func() (*appsrules.Set, error) {
		r := rules.Current()
		if r == nil {
			return nil, live.ErrNotLoaded
		}
		set, _, _, _ := r.Authorization()
		return set, nil
	}
}

// attachmentRules is attachments.Config.Authorize deciding by the rules
// current returns (the live set's).
func attachmentRules(current func() (*appsrules.Set, error)) func(context.Context, attachments.Write) error {
	return func(_ context.Context, w attachments.Write) error {
		set, err := current()
		if err != nil {
			return err
		}
		if set == nil {
			return attachments.ErrNoRules
		}
		if _, file := set.Roles(attachmentsTable); file != attachmentsTable+".json" {
			return attachments.ErrNoRules
		}
		d := set.Decide(attachmentInput(w))
		if !d.Allow {
			return syncgate.Errorf(syncgate.Forbidden, syncgate.CodeForbidden, "attachment %q: %s", w.ID, d.Reason)
		}
		return nil
	}
}

// attachmentInput is the rules' input for a write of an attachment: the
// document is its metadata (attachmentDoc); the caller's claims are
// %%user.data, their custom_data claim %%user.custom_data.
func attachmentInput(w attachments.Write) appsrules.Input {
	in := appsrules.Input{Op: w.Op, Table: attachmentsTable, ID: w.ID, User: appsrules.UserOf(w.Caller.UserID, w.Caller.Claims)}
	if w.Stored != nil {
		in.Current, in.Exists = attachmentDoc(*w.Stored, true), true
	}
	if w.New != nil {
		in.Data = attachmentDoc(*w.New, false)
	}
	return in
}

// attachmentDoc is an attachment's metadata as rules read it: owner (the
// uploader's user id), content_type (as sniffed), size (bytes; a new
// version's only when the client declared Content-Length), and for the
// stored version sha256 (hex) and uploaded (RFC 3339 text, UTC). The id
// is %%root._id.
func attachmentDoc(i attachments.Info, stored bool) appsrules.Map {
	m := appsrules.Map{"owner": i.Owner, "content_type": i.ContentType}
	if i.Size >= 0 {
		m["size"] = i.Size
	}
	if stored {
		m["sha256"] = i.SHA256
		m["uploaded"] = i.Uploaded.UTC().Format(time.RFC3339Nano)
	}
	return m
}
