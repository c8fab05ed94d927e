package sandbox

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"os"
	"testing"

	"github.com/syncgate/syncgate/guest/abi"
)

// testdata/echo-abi1.wasm.gz is guest/examples/echo built with the SDK as
// it was before the SDK split into guest, guest/abi and guest/raw (commit
// 40cb296: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath
// -ldflags=-s ./guest/examples/echo, then gzip -9). It is the one compiled
// guest in the repository (gzipped: 0.9 MiB instead of 3.4), kept so that a
// change of the wire that would break guests already built fails here:
// ABI version 1 must keep loading them.

func readOldEcho(t *testing.T) []byte {
	t.Helper()
	f, err := os.Open("testdata/echo-abi1.wasm.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	wasm, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return wasm
}

// rowsRequest is a rows-form Request (guest/abi) with one PUT of
// {"n":"x"} to t/1, built from the abi constants by hand.
func rowsRequest() []byte {
	u32 := func(b []byte, v int) []byte { return binary.LittleEndian.AppendUint32(b, uint32(v)) }
	str := func(b []byte, s string) []byte { return append(u32(b, len(s)), s...) }
	b := []byte(abi.RowsMagic)
	b = u32(b, abi.Version)
	b = binary.LittleEndian.AppendUint64(b, 1767323045000000000) // now
	b = str(b, "r1")
	b = str(b, "alice")
	b = str(b, "") // claims
	b = u32(b, 0)  // settings
	b = u32(b, 1)  // ops
	b = u32(b, 0)  // index
	b = append(b, abi.OpPut, abi.FlagData)
	b = str(b, "t")
	b = str(b, "1")
	text := `{"n":"x"}`
	b = u32(u32(u32(b, 1), len(text)), 0) // one member, the text, no extra bytes
	b = append(b, abi.KindString)
	for _, v := range []int{2, 1, 5, 3, 6, 1} { // key n at 2, value "x" at 5, contents x at 6
		b = u32(b, v)
	}
	return append(b, text...)
}

// TestGuestFromPreviousSDK: a guest built with the SDK before its split
// still loads (ABI version 1, its Info) and answers both forms of Request
// the host sends today.
func TestGuestFromPreviousSDK(t *testing.T) {
	rt := newRuntime(t, Limits{}, nil)
	g, err := rt.Load(context.Background(), GuestConfig{Name: "echo-abi1", Path: "testdata/echo-abi1.wasm.gz", Wasm: readOldEcho(t), Pool: 1})
	if err != nil {
		t.Fatalf("load a guest of the previous SDK: %v", err)
	}
	t.Cleanup(func() { g.Close(context.Background()) })
	if info := g.Info(); info.Name != "echo" || info.Input != abi.InputRows || info.Error != "" {
		t.Fatalf("info %+v, want echo reading the rows form", info)
	}
	for _, form := range []struct {
		name string
		in   []byte
	}{{"json", request("t", "u")}, {"rows", rowsRequest()}} {
		t.Run(form.name, func(t *testing.T) {
			out, err := g.Call(t.Context(), form.in)
			if err != nil {
				t.Fatal(err)
			}
			var resp struct {
				Verdicts []map[string]any `json:"verdicts"`
				Error    string           `json:"error"`
			}
			if err := json.Unmarshal(out, &resp); err != nil || resp.Error != "" {
				t.Fatalf("response %s: %v", out, err)
			}
			want := 2
			if form.name == "rows" {
				want = 1
			}
			if len(resp.Verdicts) != want || bytes.Contains(out, []byte(`"reject"`)) {
				t.Fatalf("response %s: want %d accepting verdicts", out, want)
			}
		})
	}
}
