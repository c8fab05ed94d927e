package main

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/syncgate/syncgate/guest"
	"github.com/syncgate/syncgate/guest/policies/internal/setting"
)

// known are version's settings, each for every table or as TABLE.key.
var known = map[string]setting.Check{
	"field":       setting.FieldName,  // the version field; default version
	"on_conflict": setting.OnConflict, // reject (default), drop or log
}

var cache setting.Cache

func check(s map[string]string) error { _, err := cache.Parse(s, known); return err }

// handle checks the version a write was based on against the stored one.
// The client app increments the version field with every local change, so
// a PATCH carries it; the version the change was based on is old[field]
// when the app tracks previous values, else data[field] − 1. A write based
// on the stored version is accepted with the version set to stored + 1 and
// made conditional on the stored version, so of two writes based on the
// same version only one lands even across instances. A resend of a write
// already applied (stored = base + 1, its data already stored) is accepted
// again without change. PUT of a new document starts at the version sent,
// or 1. DELETE is not checked.
func handle(op *guest.Op) guest.Verdict {
	s, err := cache.Parse(op.Settings, known)
	if err != nil {
		return guest.Rejectf("version: settings: %v", err)
	}
	if op.Op == guest.OpDelete {
		return guest.Accept()
	}
	field := s.Get(op.Table, "field", "version")
	mode := s.Get(op.Table, "on_conflict", "reject")
	sent, hasSent := op.Data[field]
	var stored any
	if op.Exists {
		stored = op.Current[field]
	}
	if stored == nil {
		// A new document (or one written before the policy): it starts here.
		v := guest.Replace(withField(op.Data, field, startVersion(sent)))
		v.Rule, v.OnConflict, v.Expect = "version", mode, map[string]any{field: nil}
		return v
	}
	cur, ok := setting.Int(stored)
	if !ok {
		return guest.Reject("rejected", fmt.Sprintf("version: the stored %s %v is not a whole number", field, stored))
	}
	var base int64
	if old, ok := op.Old[field]; ok && old != nil {
		if base, ok = setting.Int(old); !ok {
			return guest.Reject("rejected", fmt.Sprintf("version: old.%s %v is not a whole number", field, old))
		}
	} else if hasSent && sent != nil {
		n, ok := setting.Int(sent)
		if !ok {
			return guest.Reject("rejected", fmt.Sprintf("version: %s %v is not a whole number", field, sent))
		}
		base = n - 1
	} else {
		return guest.Reject("rejected", fmt.Sprintf("version: the write carries no %s (increment it with every change)", field))
	}
	v := guest.Verdict{Rule: "version", OnConflict: mode}
	switch {
	case base == cur:
		v.Data = withField(op.Data, field, json.Number(strconv.FormatInt(cur+1, 10)))
	case base+1 == cur && applied(op, field):
		v.Data = withField(op.Data, field, json.Number(strconv.FormatInt(cur, 10)))
	default:
		return guest.Conflict("version", mode, fmt.Sprintf("version: the write is based on %s %d, the stored document is at %d", field, base, cur))
	}
	v.Expect = map[string]any{field: stored}
	return v
}

// applied reports whether every field the write sets is stored with that
// value already: the write is a resend of one that landed.
func applied(op *guest.Op, field string) bool {
	for k, val := range op.Data {
		if k != field && !setting.Equal(val, op.Current[k]) {
			return false
		}
	}
	return true
}

func startVersion(sent any) any {
	if n, ok := setting.Int(sent); ok {
		return json.Number(strconv.FormatInt(n, 10))
	}
	return json.Number("1")
}

func withField(data map[string]any, field string, v any) map[string]any {
	out := make(map[string]any, len(data)+1)
	for k, x := range data {
		out[k] = x
	}
	out[field] = v
	return out
}
