package emulator

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/gowebpubsub/webpubsub/internal/cloudevents"
	"github.com/gowebpubsub/webpubsub/internal/protocol"
)

const restAPI = "?api-version=2024-12-01"

func TestMQTTHandshake(t *testing.T) {
	te := startEmulator(t, Options{})
	tests := []struct {
		name         string
		hub, token   string
		bearer       bool
		subprotocols []string
		status       int
	}{
		{name: "query token", hub: "chat", token: te.mqttToken("chat", nil), subprotocols: []string{"mqtt"}, status: http.StatusSwitchingProtocols},
		{name: "bearer token", hub: "chat", token: te.mqttToken("chat", nil), bearer: true, subprotocols: []string{"mqtt"}, status: http.StatusSwitchingProtocols},
		{name: "client endpoint token", hub: "chat", token: te.clientToken("chat", nil), subprotocols: []string{"mqtt"}, status: http.StatusSwitchingProtocols},
		{name: "no subprotocol", hub: "chat", token: te.mqttToken("chat", nil), status: http.StatusBadRequest},
		{name: "other subprotocol", hub: "chat", token: te.mqttToken("chat", nil), subprotocols: []string{"json.webpubsub.azure.v1"}, status: http.StatusBadRequest},
		{name: "no token", hub: "chat", subprotocols: []string{"mqtt"}, status: http.StatusUnauthorized},
		{name: "token of another hub", hub: "chat", token: te.mqttToken("other", nil), subprotocols: []string{"mqtt"}, status: http.StatusUnauthorized},
		{name: "invalid hub", hub: "9chat", token: te.mqttToken("9chat", nil), subprotocols: []string{"mqtt"}, status: http.StatusBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ws, resp, err := te.with(t).mqttDial(tc.hub, tc.token, tc.bearer, tc.subprotocols...)
			if resp == nil {
				t.Fatalf("no response: %v", err)
			}
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d; want %d (%v)", resp.StatusCode, tc.status, err)
			}
			if ws != nil {
				if ws.Subprotocol() != "mqtt" {
					t.Errorf("subprotocol %q; want mqtt", ws.Subprotocol())
				}
				_ = ws.CloseNow()
			}
		})
	}
}

func TestMQTTConnect(t *testing.T) {
	te := startEmulator(t, Options{})
	const noConnack = -1
	tests := []struct {
		name     string
		id       string
		edit     func(*packets.Packet)
		v311, v5 int // CONNACK code per version; noConnack: closed without one
	}{
		{name: "accepted", id: "device1"},
		{name: "longest id", id: strings.Repeat("a", 128)},
		{name: "id too long", id: strings.Repeat("a", 129), v311: 0x02, v5: 0x85},
		{name: "id with underscore", id: "mqttjs_1", v311: 0x02, v5: 0x85},
		{name: "empty id", id: "", v311: 0x02, v5: 0},
		{name: "keep-alive 0", id: "k0", edit: func(p *packets.Packet) { p.Connect.Keepalive = 0 }, v311: noConnack, v5: 0},
		{name: "keep-alive 180", id: "k180", edit: func(p *packets.Packet) { p.Connect.Keepalive = 180 }},
		{name: "keep-alive 181", id: "k181", edit: func(p *packets.Packet) { p.Connect.Keepalive = 181 }, v311: noConnack, v5: 0},
		{name: "will", id: "w1", edit: will("status", []byte("gone"))},
		{name: "blank will topic", id: "w2", edit: will(" \t", []byte("gone")), v311: noConnack, v5: 0x90},
		{name: "will topic too long", id: "w3", edit: will(strings.Repeat("t", 1025), []byte("gone")), v311: noConnack, v5: 0x90},
		{name: "will message too large", id: "w4", edit: will("status", make([]byte, 2001)), v311: noConnack, v5: 0x95},
		{name: "will message at the limit", id: "w5", edit: will("status", make([]byte, 2000))},
		{name: "retained will", id: "w6", edit: func(p *packets.Packet) { will("status", []byte("x"))(p); p.Connect.WillRetain = true }, v311: noConnack, v5: 0x9A},
		{name: "enhanced authentication", id: "auth1", edit: func(p *packets.Packet) { p.Properties.AuthenticationMethod = "SCRAM-SHA-1" }, v311: 0, v5: 0x8C},
		{name: "protocol level 3", id: "old", edit: func(p *packets.Packet) { p.ProtocolVersion = 3; p.Connect.ProtocolName = []byte("MQIsdp") }, v311: 0x01, v5: 0x01},
	}
	for _, v := range mqttVersions {
		for _, tc := range tests {
			t.Run(v.name+"/"+tc.name, func(t *testing.T) {
				te := te.with(t)
				c, ack, ok := te.mqttConnect(v.version, tc.id, nil, tc.edit)
				want := tc.v311
				if v.version == mqttV5 {
					want = tc.v5
				}
				if want == noConnack {
					if ok {
						t.Fatalf("got %s; want the connection closed without CONNACK", packets.PacketNames[ack.FixedHeader.Type])
					}
					return
				}
				if !ok || ack.FixedHeader.Type != packets.Connack {
					t.Fatalf("got %+v (ok %v); want CONNACK", ack.FixedHeader, ok)
				}
				if int(ack.ReasonCode) != want {
					t.Fatalf("CONNACK code %#x; want %#x", ack.ReasonCode, want)
				}
				if want != 0 {
					if more := c.expectClosed(); len(more) != 0 {
						t.Fatalf("after a refusal got %d packets", len(more))
					}
					return
				}
				id := te.waitRegistered()
				if tc.id != "" && id != tc.id {
					t.Fatalf("connection id %s; want the client id %s", id, tc.id)
				}
				if tc.id == "" && ack.Properties.AssignedClientID != id {
					t.Fatalf("assigned client id %q; want the connection id %s", ack.Properties.AssignedClientID, id)
				}
				if v.version == mqttV5 {
					p := ack.Properties
					if !p.RetainAvailableFlag || p.RetainAvailable != 0 || !p.WildcardSubAvailableFlag || p.WildcardSubAvailable != 0 ||
						!p.SharedSubAvailableFlag || p.SharedSubAvailable != 0 {
						t.Errorf("CONNACK properties %+v; want retain, wildcard and shared subscriptions unavailable", p)
					}
				}
				if r := te.rest("HEAD", "/api/hubs/chat/connections/"+id+restAPI, "", nil); r.status != http.StatusOK {
					t.Fatalf("ConnectionExists: %d", r.status)
				}
				c.send(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}})
				c.expectClosed()
				te.waitEnded(id)
			})
		}
	}
}

