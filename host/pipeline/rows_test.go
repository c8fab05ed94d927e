package pipeline

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/syncgate/syncgate/guest/abi"
	"github.com/syncgate/syncgate/guest/raw"

	"github.com/syncgate/syncgate/guest"
	"github.com/syncgate/syncgate/guest/schemagate/schemaset"
	"github.com/syncgate/syncgate/host/strictjson"
	"github.com/syncgate/syncgate/host/syncgate"
)

var demoSchemas = func() *schemaset.Set {
	s, err := schemaset.Load(os.DirFS("../../tests/testdata/schemas"))
	if err != nil {
		panic(err)
	}
	return s
}()

// rowsDocs are documents with every kind of value a Doc holds, and strings
// that need escapes, are not ASCII or are not valid UTF-8.
func rowsDocs() []syncgate.Doc {
	return []syncgate.Doc{
		{{Key: "a", Value: int64(-7)}, {Key: "b", Value: 1.5e-9}, {Key: "c", Value: true}, {Key: "d", Value: false}, {Key: "e", Value: nil}},
		{{Key: "s", Value: "plain"}, {Key: "q", Value: `quote " and \ back`}, {Key: "nl", Value: "line\nbreak\x01"}, {Key: "é", Value: "café ☕"}, {Key: "bad", Value: "x\xffy"}},
		{{Key: "k\"ey", Value: "<html>&"}, {Key: "", Value: ""}, {Key: "\u2028", Value: "\u2028"}},
		{{Key: "doc", Value: syncgate.Doc{{Key: "x", Value: []any{int64(1), "two", nil, syncgate.Doc{{Key: "y", Value: false}}}}}}, {Key: "arr", Value: []any{}}},
		{{Key: "oid", Value: syncgate.ObjectID{1, 2, 3}}, {Key: "dec", Value: syncgate.Decimal("1.50")}, {Key: "t", Value: time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)}},
		{},
	}
}

// seenOp is what a handler saw of an op, comparable across the two forms.
type seenOp struct {
	Index                      int
	Op, Table, ID              string
	Exists                     bool
	Data, Current, Old         map[string]any
	Metadata, OpID, TxID       any
	RawData, RawCurrent        map[string]any
	DataMembers, CurrentMembrs []string
	Caller                     guest.Caller
	RequestID                  string
	Now                        time.Time
	Settings                   map[string]string
}

// members lists what Members reads, one line a member; a string said to
// be ASCII must be.
func members(t *testing.T, m raw.Members) []string {
	var out []string
	for m.Next() {
		s, ascii, isStr := m.String()
		if isStr && ascii && !isASCII(s) {
			t.Errorf("member %q: ascii %v for %q", m.Key(), ascii, s)
		}
		out = append(out, fmt.Sprintf("%q=%s str=%v:%q", m.Key(), m.Value(), isStr, s))
	}
	if err := m.Err(); err != nil {
		t.Errorf("members: %v", err)
	}
	return out
}

