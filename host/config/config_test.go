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

// TestDerivedSettings: the defaults serve() used to decide inline.
func TestDerivedSettings(t *testing.T) {
	dev := Config{}
	if dev.TokenMode() != "dev" || !dev.UploadAuthRequired() {
		t.Errorf("development run: mode %q, upload auth %v", dev.TokenMode(), dev.UploadAuthRequired())
	}
	if aud, def := dev.TokenAudience(); aud != DevAudience || !def {
		t.Errorf("development audience %q %v", aud, def)
	}
	prod := Config{PublicKey: "k", PrivateKey: "k", Audience: "https://ps", UploadAuth: "on"}
	if prod.TokenMode() != "api-key" || len(prod.Warnings()) != 0 {
		t.Errorf("keys from the environment: mode %q, warnings %v", prod.TokenMode(), prod.Warnings())
	}
	prod.TokenAuth, prod.UploadAuth = "dev", "off"
	if w := prod.ReadyWarnings(); len(w) != 2 || !strings.HasPrefix(w[0], "TOKEN_AUTH=dev") || !strings.HasPrefix(w[1], "UPLOAD_AUTH=off") {
		t.Errorf("ready warnings %v", w)
	}
	if got := (&Config{}).AllowedTables(nil); got != nil {
		t.Errorf("no tables, no schemas: %v, want nil (any)", got)
	}
	if got := (&Config{}).AllowedTables([]string{"a"}); len(got) != 1 || !got["a"] {
		t.Errorf("schema tables: %v", got)
	}
	if got := (&Config{Tables: []string{" b "}}).AllowedTables([]string{"a"}); len(got) != 1 || !got["b"] {
		t.Errorf("UPLOAD_TABLES wins: %v", got)
	}
	if (&Config{GuestPool: 3}).Pool() != 3 || (&Config{}).Pool() < 1 {
		t.Error("Pool")
	}
}
