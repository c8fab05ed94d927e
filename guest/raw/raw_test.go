package raw

import (
	"reflect"
	"slices"
	"testing"

	"github.com/syncgate/syncgate/guest/abi"
)

// TestMembersAndMerge: members read from bytes (keys unescaped, string
// contents, ASCII or not), every malformed object an error, and merges.
func TestMembersAndMerge(t *testing.T) {
	obj := []byte(` {"a":1, "b\u0041":"x\ny", "c":{"d":[1,"]"]},"e":"é"} `)
	var got []string
	m := NewMembers(obj)
	for m.Next() {
		s, ascii, isStr := m.String()
		got = append(got, string(m.Key())+"="+string(m.Value())+"|"+string(s)+map[bool]string{true: "|str", false: ""}[isStr]+map[bool]string{true: "|ascii", false: ""}[ascii && isStr])
	}
	want := []string{`a=1|`, `bA="x\ny"|x` + "\n" + `y|str`, `c={"d":[1,"]"]}|`, `e="é"|é|str`}
	if m.Err() != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("members %q, err %v; want %q", got, m.Err(), want)
	}
	for _, bad := range []string{`{"a":1`, `{"a" 1}`, `{"a":1}x`, `{a:1}`, `[1]`, `{"a":1,}`, `{"a":"\q"}`} {
		m := NewMembers([]byte(bad))
		for m.Next() {
		}
		if m.Err() == nil {
			t.Errorf("%s: no error", bad)
		}
	}
	merged, err := MergeObjects([]byte(`{"a":1,"b":2,"a":3}`), []byte(`{"b":"x","c":[1],"c":[2]}`))
	if err != nil || string(merged) != `{"a":3,"b":"x","c":[2]}` {
		t.Fatalf("merge: %s %v", merged, err)
	}
	if m, err := MergeObjects(nil, []byte(`{"a":1}`)); err != nil || string(m) != `{"a":1}` {
		t.Fatalf("merge onto nothing: %s %v", m, err)
	}
	if _, err := MergeObjects([]byte(`{"a":`), []byte(`{}`)); err == nil {
		t.Fatal("a broken current document was merged")
	}
}

// TestFind: a member found by key, the last of repeated keys, from bytes
// and from a host index alike; an absent key; a broken object or entry is
// an error.
func TestFind(t *testing.T) {
	text := []byte(`{"a":1,"b":"x","a":2}`)
	entry := func(kind byte, ko, kl, vo, vl, so, sl int) []byte {
		e := []byte{kind}
		for _, v := range []int{ko, kl, vo, vl, so, sl} {
			e = append(e, byte(v), byte(v>>8), byte(v>>16), byte(v>>24))
		}
		return e
	}
	tab := slices.Concat(entry(abi.KindNumber, 2, 1, 5, 1, 0, 0), entry(abi.KindString, 8, 1, 11, 3, 12, 1), entry(abi.KindNumber, 16, 1, 19, 1, 0, 0))
	idx := &abi.Index{Blob: text, Tab: tab, Text: len(text)}
	for name, m := range map[string]Members{"bytes": NewMembers(text), "index": Row(text, idx)} {
		for key, want := range map[string]string{"a": "2", "b": `"x"`, "c": ""} {
			var f Member
			ok, err := m.Find(key, &f)
			if err != nil || ok != (want != "") || ok && (string(f.Value) != want || string(f.Key) != key) {
				t.Errorf("%s: Find(%s) = %s, %v, %v; want %s", name, key, f.Value, ok, err, want)
			}
		}
		var f Member
		if m.Find("b", &f); !f.IsStr || !f.ASCII || string(f.Str) != "x" {
			t.Errorf("%s: Find(b) = %+v", name, f)
		}
		if ok, _ := m.Find("a", &f); !ok || !m.Next() || string(m.Key()) != "a" {
			t.Errorf("%s: Find moved the members", name)
		}
	}
	m := NewMembers([]byte(`{"a":1,"b":`))
	var f Member
	if ok, err := m.Find("a", &f); ok || err == nil {
		t.Error("a broken object: no error")
	}
	bad := slices.Clone(tab)
	bad[25+9] = 0xff // b's value past the row
	m = Row(text, &abi.Index{Blob: text, Tab: bad, Text: len(text)})
	if ok, err := m.Find("b", &f); ok || err == nil {
		t.Error("an entry outside its row: no error")
	}
	bad = slices.Clone(tab)
	bad[25+1] = 0xff // b's key past the row
	m = Row(text, &abi.Index{Blob: text, Tab: bad, Text: len(text)})
	if ok, err := m.Find("b", &f); ok || err == nil {
		t.Error("a key outside its row: no error")
	}
}
