package core

import "time"

// Clock is the source of time and timers; the emulator's public Clock
// satisfies it. It must be safe for concurrent use.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// AfterFunc runs f once d has elapsed and returns a function that
	// cancels it, reporting whether it stopped the timer before it ran.
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}