// will sets the will of a CONNECT.
func will(topic string, payload []byte) func(*packets.Packet) {
	return func(p *packets.Packet) {
		p.Connect.WillFlag, p.Connect.WillTopic, p.Connect.WillPayload = true, topic, payload
	}
}

func TestMQTTSubscribe(t *testing.T) {
	te := startEmulator(t, Options{})
	roles := jwt.MapClaims{"role": []string{"webpubsub.joinLeaveGroup.g1", "webpubsub.joinLeaveGroups.team-*"}}
	tests := []struct {
		filter   string
		qos      byte
		v311, v5 byte
	}{
		{filter: "g1", qos: 0, v311: 0, v5: 0},
		{filter: "g1", qos: 1, v311: 1, v5: 1},
		{filter: "g1", qos: 2, v311: 2, v5: 2},
		{filter: "team-red", qos: 1, v311: 1, v5: 1},
		{filter: "g2", qos: 1, v311: 0x80, v5: 0x87},
		{filter: "g1/+", qos: 1, v311: 0x80, v5: 0xA2},
		{filter: "#", qos: 1, v311: 0x80, v5: 0xA2},
		{filter: "$share/s/g1", qos: 1, v311: 0x80, v5: 0x9E},
		{filter: " ", qos: 1, v311: 0x80, v5: 0x8F},
	}
	for _, v := range mqttVersions {
		t.Run(v.name, func(t *testing.T) {
			te := te.with(t)
			c := te.mqtt(v.version, "sub"+strings.ReplaceAll(v.name, ".", ""), roles)
			for _, tc := range tests {
				want := tc.v311
				if v.version == mqttV5 {
					want = tc.v5
				}
				if got := c.subscribe(tc.qos, tc.filter); len(got) != 1 || got[0] != want {
					t.Errorf("SUBSCRIBE %q QoS %d: codes %#v; want %#x", tc.filter, tc.qos, got, want)
				}
			}
			// The accepted subscriptions are group memberships.
			for g, want := range map[string]bool{"g1": true, "team-red": true, "g2": false} {
				if got := slices.Contains(te.GroupMembers("chat", g), c.id); got != want {
					t.Errorf("in group %s: %v; want %v", g, got, want)
				}
			}
			pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Unsubscribe, Qos: 1}, PacketID: c.packetID(),
				Filters: packets.Subscriptions{{Filter: "g1"}, {Filter: "g1"}}}
			c.send(&pk)
			ack := c.expect(packets.Unsuback)
			if v.version == mqttV5 && !bytes.Equal(ack.ReasonCodes, []byte{0, 0x11}) {
				t.Errorf("UNSUBACK codes %#v; want success, then no subscription existed", ack.ReasonCodes)
			}
			if slices.Contains(te.GroupMembers("chat", "g1"), c.id) {
				t.Error("still in g1 after UNSUBSCRIBE")
			}
		})
	}
}

