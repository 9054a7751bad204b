package emulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"
)

var (
	streamPublisher = jwt.MapClaims{"sub": "pub", "role": []string{"webpubsub.sendToGroup", "webpubsub.joinLeaveGroup"}}
	streamReader    = jwt.MapClaims{"sub": "sub", "role": []string{"webpubsub.joinLeaveGroup"}}
)

// joinRoom joins c to group g and waits for the ack.
func joinRoom(c *wsClient, g string) {
	c.t.Helper()
	c.SendText(`{"type":"joinGroup","group":"` + g + `","ackId":1000}`)
	c.ExpectJSON(`{"type":"ack","ackId":1000,"success":true}`)
}

// fragment is the group message of fragment seq of stream s1 in room.
func fragment(seq int, data string) string {
	return fmt.Sprintf(`{"type":"message","from":"group","group":"room","fromUserId":"pub","dataType":"text","data":%q,"stream":{"streamId":"s1","streamSequenceId":%d}}`, data, seq)
}

func sendFragment(c *wsClient, seq int, data string) {
	c.t.Helper()
	c.SendText(fmt.Sprintf(`{"type":"streamData","streamId":"s1","streamSequenceId":%d,"dataType":"text","data":%q}`, seq, data))
}

func startStream(c *wsClient, extra string) {
	c.t.Helper()
	c.SendText(`{"type":"sendToGroup","group":"room","noEcho":true,"stream":{"streamId":"s1"` + extra + `}}`)
	c.ExpectJSON(`{"type":"streamAck","streamId":"s1","expectedSequenceId":1}`)
}

