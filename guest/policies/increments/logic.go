package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/syncgate/syncgate/guest"
	"github.com/syncgate/syncgate/guest/policies/internal/setting"
)

// known are increments' settings, each for every table or as TABLE.key.
var known = map[string]setting.Check{
	"fields":      fieldList,                      // counters, joined by |: stock|sold
	"without_old": setting.OneOf("reject", "set"), // a PATCH of a counter without old: refused (default) or set as sent
}

func fieldList(v string) error {
	if v == "" {
		return errors.New("want counter fields joined by |")
	}
	for _, f := range strings.Split(v, "|") {
		if err := setting.FieldName(f); err != nil {
			return err
		}
	}
	return nil
}

var cache setting.Cache

func check(s map[string]string) error {
	if _, err := cache.Parse(s, known); err != nil {
		return err
	}
	if !hasFields(s) {
		return errors.New(`key "fields": missing (the counters to merge, e.g. increments.fields:stock|sold)`)
	}
	return nil
}

func hasFields(s map[string]string) bool {
	for k := range s {
		if _, key := setting.Split(k); key == "fields" {
			return true
		}
	}
	return false
}

// handle turns each counter a PATCH sets into an addition of what the
// client changed: new − old, where old is the value the client had
// (CrudEntry old, sent when the app tracks previous values). Two clerks who
// each sell one from 10 send 10→9 twice; both count: 8. The host applies it
// as $inc once per op, however often the batch is resent. PUT and DELETE go
// through unchanged (a PUT sets the counter).
func handle(op *guest.Op) guest.Verdict {
	s, err := cache.Parse(op.Settings, known)
	if err != nil {
		return guest.Rejectf("increments: settings: %v", err)
	}
	if op.Op != guest.OpPatch {
		return guest.Accept()
	}
	fields := s.Get(op.Table, "fields", "")
	if fields == "" {
		return guest.Accept()
	}
	var data, inc map[string]any
	for _, f := range strings.Split(fields, "|") {
		nv, set := op.Data[f]
		if !set {
			continue
		}
		ov, hasOld := op.Old[f]
		if !hasOld {
			if s.Get(op.Table, "without_old", "reject") == "set" {
				continue
			}
			return guest.Reject("rejected", fmt.Sprintf("increments: the PATCH of counter %s has no old value (enable trackPreviousValues in the client app)", f))
		}
		delta, err := sub(nv, ov)
		if err != nil {
			return guest.Reject("rejected", fmt.Sprintf("increments: %s: %v", f, err))
		}
		if data == nil {
			data = make(map[string]any, len(op.Data))
			for k, v := range op.Data {
				data[k] = v
			}
			inc = map[string]any{}
		}
		delete(data, f)
		inc[f] = delta // even 0: the host then drops the field from the data instead of setting it
	}
	if data == nil {
		return guest.Accept()
	}
	// The host drops a counter from the data when it adds to it, so an
	// empty data (nothing but counters) needs no special case.
	v := guest.Replace(data)
	v.Inc, v.Rule = inc, "increments"
	return v
}

// sub is new − old as a JSON number, whole when both are.
func sub(nv, ov any) (json.Number, error) {
	if nv == nil || ov == nil {
		return "", errors.New("a counter is null")
	}
	if a, ok := setting.Int(nv); ok && isWhole(nv) {
		if b, ok := setting.Int(ov); ok && isWhole(ov) {
			return json.Number(strconv.FormatInt(a-b, 10)), nil
		}
	}
	a, ok1 := setting.Number(nv)
	b, ok2 := setting.Number(ov)
	if !ok1 || !ok2 {
		return "", fmt.Errorf("%v or %v is not a number", nv, ov)
	}
	return json.Number(strconv.FormatFloat(a-b, 'g', -1, 64)), nil
}

func isWhole(v any) bool {
	n, ok := v.(json.Number)
	return !ok || !strings.ContainsAny(string(n), ".eE")
}
