package config

import (
	"flag"
	"os"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite docs/configuration.md")

// TestReferenceDocMatchesStruct fails when docs/configuration.md and the
// Config struct disagree.
func TestReferenceDocMatchesStruct(t *testing.T) {
	const path = "../../docs/configuration.md"
	if *update {
		os.WriteFile(path, []byte(Reference()), 0o644)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != Reference() {
		t.Fatalf("%s is out of date with host/config.Config: run go test ./host/config -update", path)
	}
	for _, v := range Variables() {
		if v.Help == "" {
			t.Errorf("%s has no help text", v.Name)
		}
	}
}

func TestDefaults(t *testing.T) {
	c, err := Parse(map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:8080" || !c.Dev() || !c.Embedded() || c.TokenTTL != 5*time.Minute || c.UploadAuth != "on" {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestErrorsNameEveryBadVariable(t *testing.T) {
	_, err := Parse(map[string]string{"ADDR": "x", "LOG_FORMAT": "xml", "GUESTS": "a/b", "GUEST_SETTINGS": "nodot:1", "GUEST_DEADLINES": "never"})
	for _, name := range []string{"ADDR", "LOG_FORMAT", "GUESTS", "GUEST_SETTINGS", "GUEST_DEADLINES"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("error %v does not name %s", err, name)
		}
	}
}
