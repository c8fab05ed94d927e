package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"github.com/syncgate/syncgate/host/schemas"
)

// An App Services schema.json describes stored BSON ("bsonType"); a
// syncgate schema describes what a PowerSync client uploads (SQLite
// values: text, integers, reals, null) and says with x-bsonType how a
// top-level field is stored (docs/schemas.md). convertSchema maps one to
// the other.

const (
	hex24Pattern     = "^[0-9a-fA-F]{24}$"
	timestampPattern = "^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\\.[0-9]+)?)?(Z|[+-][0-9]{2}:?[0-9]{2})?)?$"
)

// schemaKeywords are JSON Schema keywords copied as they are.
var schemaKeywords = map[string]bool{
	"title": true, "description": true, "enum": true, "minLength": true, "maxLength": true, "pattern": true,
	"minimum": true, "maximum": true, "exclusiveMinimum": true, "exclusiveMaximum": true, "minItems": true,
	"maxItems": true, "uniqueItems": true, "required": true, "additionalProperties": true,
}

type schemaConv struct {
	src   string
	notes []string
}

func (c *schemaConv) note(format string, args ...any) {
	c.notes = append(c.notes, c.src+": "+fmt.Sprintf(format, args...))
}

func convertSchema(table, src string, b []byte) ([]byte, []string, error) {
	var in map[string]any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&in); err != nil {
		return nil, nil, fmt.Errorf("want a JSON object: %v", err)
	}
	c := &schemaConv{src: src}
	out := map[string]any{
		"$schema":     "https://json-schema.org/draft/2020-12/schema",
		"title":       table,
		"description": "Imported from the App Services app's " + src + " by syncgate import appservices: the row as a PowerSync client uploads it.",
		"type":        "object",
	}
	props := map[string]any{}
	inProps, _ := in["properties"].(map[string]any)
	for _, name := range slices.Sorted(maps.Keys(inProps)) {
		p, ok := inProps[name].(map[string]any)
		if !ok {
			continue
		}
		target := name
		if name == "_id" {
			target = "id" // PowerSync's id is the document's _id
		}
		props[target] = c.property(target, p, true)
	}
	out["properties"] = props
	if req, ok := in["required"].([]any); ok {
		var list []any
		for _, r := range req {
			if r == "_id" {
				r = "id"
			}
			list = append(list, r)
		}
		out["required"] = list
	}
	if ap, ok := in["additionalProperties"]; ok {
		out["additionalProperties"] = ap
	}
	for _, k := range slices.Sorted(maps.Keys(in)) {
		switch k {
		case "properties", "required", "additionalProperties", "title", "bsonType", "type", "description":
		default:
			c.note("keyword %s at the top was not carried over", k)
		}
	}
	text, err := json.MarshalIndent(out, "", "  ")
	return text, c.notes, err
}

// property converts one field; top says whether x-bsonType may be used
// (syncgate converts top-level properties only).
func (c *schemaConv) property(path string, p map[string]any, top bool) map[string]any {
	out := map[string]any{}
	for k, v := range p {
		if schemaKeywords[k] {
			out[k] = v
		}
	}
	var bsonTypes []string
	switch t := p["bsonType"].(type) {
	case string:
		bsonTypes = []string{t}
	case []any:
		for _, e := range t {
			if s, ok := e.(string); ok {
				bsonTypes = append(bsonTypes, s)
			}
		}
	}
	if len(bsonTypes) == 0 {
		if t, ok := p["type"]; ok {
			out["type"] = t
		}
		return out
	}
	var types []string
	xType := ""
	setX := func(x string) {
		if !top {
			c.note("field %s is stored as %s, but x-bsonType converts top-level fields only: it is kept as the client's value", path, x)
			return
		}
		xType = x
	}
	for _, bt := range bsonTypes {
		switch bt {
		case "string":
			types = append(types, "string")
		case "objectId":
			types = append(types, "string")
			out["pattern"] = hex24Pattern
			setX(schemas.TypeObjectID)
		case "uuid":
			types = append(types, "string")
			out["format"] = "uuid"
		case "date":
			types = append(types, "string")
			out["pattern"] = timestampPattern
			setX(schemas.TypeDate)
		case "bool":
			types = append(types, "integer")
			out["enum"] = []any{0, 1}
			setX(schemas.TypeBool)
		case "int":
			types = append(types, "integer")
		case "long":
			types = append(types, "integer")
			setX(schemas.TypeLong)
		case "double", "number":
			types = append(types, "number")
		case "decimal":
			types = append(types, "number", "string")
			setX(schemas.TypeDecimal)
		case "null":
			types = append(types, "null")
		case "array":
			// A PowerSync client holds arrays as JSON text; a connector may
			// upload them parsed. Either is accepted and stored as sent.
			types = append(types, "array", "string")
			if items, ok := p["items"].(map[string]any); ok {
				out["items"] = c.property(path+"[]", items, false)
			}
			c.note("field %s is an array: PowerSync clients hold it as JSON text; it is stored as the client sends it (text, or an array if your connector parses it): decide, and narrow the schema's type", path)
		case "object":
			types = append(types, "object", "string")
			if props, ok := p["properties"].(map[string]any); ok {
				sub := map[string]any{}
				for _, name := range slices.Sorted(maps.Keys(props)) {
					if pm, ok := props[name].(map[string]any); ok {
						sub[name] = c.property(path+"."+name, pm, false)
					}
				}
				out["properties"] = sub
			}
			c.note("field %s is an embedded document: PowerSync clients hold it as JSON text; it is stored as the client sends it: decide, and narrow the schema's type", path)
		default:
			c.note("field %s has bsonType %s, which a PowerSync client cannot send: any value is accepted", path, bt)
			return map[string]any{}
		}
	}
	if xType == schemas.TypeBool && slices.Contains(types, "null") {
		out["enum"] = []any{0, 1, nil}
	}
	types = slices.Compact(slices.Sorted(slices.Values(types)))
	if len(types) == 1 {
		out["type"] = types[0]
	} else {
		list := make([]any, len(types))
		for i, t := range types {
			list[i] = t
		}
		out["type"] = list
	}
	if xType != "" {
		out[schemas.Keyword] = xType
	}
	if _, ok := p["properties"]; ok && !slices.Contains(bsonTypes, "object") {
		c.note("field %s: properties without bsonType object were dropped", path)
	}
	return out
}
