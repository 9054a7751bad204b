package protocol

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"slices"
	"unicode/utf8"
)

// ClientFrame is one message a client sends on a JSON subprotocol. Which
// fields are meaningful depends on Type; the others are zero.
//
//	Type                 fields
//	joinGroup/leaveGroup Group, AckID
//	sendToGroup          Group, AckID, NoEcho, DataType, Data, TTLSeconds, Metadata,
//	                     StreamID and IdleTimeoutMs (stream start)
//	event                Event, AckID, DataType, Data, Metadata
//	sequenceAck          SequenceID
//	ping                 —
//	invoke               InvocationID, Target, Event, DataType, Data
//	cancelInvocation     InvocationID
//	streamData           StreamID, StreamSequenceID, DataType, Data (none of the last three: keepalive)
//	streamEnd            StreamID, StreamError
//	setGroupState, subscribeGroupState, unsubscribeGroupState: Group, AckID
type ClientFrame struct {
	// Type is the canonical frame type.
	Type FrameType

	// AckID is the client's ack id; it is meaningful only when HasAckID.
	AckID    uint64
	HasAckID bool

	// Group is the target group.
	Group string
	// Event is the user event name (event, invoke).
	Event string
	// NoEcho asks the service not to deliver a sendToGroup message back to
	// the sending connection.
	NoEcho bool

	// DataType is the encoding of Data. After parsing it is never empty
	// when HasData is true (an omitted dataType reads as DataTypeJSON).
	DataType DataType
	// Data is the decoded payload: the UTF-8 bytes of a text string, the
	// decoded bytes of binary data, the encoded google.protobuf.Any of
	// protobuf data (frames of ParseProtobufClientFrame), or the verbatim
	// JSON text of json data. After ParseClientFrame it may alias the parsed buffer:
	// copy it before reusing that buffer.
	Data []byte
	// HasData reports whether the frame carried a data field.
	HasData bool

	// TTLSeconds is the message time-to-live; meaningful only when HasTTL.
	TTLSeconds int64
	HasTTL     bool

	// Metadata holds the string-valued metadata entries. A nil map means no
	// metadata.
	Metadata map[string]string

	// SequenceID is the cumulative acknowledgement of a sequenceAck.
	SequenceID uint64

	// InvocationID identifies an invoke and its cancellation.
	InvocationID string
	// Target is the invoke target, e.g. "event".
	Target string
	// StreamID identifies a stream: stream.streamId of a stream-start
	// sendToGroup, or streamId of streamData and streamEnd.
	StreamID string
	// IdleTimeoutMs is stream.idleTimeoutMs of a stream start; meaningful
	// only when HasIdleTimeout.
	IdleTimeoutMs  uint64
	HasIdleTimeout bool
	// StreamSequenceID is the position of a streamData fragment, from 1;
	// meaningful only when HasStreamSequenceID.
	StreamSequenceID    uint64
	HasStreamSequenceID bool
	// StreamError is the error a publisher ends its stream with
	// (streamEnd): Message and UserErrorCode, and Name when the frame
	// (wrongly) gave one; nil for a normal end.
	StreamError *ErrorDetail

	// badMetadata records a metadata entry whose value was not a string;
	// Validate reports it.
	badMetadata bool
	// viaProtobuf marks a frame of the protobuf subprotocols, which may
	// carry DataTypeProtobuf.
	viaProtobuf bool
}

// spans are the raw values of a frame's members, of either direction,
// collected by collectSpans; the last of duplicate members wins, and a
// null value is nil (absent).
type spans struct {
	typ, ackID, group, event, noEcho, dataType, data, ttl, metadata,
	sequenceID, invocationID, target, stream, streamID, streamSequenceID, errorObj,
	success, userID, connectionID, reconnectionToken, message, from, fromUserID,
	name, expectedSequenceID []byte
}