func isASCII(s []byte) bool {
	for _, c := range s {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// runForms runs the ops through a recording handler natively, once from
// each form of the Request, and returns what it saw.
func runForms(t *testing.T, b *syncgate.Batch, settings map[string]string, current map[string]map[string]syncgate.Doc, rawData bool) (fromJSON, fromRows []seenOp) {
	t.Helper()
	idx := make([]int, len(b.Ops))
	for i := range idx {
		idx[i] = i
	}
	now := time.Date(2023, 11, 14, 22, 13, 20, 0, time.UTC)
	for _, form := range []struct {
		encode func(*syncgate.Batch, time.Time, map[string]string, []syncgate.Op, []int, map[string]map[string]syncgate.Doc) ([]byte, error)
		into   *[]seenOp
	}{{encodeRequest, &fromJSON}, {encodeRows, &fromRows}} {
		in, err := form.encode(b, now, settings, b.Ops, idx, current)
		if err != nil {
			t.Fatal(err)
		}
		h := func(op *guest.Op) guest.Verdict {
			s := seenOp{Index: op.Index, Op: string(op.Op), Table: op.Table, ID: op.ID, Exists: op.Exists, Data: op.Data, Current: op.Current,
				Old: op.Old, Metadata: op.Metadata, OpID: op.OpID, TxID: op.TxID, Caller: op.Caller, RequestID: op.RequestID, Now: op.Now, Settings: op.Settings}
			var err error
			if s.RawData, err = decodeRaw(op.RawData); err != nil {
				t.Errorf("raw data %q: %v", op.RawData, err)
			}
			if s.RawCurrent, err = decodeRaw(op.RawCurrent); err != nil {
				t.Errorf("raw current %q: %v", op.RawCurrent, err)
			}
			s.DataMembers, s.CurrentMembrs = members(t, op.DataMembers()), members(t, op.CurrentMembers())
			// The index says what lexing the row's own text says.
			if lexed := members(t, raw.NewMembers(op.RawData)); !reflect.DeepEqual(lexed, s.DataMembers) {
				t.Errorf("data members:\nindexed %q\n  lexed %q", s.DataMembers, lexed)
			}
			if lexed := members(t, raw.NewMembers(op.RawCurrent)); !reflect.DeepEqual(lexed, s.CurrentMembrs) {
				t.Errorf("current members:\nindexed %q\n  lexed %q", s.CurrentMembrs, lexed)
			}
			if op.RawCurrent != nil {
				checkMerged(t, op)
			}
			s.DataMembers, s.CurrentMembrs = nil, nil // the two forms' texts may escape differently
			*form.into = append(*form.into, s)
			return guest.Accept()
		}
		opts := []guest.Option{guest.Handler(h)}
		if rawData {
			opts = append(opts, guest.RawData())
		}
		if out := guest.Process(in, opts...); bytes.Contains(out, []byte(`"error"`)) {
			t.Fatalf("%s", out)
		}
	}
	return fromJSON, fromRows
}

// checkMerged: MergedMembers reads the members of MergeObjects' document,
// in any order.
func checkMerged(t *testing.T, op *guest.Op) {
	t.Helper()
	m, err := op.MergedMembers()
	if err != nil {
		t.Fatalf("merged members: %v", err)
	}
	merged, err := raw.MergeObjects(op.RawCurrent, op.RawData)
	if err != nil {
		t.Fatalf("merge: %v", err)
	}
	got, want := members(t, m), members(t, raw.NewMembers(merged))
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("merged members of %s over %s:\n got %q\nwant %q", op.RawData, op.RawCurrent, got, want)
	}
}

func decodeRaw(b []byte) (map[string]any, error) {
	if b == nil {
		return nil, nil
	}
	return raw.DecodeObject(b)
}

// TestRowsFormMatchesJSON: a guest sees the same ops, values and members
// whichever form the host sends, with the map and the raw API alike.
func TestRowsFormMatchesJSON(t *testing.T) {
	docs := rowsDocs()
	b := &syncgate.Batch{RequestID: "r1", Caller: syncgate.Caller{UserID: "alice", Claims: map[string]any{"role": "admin"}}}
	current := map[string]map[string]syncgate.Doc{"t": {}}
	for i, d := range docs {
		op := syncgate.Op{Index: i, Op: syncgate.Put, Table: "t", ID: fmt.Sprintf("id-%d", i), Data: d}
		if i%2 == 1 {
			op.Op = syncgate.Patch
			current["t"][op.ID] = docs[(i+1)%len(docs)]
			op.Old, op.OpID, op.TxID, op.Metadata = docs[0], int64(i), "tx", map[string]any{"m": 1}
		}
		b.Ops = append(b.Ops, op)
	}
	b.Ops = append(b.Ops, syncgate.Op{Index: len(docs), Op: syncgate.Delete, Table: "t", ID: "gone", TxID: int64(3)})
	// One document three times: later ops see what the earlier ones did.
	current["t"]["dup"] = docs[0]
	for i, op := range []syncgate.OpType{syncgate.Patch, syncgate.Put, syncgate.Patch, syncgate.Delete, syncgate.Patch} {
		b.Ops = append(b.Ops, syncgate.Op{Index: 100 + i, Op: op, Table: "t", ID: "dup", Data: docs[i%3]})
	}
	for _, raw := range []bool{false, true} {
		j, r := runForms(t, b, map[string]string{"k": "v"}, current, raw)
		if len(j) != len(b.Ops) || !reflect.DeepEqual(j, r) {
			t.Fatalf("raw=%v:\n JSON form %+v\n rows form %+v", raw, j, r)
		}
	}
}

// FuzzRowsFormMatchesJSON: for any data the host's decoder accepts, the two
// forms agree (TestRowsFormMatchesJSON's checks).
func FuzzRowsFormMatchesJSON(f *testing.F) {
	for _, s := range []string{`{"a":1,"b":"x\"y","c":[1,{"d":null}],"é":"ü"}`, `{}`, `{"n":-0.5e3,"t":true,"f":false}`, `{"k\u0000":"\ud83d\ude00"}`} {
		f.Add([]byte(s))
	}
	f.Add([]byte(`{"created_at":"2024-05-01 10:00:00","description":"milk \u00e9","completed":0,"list_id":"0b6f3a52-5a3c-4c59-9ac6-2f2b7f7c1b10"}`))
	f.Add([]byte(`{"name":"x\ty","owner_id":"u","created_at":"2024-05-01T10:00:00\u005a"}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		doc, err := strictjson.DecodeData(in, 32)
		if err != nil {
			return
		}
		b := &syncgate.Batch{Ops: []syncgate.Op{{Op: syncgate.Put, Table: "t", ID: "1", Data: doc}, {Index: 1, Op: syncgate.Patch, Table: "t", ID: "2", Data: doc}}}
		current := map[string]map[string]syncgate.Doc{"t": {"2": doc}}
		for _, raw := range []bool{false, true} {
			if j, r := runForms(t, b, nil, current, raw); !reflect.DeepEqual(j, r) {
				t.Fatalf("%s raw=%v:\n JSON form %+v\n rows form %+v", in, raw, j, r)
			}
		}
		checkGateOnIndex(t, doc)
	})
}

// checkGateOnIndex: the schema gate's fast path decides a row from the
// host's index as it does from the row's text; it returns that decision.
func checkGateOnIndex(t *testing.T, doc syncgate.Doc) (valid bool) {
	t.Helper()
	b := &syncgate.Batch{Ops: []syncgate.Op{{Op: syncgate.Put, Table: "todos", ID: "0b6f3a52-5a3c-4c59-9ac6-2f2b7f7c1b10", Data: doc}}}
	in, err := encodeRows(b, time.Time{}, nil, b.Ops, []int{0}, nil)
	if err != nil {
		t.Fatal(err)
	}
	guest.Process(in, guest.Handler(func(op *guest.Op) guest.Verdict {
		for _, table := range []string{"todos", "lists"} {
			got, want := demoSchemas.MembersValid(table, op.DataMembers(), op.ID), demoSchemas.RowValid(table, op.RawData, op.ID)
			if got != want {
				t.Fatalf("%s %s: fast path over the index %v, over the text %v", table, op.RawData, got, want)
			}
			valid = valid || got
		}
		return guest.Accept()
	}), guest.RawData())
	return valid
}

func TestRowsFormFastPath(t *testing.T) {
	for _, d := range todoBatch(3).Ops {
		if !checkGateOnIndex(t, d.Data) {
			t.Errorf("%v: a valid todo not decided from the index", d.Data)
		}
	}
	bad := append(syncgate.Doc{}, todoBatch(1).Ops[0].Data...)
	bad.Set("completed", int64(2))
	if checkGateOnIndex(t, bad) {
		t.Errorf("%v: an invalid todo accepted from the index", bad)
	}
}

// TestRowsFormMergedPatch: the schema gate's fast path over MergedMembers
// of indexed rows decides what it decides over the merged document's text.
func TestRowsFormMergedPatch(t *testing.T) {
	stored := todoBatch(1).Ops[0].Data
	noList := slices.DeleteFunc(slices.Clone(stored), func(f syncgate.Field) bool { return f.Key == "list_id" })
	for _, c := range []struct {
		name          string
		current, data syncgate.Doc
		valid         bool
	}{
		{"new description", stored, syncgate.Doc{{Key: "description", Value: "renamed"}}, true},
		{"completed out of its enum", stored, syncgate.Doc{{Key: "completed", Value: int64(2)}}, false},
		{"description set to null", stored, syncgate.Doc{{Key: "description", Value: nil}}, false},
		{"required list_id only in the data", noList, syncgate.Doc{{Key: "list_id", Value: "0b6f3a52-5a3c-4c59-9ac6-2f2b7f7c1b10"}}, true},
		{"required list_id nowhere", noList, syncgate.Doc{{Key: "completed", Value: int64(1)}}, false},
		{"an unknown member in the stored document", append(slices.Clone(stored), syncgate.Field{Key: "extra", Value: int64(1)}), syncgate.Doc{}, false},
		{"an unknown member in the data", stored, syncgate.Doc{{Key: "extra", Value: int64(1)}}, false},
	} {
		id := "7c1e9f0a-3d2b-4a8e-b6f1-000000000000"
		b := &syncgate.Batch{Ops: []syncgate.Op{{Op: syncgate.Patch, Table: "todos", ID: id, Data: c.data}}}
		in, err := encodeRows(b, time.Time{}, nil, b.Ops, []int{0}, map[string]map[string]syncgate.Doc{"todos": {id: c.current}})
		if err != nil {
			t.Fatal(err)
		}
		guest.Process(in, guest.Handler(func(op *guest.Op) guest.Verdict {
			m, err := op.MergedMembers()
			if err != nil {
				t.Fatal(err)
			}
			merged, err := raw.MergeObjects(op.RawCurrent, op.RawData)
			if err != nil {
				t.Fatal(err)
			}
			got, text := demoSchemas.MembersValid("todos", m, op.ID), demoSchemas.RowValid("todos", merged, op.ID)
			if got != c.valid || text != c.valid {
				t.Errorf("%s: fast path over the merged index %v, over the merged text %v, want %v", c.name, got, text, c.valid)
			}
			return guest.Accept()
		}), guest.RawData())
	}
}

// TestRowsFormRefusesBadInput: the SDK checks a rows-form Request before a
// handler sees it; every damaged one is an error Response, never a panic.
func TestRowsFormRefusesBadInput(t *testing.T) {
	b := &syncgate.Batch{Ops: []syncgate.Op{{Op: syncgate.Put, Table: "t", ID: "1", Data: rowsDocs()[1], OpID: int64(1)}}}
	good, err := encodeRows(b, time.Time{}, nil, b.Ops, []int{0}, nil)
	if err != nil {
		t.Fatal(err)
	}
	accept := func(*guest.Op) guest.Verdict { return guest.Accept() }
	if out := guest.Process(good, guest.Handler(accept), guest.RawData()); !bytes.Equal(out, []byte(`{"verdicts":[{"index":0}]}`)) {
		t.Fatalf("good input: %s", out)
	}
	// Every truncation and every single-byte change past the magic.
	for n := len(abi.RowsMagic); n < len(good); n++ {
		checkRefusedOrAnswered(t, good[:n], true)
	}
	for i := len(abi.RowsMagic); i < len(good); i++ {
		for _, c := range []byte{0, 0x7f, 0xff} {
			bad := bytes.Clone(good)
			bad[i] = c
			checkRefusedOrAnswered(t, bad, false)
		}
	}
	// Entries pointing outside their row, or of a kind their text is not.
	for _, c := range []struct {
		name  string
		patch func(tab []byte)
	}{
		{"key past the row", func(e []byte) { e[1] = 0xff; e[2] = 0xff }},
		{"value of length 0", func(e []byte) { e[13], e[14], e[15], e[16] = 0, 0, 0, 0 }},
		{"string past the row", func(e []byte) { e[21] = 0xff; e[22] = 0xff }},
		{"wrong kind", func(e []byte) { e[0] = abi.KindNumber }},
		{"unknown kind", func(e []byte) { e[0] = 'x' }},
	} {
		bad := bytes.Clone(good)
		at := bytes.Index(bad, []byte{abi.KindString, 2, 0, 0, 0, 1, 0, 0, 0}) // the first entry: "s", a string
		if at < 0 {
			t.Fatalf("no string entry at %d: %q", at, bad[at:])
		}
		c.patch(bad[at:])
		// A raw guest learns it from Members, a map guest's call fails.
		out := guest.Process(bad, guest.Handler(func(op *guest.Op) guest.Verdict {
			m := op.DataMembers()
			for m.Next() {
			}
			if m.Err() != nil {
				return guest.Reject("bad", m.Err().Error())
			}
			return guest.Accept()
		}), guest.RawData())
		if !bytes.Contains(out, []byte(`"reason":"rows form: member 0 of a row is outside it or not of its kind"`)) {
			t.Errorf("%s: %s", c.name, out)
		}
		out = guest.Process(bad, guest.Handler(accept))
		if !bytes.Contains(out, []byte(`"error":"guest: decode request: rows form: ops[0] data: rows form: member 0`)) {
			t.Errorf("%s, map guest: %s", c.name, out)
		}
	}
	if out := guest.Process(append(bytes.Clone(good), 0), guest.Handler(accept), guest.RawData()); !bytes.Contains(out, []byte("after the last op")) {
		t.Errorf("trailing byte: %s", out)
	}
}

// checkRefusedOrAnswered runs in natively: a truncated input must be
// refused; a changed one is refused or (a changed string byte) answered.
func checkRefusedOrAnswered(t *testing.T, in []byte, mustRefuse bool) {
	t.Helper()
	out := guest.Process(in, guest.Handler(func(op *guest.Op) guest.Verdict {
		for m := op.DataMembers(); m.Next(); { // a changed byte may make the ASCII flag untrue: the host is trusted there
			m.String()
		}
		return guest.Accept()
	}), guest.RawData())
	var resp guest.Response
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatalf("%q: response is not JSON: %s", in, out)
	}
	if mustRefuse && !strings.HasPrefix(resp.Error, "guest: decode request") {
		t.Fatalf("%q: not refused: %s", in, out)
	}
}