func TestMQTTPubSub(t *testing.T) {
	te := startEmulator(t, Options{})
	all := jwt.MapClaims{"role": []string{"webpubsub.joinLeaveGroup", "webpubsub.sendToGroup"}}
	v3 := te.mqtt(mqttV311, "old", all)
	v5 := te.mqtt(mqttV5, "new", all)
	js := te.pubsub(all)
	for _, c := range []*mqttClient{v3, v5} {
		if got := c.subscribe(1, "room"); !bytes.Equal(got, []byte{1}) {
			t.Fatalf("SUBSCRIBE: %#v", got)
		}
	}
	js.JoinGroup("room")

	// read checks the next PUBLISH of c.
	read := func(t testing.TB, c *mqttClient, topic string, qos byte, payload, contentType string) packets.Packet {
		t.Helper()
		pk := c.readPublish()
		if pk.TopicName != topic || pk.FixedHeader.Qos != qos || string(pk.Payload) != payload {
			t.Fatalf("%s got PUBLISH %q QoS %d %q; want %q QoS %d %q", c.id, pk.TopicName, pk.FixedHeader.Qos, pk.Payload, topic, qos, payload)
		}
		if c.version == mqttV5 && pk.Properties.ContentType != contentType {
			t.Fatalf("%s got content type %q; want %q", c.id, pk.Properties.ContentType, contentType)
		}
		return pk
	}

	t.Run("3.1.1 publish", func(t *testing.T) {
		if code := v3.publish("room", 1, []byte("from 3"), nil); code != 0 {
			t.Fatalf("PUBACK %#x", code)
		}
		read(t, v3, "room", 1, "from 3", "")
		read(t, v5, "room", 1, "from 3", "")
		js.ExpectMessage(protocol.DataTypeBinary, "from 3")
	})
	t.Run("5.0 publish with content type and user properties", func(t *testing.T) {
		props := &packets.Properties{ContentType: "text/plain", User: []packets.UserProperty{{Key: "k", Val: "v"}}}
		v5.publish("room", 0, []byte("from 5"), props)
		read(t, v3, "room", 0, "from 5", "")
		pk := read(t, v5, "room", 0, "from 5", "text/plain")
		if len(pk.Properties.User) != 1 || pk.Properties.User[0] != (packets.UserProperty{Key: "k", Val: "v"}) {
			t.Errorf("user properties %+v; want k=v", pk.Properties.User)
		}
		f := js.ExpectMessage(protocol.DataTypeText, "from 5")
		if f.FromUserID != "" || f.Group != "room" {
			t.Errorf("JSON frame %+v; want group room", f)
		}
	})
	t.Run("5.0 publish of invalid JSON", func(t *testing.T) {
		if code := v5.publish("room", 1, []byte("{"), &packets.Properties{ContentType: "application/json"}); code != 0x99 {
			t.Fatalf("PUBACK %#x; want payload format invalid", code)
		}
	})
	t.Run("JSON client to MQTT", func(t *testing.T) {
		if r := js.SendToGroup("room", protocol.DataTypeJSON, []byte(`{"a":1}`), true); r.ErrorName() != "" {
			t.Fatalf("sendToGroup: %s", r.ErrorName())
		}
		read(t, v3, "room", 1, `{"a":1}`, "")
		read(t, v5, "room", 1, `{"a":1}`, "application/json")
	})
	t.Run("REST to group, all, user and connection", func(t *testing.T) {
		if r := te.rest("POST", "/api/hubs/chat/groups/room/:send"+restAPI, "text/plain", []byte("to group")); r.status != 202 {
			t.Fatalf("send to group: %d", r.status)
		}
		read(t, v3, "room", 1, "to group", "")
		read(t, v5, "room", 1, "to group", "text/plain")
		js.ExpectMessage(protocol.DataTypeText, "to group")
		if r := te.rest("POST", "/api/hubs/chat/:send"+restAPI, "application/octet-stream", []byte{1, 2}); r.status != 202 {
			t.Fatalf("send to all: %d", r.status)
		}
		read(t, v3, mqttServerTopic, 1, "\x01\x02", "")
		read(t, v5, mqttServerTopic, 1, "\x01\x02", "application/octet-stream")
		js.ExpectMessage(protocol.DataTypeBinary, "\x01\x02")
		if r := te.rest("POST", "/api/hubs/chat/connections/new/:send"+restAPI, "text/plain", []byte("to you")); r.status != 202 {
			t.Fatalf("send to connection: %d", r.status)
		}
		read(t, v5, mqttServerTopic, 1, "to you", "text/plain")
		v3.ping()
	})
	t.Run("QoS follows the subscription", func(t *testing.T) {
		v3.subscribe(0, "room")
		te.rest("POST", "/api/hubs/chat/groups/room/:send"+restAPI, "text/plain", []byte("downgraded"))
		read(t, v3, "room", 0, "downgraded", "")
		read(t, v5, "room", 1, "downgraded", "text/plain")
		js.ExpectMessage(protocol.DataTypeText, "downgraded")
	})
	t.Run("QoS 2 publish", func(t *testing.T) {
		v5.subscribe(2, "room")
		pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 2}, TopicName: "room", PacketID: 77, Payload: []byte("once")}
		v3.send(&pk)
		v3.expect(packets.Pubrec)
		pk.FixedHeader.Dup = true
		v3.send(&pk) // a retransmission is not delivered again
		v3.expect(packets.Pubrec)
		v3.send(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pubrel, Qos: 1}, PacketID: 77})
		if got := v3.expect(packets.Pubcomp); got.PacketID != 77 {
			t.Fatalf("PUBCOMP for %d", got.PacketID)
		}
		read(t, v3, "room", 0, "once", "")
		read(t, v5, "room", 2, "once", "")
		js.ExpectMessage(protocol.DataTypeBinary, "once")
		v5.ping()
	})
}

func TestMQTTPermissionsAndRefusals(t *testing.T) {
	te := startEmulator(t, Options{})
	for _, v := range mqttVersions {
		t.Run(v.name, func(t *testing.T) {
			te := te.with(t)
			name := strings.ReplaceAll(v.name, ".", "")
			listener := te.mqtt(mqttV5, "listener"+name, jwt.MapClaims{"role": []string{"webpubsub.joinLeaveGroup"}})
			listener.subscribe(1, "locked"+name)
			c := te.mqtt(v.version, "limited"+name, nil)

			// No permission: 5.0 learns why, 3.1.1 gets a positive ack.
			want := byte(0x87)
			if v.version == mqttV311 {
				want = 0
			}
			if code := c.publish("locked"+name, 1, []byte("no"), nil); code != want {
				t.Fatalf("PUBACK %#x; want %#x", code, want)
			}
			if got := c.subscribe(1, "locked"+name); got[0] < 0x80 {
				t.Fatalf("SUBSCRIBE without permission: %#x", got[0])
			}

			// A REST grant makes both work.
			for _, p := range []string{"sendToGroup", "joinLeaveGroup"} {
				if r := te.rest("PUT", "/api/hubs/chat/permissions/"+p+"/connections/"+c.id+restAPI+"&targetName=locked"+name, "", nil); r.status != 200 {
					t.Fatalf("grant %s: %d %s", p, r.status, r.body)
				}
			}
			if code := c.publish("locked"+name, 1, []byte("yes"), nil); code != 0 {
				t.Fatalf("PUBACK after grant %#x", code)
			}
			if pk := listener.readPublish(); string(pk.Payload) != "yes" {
				t.Fatalf("listener got %q; want only the permitted publish", pk.Payload)
			}
			if got := c.subscribe(1, "locked"+name); got[0] != 1 {
				t.Fatalf("SUBSCRIBE after grant: %#x", got[0])
			}

			// REST membership: adding is a subscription, removing ends it.
			if r := te.rest("PUT", "/api/hubs/chat/groups/extra/connections/"+c.id+restAPI, "", nil); r.status != 200 {
				t.Fatalf("add to group: %d", r.status)
			}
			te.rest("POST", "/api/hubs/chat/groups/extra/:send"+restAPI, "text/plain", []byte("extra"))
			if pk := c.readPublish(); pk.TopicName != "extra" || pk.FixedHeader.Qos != 1 {
				t.Fatalf("got %q QoS %d; want extra QoS 1", pk.TopicName, pk.FixedHeader.Qos)
			}

			// A retained PUBLISH ends the connection.
			pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Retain: true}, TopicName: "locked" + name, Payload: []byte("r")}
			c.send(&pk)
			got := c.expectClosed()
			if v.version == mqttV5 && (len(got) != 1 || got[0].FixedHeader.Type != packets.Disconnect || got[0].ReasonCode != 0x9A) {
				t.Fatalf("after a retained PUBLISH got %+v; want DISCONNECT 0x9A", got)
			}
			if v.version == mqttV311 && len(got) != 0 {
				t.Fatalf("after a retained PUBLISH got %d packets", len(got))
			}
			te.waitEnded(c.id)
		})
	}
}

