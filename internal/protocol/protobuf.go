package protocol

import (
	"encoding/json"
	"errors"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/gowebpubsub/webpubsub/internal/protocol/pb"
)

// ErrNoProtobufForm reports a frame that the protobuf subprotocols cannot
// carry: their schema has no invoke, stream, ping or group-state
// messages, and no metadata or ttlSeconds.
var ErrNoProtobufForm = errors.New("protocol: the protobuf subprotocols have no form of this frame")

// marshal is deterministic, so that equal frames are equal bytes.
var marshal = proto.MarshalOptions{Deterministic: true}

// ParseProtobufClientFrame decodes one binary frame of the protobuf
// subprotocols (an UpstreamMessage) into the ClientFrame a JSON client
// would send for the same request: joinGroup, leaveGroup, sendToGroup,
// event or sequenceAck. Unknown fields are ignored. A frame that is not a
// well-formed UpstreamMessage, that sets none of its known messages, that
// has a sendToGroup or event without data, whose text is not UTF-8 or
// whose json_data is not JSON is an [*Error] of class [ClassStructural],
// as the equivalent JSON mistake is. protobuf_data is kept as the
// encoded google.protobuf.Any, with [DataTypeProtobuf], which
// [ClientFrame.Validate] accepts on frames parsed here. Data never
// aliases b.
func ParseProtobufClientFrame(b []byte) (ClientFrame, error) {
	var m pb.UpstreamMessage
	if err := proto.Unmarshal(b, &m); err != nil {
		return ClientFrame{}, structural("", "is not a valid protobuf UpstreamMessage")
	}
	f := ClientFrame{viaProtobuf: true}
	switch x := m.Message.(type) {
	case *pb.UpstreamMessage_JoinGroupMessage_:
		f.Type, f.Group = TypeJoinGroup, x.JoinGroupMessage.GetGroup()
		f.AckID, f.HasAckID = x.JoinGroupMessage.GetAckId(), x.JoinGroupMessage.AckId != nil
	case *pb.UpstreamMessage_LeaveGroupMessage_:
		f.Type, f.Group = TypeLeaveGroup, x.LeaveGroupMessage.GetGroup()
		f.AckID, f.HasAckID = x.LeaveGroupMessage.GetAckId(), x.LeaveGroupMessage.AckId != nil
	case *pb.UpstreamMessage_SendToGroupMessage_:
		s := x.SendToGroupMessage
		f.Type, f.Group, f.NoEcho = TypeSendToGroup, s.GetGroup(), s.GetNoEcho()
		f.AckID, f.HasAckID = s.GetAckId(), s.AckId != nil
		if err := f.setProtobufData(s.GetData()); err != nil {
			return ClientFrame{}, err
		}
	case *pb.UpstreamMessage_EventMessage_:
		ev := x.EventMessage
		f.Type, f.Event = TypeEvent, ev.GetEvent()
		f.AckID, f.HasAckID = ev.GetAckId(), ev.AckId != nil
		if err := f.setProtobufData(ev.GetData()); err != nil {
			return ClientFrame{}, err
		}
	case *pb.UpstreamMessage_SequenceAckMessage_:
		f.Type, f.SequenceID = TypeSequenceAck, x.SequenceAckMessage.GetSequenceId()
	default:
		return ClientFrame{}, structural("", "sets no known UpstreamMessage")
	}
	return f, nil
}

// setProtobufData maps a MessageData onto DataType and Data, as dataOf
// does, refusing json_data that is not JSON. Upstream, json_data is
// dataType json (JSON clients receive it as such).
func (f *ClientFrame) setProtobufData(d *pb.MessageData) *Error {
	dt, data, ok := dataOf(d)
	switch {
	case !ok && d.GetProtobufData() != nil:
		return structural("protobuf_data", "is not a valid google.protobuf.Any")
	case !ok:
		return structural("data", "is required")
	case dt == DataTypeJSON && !json.Valid(data):
		return structural("json_data", "is not valid JSON")
	}
	f.DataType, f.Data, f.HasData = dt, data, true
	return nil
}

// messageData is the MessageData of a payload: text_data, json_data,
// binary_data, or protobuf_data for the encoded Any of [DataTypeProtobuf].
// Text that is not UTF-8 has each invalid run replaced by U+FFFD.
func messageData(dt DataType, data []byte) (*pb.MessageData, error) {
	switch dt.orDefault() {
	case DataTypeText:
		return &pb.MessageData{Data: &pb.MessageData_TextData{TextData: strings.ToValidUTF8(string(data), "\uFFFD")}}, nil
	case DataTypeJSON:
		return &pb.MessageData{Data: &pb.MessageData_JsonData{JsonData: strings.ToValidUTF8(string(data), "\uFFFD")}}, nil
	case DataTypeBinary:
		return &pb.MessageData{Data: &pb.MessageData_BinaryData{BinaryData: data}}, nil
	case DataTypeProtobuf:
		var a anypb.Any
		if err := proto.Unmarshal(data, &a); err != nil {
			return nil, errors.New("protocol: protobuf data is not an encoded google.protobuf.Any")
		}
		return &pb.MessageData{Data: &pb.MessageData_ProtobufData{ProtobufData: &a}}, nil
	}
	return nil, errors.New("protocol: unknown data type")
}

