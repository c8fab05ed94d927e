// Package setting reads the conflict-policy guests' settings: per table or
// for every table, checked once per distinct settings map. It also holds the
// comparisons the policies share (numbers, timestamps, JSON equality).
package setting

import (
	"encoding/json"
	"fmt"
	"github.com/syncgate/syncgate/guest/internal/wire"
	"maps"
	"reflect"
	"sort"
	"strings"
	"time"
)

// Check validates one setting's value.
type Check func(value string) error

// Set is a guest's parsed settings. A key applies to every table; TABLE.key
// to one table and wins over the plain key.
type Set struct{ m map[string]string }

// Get returns key's value for table, or def.
func (s Set) Get(table, key, def string) string {
	if v, ok := s.m[table+"."+key]; ok {
		return v
	}
	if v, ok := s.m[key]; ok {
		return v
	}
	return def
}

// Split returns a setting key's table ("" for every table) and name: the
// name is the part after the last dot.
func Split(k string) (table, key string) {
	if i := strings.LastIndexByte(k, '.'); i >= 0 {
		return k[:i], k[i+1:]
	}
	return "", k
}

// Parse checks settings against known keys (name → check) and returns
// them; the error names the table and the key.
func Parse(settings map[string]string, known map[string]Check) (Set, error) {
	keys := slicesSorted(settings)
	for _, k := range keys {
		table, key := Split(k)
		where := "every table"
		if table != "" {
			where = "table " + table
		}
		check, ok := known[key]
		if !ok {
			return Set{}, fmt.Errorf("%s: key %q: unknown (known: %s)", where, key, strings.Join(slicesSorted(known), ", "))
		}
		if check != nil {
			if err := check(settings[k]); err != nil {
				return Set{}, fmt.Errorf("%s: key %q: %v", where, key, err)
			}
		}
	}
	return Set{m: settings}, nil
}

func slicesSorted[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Declare lists known's keys for guest.Info.Settings, each also in its
// per-table form (the pattern *.key).
func Declare(known map[string]Check) []string {
	var out []string
	for _, k := range slicesSorted(known) {
		out = append(out, k, "*."+k)
	}
	return out
}

// Cache keeps the last parse: the host sends the same settings on every
// call, so they are parsed once per instance.
type Cache struct {
	last  map[string]string
	set   Set
	err   error
	valid bool
}

// Parse is Parse, cached on the settings' contents.
func (c *Cache) Parse(settings map[string]string, known map[string]Check) (Set, error) {
	if c.valid && maps.Equal(c.last, settings) {
		return c.set, c.err
	}
	c.set, c.err = Parse(settings, known)
	c.last, c.valid = maps.Clone(settings), true
	return c.set, c.err
}

// OneOf checks that a value is one of choices.
func OneOf(choices ...string) Check {
	return func(v string) error {
		for _, c := range choices {
			if v == c {
				return nil
			}
		}
		return fmt.Errorf("%q: want %s", v, strings.Join(choices, " or "))
	}
}

// FieldName checks a field name.
func FieldName(v string) error {
	if v == "" || v == "id" || v == "_id" || strings.ContainsAny(v, "$.\x00") {
		return fmt.Errorf("%q is not a field name (no $, dot or NUL; not id)", v)
	}
	return nil
}

// Number returns a JSON number as float64, as the SDK reads numbers.
func Number(v any) (float64, bool) { return wire.Float(v) }

// OnConflict is the setting every policy has: reject (default), drop or log.
var OnConflict = OneOf("reject", "drop", "log")

// Int returns a JSON number as int64 when it is a whole number.
func Int(v any) (int64, bool) {
	switch n := v.(type) {
	case json.Number:
		i, err := n.Int64()
		if err == nil {
			return i, true
		}
		f, err := n.Float64()
		if err == nil && f == float64(int64(f)) {
			return int64(f), true
		}
	case int64:
		return n, true
	case int:
		return int64(n), true
	case float64:
		if n == float64(int64(n)) {
			return int64(n), true
		}
	}
	return 0, false
}

var timeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999"}

// Time reads a timestamp: RFC 3339 text (a space for the T and a missing
// zone, read as UTC, accepted: SQLite's datetime()), or a number of
// milliseconds since 1970.
func Time(v any) (time.Time, bool) {
	switch s := v.(type) {
	case string:
		for _, l := range timeLayouts {
			if t, err := time.Parse(l, s); err == nil {
				return t, true
			}
		}
	default:
		if ms, ok := wire.Float(v); ok {
			return time.UnixMilli(int64(ms)), true
		}
	}
	return time.Time{}, false
}

// Equal reports whether two JSON values are equal (numbers by value).
func Equal(a, b any) bool {
	if x, ok := wire.Float(a); ok {
		y, ok := wire.Float(b)
		return ok && x == y
	}
	return reflect.DeepEqual(a, b)
}
