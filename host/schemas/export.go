package schemas

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// MongoDB's $jsonSchema is a draft-4 subset with bsonType. These keywords
// carry over as they are.
var same = map[string]bool{
	"title": true, "description": true, "minimum": true, "maximum": true, "multipleOf": true,
	"minLength": true, "maxLength": true, "pattern": true, "minItems": true, "maxItems": true,
	"uniqueItems": true, "minProperties": true, "maxProperties": true, "enum": true, "required": true,
}

// Annotations dropped without loss: they constrain nothing.
var annotations = map[string]bool{
	"$schema": true, "$id": true, "$defs": true, "definitions": true, "$comment": true, "examples": true,
	"default": true, "deprecated": true, "readOnly": true, "writeOnly": true, "$anchor": true, Keyword: true,
}

type exporter struct {
	s           *Set
	file        string
	unsupported []string
}

func (s *Set) export(table string) (Export, error) {
	e := &exporter{s: s, file: table}
	doc, _ := s.set.Raw(table)
	root := e.schema(doc, "", table, true, 0)
	return Export{Validator: map[string]any{"$jsonSchema": root}, Unsupported: e.unsupported}, nil
}

func (e *exporter) note(at, format string, args ...any) {
	if at == "" {
		at = "/"
	}
	e.unsupported = append(e.unsupported, at+": "+fmt.Sprintf(format, args...))
}

// resolve finds a $ref target: "#/…" in file, "other.json" or "other.json#/…".
func (e *exporter) resolve(file, ref string) (map[string]any, string, bool) {
	target, ptr, _ := strings.Cut(ref, "#")
	if target != "" {
		file = strings.TrimSuffix(strings.TrimPrefix(target, "./"), ".json")
	}
	doc, ok := e.s.set.Raw(file)
	if !ok {
		return nil, file, false
	}
	var cur any = doc
	for _, part := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		if part == "" {
			continue
		}
		part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, file, false
		}
		if cur, ok = m[part]; !ok {
			return nil, file, false
		}
	}
	m, ok := cur.(map[string]any)
	return m, file, ok
}

// schema converts one JSON Schema object; root documents map "id" to "_id".
func (e *exporter) schema(in map[string]any, at, file string, root bool, depth int) map[string]any {
	out := map[string]any{}
	if depth > 32 {
		e.note(at, "$ref nesting deeper than 32 (recursive schema) is not inlined")
		return out
	}
	if ref, ok := in["$ref"].(string); ok {
		target, tfile, ok := e.resolve(file, ref)
		if !ok {
			e.note(at, "$ref %q not found", ref)
		} else {
			for k, v := range e.schema(target, at, tfile, false, depth+1) {
				out[k] = v
			}
		}
	}
	bsonType, _ := in[Keyword].(string)
	for _, k := range slices.Sorted(maps.Keys(in)) {
		v := in[k]
		loc := at + "/" + k
		switch {
		case k == "$ref" || annotations[k]:
		case k == "type":
			if bsonType == "" {
				out["bsonType"] = bsonTypes(v)
			}
		case k == "const":
			out["enum"] = []any{v}
		case k == "exclusiveMinimum" || k == "exclusiveMaximum":
			if n, ok := v.(json.Number); ok { // 2020-12 number → draft-4 boolean form
				out[map[string]string{"exclusiveMinimum": "minimum", "exclusiveMaximum": "maximum"}[k]] = n
				out[k] = true
			}
		case k == "format":
			if bsonType == "" {
				e.note(loc, "format %q is not checked by MongoDB (the schema gate checks it)", v)
			}
		case k == "properties" || k == "patternProperties":
			props := map[string]any{}
			m, _ := v.(map[string]any)
			for _, name := range slices.Sorted(maps.Keys(m)) {
				pm, _ := m[name].(map[string]any)
				key := name
				if root && k == "properties" && name == "id" {
					key = "_id"
				}
				props[key] = e.schema(pm, loc+"/"+name, file, false, depth+1)
			}
			out[k] = props
		case k == "required":
			var req []any
			list, _ := v.([]any)
			for _, r := range list {
				if root && r == "id" {
					r = "_id"
				}
				req = append(req, r)
			}
			out[k] = req
		case k == "additionalProperties":
			if b, ok := v.(bool); ok {
				out[k] = b
				if !b && root {
					// MongoDB documents always carry _id.
					props, _ := out["properties"].(map[string]any)
					if props == nil {
						props = map[string]any{}
						out["properties"] = props
					}
					if _, ok := props["_id"]; !ok {
						props["_id"] = map[string]any{}
					}
				}
			} else if m, ok := v.(map[string]any); ok {
				out[k] = e.schema(m, loc, file, false, depth+1)
			}
		case k == "items":
			if m, ok := v.(map[string]any); ok {
				out[k] = e.schema(m, loc, file, false, depth+1)
			}
		case k == "allOf" || k == "anyOf" || k == "oneOf":
			list, _ := v.([]any)
			var subs []any
			for i, s := range list {
				if m, ok := s.(map[string]any); ok {
					subs = append(subs, e.schema(m, loc+"/"+strconv.Itoa(i), file, false, depth+1))
				}
			}
			out[k] = subs
		case k == "not":
			if m, ok := v.(map[string]any); ok {
				out[k] = e.schema(m, loc, file, false, depth+1)
			}
		case k == "dependentRequired":
			out["dependencies"] = v
		case same[k]:
			out[k] = v
		default:
			e.note(loc, "keyword %q has no MongoDB $jsonSchema equivalent (the schema gate checks it)", k)
		}
	}
	if bsonType != "" {
		t := []any{bsonType}
		if allowsNull(in, e, file) {
			t = append(t, "null")
		}
		if len(t) == 1 {
			out["bsonType"] = bsonType
		} else {
			out["bsonType"] = t
		}
		// A declared BSON type replaces what the schema (or its $ref) said
		// about the client's text or 0/1 form.
		delete(out, "anyOf")
		if bsonType != TypeLong && bsonType != TypeDecimal {
			for _, k := range []string{"pattern", "minLength", "maxLength", "enum", "minimum", "maximum"} {
				if _, ok := out[k]; ok {
					delete(out, k)
					e.note(at+"/"+k, "applies to the client's form; the stored value is a BSON %s", bsonType)
				}
			}
		}
	}
	if root {
		if _, ok := out["bsonType"]; !ok {
			out["bsonType"] = "object"
		}
	}
	return out
}

// allowsNull reports whether a schema accepts null (type or anyOf branch).
func allowsNull(in map[string]any, e *exporter, file string) bool {
	if t, ok := in["type"]; ok {
		for _, b := range asList(t) {
			if b == "null" {
				return true
			}
		}
	}
	for _, k := range []string{"anyOf", "oneOf"} {
		list, _ := in[k].([]any)
		for _, s := range list {
			if m, ok := s.(map[string]any); ok && allowsNull(m, e, file) {
				return true
			}
		}
	}
	return false
}

func asList(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	return []any{v}
}

// bsonTypes maps JSON Schema types to bsonType names.
func bsonTypes(v any) any {
	var out []any
	for _, t := range asList(v) {
		switch t {
		case "integer":
			out = append(out, "int", "long")
		case "number":
			out = append(out, "double", "int", "long", "decimal")
		case "boolean":
			out = append(out, "bool")
		case "string", "object", "array", "null":
			out = append(out, t)
		}
	}
	if len(out) == 1 {
		return out[0]
	}
	return out
}
