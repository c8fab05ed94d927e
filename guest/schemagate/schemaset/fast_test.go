package schemaset

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"
	"testing/fstest"
)

// fastSchemas exercise every keyword the fast path decides, and some it
// leaves to jsonschema.
var fastSchemas = fstest.MapFS{
	"_defs.json": {Data: []byte(`{"$defs":{"kind":{"type":"string","enum":["a","b","ü"]},"ts":{"type":"string","pattern":"^[0-9]{4}-[0-9]{2}$"}}}`)},
	"wide.json": {Data: []byte(`{
		"type":"object",
		"properties":{
			"id":{"type":"string","format":"uuid"},
			"kind":{"$ref":"_defs.json#/$defs/kind"},
			"when":{"anyOf":[{"$ref":"_defs.json#/$defs/ts"},{"type":"null"}]},
			"n":{"type":"integer","minimum":-5,"exclusiveMaximum":100,"multipleOf":5},
			"x":{"type":["number","null"],"maximum":10},
			"flag":{"enum":[0,1,true,null,"1"]},
			"c":{"const":"fixed"},
			"name":{"type":"string","minLength":2,"maxLength":4},
			"mail":{"type":"string","format":"email"},
			"tags":{"type":"array","items":{"type":"string","maxLength":3},"minItems":1,"maxItems":3},
			"pair":{"type":"array","prefixItems":[{"type":"integer"},{"type":"string"}],"items":false},
			"sub":{"type":"object","properties":{"a":{"type":"boolean"}},"required":["a"],"additionalProperties":{"type":"integer"},"minProperties":1,"maxProperties":2},
			"both":{"allOf":[{"type":"string"},{"minLength":1}]},
			"one":{"oneOf":[{"type":"string"},{"type":"integer"}]},
			"uniq":{"type":"array","uniqueItems":true}
		},
		"patternProperties":{"^p_":{"type":"integer"}},
		"propertyNames":{"maxLength":8},
		"required":["id","kind"],
		"additionalProperties":false
	}`)},
	"open.json": {Data: []byte(`{"type":"object","additionalProperties":{"type":["string","integer"]}}`)},
	"tree.json": {Data: []byte(`{"type":"object","properties":{"kids":{"type":"array","items":{"$ref":"#"}}}}`)},
	// Many properties (looked up through a map), a required name that is not
	// a property, other keys by additionalProperties.
	"many.json": {Data: []byte(`{"type":"object","properties":{"p00":{"type":"integer"},"p01":{"type":"integer"},"p02":{"type":"integer"},"p03":{"type":"integer"},"p04":{"type":"integer"},"p05":{"type":"integer"},"p06":{"type":"integer"},"p07":{"type":"integer"},"p08":{"type":"integer"},"p09":{"type":"integer"},"p10":{"type":"integer"},"p11":{"type":"integer"},"p12":{"type":"integer"},"p13":{"type":"integer"},"p14":{"type":"integer"},"p15":{"type":"integer"},"p16":{"type":"integer"},"p17":{"type":"integer"},"p18":{"type":"integer"},"p19":{"type":"integer"}},"required":["p00","p19","zz"],"additionalProperties":{"type":"string"}}`)},
}

const fastID = "0b6f3a52-5a3c-4c59-9ac6-2f2b7f7c1b10"

var fastDocs = []string{
	`{"kind":"a"}`, `{"kind":"ü","when":"2024-05","n":-5,"x":null,"flag":true,"c":"fixed","name":"abcd"}`,
	`{"kind":"a","when":null,"n":95,"x":10,"flag":"1","mail":"a@b.test","tags":["a","bc"],"pair":[1,"x"]}`,
	`{"kind":"a","sub":{"a":true,"b":3},"both":"x","p_1":5}`,
	`{"kind":"c"}`, `{"kind":"a","when":"2024-5"}`, `{"kind":"a","n":100}`, `{"kind":"a","n":-10}`, `{"kind":"a","n":7}`,
	`{"kind":"a","n":5.0}`, `{"kind":"a","n":1e1}`, `{"kind":"a","x":10.5}`, `{"kind":"a","x":1e1}`, `{"kind":"a","flag":2}`,
	`{"kind":"a","flag":1.0}`, `{"kind":"a","flag":false}`, `{"kind":"a","c":"other"}`, `{"kind":"a","name":"a"}`,
	`{"kind":"a","name":"üüüü"}`, `{"kind":"a","name":"üüüüü"}`, `{"kind":"a","name":"\u0061\u0062"}`, `{"kind":"a","mail":"nope"}`,
	`{"kind":"a","tags":[]}`, `{"kind":"a","tags":["abcd"]}`, `{"kind":"a","tags":["a","b","c","d"]}`, `{"kind":"a","pair":[1,"x",3]}`,
	`{"kind":"a","pair":["x",1]}`, `{"kind":"a","sub":{"b":1}}`, `{"kind":"a","sub":{"a":true,"b":"x"}}`, `{"kind":"a","sub":{}}`,
	`{"kind":"a","sub":{"a":true,"b":1,"c":2}}`, `{"kind":"a","both":""}`, `{"kind":"a","one":"x"}`, `{"kind":"a","uniq":[1,1]}`,
	`{"kind":"a","uniq":[1,2]}`, `{"kind":"a","p_1":"x"}`, `{"kind":"a","longpropertyname":1}`, `{"kind":"a","other":1}`,
	`{"kind":"a","kind":"b"}`, `{}`, `{"kind":"a","id":"not the id"}`, `{"kind":"a","name":"\ud800x"}`,
	`{"a":"x","b":1}`, `{"a":1.5}`, `{"a":null}`, `{"kids":[{"kids":[]},{"kids":[{"x":1}]}]}`, `{"kids":[1]}`,
	`{"p00":1,"p19":2,"zz":"x"}`, `{"p00":1,"p19":2}`, `{"p00":1,"zz":"x"}`, `{"p00":1,"p19":2,"zz":"x","p00":3}`, `{"p00":1,"p19":2,"zz":"x","zz":"y"}`,
	`{"p00":1,"p19":2,"zz":"x","a":"1","b":"2","c":"3","d":"4","e":"5","f":"6","g":"7"}`,
	`{"p00":1,"p19":2,"zz":"x","a":"1","b":"2","c":"3","d":"4","e":"5","f":"6","g":"7","h":"8"}`, `{"p00":1,"p19":"2","zz":"x"}`,
}

