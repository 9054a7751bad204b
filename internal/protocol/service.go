package protocol

import (
	"bytes"
	"encoding/base64"
	"strings"
)

// ServiceFrame is one message the service sends to a client on a JSON
// subprotocol. Which fields are meaningful depends on Type (and Event or
// From); the others are zero.
//
//	Type/Event/From          fields
//	ack                      AckID, Success, Error
//	system/connected         UserID, ConnectionID, ReconnectionToken
//	system/disconnected      Message
//	message/group            Group, FromUserID, DataType, Data, SequenceID
//	message/server           DataType, Data, SequenceID
//	pong                     —
//	message/group (stream)   … and Stream
//	invokeResponse           InvocationID, Success, Error, DataType, Data
//	streamAck                StreamID, ExpectedSequenceID
//	streamNack               StreamID, Name, Message, ExpectedSequenceID
//	streamClosed             StreamID, Error
type ServiceFrame struct {
	// Type is the frame type. ParseServiceFrame keeps unknown types as
	// received so that callers can ignore them.
	Type FrameType

	// AckID is the ack id being answered (ack).
	AckID uint64
	// HasAckID reports, after ParseServiceFrame, that the frame had an
	// ackId field (a protobuf ack always has one). AppendJSON ignores it.
	HasAckID bool
	// Success reports the outcome of an ack or invokeResponse.
	Success bool
	// Error explains a failure; nil when there is none. It is written only
	// when Success is false.
	Error *ErrorDetail

	// Event is the system event: EventConnected or EventDisconnected.
	Event string
	// UserID is the connection's user; "" means anonymous and is written as
	// null (connected).
	UserID string
	// ConnectionID is the connection's id (connected).
	ConnectionID string
	// ReconnectionToken is the reliable protocol's recovery credential
	// (connected); "" omits it. It is a secret of the connection.
	ReconnectionToken string
	// Message is the disconnect reason (disconnected) or the explanation
	// of a streamNack.
	Message string
	// Name classifies a streamNack: StreamErrorInvalidSequenceID or
	// StreamErrorTransient.
	Name string

	// From is FromGroup or FromServer (message).
	From string
	// Group is the group a group message was published to.
	Group string
	// FromUserID is the publisher of a group message; "" means none (an
	// anonymous publisher or a REST send) and is written as null.
	FromUserID string
	// DataType is the encoding of Data; empty reads as DataTypeJSON.
	DataType DataType
	// Data is the decoded payload: text bytes, binary bytes, the encoded
	// google.protobuf.Any of protobuf data (base64 in JSON) or verbatim
	// JSON text (see [ClientFrame.Data]). After ParseServiceFrame it may
	// alias the parsed buffer.
	Data []byte
	// HasData reports, after ParseServiceFrame, that the frame had a data
	// field that was not null. AppendJSON ignores it.
	HasData bool
	// SequenceID is the reliable protocol's message number; 0 means absent
	// (sequence ids start at 1).
	SequenceID uint64

	// InvocationID identifies the invocation an invokeResponse answers.
	InvocationID string
	// StreamID identifies the stream a streamAck, streamNack or
	// streamClosed frame is about.
	StreamID string
	// ExpectedSequenceID is the next streamSequenceId the service expects
	// (streamAck, streamNack): every fragment below it is accepted.
	ExpectedSequenceID uint64
	// Stream, on a group message, places the message in a group stream;
	// nil for an ordinary group message.
	Stream *StreamInfo
}

