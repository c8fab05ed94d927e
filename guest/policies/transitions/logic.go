package main

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/syncgate/syncgate/guest"
	"github.com/syncgate/syncgate/guest/policies/internal/setting"
)

// Settings, each for every table or as TABLE.key:
//
//	FIELD        the allowed transitions of FIELD: chains of states joined by
//	             ">", chains separated by ";" (pending>processing>shipped;processing>cancelled)
//	locked       FIELD=state|state: no change at all to a document in one of them
//	on_conflict  reject (default), drop or log
type rules struct {
	graphs map[string]map[string]graph // table ("" every table) → field → graph
	locked map[string]lock             // table → lock
	set    setting.Set
}

type graph struct {
	next  map[string]map[string]bool // state → allowed next states
	start map[string]bool            // states with no way in: where a new document starts
}

type lock struct {
	field  string
	states map[string]bool
}

var (
	cache  setting.Cache // on_conflict
	parsed struct {
		last map[string]string
		r    *rules
		err  error
	}
)

func check(s map[string]string) error { _, err := load(s); return err }

// load parses the settings once per distinct map.
func load(s map[string]string) (*rules, error) {
	if parsed.r != nil || parsed.err != nil {
		if equal(parsed.last, s) {
			return parsed.r, parsed.err
		}
	}
	parsed.last = s
	parsed.r, parsed.err = parse(s)
	return parsed.r, parsed.err
}

func equal(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func parse(s map[string]string) (*rules, error) {
	r := &rules{graphs: map[string]map[string]graph{}, locked: map[string]lock{}}
	keys := make([]string, 0, len(s))
	for k := range s {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		table, key := setting.Split(k)
		where := "every table"
		if table != "" {
			where = "table " + table
		}
		switch key {
		case "on_conflict":
			if err := setting.OnConflict(s[k]); err != nil {
				return nil, fmt.Errorf("%s: key %q: %v", where, key, err)
			}
		case "locked":
			field, states, ok := strings.Cut(s[k], "=")
			if !ok || setting.FieldName(field) != nil || states == "" {
				return nil, fmt.Errorf("%s: key %q: %q: want FIELD=state|state", where, key, s[k])
			}
			l := lock{field: field, states: map[string]bool{}}
			for _, st := range strings.Split(states, "|") {
				l.states[st] = true
			}
			r.locked[table] = l
		default:
			if err := setting.FieldName(key); err != nil {
				return nil, fmt.Errorf("%s: key %q: %v", where, key, err)
			}
			g, err := parseGraph(s[k])
			if err != nil {
				return nil, fmt.Errorf("%s: key %q: %v", where, key, err)
			}
			if r.graphs[table] == nil {
				r.graphs[table] = map[string]graph{}
			}
			r.graphs[table][key] = g
		}
	}
	r.set, _ = cache.Parse(onlyOnConflict(s), map[string]setting.Check{"on_conflict": setting.OnConflict})
	return r, nil
}

func onlyOnConflict(s map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range s {
		if _, key := setting.Split(k); key == "on_conflict" {
			out[k] = v
		}
	}
	return out
}

func parseGraph(v string) (graph, error) {
	g := graph{next: map[string]map[string]bool{}, start: map[string]bool{}}
	in := map[string]bool{}
	for _, chain := range strings.Split(v, ";") {
		states := strings.Split(chain, ">")
		if len(states) < 2 {
			return g, fmt.Errorf("%q: want chains of states like a>b>c, separated by ;", v)
		}
		for i, st := range states {
			if st == "" {
				return g, errors.New("an empty state")
			}
			if g.next[st] == nil {
				g.next[st] = map[string]bool{}
			}
			if i > 0 {
				g.next[states[i-1]][st] = true
				in[st] = true
			}
		}
	}
	for st := range g.next {
		if !in[st] {
			g.start[st] = true
		}
	}
	if len(g.start) == 0 {
		return g, fmt.Errorf("%q: no state to start in (every state has a way in)", v)
	}
	return g, nil
}

// fields returns the graphs for table: its own over every table's.
func (r *rules) fields(table string) map[string]graph {
	if len(r.graphs[table]) == 0 {
		return r.graphs[""]
	}
	out := map[string]graph{}
	for f, g := range r.graphs[""] {
		out[f] = g
	}
	for f, g := range r.graphs[table] {
		out[f] = g
	}
	return out
}

func (r *rules) lock(table string) (lock, bool) {
	if l, ok := r.locked[table]; ok {
		return l, true
	}
	l, ok := r.locked[""]
	return l, ok
}

// handle refuses a write that moves a governed field other than along an
// allowed transition (staying put is always allowed, so a resend passes),
// or that changes a locked document; an accepted write is conditional on
// the stored states it was checked against.
func handle(op *guest.Op) guest.Verdict {
	r, err := load(op.Settings)
	if err != nil {
		return guest.Rejectf("transitions: settings: %v", err)
	}
	mode := r.set.Get(op.Table, "on_conflict", "reject")
	expect := map[string]any{}
	if l, ok := r.lock(op.Table); ok && op.Exists {
		if st, _ := op.Current[l.field].(string); l.states[st] {
			if op.Op == guest.OpDelete || !unchanged(op) {
				return guest.Conflict("transitions", mode, fmt.Sprintf("transitions: the document is locked (%s is %s)", l.field, st))
			}
		}
		expect[l.field] = op.Current[l.field]
	}
	if op.Op != guest.OpDelete {
		for field, g := range r.fields(op.Table) {
			to, set := op.Data[field]
			if !set && op.Op == guest.OpPatch {
				continue
			}
			toS, _ := to.(string)
			var from any
			if op.Exists {
				from = op.Current[field]
			}
			if from == nil {
				if !g.start[toS] {
					return guest.Conflict("transitions", mode, fmt.Sprintf("transitions: a new %s must be one of %s, got %v", field, list(g.start), to))
				}
				expect[field] = nil
				continue
			}
			fromS, _ := from.(string)
			if toS != fromS && !g.next[fromS][toS] {
				return guest.Conflict("transitions", mode, fmt.Sprintf("transitions: %s may not go from %v to %v", field, from, to))
			}
			expect[field] = from
		}
	}
	if len(expect) == 0 {
		return guest.Accept()
	}
	return guest.Verdict{Expect: expect, Rule: "transitions", OnConflict: mode}
}

// unchanged reports whether a write sets only what is stored already (a
// resend of a write to a document that is locked since).
func unchanged(op *guest.Op) bool {
	for k, v := range op.Data {
		if !setting.Equal(v, op.Current[k]) {
			return false
		}
	}
	return op.Op == guest.OpPatch || len(op.Data) == len(op.Current)
}

func list(m map[string]bool) string {
	l := make([]string, 0, len(m))
	for k := range m {
		l = append(l, k)
	}
	sort.Strings(l)
	return strings.Join(l, ", ")
}
