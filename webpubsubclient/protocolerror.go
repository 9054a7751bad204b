package webpubsubclient

import "github.com/gowebpubsub/webpubsub/internal/redact"

// ProtocolError reports a frame from the service that breaks the
// subprotocol: it does not parse; it is a message without data (or with
// null data), with an unknown dataType, without from or with a from other
// than "group" and "server", or a group message without group; or it is an
// ack without ackId. The client drops such a
// frame, as the service closes a client that sends one, and reports it
// to the OnProtocolError handlers; the connection stays open. It never
// holds the frame itself, which may carry a reconnection token.
type ProtocolError struct {
	// Type is the frame's type ("message", "ack"), or "" when it did not
	// parse.
	Type string
	// Reason says what is wrong with the frame.
	Reason string
}

// Error returns "webpubsubclient: the service sent a frame that breaks
// the protocol: " and the reason.
func (e *ProtocolError) Error() string {
	return "webpubsubclient: the service sent a frame that breaks the protocol: " + e.Reason
}

// ProtocolErrorEvent is raised for each frame the client drops because
// it breaks the subprotocol.
type ProtocolErrorEvent struct {
	// Err describes the frame.
	Err *ProtocolError
}

// OnProtocolError registers fn for ProtocolErrorEvent; see OnConnected.
func (c *Client) OnProtocolError(fn func(ProtocolErrorEvent)) (remove func()) {
	return addHandler(&c.handlers, &c.handlers.protoErr, fn)
}

// protocolError reports a dropped frame of type typ.
func (r *run) protocolError(typ, reason string) {
	reason = redact.Preview(reason, redact.MaxLogField)
	r.c.cfg.log.Warn("webpubsubclient: dropping a frame that breaks the protocol", "type", typ, "reason", reason)
	r.events.push(event{kind: evProtocolError, protoErr: ProtocolErrorEvent{Err: &ProtocolError{Type: typ, Reason: reason}}})
}
