package emulator

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/gowebpubsub/webpubsub/emulator/internal/core"
	"github.com/gowebpubsub/webpubsub/internal/protocol"
)

// MQTT protocol levels the endpoint accepts: 4 is MQTT 3.1.1, 5 is 5.0.
const (
	mqttV311 byte = 4
	mqttV5   byte = 5
)

// mqttServerTopic is the topic of messages sent to all, a user or a
// connection: they are not group messages.
const mqttServerTopic = "$webpubsub/server/messages"

// errMQTTTooLarge is returned for a packet beyond the frame size limit.
var errMQTTTooLarge = errors.New("the MQTT packet is too large")

// errMQTTMalformed is returned for bytes that are not an MQTT packet.
var errMQTTMalformed = errors.New("the MQTT packet is malformed")

// decodeMQTT reads the first packet of buf for a client of the protocol
// level version (any for a CONNECT, which names its own). n is the
// number of bytes the packet took; 0 (with a nil error) means buf holds
// only the start of a packet. The packet's byte slices alias buf.
func decodeMQTT(buf []byte, version byte) (pk packets.Packet, n int, err error) {
	if len(buf) < 2 {
		return pk, 0, nil
	}
	remaining, used, err := packets.DecodeLength(bytes.NewReader(buf[1:]))
	if err != nil {
		if len(buf)-1 < 4 {
			return pk, 0, nil // the length itself is incomplete
		}
		return pk, 0, errMQTTMalformed
	}
	if remaining > protocol.MaxFrameSize {
		return pk, 0, errMQTTTooLarge
	}
	total := 1 + used + remaining
	if len(buf) < total {
		return pk, 0, nil
	}
	if err := pk.FixedHeader.Decode(buf[0]); err != nil {
		return pk, 0, errMQTTMalformed
	}
	pk.FixedHeader.Remaining = remaining
	pk.ProtocolVersion = version
	if err := decodeBody(&pk, buf[1+used:total]); err != nil {
		return pk, 0, errMQTTMalformed
	}
	return pk, total, nil
}

// decodeBody decodes the variable header and payload with the codec's
// decoder of the packet's type, turning a panic on hostile input into an
// error.
func decodeBody(pk *packets.Packet, body []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", errMQTTMalformed, r)
		}
	}()
	switch pk.FixedHeader.Type {
	case packets.Connect:
		return pk.ConnectDecode(body)
	case packets.Publish:
		return pk.PublishDecode(body)
	case packets.Puback:
		return pk.PubackDecode(body)
	case packets.Pubrec:
		return pk.PubrecDecode(body)
	case packets.Pubrel:
		return pk.PubrelDecode(body)
	case packets.Pubcomp:
		return pk.PubcompDecode(body)
	case packets.Subscribe:
		return pk.SubscribeDecode(body)
	case packets.Unsubscribe:
		return pk.UnsubscribeDecode(body)
	case packets.Pingreq:
		return pk.PingreqDecode(body)
	case packets.Disconnect:
		return pk.DisconnectDecode(body)
	case packets.Auth:
		return pk.AuthDecode(body)
	case packets.Connack:
		return pk.ConnackDecode(body)
	case packets.Suback:
		return pk.SubackDecode(body)
	case packets.Unsuback:
		return pk.UnsubackDecode(body)
	case packets.Pingresp:
		return pk.PingrespDecode(body)
	}
	return errMQTTMalformed
}

// encodeMQTT encodes pk with the codec's encoder of its type.
func encodeMQTT(pk *packets.Packet) []byte {
	var buf bytes.Buffer
	var err error
	switch pk.FixedHeader.Type {
	case packets.Connect:
		err = pk.ConnectEncode(&buf)
	case packets.Connack:
		err = pk.ConnackEncode(&buf)
	case packets.Publish:
		err = pk.PublishEncode(&buf)
	case packets.Puback:
		err = pk.PubackEncode(&buf)
	case packets.Pubrec:
		err = pk.PubrecEncode(&buf)
	case packets.Pubrel:
		err = pk.PubrelEncode(&buf)
	case packets.Pubcomp:
		err = pk.PubcompEncode(&buf)
	case packets.Subscribe:
		err = pk.SubscribeEncode(&buf)
	case packets.Suback:
		err = pk.SubackEncode(&buf)
	case packets.Unsubscribe:
		err = pk.UnsubscribeEncode(&buf)
	case packets.Unsuback:
		err = pk.UnsubackEncode(&buf)
	case packets.Pingreq:
		err = pk.PingreqEncode(&buf)
	case packets.Pingresp:
		err = pk.PingrespEncode(&buf)
	case packets.Disconnect:
		err = pk.DisconnectEncode(&buf)
	default:
		err = errMQTTMalformed
	}
	if err != nil {
		// Only a QoS>0 PUBLISH or a SUBSCRIBE without a packet id fails,
		// and the emulator never builds one.
		panic("emulator: encoding an MQTT packet: " + err.Error())
	}
	return buf.Bytes()
}

