package emulator

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"
	"github.com/mochi-mqtt/server/v2/packets"
)

// mqttClient is a test MQTT client: packets encoded and decoded by the
// MQTT codec library, over a coder/websocket connection.
type mqttClient struct {
	t       testing.TB
	ws      *websocket.Conn
	version byte
	id      string
	buf     []byte
	nextID  uint16
	// pending holds the PUBLISH packets read while waiting for another
	// packet (an ack may follow the echo of the client's own publish).
	pending []packets.Packet
}

// mqttToken signs a token for the MQTT endpoint of hub.
func (te *testEmulator) mqttToken(hub string, claims jwt.MapClaims) string {
	te.t.Helper()
	c := jwt.MapClaims{"aud": "http://" + te.hostPort() + "/clients/mqtt/hubs/" + hub, "exp": time.Now().Add(time.Hour).Unix()}
	for k, v := range claims {
		c[k] = v
	}
	return sign(te.t, te.AccessKey(), c)
}

// mqttDial opens the WebSocket of the MQTT endpoint of hub.
func (te *testEmulator) mqttDial(hub, token string, bearer bool, subprotocols ...string) (*websocket.Conn, *http.Response, error) {
	te.t.Helper()
	u := "ws://" + te.hostPort() + "/clients/mqtt/hubs/" + hub
	h := http.Header{}
	switch {
	case token != "" && bearer:
		h.Set("Authorization", "Bearer "+token)
	case token != "":
		u += "?access_token=" + url.QueryEscape(token)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{Subprotocols: subprotocols, HTTPHeader: h})
	if err == nil {
		ws.SetReadLimit(-1)
	}
	return ws, resp, err
}

// mqttConnect dials hub "chat" with a token of claims, sends connect
// (its protocol version and client id filled in when zero) and returns
// the client and the first packet back, ok false when the emulator
// closed the connection without one.
func (te *testEmulator) mqttConnect(version byte, clientID string, claims jwt.MapClaims, edit func(*packets.Packet)) (*mqttClient, packets.Packet, bool) {
	te.t.Helper()
	ws, resp, err := te.mqttDial("chat", te.mqttToken("chat", claims), false, "mqtt")
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		te.t.Fatalf("dial: %v (status %d)", err, status)
	}
	c := &mqttClient{t: te.t, ws: ws, version: version, id: clientID}
	te.t.Cleanup(func() { _ = ws.CloseNow() })
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: version}
	pk.Connect.ProtocolName = []byte("MQTT")
	pk.Connect.ClientIdentifier = clientID
	pk.Connect.Keepalive = 60
	pk.Connect.Clean = true
	if edit != nil {
		edit(&pk)
	}
	if pk.ProtocolVersion != mqttV5 {
		c.version = mqttV311 // a refusal of another level answers in 3.1.1
	}
	c.send(&pk)
	ack, ok := c.tryRead()
	return c, ack, ok
}

// mqtt connects a client that must be accepted, and waits until the
// emulator registered it.
func (te *testEmulator) mqtt(version byte, clientID string, claims jwt.MapClaims) *mqttClient {
	te.t.Helper()
	c, ack, ok := te.mqttConnect(version, clientID, claims, nil)
	if !ok || ack.FixedHeader.Type != packets.Connack || ack.ReasonCode != 0 {
		te.t.Fatalf("connect %s: got %+v (ok %v); want a successful CONNACK", clientID, ack.FixedHeader, ok)
	}
	if got := te.waitRegistered(); got != clientID {
		te.t.Fatalf("registered %s; want %s", got, clientID)
	}
	return c
}

// send writes pk as one WebSocket message.
func (c *mqttClient) send(pk *packets.Packet) {
	c.t.Helper()
	if pk.ProtocolVersion == 0 {
		pk.ProtocolVersion = c.version
	}
	c.sendRaw(encodeMQTT(pk))
}

