package main

import (
	"strings"
	"unicode"

	"github.com/syncgate/syncgate/guest"
)

// handle trims surrounding white space from every string field, folds runs
// of inner white space to one space, lower-cases fields named in the
// "lower" setting (comma separated, e.g. "email"), and rejects a string
// that is empty after trimming when the field is named in "nonempty".
func handle(op *guest.Op) guest.Verdict {
	if op.Op == guest.OpDelete || len(op.Data) == 0 {
		return guest.Accept()
	}
	lower := set(op.Settings["lower"])
	nonEmpty := set(op.Settings["nonempty"])
	changed := false
	data := make(map[string]any, len(op.Data))
	for k, v := range op.Data {
		s, ok := v.(string)
		if !ok {
			data[k] = v
			continue
		}
		n := strings.Join(strings.FieldsFunc(s, unicode.IsSpace), " ")
		if lower[k] {
			n = strings.ToLower(n)
		}
		if n == "" && nonEmpty[k] {
			return guest.Rejectf("%s must not be blank", k)
		}
		changed = changed || n != s
		data[k] = n
	}
	if !changed {
		return guest.Accept()
	}
	return guest.Replace(data)
}

func set(list string) map[string]bool {
	m := map[string]bool{}
	for _, f := range strings.FieldsFunc(list, func(r rune) bool { return r == ',' || r == '|' }) {
		if f = strings.TrimSpace(f); f != "" {
			m[f] = true
		}
	}
	return m
}
