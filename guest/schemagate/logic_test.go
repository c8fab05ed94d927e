package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/syncgate/syncgate/guest"
	"github.com/syncgate/syncgate/guest/guesttest"
)

func gateFor(t testing.TB, dir string) *gate {
	g, err := newGate(os.DirFS(dir))
	if err != nil {
		t.Fatal(err)
	}
	return g
}

const (
	listID = "0b6f3a52-5a3c-4c59-9ac6-2f2b7f7c1b10"
	todoID = "7c1e9f0a-3d2b-4a8e-b6f1-0e9d8c7b6a51"
)

func TestDemoSchemas(t *testing.T) {
	g := gateFor(t, "../../tests/testdata/schemas")
	cases := []struct {
		name, table, op, data, current string
		reject                         string // substring of the reason; "" accepts
	}{
		{"valid list", "lists", "PUT", `{"name":"Groceries","owner_id":"u1","created_at":"2024-05-01 10:00:00"}`, "", ""},
		{"valid list iso date", "lists", "PUT", `{"name":"Groceries","owner_id":"u1","created_at":"2024-05-01T10:00:00.123Z"}`, "", ""},
		{"list without name", "lists", "PUT", `{"owner_id":"u1"}`, "", "/name: missing required property"},
		{"list name not text", "lists", "PUT", `{"name":5,"owner_id":"u1"}`, "", "/name: got number, want string"},
		{"list unknown column", "lists", "PUT", `{"name":"x","owner_id":"u1","admin":1}`, "", "admin"},
		{"bad timestamp", "lists", "PUT", `{"name":"x","owner_id":"u1","created_at":"yesterday"}`, "", "/created_at"},
		{"valid todo", "todos", "PUT", `{"description":"milk","list_id":"` + listID + `","completed":0,"completed_at":null,"created_by":"u1","completed_by":null}`, "", ""},
		{"todo completed not 0/1", "todos", "PUT", `{"description":"milk","list_id":"` + listID + `","completed":2}`, "", "/completed"},
		{"todo completed as text", "todos", "PUT", `{"description":"milk","list_id":"` + listID + `","completed":"yes"}`, "", "/completed: got string, want integer"},
		{"todo list_id not uuid", "todos", "PUT", `{"description":"milk","list_id":"nope"}`, "", "/list_id"},
		{"patch fine on its own and merged", "todos", "PATCH", `{"completed":1}`, `{"description":"milk","list_id":"` + listID + `"}`, ""},
		{"patch fine alone, breaks the document", "todos", "PATCH", `{"completed":1}`, `{"list_id":"` + listID + `"}`, "/description: missing required property"},
		{"patch setting a required field to null", "todos", "PATCH", `{"description":null}`, `{"description":"milk","list_id":"` + listID + `"}`, "/description"},
		{"delete not checked", "todos", "DELETE", ``, "", ""},
		{"unknown table rejected", "users", "PUT", `{}`, "", "no schema"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			op := &guest.Op{Op: guest.OpType(c.op), Table: c.table, ID: todoID}
			if c.table == "lists" {
				op.ID = listID
			}
			if c.data != "" {
				op.RawData = []byte(c.data)
			}
			if c.current != "" {
				op.RawCurrent, op.Exists = []byte(c.current), true
			}
			v := g.handle(op)
			if c.reject == "" && v.Reject {
				t.Fatalf("rejected: %s", v.Reason)
			}
			if c.reject != "" && (!v.Reject || !strings.Contains(v.Reason, c.reject)) {
				t.Fatalf("got reject=%v %q, want a rejection with %q", v.Reject, v.Reason, c.reject)
			}
		})
	}
}

func TestUnknownTablePolicy(t *testing.T) {
	g := gateFor(t, "../../tests/testdata/schemas")
	op := &guest.Op{Op: guest.OpPut, Table: "users", ID: "u", RawData: []byte(`{}`), Settings: map[string]string{"unknown_table": "allow"}}
	if v := g.handle(op); v.Reject {
		t.Fatalf("allow policy rejected: %s", v.Reason)
	}
	empty, err := newGate(fstest.MapFS{})
	if err != nil {
		t.Fatal(err)
	}
	if v := empty.handle(&guest.Op{Op: guest.OpPut, Table: "users", RawData: []byte(`{}`)}); v.Reject {
		t.Fatal("no schemas at all: writes must be allowed by default")
	}
}

