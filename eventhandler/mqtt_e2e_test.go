package eventhandler_test

import (
	"bytes"
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/gowebpubsub/webpubsub/eventhandler"
)

// mqttConnack dials the emulator's MQTT endpoint, sends a CONNECT of
// version with the user name and password, and returns the CONNACK.
func (x *e2e) mqttConnack(version byte, clientID, user, password string) (*websocket.Conn, packets.Packet) {
	x.t.Helper()
	tok := x.sign(jwt.MapClaims{"aud": x.e.URL() + "/clients/mqtt/hubs/chat", "exp": time.Now().Add(time.Hour).Unix()})
	ctx, cancel := context.WithTimeout(context.Background(), e2eTimeout)
	defer cancel()
	u := "ws" + x.e.URL()[len("http"):] + "/clients/mqtt/hubs/chat?access_token=" + url.QueryEscape(tok)
	ws, _, err := websocket.Dial(ctx, u, &websocket.DialOptions{Subprotocols: []string{"mqtt"}})
	if err != nil {
		x.t.Fatalf("dial: %v", err)
	}
	x.t.Cleanup(func() { _ = ws.CloseNow() })
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: version}
	pk.Connect.ProtocolName, pk.Connect.ClientIdentifier, pk.Connect.Keepalive, pk.Connect.Clean = []byte("MQTT"), clientID, 30, true
	pk.Connect.UsernameFlag, pk.Connect.Username = true, []byte(user)
	pk.Connect.PasswordFlag, pk.Connect.Password = true, []byte(password)
	var buf bytes.Buffer
	if err := pk.ConnectEncode(&buf); err != nil {
		x.t.Fatal(err)
	}
	if err := ws.Write(ctx, websocket.MessageBinary, buf.Bytes()); err != nil {
		x.t.Fatal(err)
	}
	_, b, err := ws.Read(ctx)
	if err != nil {
		x.t.Fatalf("read CONNACK: %v", err)
	}
	var ack packets.Packet
	if err := ack.FixedHeader.Decode(b[0]); err != nil || ack.FixedHeader.Type != packets.Connack {
		x.t.Fatalf("got %x; want a CONNACK", b)
	}
	ack.ProtocolVersion = version
	ack.FixedHeader.Remaining = int(b[1]) // CONNACKs are short
	if err := ack.ConnackDecode(b[2:]); err != nil {
		x.t.Fatal(err)
	}
	return ws, ack
}

// TestMQTTEvents runs MQTT clients of both protocol levels through the
// emulator into a Handler: the connect request carries the CONNECT's user
// name and password typed, a rejection reaches the client as the CONNACK
// code of its level with the reason, an accepted connect's user
// properties reach the CONNACK, and the disconnected event says who ended
// the connection.
func TestMQTTEvents(t *testing.T) {
	connects := make(chan *eventhandler.ConnectRequest, 8)
	disconnects := make(chan *eventhandler.DisconnectedRequest, 8)
	x := startE2E(t, eventhandler.Options{
		Connect: func(_ context.Context, req *eventhandler.ConnectRequest) (*eventhandler.ConnectResponse, error) {
			connects <- req
			if req.MQTTProperties != nil && string(req.MQTTProperties.Password) != "secret" {
				return nil, eventhandler.Reject(401, "wrong password")
			}
			return &eventhandler.ConnectResponse{MQTT: &eventhandler.MQTTConnectResponseProperties{
				UserProperties: []eventhandler.MQTTUserProperty{{Name: "welcome", Value: "yes"}},
			}}, nil
		},
		Disconnected: func(_ context.Context, req *eventhandler.DisconnectedRequest) error {
			disconnects <- req
			return nil
		},
	})
	for _, tc := range []struct {
		name          string
		version       byte
		rejectedCode  byte
		rejectedWords string
	}{{"3.1.1", 4, 5, ""}, {"5.0", 5, 0x87, "wrong password"}} {
		t.Run(tc.name, func(t *testing.T) {
			x := *x
			x.t = t
			ws, ack := x.mqttConnack(tc.version, "dev"+tc.name[:1], "alice", "secret")
			req := <-connects
			if req.MQTT == nil || req.MQTTProperties == nil || req.MQTTProperties.ProtocolVersion != int(tc.version) ||
				req.MQTTProperties.Username != "alice" || req.ConnectionID != "dev"+tc.name[:1] {
				t.Fatalf("connect request %+v, mqtt %+v", req, req.MQTTProperties)
			}
			if ack.ReasonCode != 0 {
				t.Fatalf("CONNACK %#x; want accepted", ack.ReasonCode)
			}
			if tc.version == 5 && (len(ack.Properties.User) != 1 || ack.Properties.User[0].Key != "welcome") {
				t.Errorf("CONNACK user properties %+v; want welcome=yes", ack.Properties.User)
			}
			_ = ws.CloseNow() // a cut: not a DISCONNECT
			if d := <-disconnects; d.MQTTProperties == nil || !d.MQTTProperties.InitiatedByClient || d.MQTTProperties.DisconnectPacket != nil {
				t.Errorf("disconnected mqtt %+v; want initiated by the client without a packet", d.MQTTProperties)
			}

			_, ack = x.mqttConnack(tc.version, "bad"+tc.name[:1], "alice", "guess")
			<-connects
			if ack.ReasonCode != tc.rejectedCode || ack.Properties.ReasonString != tc.rejectedWords {
				t.Fatalf("rejected CONNACK %#x %q; want %#x %q", ack.ReasonCode, ack.Properties.ReasonString, tc.rejectedCode, tc.rejectedWords)
			}
		})
	}
}
