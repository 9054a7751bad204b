package emulator

import (
	"context"
	"slices"
	"sync"
	"time"
)

// Clock is the emulator's source of time and of the timers that follow
// it. Options.Clock takes one; nil means the real clock.
//
// The emulator reads Now for token checks, issued tokens, ce-time, the
// connected time of a connection, message TTLs and the end of a reliable
// connection's retention, and arms AfterFunc for the timers that belong to
// the service's behaviour: the reliable retention, each upstream call's
// EventHandlerTimeout and the waits between its retries, keep-alive
// (Options.PingInterval and Options.IdleTimeout), and the delays injected
// with DelayNext and DelayNextAck. The bounds of the close procedure
// (Options.CloseTimeout and the one-second wait for a client's close
// frame) always run on real time, so that Close ends whatever the clock
// does.
//
// An implementation must be safe for concurrent use.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// AfterFunc arranges for f to run in its own goroutine, or in the
	// goroutine that advances the clock, once d has elapsed, and returns
	// a function that cancels it. The cancel function reports whether it
	// stopped the timer before it ran, as (*time.Timer).Stop does.
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

// realClock is time.Now and time.AfterFunc.
type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) AfterFunc(d time.Duration, f func()) func() bool {
	return time.AfterFunc(d, f).Stop
}

// FakeClock is a Clock whose time moves only when Advance is called, for
// tests that exercise timeouts, retention, retries and keep-alive without
// waiting. Create it with NewFakeClock and pass it as Options.Clock (or
// with WithClock to NewTest). Its methods are safe for concurrent use.
type FakeClock struct {
	mu      sync.Mutex
	now     time.Time
	timers  []*fakeTimer
	nextSeq uint64
	changed chan struct{} // closed and replaced when a timer is armed
}

type fakeTimer struct {
	at      time.Time
	armed   time.Duration // the duration AfterFunc was called with
	seq     uint64        // arming order, to run timers due together in order
	f       func()
	stopped bool
}

// NewFakeClock returns a FakeClock that reads start until it is
// advanced; a zero start means the real time at the call, so that tokens
// signed with real expiry times stay valid.
func NewFakeClock(start time.Time) *FakeClock {
	if start.IsZero() {
		start = time.Now()
	}
	return &FakeClock{now: start, changed: make(chan struct{})}
}

// Now returns the clock's current time.
func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc arms a timer that runs f when Advance moves the clock d or
// more past the current time. A d of zero or less runs f on the next
// Advance, even Advance(0). The returned function cancels the timer and
// reports whether it had not run yet.
func (c *FakeClock) AfterFunc(d time.Duration, f func()) func() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nextSeq++
	t := &fakeTimer{at: c.now.Add(d), armed: d, seq: c.nextSeq, f: f}
	c.timers = append(c.timers, t)
	close(c.changed)
	c.changed = make(chan struct{})
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		if t.stopped {
			return false
		}
		t.stopped = true
		c.timers = slices.DeleteFunc(c.timers, func(x *fakeTimer) bool { return x == t })
		return true
	}
}

// Advance moves the clock forward by d (a negative d is treated as zero)
// and then runs, in the caller's goroutine and in the order of their
// deadlines, every timer that is due, including timers that those
// functions arm and that are due too. It returns when they have run; what
// they start in other goroutines (a keep-alive ping, a retry) may still
// be under way.
func (c *FakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	if d > 0 {
		c.now = c.now.Add(d)
	}
	c.mu.Unlock()
	c.fireDue()
}

// fireDue runs the due timers one at a time, re-reading the list after
// each, so that timers armed by a callback are seen.
func (c *FakeClock) fireDue() {
	for {
		c.mu.Lock()
		var next *fakeTimer
		for _, t := range c.timers {
			if t.at.After(c.now) {
				continue
			}
			if next == nil || t.at.Before(next.at) || t.at.Equal(next.at) && t.seq < next.seq {
				next = t
			}
		}
		if next == nil {
			c.mu.Unlock()
			return
		}
		next.stopped = true
		c.timers = slices.DeleteFunc(c.timers, func(x *fakeTimer) bool { return x == next })
		c.mu.Unlock()
		next.f()
	}
}

// advanceWithoutTimers moves the clock without running any timer, for
// tests of code that reads the time before its timer fires.
func (c *FakeClock) advanceWithoutTimers(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Pending returns the time left until each armed timer is due, in
// ascending order (zero for a timer already due); a fresh slice.
func (c *FakeClock) Pending() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]time.Duration, 0, len(c.timers))
	for _, t := range c.timers {
		out = append(out, max(t.at.Sub(c.now), 0))
	}
	slices.Sort(out)
	return out
}

// WaitTimers blocks until at least n timers armed with exactly duration
// d are pending (armed, not yet run, not stopped), so that a test can
// Advance past them knowing the emulator has started them. It returns
// ctx.Err() if ctx ends first.
func (c *FakeClock) WaitTimers(ctx context.Context, d time.Duration, n int) error {
	for {
		c.mu.Lock()
		found := 0
		for _, t := range c.timers {
			if t.armed == d {
				found++
			}
		}
		changed := c.changed
		c.mu.Unlock()
		if found >= n {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// clockTimer is a resettable timer on a Clock that signals C.
type clockTimer struct {
	clock Clock
	C     chan struct{}
	mu    sync.Mutex
	stop  func() bool
}

func newClockTimer(clock Clock, d time.Duration) *clockTimer {
	t := &clockTimer{clock: clock, C: make(chan struct{}, 1)}
	t.Reset(d)
	return t
}

// Reset stops the timer and arms it again for d.
func (t *clockTimer) Reset(d time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stop != nil {
		t.stop()
	}
	t.stop = t.clock.AfterFunc(d, func() {
		select {
		case t.C <- struct{}{}:
		default:
		}
	})
}

// Stop stops the timer.
func (t *clockTimer) Stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stop != nil {
		t.stop()
		t.stop = nil
	}
}

// withClockTimeout is context.WithTimeout on clock.
func withClockTimeout(parent context.Context, clock Clock, d time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := clock.(realClock); ok {
		return context.WithTimeout(parent, d)
	}
	ctx, cancel := context.WithCancelCause(parent)
	stop := clock.AfterFunc(d, func() { cancel(context.DeadlineExceeded) })
	return ctx, func() {
		stop()
		cancel(context.Canceled)
	}
}
