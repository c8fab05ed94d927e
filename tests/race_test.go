//go:build race

package tests

// slowdown stretches the waits for syncgate to start under the race
// detector, which compiles and runs guests several times slower (the
// authorize guest's first compile took over 30 s).
const slowdown = 5
