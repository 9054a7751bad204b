package protocol

import (
	"fmt"
	"strings"
)

// The WebSocket subprotocol names of the client protocols.
const (
	// SubprotocolJSON is the PubSub JSON subprotocol.
	SubprotocolJSON = "json.webpubsub.azure.v1"
	// SubprotocolReliableJSON is the reliable PubSub JSON subprotocol: the
	// service numbers every message with a sequenceId and the client
	// acknowledges them with sequenceAck.
	SubprotocolReliableJSON = "json.reliable.webpubsub.azure.v1"
	// SubprotocolProtobuf and SubprotocolReliableProtobuf are the protobuf
	// subprotocols: one binary frame per message of the schema in package
	// pb (see ParseProtobufClientFrame and ServiceFrame.AppendProtobuf).
	SubprotocolProtobuf         = "protobuf.webpubsub.azure.v1"
	SubprotocolReliableProtobuf = "protobuf.reliable.webpubsub.azure.v1"
	// SubprotocolMQTT is the predefined MQTT subprotocol. This module does
	// not implement it.
	SubprotocolMQTT = "mqtt"
)

// MaxFrameSize is the largest client message, in bytes after reassembly,
// that the service accepts (1 MiB). Larger messages close the connection
// with 1009.
const MaxFrameSize = 1 << 20

// MaxTTLSeconds is the largest accepted ttlSeconds (and REST
// messageTtlSeconds) value.
const MaxTTLSeconds = 300

// FrameType is the value of a frame's "type" field, in the exact casing the
// service emits. Client frames are parsed case-insensitively and stored in
// this canonical form.
type FrameType string

// Client → service frame types.
const (
	TypeJoinGroup             FrameType = "joinGroup"
	TypeLeaveGroup            FrameType = "leaveGroup"
	TypeSendToGroup           FrameType = "sendToGroup"
	TypeEvent                 FrameType = "event"
	TypeSequenceAck           FrameType = "sequenceAck"
	TypePing                  FrameType = "ping"
	TypeInvoke                FrameType = "invoke"
	TypeCancelInvocation      FrameType = "cancelInvocation"
	TypeStreamData            FrameType = "streamData"
	TypeStreamEnd             FrameType = "streamEnd"
	TypeSetGroupState         FrameType = "setGroupState"
	TypeSubscribeGroupState   FrameType = "subscribeGroupState"
	TypeUnsubscribeGroupState FrameType = "unsubscribeGroupState"
)

// Service → client frame types.
const (
	TypeAck            FrameType = "ack"
	TypeMessage        FrameType = "message"
	TypeSystem         FrameType = "system"
	TypePong           FrameType = "pong"
	TypeInvokeResponse FrameType = "invokeResponse"
	TypeStreamAck      FrameType = "streamAck"
	TypeStreamNack     FrameType = "streamNack"
	TypeStreamClosed   FrameType = "streamClosed"
)

// clientTypes lists every type a client may send, for case-insensitive
// lookup.
var clientTypes = [...]FrameType{
	TypeJoinGroup, TypeLeaveGroup, TypeSendToGroup, TypeEvent, TypeSequenceAck,
	TypePing, TypeInvoke, TypeCancelInvocation, TypeStreamData, TypeStreamEnd,
	TypeSetGroupState, TypeSubscribeGroupState, TypeUnsubscribeGroupState,
}

// PossibleClientFrameTypes returns every frame type a client may send.
func PossibleClientFrameTypes() []FrameType {
	out := clientTypes
	return out[:]
}

func lookupClientType(s string) (FrameType, bool) {
	for _, t := range clientTypes {
		if strings.EqualFold(s, string(t)) {
			return t, true
		}
	}
	return "", false
}

// System events carried by frames of type "system".
const (
	EventConnected    = "connected"
	EventDisconnected = "disconnected"
)

// Values of the "from" field of message frames.
const (
	FromGroup  = "group"
	FromServer = "server"
)

// DataType tells how the "data" field of a frame is encoded. The zero value
// means "not given"; it is read as [DataTypeJSON], the protocol default.
type DataType string

// The data types of the JSON subprotocols.
const (
	// DataTypeJSON carries any JSON value except null, verbatim.
	DataTypeJSON DataType = "json"
	// DataTypeText carries a JSON string.
	DataTypeText DataType = "text"
	// DataTypeBinary carries standard base64 with padding.
	DataTypeBinary DataType = "binary"
	// DataTypeProtobuf carries an encoded google.protobuf.Any: standard
	// base64 in JSON frames. Only protobuf clients may send it; a JSON
	// client frame that uses it fails [ClientFrame.Validate].
	DataTypeProtobuf DataType = "protobuf"
)

// PossibleDataTypeValues returns the data types in the protocol.
func PossibleDataTypeValues() []DataType {
	out := dataTypes
	return out[:]
}

// dataTypes lists every DataType, for case-insensitive lookup.
var dataTypes = [...]DataType{DataTypeJSON, DataTypeText, DataTypeBinary, DataTypeProtobuf}

func lookupDataType(s string) (DataType, bool) { return match(s, dataTypes[:], true) }