// dataOf is the inverse of messageData; ok is false when d sets no data
// (or protobuf_data that does not encode).
func dataOf(d *pb.MessageData) (dt DataType, data []byte, ok bool) {
	switch x := d.GetData().(type) {
	case *pb.MessageData_TextData:
		return DataTypeText, []byte(x.TextData), true
	case *pb.MessageData_JsonData:
		return DataTypeJSON, []byte(x.JsonData), true
	case *pb.MessageData_BinaryData:
		if x.BinaryData == nil {
			return DataTypeBinary, []byte{}, true
		}
		return DataTypeBinary, x.BinaryData, true
	case *pb.MessageData_ProtobufData:
		b, err := marshal.Marshal(x.ProtobufData)
		if err != nil {
			return "", nil, false
		}
		return DataTypeProtobuf, b, true
	}
	return "", nil, false
}

// AppendProtobuf appends f encoded as a DownstreamMessage of the protobuf
// subprotocols. Ack, message and system (connected, disconnected) frames
// have that form; FromUserID and Stream are not carried. A message of
// [DataTypeJSON] (or no data type) is sent as text_data holding the
// serialized JSON, as the service sends JSON data to protobuf clients,
// so it parses back as [DataTypeText]; the other data types keep their
// MessageData case. Any other frame returns [ErrNoProtobufForm], as does
// protobuf data that is not an encoded google.protobuf.Any.
func (f *ServiceFrame) AppendProtobuf(dst []byte) ([]byte, error) {
	var m pb.DownstreamMessage
	switch f.Type {
	case TypeAck:
		a := &pb.DownstreamMessage_AckMessage{AckId: f.AckID, Success: f.Success}
		if !f.Success && f.Error != nil {
			a.Error = &pb.DownstreamMessage_AckMessage_ErrorMessage{Name: f.Error.Name, Message: f.Error.Message}
		}
		m.Message = &pb.DownstreamMessage_AckMessage_{AckMessage: a}
	case TypeMessage:
		dt := f.DataType
		if dt.orDefault() == DataTypeJSON {
			dt = DataTypeText
		}
		d, err := messageData(dt, f.Data)
		if err != nil {
			return dst, err
		}
		dm := &pb.DownstreamMessage_DataMessage{From: f.From, Data: d}
		if f.From == FromGroup {
			dm.Group = proto.String(f.Group)
		}
		if f.SequenceID != 0 {
			dm.SequenceId = proto.Uint64(f.SequenceID)
		}
		m.Message = &pb.DownstreamMessage_DataMessage_{DataMessage: dm}
	case TypeSystem:
		var sm pb.DownstreamMessage_SystemMessage
		switch f.Event {
		case EventConnected:
			sm.Message = &pb.DownstreamMessage_SystemMessage_ConnectedMessage_{ConnectedMessage: &pb.DownstreamMessage_SystemMessage_ConnectedMessage{
				ConnectionId: f.ConnectionID, UserId: f.UserID, ReconnectionToken: f.ReconnectionToken}}
		case EventDisconnected:
			sm.Message = &pb.DownstreamMessage_SystemMessage_DisconnectedMessage_{DisconnectedMessage: &pb.DownstreamMessage_SystemMessage_DisconnectedMessage{
				Reason: strings.ToValidUTF8(f.Message, "\uFFFD")}}
		default:
			return dst, ErrNoProtobufForm
		}
		m.Message = &pb.DownstreamMessage_SystemMessage_{SystemMessage: &sm}
	default:
		return dst, ErrNoProtobufForm
	}
	return marshal.MarshalAppend(dst, &m)
}

