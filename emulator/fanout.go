package emulator

import (
	"time"

	"github.com/coder/websocket"

	"github.com/gowebpubsub/webpubsub/internal/protocol"
)

// message is one payload on its way to a set of recipients, encoded once
// for each kind of client and shared by all of them.
type message struct {
	pubsub outFrame // the JSON frame for PubSub clients
	raw    outFrame // the payload frame for raw clients; built on first use
	hasRaw bool
	dt     protocol.DataType
	data   []byte // the payload; valid until delivery returns
	// ttl limits how long the message may wait in the buffer of a
	// reliable connection for a replay; 0 means no limit.
	ttl time.Duration
	// from, group and fromUserID describe the message for the log;
	// logged is the log's copy of data, made on first use.
	from, group, fromUserID string
	logged                  []byte
}

// newMessage encodes a group message (from == protocol.FromGroup) or a
// server message. data is the decoded payload in the sense of
// protocol.ServiceFrame.Data; it must stay unchanged until the message has
// been delivered, and is copied only if a raw client receives it.
func newMessage(from, group, fromUserID string, dt protocol.DataType, data []byte) *message {
	f := protocol.ServiceFrame{Type: protocol.TypeMessage, From: from, Group: group, FromUserID: fromUserID, DataType: dt, Data: data}
	return &message{pubsub: outFrame{typ: websocket.MessageText, data: f.AppendJSON(nil)}, dt: dt, data: data,
		from: from, group: group, fromUserID: fromUserID}
}

// rawFrame is what raw clients get: text for text and JSON, bytes for
// binary.
func (m *message) rawFrame() outFrame {
	if !m.hasRaw {
		m.raw = outFrame{typ: websocket.MessageText, data: append([]byte(nil), m.data...)}
		if m.dt == protocol.DataTypeBinary {
			m.raw.typ = websocket.MessageBinary
		}
		m.hasRaw = true
	}
	return m.raw
}

// deliverLocked queues m to every recipient (and, for reliable ones,
// buffers it) and ends the connections whose queue or reliable buffer is
// full. It must be called with h.mu held for writing; when it returns, m
// is on every remaining recipient's queue or buffer.
func (h *hub) deliverLocked(m *message, recipients []*conn) {
	for _, c := range recipients {
		if reason := c.deliver(m); reason != "" {
			// A full outbound queue means a slow reader: what it has not
			// read is dropped. A full reliable buffer still lets the
			// client read what was queued before the close.
			c.endLocked(websocket.StatusPolicyViolation, reason, reason == reasonQueueFull)
		}
	}
}

// deliverTo queues m for c alone, for callers that do not hold the hub
// lock, ending c when its queue or buffer is full.
func (c *conn) deliverTo(m *message) {
	if reason := c.deliver(m); reason != "" {
		c.terminate(websocket.StatusPolicyViolation, reason, reason == reasonQueueFull)
	}
}
