package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/syncgate/syncgate/guest"
	"github.com/syncgate/syncgate/guest/abi"
	"github.com/syncgate/syncgate/guest/authorize/appsrules"
	"github.com/syncgate/syncgate/guest/internal/wire"
	"github.com/syncgate/syncgate/guest/raw"
)

// indexed reads a row as the host sends it in the rows form: its text
// with an index of its members (guest/abi), keys and string contents with
// escapes in the extra bytes after the text. Nil text: no row.
func indexed(t *testing.T, text []byte) raw.Members {
	t.Helper()
	if text == nil {
		return raw.Members{}
	}
	r := raw.Row(indexOf(t, text))
	if !r.Indexed() {
		t.Fatal("the row is not read from its index")
	}
	return r
}

// indexOf is text as the rows form sends it, and its index.
func indexOf(t *testing.T, text []byte) ([]byte, *abi.Index) {
	t.Helper()
	blob := bytes.Clone(text)
	var tab []byte
	at := func(b []byte) (off, n int) { // b's place in the text, or a copy of it in the extra bytes
		if len(b) > 0 {
			if p := unsafe.Pointer(&b[0]); uintptr(p) >= uintptr(unsafe.Pointer(&text[0])) && uintptr(p) < uintptr(unsafe.Pointer(&text[0]))+uintptr(len(text)) {
				return int(uintptr(p) - uintptr(unsafe.Pointer(&text[0]))), len(b)
			}
		}
		blob = append(blob, b...)
		return len(blob) - len(b), len(b)
	}
	m := raw.NewMembers(text)
	for m.Next() {
		kind := m.Value()[0]
		switch kind {
		case '"':
			kind = abi.KindString
			if _, ascii, _ := m.String(); !ascii {
				kind = abi.KindText
			}
		case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
			kind = abi.KindNumber
		}
		ko, kl := at(m.Key())
		vo, vl := at(m.Value())
		so, sl := 0, 0
		if s, _, isStr := m.String(); isStr {
			so, sl = at(s)
		}
		tab = append(tab, kind)
		for _, v := range []int{ko, kl, vo, vl, so, sl} {
			tab = binary.LittleEndian.AppendUint32(tab, uint32(v))
		}
	}
	if m.Err() != nil {
		t.Fatal(m.Err())
	}
	return blob[:len(text)], &abi.Index{Blob: blob, Tab: tab, Text: len(text)}
}

func TestRawDoc(t *testing.T) {
	row := []byte(`{"s":"a\"b","n":12.5,"t":true,"f":false,"z":null,"o":{"k":[1]},"a":[1,"x",{"y":2}],"dup":1,"dup":2,"e":"","\u00e9":"é"}`)
	for _, boxes := range []*wire.Arena{nil, {}} {
		testRawDoc(t, boxes, raw.NewMembers(row))
		testRawDoc(t, boxes, indexed(t, row))
	}
}

func testRawDoc(t *testing.T, boxes *wire.Arena, row raw.Members) {
	var n names
	d := rawDoc{names: &n, boxes: boxes}
	d.reset(&row)
	want := map[string]any{"s": `a"b`, "n": json.Number("12.5"), "t": true, "f": false, "z": nil,
		"o": map[string]any{"k": []any{json.Number("1")}}, "a": []any{json.Number("1"), "x", map[string]any{"y": json.Number("2")}}, "dup": json.Number("2"), "e": "", "é": "é"}
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
	// Scalar: an indexed row's strings (escaped and not ASCII too) and
	// nulls without decoding them; anything else, and a row of bytes, is
	// for Get.
	for k, w := range want {
		s, kind, ok := d.Scalar(k)
		wantKind := appsrules.ScalarOther
		if d.indexed {
			switch w.(type) {
			case string:
				wantKind = appsrules.ScalarString
			case nil:
				wantKind = appsrules.ScalarNull
			}
		}
		if !ok || kind != wantKind || kind == appsrules.ScalarString && s != w {
			t.Errorf("Scalar(%s) = %q, %v, %v; want %#v as kind %v", k, s, kind, ok, w, wantKind)
		}
	}
	if _, _, ok := d.Scalar("nope"); ok {
		t.Error("Scalar found an absent field")
	}
	keys := d.AppendFields(nil)
	slices.Sort(keys)
	if strings.Join(keys, ",") != "a,dup,e,f,n,o,s,t,z,é" {
		t.Errorf("AppendFields = %v", keys)
	}
	if d.err != nil {
		t.Fatal(d.err)
	}
	broken := raw.NewMembers([]byte(`{"a":`))
	d.reset(&broken)
	if d.err == nil {
		t.Fatal("a broken row read without error")
	}
	// An index entry outside its row: the op is refused when the rules
	// read the field (fails closed), found or not.
	for _, field := range []string{"a", "b"} {
		text, idx := indexOf(t, []byte(`{"a":1,"b":2}`))
		idx.Tab[abi.MemberSize+9] = 0xff // b's value past the row
		row := raw.Row(text, idx)
		d.reset(&row)
		if v, ok := d.Get(field); field == "a" && (!ok || d.err != nil || v != json.Number("1")) || field == "b" && (ok || d.err == nil) {
			t.Errorf("Get(%s) over a broken entry of b = %v, %v, err %v", field, v, ok, d.err)
		}
		d.reset(&row)
		if _, _, ok := d.Scalar(field); field == "a" && (!ok || d.err != nil) || field == "b" && (ok || d.err == nil) {
			t.Errorf("Scalar(%s) over a broken entry of b = %v, err %v", field, ok, d.err)
		}
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
