package wire

import (
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// TestArenaStringsStay: strings keep their contents while later ones fill
// the chunk and new chunks start, longer strings than a chunk included.
func TestArenaStringsStay(t *testing.T) {
	var a Arena
	var got, want []string
	src := []byte(strings.Repeat("abcdefghij", 2*arenaChunk/10))
	for i, n := range []int{0, 1, 7, arenaChunk - 9, 3, arenaChunk + 5, 2, 10} {
		b := append([]byte(nil), src[i:i+n]...)
		got, want = append(got, a.String(b)), append(want, string(b))
		for j := range b {
			b[j] = 'X' // the source may change after the call
		}
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("string %d: got %q, want %q", i, got[i], want[i])
		}
	}
}

// TestArenaBox: boxed values are what converting them would give, stay so
// while later ones fill chunks, and survive collections.
func TestArenaBox(t *testing.T) {
	var a Arena
	var got, want []any
	for i := range 200 {
		s := strings.Repeat("x", i%7) + string(rune('a'+i%26))
		if i%3 == 0 {
			got, want = append(got, a.BoxNumber(s)), append(want, json.Number(s))
		} else {
			got, want = append(got, a.Box(s)), append(want, s)
		}
	}
	runtime.GC()
	for i := range got {
		if got[i] != want[i] || fmt.Sprintf("%T", got[i]) != fmt.Sprintf("%T", want[i]) {
			t.Fatalf("value %d: got %#v, want %#v", i, got[i], want[i])
		}
	}
	if n := testing.AllocsPerRun(100, func() { a.Box("s") }); n > 0.05 {
		t.Fatalf("Box allocates %.2f times a call, want once a chunk of 64", n)
	}
}