// span returns where the value of the member named key (a raw key
// literal) is kept, or nil for a member no frame uses.
func (sp *spans) span(key []byte) *[]byte {
	inner := key[1 : len(key)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return sp.named(string(inner))
	}
	name, ok := decodeString(key)
	if !ok {
		return nil
	}
	return sp.named(name)
}

func (sp *spans) named(name string) *[]byte {
	switch name {
	case "type":
		return &sp.typ
	case "ackId":
		return &sp.ackID
	case "group":
		return &sp.group
	case "event":
		return &sp.event
	case "noEcho":
		return &sp.noEcho
	case "dataType":
		return &sp.dataType
	case "data":
		return &sp.data
	case "ttlSeconds":
		return &sp.ttl
	case "metadata":
		return &sp.metadata
	case "sequenceId":
		return &sp.sequenceID
	case "invocationId":
		return &sp.invocationID
	case "target":
		return &sp.target
	case "stream":
		return &sp.stream
	case "streamId":
		return &sp.streamID
	case "streamSequenceId":
		return &sp.streamSequenceID
	case "error":
		return &sp.errorObj
	case "success":
		return &sp.success
	case "userId":
		return &sp.userID
	case "connectionId":
		return &sp.connectionID
	case "reconnectionToken":
		return &sp.reconnectionToken
	case "message":
		return &sp.message
	case "from":
		return &sp.from
	case "fromUserId":
		return &sp.fromUserID
	case "name":
		return &sp.name
	case "expectedSequenceId":
		return &sp.expectedSequenceID
	}
	return nil
}

// collect checks frame b (see checkFrame) and keeps the raw value of each
// of its members.
func (sp *spans) collect(b []byte) *Error {
	if err := checkFrame(b); err != nil {
		return err
	}
	_ = forEachMember(b, func(key, value []byte) error {
		if p := sp.span(key); p != nil {
			if kindOf(value) == kindNull {
				value = nil // null means absent
			}
			*p = value
		}
		return nil
	})
	return nil
}

// checkFrame applies the rules shared by both directions: the frame is
// UTF-8 JSON text holding one object.
func checkFrame(b []byte) *Error {
	if !utf8.Valid(b) {
		return structural("", "the frame is not valid UTF-8")
	}
	if !json.Valid(b) {
		return structural("", "the frame is not valid JSON")
	}
	if b[skipSpace(b, 0)] != '{' {
		return structural("", "the frame is not a JSON object")
	}
	return nil
}

// ParseClientFrame parses one client frame strictly. On failure it returns an [*Error] of class [ClassStructural] and
// a zero frame. It does not run the semantic checks of
// [ClientFrame.Validate]. Data in the result may alias b.
func ParseClientFrame(b []byte) (ClientFrame, error) {
	return parseFrame(b, (*ClientFrame).parse)
}

// parseFrame is ParseClientFrame and ParseServiceFrame: parse fills a zero
// F from b, which is returned only when it succeeded, else the zero F.
// Called with a method expression it is inlined, so that the frame stays on
// the caller's stack (TestParseClientFrameAllocations fails if it is not):
// keep it to this one call.
func parseFrame[F any](b []byte, parse func(*F, []byte) *Error) (F, error) {
	var f F
	if err := parse(&f, b); err != nil {
		return *new(F), err
	}
	return f, nil
}

