package emulator

import (
	"bytes"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/gowebpubsub/webpubsub/emulator/internal/core"
)

// fuzzMQTTConn registers an MQTT connection of hub chat, of protocol
// level version, with a transport that has no WebSocket.
func fuzzMQTTConn(t testing.TB, e *Emulator, id string, version byte, roles []string, groups ...string) *conn {
	c := newConn(e, "chat", id, "", kindMQTT, "mqtt")
	c.mqtt = &mqttSession{version: version}
	c.setCodec()
	c.SetRoles(roles, discardLogger())
	if !e.core.Register(c.Conn, newTransport(c, nil, nil), groups, nil) {
		t.Fatal("Register refused the connection")
	}
	return c
}

// FuzzMQTTPackets feeds arbitrary bytes, split in two WebSocket messages,
// to an MQTT connection of each protocol level. Whatever the bytes, the
// endpoint does not panic, and every frame it queues, for the connection
// and for the members of the group it may publish to, is one whole MQTT
// packet of the recipient's level.
func FuzzMQTTPackets(f *testing.F) {
	enc := func(v byte, pk packets.Packet) []byte { pk.ProtocolVersion = v; return encodeMQTT(&pk) }
	for _, v := range []byte{mqttV311, mqttV5} {
		f.Add(enc(v, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pingreq}}), uint(1))
		f.Add(enc(v, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, PacketID: 3, TopicName: "common", Payload: []byte("x")}), uint(4))
		f.Add(enc(v, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 2}, PacketID: 3, TopicName: "common", Payload: []byte("x")}), uint(9))
		f.Add(enc(v, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: 1,
			Filters: packets.Subscriptions{{Filter: "a", Qos: 1}, {Filter: "b/#"}, {Filter: "$share/x/y"}}}), uint(2))
		f.Add(enc(v, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Unsubscribe, Qos: 1}, PacketID: 1,
			Filters: packets.Subscriptions{{Filter: "a"}}}), uint(0))
		f.Add(enc(v, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pubrel, Qos: 1}, PacketID: 3}), uint(2))
		f.Add(enc(v, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}}), uint(1))
	}
	f.Add([]byte{0x82, 0x04, 0x00, 0x01, 0x00, 0x01}, uint(3)) // a SUBSCRIBE cut inside its filter
	e, h := fuzzHub(f)
	v5 := fuzzMQTTConn(f, e, "listener5", mqttV5, nil, "common")
	v3 := fuzzMQTTConn(f, e, "listener3", mqttV311, nil, "common")
	f.Fuzz(func(t *testing.T, data []byte, cut uint) {
		version := mqttV311
		if cut%2 == 1 {
			version = mqttV5
		}
		c := fuzzMQTTConn(t, e, "fuzz", version, []string{"webpubsub.joinLeaveGroup", "webpubsub.sendToGroup"}, "common")
		ctr := transportOf(c.Conn)
		at := int(cut % uint(len(data)+1))
		c.handleMQTT(websocket.MessageBinary, data[:at])
		c.handleMQTT(websocket.MessageBinary, data[at:])
		for _, r := range []*conn{c, v5, v3} {
			tr := ctr
			if r != c {
				tr = transportOf(r.Conn)
			}
			for _, q := range queuedFrames(tr) {
				pk, n, err := decodeMQTT(q.Data, r.mqtt.version)
				if err != nil || n != len(q.Data) || !q.Binary {
					t.Fatalf("queued %x for %s: %d bytes decoded, %v; want one whole packet", q.Data, r.ID, n, err)
				}
				if pk.FixedHeader.Type == packets.Connect || pk.FixedHeader.Type == packets.Subscribe {
					t.Fatalf("queued a client packet %d", pk.FixedHeader.Type)
				}
				if pk.FixedHeader.Type == packets.Publish {
					checkOutboundPublish(t, r, q, pk)
				}
			}
		}
		ctr.qmu.Lock()
		ctr.queue, ctr.queueLen, ctr.queueBytes = ctr.queue[:0], 0, 0
		ctr.qmu.Unlock()
		queued(h)
		endFuzzConn(c, ctr)
	})
}

// checkOutboundPublish checks the outbound flow's view of the PUBLISH q
// (decoded as pk) queued for r: the packet id it reads from the header is
// the codec's, and the frame it sends again (DUP, expiry left) is one
// whole packet with the same id and payload.
func checkOutboundPublish(t *testing.T, r *conn, q core.Frame, pk packets.Packet) {
	t.Helper()
	id, ok := publishPacketID(packetOf(q))
	if ok != (pk.FixedHeader.Qos > 0) || (ok && id != pk.PacketID) {
		t.Fatalf("publishPacketID of %x: %d, %v; want %d (QoS %d)", q.Data, id, ok, pk.PacketID, pk.FixedHeader.Qos)
	}
	again := r.mqtt.patchPublish(q, true, 1500*time.Millisecond)
	got, n, err := decodeMQTT(again.Data, r.mqtt.version)
	if err != nil || n != len(again.Data) {
		t.Fatalf("resent %x: %d bytes decoded, %v; want one whole packet", again.Data, n, err)
	}
	if got.PacketID != pk.PacketID || got.FixedHeader.Dup != (pk.FixedHeader.Qos > 0) || !bytes.Equal(got.Payload, pk.Payload) {
		t.Fatalf("resent %+v; want the id, payload and DUP of %+v", got.FixedHeader, pk.FixedHeader)
	}
	if pk.Properties.MessageExpiryInterval > 0 && r.mqtt.version == mqttV5 && got.Properties.MessageExpiryInterval != 2 {
		t.Fatalf("resent with expiry %d; want the 2 s left (rounded up)", got.Properties.MessageExpiryInterval)
	}
}

// FuzzMQTTDecode checks the packet reader alone: it never panics, never
// claims more bytes than it has, and reads a packet it encoded back whole.
func FuzzMQTTDecode(f *testing.F) {
	f.Add([]byte{0x30, 0x05, 0x00, 0x01, 'a', 'h', 'i'}, true)
	f.Add([]byte{0x10, 0xff, 0xff, 0xff, 0xff, 0x01}, false)
	f.Add([]byte{0x82, 0x03, 0x00, 0x01, 0x00}, true)
	f.Fuzz(func(t *testing.T, data []byte, v5 bool) {
		version := mqttV311
		if v5 {
			version = mqttV5
		}
		_, n, err := decodeMQTT(data, version)
		if n > len(data) || (err != nil && n != 0) {
			t.Fatalf("decoded %d of %d bytes, %v", n, len(data), err)
		}
	})
}