func TestMQTTCloseAndTakeOver(t *testing.T) {
	te := startEmulator(t, Options{})
	c := te.mqtt(mqttV5, "dev", nil)
	if r := te.rest("DELETE", "/api/hubs/chat/connections/dev"+restAPI+"&reason=maintenance", "", nil); r.status != 204 && r.status != 200 {
		t.Fatalf("CloseConnection: %d", r.status)
	}
	got := c.expectClosed()
	if len(got) != 1 || got[0].FixedHeader.Type != packets.Disconnect || got[0].ReasonCode != 0x98 || got[0].Properties.ReasonString != "maintenance" {
		t.Fatalf("got %+v; want DISCONNECT 0x98 'maintenance'", got)
	}
	te.waitEnded("dev")
	if r := te.rest("HEAD", "/api/hubs/chat/connections/dev"+restAPI, "", nil); r.status != http.StatusNotFound {
		t.Fatalf("ConnectionExists after close: %d", r.status)
	}

	first := te.mqtt(mqttV5, "same", nil)
	second := te.mqtt(mqttV311, "same", nil)
	got = first.expectClosed()
	if len(got) != 1 || got[0].ReasonCode != 0x8E {
		t.Fatalf("taken-over connection got %+v; want DISCONNECT 0x8E", got)
	}
	second.ping()
	if r := te.rest("HEAD", "/api/hubs/chat/connections/same"+restAPI, "", nil); r.status != http.StatusOK {
		t.Fatalf("the new connection does not exist: %d", r.status)
	}
}

func TestMQTTWill(t *testing.T) {
	te := startEmulator(t, Options{})
	watcher := te.mqtt(mqttV5, "watcher", jwt.MapClaims{"role": []string{"webpubsub.joinLeaveGroup"}})
	watcher.subscribe(1, "status")
	send := jwt.MapClaims{"role": []string{"webpubsub.sendToGroup.status"}}
	for _, v := range mqttVersions {
		for _, cut := range []bool{true, false} {
			name := "clean"
			if cut {
				name = "cut"
			}
			t.Run(v.name+"/"+name, func(t *testing.T) {
				te := te.with(t)
				id := "dev" + name + strings.ReplaceAll(v.name, ".", "")
				c, ack, ok := te.mqttConnect(v.version, id, send, will("status", []byte(id+" gone")))
				if !ok || ack.ReasonCode != 0 {
					t.Fatalf("connect: %+v", ack)
				}
				te.waitRegistered()
				if cut {
					_ = c.ws.CloseNow()
				} else {
					c.send(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}})
				}
				te.waitEnded(id)
				// The will is published in the background once the
				// connection ended, so a REST send after the end may come
				// before or after it: the watcher gets both after a cut,
				// only the REST send after a DISCONNECT (which drops the
				// will before the connection ends).
				te.rest("POST", "/api/hubs/chat/groups/status/:send"+restAPI, "text/plain", []byte("barrier"))
				want := map[string]bool{"barrier": true}
				if cut {
					want[id+" gone"] = true
				}
				for len(want) > 0 {
					pk := watcher.readPublish()
					if !want[string(pk.Payload)] {
						t.Fatalf("got %q; want one of %v", pk.Payload, want)
					}
					delete(want, string(pk.Payload))
				}
			})
		}
	}
}

func TestMQTTSplitAndCoalescedPackets(t *testing.T) {
	te := startEmulator(t, Options{})
	for _, v := range mqttVersions {
		t.Run(v.name, func(t *testing.T) {
			te := te.with(t)
			c := te.mqtt(v.version, "split"+strings.ReplaceAll(v.name, ".", ""), nil)
			ping := encodeMQTT(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pingreq}})
			two := append(append([]byte{}, ping...), ping...)
			c.sendRaw(two[:1])
			c.sendRaw(two[1:3])
			c.sendRaw(two[3:])
			c.expect(packets.Pingresp)
			c.expect(packets.Pingresp)
			c.sendRaw([]byte{0xF0, 0x00}) // AUTH is not supported
			got := c.expectClosed()
			if v.version == mqttV5 && (len(got) != 1 || got[0].FixedHeader.Type != packets.Disconnect) {
				t.Fatalf("got %+v; want DISCONNECT", got)
			}
		})
	}
}

