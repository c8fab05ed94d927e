package setting

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	known := map[string]Check{"field": FieldName, "on_conflict": OnConflict}
	s, err := Parse(map[string]string{"field": "ts", "todos.field": "modified", "on_conflict": "log"}, known)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Get("todos", "field", "x"); got != "modified" {
		t.Errorf("todos.field %q", got)
	}
	if got := s.Get("lists", "field", "x"); got != "ts" {
		t.Errorf("lists.field %q", got)
	}
	if got := s.Get("lists", "ties", "accept"); got != "accept" {
		t.Errorf("default %q", got)
	}
	for in, want := range map[string]string{
		"todos.feild":       `table todos: key "feild": unknown`,
		"todos.on_conflict": `table todos: key "on_conflict": "maybe": want reject or drop or log`,
	} {
		_, err := Parse(map[string]string{in: "maybe"}, known)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %s", in, err, want)
		}
	}
}

func TestTimeAndEqual(t *testing.T) {
	a, ok1 := Time("2026-11-28T10:00:00Z")
	b, ok2 := Time("2026-11-28 10:00:00.500")
	c, ok3 := Time(json.Number("1795860000000"))
	if !ok1 || !ok2 || !ok3 || !a.Before(b) || c.IsZero() {
		t.Fatalf("%v %v %v %v %v %v", a, ok1, b, ok2, c, ok3)
	}
	if _, ok := Time("yesterday"); ok {
		t.Fatal("yesterday parsed")
	}
	if !Equal(json.Number("2"), int64(2)) || Equal(json.Number("2"), "2") || !Equal("a", "a") {
		t.Fatal("Equal")
	}
}
