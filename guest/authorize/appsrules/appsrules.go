// Package appsrules reads Atlas App Services rules files and decides, for one
// write, whether the rules allow it: roles in order, the first whose
// apply_when holds applies; its document filter, write/insert/delete and
// field permissions judge the op (docs/authorization.md).
//
// It is pure Go with no build tags: the authorize guest runs it inside the
// sandbox, the syncgate command runs it for `rules check` and `rules
// explain`. It reads only the fs.FS it is given, decides from its Input
// alone, keeps no state between decisions and never logs.
//
// A rules directory holds `<table>.json` (one table's rules, as an App
// Services rules.json), `default_rule.json` (the roles of every table
// without its own file) and optionally `_values.json` (the named values
// `%%values.<name>` reads: {"name": value, …}). Read parts (query filters,
// read permissions, search) are accepted and ignored, and Set.Ignored lists
// them. Anything the package does not implement is a load error naming the
// file and JSON pointer, never a silent allow or deny.
package appsrules

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"reflect"
	"strconv"
	"strings"
)

// DefaultFile holds the default roles; ValuesFile the named values.
const (
	DefaultFile = "default_rule.json"
	ValuesFile  = "_values.json"
)

// Problem is one thing wrong in a rules directory.
type Problem struct {
	File    string // file name inside the directory
	Pointer string // JSON pointer inside the file ("" for the whole file)
	Msg     string
}

func (p Problem) String() string {
	if p.Pointer == "" {
		return p.File + ": " + p.Msg
	}
	return p.File + ": " + p.Pointer + ": " + p.Msg
}

// LoadError lists every problem Load found.
type LoadError struct{ Problems []Problem }

func (e *LoadError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.String()
	}
	return "rules: " + strings.Join(parts, "; ")
}

// Set is a loaded rules directory. It is immutable: one Set serves any
// number of goroutines.
type Set struct {
	tables   map[string]*rules
	def      *rules
	values   map[string]any
	ignored  []string
	warnings []string
}

type rules struct {
	file     string
	roles    []*role
	userOnly bool               // a role's apply_when reads only the user (role.userOnly)
	parents  map[string]*Parent // by name; the syncgate extension (parents.go)
	// stored: the stored document's fields the rules read (storedfields.go);
	// storedAll: they need the whole document.
	stored    []string
	storedAll bool
}

type role struct {
	name      string
	ptr       string // "/roles/0"
	applyWhen node
	// userOnly: applyWhen reads only %%user, %%values and literals, so a
	// Decider evaluates it once for a run of decisions by one user.
	userOnly bool
	// hasFilters: document_filters is present; filterWrite nil means its
	// write is undefined, which denies (fail closed).
	hasFilters  bool
	filterWrite node
	// filterIsApplyWhen: document_filters.write is the same JSON as
	// apply_when, so it holds on the document the role was chosen on.
	filterIsApplyWhen bool
	// nil: undefined.
	write, insert, delete node
	// The constant true: the clause holds without evaluating it.
	writeTrue, insertTrue, deleteTrue bool
	fields                            fieldRules
	allowReason                       [3]string // by opKind
}

// fieldRules are a role's (or an embedded document's) field permissions.
type fieldRules struct {
	fields     map[string]*fieldRule
	names      []string     // the keys of fields, sorted
	rules      []*fieldRule // fields[names[i]]: a decision reads them without hashing a name
	additional node         // additional_fields.write; nil: undefined (denies)
	// additionalTrue: additional is the constant true (a field not named
	// may be written).
	additionalTrue bool
}

type fieldRule struct {
	write     node // nil: undefined, judged by the nested rules if any
	writeTrue bool // write is the constant true
	fieldRules
	nested bool // has "fields" or "additional_fields" of its own
}

