package webpubsubclient

import "time"

// clock is the client's source of time, so that tests can drive keep-alive,
// ack timeouts, sequence acks and retry delays deterministically.
type clock interface {
	Now() time.Time
	NewTimer(d time.Duration) timer
}

// timer is the part of *time.Timer the client uses, with Go 1.23
// semantics: after Stop or Reset no stale value is received.
type timer interface {
	C() <-chan time.Time
	Stop() bool
	Reset(d time.Duration)
}

type realClock struct{}

func (realClock) Now() time.Time                 { return time.Now() }
func (realClock) NewTimer(d time.Duration) timer { return realTimer{time.NewTimer(d)} }

type realTimer struct{ t *time.Timer }

func (t realTimer) C() <-chan time.Time   { return t.t.C }
func (t realTimer) Stop() bool            { return t.t.Stop() }
func (t realTimer) Reset(d time.Duration) { t.t.Reset(d) }
