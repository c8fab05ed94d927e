package main

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"unsafe"

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

// authorizer runs its checks in order: every check must allow an op, and
// the first that refuses it decides the rejection. The rules check is the
// first; a sync-scope check (parent documents) is ANDed in after it. It
// reuses its row views from op to op, so one authorizer serves one
// goroutine (a guest instance serves one call at a time).
type authorizer struct {
	rules     *appsrules.Set    // nil: no rules files
	scope     *syncscope.Config // nil: no sync scope
	data, cur rawDoc
	names     names
	boxes     wire.Arena
	decider   appsrules.Decider
	in        appsrules.Input // the op being decided
	// The caller's claims: a batch's ops share the claims map, so its
	// custom_data is looked up once (setUser).
	claims     map[string]any
	claimsRead bool
	// handle is the handler the SDK calls (handler).
	handle guest.HandlerFunc
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
		}
	}
	if syncYAML != nil {
		sc, err := syncscope.Parse("sync config", syncYAML)
		if err != nil {
			return nil, fmt.Errorf("authorize: %w", err)
		}
		a.scope = sc
	}
	if a.rules == nil && a.scope == nil {
		return nil, fmt.Errorf("authorize: %s holds no rules file (<table>.json or %s) and no sync config is mounted", RulesMount, appsrules.DefaultFile)
	}
	a.handle = a.handler()
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

// handler runs the checks for the SDK; every refusal is code "forbidden".
// A closure builds its Verdict in place, where a method value (too large to
// inline into its wrapper) returned it through a second call, inside wasm
// a bulk copy and two clears an op.
func (a *authorizer) handler() guest.HandlerFunc {
	return func(op *guest.Op) guest.Verdict {
		if ok, reason := a.check(op); !ok {
			return guest.Reject("forbidden", reason)
		}
		return guest.Verdict{} // Accept
	}
}

// check runs the checks in order: whether they allow op, and the first
// refusal's reason.
func (a *authorizer) check(op *guest.Op) (bool, string) {
	if a.rules != nil {
		// The rules: a denial's reason names the role (or "no role") and
		// the clause that failed.
		if ok, reason := a.decideRules(op, true); !ok {
			return false, reason
		}
	}
	if a.scope != nil {
		return a.allowScope(op)
	}
	return true, ""
}

// allowScope is checkScope's answer (out of check: inside wasm a
// function's size costs at every call).
func (a *authorizer) allowScope(op *guest.Op) (bool, string) {
	v := a.checkScope(op)
	return !v.Reject, v.Reason
}

// checkRulesOn is the rules check over the op's rows read by data and
// current, as a Verdict.
func (a *authorizer) checkRulesOn(op *guest.Op, data, current raw.Members) guest.Verdict {
	a.data.reset(&data)
	a.cur.reset(&current)
	if ok, reason := a.decideRules(op, false); !ok {
		return guest.Reject("forbidden", reason)
	}
	return guest.Accept()
}

// decideRules decides the op by the rules over the rows a.data and a.cur
// read (a.cur only when op.Exists), pointing them at the op's rows first
// when setRows (here rather than in a function of their own: inside wasm
// each call costs). The rows' readers are large: each is read into its
// rawDoc, and only when the decision reads the row (a DELETE reads no
// data, a write of a new document no stored one).
func (a *authorizer) decideRules(op *guest.Op, setRows bool) (bool, string) {
	if setRows {
		a.data.err, a.cur.err = nil, nil
		if op.Op != guest.OpDelete {
			a.data.setData(op)
		}
		if op.Exists {
			a.cur.setCurrent(op)
		}
	}
	// The rules' input, set field by field: it is reused, and copying it
	// whole cost inside wasm.
	in := &a.in
	in.Op, in.Table, in.ID, in.Exists, in.Parents = string(op.Op), op.Table, op.ID, op.Exists, op.Parents
	claims := op.Caller.Claims
	if !sameMap(claims, a.claims) || !a.claimsRead {
		a.setUser(claims)
	}
	in.User.ID = op.Caller.UserID
	in.Data, in.Current = nil, nil // nil: none (Decide)
	if op.Op != guest.OpDelete {
		in.Data = &a.data
	}
	if op.Exists {
		in.Current = &a.cur
	}
	ok, reason := a.decider.Allow(a.rules, &a.in)
	if a.data.err != nil || a.cur.err != nil { // fail closed
		return false, a.rowsError()
	}
	return ok, reason
}

// rowsError is the reason an op whose rows could not be read is refused.
func (a *authorizer) rowsError() string {
	return "authorize: " + errors.Join(a.data.err, a.cur.err).Error()
}

// setUser sets a.in's user to the caller with claims, which the batch's
// ops share (the id is the op's), as appsrules.UserOf makes it, field by
// field (a User copied whole is a bulk copy inside wasm). The rows are read
// as the host sent them (the guest is registered with RawData).
func (a *authorizer) setUser(claims map[string]any) {
	a.claims, a.claimsRead = claims, true
	cd, _ := claims[appsrules.CustomDataClaim].(map[string]any)
	a.in.User.Type, a.in.User.Data, a.in.User.CustomData = "normal", claims, cd
}

// sameMap reports whether a and b are the same map (not equal contents).
func sameMap(a, b map[string]any) bool {
	return *(*unsafe.Pointer)(unsafe.Pointer(&a)) == *(*unsafe.Pointer)(unsafe.Pointer(&b))
}
