package strictjson

import (
	"bytes"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"unsafe"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/syncgate/syncgate/host/syncgate"
)

// TestSharedStrings: with Options.Shared, a string without escapes is the
// input's own bytes, one with escapes a copy; a stream whose raw values lie
// in a buffer of its own (a bytes.Reader's, overwritten by the next read)
// gets copies whatever Shared says.
func TestSharedStrings(t *testing.T) {
	in := []byte(`{"plain":"first-value","escaped":"a\u00e9b"}`)
	v, err := NewDecoderOn(NewTokenReader(in), Options{Shared: in}).Value("x", 0, false)
	if err != nil {
		t.Fatal(err)
	}
	doc := v.(syncgate.Doc)
	plain, _ := doc.Get("plain")
	escaped, _ := doc.Get("escaped")
	if plain != "first-value" || escaped != "aéb" {
		t.Fatalf("decoded %v", doc)
	}
	if p := unsafe.StringData(plain.(string)); uintptr(unsafe.Pointer(p)) != uintptr(unsafe.Pointer(&in[bytes.Index(in, []byte("first-value"))])) {
		t.Error("a plain string was copied, not shared")
	}

	// The footgun: Shared names an input this stream does not read in place.
	big := `[{"a":"first-value"},` + strings.Repeat(`{"b":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"},`, 200) + `{"c":1}]`
	dec := jsontext.NewDecoder(bytes.NewReader([]byte(big)), tokenOptions...)
	v, err = NewDecoderOn(dec, Options{Shared: []byte(big)}).Value("x", 0, false)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := v.([]any)[0].(syncgate.Doc).Get("a"); got != "first-value" {
		t.Errorf("Shared over a bytes.Reader stream: %q", got)
	}
}

// TestBoxedStringsSurviveGC: strings boxed from a decoder's chunk keep
// their values across collections, as interfaces and as map keys.
func TestBoxedStringsSurviveGC(t *testing.T) {
	var keep []any
	seen := map[any]bool{}
	for n := range 200 {
		var b strings.Builder
		b.WriteString("{")
		for i := range 100 {
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, `"k%d":"v%d-%d"`, i, n, i)
		}
		b.WriteString("}")
		body := []byte(b.String())
		v, err := NewDecoderOn(NewTokenReader(body), Options{Shared: body}).Value("x", 0, false)
		if err != nil {
			t.Fatal(err)
		}
		keep = append(keep, v.(syncgate.Doc)[n%100].Value)
		seen[keep[n]] = true
		runtime.GC()
	}
	runtime.GC()
	for n, v := range keep {
		want := fmt.Sprintf("v%d-%d", n, n%100)
		if s, ok := v.(string); !ok || s != want || v != any(want) || !seen[want] {
			t.Fatalf("value %d: %#v, want %q", n, v, want)
		}
	}
}
