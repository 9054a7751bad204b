package core

import (
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Tracker counts the service's own timers (the end of a reliable
// connection's retention) as work that the emulator's Close waits for.
type Tracker interface {
	// Track reports false once the emulator is closing; otherwise the
	// caller must call Done when its work ends.
	Track() bool
	// Done ends work that Track counted.
	Done()
}

// Service holds the hubs of one emulator.
type Service struct {
	clock     Clock
	retention time.Duration
	log       *slog.Logger
	tracker   Tracker
	// changes is told about every change an inspector may wait for.
	changes *Notifier
	// onDeliver, when set, sees every message queued for a connection.
	onDeliver func(c *Conn, m *Message, seq uint64)

	// budget bounds buffered (0 or less: no bound); enforcing is set
	// while the enforcer runs.
	maxGroups int
	onFanout  func(hub string, m *Message, recipients int)
	budget    int64
	buffered  atomic.Int64
	enforcing atomic.Bool

	mu      sync.RWMutex
	hubs    map[string]*Hub
	closing bool
}

// Config configures a Service.
type Config struct {
	// Clock drives timestamps and the retention timers.
	Clock Clock
	// Retention is how long a detached reliable connection is kept.
	Retention time.Duration
	// Log receives warnings (ignored roles) and debug lines.
	Log *slog.Logger
	// Tracker counts the retention timers for Close.
	Tracker Tracker
	// Changes is signalled on every change of state; it may be shared
	// with the adapters.
	Changes *Notifier
	// OnDeliver, when not nil, is called for every message queued for a
	// connection, with its sequence id (0 when not reliable); it must not
	// take a lock of the core.
	OnDeliver func(c *Conn, m *Message, seq uint64)
	// OnFanout, when not nil, is called after each delivery with the
	// number of recipients that got the message; no lock of the core is
	// held.
	OnFanout func(hub string, m *Message, recipients int)
	// MaxGroupsPerConnection bounds the groups one connection is in; a
	// join beyond it fails. Zero or less means no bound.
	MaxGroupsPerConnection int
	// BufferBudget bounds the bytes all reliable buffers hold together,
	// a fan-out's shared frame counted once; past it the connections
	// holding the most are closed with 1008 until the total fits. Zero or
	// less means no bound.
	BufferBudget int64
}

// NewService returns an empty Service.
func NewService(cfg Config) *Service {
	return &Service{
		clock: cfg.Clock, retention: cfg.Retention, log: cfg.Log, tracker: cfg.Tracker,
		changes: cfg.Changes, onDeliver: cfg.OnDeliver, budget: cfg.BufferBudget, maxGroups: max(cfg.MaxGroupsPerConnection, 0), onFanout: cfg.OnFanout,
		hubs: map[string]*Hub{},
	}
}

// Now is the service clock's time.
func (s *Service) Now() time.Time { return s.clock.Now() }

// Changes returns the notifier of state changes.
func (s *Service) Changes() *Notifier { return s.changes }

// Hub returns the hub with the canonical name, or nil when it does not
// exist yet.
func (s *Service) Hub(name string) *Hub {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.hubs[name]
}

// HubNames returns the canonical names of the existing hubs, sorted.
func (s *Service) HubNames() []string {
	s.mu.RLock()
	out := make([]string, 0, len(s.hubs))
	for name := range s.hubs {
		out = append(out, name)
	}
	s.mu.RUnlock()
	sort.Strings(out)
	return out
}

// Register makes c visible on its first endpoint: it joins its hub (made
// on first use), its user and its initial groups, and queues first (when
// not nil) before any message can reach c, all under the hub lock. It
// returns false once Shutdown has begun.
func (s *Service) Register(c *Conn, ep Endpoint, groups []string, first *Frame) bool {
	c.connectedAt = s.Now()
	// Holding s.mu until the hub is locked orders this registration before
	// or after Shutdown as a whole: Shutdown either refuses it or finds it.
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return false
	}
	h := s.hubs[c.hubName]
	if h == nil {
		h = newHub(c.hubName, s.changes, s.maxGroups, s.log, s.onFanout)
		s.hubs[c.hubName] = h
	}
	c.hub = h
	h.mu.Lock()
	s.mu.Unlock()
	defer h.mu.Unlock()
	c.mu.Lock()
	c.ep = ep
	c.mu.Unlock()
	h.addLocked(c, groups)
	if first != nil {
		ep.Enqueue(*first)
	}
	return true
}

// Shutdown refuses every later Register and ends every connection with
// end.
func (s *Service) Shutdown(end Ending) {
	s.mu.Lock()
	s.closing = true
	hubs := make([]*Hub, 0, len(s.hubs))
	for _, h := range s.hubs {
		hubs = append(hubs, h)
	}
	s.mu.Unlock()
	for _, h := range hubs {
		h.mu.Lock()
		for _, c := range h.conns {
			c.EndLocked(end)
		}
		h.mu.Unlock()
	}
}
