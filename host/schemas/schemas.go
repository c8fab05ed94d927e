// Package schemas is the host's view of the schemas folder: checking it
// (the same compiler the schema-gate guest runs), converting accepted
// values to the BSON types a schema declares with "x-bsonType", and
// exporting MongoDB $jsonSchema validators from the same files.
//
// It never validates writes itself: that happens inside the sandbox, in the
// schema-gate guest. It does no database I/O.
package schemas

import (
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/syncgate/syncgate/guest/schemagate/schemaset"
	"github.com/syncgate/syncgate/host/syncgate"
)

// BSON types a schema may declare with the x-bsonType annotation.
const (
	TypeDate     = "date"
	TypeBool     = "bool"
	TypeObjectID = "objectId"
	TypeLong     = "long"
	TypeDecimal  = "decimal"
)

// Keyword is the annotation that declares a stored BSON type.
const Keyword = "x-bsonType"

// Set is the parsed schemas folder.
type Set struct {
	set   *schemaset.Set
	types map[string]map[string]string // table → field → x-bsonType
}

// Load checks and parses every schema in dir (once, with the same compiler
// the schema gate runs). Problems name the file and the place.
func Load(dir string) (*Set, error) {
	set, err := schemaset.Load(os.DirFS(dir))
	if err != nil {
		return nil, err
	}
	s := &Set{set: set, types: map[string]map[string]string{}}
	var problems schemaset.Problems
	for _, table := range set.Tables() {
		doc, _ := set.Raw(table)
		props, _ := doc["properties"].(map[string]any)
		for field, p := range props {
			pm, _ := p.(map[string]any)
			t, ok := pm[Keyword]
			if !ok {
				continue
			}
			ts, _ := t.(string)
			switch ts {
			case TypeDate, TypeBool, TypeObjectID, TypeLong, TypeDecimal:
			default:
				problems = append(problems, schemaset.Problem{File: table + ".json", Location: "/properties/" + field + "/" + Keyword,
					Message: fmt.Sprintf("%v is not one of date, bool, objectId, long, decimal", t)})
				continue
			}
			if s.types[table] == nil {
				s.types[table] = map[string]string{}
			}
			s.types[table][field] = ts
		}
	}
	if len(problems) > 0 {
		return nil, problems
	}
	return s, nil
}

// Tables lists the collections with a schema.
func (s *Set) Tables() []string { return s.set.Tables() }

// IDType is the declared BSON type of table's id ("" for a string).
func (s *Set) IDType(table string) string {
	if s == nil {
		return ""
	}
	return s.types[table]["id"]
}

// PrepareID types op's id as its schema declares (an ObjectId from 24 hex
// characters). It runs before current documents are fetched.
func (s *Set) PrepareID(op *syncgate.Op) error {
	if s.IDType(op.Table) != TypeObjectID {
		return nil
	}
	if _, err := objectID(op.ID); err != nil {
		return fmt.Errorf("id: %w", err)
	}
	op.IDType = TypeObjectID
	return nil
}

// Convert turns accepted values into the BSON types the schema declares,
// just before the write: ISO-8601 or SQLite text → date, 0/1 → bool, 24 hex
// → ObjectId, integer → long, number or text → decimal. The stored values a
// conflict policy expects (op.Write.Expect) are typed the same way, so the
// write's filter compares like with like. A value that cannot be converted
// is an error naming the field.
func (s *Set) Convert(op *syncgate.Op) error {
	if s == nil {
		return nil
	}
	types := s.types[op.Table]
	if len(types) == 0 {
		return nil
	}
	if op.Op != syncgate.Delete {
		data, err := convertDoc(types, op.Data)
		if err != nil {
			return err
		}
		op.Data = data
	}
	if op.Write != nil && len(op.Write.Expect) > 0 {
		expect, err := convertDoc(types, op.Write.Expect)
		if err != nil {
			return fmt.Errorf("expected value %w", err)
		}
		w := *op.Write // the guest's rule may be shared: a copy
		w.Expect = expect
		op.Write = &w
	}
	return nil
}

// convertDoc returns a converted copy of doc: the op's Data may share its
// backing array with the decoded batch (kept for dead letters).
func convertDoc(types map[string]string, doc syncgate.Doc) (syncgate.Doc, error) {
	data := append(syncgate.Doc(nil), doc...)
	for i, f := range data {
		t, ok := types[f.Key]
		if !ok || f.Value == nil {
			continue
		}
		v, err := convert(t, f.Value)
		if err != nil {
			return nil, fmt.Errorf("/%s: %w", f.Key, err)
		}
		data[i].Value = v
	}
	return data, nil
}

func convert(t string, v any) (any, error) {
	switch t {
	case TypeDate:
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("want a date as text, got %T", v)
		}
		return parseTime(s)
	case TypeBool:
		switch v := v.(type) {
		case bool:
			return v, nil
		case int64:
			if v == 0 || v == 1 {
				return v == 1, nil
			}
		}
		return nil, fmt.Errorf("want 0 or 1 for a boolean, got %v", v)
	case TypeObjectID:
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("want an ObjectId as 24 hex characters, got %T", v)
		}
		return objectID(s)
	case TypeLong:
		if i, ok := v.(int64); ok {
			return i, nil
		}
		if f, ok := v.(float64); ok && f == float64(int64(f)) {
			return int64(f), nil
		}
		return nil, fmt.Errorf("want an integer, got %v", v)
	case TypeDecimal:
		var s string
		switch v := v.(type) {
		case string:
			s = v
		case int64:
			s = strconv.FormatInt(v, 10)
		case float64:
			s = strconv.FormatFloat(v, 'g', -1, 64)
		default:
			return nil, fmt.Errorf("want a decimal number, got %T", v)
		}
		if _, err := strconv.ParseFloat(s, 64); err != nil {
			return nil, fmt.Errorf("want a decimal number, got %q", s)
		}
		return syncgate.Decimal(s), nil
	}
	return v, nil
}

var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04",
	"2006-01-02",
}

// parseTime reads ISO-8601 and SQLite datetime() text; without a zone it is UTC.
func parseTime(s string) (time.Time, error) {
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not an ISO-8601 or SQLite date-time", s)
}

func objectID(s string) (syncgate.ObjectID, error) {
	var id syncgate.ObjectID
	if len(s) != 24 {
		return id, fmt.Errorf("%q is not 24 hex characters (an ObjectId)", s)
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, fmt.Errorf("%q is not 24 hex characters (an ObjectId)", s)
	}
	return id, nil
}

// Export is one collection's MongoDB validator and what it could not say.
type Export struct {
	Validator   map[string]any `json:"validator"`
	Unsupported []string       `json:"unsupported"`
}

// ExportAll returns every collection's $jsonSchema validator, by name.
func (s *Set) ExportAll() (map[string]Export, error) {
	out := map[string]Export{}
	for _, t := range s.Tables() {
		e, err := s.export(t)
		if err != nil {
			return nil, err
		}
		out[t] = e
	}
	return out, nil
}
