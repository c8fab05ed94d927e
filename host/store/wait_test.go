package store

import (
	"context"
	"sync"
	"testing"
	"time"
)

// TestWaitReadyBacksOffAndStops: against a database that is not there,
// WaitReady reports each failure with a growing wait and returns when ctx
// ends.
func TestWaitReadyBacksOffAndStops(t *testing.T) {
	m, err := Open("mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=50&connectTimeoutMS=50", "t", Options{Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())
	ctx, cancel := context.WithTimeout(t.Context(), 1500*time.Millisecond)
	defer cancel()
	var mu sync.Mutex
	var waits []time.Duration
	_, err = m.WaitReady(ctx, func(err error, in time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		waits = append(waits, in)
	})
	if err == nil {
		t.Fatal("no error from a database that is not there")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(waits) < 2 || waits[0] != 200*time.Millisecond || waits[1] != 400*time.Millisecond {
		t.Fatalf("waits %v, want 200ms, 400ms, …", waits)
	}
}

// TestWaitReadyQuietWhenStopped (issue 29 item 4): once ctx has ended (a
// failed start stops the server), a failure is not reported: no
// "database not reachable; retrying … context canceled" in the log.
func TestWaitReadyQuietWhenStopped(t *testing.T) {
	m, err := Open("mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=50&connectTimeoutMS=50", "t", Options{Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := m.WaitReady(ctx, func(err error, _ time.Duration) { t.Errorf("reported after ctx ended: %v", err) }); err == nil {
		t.Fatal("no error")
	}
}
