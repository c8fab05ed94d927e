// Package schemaset loads the JSON Schemas of a schemas folder (one
// <collection>.json per collection) and validates documents against them.
//
// The same code runs natively (syncgate schemas check, tests, the native
// baseline of benchmarks) and inside the schema-gate guest, so a schema
// means the same thing everywhere. It reads only the fs.FS it is given.
package schemaset

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/syncgate/syncgate/guest/raw"

	"github.com/santhosh-tekuri/jsonschema/v5"
)

// BaseURL is where schema files live for $ref resolution: "todos.json"
// refers to BaseURL + "todos.json".
const BaseURL = "file:///schemas/"

// Set is the compiled schemas, by collection name.
type Set struct {
	schemas map[string]*jsonschema.Schema
	fast    map[string]*node // fast-path plans (fast.go); nil: none
	raw     map[string]map[string]any
}

// Problem is one error in a schema file, with its place.
type Problem struct {
	File, Location, Message string
}

func (p Problem) String() string {
	if p.Location == "" {
		return p.File + ": " + p.Message
	}
	return p.File + ": " + p.Location + ": " + p.Message
}

// Problems is every error found while loading a Set.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Load compiles every *.json in fsys's root; <name>.json is the schema of
// collection name, and files starting with "_" hold shared definitions. Schemas default to JSON Schema
// 2020-12 ($schema is honoured), formats are asserted, $ref between files
// works, and unknown keywords are errors (annotations start with "x-").
func Load(fsys fs.FS) (*Set, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("schemaset: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.Draft = jsonschema.Draft2020
	c.AssertFormat = true
	c.AssertContent = true
	c.LoadURL = func(u string) (io.ReadCloser, error) {
		return nil, fmt.Errorf("%s: only files of the schemas folder can be referenced", u)
	}
	set := &Set{schemas: map[string]*jsonschema.Schema{}, fast: map[string]*node{}, raw: map[string]map[string]any{}}
	var problems Problems
	var names []string
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		b, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			problems = append(problems, Problem{File: e.Name(), Message: err.Error()})
			continue
		}
		var doc map[string]any
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		if err := dec.Decode(&doc); err != nil {
			problems = append(problems, Problem{File: e.Name(), Location: jsonPlace(b, err), Message: "not a JSON object: " + err.Error()})
			continue
		}
		problems = append(problems, unknownKeywords(e.Name(), "", doc)...)
		if err := c.AddResource(BaseURL+e.Name(), bytes.NewReader(b)); err != nil {
			problems = append(problems, Problem{File: e.Name(), Message: err.Error()})
			continue
		}
		name := strings.TrimSuffix(e.Name(), ".json")
		set.raw[name] = doc
		if strings.HasPrefix(name, "_") {
			continue // shared definitions: a $ref target, not a collection
		}
		names = append(names, name)
	}
	for _, name := range names {
		s, err := c.Compile(BaseURL + name + ".json")
		if err != nil {
			msg := compileMessage(err)
			problems = append(problems, Problem{File: name + ".json", Location: refPlace(name+".json", set.raw[name], msg), Message: msg})
			continue
		}
		set.schemas[name] = s
		set.fast[name] = compileFast(s)
	}
	if len(problems) > 0 {
		return nil, problems
	}
	return set, nil
}

// jsonPlace is "line L, column C" of a JSON decoding error in b, so a
// syntax error in a schema file can be found without counting bytes.
func jsonPlace(b []byte, err error) string {
	var off int64
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Sprintf("line %d (end of file)", bytes.Count(b, []byte("\n"))+1)
	default:
		return ""
	}
	off = min(off, int64(len(b)))
	line, col := 1, 1
	for _, c := range b[:off] {
		if c == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	// The offset is just past the offending byte.
	return fmt.Sprintf("line %d, column %d", line, max(col-1, 1))
}