func TestMQTTUpstream(t *testing.T) {
	for _, v := range mqttVersions {
		t.Run(v.name, func(t *testing.T) {
			fu := newFakeUpstream(t, func(r *recordedRequest) fakeResponse {
				if r.ceType() == ceTypeConnect {
					return fakeResponse{status: 200, body: []byte(`{"userId":"u1","roles":["webpubsub.joinLeaveGroup"],"mqtt":{"userProperties":[{"name":"a","value":"b"}]}}`)}
				}
				return fakeResponse{}
			})
			te := startEmulator(t, fu.handlerOptions("", "connect", "connected", "disconnected"))
			c, ack, ok := te.mqttConnect(v.version, "dev1", nil, func(p *packets.Packet) {
				p.Connect.UsernameFlag, p.Connect.Username = true, []byte("user")
				p.Connect.PasswordFlag, p.Connect.Password = true, []byte("pw")
				p.Properties.User = []packets.UserProperty{{Key: "k", Val: "v"}}
			})
			if !ok || ack.ReasonCode != 0 {
				t.Fatalf("CONNACK %+v (ok %v)", ack.FixedHeader, ok)
			}
			if v.version == mqttV5 && (len(ack.Properties.User) != 1 || ack.Properties.User[0] != (packets.UserProperty{Key: "a", Val: "b"})) {
				t.Errorf("CONNACK user properties %+v; want the handler's a=b", ack.Properties.User)
			}
			te.waitRegistered()

			connect := fu.next(t, ceTypeConnect)
			if sp, phys, sess := connect.header.Get("ce-subprotocol"), connect.header.Get("ce-physicalConnectionId"), connect.header.Get("ce-sessionId"); sp != "mqtt" || phys == "" || sess != "" {
				t.Errorf("connect headers: subprotocol %q, physicalConnectionId %q, sessionId %q; want mqtt, an id, none", sp, phys, sess)
			}
			var body struct {
				MQTT struct {
					ProtocolVersion int                            `json:"protocolVersion"`
					CleanStart      bool                           `json:"cleanStart"`
					Username        string                         `json:"username"`
					Password        string                         `json:"password"`
					UserProperties  []cloudevents.MQTTUserProperty `json:"userProperties"`
				} `json:"mqtt"`
			}
			if err := json.Unmarshal(connect.body, &body); err != nil {
				t.Fatal(err)
			}
			m := body.MQTT
			wantProps := []cloudevents.MQTTUserProperty{}
			if v.version == mqttV5 {
				wantProps = []cloudevents.MQTTUserProperty{{Name: "k", Value: "v"}}
			}
			if m.ProtocolVersion != int(v.version) || !m.CleanStart || m.Username != "user" || m.Password != "cHc=" || !slices.Equal(m.UserProperties, wantProps) {
				t.Errorf("connect mqtt object %+v", m)
			}
			connected := fu.next(t, ceTypeConnected)
			if connected.header.Get("ce-sessionId") == "" || connected.header.Get("ce-userId") != "u1" {
				t.Errorf("connected headers %v; want a session id and the handler's user", connected.header)
			}
			// The handler's roles apply.
			if got := c.subscribe(1, "room"); got[0] != 1 {
				t.Errorf("SUBSCRIBE with the handler's role: %#x", got[0])
			}
			dis := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}}
			dis.Properties.User = []packets.UserProperty{{Key: "bye", Val: "now"}}
			c.send(&dis)
			c.expectClosed()
			var gone struct {
				MQTT struct {
					InitiatedByClient bool                `json:"initiatedByClient"`
					DisconnectPacket  *mqttDisconnectInfo `json:"disconnectPacket"`
				} `json:"mqtt"`
			}
			if err := json.Unmarshal(fu.next(t, ceTypeDisconnected).body, &gone); err != nil {
				t.Fatal(err)
			}
			if !gone.MQTT.InitiatedByClient || gone.MQTT.DisconnectPacket == nil || gone.MQTT.DisconnectPacket.Code != 0 {
				t.Errorf("disconnected mqtt object %+v; want initiated by the client, with its packet", gone.MQTT)
			}
			if v.version == mqttV5 && !slices.Equal(gone.MQTT.DisconnectPacket.UserProperties, []cloudevents.MQTTUserProperty{{Name: "bye", Value: "now"}}) {
				t.Errorf("DISCONNECT user properties %+v", gone.MQTT.DisconnectPacket.UserProperties)
			}

			// A REST close is not initiated by the client.
			c2 := te.mqtt(v.version, "dev2", nil)
			fu.next(t, ceTypeConnect)
			fu.next(t, ceTypeConnected)
			te.rest("DELETE", "/api/hubs/chat/connections/dev2"+restAPI, "", nil)
			c2.expectClosed()
			gone.MQTT.DisconnectPacket = nil
			if err := json.Unmarshal(fu.next(t, ceTypeDisconnected).body, &gone); err != nil {
				t.Fatal(err)
			}
			if gone.MQTT.InitiatedByClient || gone.MQTT.DisconnectPacket != nil {
				t.Errorf("disconnected mqtt object after CloseConnection %+v; want initiated by the service, no packet", gone.MQTT)
			}
		})
	}
}