// TestStreamRules drives every rule of a group stream with a raw protocol
// publisher and a subscriber in the group, checking each frame exactly.
func TestStreamRules(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, pub, sub *wsClient)
	}{
		{"fragments in order, acks batched, end", func(t *testing.T, pub, sub *wsClient) {
			startStream(pub, "")
			for i := 1; i <= 9; i++ {
				sendFragment(pub, i, fmt.Sprint("f", i))
			}
			for i := 1; i <= 9; i++ {
				sub.ExpectJSON(fragment(i, fmt.Sprint("f", i)))
			}
			// Eight fragments make one ack; the ninth waits for the end.
			pub.ExpectJSON(`{"type":"streamAck","streamId":"s1","expectedSequenceId":9}`)
			pub.SendText(`{"type":"streamEnd","streamId":"s1"}`)
			sub.ExpectJSON(`{"type":"message","from":"group","group":"room","fromUserId":"pub","dataType":"text","data":"","stream":{"streamId":"s1","streamSequenceId":10,"endOfStream":true}}`)
			pub.ExpectJSON(`{"type":"streamClosed","streamId":"s1"}`)
		}},
		{"keepalive acknowledges and is not delivered", func(t *testing.T, pub, sub *wsClient) {
			startStream(pub, "")
			sendFragment(pub, 1, "a")
			sub.ExpectJSON(fragment(1, "a"))
			pub.SendText(`{"type":"streamData","streamId":"s1"}`)
			pub.ExpectJSON(`{"type":"streamAck","streamId":"s1","expectedSequenceId":2}`)
			pub.SendText(`{"type":"streamData","streamId":"s1"}`)
			pub.Barrier()
			sub.Barrier()
		}},
		{"duplicate is acknowledged, not republished", func(t *testing.T, pub, sub *wsClient) {
			startStream(pub, "")
			sendFragment(pub, 1, "a")
			sendFragment(pub, 1, "a again")
			pub.ExpectJSON(`{"type":"streamAck","streamId":"s1","expectedSequenceId":2}`)
			sendFragment(pub, 1, "a third time")
			pub.ExpectJSON(`{"type":"streamAck","streamId":"s1","expectedSequenceId":2}`)
			sendFragment(pub, 2, "b")
			sub.ExpectJSON(fragment(1, "a"))
			sub.ExpectJSON(fragment(2, "b"))
			sub.Barrier()
		}},
		{"gap is refused with streamNack", func(t *testing.T, pub, sub *wsClient) {
			startStream(pub, "")
			sendFragment(pub, 1, "a")
			sendFragment(pub, 3, "c")
			pub.ExpectJSON(`{"type":"streamNack","streamId":"s1","name":"InvalidSequenceId","message":"Expected streamSequenceId 2, got 3.","expectedSequenceId":2}`)
			sendFragment(pub, 2, "b")
			sendFragment(pub, 3, "c")
			for i, d := range []string{"a", "b", "c"} {
				sub.ExpectJSON(fragment(i+1, d))
			}
			sub.Barrier()
		}},
		{"end with a user error", func(t *testing.T, pub, sub *wsClient) {
			startStream(pub, "")
			pub.SendText(`{"type":"streamEnd","streamId":"s1","error":{"message":"disk full","userErrorCode":"E42"}}`)
			sub.ExpectJSON(`{"type":"message","from":"group","group":"room","fromUserId":"pub","dataType":"text","data":"","stream":{"streamId":"s1","streamSequenceId":1,"endOfStream":true,"error":{"name":"UserError","message":"disk full","userErrorCode":"E42"}}}`)
			pub.ExpectJSON(`{"type":"streamClosed","streamId":"s1"}`)
		}},
		{"unknown stream", func(t *testing.T, pub, sub *wsClient) {
			sendFragment(pub, 1, "a")
			pub.ExpectJSON(`{"type":"streamClosed","streamId":"s1","error":{"name":"StreamNotFound","message":"The stream 's1' is not open on this connection."}}`)
			pub.SendText(`{"type":"streamData","streamId":"s1"}`)
			pub.ExpectJSON(`{"type":"streamClosed","streamId":"s1","error":{"name":"StreamNotFound","message":"The stream 's1' is not open on this connection."}}`)
			pub.SendText(`{"type":"streamEnd","streamId":"s1"}`)
			pub.ExpectJSON(`{"type":"streamClosed","streamId":"s1","error":{"name":"StreamNotFound","message":"The stream 's1' is not open on this connection."}}`)
			sub.Barrier()
		}},
		{"closed stream is not found, and its id may be reused", func(t *testing.T, pub, sub *wsClient) {
			startStream(pub, "")
			pub.SendText(`{"type":"streamEnd","streamId":"s1"}`)
			pub.ExpectJSON(`{"type":"streamClosed","streamId":"s1"}`)
			sendFragment(pub, 1, "late")
			pub.ExpectJSON(`{"type":"streamClosed","streamId":"s1","error":{"name":"StreamNotFound","message":"The stream 's1' is not open on this connection."}}`)
			startStream(pub, "")
			sendFragment(pub, 1, "again")
			sub.ExpectJSON(`{"type":"message","from":"group","group":"room","fromUserId":"pub","dataType":"text","data":"","stream":{"streamId":"s1","streamSequenceId":1,"endOfStream":true}}`)
			sub.ExpectJSON(fragment(1, "again"))
		}},
		{"second start of an open stream is refused, the stream stays", func(t *testing.T, pub, sub *wsClient) {
			startStream(pub, "")
			pub.SendText(`{"type":"sendToGroup","group":"room","stream":{"streamId":"s1"}}`)
			pub.ExpectJSON(`{"type":"streamClosed","streamId":"s1","error":{"name":"BadRequest","message":"The stream 's1' is already open on this connection."}}`)
			sendFragment(pub, 1, "a")
			sub.ExpectJSON(fragment(1, "a"))
		}},
		{"invalid starts", func(t *testing.T, pub, sub *wsClient) {
			for _, tt := range []struct{ frame, name string }{
				{`{"type":"sendToGroup","group":" ","stream":{"streamId":"s1"}}`, "BadRequest"},
				{`{"type":"sendToGroup","group":"room","stream":{"streamId":"s1","idleTimeoutMs":0}}`, "BadRequest"},
				{`{"type":"sendToGroup","group":"room","dataType":"text","data":"x","stream":{"streamId":"s1"}}`, "BadRequest"},
			} {
				pub.SendText(tt.frame)
				f := pub.ReadJSON()
				e, _ := f["error"].(map[string]any)
				if f["type"] != "streamClosed" || f["streamId"] != "s1" || e["name"] != tt.name {
					t.Errorf("%s: got %v; want streamClosed %s", tt.frame, f, tt.name)
				}
			}
			sub.Barrier()
		}},
		{"invalid fragment closes the stream", func(t *testing.T, pub, sub *wsClient) {
			startStream(pub, "")
			pub.SendText(`{"type":"streamData","streamId":"s1","streamSequenceId":1,"dataType":"text"}`)
			f := pub.ReadJSON()
			if e, _ := f["error"].(map[string]any); f["type"] != "streamClosed" || e["name"] != "BadRequest" {
				t.Fatalf("got %v; want streamClosed BadRequest", f)
			}
			m := sub.ReadJSON()
			s, _ := m["stream"].(map[string]any)
			if e, _ := s["error"].(map[string]any); s["endOfStream"] != true || e["name"] != "BadRequest" {
				t.Fatalf("subscriber got %v; want a terminal BadRequest", m)
			}
		}},
		{"ackId on a start is answered", func(t *testing.T, pub, sub *wsClient) {
			pub.SendText(`{"type":"sendToGroup","group":"room","ackId":7,"stream":{"streamId":"s1"}}`)
			pub.ExpectJSON(`{"type":"streamAck","streamId":"s1","expectedSequenceId":1}`)
			pub.ExpectJSON(`{"type":"ack","ackId":7,"success":true}`)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// An emulator each: a stream left open ends with its
			// connection, and its Cancelled end would reach the next
			// case's members of the group.
			te := startEmulator(t, Options{})
			pub, sub := te.pubsub(streamPublisher), te.pubsub(streamReader)
			joinRoom(pub, "room")
			joinRoom(sub, "room")
			tt.run(t, pub, sub)
		})
	}
}