func (f *ClientFrame) parse(b []byte) *Error {
	var sp spans
	if err := sp.collect(b); err != nil {
		return err
	}

	if sp.typ == nil {
		return structural("type", "is required")
	}
	if kindOf(sp.typ) != kindString {
		return structural("type", "must be a string")
	}
	var t FrameType
	var ok bool
	if inner := sp.typ[1 : len(sp.typ)-1]; bytes.IndexByte(inner, '\\') < 0 {
		t, ok = lookupClientType(string(inner))
	} else if name, valid := decodeString(sp.typ); valid {
		t, ok = lookupClientType(name)
	}
	if !ok {
		return structural("type", "names an unknown frame type")
	}
	f.Type = t
	var fs fields
	switch t {
	case TypeJoinGroup, TypeLeaveGroup:
		fs.check(f.parseGroupAndAck(&sp, true))
	case TypeSetGroupState, TypeSubscribeGroupState, TypeUnsubscribeGroupState:
		fs.check(f.parseGroupAndAck(&sp, false))
	case TypeSendToGroup:
		fs.check(f.parseGroupAndAck(&sp, true))
		f.NoEcho = fs.boolean(sp.noEcho, "noEcho")
		if sp.stream != nil {
			if kindOf(sp.stream) != kindObject {
				return structural("stream", "must be an object")
			}
			fs.check(f.parseStreamStart(sp.stream))
		}
		fs.check(f.parseData(&sp, f.StreamID == ""))
		fs.check(f.parseTTL(sp.ttl))
		fs.check(f.parseMetadata(sp.metadata))
	case TypeEvent:
		f.Event = fs.str(sp.event, "event", true)
		f.AckID, f.HasAckID = fs.uint64(sp.ackID, "ackId", false)
		fs.check(f.parseData(&sp, true))
		fs.check(f.parseMetadata(sp.metadata))
	case TypeSequenceAck:
		// An ackId on sequenceAck is ignored.
		f.SequenceID, _ = fs.uint64(sp.sequenceID, "sequenceId", true)
	case TypePing:
		// Nothing but the type; an ackId is ignored.
	case TypeInvoke:
		f.InvocationID = fs.str(sp.invocationID, "invocationId", true)
		f.Target = fs.str(sp.target, "target", false)
		f.Event = fs.str(sp.event, "event", false)
		fs.check(f.parseData(&sp, false))
	case TypeCancelInvocation:
		f.InvocationID = fs.str(sp.invocationID, "invocationId", true)
	case TypeStreamData:
		f.StreamID = fs.str(sp.streamID, "streamId", true)
		f.StreamSequenceID, f.HasStreamSequenceID = fs.uint64(sp.streamSequenceID, "streamSequenceId", false)
		fs.check(f.parseData(&sp, false))
	case TypeStreamEnd:
		f.StreamID = fs.str(sp.streamID, "streamId", true)
		if sp.errorObj != nil {
			var e *Error
			f.StreamError, e = errorDetailOf(sp.errorObj, "error")
			fs.check(e)
		}
	}
	return fs.err
}

// fields reads a frame's fields in order and keeps the first failure, so
// that a parser reads as the list of its fields; what is read after a
// failure does not matter, as the frame is then discarded.
type fields struct{ err *Error }

// check keeps err when it is the first failure.
func (fs *fields) check(err *Error) {
	if fs.err == nil {
		fs.err = err
	}
}

func (fs *fields) str(v []byte, field string, required bool) string {
	s, err := str(v, field, required)
	fs.check(err)
	return s
}

func (fs *fields) uint64(v []byte, field string, required bool) (uint64, bool) {
	n, ok, err := uint64Field(v, field, required)
	fs.check(err)
	return n, ok
}

func (fs *fields) boolean(v []byte, field string) bool {
	b, err := boolean(v, field)
	fs.check(err)
	return b
}

func (f *ClientFrame) parseGroupAndAck(sp *spans, groupRequired bool) (err *Error) {
	if f.Group, err = str(sp.group, "group", groupRequired); err != nil {
		return err
	}
	f.AckID, f.HasAckID, err = uint64Field(sp.ackID, "ackId", false)
	return err
}