// Load reads a rules directory. Its error is a *LoadError listing every
// problem with file and JSON pointer.
func Load(fsys fs.FS) (*Set, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	s := &Set{tables: map[string]*rules{}, values: map[string]any{}}
	var problems []Problem
	names := map[string]string{}
	if b, err := fs.ReadFile(fsys, ValuesFile); err == nil {
		v, err := decode(b)
		m, ok := v.(map[string]any)
		switch {
		case err != nil:
			problems = append(problems, Problem{File: ValuesFile, Msg: err.Error()})
		case !ok:
			problems = append(problems, Problem{File: ValuesFile, Msg: "must be a JSON object of named values"})
		default:
			s.values = m
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("rules: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || path.Ext(name) != ".json" || name == ValuesFile {
			continue
		}
		if strings.HasPrefix(name, "_") || strings.HasPrefix(name, ".") {
			problems = append(problems, Problem{File: name, Msg: "unknown file (names starting with _ are reserved; " + ValuesFile + " holds %%values)"})
			continue
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("rules: %w", err)
		}
		c := &compiler{file: name, values: s.values, names: names}
		r, ignored := c.rulesFile(b)
		problems = append(problems, c.problems...)
		if len(ignored) > 0 {
			s.ignored = append(s.ignored, fmt.Sprintf("%s: %s (reads: PowerSync's sync config decides them)", name, strings.Join(ignored, ", ")))
		}
		if r == nil {
			continue
		}
		for _, ro := range r.roles {
			s.warnings = append(s.warnings, ro.failClosed(name)...)
		}
		if name != DefaultFile && len(r.roles) == 0 {
			// App Services evaluates the default roles when a collection
			// defines none (an exported rules.json may hold only its names).
			s.ignored = append(s.ignored, name+": defines no roles, so the default roles apply")
			continue
		}
		if name == DefaultFile {
			s.def = r
		} else {
			s.tables[strings.TrimSuffix(name, ".json")] = r
		}
	}
	if len(problems) > 0 {
		return nil, &LoadError{Problems: problems}
	}
	return s, nil
}

func decode(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			line, col := position(b, se.Offset)
			return nil, fmt.Errorf("invalid JSON at line %d, column %d: %v", line, col, err)
		}
		return nil, fmt.Errorf("invalid JSON: %v", err)
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, errors.New("invalid JSON: data after the top-level value")
	}
	return v, nil
}

// position turns a SyntaxError's offset (bytes read, the bad one
// included) into the bad byte's line and column.
func position(b []byte, off int64) (line, col int) {
	if off > int64(len(b)) {
		off = int64(len(b))
	}
	if off > 0 {
		off--
	}
	line = 1 + bytes.Count(b[:off], []byte("\n"))
	col = int(off) - bytes.LastIndexByte(b[:off], '\n')
	return line, col
}

// file compiles one rules file; ignored lists the read parts it skipped.
func (c *compiler) rulesFile(b []byte) (*rules, []string) {
	v, err := decode(b)
	if err != nil {
		c.fail("", "%v", err)
		return nil, nil
	}
	top, ok := v.(map[string]any)
	if !ok {
		c.fail("", `must be a JSON object {"roles": [...], "filters": [...]}`)
		return nil, nil
	}
	var ignored []string
	r := &rules{file: c.file}
	if pv, ok := top[ParentsKey]; ok { // before the roles, which read them
		r.parents = c.parents(pv)
		c.parentRefs = r.parents
	}
	for _, k := range sortedKeys(top) {
		p := pointerJoin("", k)
		switch k {
		case "roles":
			arr, ok := top[k].([]any)
			if !ok {
				c.fail(p, "must be an array of roles")
				continue
			}
			for i, rv := range arr {
				if ro := c.role(p+"/"+strconv.Itoa(i), rv, &ignored); ro != nil {
					r.roles = append(r.roles, ro)
					r.userOnly = r.userOnly || ro.userOnly
				}
			}
		case "filters":
			if arr, ok := top[k].([]any); !ok {
				c.fail(p, "must be an array of query filters")
			} else if len(arr) > 0 {
				ignored = append(ignored, p)
			}
		case "database", "collection", "id", "_id":
			// informational in exported files
		case ParentsKey:
		default:
			c.fail(p, "unknown key (a rules file has roles and filters)")
		}
	}
	r.stored, r.storedAll = c.storedFields(r)
	return r, ignored
}