// TestStreamEcho: without noEcho the publisher receives its own stream.
func TestStreamEcho(t *testing.T) {
	te := startEmulator(t, Options{})
	pub := te.pubsub(streamPublisher)
	joinRoom(pub, "room")
	pub.SendText(`{"type":"sendToGroup","group":"room","stream":{"streamId":"s1"}}`)
	pub.ExpectJSON(`{"type":"streamAck","streamId":"s1","expectedSequenceId":1}`)
	sendFragment(pub, 1, "a")
	pub.ExpectJSON(fragment(1, "a"))
	pub.SendText(`{"type":"streamEnd","streamId":"s1"}`)
	pub.ExpectJSON(`{"type":"message","from":"group","group":"room","fromUserId":"pub","dataType":"text","data":"","stream":{"streamId":"s1","streamSequenceId":2,"endOfStream":true}}`)
	pub.ExpectJSON(`{"type":"streamClosed","streamId":"s1"}`)
}

// TestStreamPermissions: a start needs the send permission for the group
// (a group role suffices); revoking it mid-stream closes the stream as
// Forbidden.
func TestStreamPermissions(t *testing.T) {
	t.Run("no role", func(t *testing.T) {
		te := startEmulator(t, Options{}) // one each: an open stream ends with its connection
		c := te.pubsub(jwt.MapClaims{"sub": "x"})
		c.SendText(`{"type":"sendToGroup","group":"room","stream":{"streamId":"s1"}}`)
		c.ExpectJSON(`{"type":"streamClosed","streamId":"s1","error":{"name":"Forbidden","message":"The client has no permission to send message to group 'room'."}}`)
	})
	t.Run("group role", func(t *testing.T) {
		te := startEmulator(t, Options{}) // one each: an open stream ends with its connection
		c := te.pubsub(jwt.MapClaims{"sub": "x", "role": []string{"webpubsub.sendToGroup.room"}})
		c.SendText(`{"type":"sendToGroup","group":"room","stream":{"streamId":"s1"}}`)
		c.ExpectJSON(`{"type":"streamAck","streamId":"s1","expectedSequenceId":1}`)
		c.SendText(`{"type":"sendToGroup","group":"other","stream":{"streamId":"s2"}}`)
		c.ExpectJSON(`{"type":"streamClosed","streamId":"s2","error":{"name":"Forbidden","message":"The client has no permission to send message to group 'other'."}}`)
	})
	t.Run("revoked mid-stream", func(t *testing.T) {
		te := startEmulator(t, Options{}) // one each: an open stream ends with its connection
		pub, sub := te.pubsub(jwt.MapClaims{"sub": "pub"}), te.pubsub(streamReader)
		joinRoom(sub, "room")
		expectStatus(t, te.rest("PUT", "/api/hubs/chat/permissions/sendToGroup/connections/"+pub.id+v+"&targetName=room", "", nil), 200)
		startStream(pub, "")
		sendFragment(pub, 1, "a")
		sub.ExpectJSON(fragment(1, "a"))
		expectStatus(t, te.rest("DELETE", "/api/hubs/chat/permissions/sendToGroup/connections/"+pub.id+v+"&targetName=room", "", nil), 204)
		sendFragment(pub, 2, "b")
		pub.ExpectJSON(`{"type":"streamClosed","streamId":"s1","error":{"name":"Forbidden","message":"The client has no permission to send message to group 'room'."}}`)
		sub.ExpectJSON(`{"type":"message","from":"group","group":"room","fromUserId":"pub","dataType":"text","data":"","stream":{"streamId":"s1","streamSequenceId":2,"endOfStream":true,"error":{"name":"Forbidden","message":"The client has no permission to send message to group 'room'."}}}`)
	})
}

