package raw

import (
	"reflect"
	"testing"
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
