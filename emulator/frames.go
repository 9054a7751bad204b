package emulator

import (
	"errors"
	"fmt"
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

// handleJSON handles one frame of a PubSub client.
func (c *conn) handleJSON(typ websocket.MessageType, b []byte) {
	if typ != websocket.MessageText {
		c.terminate(websocket.StatusUnsupportedData, reasonBinaryOnJSON, false)
		return
	}
	f, err := protocol.ParseClientFrame(b)
	if err != nil {
		c.terminate(websocket.StatusInvalidFramePayloadData, reasonInvalidMessage, false)
		return
	}
	switch f.Type {
	case protocol.TypePing:
		c.reply(&protocol.ServiceFrame{Type: protocol.TypePong})
	case protocol.TypeSequenceAck:
		// Ignored on a non-reliable connection.
		if c.reliable {
			c.acknowledge(f.SequenceID)
		}
	case protocol.TypeCancelInvocation:
		// Cancelling an invocation that never ran needs no answer.
	case protocol.TypeInvoke:
		c.reply(&protocol.ServiceFrame{Type: protocol.TypeInvokeResponse, InvocationID: f.InvocationID,
			Error: &protocol.ErrorDetail{Name: protocol.ErrorNameBadRequest, Message: "Invocation is not supported by this emulator."}})
	case protocol.TypeStreamData, protocol.TypeStreamEnd:
		c.replyStreamClosed(f.StreamID)
	case protocol.TypeSetGroupState, protocol.TypeSubscribeGroupState, protocol.TypeUnsubscribeGroupState:
		if f.HasAckID {
			c.ackError(f.AckID, protocol.ErrorNameBadRequest, "Group state is not supported by this emulator.")
		}
	case protocol.TypeSendToGroup:
		if f.StreamID != "" {
			c.replyStreamClosed(f.StreamID)
			if f.HasAckID {
				c.ackError(f.AckID, protocol.ErrorNameBadRequest, "Streaming is not supported by this emulator.")
			}
			return
		}
		c.handleRequest(&f)
	default: // joinGroup, leaveGroup, event
		c.handleRequest(&f)
	}
}

// handleRequest runs a request that takes part in ack idempotency: the
// duplicate check, validation, the permission check, execution and the
// ack, in that order. Only successes are recorded.
func (c *conn) handleRequest(f *protocol.ClientFrame) {
	var fault *ackFault
	if f.HasAckID {
		fault = c.takeAckFault()
		if fault != nil && fault.name != "" {
			c.answer(nil, ackErrorFrame(f.AckID, fault.name, fault.message))
			return
		}
	}
	if f.HasAckID && c.acks.has(f.AckID) {
		c.answer(fault, ackErrorFrame(f.AckID, protocol.ErrorNameDuplicate, protocol.DuplicateMessage(f.AckID)))
		return
	}
	if err := f.Validate(); err != nil {
		if f.HasAckID {
			c.answer(fault, ackErrorFrame(f.AckID, protocol.ErrorNameBadRequest, badRequestMessage(f, err)))
		}
		return
	}
	var name, msg string
	switch f.Type {
	case protocol.TypeJoinGroup, protocol.TypeLeaveGroup:
		if !c.allowed(permJoinLeaveGroup, f.Group) {
			verb := "join"
			if f.Type == protocol.TypeLeaveGroup {
				verb = "leave"
			}
			name, msg = protocol.ErrorNameForbidden, fmt.Sprintf("The client has no permission to %s group '%s'.", verb, f.Group)
			break
		}
		c.hub.mu.Lock()
		if f.Type == protocol.TypeJoinGroup {
			c.hub.joinIfRegisteredLocked(c, f.Group)
		} else {
			c.hub.leaveLocked(c, f.Group)
		}
		c.hub.mu.Unlock()
	case protocol.TypeSendToGroup:
		if !c.allowed(permSendToGroup, f.Group) {
			name, msg = protocol.ErrorNameForbidden, fmt.Sprintf("The client has no permission to send message to group '%s'.", f.Group)
			break
		}
		m := newMessage(protocol.FromGroup, f.Group, c.userID, f.DataType, f.Data)
		if f.HasTTL {
			m.ttl = time.Duration(f.TTLSeconds) * time.Second
		}
		c.hub.mu.Lock()
		recipients := selectSet(c.hub.groups[f.Group], selector{})
		if f.NoEcho {
			for i, r := range recipients {
				if r == c {
					recipients = append(recipients[:i], recipients[i+1:]...)
					break
				}
			}
		}
		c.hub.deliverLocked(m, recipients)
		c.hub.mu.Unlock()
	case protocol.TypeEvent:
		if msg = c.userEvent(f); msg != "" {
			name = protocol.ErrorNameInternalServerError
		}
	}
	if !f.HasAckID {
		return
	}
	if name != "" {
		c.answer(fault, ackErrorFrame(f.AckID, name, msg))
		return
	}
	c.acks.add(f.AckID)
	c.answer(fault, &protocol.ServiceFrame{Type: protocol.TypeAck, AckID: f.AckID, Success: true})
}

// answer sends the ack a of a request, as the injected fault says: at
// once when fault is nil, never when it drops the ack, later on the
// emulator's clock when it delays it.
func (c *conn) answer(fault *ackFault, a *protocol.ServiceFrame) {
	switch {
	case fault == nil:
		c.reply(a)
	case fault.drop:
	case fault.delay > 0:
		data := a.AppendJSON(nil)
		c.e.clock.AfterFunc(fault.delay, func() {
			if !c.e.track() {
				return
			}
			defer c.e.wg.Done()
			if !c.send(outFrame{typ: websocket.MessageText, data: data}) {
				c.terminate(websocket.StatusPolicyViolation, reasonQueueFull, true)
			}
		})
	default:
		c.reply(a)
	}
}

func ackErrorFrame(ackID uint64, name, msg string) *protocol.ServiceFrame {
	return &protocol.ServiceFrame{Type: protocol.TypeAck, AckID: ackID, Error: &protocol.ErrorDetail{Name: name, Message: msg}}
}

// joinIfRegisteredLocked adds c to group g unless c has already left the
// hub (a close raced with the request).
func (h *hub) joinIfRegisteredLocked(c *conn, g string) {
	if h.conns[c.id] == c {
		h.joinLocked(c, g)
	}
}

func (c *conn) allowed(p permission, group string) bool {
	c.permMu.Lock()
	defer c.permMu.Unlock()
	return c.perms[p].allowed(group)
}

func (c *conn) ackError(ackID uint64, name, msg string) {
	c.reply(ackErrorFrame(ackID, name, msg))
}

func (c *conn) replyStreamClosed(streamID string) {
	c.reply(&protocol.ServiceFrame{Type: protocol.TypeStreamClosed, StreamID: streamID,
		Error: &protocol.ErrorDetail{Name: protocol.ErrorNameBadRequest, Message: "Streaming is not supported by this emulator."}})
}

// badRequestMessage words a validation failure as the service does.
func badRequestMessage(f *protocol.ClientFrame, err error) string {
	var pe *protocol.Error
	if !errors.As(err, &pe) {
		return "The request is invalid."
	}
	switch pe.Field {
	case "group":
		return fmt.Sprintf("Invalid group name '%s'.", f.Group)
	case "event":
		return fmt.Sprintf("Invalid event name '%s'.", f.Event)
	case "ttlSeconds":
		return "'ttlSeconds' is out of range. Allowed range is [0,300]."
	case "dataType":
		return "dataType 'protobuf' is not supported."
	case "metadata":
		return "Invalid metadata: " + pe.Reason + "."
	}
	return "The request is invalid."
}
