package webpubsubclient

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/gowebpubsub/webpubsub"
	"github.com/gowebpubsub/webpubsub/emulator"
	"github.com/gowebpubsub/webpubsub/eventhandler"
	"github.com/gowebpubsub/webpubsub/internal/protocol/pb"
)

// unpackString decodes the data of a DataTypeProtobuf message holding a
// StringValue.
func unpackString(t *testing.T, data []byte) string {
	t.Helper()
	var a anypb.Any
	if err := proto.Unmarshal(data, &a); err != nil {
		t.Fatalf("the data is not an encoded Any: %v", err)
	}
	var s wrapperspb.StringValue
	if err := a.UnmarshalTo(&s); err != nil {
		t.Fatalf("the Any holds %s: %v", a.GetTypeUrl(), err)
	}
	return s.GetValue()
}

// receivedAs is the data type a client receives for a message sent as
// dt: the service delivers JSON to protobuf clients as text holding the
// serialized JSON; every other type is kept.
func receivedAs(dt DataType, protobufClient bool) DataType {
	if protobufClient && dt == DataTypeJSON {
		return DataTypeText
	}
	return dt
}

// TestProtobufMessageRoundTrip: a ProtobufMessage sent by a protobuf
// client reaches protobuf and JSON clients as DataTypeProtobuf holding
// the encoded Any; the other payloads keep their types across the two
// encodings, except that JSON reaches protobuf clients as text; no_echo
// keeps the message from the sender.
func TestProtobufMessageRoundTrip(t *testing.T) {
	for _, p := range []Protocol{ProtocolProtobuf, ProtocolReliableProtobuf} {
		t.Run(string(p), func(t *testing.T) {
			env := newEnv(t)
			ctx := testContext(t)
			pub, pubRec, _ := env.startClient(t, p, webpubsub.GetClientAccessTokenOptions{UserID: "pub", Roles: allRoles}, nil)
			pbSub, pbRec, _ := env.startClient(t, p, webpubsub.GetClientAccessTokenOptions{UserID: "pb", Roles: allRoles}, nil)
			jsSub, jsRec, _ := env.startClient(t, ProtocolReliableJSON, webpubsub.GetClientAccessTokenOptions{UserID: "js", Roles: allRoles}, nil)
			for _, c := range []*Client{pub, pbSub, jsSub} {
				if _, err := c.JoinGroup(ctx, "room", nil); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := pub.SendToGroup(ctx, "room", ProtobufMessage(wrapperspb.String("hi")), &SendToGroupOptions{NoEcho: true}); err != nil {
				t.Fatal(err)
			}
			for _, rec := range []*recorder{pbRec, jsRec} {
				m := next(t, rec.group, "protobuf message")
				if m.DataType != DataTypeProtobuf || m.Group != "room" || unpackString(t, m.Data) != "hi" {
					t.Fatalf("got %+v", m)
				}
				if (m.SequenceID != 0) != (rec == jsRec || p == ProtocolReliableProtobuf) {
					t.Errorf("sequence id %d", m.SequenceID)
				}
			}
			for _, msg := range []Message{TextMessage("t"), JSONMessage(map[string]int{"n": 1}), BinaryMessage([]byte{0, 0xff})} {
				if _, err := pub.SendToGroup(ctx, "room", msg, nil); err != nil {
					t.Fatal(err)
				}
				for _, rec := range []*recorder{pubRec, pbRec, jsRec} {
					m := next(t, rec.group, string(msg.DataType()))
					if want := receivedAs(msg.DataType(), rec != jsRec); m.DataType != want || !bytes.Equal(m.Data, msg.Bytes()) {
						t.Fatalf("sent %s %q, got %+v; want %s", msg.DataType(), msg.Bytes(), m, want)
					}
				}
			}
			// And from the JSON client to the protobuf ones: JSON arrives
			// as text holding the JSON.
			if _, err := jsSub.SendToGroup(ctx, "room", JSONMessage([]int{1, 2}), &SendToGroupOptions{NoEcho: true}); err != nil {
				t.Fatal(err)
			}
			for _, rec := range []*recorder{pubRec, pbRec} {
				if m := next(t, rec.group, "json"); m.DataType != DataTypeText || string(m.Data) != "[1,2]" {
					t.Fatalf("got %+v", m)
				}
			}
			// Server messages reach protobuf clients too.
			if _, err := env.svc.SendToConnection(ctx, pbSub.ConnectionID(), webpubsub.BinaryMessage([]byte{7}), nil); err != nil {
				t.Fatal(err)
			}
			if m := next(t, pbRec.server, "server message"); m.DataType != DataTypeBinary || !bytes.Equal(m.Data, []byte{7}) {
				t.Fatalf("got %+v", m)
			}
		})
	}
}

// TestProtobufUnsupported: what a protocol cannot carry fails before
// anything is sent, with an *UnsupportedError.
func TestProtobufUnsupported(t *testing.T) {
	env := newEnv(t)
	ctx := testContext(t)
	pb, _, _ := env.startClient(t, ProtocolReliableProtobuf, aliceTok, nil)
	js, _, _ := env.startClient(t, ProtocolJSON, aliceTok, nil)
	check := func(name string, err error, feature string, p Protocol) {
		t.Helper()
		var ue *UnsupportedError
		if !errors.As(err, &ue) || !errors.Is(err, ErrUnsupportedByProtocol) || ue.Feature != feature || ue.Protocol != p {
			t.Errorf("%s: err = %v, want an *UnsupportedError for %s on %s", name, err, feature, p)
		}
	}
	_, err := pb.InvokeEvent(ctx, "e", TextMessage("x"), nil)
	check("InvokeEvent", err, "InvokeEvent", ProtocolReliableProtobuf)
	_, err = pb.OpenGroupStream(ctx, "g", nil)
	check("OpenGroupStream", err, "OpenGroupStream", ProtocolReliableProtobuf)
	pm := ProtobufMessage(wrapperspb.String("x"))
	_, err = js.SendToGroup(ctx, "g", pm, nil)
	check("SendToGroup", err, "ProtobufMessage", ProtocolJSON)
	_, err = js.SendEvent(ctx, "e", pm, nil)
	check("SendEvent", err, "ProtobufMessage", ProtocolJSON)
	_, err = js.InvokeEvent(ctx, "e", pm, nil)
	check("InvokeEvent", err, "ProtobufMessage", ProtocolJSON)
	w, err := js.OpenGroupStream(ctx, "g", nil)
	if err != nil {
		t.Fatal(err)
	}
	check("GroupStreamWriter.Write", w.Write(ctx, pm), "ProtobufMessage", ProtocolJSON)
	if err := w.Close(ctx); err != nil {
		t.Errorf("Close after a refused Write: %v", err)
	}
	if _, err := pb.SendToGroup(ctx, "g", ProtobufMessage(nil), nil); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("a nil protobuf message: %v", err)
	}
	if s := pb.State(); s != StateConnected {
		t.Errorf("State = %s after refused calls", s)
	}
}

