package schemas

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/syncgate/syncgate/host/syncgate"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestExportGolden pins the $jsonSchema validators of the demo schemas in
// tests/testdata/schemas (a fixture: the project's own schemas/ is the user's).
func TestExportGolden(t *testing.T) {
	set, err := Load("../../tests/testdata/schemas")
	if err != nil {
		t.Fatal(err)
	}
	out, err := set.ExportAll()
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.MarshalIndent(out, "", "  ")
	golden := filepath.Join("testdata", "export.golden.json")
	if *update {
		os.WriteFile(golden, append(got, '\n'), 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(got)) != strings.TrimSpace(string(want)) {
		t.Fatalf("export differs from %s (run go test ./host/schemas -update after checking):\n%s", golden, got)
	}
}

func TestExportMapping(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "t.json"), []byte(`{
		"type":"object",
		"properties":{
			"id":{"type":"string","x-bsonType":"objectId"},
			"n":{"type":"integer","exclusiveMinimum":0},
			"f":{"type":"number"},
			"b":{"type":"boolean"},
			"c":{"const":"x"},
			"tags":{"type":"array","items":{"type":"string"},"prefixItems":[{"type":"string"}]},
			"d":{"$ref":"#/$defs/d"}
		},
		"required":["id"],
		"$defs":{"d":{"type":"string","minLength":2}},
		"if":{"required":["n"]},"then":{"required":["f"]}
	}`), 0o644)
	set, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := set.ExportAll()
	b, _ := json.Marshal(out["t"])
	s := string(b)
	for _, want := range []string{
		`"_id":{"bsonType":"objectId"}`, `"required":["_id"]`,
		`"n":{"bsonType":["int","long"],"exclusiveMinimum":true,"minimum":0}`,
		`"f":{"bsonType":["double","int","long","decimal"]}`, `"b":{"bsonType":"bool"}`,
		`"c":{"enum":["x"]}`, `"d":{"bsonType":"string","minLength":2}`,
		`/properties/tags/prefixItems: keyword \"prefixItems\" has no MongoDB`, `/if: keyword \"if\"`, `/then: keyword \"then\"`,
	} {
		if !strings.Contains(s, want) {
			t.Errorf("export lacks %s\n%s", want, s)
		}
	}
}

func TestConvert(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "t.json"), []byte(`{"type":"object","properties":{
		"id":{"type":"string","x-bsonType":"objectId"},
		"at":{"type":"string","x-bsonType":"date"},
		"done":{"type":"integer","x-bsonType":"bool"},
		"ref":{"type":"string","x-bsonType":"objectId"},
		"n":{"type":"integer","x-bsonType":"long"},
		"price":{"type":"string","x-bsonType":"decimal"}}}`), 0o644)
	set, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	op := syncgate.Op{Op: syncgate.Put, Table: "t", ID: "65f0c0ffee0000000000abcd", Data: syncgate.Doc{
		{Key: "at", Value: "2024-05-01 10:00:00"}, {Key: "done", Value: int64(1)}, {Key: "ref", Value: "65f0c0ffee0000000000abce"},
		{Key: "n", Value: int64(7)}, {Key: "price", Value: "12.50"}, {Key: "other", Value: "x"},
	}}
	if err := set.PrepareID(&op); err != nil || op.IDType != TypeObjectID {
		t.Fatalf("PrepareID: %v %q", err, op.IDType)
	}
	if err := set.Convert(&op); err != nil {
		t.Fatal(err)
	}
	at, _ := op.Data.Get("at")
	if at != time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC) {
		t.Errorf("at = %#v", at)
	}
	if v, _ := op.Data.Get("done"); v != true {
		t.Errorf("done = %#v", v)
	}
	if v, _ := op.Data.Get("ref"); v != (syncgate.ObjectID{0x65, 0xf0, 0xc0, 0xff, 0xee, 0, 0, 0, 0, 0, 0xab, 0xce}) {
		t.Errorf("ref = %#v", v)
	}
	if v, _ := op.Data.Get("price"); v != syncgate.Decimal("12.50") {
		t.Errorf("price = %#v", v)
	}
	if v, _ := op.Data.Get("other"); v != "x" {
		t.Errorf("other = %#v", v)
	}
	bad := []struct {
		field string
		value any
	}{
		{"at", "yesterday"}, {"at", int64(5)}, {"done", int64(2)}, {"done", "true"}, {"ref", "xyz"}, {"n", 1.5}, {"price", "abc"},
	}
	for _, c := range bad {
		op := syncgate.Op{Op: syncgate.Put, Table: "t", ID: "65f0c0ffee0000000000abcd", Data: syncgate.Doc{{Key: c.field, Value: c.value}}}
		if err := set.Convert(&op); err == nil || !strings.Contains(err.Error(), "/"+c.field) {
			t.Errorf("%s=%v: got %v, want an error naming the field", c.field, c.value, err)
		}
	}
	if err := set.PrepareID(&syncgate.Op{Table: "t", ID: "not-hex"}); err == nil {
		t.Error("a non-ObjectId id was accepted for an objectId collection")
	}
}

// TestConvertExpect: the stored values a conflict policy expects are typed
// like the data (a 0/1 the guest saw is a bool in the write's filter), also
// on a DELETE, and the guest's write rule is not changed in place.
func TestConvertExpect(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "t.json"), []byte(`{"type":"object","properties":{"done":{"type":"integer","x-bsonType":"bool"}}}`), 0o644)
	set, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	w := &syncgate.WriteRule{Expect: syncgate.Doc{{Key: "done", Value: int64(1)}}}
	op := syncgate.Op{Op: syncgate.Delete, Table: "t", ID: "a", Write: w}
	if err := set.Convert(&op); err != nil {
		t.Fatal(err)
	}
	if op.Write.Expect[0].Value != true {
		t.Fatalf("expect %v: not converted", op.Write.Expect)
	}
	if w.Expect[0].Value != int64(1) {
		t.Fatalf("the guest's write rule was changed in place: %v", w.Expect)
	}
	op = syncgate.Op{Op: syncgate.Patch, Table: "t", ID: "a", Data: syncgate.Doc{}, Write: &syncgate.WriteRule{Expect: syncgate.Doc{{Key: "done", Value: int64(7)}}}}
	if err := set.Convert(&op); err == nil || !strings.Contains(err.Error(), "/done") {
		t.Fatalf("an expected value that cannot be converted: %v", err)
	}
}

func TestBadAnnotation(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "t.json"), []byte(`{"type":"object","properties":{"a":{"x-bsonType":"money"}}}`), 0o644)
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "t.json: /properties/a/x-bsonType") {
		t.Fatalf("got %v", err)
	}
}