// TestStreamIdleTimeout: a stream with no accepted activity for its idle
// timeout, on the emulator's clock, is closed as IdleTimeout for both
// sides; activity pushes the deadline back.
func TestStreamIdleTimeout(t *testing.T) {
	clock := NewFakeClock(time.Unix(1_700_000_000, 0))
	// Keep-alive on the connections is out of the way of the 300 s.
	te := startEmulator(t, Options{Clock: clock, PingInterval: 24 * time.Hour, IdleTimeout: 24 * time.Hour})
	// openOneSecond starts stream s1 with an idle timeout of 1 s, read by
	// a member of "room", and returns once its timer is armed, with the
	// emulator's view for subtest t.
	openOneSecond := func(t *testing.T) (*testEmulator, *wsClient, *wsClient) {
		te := te.with(t)
		pub, sub := te.pubsub(streamPublisher), te.pubsub(streamReader)
		joinRoom(sub, "room")
		startStream(pub, `,"idleTimeoutMs":1000`)
		ctx, cancel := contextWithTimeout()
		defer cancel()
		if err := clock.WaitTimers(ctx, time.Second, 1); err != nil {
			t.Fatal(err)
		}
		return te, pub, sub
	}
	t.Run("default", func(t *testing.T) {
		te := te.with(t)
		pub, sub := te.pubsub(streamPublisher), te.pubsub(streamReader)
		joinRoom(sub, "room")
		startStream(pub, "")
		te.tick(clock, 300*time.Second, 1, 1)
		pub.ExpectJSON(`{"type":"streamClosed","streamId":"s1","error":{"name":"IdleTimeout","message":"The stream saw no activity for 300000 ms."}}`)
		sub.ExpectJSON(`{"type":"message","from":"group","group":"room","fromUserId":"pub","dataType":"text","data":"","stream":{"streamId":"s1","streamSequenceId":1,"endOfStream":true,"error":{"name":"IdleTimeout","message":"The stream saw no activity for 300000 ms."}}}`)
	})
	t.Run("activity defers it", func(t *testing.T) {
		te, pub, sub := openOneSecond(t)
		clock.Advance(600 * time.Millisecond)
		pub.SendText(`{"type":"streamData","streamId":"s1"}`)
		pub.Barrier()
		clock.Advance(400 * time.Millisecond) // the first check: 600 ms left
		te.tick(clock, 600*time.Millisecond, 1, 1)
		pub.ExpectJSON(`{"type":"streamClosed","streamId":"s1","error":{"name":"IdleTimeout","message":"The stream saw no activity for 1000 ms."}}`)
		m := sub.ReadJSON()
		if s, _ := m["stream"].(map[string]any); s["endOfStream"] != true {
			t.Fatalf("subscriber got %v; want the terminal message", m)
		}
	})
	t.Run("a duplicate or a gap does not defer it", func(t *testing.T) {
		_, pub, sub := openOneSecond(t)
		sendFragment(pub, 1, "a") // accepted: the stream's last activity
		sub.ExpectJSON(fragment(1, "a"))
		clock.Advance(600 * time.Millisecond)
		sendFragment(pub, 1, "a again")
		pub.ExpectJSON(`{"type":"streamAck","streamId":"s1","expectedSequenceId":2}`)
		sendFragment(pub, 3, "c")
		pub.ExpectJSON(`{"type":"streamNack","streamId":"s1","name":"InvalidSequenceId","message":"Expected streamSequenceId 2, got 3.","expectedSequenceId":2}`)
		// 1000 ms after the accepted fragment, not after the refused ones.
		clock.Advance(400 * time.Millisecond)
		pub.ExpectJSON(`{"type":"streamClosed","streamId":"s1","error":{"name":"IdleTimeout","message":"The stream saw no activity for 1000 ms."}}`)
		sub.ExpectJSON(`{"type":"message","from":"group","group":"room","fromUserId":"pub","dataType":"text","data":"","stream":{"streamId":"s1","streamSequenceId":2,"endOfStream":true,"error":{"name":"IdleTimeout","message":"The stream saw no activity for 1000 ms."}}}`)
	})
}

