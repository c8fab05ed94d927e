package appsrules

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
)

func TestLoad(t *testing.T) {
	s := loadSet(t, map[string]string{
		"lists.json": `{"database": "app", "collection": "lists", "roles": [
			{"name": "owner", "apply_when": {}, "document_filters": {"read": true, "write": {"owner_id": "%%user.id"}},
			 "read": true, "search": true, "write": true, "insert": true, "delete": true,
			 "fields": {"title": {"read": true}}}],
			"filters": [{"name": "mine", "apply_when": {}, "query": {"owner_id": "%%user.id"}, "projection": {}}]}`,
		"todos.json":        `{"roles": [{"name": "legacy", "applyWhen": {"%%values.open": true}, "write": true, "insert": true, "delete": true}], "filters": []}`,
		"default_rule.json": `{"id": "5f0000000000000000000000", "roles": [], "filters": []}`,
		"_values.json":      `{"open": true}`,
		"README.md":         "not rules",
	})
	if got, want := s.Tables(), []string{"lists", "todos"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Tables = %v, want %v", got, want)
	}
	if names, file := s.Roles("lists"); !reflect.DeepEqual(names, []string{"owner"}) || file != "lists.json" {
		t.Fatalf("Roles(lists) = %v %s", names, file)
	}
	if names, file := s.Roles("other"); names != nil || file != DefaultFile {
		t.Fatalf("Roles(other) = %v %q, want the default file's (none)", names, file)
	}
	if !s.HasDefault() || !s.Covers("anything") || s.Empty() {
		t.Fatal("default rule not seen")
	}
	ign := s.Ignored()
	if len(ign) != 1 || !strings.HasPrefix(ign[0], "lists.json: ") {
		t.Fatalf("Ignored = %q", ign)
	}
	for _, p := range []string{"/filters", "/roles/0/read", "/roles/0/search", "/roles/0/document_filters/read", "/roles/0/fields/title/read"} {
		if !strings.Contains(ign[0], p) {
			t.Errorf("Ignored lacks %s: %s", p, ign[0])
		}
	}
	if d := s.Decide(Input{Op: "PUT", Table: "todos", ID: "t", Data: Map{}}); !d.Allow {
		t.Fatalf("legacy applyWhen with %%%%values: %s", d.Reason)
	}
	if d := s.Decide(Input{Op: "PUT", Table: "other", ID: "t", Data: Map{}}); d.Allow || d.Clause != "apply_when" {
		t.Fatalf("empty default roles allowed: %+v", d)
	}

	w := loadSet(t, templateRules).Warnings()
	if len(w) != 1 || !strings.HasPrefix(w[0], `lists.json: /roles/0 (role "owner-read-write"): insert, delete not defined, so denied`) {
		t.Fatalf("Warnings = %q", w)
	}
	if w := s.Warnings(); len(w) != 0 {
		t.Fatalf("Warnings of a set that spells everything out: %q", w)
	}

	empty := loadSet(t, map[string]string{})
	if !empty.Empty() || empty.Covers("lists") {
		t.Fatal("empty directory has rules")
	}
}

func TestLoadErrors(t *testing.T) {
	cases := []struct {
		name  string
		files map[string]string
		want  []string // each a problem's text
	}{
		{"syntax error with place", map[string]string{"a.json": "{\n  \"roles\": [,]\n}"}, []string{"a.json: invalid JSON at line 2, column"}},
		{"trailing data", map[string]string{"a.json": `{"roles": []} {}`}, []string{"a.json: invalid JSON: data after"}},
		{"not an object", map[string]string{"a.json": `[]`}, []string{"a.json: must be a JSON object"}},
		{"unknown top key", map[string]string{"a.json": `{"roles": [], "rules": []}`}, []string{"a.json: /rules: unknown key"}},
		{"roles not array", map[string]string{"a.json": `{"roles": {}}`}, []string{"a.json: /roles: must be an array"}},
		{"role without name and apply_when", map[string]string{"a.json": `{"roles": [{"write": true}]}`}, []string{"a.json: /roles/0/name: a role needs a name", "a.json: /roles/0: a role needs apply_when"}},
		{"unknown role key", map[string]string{"a.json": `{"roles": [{"name": "r", "apply_when": {}, "upsert": true}]}`}, []string{"a.json: /roles/0/upsert: unknown role key"}},
		{"function in write", map[string]string{"default_rule.json": `{"roles": [{"name": "r", "apply_when": {}, "write": {"%%true": {"%function": {"name": "isOwner"}}}}]}`}, []string{"default_rule.json: /roles/0/write/%%true/%function: unsupported"}},
		{"unsupported in an ignored read", map[string]string{"a.json": `{"roles": [{"name": "r", "apply_when": {}, "read": {"a": "%%partition"}}]}`}, []string{"a.json: /roles/0/read/a: %%partition"}},
		{"field rules", map[string]string{"a.json": `{"roles": [{"name": "r", "apply_when": {}, "fields": {"a": {"write": true, "validate": 1}, "b": 3}}]}`}, []string{"a.json: /roles/0/fields/a/validate: unknown key", "a.json: /roles/0/fields/b: a field's permissions"}},
		{"document_filters key", map[string]string{"a.json": `{"roles": [{"name": "r", "apply_when": {}, "document_filters": {"update": true}}]}`}, []string{"a.json: /roles/0/document_filters/update: unknown key"}},
		{"additional_fields key", map[string]string{"a.json": `{"roles": [{"name": "r", "apply_when": {}, "additional_fields": {"delete": true}}]}`}, []string{"a.json: /roles/0/additional_fields/delete: unknown key"}},
		{"both apply_when spellings", map[string]string{"a.json": `{"roles": [{"name": "r", "apply_when": {}, "applyWhen": {}}]}`}, []string{"a.json: /roles/0/applyWhen: both"}},
		{"reserved file", map[string]string{"_defs.json": `{}`}, []string{"_defs.json: unknown file"}},
		{"values not an object", map[string]string{"_values.json": `[1]`}, []string{"_values.json: must be a JSON object"}},
		{"undefined value", map[string]string{"a.json": `{"roles": [{"name": "r", "apply_when": {"%%values.x": 1}}]}`}, []string{`a.json: /roles/0/apply_when/%%values.x: %%values.x: no value "x" in _values.json`}},
		{"filters not array", map[string]string{"a.json": `{"roles": [], "filters": {}}`}, []string{"a.json: /filters: must be an array"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for n, text := range c.files {
				fsys[n] = &fstest.MapFile{Data: []byte(text)}
			}
			_, err := Load(fsys)
			var le *LoadError
			if !errors.As(err, &le) {
				t.Fatalf("Load = %v, want a *LoadError", err)
			}
			for _, w := range c.want {
				found := false
				for _, p := range le.Problems {
					found = found || strings.HasPrefix(p.String(), w)
				}
				if !found {
					t.Errorf("no problem starting %q in:\n%s", w, err)
				}
			}
		})
	}
}
