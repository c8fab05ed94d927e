//go:build !race

package tests

// slowdown stretches the waits for syncgate to start (race_test.go).
const slowdown = 1