func (c *compiler) role(ptr string, v any, ignored *[]string) *role {
	m, ok := v.(map[string]any)
	if !ok {
		c.fail(ptr, "a role must be an object")
		return nil
	}
	before := len(c.problems)
	r := &role{ptr: ptr}
	name, _ := m["name"].(string)
	if name == "" {
		c.fail(ptr+"/name", "a role needs a name")
	}
	r.name = name
	aw, hasAW := m["apply_when"]
	if legacy, ok := m["applyWhen"]; ok {
		if hasAW {
			c.fail(ptr+"/applyWhen", "both apply_when and its legacy spelling applyWhen")
		}
		aw, hasAW = legacy, true
	}
	if !hasAW {
		c.fail(ptr, "a role needs apply_when ({} applies always)")
	} else {
		key := "/apply_when"
		if _, ok := m["applyWhen"]; ok {
			key = "/applyWhen"
		}
		r.applyWhen = c.expr(ptr+key, aw)
		r.userOnly = r.applyWhen != nil && userOnly(r.applyWhen)
	}
	for _, k := range sortedKeys(m) {
		p := pointerJoin(ptr, k)
		switch k {
		case "name", "apply_when", "applyWhen":
		case "read", "search":
			*ignored = append(*ignored, p)
			c.checkExpr(p, m[k])
		case "write":
			r.write = c.expr(p, m[k])
		case "insert":
			r.insert = c.expr(p, m[k])
		case "delete":
			r.delete = c.expr(p, m[k])
		case "document_filters":
			df, ok := m[k].(map[string]any)
			if !ok {
				c.fail(p, "must be an object {read, write}")
				continue
			}
			r.hasFilters = true
			for _, fk := range sortedKeys(df) {
				fp := pointerJoin(p, fk)
				switch fk {
				case "write":
					r.filterWrite = c.expr(fp, df[fk])
					r.filterIsApplyWhen = hasAW && reflect.DeepEqual(df[fk], aw)
				case "read":
					*ignored = append(*ignored, fp)
					c.checkExpr(fp, df[fk])
				default:
					c.fail(fp, "unknown key (document_filters has read and write)")
				}
			}
		case "fields":
			r.fields.fields = c.fieldMap(p, m[k], ignored)
			r.fields.index()
		case "additional_fields":
			r.fields.additional = c.additional(p, m[k], ignored)
			r.fields.additionalTrue = r.fields.additional == constNode(true)
		default:
			c.fail(p, "unknown role key")
		}
	}
	if len(c.problems) > before {
		return nil
	}
	for k := insertOp; k <= deleteOp; k++ {
		r.allowReason[k] = fmt.Sprintf("role %q allows this %s", r.name, k)
	}
	r.writeTrue, r.insertTrue, r.deleteTrue = r.write == constNode(true), r.insert == constNode(true), r.delete == constNode(true)
	return r
}

// index lists the field rules in the order of their names.
func (fr *fieldRules) index() {
	fr.names = sortedKeys(fr.fields)
	fr.rules = make([]*fieldRule, len(fr.names))
	for i, k := range fr.names {
		fr.rules[i] = fr.fields[k]
	}
}

// checkExpr compiles an ignored expression so an unsupported construct in
// it is still reported.
func (c *compiler) checkExpr(ptr string, v any) { c.expr(ptr, v) }