func TestMQTTConnectRejectedByHandler(t *testing.T) {
	tests := []struct {
		name     string
		status   int
		body     string
		v311, v5 byte
		reason   string // of the 5.0 CONNACK
	}{
		{name: "handler code", status: 401, body: `{"mqtt":{"code":4,"reason":"nope"}}`, v311: 4, v5: 0x80, reason: "nope"},
		{name: "5.0 code", status: 401, body: `{"mqtt":{"code":134,"reason":"bad password"}}`, v311: 3, v5: 0x86, reason: "bad password"},
		{name: "no mqtt body, 401", status: 401, body: "no", v311: 5, v5: 0x87},
		{name: "no mqtt body, 500", status: 500, v311: 3, v5: 0x80},
	}
	for _, tc := range tests {
		for _, v := range mqttVersions {
			t.Run(tc.name+"/"+v.name, func(t *testing.T) {
				fu := newFakeUpstream(t, func(r *recordedRequest) fakeResponse {
					return fakeResponse{status: tc.status, body: []byte(tc.body)}
				})
				te := startEmulator(t, fu.handlerOptions("", "connect"))
				c, ack, ok := te.mqttConnect(v.version, "dev", nil, nil)
				want := tc.v311
				if v.version == mqttV5 {
					want = tc.v5
				}
				if !ok || ack.ReasonCode != want {
					t.Fatalf("CONNACK %#x (ok %v); want %#x", ack.ReasonCode, ok, want)
				}
				if v.version == mqttV5 && ack.Properties.ReasonString != tc.reason {
					t.Errorf("reason %q; want %q", ack.Properties.ReasonString, tc.reason)
				}
				c.expectClosed()
			})
		}
	}
}

func TestMQTT5Properties(t *testing.T) {
	te := startEmulator(t, Options{})
	all := jwt.MapClaims{"role": []string{"webpubsub.joinLeaveGroup", "webpubsub.sendToGroup"}}
	a := te.mqtt(mqttV5, "propsA", all)
	b := te.mqtt(mqttV5, "propsB", all)
	sub := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: a.packetID(),
		Filters: packets.Subscriptions{{Filter: "props", Qos: 1, NoLocal: true}}}
	sub.Properties.SubscriptionIdentifier = []int{7}
	a.send(&sub)
	if ack := a.expect(packets.Suback); !bytes.Equal(ack.ReasonCodes, []byte{1}) {
		t.Fatalf("SUBACK %#v", ack.ReasonCodes)
	}
	b.subscribe(1, "props")

	props := &packets.Properties{MessageExpiryInterval: 60, ResponseTopic: "reply", CorrelationData: []byte("c1"),
		PayloadFormat: 1, PayloadFormatFlag: true}
	if code := a.publish("props", 1, []byte("req"), props); code != 0 {
		t.Fatalf("PUBACK %#x", code)
	}
	pk := b.readPublish()
	p := pk.Properties
	if string(pk.Payload) != "req" || p.MessageExpiryInterval != 60 || p.ResponseTopic != "reply" || string(p.CorrelationData) != "c1" || p.ContentType != "" {
		t.Fatalf("forwarded PUBLISH %q with %+v; want the publisher's expiry, response topic and correlation data, no content type", pk.Payload, p)
	}
	// No-local: the publisher did not get its own message, and the
	// subscription identifier comes with what it does get.
	te.rest("POST", "/api/hubs/chat/groups/props/:send"+restAPI, "application/json", []byte(`{"x":1}`))
	pk = a.readPublish()
	if string(pk.Payload) != `{"x":1}` || !slices.Equal(pk.Properties.SubscriptionIdentifier, []int{7}) {
		t.Fatalf("got %q with subscription ids %v; want the REST send with 7 (and not the own publish)", pk.Payload, pk.Properties.SubscriptionIdentifier)
	}
	b.readPublish()
}

func TestMQTTKeepAlive(t *testing.T) {
	for _, v := range mqttVersions {
		t.Run(v.name, func(t *testing.T) {
			clock := NewFakeClock(time.Unix(1_700_000_000, 0))
			te := startEmulator(t, Options{Clock: clock})
			c, ack, ok := te.mqttConnect(v.version, "sleepy", nil, func(p *packets.Packet) { p.Connect.Keepalive = 10 })
			if !ok || ack.ReasonCode != 0 {
				t.Fatalf("CONNACK %+v", ack.FixedHeader)
			}
			te.waitRegistered()
			ctx, cancel := contextWithTimeout()
			defer cancel()
			if err := clock.WaitTimers(ctx, 15*time.Second, 1); err != nil {
				t.Fatal("no keep-alive timer of 1.5 × 10 s")
			}
			clock.Advance(10 * time.Second)
			c.ping() // a packet restarts the silence
			clock.Advance(6 * time.Second)
			c.ping() // still open after 16 s in all, 6 s of silence
			clock.Advance(15 * time.Second)
			got := c.expectClosed()
			if v.version == mqttV5 && (len(got) != 1 || got[0].FixedHeader.Type != packets.Disconnect || got[0].ReasonCode != 0x8D) {
				t.Fatalf("got %+v; want DISCONNECT 0x8D", got)
			}
			if v.version == mqttV311 && len(got) != 0 {
				t.Fatalf("got %d packets; want the connection closed", len(got))
			}
			te.waitEnded("sleepy")
		})
	}
}

