package store

import (
	"context"
	"time"
)

// WaitReady detects the server (Detect) with exponential backoff — 200 ms,
// doubling to 5 s — until it answers or ctx ends, so start-up never hangs
// on a database that is down. failed, when set, is told of each failure
// and the wait before the next try (not once ctx has ended). It returns
// the write mode, or the last error when ctx ends first.
func (m *Mongo) WaitReady(ctx context.Context, failed func(err error, retryIn time.Duration)) (Mode, error) {
	wait := 200 * time.Millisecond
	for {
		mode, err := m.Detect(ctx)
		if err == nil {
			return mode, nil
		}
		if ctx.Err() != nil {
			return mode, err
		}
		if failed != nil {
			failed(err, wait)
		}
		select {
		case <-ctx.Done():
			return mode, err
		case <-time.After(wait):
		}
		wait = min(wait*2, 5*time.Second)
	}
}
