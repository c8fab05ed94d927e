package wire

import (
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