// AppendJSON appends f as one compact JSON frame and returns the extended
// slice. Fields are written in the order:
// type, from, group, fromUserId, dataType, data, sequenceId for messages;
// type, event, userId, connectionId, reconnectionToken for system frames;
// type, ackId, success, error for acks. JSON Data must be valid JSON text.
// AppendJSON does not allocate beyond growing dst.
func (f *ServiceFrame) AppendJSON(dst []byte) []byte {
	dst = append(dst, '{')
	dst = appendStringField(dst, "type", string(f.Type))
	switch f.Type {
	case TypeAck:
		dst = appendUintField(dst, "ackId", f.AckID)
		dst = appendBoolField(dst, "success", f.Success)
		if !f.Success && f.Error != nil {
			dst = appendError(dst, f.Error)
		}
	case TypeSystem:
		dst = appendStringField(dst, "event", f.Event)
		switch f.Event {
		case EventConnected:
			dst = appendNullableStringField(dst, "userId", f.UserID)
			dst = appendStringField(dst, "connectionId", f.ConnectionID)
			if f.ReconnectionToken != "" {
				dst = appendStringField(dst, "reconnectionToken", f.ReconnectionToken)
			}
		default:
			dst = appendStringField(dst, "message", f.Message)
		}
	case TypeMessage:
		dst = appendStringField(dst, "from", f.From)
		if f.From == FromGroup {
			dst = appendStringField(dst, "group", f.Group)
			dst = appendNullableStringField(dst, "fromUserId", f.FromUserID)
		}
		dst = appendData(dst, f.DataType, f.Data)
		if f.Stream != nil {
			dst = appendStream(dst, f.Stream)
		}
		if f.SequenceID != 0 {
			dst = appendUintField(dst, "sequenceId", f.SequenceID)
		}
	case TypeInvokeResponse:
		dst = appendStringField(dst, "invocationId", f.InvocationID)
		dst = appendBoolField(dst, "success", f.Success)
		if !f.Success && f.Error != nil {
			dst = appendError(dst, f.Error)
		} else if f.DataType != "" {
			dst = appendData(dst, f.DataType, f.Data)
		}
	case TypeStreamAck:
		dst = appendStringField(dst, "streamId", f.StreamID)
		dst = appendUintField(dst, "expectedSequenceId", f.ExpectedSequenceID)
	case TypeStreamNack:
		dst = appendStringField(dst, "streamId", f.StreamID)
		dst = appendStringField(dst, "name", f.Name)
		dst = appendStringField(dst, "message", f.Message)
		dst = appendUintField(dst, "expectedSequenceId", f.ExpectedSequenceID)
	case TypeStreamClosed:
		dst = appendStringField(dst, "streamId", f.StreamID)
		if f.Error != nil {
			dst = appendError(dst, f.Error)
		}
	}
	return append(dst, '}')
}

// appendStream writes the "stream" object of a group stream message.
func appendStream(dst []byte, s *StreamInfo) []byte {
	dst = appendKey(dst, "stream")
	dst = append(dst, '{')
	dst = appendStringField(dst, "streamId", s.StreamID)
	dst = appendUintField(dst, "streamSequenceId", s.StreamSequenceID)
	if s.EndOfStream {
		dst = appendBoolField(dst, "endOfStream", true)
	}
	if s.Error != nil {
		dst = appendError(dst, s.Error)
	}
	return append(dst, '}')
}

// fromValues are the values of a message frame's "from" field.
var fromValues = [...]string{FromGroup, FromServer}

var serviceTypes = [...]FrameType{TypeAck, TypeMessage, TypeSystem, TypePong, TypeInvokeResponse,
	TypeStreamAck, TypeStreamNack, TypeStreamClosed}

// ParseServiceFrame parses one frame sent by the service, tolerantly as a
// client must: unknown types, events, "from"
// and dataType values are kept as received rather than rejected, unknown
// fields are ignored, and userId/fromUserId may be absent, null or a
// string. It fails, with an [*Error] of class [ClassStructural], only when
// the frame is not a JSON object, has no string type, or a known field has
// the wrong JSON type (including invalid base64 binary data). Data may
// alias b.
func ParseServiceFrame(b []byte) (ServiceFrame, error) {
	return parseFrame(b, (*ServiceFrame).parse)
}