// ParseProtobufServiceFrame decodes one binary frame of the protobuf
// subprotocols (a DownstreamMessage) into the ServiceFrame a JSON
// client would receive: ack, message (From, Group, DataType, Data,
// SequenceID) or system (connected, disconnected). text_data is
// [DataTypeText], which is also how the service delivers JSON data;
// json_data, which the schema allows downstream too, is [DataTypeJSON].
// A frame that is not a
// well-formed DownstreamMessage, that sets none of its known messages, or
// a message without data is an [*Error] of class [ClassStructural].
// Data never aliases b.
func ParseProtobufServiceFrame(b []byte) (ServiceFrame, error) {
	var m pb.DownstreamMessage
	if err := proto.Unmarshal(b, &m); err != nil {
		return ServiceFrame{}, structural("", "is not a valid protobuf DownstreamMessage")
	}
	var f ServiceFrame
	switch x := m.Message.(type) {
	case *pb.DownstreamMessage_AckMessage_:
		a := x.AckMessage
		f.Type, f.AckID, f.HasAckID, f.Success = TypeAck, a.GetAckId(), true, a.GetSuccess()
		if e := a.GetError(); e != nil {
			f.Error = &ErrorDetail{Name: e.GetName(), Message: e.GetMessage()}
		}
	case *pb.DownstreamMessage_DataMessage_:
		d := x.DataMessage
		f.Type, f.From, f.Group, f.SequenceID = TypeMessage, d.GetFrom(), d.GetGroup(), d.GetSequenceId()
		var ok bool
		if f.DataType, f.Data, ok = dataOf(d.GetData()); !ok {
			return ServiceFrame{}, structural("data", "is required")
		}
		f.HasData = true
	case *pb.DownstreamMessage_SystemMessage_:
		switch s := x.SystemMessage.GetMessage().(type) {
		case *pb.DownstreamMessage_SystemMessage_ConnectedMessage_:
			c := s.ConnectedMessage
			f.Type, f.Event = TypeSystem, EventConnected
			f.ConnectionID, f.UserID, f.ReconnectionToken = c.GetConnectionId(), c.GetUserId(), c.GetReconnectionToken()
		case *pb.DownstreamMessage_SystemMessage_DisconnectedMessage_:
			f.Type, f.Event, f.Message = TypeSystem, EventDisconnected, s.DisconnectedMessage.GetReason()
		default:
			return ServiceFrame{}, structural("", "sets no known SystemMessage")
		}
	default:
		return ServiceFrame{}, structural("", "sets no known DownstreamMessage")
	}
	return f, nil
}

// AppendProtobuf appends f encoded as an UpstreamMessage of the protobuf
// subprotocols. joinGroup, leaveGroup, sendToGroup (Group, AckID, NoEcho
// and data), event (Event, AckID and data) and sequenceAck have that
// form; a frame of another type, or one with metadata, a ttlSeconds or a
// stream, returns [ErrNoProtobufForm]. [DataTypeJSON] data is sent as
// json_data, which the service delivers to JSON clients as dataType
// json. An event without data is sent with empty text, since the schema
// requires data.
func (f *ClientFrame) AppendProtobuf(dst []byte) ([]byte, error) {
	var m pb.UpstreamMessage
	var ack *uint64
	if f.HasAckID {
		ack = proto.Uint64(f.AckID)
	}
	if f.Metadata != nil || f.HasTTL || f.StreamID != "" {
		return dst, ErrNoProtobufForm
	}
	data := func() (*pb.MessageData, error) {
		if !f.HasData && f.Type == TypeEvent {
			return messageData(DataTypeText, nil)
		}
		return messageData(f.DataType, f.Data)
	}
	switch f.Type {
	case TypeJoinGroup:
		m.Message = &pb.UpstreamMessage_JoinGroupMessage_{JoinGroupMessage: &pb.UpstreamMessage_JoinGroupMessage{Group: f.Group, AckId: ack}}
	case TypeLeaveGroup:
		m.Message = &pb.UpstreamMessage_LeaveGroupMessage_{LeaveGroupMessage: &pb.UpstreamMessage_LeaveGroupMessage{Group: f.Group, AckId: ack}}
	case TypeSendToGroup:
		d, err := data()
		if err != nil {
			return dst, err
		}
		s := &pb.UpstreamMessage_SendToGroupMessage{Group: f.Group, AckId: ack, Data: d}
		if f.NoEcho {
			s.NoEcho = proto.Bool(true)
		}
		m.Message = &pb.UpstreamMessage_SendToGroupMessage_{SendToGroupMessage: s}
	case TypeEvent:
		d, err := data()
		if err != nil {
			return dst, err
		}
		m.Message = &pb.UpstreamMessage_EventMessage_{EventMessage: &pb.UpstreamMessage_EventMessage{Event: f.Event, AckId: ack, Data: d}}
	case TypeSequenceAck:
		m.Message = &pb.UpstreamMessage_SequenceAckMessage_{SequenceAckMessage: &pb.UpstreamMessage_SequenceAckMessage{SequenceId: f.SequenceID}}
	default:
		return dst, ErrNoProtobufForm
	}
	return marshal.MarshalAppend(dst, &m)
}

// ValidProtobufData reports whether b is an encoded google.protobuf.Any,
// the only form of [DataTypeProtobuf] data.
func ValidProtobufData(b []byte) bool {
	var a anypb.Any
	return proto.Unmarshal(b, &a) == nil
}