func TestMQTTPersistentSession(t *testing.T) {
	te := startEmulator(t, Options{})
	join := jwt.MapClaims{"role": []string{"webpubsub.joinLeaveGroup"}}
	persistent := func(p *packets.Packet) {
		p.Connect.Clean = false
		if p.ProtocolVersion == mqttV5 {
			p.Properties.SessionExpiryInterval, p.Properties.SessionExpiryIntervalFlag = 60, true
		}
	}
	for _, v := range mqttVersions {
		t.Run(v.name, func(t *testing.T) {
			te := te.with(t)
			id := "session" + strings.ReplaceAll(v.name, ".", "")
			group := "news" + id
			c, ack, ok := te.mqttConnect(v.version, id, join, persistent)
			if !ok || ack.ReasonCode != 0 || ack.SessionPresent {
				t.Fatalf("first CONNACK %+v present %v", ack.FixedHeader, ack.SessionPresent)
			}
			te.waitRegistered()
			if v.version == mqttV5 && (!ack.Properties.SessionExpiryIntervalFlag || ack.Properties.SessionExpiryInterval != 30) {
				t.Errorf("CONNACK session expiry %d; want the 30 s the emulator keeps", ack.Properties.SessionExpiryInterval)
			}
			c.subscribe(1, group)
			if code := c.subscribe(0, group+"-qos0"); code[0] != 0 {
				t.Fatalf("SUBSCRIBE QoS 0: %#x", code[0])
			}
			te.rest("POST", "/api/hubs/chat/groups/"+group+"-qos0/:send"+restAPI, "text/plain", []byte("online qos0"))
			if pk := c.readPublish(); string(pk.Payload) != "online qos0" {
				t.Fatalf("got %q", pk.Payload)
			}

			// A cut keeps the session: messages wait for the next CONNECT.
			_ = c.ws.CloseNow()
			te.waitDetached(id)
			te.rest("POST", "/api/hubs/chat/groups/"+group+"/:send"+restAPI, "text/plain", []byte("while away"))
			c, ack, ok = te.mqttConnect(v.version, id, join, persistent)
			if !ok || ack.ReasonCode != 0 || !ack.SessionPresent {
				t.Fatalf("resuming CONNACK %+v present %v; want the session present", ack.FixedHeader, ack.SessionPresent)
			}
			if pk := c.readPublish(); string(pk.Payload) != "while away" || pk.FixedHeader.Qos != 1 {
				t.Fatalf("got %q QoS %d; want the message sent while away", pk.Payload, pk.FixedHeader.Qos)
			}
			te.rest("POST", "/api/hubs/chat/groups/"+group+"/:send"+restAPI, "text/plain", []byte("back"))
			if pk := c.readPublish(); string(pk.Payload) != "back" {
				t.Fatalf("got %q; want the subscription kept", pk.Payload)
			}

			// A DISCONNECT keeps it too; a clean CONNECT discards it.
			c.send(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}})
			c.expectClosed()
			te.waitDetached(id)
			c, ack, ok = te.mqttConnect(v.version, id, join, nil)
			if !ok || ack.ReasonCode != 0 || ack.SessionPresent {
				t.Fatalf("clean CONNACK %+v present %v; want a new session", ack.FixedHeader, ack.SessionPresent)
			}
			te.waitEnded(id)
			te.waitRegistered()
			if slices.Contains(te.GroupMembers("chat", group), id) {
				t.Fatal("the clean session kept the old subscription")
			}
			c.ping()
		})
	}
}

func TestMQTTSessionExpires(t *testing.T) {
	clock := NewFakeClock(time.Unix(1_700_000_000, 0))
	te := startEmulator(t, Options{Clock: clock})
	keep := func(p *packets.Packet) { p.Connect.Clean = false }
	c, _, _ := te.mqttConnect(mqttV311, "brief", jwt.MapClaims{"role": []string{"webpubsub.joinLeaveGroup"}}, keep)
	te.waitRegistered()
	c.subscribe(1, "g")
	_ = c.ws.CloseNow()
	te.waitDetached("brief")
	ctx, cancel := contextWithTimeout()
	defer cancel()
	if err := clock.WaitTimers(ctx, DefaultReliableRetention, 1); err != nil {
		t.Fatal("no retention timer")
	}
	clock.Advance(DefaultReliableRetention)
	te.waitEnded("brief")
	_, ack, ok := te.mqttConnect(mqttV311, "brief", nil, keep)
	if !ok || ack.ReasonCode != 0 || ack.SessionPresent {
		t.Fatalf("CONNACK %+v present %v; want a new session after the retention", ack.FixedHeader, ack.SessionPresent)
	}
	te.waitRegistered()
	if slices.Contains(te.GroupMembers("chat", "g"), "brief") {
		t.Fatal("the expired session's subscription is back")
	}
}

// TestMQTTSessionSurvivesKeepAliveAndTakeOver: a keep-alive timeout of a
// persistent session is a lost network connection (the session waits),
// and a CONNECT that resumes a session whose connection is still open
// takes the session over.
func TestMQTTSessionSurvivesKeepAliveAndTakeOver(t *testing.T) {
	clock := NewFakeClock(time.Unix(1_700_000_000, 0))
	te := startEmulator(t, Options{Clock: clock})
	keep := func(p *packets.Packet) { p.Connect.Clean, p.Connect.Keepalive = false, 10 }
	join := jwt.MapClaims{"role": []string{"webpubsub.joinLeaveGroup"}}
	c, _, _ := te.mqttConnect(mqttV311, "idle", join, keep)
	te.waitRegistered()
	c.subscribe(1, "g")
	ctx, cancel := contextWithTimeout()
	defer cancel()
	if err := clock.WaitTimers(ctx, 15*time.Second, 1); err != nil {
		t.Fatal("no keep-alive timer")
	}
	clock.Advance(15 * time.Second)
	c.expectClosed()
	te.waitDetached("idle")

	first, ack, _ := te.mqttConnect(mqttV311, "idle", nil, keep)
	if !ack.SessionPresent {
		t.Fatal("the session did not survive the keep-alive timeout")
	}
	second, ack, _ := te.mqttConnect(mqttV311, "idle", nil, keep)
	if !ack.SessionPresent {
		t.Fatal("the second CONNECT did not resume the session")
	}
	first.expectClosed()
	te.rest("POST", "/api/hubs/chat/groups/g/:send"+restAPI, "text/plain", []byte("to the new one"))
	if pk := second.readPublish(); string(pk.Payload) != "to the new one" {
		t.Fatalf("got %q", pk.Payload)
	}
}