func (f *ServiceFrame) parse(b []byte) *Error {
	var sp spans
	if err := sp.collect(b); err != nil {
		return err
	}
	var err *Error
	if f.Type, err = knownStr(sp.typ, "type", true, serviceTypes[:], true); err != nil {
		return err
	}
	if f.From, err = knownStr(sp.from, "from", false, fromValues[:], false); err != nil {
		return err
	}
	if f.AckID, f.HasAckID, err = uint64Field(sp.ackID, "ackId", false); err != nil {
		return err
	}
	if f.Success, err = boolean(sp.success, "success"); err != nil {
		return err
	}
	if sp.errorObj != nil {
		if f.Error, err = errorDetailOf(sp.errorObj, "error"); err != nil {
			return err
		}
	}
	if sp.stream != nil {
		if f.Stream, err = streamInfoOf(sp.stream); err != nil {
			return err
		}
	}
	if f.ExpectedSequenceID, _, err = uint64Field(sp.expectedSequenceID, "expectedSequenceId", false); err != nil {
		return err
	}
	// The strings are read into an array, not through pointers to f's
	// fields, which would move the frame to the heap.
	var strs [10]string
	for i, s := range [len(strs)]struct {
		span  []byte
		field string
	}{
		{sp.event, "event"}, {sp.userID, "userId"}, {sp.connectionID, "connectionId"},
		{sp.reconnectionToken, "reconnectionToken"}, {sp.message, "message"}, {sp.group, "group"},
		{sp.fromUserID, "fromUserId"}, {sp.invocationID, "invocationId"}, {sp.streamID, "streamId"},
		{sp.name, "name"},
	} {
		if strs[i], err = str(s.span, s.field, false); err != nil {
			return err
		}
	}
	f.Event, f.UserID, f.ConnectionID, f.ReconnectionToken, f.Message = strs[0], strs[1], strs[2], strs[3], strs[4]
	f.Group, f.FromUserID, f.InvocationID, f.StreamID, f.Name = strs[5], strs[6], strs[7], strs[8], strs[9]
	if f.SequenceID, _, err = uint64Field(sp.sequenceID, "sequenceId", false); err != nil {
		return err
	}
	if sp.dataType != nil {
		if f.DataType, err = knownStr(sp.dataType, "dataType", false, dataTypes[:], true); err != nil {
			return err
		}
	}
	if sp.data != nil {
		f.HasData = true
		switch f.DataType.orDefault() {
		case DataTypeText:
			if kindOf(sp.data) != kindString {
				return structural("data", "must be a string when dataType is text")
			}
			d, _ := stringBytes(sp.data)
			f.Data = d
		case DataTypeBinary, DataTypeProtobuf:
			if kindOf(sp.data) != kindString {
				return structural("data", "must be a base64 string when dataType is "+string(f.DataType))
			}
			s, _ := stringBytes(sp.data)
			d, derr := base64.StdEncoding.AppendDecode(nil, s)
			if derr != nil {
				return structural("data", "is not valid standard base64")
			}
			f.Data = d
		default:
			f.Data = sp.data
		}
	}
	return nil
}

// errorDetailOf reads an error object: name, message and userErrorCode,
// each an optional string. field names the object in errors.
func errorDetailOf(v []byte, field string) (*ErrorDetail, *Error) {
	if kindOf(v) != kindObject {
		return nil, structural(field, "must be an object")
	}
	e := &ErrorDetail{}
	var perr *Error
	_ = forEachMember(v, func(key, value []byte) error {
		if kindOf(value) == kindNull {
			return nil
		}
		switch {
		case keyEquals(key, "name"):
			e.Name, perr = str(value, field+".name", false)
		case keyEquals(key, "message"):
			e.Message, perr = str(value, field+".message", false)
		case keyEquals(key, "userErrorCode"):
			e.UserErrorCode, perr = str(value, field+".userErrorCode", false)
		}
		if perr != nil {
			return perr
		}
		return nil
	})
	if perr != nil {
		return nil, perr
	}
	return e, nil
}

// streamInfoOf reads the "stream" object of a group message; streamId and
// streamSequenceId are required, as a client needs both to place the
// message in its stream.
func streamInfoOf(v []byte) (*StreamInfo, *Error) {
	if kindOf(v) != kindObject {
		return nil, structural("stream", "must be an object")
	}
	var id, seq, end, errObj []byte
	pickMembers(v, []string{"streamId", "streamSequenceId", "endOfStream", "error"}, &id, &seq, &end, &errObj)
	s := &StreamInfo{}
	var err *Error
	if s.StreamID, err = str(id, "stream.streamId", true); err != nil {
		return nil, err
	}
	if s.StreamSequenceID, _, err = uint64Field(seq, "stream.streamSequenceId", true); err != nil {
		return nil, err
	}
	if s.EndOfStream, err = boolean(end, "stream.endOfStream"); err != nil {
		return nil, err
	}
	if errObj != nil {
		if s.Error, err = errorDetailOf(errObj, "stream.error"); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// knownStr reads a string field (required: one that must be present) whose
// value is usually one of known. A value equal to one of them
// (case-insensitively when fold is set) is returned as that constant, so
// that the common frames allocate no string for the field; any other value
// is decoded as str decodes it.
func knownStr[T ~string](v []byte, field string, required bool, known []T, fold bool) (T, *Error) {
	if v != nil && kindOf(v) == kindString {
		if inner := v[1 : len(v)-1]; bytes.IndexByte(inner, '\\') < 0 {
			if k, ok := match(string(inner), known, fold); ok {
				return k, nil
			}
		}
	}
	s, err := str(v, field, required)
	if err != nil {
		return "", err
	}
	if k, ok := match(s, known, fold); ok {
		return k, nil
	}
	return T(s), nil
}

// match returns the member of known that s equals, case-insensitively when
// fold is set.
func match[T ~string](s string, known []T, fold bool) (T, bool) {
	for _, k := range known {
		if s == string(k) || fold && strings.EqualFold(s, string(k)) {
			return k, true
		}
	}
	return "", false
}
