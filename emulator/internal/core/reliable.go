package core

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"time"
)

func (c *Conn) bufferFits(n int) bool {
	return len(c.buf) < maxBufferMessages && c.bufBytes+n <= maxBufferBytes
}

// pruneExpiredLocked drops buffered messages whose TTL ran out. c.mu must
// be held.
func (c *Conn) pruneExpiredLocked() {
	now := c.svc.Now().UnixNano()
	kept := c.buf[:0]
	for _, b := range c.buf {
		if b.deadline != 0 && now > b.deadline {
			c.bufBytes -= b.size
			c.svc.release(b.shared, len(b.f.Data), len(b.f.Tail))
			continue
		}
		kept = append(kept, b)
	}
	clear(c.buf[len(kept):])
	c.buf = kept
}

// releaseLocked gives back the budget of the buffered messages bs.
func (c *Conn) releaseLocked(bs []buffered) {
	for _, b := range bs {
		c.svc.release(b.shared, len(b.f.Data), len(b.f.Tail))
	}
}

// Acknowledge releases every buffered message with a sequence id up to n.
func (c *Conn) Acknowledge(n uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := 0
	for k < len(c.buf) && c.buf[k].seq <= n {
		c.bufBytes -= c.buf[k].size
		k++
	}
	if k == 0 {
		return
	}
	c.releaseLocked(c.buf[:k])
	rest := copy(c.buf, c.buf[k:])
	clear(c.buf[rest:])
	c.buf = c.buf[:rest]
	if c.acked != nil {
		select {
		case c.acked <- struct{}{}:
		default:
		}
	}
}

// awaitRoom delivers m to c, whose reliable buffer was full, once a
// sequenceAck makes room, waiting until deadline at the most (see
// BufferFullGrace). It returns "" when m was delivered (or c ended
// meanwhile), or the reason c must end.
func (c *Conn) awaitRoom(m *Message, deadline time.Time) string {
	c.mu.Lock()
	if c.ep == nil || c.ph != phaseActive {
		c.mu.Unlock()
		return c.deliver(m) // detached: no ack can come; ended: nothing to do
	}
	if c.acked == nil {
		c.acked = make(chan struct{}, 1)
	}
	acked := c.acked
	c.mu.Unlock()
	// A sequenceAck applied before acked existed signalled nobody.
	if reason := c.deliver(m); reason != ReasonBufferFull {
		return reason
	}
	wait := time.NewTimer(time.Until(deadline))
	defer wait.Stop()
	for {
		select {
		case <-acked:
			if reason := c.deliver(m); reason != ReasonBufferFull {
				return reason
			}
		case <-wait.C:
			return c.deliver(m)
		}
	}
}

// EndpointLost handles the abnormal end of ep (a network error, EOF
// without a close, a keep-alive timeout): a reliable connection is
// detached and kept for a recovery; any other connection ends.
func (c *Conn) EndpointLost(ep Endpoint, reason string) {
	c.mu.Lock()
	if c.ep != ep {
		// Replaced by a recovery, or the connection already ended.
		c.mu.Unlock()
		ep.Drop(reason)
		return
	}
	if c.Reliable {
		c.ep = nil
		c.ph = phaseDetached
		c.detachGen++
		gen := c.detachGen
		retention := c.svc.retention
		if c.retention > 0 {
			retention = c.retention
		}
		c.detachEnd = c.svc.Now().Add(retention)
		c.stopDetach = c.svc.clock.AfterFunc(retention, func() { c.expire(gen) })
		c.mu.Unlock()
		ep.Drop(reason)
		c.svc.changes.Signal()
		c.Owner.OnDetached()
		return
	}
	c.mu.Unlock()
	c.EndByPeer(ep, reason)
}

// expire ends a detached connection whose retention ran out, unless it
// was recovered (or detached again) since the timer of detach number gen
// started.
func (c *Conn) expire(gen uint64) {
	if !c.svc.tracker.Track() {
		return // the emulator's Close ends every connection itself
	}
	defer c.svc.tracker.Done()
	c.hub.mu.Lock()
	defer c.hub.mu.Unlock()
	c.mu.Lock()
	still := c.ph == phaseDetached && c.detachGen == gen
	c.mu.Unlock()
	if still {
		c.EndLocked(Ending{Code: CodePolicyViolation, Reason: ReasonRecoveryExpired, DropQueue: true})
	}
}

// SetRefuseRecovery makes the next recovery of c fail, or undoes that.
func (c *Conn) SetRefuseRecovery(refuse bool) {
	c.mu.Lock()
	c.refuseRecovery = refuse
	c.mu.Unlock()
}

// FindRecoverable returns the reliable connection a recovery request
// names, or nil when it cannot be recovered. A detached connection whose
// retention has run out on the service clock ends here, even if its timer
// has not fired yet; so does one whose recovery was refused.
func (s *Service) FindRecoverable(hubName, id, token string) *Conn {
	h := s.Hub(hubName)
	if h == nil || id == "" {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	c := h.conns[id]
	if c == nil || !c.Reliable {
		return nil
	}
	c.mu.Lock()
	tokenOK := subtle.ConstantTimeCompare([]byte(token), []byte(c.ReconnectionToken)) == 1
	expired := c.ph == phaseDetached && s.Now().After(c.detachEnd)
	ended := c.ph == phaseEnded
	refused := c.refuseRecovery && tokenOK && !ended
	c.mu.Unlock()
	if expired {
		c.EndLocked(Ending{Code: CodePolicyViolation, Reason: ReasonRecoveryExpired, DropQueue: true})
		return nil
	}
	if refused {
		c.EndLocked(Ending{Code: CodePolicyViolation, Reason: ReasonNotRecoverable, DropQueue: true})
		return nil
	}
	if ended || !tokenOK {
		return nil
	}
	return c
}

// Attach makes ep the endpoint of c, drops the endpoint it replaces (a
// half-open socket not noticed yet), and queues the replay of every
// buffered message whose TTL has not run out. It returns false when c
// ended in the meantime.
func (c *Conn) Attach(ep Endpoint) bool {
	c.hub.mu.Lock()
	c.mu.Lock()
	if c.hub.conns[c.ID] != c || c.ph == phaseEnded {
		c.mu.Unlock()
		c.hub.mu.Unlock()
		return false
	}
	old := c.ep
	c.ep = ep
	c.ph = phaseActive
	c.detachGen++
	if c.stopDetach != nil {
		c.stopDetach()
		c.stopDetach = nil
	}
	c.pruneExpiredLocked()
	kept := c.buf[:0]
	var dropped []buffered
	for _, b := range c.buf {
		ep.Enqueue(b.f)
		if b.f.NoAck {
			// Replayed once; never acknowledged.
			dropped = append(dropped, b)
			c.bufBytes -= b.size
			continue
		}
		kept = append(kept, b)
	}
	clear(c.buf[len(kept):])
	c.buf = kept
	c.releaseLocked(dropped)
	c.mu.Unlock()
	c.hub.mu.Unlock()
	if old != nil {
		old.Drop(ReasonEndedAbruptly)
	}
	return true
}

// NewReconnectionToken returns 43 base64url characters from 256 random
// bits.
func NewReconnectionToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b[:])
}