// TestRowsFormRefusesBadFields: each field the SDK checks, broken on its own.
func TestRowsFormRefusesBadFields(t *testing.T) {
	b := &syncgate.Batch{Ops: []syncgate.Op{{Op: syncgate.Put, Table: "t", ID: "1", Data: syncgate.Doc{{Key: "a", Value: int64(1)}}, OpID: int64(1)}}}
	good, err := encodeRows(b, time.Time{}, nil, b.Ops, []int{0}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// With an empty request id, user and claims and no settings, the first
	// op starts at 36: index (4 bytes), kind, flags.
	const kindAt, flagsAt, settingsAt = 40, 41, 28
	if good[kindAt] != 1 || good[flagsAt] != abi.FlagData|abi.FlagExtras {
		t.Fatalf("layout moved: % x", good[:48])
	}
	accept := func(*guest.Op) guest.Verdict { return guest.Accept() }
	for _, c := range []struct {
		name string
		at   int
		b    byte
		want string
	}{
		{"op kind", kindAt, 9, "unknown op kind"},
		{"flags", flagsAt, 0x80 | abi.FlagData | abi.FlagExtras, "unknown flags"},
		{"settings count", settingsAt + 3, 0x7f, "settings are more than the input holds"},
		{"abi", len(abi.RowsMagic), 2, "ABI 2, want 1"},
	} {
		bad := bytes.Clone(good)
		bad[c.at] = c.b
		if out := guest.Process(bad, guest.Handler(accept), guest.RawData()); !bytes.Contains(out, []byte(c.want)) {
			t.Errorf("%s: %s", c.name, out)
		}
	}
	// Extras that are not a JSON object of the op's fields.
	b.Ops[0].OpID = "x"
	good, _ = encodeRows(b, time.Time{}, nil, b.Ops, []int{0}, nil)
	bad := bytes.Replace(good, []byte(`{"op_id":"x"}`), []byte(`{"op_id":"x"]`), 1)
	if out := guest.Process(bad, guest.Handler(accept), guest.RawData()); !bytes.Contains(out, []byte("extras")) {
		t.Errorf("bad extras: %s", out)
	}
}

// TestEncodeRowsRefuses: what the host cannot write is an error, not a
// request the guest would misread.
func TestEncodeRowsRefuses(t *testing.T) {
	for _, c := range []struct {
		name string
		op   syncgate.Op
		b    syncgate.Batch
		want string
	}{
		{"op kind", syncgate.Op{Op: "UPSERT", Table: "t", ID: "1"}, syncgate.Batch{}, `unknown op "UPSERT"`},
		{"value", syncgate.Op{Op: syncgate.Put, Table: "t", ID: "1", Data: syncgate.Doc{{Key: "f", Value: make(chan int)}}}, syncgate.Batch{}, "data: f: json: unsupported type"},
		{"old", syncgate.Op{Op: syncgate.Patch, Table: "t", ID: "1", Old: syncgate.Doc{{Key: "f", Value: func() {}}}}, syncgate.Batch{}, "unsupported type"},
		{"claims", syncgate.Op{Op: syncgate.Delete, Table: "t", ID: "1"}, syncgate.Batch{Caller: syncgate.Caller{Claims: map[string]any{"c": make(chan int)}}}, "unsupported type"},
	} {
		b := c.b
		b.Ops = []syncgate.Op{c.op}
		if _, err := encodeRows(&b, time.Time{}, nil, b.Ops, []int{0}, nil); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.name, err, c.want)
		}
	}
}

