package webpubsubclient

import (
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/gowebpubsub/webpubsub/internal/payload"
)

// DataType is how a message's payload is encoded on the wire: the dataType
// of the JSON subprotocols. It is the same type as eventhandler.DataType.
// Its MediaType method returns the matching HTTP media type, which is the
// value of the service client's ContentType for the same data: text/plain,
// application/json or application/octet-stream; DataTypeProtobuf has no
// such media type and returns "". Messages of any other type are not
// delivered to the handlers.
type DataType = payload.DataType

const (
	// DataTypeText is a UTF-8 string. Data holds its bytes.
	DataTypeText DataType = "text"
	// DataTypeJSON is a JSON value (any value except null). Data holds its
	// JSON text. The protobuf protocols receive JSON sent by anyone as
	// DataTypeText holding the JSON text, which is how the service
	// delivers it to protobuf clients; a protobuf message in the json_data
	// case is still DataTypeJSON.
	DataTypeJSON DataType = "json"
	// DataTypeBinary is arbitrary bytes (base64 on the wire). Data holds
	// the decoded bytes.
	DataTypeBinary DataType = "binary"
	// DataTypeProtobuf is a protobuf message packed in a
	// google.protobuf.Any. Data holds the encoded Any: decode it with
	// proto.Unmarshal into an anypb.Any, then UnmarshalTo the message.
	// Clients of every protocol receive it (a protobuf client sent it, or
	// an event handler replied with application/x-protobuf); only the
	// protobuf protocols can send it (see ProtobufMessage).
	DataTypeProtobuf DataType = payload.DataTypeProtobuf
)

// PossibleDataTypeValues returns the DataTypes of TextMessage,
// JSONMessage and BinaryMessage: text, JSON, binary. DataTypeProtobuf,
// which only the protobuf protocols can send, is not among them.
func PossibleDataTypeValues() []DataType {
	return payload.PossibleDataTypeValues()
}

// Message is the payload of SendToGroup and SendEvent. Build one with
// TextMessage, JSONMessage or BinaryMessage; the zero Message is invalid
// and sending it fails with a *ValidationError. A Message is immutable and
// safe to reuse from many goroutines.
//
// The builders follow the same rules as the service client's Message and
// eventhandler's replies, so a recipient gets the same bytes whichever
// package sent them.
type Message struct {
	p payload.Message
}

// TextMessage returns a text message. Each byte of s that does not start a
// valid UTF-8 sequence is sent as U+FFFD. Sending an empty text fails with
// a *ValidationError: the service does not deliver empty messages.
func TextMessage(s string) Message {
	return Message{payload.Text(s)}
}

// BinaryMessage returns a binary message holding a copy of b: b may be
// reused as soon as BinaryMessage returns. Sending an empty one fails with
// a *ValidationError.
func BinaryMessage(b []byte) Message {
	return Message{payload.Binary(b)}
}

// JSONMessage returns a JSON message holding the encoding of v, as
// encoding/json encodes it but without escaping <, > and &. A
// json.RawMessage is validated and sent compacted. An encoding error, or a
// value that encodes as null (which the service rejects), is reported when
// the message is sent, as a *ValidationError.
func JSONMessage(v any) Message {
	return Message{payload.JSON(v)}
}

// ProtobufMessage returns a protobuf message holding m packed in a
// google.protobuf.Any (type URL type.googleapis.com/ and m's full name).
// Only ProtocolProtobuf and ProtocolReliableProtobuf can send it: on the
// JSON protocols SendToGroup and SendEvent return an *UnsupportedError.
// Recipients get DataTypeProtobuf: protobuf clients the Any itself, JSON
// clients the base64 of the encoded Any, event handlers the encoded Any
// as application/x-protobuf. A nil m, or one that cannot be encoded, is
// reported when the message is sent, as a *ValidationError.
func ProtobufMessage(m proto.Message) Message {
	if m == nil {
		return Message{payload.Protobuf(nil, "is a nil protobuf message")}
	}
	a, err := anypb.New(m)
	if err == nil {
		var b []byte
		if b, err = (proto.MarshalOptions{Deterministic: true}).Marshal(a); err == nil {
			return Message{payload.Protobuf(b, "")}
		}
	}
	return Message{payload.Protobuf(nil, "cannot be encoded as protobuf: "+err.Error())}
}

// DataType returns the message's data type ("" for the zero Message).
func (m Message) DataType() DataType { return m.p.DataType() }

// Bytes returns a copy of the payload: the text's bytes, the JSON text or
// the binary bytes.
func (m Message) Bytes() []byte { return m.p.Bytes() }

func (m Message) validate() error { return m.p.Check("message") }

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
	// Stream places the message in a group stream (see OnGroupStream);
	// nil for an ordinary group message.
	Stream *StreamInfo
}

// StreamInfo is the position of a group message in a group stream.
type StreamInfo struct {
	// StreamID identifies the stream within its publisher's connection.
	StreamID string
	// StreamSequenceID is the fragment's position, from 1. On the terminal
	// message it is the position after the last fragment.
	StreamSequenceID uint64
	// EndOfStream marks the terminal message, which ends the stream and
	// carries no fragment (its payload is empty text).
	EndOfStream bool
	// Error, on the terminal message, says why the stream ended
	// abnormally; nil for a normal end.
	Error *StreamError
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