func (c *compiler) fieldMap(ptr string, v any, ignored *[]string) map[string]*fieldRule {
	m, ok := v.(map[string]any)
	if !ok {
		c.fail(ptr, "must be an object of field names")
		return nil
	}
	out := make(map[string]*fieldRule, len(m))
	for _, name := range sortedKeys(m) {
		p := pointerJoin(ptr, name)
		fm, ok := m[name].(map[string]any)
		name = c.name(name)
		if !ok {
			c.fail(p, "a field's permissions must be an object {read, write, fields}")
			continue
		}
		f := &fieldRule{}
		for _, k := range sortedKeys(fm) {
			fp := pointerJoin(p, k)
			switch k {
			case "write":
				f.write = c.expr(fp, fm[k])
				f.writeTrue = f.write == constNode(true)
			case "read":
				*ignored = append(*ignored, fp)
				c.checkExpr(fp, fm[k])
			case "fields":
				f.nested = true
				f.fields = c.fieldMap(fp, fm[k], ignored)
				f.index()
			case "additional_fields":
				f.nested = true
				f.additional = c.additional(fp, fm[k], ignored)
				f.additionalTrue = f.additional == constNode(true)
			default:
				c.fail(fp, "unknown key (a field has read, write, fields and additional_fields)")
			}
		}
		out[name] = f
	}
	return out
}

func (c *compiler) additional(ptr string, v any, ignored *[]string) node {
	m, ok := v.(map[string]any)
	if !ok {
		c.fail(ptr, "must be an object {read, write}")
		return nil
	}
	var w node
	for _, k := range sortedKeys(m) {
		p := pointerJoin(ptr, k)
		switch k {
		case "write":
			w = c.expr(p, m[k])
		case "read":
			*ignored = append(*ignored, p)
			c.checkExpr(p, m[k])
		default:
			c.fail(p, "unknown key (additional_fields has read and write)")
		}
	}
	return w
}

// Tables lists the tables with their own rules file, sorted.
func (s *Set) Tables() []string { return sortedKeys(s.tables) }

// HasDefault says whether default_rule.json exists.
func (s *Set) HasDefault() bool { return s.def != nil }

// Covers says whether any rules apply to table: its own file, or the
// default roles.
func (s *Set) Covers(table string) bool { return s.tables[table] != nil || s.def != nil }

// Roles names the roles that decide writes to table, in order, and the
// file they come from ("" when no rules apply).
func (s *Set) Roles(table string) (names []string, file string) {
	r := s.rulesFor(table)
	if r == nil {
		return nil, ""
	}
	for _, ro := range r.roles {
		names = append(names, ro.name)
	}
	return names, r.file
}

// Ignored lists, one line per file, the read-side parts the set accepted
// and does not enforce, for the host to log once.
func (s *Set) Ignored() []string { return append([]string(nil), s.ignored...) }

// Warnings lists, one line per role, where the set denies what App
// Services' role table would allow by default: an undefined insert or
// delete, or document_filters without write (the write flowchart denies
// them; syncgate follows the flowchart: docs/authorization.md).
func (s *Set) Warnings() []string { return append([]string(nil), s.warnings...) }

func (r *role) failClosed(file string) []string {
	var undefined []string
	if r.hasFilters && r.filterWrite == nil {
		undefined = append(undefined, "document_filters.write")
	}
	if r.insert == nil {
		undefined = append(undefined, "insert")
	}
	if r.delete == nil {
		undefined = append(undefined, "delete")
	}
	if len(undefined) == 0 {
		return nil
	}
	return []string{fmt.Sprintf("%s: %s (role %q): %s not defined, so denied (App Services' role table defaults them to true; write them out to allow)",
		file, r.ptr, r.name, strings.Join(undefined, ", "))}
}

// Empty says the directory held no rules file at all.
func (s *Set) Empty() bool { return len(s.tables) == 0 && s.def == nil }

func (s *Set) rulesFor(table string) *rules {
	if r := s.tables[table]; r != nil {
		return r
	}
	return s.def
}