// TestMQTTWillDelay: a persistent MQTT 5 session publishes its will when
// the will delay ends without a resume, and not at all when it is resumed
// in time.
func TestMQTTWillDelay(t *testing.T) {
	clock := NewFakeClock(time.Unix(1_700_000_000, 0))
	te := startEmulator(t, Options{Clock: clock})
	watcher := te.mqtt(mqttV5, "watcher", jwt.MapClaims{"role": []string{"webpubsub.joinLeaveGroup"}})
	watcher.subscribe(1, "status")
	delayed := func(p *packets.Packet) {
		p.Connect.Clean = false
		p.Properties.SessionExpiryInterval, p.Properties.SessionExpiryIntervalFlag = 60, true
		will("status", []byte("gone"))(p)
		p.Connect.WillProperties.WillDelayInterval = 10
	}
	send := jwt.MapClaims{"role": []string{"webpubsub.sendToGroup"}}
	ctx, cancel := contextWithTimeout()
	defer cancel()
	for _, resume := range []bool{true, false} {
		c, _, _ := te.mqttConnect(mqttV5, "late", send, delayed)
		te.waitRegistered()
		_ = c.ws.CloseNow()
		te.waitDetached("late")
		if err := clock.WaitTimers(ctx, 10*time.Second, 1); err != nil {
			t.Fatal("no will delay timer")
		}
		clock.Advance(5 * time.Second)
		if resume {
			c, ack, _ := te.mqttConnect(mqttV5, "late", send, func(p *packets.Packet) {
				p.Connect.Clean = false
				p.Properties.SessionExpiryInterval, p.Properties.SessionExpiryIntervalFlag = 60, true
			})
			if !ack.SessionPresent {
				t.Fatal("not resumed")
			}
			clock.Advance(10 * time.Second) // past the delay: nothing
			c.send(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}, Properties: packets.Properties{SessionExpiryIntervalFlag: true}})
			c.expectClosed()
			te.waitEnded("late")
			continue
		}
		clock.Advance(5 * time.Second)
		te.rest("POST", "/api/hubs/chat/groups/status/:send"+restAPI, "text/plain", []byte("barrier"))
		want := map[string]bool{"gone": true, "barrier": true}
		for len(want) > 0 {
			pk := watcher.readPublish()
			if !want[string(pk.Payload)] {
				t.Fatalf("got %q; want one of %v (no will after the resume)", pk.Payload, want)
			}
			delete(want, string(pk.Payload))
		}
	}
	watcher.ping()
	if len(watcher.pending) != 0 {
		t.Fatalf("the watcher got %d more messages; want one will in all", len(watcher.pending))
	}
}

// TestMQTTPubrelResentOnResume: a QoS 2 exchange cut after the client's
// PUBREC is resumed with the emulator's PUBREL (MQTT §4.4), and the
// message is not sent again.
func TestMQTTPubrelResentOnResume(t *testing.T) {
	te := startEmulator(t, Options{})
	pub := te.mqtt(mqttV5, "qos2pub", jwt.MapClaims{"role": []string{"webpubsub.sendToGroup"}})
	persistent := func(p *packets.Packet) {
		p.Connect.Clean = false
		if p.ProtocolVersion == mqttV5 {
			p.Properties.SessionExpiryInterval, p.Properties.SessionExpiryIntervalFlag = 60, true
		}
	}
	join := jwt.MapClaims{"role": []string{"webpubsub.joinLeaveGroup"}}
	for _, v := range mqttVersions {
		t.Run(v.name, func(t *testing.T) {
			te := te.with(t)
			id := "exactly" + strings.ReplaceAll(v.name, ".", "")
			c, _, _ := te.mqttConnect(v.version, id, join, persistent)
			te.waitRegistered()
			c.subscribe(2, id)
			pub.publish(id, 2, []byte("once"), nil)
			in := c.expect(packets.Publish)
			if in.FixedHeader.Qos != 2 {
				t.Fatalf("QoS %d", in.FixedHeader.Qos)
			}
			c.send(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pubrec}, PacketID: in.PacketID})
			c.expect(packets.Pubrel)
			_ = c.ws.CloseNow() // cut before PUBCOMP
			te.waitDetached(id)

			c, ack, ok := te.mqttConnect(v.version, id, join, persistent)
			if !ok || !ack.SessionPresent {
				t.Fatalf("resume: %+v present %v", ack.FixedHeader, ack.SessionPresent)
			}
			if rel := c.read(); rel.FixedHeader.Type != packets.Pubrel || rel.PacketID != in.PacketID {
				t.Fatalf("after the CONNACK got %s %d; want PUBREL %d", packets.PacketNames[rel.FixedHeader.Type], rel.PacketID, in.PacketID)
			}
			c.send(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pubcomp}, PacketID: in.PacketID})
			c.ping()
			if len(c.pending) != 0 {
				t.Fatalf("got %d PUBLISH packets after the resume; want the message not sent again", len(c.pending))
			}
		})
	}
	pub.ping()
}

// TestMQTTPacketIDsSkipThoseInUse: after the wrap-around, an outbound
// packet id still held by an exchange (unacknowledged, in flight, or
// waiting for PUBCOMP) is not reused.
func TestMQTTPacketIDsSkipThoseInUse(t *testing.T) {
	s := &mqttSession{nextID: 65534,
		unacked:  map[uint16]uint64{1: 7},
		inflight: map[uint16]struct{}{2: {}, 65535: {}},
		released: map[uint16]struct{}{3: {}}}
	var got []uint16
	for range 2 {
		got = append(got, s.nextPacketID())
	}
	if !slices.Equal(got, []uint16{4, 5}) {
		t.Fatalf("packet ids %v; want 4 and 5 (65535 and 1 to 3 are in use, 0 is none)", got)
	}
}
