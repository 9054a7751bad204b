package emulator

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/gowebpubsub/webpubsub/internal/protocol"
	"github.com/gowebpubsub/webpubsub/internal/testclient"
)

// pbClient dials a protobuf client, reliable or not, with claims.
func (te *testEmulator) pbClient(reliable bool, claims jwt.MapClaims) *wsClient {
	te.t.Helper()
	sp := testclient.Protobuf
	if reliable {
		sp = testclient.ReliableProtobuf
	}
	return te.dial(dialOptions{subprotocols: []string{sp}, token: te.clientToken("chat", claims)})
}

// encodedAny is the encoded google.protobuf.Any of StringValue{s}.
func encodedAny(t testing.TB, s string) []byte {
	t.Helper()
	a, err := anypb.New(wrapperspb.String(s))
	if err != nil {
		t.Fatal(err)
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// expectData reads the next frame of c and checks it is a message of
// dt and data (from group when group is not ""), sequenced when reliable.
func (c *wsClient) expectData(group string, dt protocol.DataType, data []byte, reliable bool) protocol.ServiceFrame {
	c.t.Helper()
	f := c.ReadFrame()
	from := protocol.FromServer
	if group != "" {
		from = protocol.FromGroup
	}
	if f.Type != protocol.TypeMessage || f.From != from || f.Group != group || f.DataType != dt || !bytes.Equal(f.Data, data) {
		c.t.Fatalf("got %s from %q group %q %s %q; want a message from %s group %q %s %q", f.Type, f.From, f.Group, f.DataType, f.Data, from, group, dt, data)
	}
	if reliable != (f.SequenceID != 0) {
		c.t.Fatalf("sequenceId %d; reliable %v", f.SequenceID, reliable)
	}
	return f
}

// rawExpect reads the next message of a raw client.
func (c *wsClient) rawExpect(binary bool, data []byte) {
	c.t.Helper()
	typ, b := c.Read()
	if (typ == websocket.MessageBinary) != binary || !bytes.Equal(b, data) {
		c.t.Fatalf("raw client got %v %q; want binary=%v %q", typ, b, binary, data)
	}
}

var pbTypes = []struct {
	dt     protocol.DataType
	binary bool // what a raw client gets
}{
	{protocol.DataTypeText, false},
	{protocol.DataTypeJSON, false},
	{protocol.DataTypeBinary, true},
	{protocol.DataTypeProtobuf, true},
}

func pbPayload(t testing.TB, dt protocol.DataType) []byte {
	switch dt {
	case protocol.DataTypeText:
		return []byte("héllo")
	case protocol.DataTypeJSON:
		return []byte(`{"a":[1,"x"]}`)
	case protocol.DataTypeBinary:
		return []byte{0, 1, 0xfe, 0xff}
	}
	return encodedAny(t, "payload")
}

// TestProtobufGroupRoundTrip: a protobuf publisher's group message, of
// every data type, reaches a protobuf member, a JSON member (protobuf
// data as dataType protobuf in base64) and a raw member, in both the
// plain and the reliable subprotocols; no_echo keeps it from the
// publisher, and without it the publisher gets it before the ack.
func TestProtobufGroupRoundTrip(t *testing.T) {
	for _, reliable := range []bool{false, true} {
		t.Run("reliable="+strconv.FormatBool(reliable), func(t *testing.T) {
			te := startEmulator(t, Options{}).with(t)
			member := jwt.MapClaims{"webpubsub.group": []string{"g"}}
			pub := te.pbClient(reliable, jwt.MapClaims{"sub": "pub", "role": []string{"webpubsub.sendToGroup", "webpubsub.joinLeaveGroup"}})
			if r := pub.JoinGroup("g"); !r.Ack.Success {
				t.Fatalf("join: %s", r.ErrorName())
			}
			pb := te.pbClient(reliable, member)
			var js *wsClient
			if reliable {
				js = te.reliable(member)
			} else {
				js = te.pubsub(member)
			}
			raw := te.raw(member)
			for _, tt := range pbTypes {
				for _, noEcho := range []bool{true, false} {
					data := pbPayload(t, tt.dt)
					r := pub.SendToGroup("g", tt.dt, data, noEcho)
					if !r.Ack.Success {
						t.Fatalf("%s: send: %s", tt.dt, r.ErrorName())
					}
					if noEcho && len(r.Before) != 0 {
						t.Fatalf("%s: no_echo, yet the publisher got %+v", tt.dt, r.Before)
					}
					if !noEcho {
						if len(r.Before) != 1 || r.Before[0].DataType != deliveredAs(tt.dt, true) || !bytes.Equal(r.Before[0].Data, data) {
							t.Fatalf("%s: echo %+v", tt.dt, r.Before)
						}
					}
					pb.expectData("g", deliveredAs(tt.dt, true), data, reliable)
					js.expectData("g", tt.dt, data, reliable)
					raw.rawExpect(tt.binary, data)
				}
			}
			// The JSON member's frame of protobuf data is base64 text.
			pub.SendToGroup("g", protocol.DataTypeProtobuf, []byte{}, true)
			pb.expectData("g", protocol.DataTypeProtobuf, []byte{}, reliable)
			m := js.ReadJSON()
			if m["dataType"] != "protobuf" || m["data"] != "" {
				t.Fatalf("JSON member got %v", m)
			}
		})
	}
}

// deliveredAs is the data type a receiver gets for data a sender sent
// as dt: JSON reaches protobuf clients as text_data holding the JSON
// text (the reference's rule for a json sender); every other case keeps
// its type.
func deliveredAs(dt protocol.DataType, toProtobuf bool) protocol.DataType {
	if toProtobuf && dt == protocol.DataTypeJSON {
		return protocol.DataTypeText
	}
	return dt
}

// TestProtobufRoundTrips: data of every type, from a protobuf client, a
// JSON client, a REST send (to the group and to each connection) and an
// event-handler reply, reaches a protobuf client and a JSON client, in
// the plain and the reliable subprotocols, with the data type
// deliveredAs gives. A JSON client cannot send protobuf data (BadRequest)
// and REST cannot either (415): those cases deliver nothing.
func TestProtobufRoundTrips(t *testing.T) {
	up := newFakeUpstream(t, func(r *recordedRequest) fakeResponse {
		if dt, ok := strings.CutPrefix(r.ceType(), ceTypeUserPrefix+"reply-"); ok {
			return fakeResponse{status: 200, header: http.Header{"Content-Type": {contentTypeOf(protocol.DataType(dt))}}, body: pbPayload(t, protocol.DataType(dt))}
		}
		return fakeResponse{status: 204}
	})
	te := startEmulator(t, up.handlerOptions("*"))
	for _, reliable := range []bool{false, true} {
		mode := "plain"
		if reliable {
			mode = "reliable"
		}
		t.Run(mode, func(t *testing.T) {
			te := te.with(t)
			member := jwt.MapClaims{"webpubsub.group": []string{"g"}}
			sender := jwt.MapClaims{"role": []string{"webpubsub.sendToGroup"}}
			json := func(claims jwt.MapClaims) *wsClient {
				if reliable {
					return te.reliable(claims)
				}
				return te.pubsub(claims)
			}
			pbMember, jsMember := te.pbClient(reliable, member), json(member)
			pbSender, jsSender := te.pbClient(reliable, sender), json(sender)
			members := []struct {
				c  *wsClient
				pb bool
			}{{pbMember, true}, {jsMember, false}}
			// expectAll checks that every member got data of dt, from the
			// group, or from the server when group is "".
			expectAll := func(t *testing.T, group string, dt protocol.DataType, data []byte) {
				for _, m := range members {
					m.c.with(t).expectData(group, deliveredAs(dt, m.pb), data, reliable)
				}
			}
			barrier := func(t *testing.T) {
				for _, c := range []*wsClient{pbMember, jsMember, pbSender, jsSender} {
					c.with(t).Barrier()
				}
			}
			for _, tt := range pbTypes {
				data := pbPayload(t, tt.dt)
				t.Run(string(tt.dt), func(t *testing.T) {
					for _, from := range []struct {
						name string
						c    *wsClient
					}{{"from protobuf client", pbSender}, {"from JSON client", jsSender}} {
						t.Run(from.name, func(t *testing.T) {
							r := from.c.with(t).SendToGroup("g", tt.dt, data, false)
							if from.c == jsSender && tt.dt == protocol.DataTypeProtobuf {
								if r.ErrorName() != protocol.ErrorNameBadRequest {
									t.Fatalf("a JSON client's protobuf data: %s", r.ErrorName())
								}
								barrier(t)
								return
							}
							if !r.Ack.Success || len(r.Before) != 0 {
								t.Fatalf("send: %s, %d frames before the ack", r.ErrorName(), len(r.Before))
							}
							expectAll(t, "g", tt.dt, data)
						})
					}
					t.Run("from REST", func(t *testing.T) {
						te := te.with(t)
						ct := contentTypeOf(tt.dt)
						if tt.dt == protocol.DataTypeProtobuf {
							expectStatus(t, te.rest("POST", "/api/hubs/chat/groups/g/:send"+v, ct, data), 415)
							barrier(t)
							return
						}
						expectStatus(t, te.rest("POST", "/api/hubs/chat/groups/g/:send"+v, ct, data), 202)
						expectAll(t, "g", tt.dt, data)
						for _, m := range members {
							expectStatus(t, te.rest("POST", "/api/hubs/chat/connections/"+m.c.id+"/:send"+v, ct, data), 202)
							m.c.with(t).expectData("", deliveredAs(tt.dt, m.pb), data, reliable)
						}
					})
					t.Run("from an event-handler reply", func(t *testing.T) {
						for _, m := range []struct {
							c  *wsClient
							pb bool
						}{{pbSender, true}, {jsSender, false}} {
							r := m.c.with(t).SendEvent("reply-"+string(tt.dt), protocol.DataTypeText, []byte("x"))
							if !r.Ack.Success || len(r.Before) != 1 {
								t.Fatalf("event: %s, %d frames before the ack", r.ErrorName(), len(r.Before))
							}
							f := r.Before[0]
							if f.Type != protocol.TypeMessage || f.From != protocol.FromServer || f.DataType != deliveredAs(tt.dt, m.pb) ||
								!bytes.Equal(f.Data, data) || (f.SequenceID != 0) != reliable {
								t.Fatalf("protobuf=%v: reply %+v; want %s %q", m.pb, f, deliveredAs(tt.dt, m.pb), data)
							}
						}
					})
				})
			}
			barrier(t)
		})
	}
}

// TestProtobufReliableRecoveryAllTypes: a reliable protobuf client is cut
// while messages of every data type, from a protobuf client, a JSON
// client and REST, are sent to it; it recovers and receives every one of
// them once, in order, with consecutive sequence ids, and nothing else.
func TestProtobufReliableRecoveryAllTypes(t *testing.T) {
	te := startEmulator(t, Options{})
	c := te.pbClient(true, jwt.MapClaims{"webpubsub.group": []string{"g"}})
	sender := jwt.MapClaims{"role": []string{"webpubsub.sendToGroup"}}
	pbSender, jsSender := te.pbClient(true, sender), te.reliable(sender)
	type sent struct {
		group string
		dt    protocol.DataType
		data  []byte
	}
	var want []sent
	sendAll := func(tag string) {
		for _, tt := range pbTypes {
			// Each round's data differs, so that a resent message of an
			// earlier round would be noticed.
			var data []byte
			switch tt.dt {
			case protocol.DataTypeJSON:
				data = []byte(`{"tag":"` + tag + `"}`)
			case protocol.DataTypeProtobuf:
				data = encodedAny(t, tag)
			default:
				data = append(pbPayload(t, tt.dt), tag...)
			}
			if r := pbSender.SendToGroup("g", tt.dt, data, false); !r.Ack.Success {
				t.Fatalf("protobuf send: %s", r.ErrorName())
			}
			want = append(want, sent{"g", tt.dt, data})
			if tt.dt == protocol.DataTypeProtobuf {
				continue // neither JSON clients nor REST can send it
			}
			if r := jsSender.SendToGroup("g", tt.dt, data, false); !r.Ack.Success {
				t.Fatalf("JSON send: %s", r.ErrorName())
			}
			want = append(want, sent{"g", tt.dt, data})
			expectStatus(t, te.rest("POST", "/api/hubs/chat/groups/g/:send"+v, contentTypeOf(tt.dt), data), 202)
			want = append(want, sent{"g", tt.dt, data})
			expectStatus(t, te.rest("POST", "/api/hubs/chat/connections/"+c.id+"/:send"+v, contentTypeOf(tt.dt), data), 202)
			want = append(want, sent{"", tt.dt, data})
		}
	}
	sendAll("before")
	if err := te.CutConnection("chat", c.id); err != nil {
		t.Fatal(err)
	}
	sendAll("during") // while the cut completes
	te.waitDetached(c.id)
	sendAll("after")
	c = te.recover(c)
	for i, w := range want {
		f := c.expectData(w.group, deliveredAs(w.dt, true), w.data, true)
		if f.SequenceID != uint64(i+1) {
			t.Fatalf("message %d (%s %q) has sequenceId %d", i+1, w.dt, w.data, f.SequenceID)
		}
	}
	c.SequenceAck(uint64(len(want)))
	c.Barrier() // nothing more: every message came once
}

// TestProtobufRequests: acks, permissions, duplicates and validation
// behave as for JSON clients.
func TestProtobufRequests(t *testing.T) {
	te := startEmulator(t, Options{})
	c := te.pbClient(false, jwt.MapClaims{"sub": "u"})
	if got := c.Connected(); got.UserID != "u" || got.ReconnectionToken != "" {
		t.Fatalf("connected %+v", got)
	}
	if r := c.JoinGroup("g"); r.ErrorName() != protocol.ErrorNameForbidden {
		t.Fatalf("join without permission: %s", r.ErrorName())
	}
	if r := c.SendToGroup("g", protocol.DataTypeText, []byte("x"), false); r.ErrorName() != protocol.ErrorNameForbidden ||
		r.Ack.Error.Message != "The client has no permission to send message to group 'g'." {
		t.Fatalf("send without permission: %+v", r.Ack)
	}
	expectStatus(t, te.rest("PUT", "/api/hubs/chat/permissions/joinLeaveGroup/connections/"+c.id+v, "", nil), 200)
	if r := c.Request(&protocol.ClientFrame{Type: protocol.TypeJoinGroup, Group: "g", AckID: 7, HasAckID: true}); !r.Ack.Success {
		t.Fatalf("join: %s", r.ErrorName())
	}
	if r := c.Request(&protocol.ClientFrame{Type: protocol.TypeJoinGroup, Group: "g", AckID: 7, HasAckID: true}); r.ErrorName() != protocol.ErrorNameDuplicate ||
		r.Ack.Error.Message != protocol.DuplicateMessage(7) {
		t.Fatalf("duplicate: %+v", r.Ack)
	}
	if r := c.JoinGroup(""); r.ErrorName() != protocol.ErrorNameBadRequest {
		t.Fatalf("empty group: %s", r.ErrorName())
	}
	if r := c.SendEvent("e", protocol.DataTypeText, []byte("x")); r.ErrorName() != protocol.ErrorNameInternalServerError {
		t.Fatalf("event without handler: %s", r.ErrorName())
	}
	// A request without an ack id gets no ack.
	c.Send(&protocol.ClientFrame{Type: protocol.TypeLeaveGroup, Group: "g"})
	c.Barrier()
	expectStatus(t, te.rest("HEAD", "/api/hubs/chat/groups/g"+v, "", nil), 404)
}

// TestProtobufMalformedFrames: a text frame ends the connection with
// 1003, a frame that is no UpstreamMessage (including messages the
// schema does not define, such as invoke or streams, which have no
// number) with 1007, each after a protobuf disconnected message.
func TestProtobufMalformedFrames(t *testing.T) {
	te := startEmulator(t, Options{})
	for _, tt := range []struct {
		name   string
		typ    websocket.MessageType
		frame  []byte
		code   websocket.StatusCode
		reason string
	}{
		{"text frame", websocket.MessageText, []byte(`{"type":"ping"}`), websocket.StatusUnsupportedData, reasonTextOnProtobuf},
		{"not protobuf", websocket.MessageBinary, []byte{0xff, 0xff}, websocket.StatusInvalidFramePayloadData, reasonInvalidProto},
		{"unknown message", websocket.MessageBinary, []byte{0x4a, 0x00}, websocket.StatusInvalidFramePayloadData, reasonInvalidProto},
		{"empty frame", websocket.MessageBinary, nil, websocket.StatusInvalidFramePayloadData, reasonInvalidProto},
		{"send without data", websocket.MessageBinary, []byte{0x0a, 0x03, 0x0a, 0x01, 'g'}, websocket.StatusInvalidFramePayloadData, reasonInvalidProto},
	} {
		t.Run(tt.name, func(t *testing.T) {
			te := te.with(t)
			for _, reliable := range []bool{false, true} {
				c := te.pbClient(reliable, nil)
				if err := c.TryWrite(tt.typ, tt.frame); err != nil {
					t.Fatal(err)
				}
				if f := c.ExpectSystem(protocol.EventDisconnected); f.Message != tt.reason {
					t.Fatalf("disconnected %q; want %q", f.Message, tt.reason)
				}
				if got := c.ExpectClose(tt.code); got != tt.reason {
					t.Fatalf("close reason %q", got)
				}
				te.waitEnded(c.id)
			}
		})
	}
}

// TestProtobufReliableRecovery: a reliable protobuf client that is cut
// off recovers with its reconnection token and gets, in order and with
// their sequence ids, the messages it had not acknowledged and those sent
// while it was detached; a wrong token is refused with a protobuf
// disconnected message and 1008.
func TestProtobufReliableRecovery(t *testing.T) {
	te := startEmulator(t, Options{})
	c := te.pbClient(true, jwt.MapClaims{"webpubsub.group": []string{"g"}})
	if c.reconnectionToken == "" {
		t.Fatal("no reconnection token in the connected message")
	}
	send := func(s string) {
		expectStatus(t, te.rest("POST", "/api/hubs/chat/groups/g/:send"+v, "text/plain", []byte(s)), 202)
	}
	send("m1")
	send("m2")
	send("m3")
	f1 := c.expectData("g", protocol.DataTypeText, []byte("m1"), true)
	c.expectData("g", protocol.DataTypeText, []byte("m2"), true)
	c.expectData("g", protocol.DataTypeText, []byte("m3"), true)
	c.SequenceAck(f1.SequenceID)
	c.Barrier() // the ack was processed
	te.drop(c)
	send("m4")

	// A wrong token is refused in the protobuf encoding.
	ws, _, err := te.recoverRaw(c, "wrong")
	if err != nil {
		t.Fatal(err)
	}
	bad, err := testclient.Wrap(t, ws, nil, &testclient.Options{SkipConnected: true})
	if err != nil {
		t.Fatal(err)
	}
	if f := bad.ExpectSystem(protocol.EventDisconnected); f.Message != reasonNotRecoverable {
		t.Fatalf("refusal %q", f.Message)
	}
	bad.ExpectClose(websocket.StatusPolicyViolation)

	c = te.recover(c)
	want := f1.SequenceID
	for _, s := range []string{"m2", "m3", "m4"} {
		f := c.expectData("g", protocol.DataTypeText, []byte(s), true)
		if want++; f.SequenceID != want {
			t.Fatalf("%s has sequenceId %d; want %d", s, f.SequenceID, want)
		}
	}
	send("m5")
	if f := c.expectData("g", protocol.DataTypeText, []byte("m5"), true); f.SequenceID != want+1 {
		t.Fatalf("m5 has sequenceId %d", f.SequenceID)
	}
}

// TestProtobufUpstream: user events of a protobuf client reach the
// event handler with the content type of their data (application/x-protobuf
// and the encoded Any for protobuf_data), and each kind of handler reply
// comes back in the matching MessageData case; a JSON client gets a
// protobuf reply as dataType protobuf.
func TestProtobufUpstream(t *testing.T) {
	replies := map[string]fakeResponse{
		"text/plain":               {status: 200, header: http.Header{"Content-Type": {"text/plain"}}, body: []byte("re")},
		"application/json":         {status: 200, header: http.Header{"Content-Type": {"application/json"}}, body: []byte(`{"re":1}`)},
		"application/octet-stream": {status: 200, header: http.Header{"Content-Type": {"application/octet-stream"}}, body: []byte{9, 8}},
		"application/x-protobuf":   {status: 200, header: http.Header{"Content-Type": {"application/x-protobuf"}}, body: encodedAny(t, "reply")},
	}
	var repliesMu sync.Mutex // guards replies, which the test changes
	up := newFakeUpstream(t, func(r *recordedRequest) fakeResponse {
		if r.ceType() == ceTypeUserPrefix+"bad" {
			return fakeResponse{status: 200, header: http.Header{"Content-Type": {"application/x-protobuf"}}, body: []byte{0xff}}
		}
		repliesMu.Lock()
		resp, ok := replies[r.header.Get("Content-Type")]
		repliesMu.Unlock()
		if ok && r.ceType() != ceTypeConnected {
			return resp
		}
		return fakeResponse{status: 204}
	})
	te := startEmulator(t, up.handlerOptions("*", "connected"))
	for _, reliable := range []bool{false, true} {
		c := te.pbClient(reliable, jwt.MapClaims{"sub": "u"})
		if r := up.nextFor(t, ceTypeConnected, c.id); r.header.Get("ce-subprotocol") != c.ws.Subprotocol() {
			t.Fatalf("ce-subprotocol %q", r.header.Get("ce-subprotocol"))
		}
		for _, tt := range []struct {
			dt          protocol.DataType
			contentType string
			replyDT     protocol.DataType
		}{
			{protocol.DataTypeText, "text/plain", protocol.DataTypeText},
			{protocol.DataTypeJSON, "application/json", protocol.DataTypeText}, // JSON as text_data
			{protocol.DataTypeBinary, "application/octet-stream", protocol.DataTypeBinary},
			{protocol.DataTypeProtobuf, "application/x-protobuf", protocol.DataTypeProtobuf},
		} {
			data := pbPayload(t, tt.dt)
			r := c.SendEvent("ev", tt.dt, data)
			if !r.Ack.Success {
				t.Fatalf("%s event: %s", tt.dt, r.ErrorName())
			}
			req := up.nextFor(t, ceTypeUserPrefix+"ev", c.id)
			if ct := req.header.Get("Content-Type"); ct != tt.contentType || !bytes.Equal(req.body, data) {
				t.Fatalf("%s event reached the handler as %s %q", tt.dt, ct, req.body)
			}
			if len(r.Before) != 1 || r.Before[0].DataType != tt.replyDT || !bytes.Equal(r.Before[0].Data, replies[tt.contentType].body) ||
				r.Before[0].From != protocol.FromServer || (r.Before[0].SequenceID != 0) != reliable {
				t.Fatalf("%s reply %+v", tt.dt, r.Before)
			}
		}
		if r := c.SendEvent("bad", protocol.DataTypeText, []byte("x")); r.ErrorName() != protocol.ErrorNameInternalServerError {
			t.Fatalf("a reply that is not an Any: %s", r.ErrorName())
		}
		up.nextFor(t, ceTypeUserPrefix+"bad", c.id)
	}
	js := te.pubsub(jwt.MapClaims{"sub": "j"})
	up.nextFor(t, ceTypeConnected, js.id)
	js.Send(&protocol.ClientFrame{Type: protocol.TypeEvent, Event: "ev", DataType: protocol.DataTypeText, Data: []byte("x"), HasData: true})
	up.nextFor(t, ceTypeUserPrefix+"ev", js.id) // text/plain: answered with text
	js.Send(&protocol.ClientFrame{Type: protocol.TypeEvent, Event: "ev", DataType: protocol.DataTypeBinary, Data: []byte{1}, HasData: true})
	up.nextFor(t, ceTypeUserPrefix+"ev", js.id)
	js.expectData("", protocol.DataTypeText, []byte("re"), false)
	js.expectData("", protocol.DataTypeBinary, []byte{9, 8}, false)
	// A handler replying protobuf to a JSON client: base64, dataType protobuf.
	repliesMu.Lock() // the handler may still be answering the last event
	replies["application/octet-stream"] = replies["application/x-protobuf"]
	repliesMu.Unlock()
	js.Send(&protocol.ClientFrame{Type: protocol.TypeEvent, Event: "ev", DataType: protocol.DataTypeBinary, Data: []byte{1}, HasData: true})
	up.nextFor(t, ceTypeUserPrefix+"ev", js.id)
	m := js.ReadJSON()
	if m["dataType"] != "protobuf" || m["data"] != base64.StdEncoding.EncodeToString(encodedAny(t, "reply")) {
		t.Fatalf("JSON client got %v", m)
	}
}

// TestProtobufSelectedByConnectHandler: a connect handler may pick a
// protobuf subprotocol among those offered.
func TestProtobufSelectedByConnectHandler(t *testing.T) {
	up := newFakeUpstream(t, func(r *recordedRequest) fakeResponse {
		return fakeResponse{status: 200, header: http.Header{"Content-Type": {"application/json"}}, body: []byte(`{"subprotocol":"protobuf.reliable.webpubsub.azure.v1"}`)}
	})
	te := startEmulator(t, up.handlerOptions("", "connect"))
	c := te.dial(dialOptions{subprotocols: []string{"json.webpubsub.azure.v1", "protobuf.reliable.webpubsub.azure.v1"}, token: te.clientToken("chat", nil)})
	if !c.Protobuf() || c.reconnectionToken == "" {
		t.Fatalf("subprotocol %q, token %v", c.ws.Subprotocol(), c.reconnectionToken != "")
	}
	expectStatus(t, te.rest("POST", "/api/hubs/chat/connections/"+c.id+"/:send"+v, "text/plain", []byte("hi")), 202)
	c.expectData("", protocol.DataTypeText, []byte("hi"), true)
}