// FuzzDecodeResponse: the hand-read answer is encoding/json's.
func FuzzDecodeResponse(f *testing.F) {
	for _, s := range []string{`{"verdicts":[{"index":0},{"index":17}]}`, `{"verdicts":[]}`, `{"verdicts":[{"index":01}]}`,
		`{"verdicts":[{"index":-1}]}`, `{"verdicts":[{"index":1234567890}]}`, `{"verdicts":[{"index":1},]}`, `{"verdicts":[{"index":1}]} `,
		`{"verdicts":[{"index":1,"reject":true}]}`, `{"verdicts":[{"index":1}{"index":2}]}`, `{"verdicts":[{"index":}]}`, `{"verdicts":[]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var fast response
		if !plainVerdicts(in, &fast) {
			return
		}
		var want response
		if err := json.Unmarshal(in, &want); err != nil {
			t.Fatalf("%q: read by hand, refused by encoding/json: %v", in, err)
		}
		if !reflect.DeepEqual(fast.Verdicts, want.Verdicts) && !(len(fast.Verdicts) == 0 && len(want.Verdicts) == 0) {
			t.Fatalf("%q: by hand %+v, encoding/json %+v", in, fast, want)
		}
	})
}

// TestDecodeResponse: the plain answer is read by hand, others as before.
func TestDecodeResponse(t *testing.T) {
	for in, want := range map[string]bool{
		`{"verdicts":[{"index":0},{"index":17}]}`: true, `{"verdicts":[]}`: true, `{"verdicts":[{"index":01}]}`: false,
		`{"verdicts":[{"index":1,"reject":true}]}`: false, `{"verdicts":[{"index":1234567890}]}`: false, `{"verdicts":[{"index":1},]}`: false,
	} {
		var r response
		if got := plainVerdicts([]byte(in), &r); got != want {
			t.Errorf("%s: read by hand %v, want %v", in, got, want)
		}
		if err := decodeResponse([]byte(in), &r); (err == nil) != json.Valid([]byte(in)) {
			t.Errorf("%s: %v", in, err)
		}
	}
}
