package webpubsubclient

import (
	"bytes"

	"github.com/gowebpubsub/webpubsub/internal/payload"
)

// DataType is how a message's payload is encoded on the wire.
type DataType string

const (
	// DataTypeJSON is a JSON value (any value except null). Data holds its
	// JSON text.
	DataTypeJSON DataType = payload.DataTypeJSON
	// DataTypeText is a UTF-8 string. Data holds its bytes.
	DataTypeText DataType = payload.DataTypeText
	// DataTypeBinary is arbitrary bytes (base64 on the wire). Data holds
	// the decoded bytes.
	DataTypeBinary DataType = payload.DataTypeBinary
)

// PossibleDataTypeValues returns every DataType.
func PossibleDataTypeValues() []DataType {
	return []DataType{DataTypeJSON, DataTypeText, DataTypeBinary}
}

// Message is the payload of SendToGroup and SendEvent. Build one with
// TextMessage, JSONMessage or BinaryMessage; the zero Message is invalid
// and sending it fails with a *ValidationError. A Message is immutable and
// safe to reuse from many goroutines.
type Message struct {
	dataType DataType
	data     []byte
	err      error
}

// TextMessage returns a text message. Invalid UTF-8 is sent as U+FFFD.
// Sending an empty one fails with a *ValidationError.
func TextMessage(s string) Message {
	return Message{dataType: DataTypeText, data: []byte(s)}
}

// BinaryMessage returns a binary message holding a copy of b. Sending an
// empty one fails with a *ValidationError.
func BinaryMessage(b []byte) Message {
	return Message{dataType: DataTypeBinary, data: payload.Copy(b)}
}

// JSONMessage returns a JSON message holding the encoding of v, as
// encoding/json encodes it but without escaping <, > and &. A
// json.RawMessage is validated and sent compacted. An encoding error, or a
// value that encodes as null (which the service rejects), is reported when
// the message is sent, as a *ValidationError.
func JSONMessage(v any) Message {
	b, err := payload.JSON("message", v)
	return Message{dataType: DataTypeJSON, data: b, err: err}
}

// DataType returns the message's data type ("" for the zero Message).
func (m Message) DataType() DataType { return m.dataType }

// Bytes returns a copy of the payload: the text's bytes, the JSON text or
// the binary bytes.
func (m Message) Bytes() []byte { return bytes.Clone(m.data) }

func (m Message) validate() error {
	if m.err != nil {
		return m.err
	}
	if m.dataType == "" {
		return &ValidationError{Name: "message", Reason: "is the zero Message; build one with TextMessage, JSONMessage or BinaryMessage"}
	}
	return payload.CheckNotEmpty("message", m.data)
}

// GroupMessage is a message published to a group the connection is in,
// by a client or by the server (REST).
type GroupMessage struct {
	// Group is the group the message was published to.
	Group string
	// FromUserID is the publisher's user id; "" when the publisher was
	// anonymous or the server.
	FromUserID string
	// DataType says how Data is encoded.
	DataType DataType
	// Data is the payload: the text's UTF-8 bytes, the JSON text, or the
	// binary bytes. The handler owns it.
	Data []byte
	// SequenceID is the reliable protocol's message number; 0 with
	// ProtocolJSON.
	SequenceID uint64
}

// ServerMessage is a message the server sent to this connection: to all
// connections, to the connection's user, to the connection itself, or as
// the reply of an event handler to SendEvent.
type ServerMessage struct {
	// DataType says how Data is encoded.
	DataType DataType
	// Data is the payload, as in GroupMessage. The handler owns it.
	Data []byte
	// SequenceID is the reliable protocol's message number; 0 with
	// ProtocolJSON.
	SequenceID uint64
}

// ConnectedEvent is raised when a new connection is ready: after its
// connected message and after the automatic rejoin of groups. It is not
// raised when the reliable protocol recovers a connection.
type ConnectedEvent struct {
	// ConnectionID is the service's id of the connection.
	ConnectionID string
	// UserID is the connection's user; "" for an anonymous connection.
	UserID string
}

// DisconnectedEvent is raised when a connection ends for good: it was lost
// and could not be recovered, or the client stopped.
type DisconnectedEvent struct {
	// ConnectionID is the id of the connection that ended; "" if it ended
	// before its connected message.
	ConnectionID string
	// Message is the reason in the service's last disconnected message on
	// this connection, or "" if there was none.
	Message string
}

// StoppedEvent is raised once per Start, as the last event, when the client
// has stopped: after Stop, or on its own when a connection cannot be
// recovered and DisableAutoReconnect is set or ReconnectRetry is exhausted.
type StoppedEvent struct{}

// RejoinGroupFailedEvent is raised when the automatic rejoin of a group on
// a new connection fails.
type RejoinGroupFailedEvent struct {
	// Group is the group that could not be joined again.
	Group string
	// Err is why: typically an *AckError, or ErrAckTimeout.
	Err error
}
