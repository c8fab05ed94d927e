package main

import (
	"fmt"

	"github.com/syncgate/syncgate/guest"
	"github.com/syncgate/syncgate/guest/policies/internal/setting"
)

// known are lww's settings, each for every table or as TABLE.key.
var known = map[string]setting.Check{
	"field":       setting.FieldName,                 // the timestamp field; default updated_at
	"on_conflict": setting.OnConflict,                // reject (default), drop or log
	"ties":        setting.OneOf("accept", "reject"), // equal timestamps: the write wins (default) or the stored
	"missing":     setting.OneOf("reject", "accept"), // a write without the field: refused (default) or let through unchecked
}

var cache setting.Cache

func check(s map[string]string) error { _, err := cache.Parse(s, known); return err }

// handle lets a PUT or PATCH through when its timestamp is not older than
// the stored document's, and makes the write conditional on the stored
// timestamp it compared with, so a newer write that lands meanwhile (another
// batch, another instance) turns this one into a lost conflict. A DELETE
// carries no timestamp and always goes through.
func handle(op *guest.Op) guest.Verdict {
	s, err := cache.Parse(op.Settings, known)
	if err != nil {
		return guest.Rejectf("lww: settings: %v", err)
	}
	if op.Op == guest.OpDelete {
		return guest.Accept()
	}
	field := s.Get(op.Table, "field", "updated_at")
	mode := s.Get(op.Table, "on_conflict", "reject")
	raw, ok := op.Data[field]
	if !ok || raw == nil {
		if s.Get(op.Table, "missing", "reject") == "accept" {
			return guest.Accept()
		}
		return guest.Reject("rejected", fmt.Sprintf("lww: the write has no %s (last-write-wins needs it on every PUT and PATCH)", field))
	}
	mine, ok := setting.Time(raw)
	if !ok {
		return guest.Reject("rejected", fmt.Sprintf("lww: %s %v is not a timestamp (RFC 3339 text or milliseconds)", field, raw))
	}
	v := guest.Accept()
	v.Rule, v.OnConflict = "lww", mode
	stored := op.Current[field]
	if !op.Exists || stored == nil {
		v.Expect = map[string]any{field: nil}
		return v
	}
	theirs, ok := setting.Time(stored)
	if ok {
		switch c := mine.Compare(theirs); {
		case c < 0:
			return guest.Conflict("lww", mode, fmt.Sprintf("lww: %s %v is older than the stored %v", field, raw, stored))
		case c == 0 && s.Get(op.Table, "ties", "accept") == "reject":
			return guest.Conflict("lww", mode, fmt.Sprintf("lww: %s %v equals the stored one and ties keep the stored write", field, raw))
		}
	}
	// A stored value that is no timestamp counts as older than any.
	v.Expect = map[string]any{field: stored}
	return v
}