// parseData reads dataType and data. data is required when required is
// true; a null data counts as missing.
func (f *ClientFrame) parseData(sp *spans, required bool) *Error {
	if sp.dataType != nil {
		dt, err := dataTypeOf(sp.dataType)
		if err != nil {
			return err
		}
		f.DataType = dt
	}
	if sp.data == nil {
		if required {
			return structural("data", "is required and must not be null")
		}
		return nil
	}
	f.HasData = true
	f.DataType = f.DataType.orDefault()
	switch f.DataType {
	case DataTypeText, DataTypeBinary:
		if kindOf(sp.data) != kindString {
			if f.DataType == DataTypeBinary {
				return structural("data", "must be a base64 string when dataType is binary")
			}
			return structural("data", "must be a string when dataType is text")
		}
		d, ok := stringBytes(sp.data)
		if !ok {
			return structural("data", "is not a valid JSON string")
		}
		if f.DataType == DataTypeBinary {
			var err error
			if d, err = base64.StdEncoding.AppendDecode(make([]byte, 0, base64.StdEncoding.DecodedLen(len(d))), d); err != nil {
				return structural("data", "is not valid standard base64")
			}
		}
		f.Data = d
	default: // json, protobuf: the value verbatim
		f.Data = sp.data
	}
	return nil
}

func (f *ClientFrame) parseTTL(v []byte) *Error {
	if v == nil {
		return nil
	}
	n, ok := parseInt64(v)
	if kindOf(v) != kindNumber || !ok {
		return structural("ttlSeconds", "must be an integer")
	}
	f.TTLSeconds, f.HasTTL = n, true
	return nil
}

func (f *ClientFrame) parseMetadata(v []byte) *Error {
	if v == nil {
		return nil
	}
	if kindOf(v) != kindObject {
		return structural("metadata", "must be an object")
	}
	m := map[string]string{}
	_ = forEachMember(v, func(key, value []byte) error {
		k, _ := decodeString(key)
		if kindOf(value) != kindString {
			f.badMetadata = true
			return nil
		}
		s, _ := decodeString(value)
		m[k] = s
		return nil
	})
	f.Metadata = m
	return nil
}

// parseStreamStart reads the "stream" object of a stream start:
// streamId (a required string) and idleTimeoutMs (an optional unsigned
// integer).
func (f *ClientFrame) parseStreamStart(stream []byte) *Error {
	var id, idle []byte
	pickMembers(stream, []string{"streamId", "idleTimeoutMs"}, &id, &idle)
	var err *Error
	if f.StreamID, err = str(id, "stream.streamId", true); err != nil {
		return err
	}
	f.IdleTimeoutMs, f.HasIdleTimeout, err = uint64Field(idle, "stream.idleTimeoutMs", false)
	return err
}

// dataTypeOf reads a non-null dataType value.
func dataTypeOf(v []byte) (DataType, *Error) {
	if kindOf(v) != kindString {
		return "", structural("dataType", "must be a string")
	}
	var dt DataType
	var ok bool
	if inner := v[1 : len(v)-1]; bytes.IndexByte(inner, '\\') < 0 {
		dt, ok = lookupDataType(string(inner))
	} else if s, valid := decodeString(v); valid {
		dt, ok = lookupDataType(s)
	}
	if !ok {
		return "", structural("dataType", "must be json, text, binary or protobuf")
	}
	return dt, nil
}

// str reads an optional or required string field.
func str(v []byte, field string, required bool) (string, *Error) {
	if v == nil {
		if required {
			return "", structural(field, "is required")
		}
		return "", nil
	}
	if kindOf(v) != kindString {
		return "", structural(field, "must be a string")
	}
	s, ok := decodeString(v)
	if !ok {
		return "", structural(field, "is not a valid JSON string")
	}
	return s, nil
}

func boolean(v []byte, field string) (bool, *Error) {
	if v == nil {
		return false, nil
	}
	if kindOf(v) != kindBool {
		return false, structural(field, "must be a boolean")
	}
	return v[0] == 't', nil
}

// uint64Field reads an unsigned 64-bit integer field: no sign, fraction or
// exponent, no string form.
func uint64Field(v []byte, field string, required bool) (uint64, bool, *Error) {
	if v == nil {
		if required {
			return 0, false, structural(field, "is required")
		}
		return 0, false, nil
	}
	if kindOf(v) != kindNumber {
		return 0, false, structural(field, "must be an unsigned 64-bit integer")
	}
	n, ok := parseUint64(v)
	if !ok {
		return 0, false, structural(field, "must be an unsigned 64-bit integer")
	}
	return n, true, nil
}