// TestProtobufRecovery: a reliable protobuf client whose connection is
// cut recovers it (same connection id, no new credential call) and gets
// every message exactly once and in order, those sent while it was cut
// included; its group membership survives.
func TestProtobufRecovery(t *testing.T) {
	evOpt, events := connEvents()
	env := newEnv(t, evOpt)
	ctx := testContext(t)
	c, rec, calls := env.startClient(t, ProtocolReliableProtobuf, aliceTok, &Options{RecoveryInterval: 5 * time.Millisecond})
	id := next(t, rec.connected, "Connected").ConnectionID
	nextConnEvent(t, events, id, emulator.ConnectionConnected)
	if _, err := c.JoinGroup(ctx, "g", nil); err != nil {
		t.Fatal(err)
	}
	bob := env.startBob(t)
	sendAll(t, bob, "g", "m1", "m2")
	nextData(t, rec.group, "m1")
	nextData(t, rec.group, "m2")
	if err := env.emu.CutConnection(env.hub, id); err != nil {
		t.Fatal(err)
	}
	sendAll(t, bob, "g", "m3")
	nextRecovery(t, events, id)
	sendAll(t, bob, "g", "m4")
	var seq uint64
	for _, want := range []string{"m3", "m4"} {
		m := nextData(t, rec.group, want)
		if m.SequenceID <= seq {
			t.Fatalf("%s has sequence id %d after %d", want, m.SequenceID, seq)
		}
		seq = m.SequenceID
	}
	if got := c.ConnectionID(); got != id || calls.Load() != 1 {
		t.Errorf("after recovery: connection %s (want %s), %d credential calls", got, id, calls.Load())
	}
	expectEmpty(t, rec.group, "group message")
}

