package main

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"

	"github.com/syncgate/syncgate/guest"
	"github.com/syncgate/syncgate/guest/authorize/appsrules"
	"github.com/syncgate/syncgate/guest/authorize/syncscope"
	"github.com/syncgate/syncgate/guest/internal/wire"
	"github.com/syncgate/syncgate/guest/raw"
)

// RulesMount is where the host mounts the rules directory (RULES_DIR);
// SyncConfig is where it puts the sync config (AUTHORIZE=sync-scope).
const (
	RulesMount = "/rules"
	SyncConfig = "/sync/sync-config.yaml"
)

// info is the guest's Info: it needs the stored document of every op (the
// rules' %%prevRoot, document filters on the stored document, the fields
// an op changes).
var info = guest.Info{Name: "authorize", NeedsCurrent: true}

// check is one authorization check. Every check must allow an op; the
// first that refuses it decides the rejection. The rules check is the
// first; a sync-scope check (parent documents) is ANDed in after it.
type check func(op *guest.Op) guest.Verdict

// authorizer runs its checks in order. It reuses its row views from op to
// op, so one authorizer serves one goroutine (a guest instance serves one
// call at a time).
type authorizer struct {
	rules     *appsrules.Set    // nil: no rules files
	scope     *syncscope.Config // nil: no sync scope
	checks    []check
	data, cur rawDoc
	names     names
	boxes     wire.Arena
	decider   appsrules.Decider
	in        appsrules.Input // the op being decided
}

// newAuthorizer loads the rules in rules (nil: none mounted) and the sync
// config syncYAML (nil: none); at least one must be there.
func newAuthorizer(rules fs.FS, syncYAML []byte) (*authorizer, error) {
	a := &authorizer{}
	a.data.names, a.cur.names = &a.names, &a.names
	a.data.boxes, a.cur.boxes = &a.boxes, &a.boxes
	if rules != nil {
		set, err := appsrules.Load(rules)
		if err != nil {
			return nil, fmt.Errorf("authorize: %s: %w", RulesMount, err)
		}
		if !set.Empty() {
			a.rules = set
			a.checks = append(a.checks, a.checkRules)
		}
	}
	if syncYAML != nil {
		sc, err := syncscope.Parse("sync config", syncYAML)
		if err != nil {
			return nil, fmt.Errorf("authorize: %w", err)
		}
		a.scope = sc
		a.checks = append(a.checks, a.checkScope)
	}
	if len(a.checks) == 0 {
		return nil, fmt.Errorf("authorize: %s holds no rules file (<table>.json or %s) and no sync config is mounted", RulesMount, appsrules.DefaultFile)
	}
	return a, nil
}

// references are the parents the rules files (x-syncgate-parents) and
// the sync scope read (a todo's list), each once, for the guest's Info:
// the host sends them with each op.
func (a *authorizer) references() []guest.Reference {
	var out []guest.Reference
	add := func(r guest.Reference) {
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	if a.rules != nil {
		for _, p := range a.rules.Parents() {
			add(guest.Reference{Table: p.Table, Column: p.Column, Parent: p.Collection, Field: p.Field})
		}
	}
	if a.scope != nil {
		for _, r := range a.scope.References() {
			add(guest.Reference{Table: r.Table, Column: r.Column, Parent: r.Parent, Field: r.ParentField, ByUser: r.ByUser})
		}
	}
	return out
}

// currentFields are the stored documents' fields the rules read, by table
// (appsrules.Set.StoredFields), for Info.CurrentFields: nil (whole
// documents) when a sync config is mounted too, whose checks read stored
// documents as they please.
func (a *authorizer) currentFields() map[string][]string {
	if a.rules == nil || a.scope != nil {
		return nil
	}
	return a.rules.StoredFields()
}

func (a *authorizer) handle(op *guest.Op) guest.Verdict {
	for _, c := range a.checks {
		if v := c(op); v.Reject {
			return v
		}
	}
	return guest.Accept()
}

// checkRules decides the op by the rules files. A denial is code
// "forbidden" with a reason naming the role (or "no role") and the clause
// that failed.
func (a *authorizer) checkRules(op *guest.Op) guest.Verdict {
	// The rows' readers are large: each is copied once, into its rawDoc.
	data := op.DataMembers()
	a.data.reset(&data)
	if op.Exists {
		current := op.CurrentMembers()
		a.cur.reset(&current)
	} else {
		a.cur.reset(&raw.Members{})
	}
	return a.decideRules(op)
}

// checkRulesOn is checkRules over the op's rows read by data and current.
func (a *authorizer) checkRulesOn(op *guest.Op, data, current raw.Members) guest.Verdict {
	a.data.reset(&data)
	a.cur.reset(&current)
	return a.decideRules(op)
}

// decideRules decides the op by the rules over the rows a.data and a.cur
// read (a.cur only when op.Exists).
func (a *authorizer) decideRules(op *guest.Op) guest.Verdict {
	a.input(op, &a.in)
	d := a.decider.Decide(a.rules, &a.in)
	if a.data.err != nil || a.cur.err != nil { // fail closed
		return guest.Reject("forbidden", "authorize: "+errors.Join(a.data.err, a.cur.err).Error())
	}
	if !d.Allow {
		return guest.Reject("forbidden", d.Reason)
	}
	return guest.Accept()
}

// input sets in to the op as the rules' input, reading the rows as the
// host sent them (the guest is registered with RawData). The caller's token
// claims are %%user.data; the "custom_data" claim (embedded when the token
// is minted from USER_DATA_COLLECTION) is %%user.custom_data. %%user.type
// is "normal": every PowerSync upload is a user's.
func (a *authorizer) input(op *guest.Op, in *appsrules.Input) {
	// Set field by field: the Input is reused, and copying it whole cost
	// inside wasm.
	in.Op, in.Table, in.ID, in.Exists, in.Parents = string(op.Op), op.Table, op.ID, op.Exists, op.Parents
	in.User.ID, in.User.Type, in.User.Data, in.User.CustomData = op.Caller.UserID, "normal", op.Caller.Claims, nil
	if cd, ok := op.Caller.Claims["custom_data"].(map[string]any); ok {
		in.User.CustomData = cd
	}
	in.Data, in.Current = &a.data, nil
	if op.Exists {
		in.Current = &a.cur
	}
}
