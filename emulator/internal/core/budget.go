package core

import "sync/atomic"

// ReasonBudgetExceeded ends the connections closed to bring the reliable
// buffers back within the service's memory budget.
const ReasonBudgetExceeded = "The emulator's memory budget for buffered messages is exceeded."

// sharedData counts the reliable buffers that hold one message's shared
// frame start, so that its bytes count once against the budget.
type sharedData struct{ refs atomic.Int32 }

// hold counts a buffered frame: its shared start once per message, its
// tail once per buffer. Past the budget it starts the enforcer.
func (s *Service) hold(sd *sharedData, data, tail int) {
	n := int64(tail)
	if sd.refs.Add(1) == 1 {
		n += int64(data)
	}
	if s.buffered.Add(n) > s.budget && s.budget > 0 {
		s.enforceBudget()
	}
}

// release undoes hold.
func (s *Service) release(sd *sharedData, data, tail int) {
	n := int64(tail)
	if sd.refs.Add(-1) == 0 {
		n += int64(data)
	}
	s.buffered.Add(-n)
}

// BufferedBytes is the memory the reliable buffers of every connection
// hold, a message's shared frame counted once.
func (s *Service) BufferedBytes() int64 { return s.buffered.Load() }

// enforceBudget starts, unless it runs, a goroutine that closes the
// connections holding the most buffered bytes, one at a time, until the
// total is within the budget. It runs without any lock of the caller's,
// which may hold a hub lock.
func (s *Service) enforceBudget() {
	if !s.enforcing.CompareAndSwap(false, true) {
		return
	}
	if !s.tracker.Track() {
		s.enforcing.Store(false)
		return
	}
	go func() {
		defer s.tracker.Done()
		for {
			for s.buffered.Load() > s.budget {
				c, held := s.largestHolder()
				if c == nil {
					break
				}
				s.log.Warn("closing the connection that holds the most buffered messages: the emulator's memory budget for them is exceeded",
					"hub", c.hubName, "connectionId", c.ID, "bufferedBytes", held, "totalBytes", s.buffered.Load(), "budgetBytes", s.budget)
				c.Terminate(Ending{Code: CodePolicyViolation, Reason: ReasonBudgetExceeded, DropQueue: true})
			}
			s.enforcing.Store(false)
			// A hold between the last check and the store above found the
			// enforcer running; look again.
			if s.buffered.Load() <= s.budget || !s.enforcing.CompareAndSwap(false, true) {
				return
			}
		}
	}()
}

// largestHolder returns the connection whose reliable buffer holds the
// most bytes, and that number; nil when no buffer holds any.
func (s *Service) largestHolder() (*Conn, int) {
	s.mu.RLock()
	hubs := make([]*Hub, 0, len(s.hubs))
	for _, h := range s.hubs {
		hubs = append(hubs, h)
	}
	s.mu.RUnlock()
	var best *Conn
	most := 0
	for _, h := range hubs {
		h.mu.RLock()
		for _, c := range h.conns {
			c.mu.Lock()
			n := c.bufBytes
			c.mu.Unlock()
			if n > most {
				best, most = c, n
			}
		}
		h.mu.RUnlock()
	}
	return best, most
}