// TestProtobufEventToHandler: a ProtobufMessage event reaches an
// eventhandler.Handler as DataTypeProtobuf with the encoded Any, and its
// Protobuf reply comes back as a DataTypeProtobuf server message, to a
// protobuf client and (as the base64 the protocol decodes) to a JSON one.
func TestProtobufEventToHandler(t *testing.T) {
	got := make(chan *eventhandler.UserEventRequest, 4)
	e := invokeEnv(t, map[string]eventhandler.UserEventFunc{
		"pb": func(_ context.Context, r *eventhandler.UserEventRequest) (*eventhandler.UserEventResponse, error) {
			got <- r
			return eventhandler.Protobuf(wrapperspb.String("reply"))
		},
	})
	ctx := testContext(t)
	for _, p := range []Protocol{ProtocolReliableProtobuf, ProtocolProtobuf, ProtocolJSON} {
		c, rec, _ := e.startClient(t, p, webpubsub.GetClientAccessTokenOptions{UserID: "u"}, nil)
		msg := TextMessage("t")
		if p.protobuf() {
			msg = ProtobufMessage(wrapperspb.String("event"))
		}
		if _, err := c.SendEvent(ctx, "pb", msg, nil); err != nil {
			t.Fatalf("%s: SendEvent: %v", p, err)
		}
		r := next(t, got, "user event")
		if r.DataType != eventhandler.DataType(msg.DataType()) || !bytes.Equal(r.Data, msg.Bytes()) {
			t.Fatalf("%s: the handler got %s %x", p, r.DataType, r.Data)
		}
		if m := next(t, rec.server, "reply"); m.DataType != DataTypeProtobuf || unpackString(t, m.Data) != "reply" {
			t.Fatalf("%s: reply %+v", p, m)
		}
	}
}

// TestProtobufRecoveryAllTypes: a reliable protobuf client is cut while
// messages of every data type (from a protobuf client and from REST) are
// sent to it; it recovers and receives each of them exactly once, in
// order.
func TestProtobufRecoveryAllTypes(t *testing.T) {
	evOpt, events := connEvents()
	env := newEnv(t, evOpt)
	ctx := testContext(t)
	c, rec, _ := env.startClient(t, ProtocolReliableProtobuf, aliceTok, &Options{RecoveryInterval: 5 * time.Millisecond})
	id := next(t, rec.connected, "Connected").ConnectionID
	nextConnEvent(t, events, id, emulator.ConnectionConnected)
	if _, err := c.JoinGroup(ctx, "g", nil); err != nil {
		t.Fatal(err)
	}
	pub, _, _ := env.startClient(t, ProtocolProtobuf, webpubsub.GetClientAccessTokenOptions{UserID: "pub", Roles: allRoles}, nil)
	type want struct {
		dt   DataType
		data []byte
	}
	var wants []want
	send := func(round string) {
		t.Helper()
		for _, msg := range []Message{TextMessage("text " + round), JSONMessage(map[string]string{"round": round}),
			BinaryMessage([]byte("\x00binary " + round)), ProtobufMessage(wrapperspb.String(round))} {
			if _, err := pub.SendToGroup(ctx, "g", msg, nil); err != nil {
				t.Fatal(err)
			}
			wants = append(wants, want{receivedAs(msg.DataType(), true), msg.Bytes()})
		}
		for _, msg := range []webpubsub.Message{webpubsub.TextMessage("rest text " + round), webpubsub.JSONMessage(map[string]string{"rest": round}),
			webpubsub.BinaryMessage([]byte("\xffrest " + round))} {
			if _, err := env.svc.SendToGroup(ctx, "g", msg, nil); err != nil {
				t.Fatal(err)
			}
		}
		wants = append(wants, want{DataTypeText, []byte("rest text " + round)}, want{DataTypeText, []byte(`{"rest":"` + round + `"}`)},
			want{DataTypeBinary, []byte("\xffrest " + round)})
	}
	send("before")
	if err := env.emu.CutConnection(env.hub, id); err != nil {
		t.Fatal(err)
	}
	send("during")
	nextRecovery(t, events, id)
	send("after")
	var seq uint64
	for i, w := range wants {
		m := next(t, rec.group, "message")
		if m.DataType != w.dt || !bytes.Equal(m.Data, w.data) || m.SequenceID <= seq {
			t.Fatalf("message %d: got %s %q with sequence id %d (after %d); want %s %q", i, m.DataType, m.Data, m.SequenceID, seq, w.dt, w.data)
		}
		seq = m.SequenceID
	}
	if got := c.ConnectionID(); got != id {
		t.Errorf("after recovery: connection %s, want %s", got, id)
	}
	expectEmpty(t, rec.group, "group message")
}