// orDefault returns d, or DataTypeJSON when d is empty.
func (d DataType) orDefault() DataType {
	if d == "" {
		return DataTypeJSON
	}
	return d
}

// ErrorDetail is the "error" object of ack, invokeResponse and streamClosed
// frames, and of the stream metadata of a terminal stream message.
type ErrorDetail struct {
	// Name classifies the failure, e.g. "Forbidden", "Duplicate",
	// "BadRequest", "InternalServerError". Clients must treat unknown names
	// as failures.
	Name string
	// Message is a human-readable explanation.
	Message string
	// UserErrorCode is the application's own code of a stream ended with
	// an error (the "userErrorCode" of a streamEnd error and of a
	// terminal stream message's error); "" omits it.
	UserErrorCode string
}

// Stream error names: the name of a streamNack, of a streamClosed error
// and of a terminal stream message's error.
const (
	// StreamErrorInvalidSequenceID (streamNack) reports a fragment whose
	// streamSequenceId skips ahead of the next expected one.
	StreamErrorInvalidSequenceID = "InvalidSequenceId"
	// StreamErrorTransient (streamNack) reports a retriable failure.
	StreamErrorTransient = "TransientError"
	// StreamErrorNotFound (streamClosed) answers a frame for a stream the
	// connection has not started or has already closed.
	StreamErrorNotFound = "StreamNotFound"
	// StreamErrorIdleTimeout closes a stream that saw no accepted
	// activity within its idle timeout.
	StreamErrorIdleTimeout = "IdleTimeout"
	// StreamErrorUser classifies, for receivers, an error the publisher
	// gave in its streamEnd.
	StreamErrorUser = "UserError"
	// StreamErrorCancelled ends, for receivers, a stream whose publisher
	// went away before ending it.
	StreamErrorCancelled = "Cancelled"
)

// DefaultStreamIdleTimeoutMs is the idle timeout of a stream whose start
// gives none: 300,000 ms (five minutes).
const DefaultStreamIdleTimeoutMs = 300000

// StreamInfo is the "stream" object of a group message that carries a
// fragment of a group stream.
type StreamInfo struct {
	// StreamID identifies the stream within its publisher's connection.
	StreamID string
	// StreamSequenceID is the fragment's position in the stream, from 1;
	// on the terminal message it is the next expected position. It is
	// independent of the connection's SequenceID.
	StreamSequenceID uint64
	// EndOfStream marks the terminal message of the stream.
	EndOfStream bool
	// Error, on a terminal message, says why the stream ended abnormally;
	// nil for a normal end.
	Error *ErrorDetail
}

// Ack error names used by the service.
const (
	ErrorNameForbidden           = "Forbidden"
	ErrorNameDuplicate           = "Duplicate"
	ErrorNameBadRequest          = "BadRequest"
	ErrorNameInternalServerError = "InternalServerError"
)

// DuplicateMessage returns the service's exact text for a Duplicate ack.
func DuplicateMessage(ackID uint64) string {
	return fmt.Sprintf("Message with ack-id: %d has been processed", ackID)
}

// Class is the error class of a rejected client frame. The parser reports only the classes below; binary frames (S1),
// permission failures (P) and upstream failures (U) are decided by the
// service, not by the frame's text.
type Class int

const (
	// ClassStructural (S2) is a frame that is not a well-formed protocol
	// message: not UTF-8, not JSON, not an object, a missing or unknown
	// type, a missing required field, a field of the wrong JSON type,
	// data of the wrong shape, an invalid ackId or sequenceId. The service
	// closes the connection with 1007.
	ClassStructural Class = iota + 1
	// ClassValidation (V) is a well-formed frame with a semantically invalid
	// value: a bad group or event name, ttlSeconds out of range, dataType
	// protobuf, invalid metadata. The service answers BadRequest when the
	// frame has an ackId and keeps the connection open.
	ClassValidation
)

// String returns "structural" or "validation".
func (c Class) String() string {
	switch c {
	case ClassStructural:
		return "structural"
	case ClassValidation:
		return "validation"
	default:
		return fmt.Sprintf("Class(%d)", int(c))
	}
}

// Error describes why a frame was rejected. Its text names the field and
// the rule, never the field's value, so it is safe to log.
type Error struct {
	// Class is the error class; it decides the service's reaction.
	Class Class
	// Field is the JSON field at fault, or "" for the frame as a whole.
	Field string
	// Reason says what was expected, e.g. "must be an unsigned 64-bit integer".
	Reason string
}

// Error returns "protocol: <class> error: field "<field>" <reason>".
func (e *Error) Error() string {
	if e.Field == "" {
		return "protocol: " + e.Class.String() + " error: " + e.Reason
	}
	return "protocol: " + e.Class.String() + " error: field \"" + e.Field + "\" " + e.Reason
}

func structural(field, reason string) *Error {
	return &Error{Class: ClassStructural, Field: field, Reason: reason}
}

func validation(field, reason string) *Error {
	return &Error{Class: ClassValidation, Field: field, Reason: reason}
}
