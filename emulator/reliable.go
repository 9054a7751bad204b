package emulator

import (
	"crypto/rand"
	"encoding/base64"
	"strconv"

	"github.com/coder/websocket"
)

// deliver queues a message for c: the payload frame for a raw client, the
// JSON frame for a PubSub client and, on a reliable connection, a
// sequenced copy that is also kept in the reliable buffer until the
// client acknowledges it. It returns "" on success, or the reason the
// connection must end with 1008 (its queue or buffer is full).
func (c *conn) deliver(m *message) string {
	if c.kind == kindRaw || !c.reliable {
		f := m.pubsub
		if c.kind == kindRaw {
			f = m.rawFrame()
		}
		if !c.send(f) {
			return reasonQueueFull
		}
		c.logDelivery(m, 0)
		return ""
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ph == phaseEnded {
		return ""
	}
	seq := c.seq + 1
	data := withSequenceID(m.pubsub.data, seq)
	if !c.bufferFits(len(data)) {
		c.pruneExpiredLocked()
		if !c.bufferFits(len(data)) {
			return reasonBufferFull
		}
	}
	var deadline int64
	if m.ttl > 0 {
		deadline = c.e.now().Add(m.ttl).UnixNano()
	}
	c.seq = seq
	c.buf = append(c.buf, buffered{seq: seq, data: data, deadline: deadline})
	c.bufBytes += len(data)
	if c.tr != nil {
		c.tr.enqueue(outFrame{typ: websocket.MessageText, data: data, sequenced: true})
	}
	c.logDelivery(m, seq)
	return ""
}

// logDelivery records m, queued for c with sequence id seq, in the
// message log.
func (c *conn) logDelivery(m *message, seq uint64) {
	e := c.e
	if !e.messages.enabled() {
		return
	}
	if m.logged == nil {
		m.logged = append([]byte{}, m.data...)
	}
	e.messages.add(DeliveredMessage{
		Hub: c.hubName, ConnectionID: c.id, From: m.from, Group: m.group, FromUserID: m.fromUserID,
		DataType: string(m.dt), Data: m.logged, SequenceID: seq, Time: e.now(),
	})
	e.changes.signal()
}

func (c *conn) bufferFits(n int) bool {
	return len(c.buf) < maxBufferMessages && c.bufBytes+n <= maxBufferBytes
}

// pruneExpiredLocked drops buffered messages whose TTL ran out. c.mu must
// be held.
func (c *conn) pruneExpiredLocked() {
	now := c.e.now().UnixNano()
	kept := c.buf[:0]
	for _, b := range c.buf {
		if b.deadline != 0 && now > b.deadline {
			c.bufBytes -= len(b.data)
			continue
		}
		kept = append(kept, b)
	}
	clear(c.buf[len(kept):])
	c.buf = kept
}

// withSequenceID returns a copy of the message frame f (which ends with
// '}') with a trailing "sequenceId" field, the position the service
// writes it in.
func withSequenceID(f []byte, seq uint64) []byte {
	out := make([]byte, 0, len(f)+32)
	out = append(out, f[:len(f)-1]...)
	out = append(out, `,"sequenceId":`...)
	out = strconv.AppendUint(out, seq, 10)
	return append(out, '}')
}

// acknowledge releases every buffered message with a sequence id up to n.
func (c *conn) acknowledge(n uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := 0
	for k < len(c.buf) && c.buf[k].seq <= n {
		c.bufBytes -= len(c.buf[k].data)
		k++
	}
	if k == 0 {
		return
	}
	rest := copy(c.buf, c.buf[k:])
	clear(c.buf[rest:])
	c.buf = c.buf[:rest]
}

// transportLost handles the abnormal end of tr (a TCP error, EOF without a
// close frame, a keep-alive timeout): a reliable connection is detached
// and kept for a recovery; any other connection ends.
func (c *conn) transportLost(tr *transport, reason string) {
	c.mu.Lock()
	if c.tr != tr {
		// Replaced by a recovery, or the connection already ended.
		c.mu.Unlock()
		tr.drop(reason)
		return
	}
	if c.reliable {
		c.tr = nil
		c.ph = phaseDetached
		c.detachGen++
		gen := c.detachGen
		retention := c.e.retention
		c.detachEnd = c.e.now().Add(retention)
		c.stopDetach = c.e.clock.AfterFunc(retention, func() { c.expire(gen) })
		c.mu.Unlock()
		tr.drop(reason)
		c.e.log.Debug("connection detached", "hub", c.hubName, "connectionId", c.id)
		c.e.event(ConnectionDetached, c, "")
		return
	}
	c.mu.Unlock()
	c.endByPeer(tr, reason)
}

// expire ends a detached connection whose retention ran out, unless it
// was recovered (or detached again) since the timer of detach number gen
// started.
func (c *conn) expire(gen uint64) {
	if !c.e.track() {
		return // Close ends every connection itself
	}
	defer c.e.wg.Done()
	c.hub.mu.Lock()
	defer c.hub.mu.Unlock()
	c.mu.Lock()
	still := c.ph == phaseDetached && c.detachGen == gen
	c.mu.Unlock()
	if still {
		c.endLocked(websocket.StatusPolicyViolation, reasonRecoveryExpired, true)
	}
}

// newReconnectionToken returns 43 base64url characters from 256 random
// bits.
func newReconnectionToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b[:])
}
