package emulator

import (
	"strconv"

	"github.com/gowebpubsub/webpubsub/emulator/internal/core"
	"github.com/gowebpubsub/webpubsub/internal/protocol"
)

// The codecs of the JSON and protobuf subprotocols and of raw clients
// (MQTT's is with the MQTT adapter) are where the core's messages, which
// know no wire format, become frames. A connection's codec follows its
// kind and subprotocol (conn.setCodec); a message caches the frame of each
// codec (core.Message.Encoded), so that the recipients of one protocol
// share one frame.

// textFrame is a text frame that is not a message.
func textFrame(data []byte) core.Frame { return core.Frame{Data: data} }

// protobufFrame is the binary frame of f in the protobuf subprotocols.
func protobufFrame(f *protocol.ServiceFrame) core.Frame {
	b, err := f.AppendProtobuf(nil)
	if err != nil && f.Type == protocol.TypeMessage {
		// Protobuf data that is not an encoded Any: its bytes as binary.
		g := *f
		g.DataType = protocol.DataTypeBinary
		b, err = g.AppendProtobuf(nil)
	}
	if err != nil {
		g := protocol.ServiceFrame{Type: protocol.TypeAck, AckID: f.AckID,
			Error: &protocol.ErrorDetail{Name: protocol.ErrorNameBadRequest, Message: "The protobuf subprotocol cannot carry a " + string(f.Type) + " frame."}}
		b, _ = g.AppendProtobuf(nil) // an ack always encodes
	}
	return core.Frame{Binary: true, Data: b}
}

// jsonCodec encodes messages as frames of the JSON subprotocols.
type jsonCodec struct{}

func (jsonCodec) Encode(m *core.Message) core.Frame {
	return m.Encoded(jsonCodec{}, func() core.Frame {
		f := serviceFrameOf(m)
		return textFrame(f.AppendJSON(nil))
	})
}

// EncodeSequenced is the frame of Encode with a trailing "sequenceId"
// field, the position the service writes it in: the frame without its
// closing '}', shared by every recipient, and a tail of its own.
func (j jsonCodec) EncodeSequenced(m *core.Message, seq uint64) core.Frame {
	f := j.Encode(m).Data
	tail := make([]byte, 0, 36)
	tail = append(tail, `,"sequenceId":`...)
	tail = strconv.AppendUint(tail, seq, 10)
	return core.Frame{Data: f[: len(f)-1 : len(f)-1], Tail: append(tail, '}')}
}

// protobufCodec encodes messages as DownstreamMessage frames of the
// protobuf subprotocols. A group stream's fragments reach protobuf
// clients as ordinary group messages (the schema has no stream fields);
// the fan-out leaves them out of the terminal message, which has no
// payload.
type protobufCodec struct{}

func (protobufCodec) Encode(m *core.Message) core.Frame {
	return m.Encoded(protobufCodec{}, func() core.Frame {
		f := serviceFrameOf(m)
		return protobufFrame(&f)
	})
}

// EncodeSequenced encodes the whole frame per recipient: the sequence id
// sits inside the length-prefixed DataMessage, so no prefix can be
// shared. The frame is the Tail, so that the budget counts it once per
// buffer.
func (protobufCodec) EncodeSequenced(m *core.Message, seq uint64) core.Frame {
	f := serviceFrameOf(m)
	f.SequenceID = seq
	fr := protobufFrame(&f)
	return core.Frame{Binary: true, Data: []byte{}, Tail: fr.Data}
}

// serviceFrameOf is the service frame that carries m: its reply, or a
// group or server message (with its stream position, if any).
func serviceFrameOf(m *core.Message) protocol.ServiceFrame {
	if f, ok := m.Reply.(*protocol.ServiceFrame); ok {
		return *f
	}
	f := protocol.ServiceFrame{Type: protocol.TypeMessage, From: protocol.FromServer, Group: m.Group,
		FromUserID: m.FromUserID, DataType: protocol.DataType(m.DataType), Data: m.Data}
	if m.Group != "" {
		f.From = protocol.FromGroup
	}
	if p := m.Stream; p != nil {
		f.Stream = &protocol.StreamInfo{StreamID: p.ID, StreamSequenceID: p.Sequence, EndOfStream: p.End}
		if p.ErrName != "" {
			f.Stream.Error = &protocol.ErrorDetail{Name: p.ErrName, Message: p.ErrMessage, UserErrorCode: p.ErrCode}
		}
	}
	return f
}

// rawCodec gives raw clients the payload itself: text for text and JSON,
// bytes for binary and protobuf.
type rawCodec struct{}

func (rawCodec) Encode(m *core.Message) core.Frame {
	return m.Encoded(rawCodec{}, func() core.Frame {
		return core.Frame{Binary: isBinary(protocol.DataType(m.DataType)), Data: append([]byte(nil), m.Data...)}
	})
}

// isBinary reports whether a raw client gets data of type dt as a binary
// frame.
func isBinary(dt protocol.DataType) bool {
	return dt == protocol.DataTypeBinary || dt == protocol.DataTypeProtobuf
}

func (r rawCodec) EncodeSequenced(m *core.Message, _ uint64) core.Frame { return r.Encode(m) }
