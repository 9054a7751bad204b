package emulator

import (
	"time"

	"github.com/coder/websocket"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/gowebpubsub/webpubsub/emulator/internal/core"
)

// The outbound flow of an MQTT connection: the transport's writer passes
// every frame through mqttOutbound before it writes it. There a PUBLISH
// is held back while the client's Receive Maximum of QoS 1 and 2 packets
// are in flight, dropped (as if delivered) when it is larger than the
// client's Maximum Packet Size or its message expired, marked DUP when a
// resumed session sends it again, and told the time its message has left.

// packetOf is the start of the MQTT packet f carries.
func packetOf(f core.Frame) []byte {
	if len(f.Data) > 0 {
		return f.Data
	}
	return f.Tail
}

// publishQoS returns the QoS of the PUBLISH pkt, and false when pkt is
// another packet.
func publishQoS(pkt []byte) (byte, bool) {
	if len(pkt) == 0 || pkt[0]>>4 != packets.Publish {
		return 0, false
	}
	return (pkt[0] >> 1) & 3, true
}

// publishPacketID returns the packet id of the QoS 1 or 2 PUBLISH pkt, an
// encoding of the emulator's own: the fixed header, the remaining length,
// the topic, then the id.
func publishPacketID(pkt []byte) (uint16, bool) {
	if qos, ok := publishQoS(pkt); !ok || qos == 0 {
		return 0, false
	}
	i := 1
	for i < len(pkt) && i <= 4 && pkt[i]&0x80 != 0 {
		i++
	}
	i++ // the last byte of the remaining length
	if i+2 > len(pkt) {
		return 0, false
	}
	topicLen := int(pkt[i])<<8 | int(pkt[i+1])
	i += 2 + topicLen
	if i+2 > len(pkt) {
		return 0, false
	}
	return uint16(pkt[i])<<8 | uint16(pkt[i+1]), true
}

// mqttOutbound prepares f for writing and reports whether to write it
// (the frame it returns). It runs on the transport's writer.
func (c *conn) mqttOutbound(f core.Frame) (core.Frame, bool) {
	pkt := packetOf(f)
	if _, ok := publishQoS(pkt); !ok {
		return f, true
	}
	s := c.mqtt
	id, hasID := publishPacketID(pkt)
	now := c.e.now().UnixNano()
	s.mu.Lock()
	if (s.maxPacket > 0 && len(f.Data)+len(f.Tail) > int(s.maxPacket)) || (f.Deadline != 0 && now >= f.Deadline) {
		// MQTT 5 §3.1.2.11.4: a packet over the client's maximum is
		// discarded as if it had been delivered; so is an expired
		// message.
		delete(s.resend, id)
		s.mu.Unlock()
		if hasID {
			c.mqttAcknowledged(id)
			c.mqttReleased(id)
		}
		return f, false
	}
	dup := false
	if hasID {
		if _, admitted := s.inflight[id]; !admitted {
			if len(s.waiting) > 0 || (s.receiveMax > 0 && len(s.inflight) >= int(s.receiveMax)) {
				// Held back frames have left the transport's queue. Those
				// of a persistent session stay in its bounded buffer until
				// acknowledged; for the others the queue's limits apply
				// here, so that a client that never acknowledges is
				// disconnected, as one that never reads is, instead of
				// holding ever more messages.
				n := len(f.Data) + len(f.Tail)
				if !c.Reliable && (len(s.waiting) >= maxQueueMessages || s.waitingBytes+n > maxQueueBytes) {
					s.mu.Unlock()
					c.e.goTracked(func() { c.terminate(websocket.StatusPolicyViolation, core.ReasonQueueFull, true) })
					return f, false
				}
				s.waiting = append(s.waiting, f)
				s.waitingBytes += n
				s.mu.Unlock()
				return f, false
			}
			if s.inflight == nil {
				s.inflight = map[uint16]struct{}{}
			}
			s.inflight[id] = struct{}{}
		}
		_, dup = s.resend[id]
		delete(s.resend, id)
	}
	s.mu.Unlock()
	if dup || (f.Deadline != 0 && s.version == mqttV5) {
		f = s.patchPublish(f, dup, time.Duration(f.Deadline-now))
	}
	return f, true
}

// patchPublish returns the PUBLISH of f with the DUP flag set when dup,
// and, for an MQTT 5 message with an expiry interval, the interval set to
// left, rounded up to whole seconds.
func (s *mqttSession) patchPublish(f core.Frame, dup bool, left time.Duration) core.Frame {
	raw := make([]byte, 0, len(f.Data)+len(f.Tail))
	raw = append(append(raw, f.Data...), f.Tail...)
	pk, n, err := decodeMQTT(raw, s.version)
	if err != nil || n != len(raw) {
		return f // not an encoding of the emulator's: unchanged
	}
	pk.FixedHeader.Dup = dup && pk.FixedHeader.Qos > 0
	if s.version == mqttV5 && pk.Properties.MessageExpiryInterval > 0 && left > 0 {
		pk.Properties.MessageExpiryInterval = uint32((left + time.Second - 1) / time.Second)
	}
	pk.Mods.AllowResponseInfo = true
	return core.Frame{Binary: true, Data: encodeMQTT(&pk), Sequenced: f.Sequenced, NoAck: f.NoAck, Deadline: f.Deadline}
}

// mqttReleased ends the flight of packet id (acknowledged, refused or
// dropped) and queues the PUBLISH packets that waited for room in the
// client's Receive Maximum.
func (c *conn) mqttReleased(id uint16) {
	s := c.mqtt
	ep := c.Endpoint() // before mu: the core calls the codec, which takes mu, under its own locks
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.inflight[id]; !ok {
		return
	}
	delete(s.inflight, id)
	for len(s.waiting) > 0 && (s.receiveMax == 0 || len(s.inflight) < int(s.receiveMax)) {
		f := s.waiting[0]
		s.waiting[0] = core.Frame{}
		s.waiting = s.waiting[1:]
		s.waitingBytes -= len(f.Data) + len(f.Tail)
		if next, ok := publishPacketID(packetOf(f)); ok {
			s.inflight[next] = struct{}{} // admitted now, so that nothing overtakes it
		}
		if ep == nil {
			continue // a persistent session replays it from its buffer
		}
		// Under mu, so that the waiting frames keep their order.
		if !ep.Enqueue(f) {
			c.e.goTracked(func() { c.terminate(websocket.StatusPolicyViolation, core.ReasonQueueFull, false) })
			return
		}
	}
}
