package emulator

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

// TestFakeClock: timers run on Advance in deadline order, in the caller's
// goroutine, including timers armed by callbacks; stopped timers never
// run; Pending and WaitTimers see armed timers.
func TestFakeClock(t *testing.T) {
	start := time.Date(2025, 5, 6, 7, 8, 9, 0, time.UTC)
	c := NewFakeClock(start)
	if !c.Now().Equal(start) {
		t.Fatalf("Now = %v", c.Now())
	}
	var ran []string
	c.AfterFunc(3*time.Second, func() { ran = append(ran, "3s") })
	c.AfterFunc(time.Second, func() {
		ran = append(ran, "1s")
		c.AfterFunc(0, func() { ran = append(ran, "armed by 1s") })
	})
	stop := c.AfterFunc(2*time.Second, func() { ran = append(ran, "stopped") })
	if got := c.Pending(); !slices.Equal(got, []time.Duration{time.Second, 2 * time.Second, 3 * time.Second}) {
		t.Fatalf("Pending = %v", got)
	}
	if !stop() || stop() {
		t.Fatal("stop must report true once, then false")
	}
	c.Advance(500 * time.Millisecond)
	if len(ran) != 0 {
		t.Fatalf("ran %v before any deadline", ran)
	}
	c.Advance(10 * time.Second)
	if want := []string{"1s", "3s", "armed by 1s"}; !slices.Equal(ran, want) {
		t.Fatalf("ran %v, want %v", ran, want)
	}
	if !c.Now().Equal(start.Add(10500 * time.Millisecond)) {
		t.Fatalf("Now = %v", c.Now())
	}
	c.Advance(-time.Hour) // time never goes back
	if !c.Now().Equal(start.Add(10500 * time.Millisecond)) {
		t.Fatalf("Now after a negative Advance = %v", c.Now())
	}

	armed := make(chan error, 1)
	go func() {
		ctx, cancel := contextWithTimeout()
		defer cancel()
		armed <- c.WaitTimers(ctx, 5*time.Second, 2)
	}()
	c.AfterFunc(5*time.Second, func() {})
	c.AfterFunc(5*time.Second, func() {})
	if err := <-armed; err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.WaitTimers(ctx, time.Minute, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitTimers with a canceled ctx = %v", err)
	}
	if z := NewFakeClock(time.Time{}); z.Now().IsZero() {
		t.Fatal("a zero start must mean the real time")
	}
}
