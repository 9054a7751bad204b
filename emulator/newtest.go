package emulator

import "time"

// TB is the part of testing.TB that NewTest uses; *testing.T and
// *testing.B satisfy it.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Errorf(format string, args ...any)
	Cleanup(func())
}

// Option adjusts the Options of NewTest. Options apply in order, each to
// the result of the ones before.
type Option func(*Options)

// WithOptions starts from o, replacing every setting made before it.
func WithOptions(o Options) Option {
	return func(dst *Options) { *dst = o }
}

// WithClock sets Options.Clock, typically to a FakeClock.
func WithClock(c Clock) Option {
	return func(o *Options) { o.Clock = c }
}

// WithKeepAlive sets Options.PingInterval and Options.IdleTimeout.
func WithKeepAlive(pingInterval, idleTimeout time.Duration) Option {
	return func(o *Options) { o.PingInterval, o.IdleTimeout = pingInterval, idleTimeout }
}

// WithHub sets the settings of hub name (or of "*", every hub without
// its own entry) in Options.Hubs.
func WithHub(name string, h HubOptions) Option {
	return func(o *Options) {
		hubs := make(map[string]HubOptions, len(o.Hubs)+1)
		for k, v := range o.Hubs {
			hubs[k] = v
		}
		hubs[name] = h
		o.Hubs = hubs
	}
}

// WithConnectionEvents sets Options.OnConnectionEvent.
func WithConnectionEvents(f func(ConnectionEvent)) Option {
	return func(o *Options) { o.OnConnectionEvent = f }
}

// NewTest starts an emulator configured by opts, applied in order to zero
// Options (so by default on a free port of localhost), and closes it when
// the test ends:
//
//	func TestChat(t *testing.T) {
//		e := emulator.NewTest(t)
//		connStr := e.ConnectionString()
//		...
//	}
//
// A test that drives faults and time:
//
//	clock := emulator.NewFakeClock(time.Time{})
//	e := emulator.NewTest(t, emulator.WithClock(clock), emulator.WithKeepAlive(time.Second, 3*time.Second))
//	e.FailNext(emulator.OperationSendToAll, 2, emulator.Failure{Status: 503})
//
// It fails the test if the emulator cannot start, and reports an error if
// it does not close cleanly.
func NewTest(tb TB, opts ...Option) *Emulator {
	tb.Helper()
	var o Options
	for _, opt := range opts {
		opt(&o)
	}
	e, err := New(o)
	if err != nil {
		tb.Fatalf("emulator.New: %v", err)
	}
	if err := e.Start(); err != nil {
		tb.Fatalf("emulator.Start: %v", err)
	}
	tb.Cleanup(func() {
		if err := e.Close(); err != nil {
			tb.Errorf("emulator.Close: %v", err)
		}
	})
	return e
}
