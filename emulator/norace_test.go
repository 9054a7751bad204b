//go:build !race

package emulator

// raceEnabled reports whether the race detector is on.
const raceEnabled = false
