package auth

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestKeySourceDev: development keys are made once in DevDir and read back
// the next time, each time with the warning the command logs.
func TestKeySourceDev(t *testing.T) {
	dir := t.TempDir()
	ks, warn, err := KeySource{DevDir: dir}.Load()
	if err != nil || !strings.Contains(warn, "DEVELOPMENT KEYS generated and stored in "+filepath.Join(dir, "dev-keys.env")) {
		t.Fatalf("first: %v %q", err, warn)
	}
	again, warn, err := KeySource{DevDir: dir}.Load()
	if err != nil || !strings.Contains(warn, "DEVELOPMENT KEYS in use") || again.Signing().KID != ks.Signing().KID {
		t.Fatalf("second: %v %q", err, warn)
	}
	if err := os.WriteFile(filepath.Join(dir, "dev-keys.env"), []byte("# nothing\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := (KeySource{DevDir: dir}).Load(); err == nil || !strings.Contains(err.Error(), "no POWERSYNC_PRIVATE_KEY line (delete the file to make new ones)") {
		t.Fatalf("broken file: %v", err)
	}
}

// TestKeySourceParse: every problem of the configured keys at once; a
// private key among the extra public keys is refused.
func TestKeySourceParse(t *testing.T) {
	k, err := Generate("ES256", "")
	if err != nil {
		t.Fatal(err)
	}
	pub, priv, err := k.EnvLines()
	if err != nil {
		t.Fatal(err)
	}
	signing, extra, errs := KeySource{PublicKey: pub, PrivateKey: priv, Extra: []string{pub, " "}}.Parse()
	if len(errs) != 0 || signing == nil || len(extra) != 1 {
		t.Fatalf("good keys: %v %v %v", signing, extra, errs)
	}
	_, _, errs = KeySource{PublicKey: "x", PrivateKey: "y", Extra: []string{priv}}.Parse()
	all := errors.Join(errs...)
	for _, want := range []string{"POWERSYNC_PRIVATE_KEY: ", "POWERSYNC_PUBLIC_KEY: ", "make a pair with: ./bin/syncgate keys generate", "POWERSYNC_PUBLIC_KEYS_EXTRA[0]: this is a private key"} {
		if len(errs) != 3 || !strings.Contains(all.Error(), want) {
			t.Errorf("got %d problems:\n%v\nwant %q", len(errs), all, want)
		}
	}
	if _, _, err := (KeySource{PublicKey: "x", PrivateKey: "y"}).Load(); err == nil || !strings.HasPrefix(err.Error(), "config: ") {
		t.Fatalf("Load with bad keys: %v", err)
	}
}
