package webpubsubclient

import "sync"

// quickAckGap is how far the highest received sequence id may run ahead of
// the last acknowledged one before a sequenceAck is sent at once rather
// than at the next tick (the JavaScript client's value). It keeps the
// service's replay buffer (1,000 messages) far from full when messages
// arrive faster than one tick allows.
const quickAckGap = 300

// sequence tracks the reliable protocol's sequence ids of one logical
// connection (it survives recovery and is reset for a new connection).
type sequence struct {
	mu      sync.Mutex
	highest uint64 // highest sequence id received
	acked   uint64 // highest sequence id acknowledged successfully
	dirty   bool   // highest has not been acknowledged yet
}

// observe records a received sequence id. fresh is false for a duplicate
// (an id not above the highest seen), which must be dropped; ackNow
// reports that a sequenceAck should be sent without waiting for the tick.
func (s *sequence) observe(id uint64) (fresh, ackNow bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id <= s.highest {
		return false, false
	}
	s.highest = id
	s.dirty = true
	return true, id-s.acked > quickAckGap
}

// take returns the id to acknowledge, if it changed since the last
// successful acknowledgement, and marks it as being sent.
func (s *sequence) take() (uint64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.dirty {
		return 0, false
	}
	s.dirty = false
	return s.highest, true
}

// done records the outcome of sending a sequenceAck for id taken by take:
// on failure the acknowledgement is pending again.
func (s *sequence) done(id uint64, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ok {
		s.acked = max(s.acked, id)
		return
	}
	s.dirty = s.highest > s.acked
}

// unconfirm marks the highest id as not acknowledged, for a recovered
// transport: acks written just before a connection broke may never have
// reached the service, which keeps the messages buffered until one does.
func (s *sequence) unconfirm() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dirty = s.highest > 0
}

// reset forgets everything, for a new connection.
func (s *sequence) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.highest, s.acked, s.dirty = 0, 0, false
}
