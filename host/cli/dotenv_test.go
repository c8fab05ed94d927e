package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunWithDotEnv: the binary reads .env (as `go tool task run` does),
// the environment wins over it, and a command that reads the configuration
// says what it took from the file.
func TestRunWithDotEnv(t *testing.T) {
	fromFile, fromEnv := t.TempDir(), t.TempDir()
	for dir, table := range map[string]string{fromFile: "lists", fromEnv: "notes"} {
		if err := os.WriteFile(filepath.Join(dir, table+".json"), []byte(`{"type":"object"}`), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dotenv := filepath.Join(t.TempDir(), ".env")
	if err := os.WriteFile(dotenv, []byte("SCHEMAS_DIR="+fromFile+"\nLOG_LEVEL=debug\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(env map[string]string, path string) (int, string, string) {
		var out, errb bytes.Buffer
		code := RunWithDotEnv(t.Context(), path, []string{"schemas", "check"}, func(k string) string { return env[k] }, &out, &errb)
		return code, out.String(), errb.String()
	}
	code, out, errs := run(nil, dotenv)
	if code != 0 || !strings.Contains(out, "[lists]") || !strings.Contains(errs, "syncgate: read "+dotenv+": LOG_LEVEL, SCHEMAS_DIR") {
		t.Fatalf(".env: exit %d\n%s\n%s", code, out, errs)
	}
	code, out, errs = run(map[string]string{"SCHEMAS_DIR": fromEnv}, dotenv)
	if code != 0 || !strings.Contains(out, "[notes]") || !strings.Contains(errs, "(the environment wins for SCHEMAS_DIR)") {
		t.Fatalf("environment over .env: exit %d\n%s\n%s", code, out, errs)
	}
	code, out, errs = run(map[string]string{"SCHEMAS_DIR": fromEnv}, filepath.Join(t.TempDir(), ".env"))
	if code != 0 || !strings.Contains(out, "[notes]") || strings.Contains(errs, "read") {
		t.Fatalf("no .env: exit %d\n%s\n%s", code, out, errs)
	}
	if err := os.WriteFile(dotenv, []byte("A='unterminated\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := run(nil, dotenv); code != 1 || !strings.Contains(errs, "syncgate: "+dotenv+": ") {
		t.Fatalf("bad .env: exit %d %s", code, errs)
	}
}