// sendRaw writes b as one binary WebSocket message.
func (c *mqttClient) sendRaw(b []byte) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageBinary, b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// tryRead reads the next packet; ok is false when the connection closed
// first.
func (c *mqttClient) tryRead() (packets.Packet, bool) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	for {
		if len(c.buf) > 0 {
			pk, n, err := decodeMQTT(c.buf, c.version)
			if err != nil {
				c.t.Fatalf("decode: %v", err)
			}
			if n > 0 {
				c.buf = bytes.Clone(c.buf[n:])
				return pk, true
			}
		}
		typ, b, err := c.ws.Read(ctx)
		if err != nil {
			var ce websocket.CloseError
			if errors.As(err, &ce) || strings.Contains(err.Error(), "EOF") || strings.Contains(err.Error(), "closed") {
				return packets.Packet{}, false
			}
			c.t.Fatalf("read: %v", err)
		}
		if typ != websocket.MessageBinary {
			c.t.Fatalf("got a text message %q; want binary", b)
		}
		c.buf = append(c.buf, b...)
	}
}

// read reads the next packet, which must arrive.
func (c *mqttClient) read() packets.Packet {
	c.t.Helper()
	pk, ok := c.tryRead()
	if !ok {
		c.t.Fatal("the connection closed; want a packet")
	}
	return pk
}

// expect reads the next packet of type typ, failing on any other type;
// a PUBLISH that comes first is kept for the next expect of a PUBLISH.
func (c *mqttClient) expect(typ byte) packets.Packet {
	c.t.Helper()
	if typ == packets.Publish && len(c.pending) > 0 {
		pk := c.pending[0]
		c.pending = c.pending[1:]
		return pk
	}
	for {
		pk := c.read()
		if pk.FixedHeader.Type == typ {
			return pk
		}
		if pk.FixedHeader.Type != packets.Publish {
			c.t.Fatalf("got %s %+v; want %s", packets.PacketNames[pk.FixedHeader.Type], pk.FixedHeader, packets.PacketNames[typ])
		}
		c.pending = append(c.pending, pk)
	}
}

// expectClosed reads until the connection closes and returns the packets
// that came before.
func (c *mqttClient) expectClosed() []packets.Packet {
	c.t.Helper()
	var got []packets.Packet
	for {
		pk, ok := c.tryRead()
		if !ok {
			return got
		}
		got = append(got, pk)
	}
}

func (c *mqttClient) packetID() uint16 {
	c.nextID++
	return c.nextID
}

// subscribe subscribes to filters with qos and returns the SUBACK codes.
func (c *mqttClient) subscribe(qos byte, filters ...string) []byte {
	c.t.Helper()
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: c.packetID()}
	for _, f := range filters {
		pk.Filters = append(pk.Filters, packets.Subscription{Filter: f, Qos: qos})
	}
	c.send(&pk)
	ack := c.expect(packets.Suback)
	if ack.PacketID != pk.PacketID {
		c.t.Fatalf("SUBACK for %d; want %d", ack.PacketID, pk.PacketID)
	}
	return ack.ReasonCodes
}

// publish publishes payload on topic; for QoS 1 it returns the PUBACK
// reason code.
func (c *mqttClient) publish(topic string, qos byte, payload []byte, props *packets.Properties) byte {
	c.t.Helper()
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: qos}, TopicName: topic, Payload: payload}
	if qos > 0 {
		pk.PacketID = c.packetID()
	}
	if props != nil {
		pk.Properties = *props
		pk.Mods.AllowResponseInfo = true // or the encoder leaves out the response topic and correlation data
	}
	c.send(&pk)
	switch qos {
	case 1:
		return c.expect(packets.Puback).ReasonCode
	case 2:
		return c.expect(packets.Pubrec).ReasonCode
	}
	return 0
}

// ping sends PINGREQ and waits for PINGRESP: everything the emulator
// sent before it has been read by then.
func (c *mqttClient) ping() {
	c.t.Helper()
	c.send(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pingreq}})
	c.expect(packets.Pingresp)
}

// readPublish reads the next packet, which must be a PUBLISH, and
// acknowledges it as its QoS asks.
func (c *mqttClient) readPublish() packets.Packet {
	c.t.Helper()
	pk := c.expect(packets.Publish)
	switch pk.FixedHeader.Qos {
	case 1:
		c.send(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: pk.PacketID})
	case 2:
		c.send(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pubrec}, PacketID: pk.PacketID})
		c.expect(packets.Pubrel)
		c.send(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pubcomp}, PacketID: pk.PacketID})
	}
	return pk
}

// mqttVersions are the protocol levels every MQTT test runs with.
var mqttVersions = []struct {
	name    string
	version byte
}{{"3.1.1", mqttV311}, {"5.0", mqttV5}}
