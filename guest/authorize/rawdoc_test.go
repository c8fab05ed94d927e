package main

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/syncgate/syncgate/guest"
	"github.com/syncgate/syncgate/guest/internal/wire"
	"github.com/syncgate/syncgate/guest/raw"
)

func TestRawDoc(t *testing.T) {
	for _, boxes := range []*wire.Arena{nil, {}} {
		testRawDoc(t, boxes)
	}
}

func testRawDoc(t *testing.T, boxes *wire.Arena) {
	var n names
	d := rawDoc{names: &n, boxes: boxes}
	d.reset(raw.NewMembers([]byte(`{"s":"a\"b","n":12.5,"t":true,"f":false,"z":null,"o":{"k":[1]},"a":[1,"x",{"y":2}],"dup":1,"dup":2,"e":""}`)))
	want := map[string]any{"s": `a"b`, "n": json.Number("12.5"), "t": true, "f": false, "z": nil,
		"o": map[string]any{"k": []any{json.Number("1")}}, "a": []any{json.Number("1"), "x", map[string]any{"y": json.Number("2")}}, "dup": json.Number("2"), "e": ""}
	for k, w := range want {
		got, ok := d.Get(k)
		if !ok || !reflect.DeepEqual(got, w) {
			t.Errorf("Get(%s) = %#v, %v; want %#v", k, got, ok, w)
		}
		if !d.Has(k) {
			t.Errorf("Has(%s) = false", k)
		}
	}
	if _, ok := d.Get("nope"); ok || d.Has("nope") {
		t.Error("absent field found")
	}
	keys := d.AppendFields(nil)
	slices.Sort(keys)
	if strings.Join(keys, ",") != "a,dup,e,f,n,o,s,t,z" {
		t.Errorf("AppendFields = %v", keys)
	}
	if d.err != nil {
		t.Fatal(d.err)
	}
	d.reset(raw.NewMembers([]byte(`{"a":`)))
	if d.err == nil {
		t.Fatal("a broken row read without error")
	}
}

// TestBrokenRowFailsClosed: a row the guest cannot read is refused, not
// judged as if the field were absent.
func TestBrokenRowFailsClosed(t *testing.T) {
	a := demo(t)
	op := guest.Op{Op: "PUT", Table: "lists", ID: "l", RawData: []byte(`{"owner_id":"alice","name":`), Caller: guest.Caller{UserID: "alice"}}
	if v := a.handle(&op); !v.Reject || v.Code != "forbidden" || !strings.HasPrefix(v.Reason, "authorize: read the row") {
		t.Fatalf("verdict %+v", v)
	}
}