// checkFastAgrees fails when the fast path accepts a row jsonschema refuses.
func checkFastAgrees(t *testing.T, set *Set, table string, data []byte, id string) bool {
	t.Helper()
	fast := set.RowValid(table, data, id)
	if !fast {
		return false
	}
	var doc map[string]any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("%s: the fast path accepted bytes that are not a JSON object: %v", data, err)
	}
	if doc == nil {
		doc = map[string]any{}
	}
	doc["id"] = id
	if v := set.Validate(table, doc); len(v) > 0 {
		t.Fatalf("%s %s: the fast path accepted a row jsonschema refuses: %v", table, data, v)
	}
	return true
}

func TestFastPathNeverAcceptsWhatJSONSchemaRefuses(t *testing.T) {
	set, err := Load(fastSchemas)
	if err != nil {
		t.Fatal(err)
	}
	accepted := 0
	for _, table := range []string{"wide", "open", "tree", "many"} {
		for _, d := range fastDocs {
			for _, id := range []string{fastID, "not-a-uuid"} {
				if checkFastAgrees(t, set, table, []byte(d), id) {
					accepted++
				}
			}
		}
	}
	// The fast path must decide the plain valid rows, or it is no path.
	for _, c := range []struct{ table, doc string }{
		{"wide", fastDocs[0]}, {"wide", fastDocs[1]}, {"wide", fastDocs[2]}, {"wide", fastDocs[3]}, {"open", `{"a":"x","b":1}`},
		{"many", `{"p00":1,"p19":2,"zz":"x"}`}, {"many", `{"p00":1,"p19":2,"zz":"x","a":"1","b":"2","c":"3","d":"4","e":"5","f":"6"}`},
	} {
		if !set.RowValid(c.table, []byte(c.doc), fastID) {
			t.Errorf("%s %s: valid, but the fast path did not decide it", c.table, c.doc)
		}
	}
	if set.RowValid("tree", []byte(`{"kids":[]}`), fastID) {
		t.Error("a recursive schema went through the fast path")
	}
	t.Logf("fast path accepted %d of %d rows", accepted, 4*2*len(fastDocs))
}

func TestFastPathDecidesTheDemoRows(t *testing.T) {
	set, err := Load(os.DirFS("../../../tests/testdata/schemas"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ table, doc string }{
		{"todos", `{"created_at":"2024-05-01 10:00:00","description":"milk","completed":0,"completed_at":null,"created_by":"u1","completed_by":null,"list_id":"` + fastID + `"}`},
		{"todos", `{"created_at":"2024-05-01T10:00:00.123Z","description":"milk","completed":1,"completed_at":"2024-05-02T10:00:00Z","list_id":"` + fastID + `"}`},
		{"lists", `{"created_at":"2024-05-01 10:00:00","name":"Groceries","owner_id":"u1"}`},
	} {
		if !checkFastAgrees(t, set, c.table, []byte(c.doc), fastID) {
			t.Errorf("%s %s: valid, but the fast path did not decide it", c.table, c.doc)
		}
	}
	for _, c := range []struct{ table, doc string }{
		{"todos", `{"description":"milk","completed":2,"list_id":"` + fastID + `"}`},
		{"todos", `{"description":"","list_id":"` + fastID + `"}`},
		{"lists", `{"name":"x"}`},
	} {
		if set.RowValid(c.table, []byte(c.doc), fastID) {
			t.Errorf("%s %s: invalid, but the fast path accepted it", c.table, c.doc)
		}
	}
}

// FuzzFastPathAgrees: for any JSON object, the fast path accepts a row only
// if jsonschema accepts it too.
func FuzzFastPathAgrees(f *testing.F) {
	set, err := Load(fastSchemas)
	if err != nil {
		f.Fatal(err)
	}
	demo, err := Load(os.DirFS("../../../tests/testdata/schemas"))
	if err != nil {
		f.Fatal(err)
	}
	for _, d := range fastDocs {
		f.Add([]byte(d), fastID)
	}
	f.Add([]byte(`{"created_at":"2024-05-01 10:00:00","description":"milk","completed":0,"list_id":"`+fastID+`"}`), fastID)
	f.Fuzz(func(t *testing.T, data []byte, id string) {
		if !json.Valid(data) || bytes.TrimSpace(data)[0] != '{' {
			return
		}
		for _, table := range []string{"wide", "open", "tree", "many"} {
			checkFastAgrees(t, set, table, data, id)
		}
		for _, table := range []string{"todos", "lists"} {
			checkFastAgrees(t, demo, table, data, id)
		}
	})
}
