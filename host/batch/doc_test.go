package batch

import (
	"os"
	"regexp"
	"slices"
	"testing"
)

// TestArchitectureShowsTheStages: docs/architecture.md's request path names
// the stages of stages.go, in order, numbered.
func TestArchitectureShowsTheStages(t *testing.T) {
	doc, err := os.ReadFile("../../docs/architecture.md")
	if err != nil {
		t.Fatal(err)
	}
	var shown []string
	for _, m := range regexp.MustCompile(`(?m)^ {20,}(\d+) ([a-z]+) `).FindAllSubmatch(doc, -1) {
		if want := len(shown) + 1; string(m[1]) != string(rune('0'+want)) {
			t.Errorf("stage %s numbered %s, want %d", m[2], m[1], want)
		}
		shown = append(shown, string(m[2]))
	}
	if !slices.Equal(shown, StageNames()) {
		t.Errorf("docs/architecture.md shows the stages %v; stages.go runs %v", shown, StageNames())
	}
}
