package server

import "sync"

// Condition is one readiness condition a background task updates (the
// database connection, say): nil when ready, else why not. Its Err is a
// Check's Fn.
type Condition struct {
	mu  sync.Mutex
	err error
}

// NewCondition returns a condition that starts as err.
func NewCondition(err error) *Condition { return &Condition{err: err} }

// Set records the condition's state.
func (c *Condition) Set(err error) {
	c.mu.Lock()
	c.err = err
	c.mu.Unlock()
}

// Err is the condition's state.
func (c *Condition) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}