// AppendJSON appends f as one compact JSON frame, in the field order the
// JavaScript client uses, and returns the extended slice. Only the fields
// that belong to f.Type are written (see [ClientFrame]); ackId only when
// HasAckID, data only when HasData. JSON Data must be valid JSON text.
func (f *ClientFrame) AppendJSON(dst []byte) []byte {
	dst = append(dst, '{')
	dst = appendStringField(dst, "type", string(f.Type))
	switch f.Type {
	case TypeJoinGroup, TypeLeaveGroup, TypeSetGroupState, TypeSubscribeGroupState, TypeUnsubscribeGroupState:
		dst = appendStringField(dst, "group", f.Group)
		dst = f.appendAckID(dst)
	case TypeSendToGroup:
		dst = appendStringField(dst, "group", f.Group)
		dst = f.appendAckID(dst)
		dst = appendBoolField(dst, "noEcho", f.NoEcho)
		dst = f.appendPayload(dst)
		if f.StreamID != "" {
			dst = appendKey(dst, "stream")
			dst = append(dst, '{')
			dst = appendStringField(dst, "streamId", f.StreamID)
			if f.HasIdleTimeout {
				dst = appendUintField(dst, "idleTimeoutMs", f.IdleTimeoutMs)
			}
			dst = append(dst, '}')
		}
		if f.HasTTL {
			dst = appendIntField(dst, "ttlSeconds", f.TTLSeconds)
		}
		dst = f.appendMetadata(dst)
	case TypeEvent:
		dst = appendStringField(dst, "event", f.Event)
		dst = f.appendAckID(dst)
		dst = f.appendPayload(dst)
		dst = f.appendMetadata(dst)
	case TypeSequenceAck:
		dst = appendUintField(dst, "sequenceId", f.SequenceID)
	case TypeInvoke:
		dst = appendStringField(dst, "invocationId", f.InvocationID)
		if f.Target != "" {
			dst = appendStringField(dst, "target", f.Target)
		}
		if f.Event != "" {
			dst = appendStringField(dst, "event", f.Event)
		}
		dst = f.appendPayload(dst)
	case TypeCancelInvocation:
		dst = appendStringField(dst, "invocationId", f.InvocationID)
	case TypeStreamData:
		dst = appendStringField(dst, "streamId", f.StreamID)
		if f.HasStreamSequenceID {
			dst = appendUintField(dst, "streamSequenceId", f.StreamSequenceID)
		}
		dst = f.appendPayload(dst)
	case TypeStreamEnd:
		dst = appendStringField(dst, "streamId", f.StreamID)
		if f.StreamError != nil {
			dst = appendError(dst, f.StreamError)
		}
	}
	return append(dst, '}')
}

// appendPayload writes dataType and data when the frame has data, and a
// dataType given without data on its own, so that a parsed frame encodes
// back to one that parses the same.
func (f *ClientFrame) appendPayload(dst []byte) []byte {
	if f.HasData {
		return appendData(dst, f.DataType, f.Data)
	}
	if f.DataType != "" {
		dst = appendStringField(dst, "dataType", string(f.DataType))
	}
	return dst
}

func (f *ClientFrame) appendAckID(dst []byte) []byte {
	if !f.HasAckID {
		return dst
	}
	return appendUintField(dst, "ackId", f.AckID)
}

func (f *ClientFrame) appendMetadata(dst []byte) []byte {
	if f.Metadata == nil {
		return dst
	}
	keys := make([]string, 0, len(f.Metadata))
	for k := range f.Metadata {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	dst = appendKey(dst, "metadata")
	dst = append(dst, '{')
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, k)
		dst = append(dst, ':')
		dst = appendString(dst, f.Metadata[k])
	}
	return append(dst, '}')
}