// refPlace is the JSON pointer of the $ref in doc (from file) that the
// compile error msg is about, or "": jsonschema names the target it could
// not find, not the property that refers to it.
func refPlace(file string, doc map[string]any, msg string) string {
	var found string
	var walk func(at string, v any)
	walk = func(at string, v any) {
		if found != "" {
			return
		}
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok {
				target := ref
				if strings.HasPrefix(ref, "#") {
					target = file + ref
				}
				if strings.Contains(msg, target) {
					found = at + "/$ref"
					return
				}
			}
			keys := make([]string, 0, len(v))
			for k := range v {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				walk(at+"/"+k, v[k])
			}
		case []any:
			for i, e := range v {
				walk(fmt.Sprintf("%s/%d", at, i), e)
			}
		}
	}
	walk("", doc)
	return found
}

func compileMessage(err error) string {
	msg := err.Error()
	msg = strings.ReplaceAll(msg, BaseURL, "")
	return strings.TrimPrefix(msg, "jsonschema: ")
}

// Tables lists the collections that have a schema, sorted.
func (s *Set) Tables() []string {
	out := make([]string, 0, len(s.schemas))
	for t := range s.schemas {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// Has reports whether table has a schema.
func (s *Set) Has(table string) bool { _, ok := s.schemas[table]; return ok }

// Raw returns the decoded document of a schema file, named without ".json"
// (collections and "_" shared files alike; numbers as json.Number), and
// whether it exists.
func (s *Set) Raw(name string) (map[string]any, bool) {
	doc, ok := s.raw[name]
	return doc, ok
}

// Len is the number of schemas.
func (s *Set) Len() int { return len(s.schemas) }

// RowValid reports whether a row is valid for table's schema for certain,
// from its JSON bytes and without jsonschema (fast.go): the row is the JSON
// object data with member "id" set to id. False means "not sure": ask
// Validate, whose answer stands. A table without a schema has no rows
// valid for certain.
func (s *Set) RowValid(table string, data []byte, id string) bool {
	return s.MembersValid(table, raw.NewMembers(data), id)
}

// MembersValid is RowValid over a row's members as the SDK reads them
// (guest.Op.DataMembers reads the host's index of the row, not its bytes).
func (s *Set) MembersValid(table string, row raw.Members, id string) bool {
	t, _ := s.Table(table)
	return t.MembersValid(row, id)
}

// Table is one table's schema as the fast path checks it; a guest that
// checks many rows of a table looks it up once.
type Table struct{ fast *node }

// Table returns table's schema and whether it has one.
func (s *Set) Table(table string) (Table, bool) {
	_, ok := s.schemas[table]
	return Table{s.fast[table]}, ok
}

// MembersValid is Set.MembersValid for this table.
func (t Table) MembersValid(row raw.Members, id string) bool {
	return t.fast != nil && rowAccepted(t.fast, &row, id)
}

// MaxViolations and maxMessage cap what a rejection reports.
const (
	MaxViolations = 10
	maxMessage    = 160
)

// Validate checks doc (JSON values decoded with json.Number) against
// table's schema and returns the violations, each "pointer: message",
// capped in number and length. A table without a schema has none.
func (s *Set) Validate(table string, doc any) []string {
	sch, ok := s.schemas[table]
	if !ok {
		return nil
	}
	err := sch.Validate(doc)
	if err == nil {
		return nil
	}
	ve, ok := err.(*jsonschema.ValidationError)
	if !ok {
		return []string{"/: " + err.Error()}
	}
	var out []string
	leaves(ve, &out)
	if len(out) == 0 {
		out = append(out, "/: "+ve.Message)
	}
	out = slices.Compact(out)
	if len(out) > MaxViolations {
		out = append(out[:MaxViolations], fmt.Sprintf("… and %d more", len(out)-MaxViolations))
	}
	return out
}

func leaves(ve *jsonschema.ValidationError, out *[]string) {
	if len(ve.Causes) > 0 {
		for _, c := range ve.Causes {
			leaves(c, out)
		}
		return
	}
	loc := ve.InstanceLocation
	if loc == "" {
		loc = "/"
	}
	kw := path.Base(ve.KeywordLocation)
	msg := ve.Message
	switch kw {
	case "required":
		// "missing properties: 'a', 'b'" → one line per property.
		if _, list, ok := strings.Cut(msg, ": "); ok {
			for _, p := range strings.Split(list, ", ") {
				p = strings.Trim(p, `'"`)
				*out = append(*out, clip(strings.TrimSuffix(loc, "/")+"/"+p+": missing required property"))
			}
			return
		}
	case "type":
		// "expected integer, but got string" → "got string, want integer".
		var want, got string
		if n, _ := fmt.Sscanf(strings.ReplaceAll(msg, ",", ""), "expected %s but got %s", &want, &got); n == 2 {
			msg = "got " + got + ", want " + want
		}
	}
	*out = append(*out, clip(loc+": "+msg+" ("+kw+")"))
}

func clip(s string) string {
	if len(s) > maxMessage {
		return s[:maxMessage] + "…"
	}
	return s
}

// known lists the JSON Schema 2020-12 (and draft-07 compatible) keywords.
var known = map[string]bool{}

func init() {
	for _, k := range strings.Fields(`$schema $id $ref $dynamicRef $dynamicAnchor $anchor $recursiveRef $recursiveAnchor
		$defs definitions $comment $vocabulary
		type enum const multipleOf maximum exclusiveMaximum minimum exclusiveMinimum
		maxLength minLength pattern format contentEncoding contentMediaType contentSchema
		items prefixItems additionalItems unevaluatedItems contains minContains maxContains maxItems minItems uniqueItems
		properties patternProperties additionalProperties unevaluatedProperties propertyNames
		required dependentRequired dependentSchemas dependencies maxProperties minProperties
		allOf anyOf oneOf not if then else
		title description default examples deprecated readOnly writeOnly`) {
		known[k] = true
	}
}

// Keywords whose value is a schema, a list of schemas, or a map of schemas.
var (
	schemaKeys = map[string]bool{"not": true, "if": true, "then": true, "else": true, "contains": true,
		"additionalProperties": true, "unevaluatedProperties": true, "unevaluatedItems": true,
		"propertyNames": true, "additionalItems": true, "items": true, "contentSchema": true}
	listKeys = map[string]bool{"allOf": true, "anyOf": true, "oneOf": true, "prefixItems": true, "items": true}
	mapKeys  = map[string]bool{"properties": true, "patternProperties": true, "$defs": true, "definitions": true, "dependentSchemas": true}
)

// unknownKeywords reports keywords no draft defines, outside x- annotations.
func unknownKeywords(file, at string, schema map[string]any) Problems {
	var ps Problems
	for k, v := range schema {
		loc := at + "/" + k
		switch {
		case strings.HasPrefix(k, "x-"):
			continue
		case !known[k]:
			ps = append(ps, Problem{File: file, Location: loc, Message: fmt.Sprintf("unknown keyword %q (annotations must start with x-)", k)})
			continue
		case k == "format":
			// jsonschema/v5 silently skips formats it does not know, so a
			// typo would turn a check off.
			if f, ok := v.(string); ok && jsonschema.Formats[f] == nil {
				ps = append(ps, Problem{File: file, Location: loc, Message: fmt.Sprintf("unknown format %q: it would not be checked", f)})
			}
		}
		if m, ok := v.(map[string]any); ok && schemaKeys[k] {
			ps = append(ps, unknownKeywords(file, loc, m)...)
		}
		if l, ok := v.([]any); ok && listKeys[k] {
			for i, e := range l {
				if m, ok := e.(map[string]any); ok {
					ps = append(ps, unknownKeywords(file, fmt.Sprintf("%s/%d", loc, i), m)...)
				}
			}
		}
		if m, ok := v.(map[string]any); ok && mapKeys[k] {
			for name, e := range m {
				if sm, ok := e.(map[string]any); ok {
					ps = append(ps, unknownKeywords(file, loc+"/"+name, sm)...)
				}
			}
		}
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].Location < ps[j].Location })
	return ps
}