// TestProtobufRejoin: when a protobuf client gets a new connection (the
// plain protocol after a cut; the reliable one after a refused recovery)
// it joins its groups again, fresh ack ids and all, before Connected: a
// group the new token may not join is reported as RejoinGroupFailed, a
// group left before is not joined, and the rejoined group works at once.
func TestProtobufRejoin(t *testing.T) {
	for _, tt := range []struct {
		p    Protocol
		drop func(t *testing.T, env *testEnv, id string)
	}{
		{ProtocolProtobuf, func(t *testing.T, env *testEnv, id string) {
			if err := env.emu.CutConnection(env.hub, id); err != nil {
				t.Fatal(err)
			}
		}},
		{ProtocolReliableProtobuf, func(t *testing.T, env *testEnv, id string) {
			if err := env.emu.RefuseNextRecovery(env.hub, id); err != nil {
				t.Fatal(err)
			}
			if err := env.emu.CutConnection(env.hub, id); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(string(tt.p), func(t *testing.T) {
			env := newEnv(t)
			ctx := testContext(t)
			// The first token may join every group, later ones only g1.
			var calls atomic.Int32
			cred := URLFunc(func(ctx context.Context) (string, error) {
				opts := webpubsub.GetClientAccessTokenOptions{UserID: "alice", Roles: allRoles}
				if calls.Add(1) > 1 {
					opts.Roles = []string{"webpubsub.joinLeaveGroup.g1"}
				}
				tok, err := env.svc.GetClientAccessToken(ctx, &opts)
				return tok.URL, err
			})
			c, err := New(cred, &Options{Protocol: tt.p, RecoveryInterval: 5 * time.Millisecond, ReconnectRetry: RetryOptions{Delay: time.Millisecond}})
			if err != nil {
				t.Fatal(err)
			}
			rec := record(c)
			if err := c.Start(ctx); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { stopOnly(t, c) })
			first := next(t, rec.connected, "Connected").ConnectionID
			for _, g := range []string{"g1", "g2", "g3"} {
				if _, err := c.JoinGroup(ctx, g, nil); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := c.LeaveGroup(ctx, "g3", nil); err != nil {
				t.Fatal(err)
			}
			tt.drop(t, env, first)
			if d := next(t, rec.disconnected, "Disconnected"); d.ConnectionID != first {
				t.Errorf("Disconnected = %+v", d)
			}
			expectRejoinRefusedForG2(t, env, rec, first)
			if _, err := env.svc.SendToGroup(ctx, "g1", webpubsub.TextMessage("to g1"), nil); err != nil {
				t.Fatal(err)
			}
			nextData(t, rec.group, "to g1")
			if n := calls.Load(); n != 2 {
				t.Errorf("credential called %d times, want 2 (once per new connection)", n)
			}
			if got, want := rec.kinds(), []string{"connected", "disconnected", "rejoinFailed:g2", "connected", "group:g1:to g1"}; !slices.Equal(got, want) {
				t.Errorf("events = %v, want %v", got, want)
			}
			expectEmpty(t, rec.rejoin, "RejoinGroupFailed")
		})
	}
}

// TestProtobufDownstreamJSONData: the service sends JSON to protobuf
// clients as text_data, which the client reports as DataTypeText; a
// json_data message, which the schema also allows downstream, is still
// reported as DataTypeJSON, as the official .NET protobuf client does.
func TestProtobufDownstreamJSONData(t *testing.T) {
	frame := func(m *pb.DownstreamMessage) []byte {
		b, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	data := func(group string, d *pb.MessageData) []byte {
		return frame(&pb.DownstreamMessage{Message: &pb.DownstreamMessage_DataMessage_{DataMessage: &pb.DownstreamMessage_DataMessage{
			From: "group", Group: proto.String(group), Data: d}}})
	}
	u := scriptedService(t, []string{string(ProtocolProtobuf)}, func(ctx context.Context, ws *websocket.Conn) {
		for _, f := range [][]byte{
			frame(&pb.DownstreamMessage{Message: &pb.DownstreamMessage_SystemMessage_{SystemMessage: &pb.DownstreamMessage_SystemMessage{
				Message: &pb.DownstreamMessage_SystemMessage_ConnectedMessage_{ConnectedMessage: &pb.DownstreamMessage_SystemMessage_ConnectedMessage{
					ConnectionId: "c1", UserId: "alice"}}}}}),
			data("g", &pb.MessageData{Data: &pb.MessageData_TextData{TextData: `{"a":1}`}}),
			data("g", &pb.MessageData{Data: &pb.MessageData_JsonData{JsonData: `{"b":[2]}`}}),
		} {
			if ws.Write(ctx, websocket.MessageBinary, f) != nil {
				return
			}
		}
		_, _, _ = ws.Read(ctx) // until the client goes
	})
	c, err := New(StaticURL(u), &Options{Protocol: ProtocolProtobuf})
	if err != nil {
		t.Fatal(err)
	}
	rec := record(c)
	mustStart(t, c)
	next(t, rec.connected, "Connected")
	if m := next(t, rec.group, "text_data"); m.DataType != DataTypeText || string(m.Data) != `{"a":1}` {
		t.Errorf("text_data message = %+v", m)
	}
	if m := next(t, rec.group, "json_data"); m.DataType != DataTypeJSON || string(m.Data) != `{"b":[2]}` {
		t.Errorf("json_data message = %+v", m)
	}
	stopClient(t, c)
}