// TestStreamShutdown: Close ends the open streams before the connections
// go: each publisher gets streamClosed InternalServerError, in streamId
// order, and the group the terminal messages with that error, all before
// the disconnected message; the streams of another publisher end too.
func TestStreamShutdown(t *testing.T) {
	te := startEmulator(t, Options{})
	pub, other, sub := te.pubsub(streamPublisher), te.pubsub(streamPublisher), te.pubsub(streamReader)
	joinRoom(sub, "room")
	startStream(pub, "")
	pub.SendText(`{"type":"sendToGroup","group":"room","noEcho":true,"stream":{"streamId":"s2"}}`)
	pub.ExpectJSON(`{"type":"streamAck","streamId":"s2","expectedSequenceId":1}`)
	sendFragment(pub, 1, "a")
	sub.ExpectJSON(fragment(1, "a"))
	other.SendText(`{"type":"sendToGroup","group":"room","noEcho":true,"stream":{"streamId":"o1"}}`)
	other.ExpectJSON(`{"type":"streamAck","streamId":"o1","expectedSequenceId":1}`)

	done := make(chan error, 1)
	go func() { done <- te.Close() }()
	const closed = `"error":{"name":"InternalServerError","message":"The emulator is shutting down."}`
	const disconnected = `{"type":"system","event":"disconnected","message":"The emulator is shutting down."}`
	pub.ExpectJSON(`{"type":"streamClosed","streamId":"s1",` + closed + `}`)
	pub.ExpectJSON(`{"type":"streamClosed","streamId":"s2",` + closed + `}`)
	pub.ExpectJSON(disconnected)
	pub.ExpectClose(websocket.StatusGoingAway)
	other.ExpectJSON(`{"type":"streamClosed","streamId":"o1",` + closed + `}`)
	other.ExpectJSON(disconnected)
	other.ExpectClose(websocket.StatusGoingAway)
	// The two publishers' ends may interleave; each stream's is there
	// once, before the disconnected message.
	want := map[string]string{
		"s1": `{"streamId":"s1","streamSequenceId":2,"endOfStream":true,` + closed + `}`,
		"s2": `{"streamId":"s2","streamSequenceId":1,"endOfStream":true,` + closed + `}`,
		"o1": `{"streamId":"o1","streamSequenceId":1,"endOfStream":true,` + closed + `}`,
	}
	for range len(want) {
		m := sub.ReadJSON()
		st, _ := m["stream"].(map[string]any)
		id, _ := st["streamId"].(string)
		w, ok := want[id]
		if !ok {
			t.Fatalf("subscriber got %v; want the terminal message of one of %v", m, want)
		}
		delete(want, id)
		var wm any
		if err := json.Unmarshal([]byte(`{"type":"message","from":"group","group":"room","fromUserId":"pub","dataType":"text","data":"","stream":`+w+`}`), &wm); err != nil {
			t.Fatal(err)
		}
		if got, w := mustMarshal(t, m), mustMarshal(t, wm); got != w {
			t.Errorf("subscriber got %s; want %s", got, w)
		}
	}
	sub.ExpectJSON(disconnected)
	sub.ExpectClose(websocket.StatusGoingAway)
	if err := <-done; err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// mustMarshal is the canonical JSON of v (sorted keys).
func mustMarshal(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestFailStream: FailStream ends one open stream as InternalServerError
// for the publisher and the group; the publisher's other stream stays
// open, the failed id is not found until it is opened again, and an
// unknown hub, connection or stream is an error.
func TestFailStream(t *testing.T) {
	te := startEmulator(t, Options{})
	pub, sub := te.pubsub(streamPublisher), te.pubsub(streamReader)
	joinRoom(sub, "room")
	startStream(pub, "")
	pub.SendText(`{"type":"sendToGroup","group":"room","noEcho":true,"stream":{"streamId":"s2"}}`)
	pub.ExpectJSON(`{"type":"streamAck","streamId":"s2","expectedSequenceId":1}`)
	sendFragment(pub, 1, "a")
	sub.ExpectJSON(fragment(1, "a"))

	if err := te.FailStream("CHAT", pub.id, "s1"); err != nil { // hub names are case-insensitive
		t.Fatalf("FailStream: %v", err)
	}
	pub.ExpectJSON(`{"type":"streamClosed","streamId":"s1","error":{"name":"InternalServerError","message":"Injected failure."}}`)
	sub.ExpectJSON(`{"type":"message","from":"group","group":"room","fromUserId":"pub","dataType":"text","data":"","stream":{"streamId":"s1","streamSequenceId":2,"endOfStream":true,"error":{"name":"InternalServerError","message":"Injected failure."}}}`)
	sendFragment(pub, 2, "b")
	pub.ExpectJSON(`{"type":"streamClosed","streamId":"s1","error":{"name":"StreamNotFound","message":"The stream 's1' is not open on this connection."}}`)
	// s2 is still open.
	pub.SendText(`{"type":"streamData","streamId":"s2","streamSequenceId":1,"dataType":"text","data":"x"}`)
	sub.ExpectJSON(`{"type":"message","from":"group","group":"room","fromUserId":"pub","dataType":"text","data":"x","stream":{"streamId":"s2","streamSequenceId":1}}`)
	startStream(pub, "")

	for _, tt := range []struct {
		hub, conn, stream string
		want              error
	}{
		{"nohub", pub.id, "s1", ErrConnectionNotFound},
		{"chat", "no-such-connection", "s1", ErrConnectionNotFound},
		{"chat", pub.id, "s3", ErrStreamNotFound},
		{"chat", pub.id, "S1", ErrStreamNotFound}, // stream ids are case-sensitive
		{"chat", sub.id, "s1", ErrStreamNotFound}, // another connection's stream
	} {
		if err := te.FailStream(tt.hub, tt.conn, tt.stream); !errors.Is(err, tt.want) {
			t.Errorf("FailStream(%q, %q, %q) = %v; want %v", tt.hub, tt.conn, tt.stream, err, tt.want)
		}
	}
	pub.Barrier()
	sub.Barrier()
}

// TestStreamAcrossRecovery: a stream belongs to the connection, so it
// survives a reliable recovery: the publisher resends what was not
// acknowledged, duplicates are not republished, and the subscriber gets
// every fragment once, in order.
func TestStreamAcrossRecovery(t *testing.T) {
	te := startEmulator(t, Options{})
	pub, sub := te.reliable(streamPublisher), te.pubsub(streamReader)
	joinRoom(sub, "room")
	pub.SendText(`{"type":"sendToGroup","group":"room","noEcho":true,"stream":{"streamId":"s1"}}`)
	pub.ExpectJSON(`{"type":"streamAck","streamId":"s1","expectedSequenceId":1}`)
	for i := 1; i <= 3; i++ {
		sendFragment(pub, i, fmt.Sprint("f", i))
	}
	for i := 1; i <= 3; i++ {
		sub.ExpectJSON(fragment(i, fmt.Sprint("f", i)))
	}
	te.drop(pub)
	pub = te.recover(pub)
	for i := 1; i <= 5; i++ { // 1–3 again: their acks were never sent
		sendFragment(pub, i, fmt.Sprint("f", i))
	}
	for range 3 {
		pub.ExpectJSON(`{"type":"streamAck","streamId":"s1","expectedSequenceId":4}`)
	}
	for i := 4; i <= 5; i++ {
		sub.ExpectJSON(fragment(i, fmt.Sprint("f", i)))
	}
	pub.SendText(`{"type":"streamEnd","streamId":"s1"}`)
	pub.ExpectJSON(`{"type":"streamClosed","streamId":"s1"}`)
	sub.ExpectJSON(`{"type":"message","from":"group","group":"room","fromUserId":"pub","dataType":"text","data":"","stream":{"streamId":"s1","streamSequenceId":6,"endOfStream":true}}`)
}

// TestStreamPublisherGone: when the publisher's connection ends, its open
// streams end for their receivers with Cancelled.
func TestStreamPublisherGone(t *testing.T) {
	te := startEmulator(t, Options{})
	pub, sub := te.pubsub(streamPublisher), te.pubsub(streamReader)
	joinRoom(sub, "room")
	startStream(pub, "")
	sendFragment(pub, 1, "a")
	sub.ExpectJSON(fragment(1, "a"))
	expectStatus(t, te.rest("DELETE", "/api/hubs/chat/connections/"+pub.id+v, "", nil), 204)
	sub.ExpectJSON(`{"type":"message","from":"group","group":"room","fromUserId":"pub","dataType":"text","data":"","stream":{"streamId":"s1","streamSequenceId":2,"endOfStream":true,"error":{"name":"Cancelled","message":"The publisher's connection ended."}}}`)
}

// TestStreamRawReceiver: a simple WebSocket client in the group gets each
// fragment's payload and nothing for the end.
func TestStreamRawReceiver(t *testing.T) {
	te := startEmulator(t, Options{})
	pub, raw := te.pubsub(streamPublisher), te.raw(jwt.MapClaims{"sub": "r"})
	expectStatus(t, te.rest("PUT", "/api/hubs/chat/groups/room/connections/"+raw.id+v, "", nil), 200)
	startStream(pub, "")
	sendFragment(pub, 1, "a")
	pub.SendText(`{"type":"streamEnd","streamId":"s1"}`)
	pub.ExpectJSON(`{"type":"streamClosed","streamId":"s1"}`)
	if _, b := raw.Read(); string(b) != "a" {
		t.Fatalf("raw client got %q; want a", b)
	}
	te.rawBarrier(raw)
}