// mqttFrame is pk as a binary frame.
func mqttFrame(pk *packets.Packet) core.Frame {
	return core.Frame{Binary: true, Data: encodeMQTT(pk)}
}

// dataTypeOfContent maps an MQTT 5 content type to a data type: JSON,
// text, and binary for anything else or none. The emulator has no
// protobuf clients, so application/x-protobuf is binary too.
func dataTypeOfContent(ct string) protocol.DataType {
	switch mediaTypeOf(ct) {
	case contentTypeJSON:
		return protocol.DataTypeJSON
	case contentTypeText:
		return protocol.DataTypeText
	}
	return protocol.DataTypeBinary
}

// packetProperties are kvs as MQTT 5 user properties (the inverse of
// userProperties); nil for none.
func packetProperties(kvs []core.KeyValue) []packets.UserProperty {
	var out []packets.UserProperty
	for _, kv := range kvs {
		out = append(out, packets.UserProperty{Key: kv.Key, Val: kv.Value})
	}
	return out
}

// mqttCodecKey caches the shared QoS 0 encoding of a message per
// protocol level.
type mqttCodecKey struct{ version byte }

// mqttCodec encodes messages as PUBLISH packets for one MQTT connection:
// the topic is the group, or the server topic for other messages; the
// quality of service is the publisher's (1 for messages not published by
// an MQTT client) lowered to the subscription's.
type mqttCodec struct{ s *mqttSession }

func (k mqttCodec) Encode(m *core.Message) core.Frame {
	f, _ := k.encode(m, 0)
	return f
}

// EncodeSequenced is Encode for a persistent session, whose messages the
// core buffers: the packet id of a QoS 1 or 2 message is remembered with
// seq so that its acknowledgement releases it, and a QoS 0 message is
// marked as never acknowledged.
// A frame of this connection's own (a packet id or a subscription
// identifier in it) is the Tail, so that the budget counts it once per
// buffer, as for protobuf clients.
func (k mqttCodec) EncodeSequenced(m *core.Message, seq uint64) core.Frame {
	f, shared := k.encode(m, seq)
	if !shared {
		f.Data, f.Tail = []byte{}, f.Data
	}
	return f
}

// encode returns m's PUBLISH frame, and whether it is the encoding shared
// by every recipient of m.
func (k mqttCodec) encode(m *core.Message, seq uint64) (core.Frame, bool) {
	s := k.s
	topic := m.Group
	if topic == "" {
		topic = mqttServerTopic
	}
	qos := byte(1)
	if m.Published != nil {
		qos = m.Published.QoS
	}
	subID := 0
	if m.Group != "" {
		if sub, ok := s.subscription(m.Group); ok {
			qos, subID = min(qos, sub.qos), sub.id
		}
	}
	var f core.Frame
	shared := false
	switch {
	case qos == 0 && (subID == 0 || s.version != mqttV5):
		f, shared = m.Encoded(mqttCodecKey{s.version}, func() core.Frame { return s.publishFrame(m, topic, 0, 0, 0) }), true
	case qos == 0:
		f = s.publishFrame(m, topic, 0, 0, subID)
	default:
		id := s.nextPacketID()
		if seq > 0 {
			s.mu.Lock()
			if s.unacked == nil {
				s.unacked = map[uint16]uint64{}
			}
			s.unacked[id] = seq
			s.mu.Unlock()
		}
		f = s.publishFrame(m, topic, qos, id, subID)
		f.Deadline = deadlineOf(m)
		return f, false
	}
	f.NoAck = seq > 0
	f.Deadline = deadlineOf(m)
	return f, shared
}

// deadlineOf is when m expires, in Unix nanoseconds of the emulator's
// clock; 0 for a message without an MQTT expiry interval.
func deadlineOf(m *core.Message) int64 {
	if pub := m.Published; pub != nil && !pub.ExpiresAt.IsZero() {
		return pub.ExpiresAt.UnixNano()
	}
	return 0
}

// publishFrame builds the PUBLISH of m.
func (s *mqttSession) publishFrame(m *core.Message, topic string, qos byte, id uint16, subID int) core.Frame {
	pk := packets.Packet{
		FixedHeader:     packets.FixedHeader{Type: packets.Publish, Qos: qos},
		ProtocolVersion: s.version,
		TopicName:       topic,
		PacketID:        id,
		Payload:         m.Data,
		Mods:            packets.Mods{AllowResponseInfo: true},
	}
	if s.version == mqttV5 {
		p := &pk.Properties
		if pub := m.Published; pub != nil {
			p.ContentType = pub.ContentType
			p.User = packetProperties(pub.UserProperties)
			p.ResponseTopic = pub.ResponseTopic
			p.CorrelationData = pub.CorrelationData
			p.MessageExpiryInterval = pub.ExpirySeconds
		} else {
			p.ContentType = contentTypeOf(protocol.DataType(m.DataType))
		}
		if subID > 0 {
			p.SubscriptionIdentifier = []int{subID}
		}
	}
	return mqttFrame(&pk)
}
