package emulator

import (
	"errors"
	"fmt"
	"time"

	"github.com/coder/websocket"

	"github.com/gowebpubsub/webpubsub/emulator/internal/core"
	"github.com/gowebpubsub/webpubsub/internal/protocol"
)

// handleJSON handles one frame of a JSON PubSub client. A binary frame
// ends the connection with 1003, a malformed one with 1007.
func (c *conn) handleJSON(typ websocket.MessageType, b []byte) {
	c.handleFrame(typ, b, websocket.MessageText, reasonBinaryOnJSON, protocol.ParseClientFrame, reasonInvalidMessage)
}

// handleProtobuf handles one frame of a protobuf PubSub client. The
// frame is decoded into the ClientFrame its JSON equivalent gives and
// takes the same path (its schema only has sequence acks and requests
// with ack idempotency). A text frame ends the connection with 1003, a
// frame that is not a valid UpstreamMessage with 1007, as the JSON
// subprotocols do for a binary or malformed frame.
func (c *conn) handleProtobuf(typ websocket.MessageType, b []byte) {
	c.handleFrame(typ, b, websocket.MessageBinary, reasonTextOnProtobuf, protocol.ParseProtobufClientFrame, reasonInvalidProto)
}

// handleFrame handles one frame of a PubSub client, which must be of
// type want (else the connection ends with 1003 and wrongType) and parse
// (else it ends with 1007 and malformed).
func (c *conn) handleFrame(typ websocket.MessageType, b []byte, want websocket.MessageType, wrongType string,
	parse func([]byte) (protocol.ClientFrame, error), malformed string) {
	if typ != want {
		c.terminate(websocket.StatusUnsupportedData, wrongType, false)
		return
	}
	f, err := parse(b)
	if err != nil {
		c.terminate(websocket.StatusInvalidFramePayloadData, malformed, false)
		return
	}
	switch f.Type {
	case protocol.TypePing:
		c.reply(&protocol.ServiceFrame{Type: protocol.TypePong})
	case protocol.TypeSequenceAck:
		// Ignored on a non-reliable connection.
		if c.Reliable {
			c.Acknowledge(f.SequenceID)
			c.e.changes.Signal() // ConnectionInfo.Unacknowledged changed
		}
	case protocol.TypeCancelInvocation:
		c.cancelInvocation(f.InvocationID)
	case protocol.TypeInvoke:
		c.invoke(&f)
	case protocol.TypeStreamData:
		c.streamData(&f)
	case protocol.TypeStreamEnd:
		c.streamEnd(&f)
	case protocol.TypeSetGroupState, protocol.TypeSubscribeGroupState, protocol.TypeUnsubscribeGroupState:
		if f.HasAckID {
			c.ackError(f.AckID, protocol.ErrorNameBadRequest, "Group state is not supported by this emulator.")
		}
	case protocol.TypeSendToGroup:
		if f.StreamID != "" {
			c.streamStart(&f)
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
		if !c.Allowed(core.PermJoinLeaveGroup, f.Group) {
			verb := "join"
			if f.Type == protocol.TypeLeaveGroup {
				verb = "leave"
			}
			name, msg = protocol.ErrorNameForbidden, fmt.Sprintf("The client has no permission to %s group '%s'.", verb, f.Group)
			break
		}
		h := c.Hub()
		h.Lock()
		joined := true
		if f.Type == protocol.TypeJoinGroup {
			joined = h.JoinIfRegisteredLocked(c.Conn, f.Group)
		} else {
			h.LeaveLocked(c.Conn, f.Group)
		}
		h.Unlock()
		if !joined {
			name, msg = protocol.ErrorNameBadRequest, groupLimitMessage(h.MaxGroups())
		}
	case protocol.TypeSendToGroup:
		if !c.Allowed(core.PermSendToGroup, f.Group) {
			name, msg = protocol.ErrorNameForbidden, sendForbidden(f.Group)
			break
		}
		m := newMessage(f.Group, c.UserID, f.DataType, f.Data)
		if f.HasTTL {
			m.TTL = time.Duration(f.TTLSeconds) * time.Second
		}
		c.sendToGroup(m, f.NoEcho, nil)
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
		fr := c.frameOf(a)
		c.e.clock.AfterFunc(fault.delay, func() {
			if !c.e.track() {
				return
			}
			defer c.e.wg.Done()
			c.Reply(fr)
		})
	default:
		c.reply(a)
	}
}

func ackErrorFrame(ackID uint64, name, msg string) *protocol.ServiceFrame {
	return &protocol.ServiceFrame{Type: protocol.TypeAck, AckID: ackID, Error: &protocol.ErrorDetail{Name: name, Message: msg}}
}

func (c *conn) ackError(ackID uint64, name, msg string) {
	c.reply(ackErrorFrame(ackID, name, msg))
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

// sendToGroup fans m, a message c sends to the group m.Group, out to the
// group's members: without c when noEcho, and only to those keep accepts
// when keep is not nil.
func (c *conn) sendToGroup(m *core.Message, noEcho bool, keep func(*core.Conn) bool) {
	m.Source, m.Target = c.ID, "group"
	sel := core.Selector{}
	if noEcho {
		sel.Except = c.Conn
	}
	c.Hub().Fanout(m, func(h *core.Hub) []*core.Conn {
		to := h.SelectGroupLocked(m.Group, sel)
		if keep == nil {
			return to
		}
		kept := to[:0]
		for _, r := range to {
			if keep(r) {
				kept = append(kept, r)
			}
		}
		return kept
	})
}

// sendForbidden is the service's text for a send to group without the
// permission.
func sendForbidden(group string) string {
	return fmt.Sprintf("The client has no permission to send message to group '%s'.", group)
}

// groupLimitMessage is the error of a join past the limit of groups per
// connection.
func groupLimitMessage(limit int) string {
	return fmt.Sprintf("The connection is already in the maximum of %d groups.", limit)
}
