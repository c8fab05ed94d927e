package cli

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
)

// TestGuestPanicLogsOneRecord: one call's output with a Go panic is one
// structured record naming the guest, with the panic message and the stack.
func TestGuestPanicLogsOneRecord(t *testing.T) {
	var buf bytes.Buffer
	w := logWriter{slog.New(slog.NewJSONHandler(&buf, nil))}
	w.Write([]byte("guest quota: panic: interface conversion: interface {} is nil, not string\n\ngoroutine 1 [running]:\nmain.handle(...)\n\tlogic.go:9\n"))
	w.Write([]byte("guest quota: counting 3 ops\n"))
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d records, want 2:\n%s", len(lines), buf.String())
	}
	var rec map[string]any
	json.Unmarshal([]byte(lines[0]), &rec)
	if rec["msg"] != "guest panicked" || rec["level"] != "ERROR" || rec["guest"] != "quota" ||
		rec["panic"] != "interface conversion: interface {} is nil, not string" || !strings.Contains(rec["stack"].(string), "main.handle") {
		t.Fatalf("panic record %v", rec)
	}
	json.Unmarshal([]byte(lines[1]), &rec)
	if rec["msg"] != "guest output" || rec["guest"] != "quota" || rec["text"] != "counting 3 ops" {
		t.Fatalf("output record %v", rec)
	}
}