func TestRefsAndFormats(t *testing.T) {
	g := gateFor(t, "testdata/schemas")
	cases := []struct {
		data, reject string
	}{
		{`{"kind":"a","qty":1,"email":"a@b.test","when":"2024-01-01T00:00:00Z"}`, ""},
		{`{"kind":"c","qty":1}`, "/kind"},
		{`{"kind":"a","qty":-1}`, "/qty"},
		{`{"kind":"a","qty":1.5}`, "/qty"},
		{`{"kind":"a","qty":1,"email":"not an email"}`, "/email"},
		{`{"kind":"a","qty":1,"when":"2024-13-45"}`, "/when"},
	}
	for _, c := range cases {
		v := g.handle(&guest.Op{Op: guest.OpPut, Table: "items", ID: "i", RawData: []byte(c.data)})
		if (c.reject == "") == v.Reject || !strings.Contains(v.Reason, c.reject) {
			t.Errorf("%s: reject=%v %q, want %q", c.data, v.Reject, v.Reason, c.reject)
		}
	}
}

func TestViolationsAreCapped(t *testing.T) {
	props, fields := []string{}, []string{}
	for i := range 30 {
		props = append(props, `"f`+string(rune('a'+i%26))+string(rune('a'+i/26))+`":{"type":"integer"}`)
		fields = append(fields, `"f`+string(rune('a'+i%26))+string(rune('a'+i/26))+`":"x"`)
	}
	fs := fstest.MapFS{"t.json": {Data: []byte(`{"type":"object","properties":{` + strings.Join(props, ",") + `}}`)}}
	g, err := newGate(fs)
	if err != nil {
		t.Fatal(err)
	}
	v := g.handle(&guest.Op{Op: guest.OpPut, Table: "t", ID: "x", RawData: []byte(`{` + strings.Join(fields, ",") + `}`)})
	if !v.Reject || strings.Count(v.Reason, "got string") != 10 || !strings.Contains(v.Reason, "and 20 more") {
		t.Fatalf("reason not capped at 10: %s", v.Reason)
	}
}

func TestBadSchemasAreStartupErrors(t *testing.T) {
	cases := map[string]struct{ file, want string }{
		"unknown keyword":  {`{"type":"object","properties":{"a":{"typo":"string"}}}`, `bad.json: /properties/a/typo: unknown keyword "typo"`},
		"invalid type":     {`{"type":"strin"}`, "bad.json"},
		"not JSON":         {`{"type":`, "bad.json: line 1 (end of file): not a JSON object"},
		"missing ref":      {`{"$ref":"nowhere.json"}`, "bad.json"},
		"x- annotation ok": {`{"type":"object","x-owner":"me"}`, ""},
		"unknown format":   {`{"type":"object","properties":{"a":{"type":"string","format":"uuuid"}}}`, `bad.json: /properties/a/format: unknown format "uuuid"`},
		"known format ok":  {`{"type":"object","properties":{"a":{"type":"string","format":"date-time"}}}`, ""},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := newGate(fstest.MapFS{"bad.json": {Data: []byte(c.file)}})
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want %q", err, c.want)
			}
		})
	}
}

// FuzzSchemaGateInput feeds arbitrary request bytes through the guest's
// real entry point: it must answer with a Response, never panic.
func FuzzSchemaGateInput(f *testing.F) {
	g := gateFor(f, "../../tests/testdata/schemas")
	f.Add([]byte(`{"abi":1,"ops":[{"index":0,"op":"PUT","table":"lists","id":"` + listID + `","data":{"name":"x","owner_id":"u"}}]}`))
	f.Add([]byte(`{"abi":1,"ops":[{"index":0,"op":"PATCH","table":"todos","id":"x","data":{"completed":1},"exists":true,"current":{"description":"d"}}]}`))
	f.Add([]byte(`{"abi":2}`))
	f.Add([]byte(`not json`))
	f.Fuzz(func(t *testing.T, in []byte) {
		out := guest.Process(in, guest.Handler(g.handle), guest.RawData())
		var resp guest.Response
		if err := json.Unmarshal(out, &resp); err != nil {
			t.Fatalf("response is not JSON: %s", out)
		}
	})
}

// BenchmarkGuest/schemagate/native pairs with the sandbox's
// BenchmarkGuest/schemagate/wasm: the same 100 rows, the same schemas.
func BenchmarkGuest(b *testing.B) {
	g := gateFor(b, "../../tests/testdata/schemas")
	guesttest.Bench(b, "schemagate", g.handle, 100, guest.RawData())
	guesttest.BenchRows(b, "schemagate", g.handle, guest.RawData())
}
