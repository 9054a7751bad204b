package emulator

import (
	"bytes"
	"strconv"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"
)

// startWithClock starts an emulator whose clock is fc.
func startWithClock(t *testing.T, opts Options, fc *FakeClock) *testEmulator {
	t.Helper()
	opts.Clock = fc
	return startEmulator(t, opts)
}

// sendText posts a text message to one connection.
func (te *testEmulator) sendText(id, text, query string) {
	te.t.Helper()
	expectStatus(te.t.(*testing.T), te.rest("POST", "/api/hubs/chat/connections/"+id+"/:send"+v+query, "text/plain", []byte(text)), 202)
}

// seqMessage reads the next frame, which must be a server message with a
// sequenceId, and returns both.
func (c *wsClient) seqMessage() (uint64, string) {
	c.t.Helper()
	f := c.ReadJSON()
	seq, ok := f["sequenceId"].(float64)
	if f["type"] != "message" || !ok {
		c.t.Fatalf("frame %v; want a sequenced message", f)
	}
	data, _ := f["data"].(string)
	return uint64(seq), data
}

// TestReliableCutMidStreamReceivesEverythingOnceInOrder: a reliable client
// that is cut off several times in the middle of a stream, with messages
// in flight, unacknowledged or sent while it is detached, recovers each
// time and, dropping ids it has already seen as the protocol requires,
// receives every message exactly once and in order.
func TestReliableCutMidStreamReceivesEverythingOnceInOrder(t *testing.T) {
	te := startEmulator(t, Options{})
	c := te.reliable(jwt.MapClaims{"sub": "r", "webpubsub.group": []string{"g"}})
	var got []string
	var highest uint64
	sent := 0
	sendBatch := func(n int) {
		for range n {
			expectStatus(t, te.rest("POST", "/api/hubs/chat/groups/g/:send"+v, "text/plain", []byte("m"+strconv.Itoa(sent))), 202)
			sent++
		}
	}
	// read consumes n new messages (skipping replayed duplicates).
	read := func(n int) {
		for n > 0 {
			seq, data := c.seqMessage()
			if seq <= highest {
				continue // a replay of something already seen
			}
			if seq != highest+1 {
				t.Fatalf("sequenceId %d after %d: a gap", seq, highest)
			}
			highest = seq
			got = append(got, data)
			n--
		}
	}
	for round := range 4 {
		sendBatch(50)
		read(20)
		c.SendText(`{"type":"sequenceAck","sequenceId":` + strconv.FormatUint(highest-10, 10) + `}`)
		te.drop(c) // 30 unread, 10 read but not acknowledged
		sendBatch(25)
		// While detached the connection still exists, with its groups.
		expectStatus(t, te.rest("HEAD", "/api/hubs/chat/connections/"+c.id+v, "", nil), 200)
		expectStatus(t, te.rest("HEAD", "/api/hubs/chat/groups/g"+v, "", nil), 200)
		expectStatus(t, te.rest("HEAD", "/api/hubs/chat/users/r"+v, "", nil), 200)
		c = te.recover(c)
		// The replay starts at or below the first unacknowledged id.
		first, _ := c.seqMessage()
		if first > highest-9 {
			t.Fatalf("round %d: replay starts at %d; want at most %d", round, first, highest-9)
		}
		if first > highest {
			t.Fatalf("round %d: replay skipped messages", round)
		}
		read(55)
	}
	sendBatch(5)
	read(5)
	if len(got) != sent {
		t.Fatalf("got %d messages; sent %d", len(got), sent)
	}
	for i, d := range got {
		if d != "m"+strconv.Itoa(i) {
			t.Fatalf("message %d is %q; want m%d", i, d, i)
		}
	}
	c.Barrier()
}

// TestReliableReplayIsExact: with everything read acknowledged before the
// drop, the replay is exactly the unacknowledged messages, with their
// original ids, and the recovered connection keeps its user, groups,
// permissions and ack ids.
func TestReliableReplayIsExact(t *testing.T) {
	te := startEmulator(t, Options{})
	c := te.reliable(jwt.MapClaims{"sub": "r", "role": []string{"webpubsub.joinLeaveGroup"}})
	c.SendText(`{"type":"joinGroup","group":"g","ackId":1}`)
	c.ExpectJSON(`{"type":"ack","ackId":1,"success":true}`)
	expectStatus(t, te.rest("PUT", "/api/hubs/chat/permissions/sendToGroup/connections/"+c.id+v+"&targetName=g", "", nil), 200)
	for i := range 3 {
		te.sendText(c.id, "x"+strconv.Itoa(i), "")
	}
	for i := range 3 {
		if seq, data := c.seqMessage(); seq != uint64(i+1) || data != "x"+strconv.Itoa(i) {
			t.Fatalf("got %d %q", seq, data)
		}
	}
	c.SendText(`{"type":"sequenceAck","sequenceId":2}`)
	c.Barrier() // the ack has been processed
	te.drop(c)
	te.sendText(c.id, "x3", "")
	c = te.recover(c)
	c.ExpectJSON(`{"type":"message","from":"server","dataType":"text","data":"x2","sequenceId":3}`)
	c.ExpectJSON(`{"type":"message","from":"server","dataType":"text","data":"x3","sequenceId":4}`)
	// Same connection: the ack id set, the group and the granted
	// permission survived.
	c.SendText(`{"type":"joinGroup","group":"g","ackId":1}`)
	c.ExpectJSON(`{"type":"ack","ackId":1,"success":false,"error":{"name":"Duplicate","message":"Message with ack-id: 1 has been processed"}}`)
	c.SendText(`{"type":"sendToGroup","group":"g","ackId":2,"dataType":"text","data":"echo"}`)
	c.ExpectJSON(`{"type":"message","from":"group","group":"g","fromUserId":"r","dataType":"text","data":"echo","sequenceId":5}`)
	c.ExpectJSON(`{"type":"ack","ackId":2,"success":true}`)
	// sequenceAck 0 and a smaller ack are no-ops; pongs carry no id.
	c.SendText(`{"type":"sequenceAck","sequenceId":0}`)
	c.SendText(`{"type":"sequenceAck","sequenceId":1}`)
	c.Barrier()
}

// TestReliableRecoveryReplacesHalfOpenSocket: a recovery while the old
// socket still looks open drops it and takes over (§16 D8).
func TestReliableRecoveryReplacesHalfOpenSocket(t *testing.T) {
	te := startEmulator(t, Options{})
	c := te.reliable(jwt.MapClaims{"sub": "r"})
	te.sendText(c.id, "a", "")
	if seq, _ := c.seqMessage(); seq != 1 {
		t.Fatalf("seq %d", seq)
	}
	d := te.recover(c) // c's socket is still attached
	d.ExpectJSON(`{"type":"message","from":"server","dataType":"text","data":"a","sequenceId":1}`)
	ctx, cancel := contextWithTimeout()
	defer cancel()
	if _, _, err := c.ws.Read(ctx); err == nil {
		t.Fatal("the replaced socket still delivers frames")
	}
	te.sendText(c.id, "b", "")
	d.ExpectJSON(`{"type":"message","from":"server","dataType":"text","data":"b","sequenceId":2}`)
	d.Barrier()
}

// expectRefused checks that a recovery is accepted and then closed with
// 1008 after a disconnected frame.
func (te *testEmulator) expectRefused(c *wsClient, token string) {
	te.t.Helper()
	ws, _, err := te.recoverRaw(c, token)
	if err != nil {
		te.t.Fatalf("recovery dial: %v", err)
	}
	r := wrapWS(te.t, ws)
	r.ExpectJSON(`{"type":"system","event":"disconnected","message":"The connection could not be recovered."}`)
	r.ExpectClose(websocket.StatusPolicyViolation)
}

// TestReliableRetention: within the retention a recovery succeeds; after
// it (the retention timer fired, or only the clock moved past it) the
// connection has ended, a recovery gets 1008 and the upstream
// disconnected event says why.
func TestReliableRetention(t *testing.T) {
	fc := NewFakeClock(time.Time{})
	up := newFakeUpstream(t, nil)
	te := startWithClock(t, up.handlerOptions("", "disconnected"), fc)

	t.Run("within", func(t *testing.T) {
		te := te.with(t)
		c := te.reliable(jwt.MapClaims{"sub": "a"})
		te.drop(c)
		fc.Advance(DefaultReliableRetention - time.Second)
		c = te.recover(c)
		c.Barrier()
	})
	t.Run("timer fired", func(t *testing.T) {
		te := te.with(t)
		c := te.reliable(jwt.MapClaims{"sub": "a"})
		te.drop(c)
		fc.Advance(DefaultReliableRetention)
		te.waitEnded(c.id)
		expectStatus(t, te.rest("HEAD", "/api/hubs/chat/connections/"+c.id+v, "", nil), 404)
		te.expectRefused(c, c.reconnectionToken)
		if r := up.nextFor(t, ceTypeDisconnected, c.id); string(r.body) != `{"reason":"The connection recovery timeout expired."}` {
			t.Fatalf("disconnected %s", r.body)
		}
	})
	t.Run("clock only", func(t *testing.T) {
		te := te.with(t)
		c := te.reliable(jwt.MapClaims{"sub": "a"})
		te.drop(c)
		fc.advanceWithoutTimers(DefaultReliableRetention + time.Millisecond)
		te.expectRefused(c, c.reconnectionToken)
		te.waitEnded(c.id)
		r := up.nextFor(t, ceTypeDisconnected, c.id)
		if string(r.body) != `{"reason":"The connection recovery timeout expired."}` {
			t.Fatalf("disconnected %s", r.body)
		}
	})
	t.Run("closed by REST while detached", func(t *testing.T) {
		te := te.with(t)
		c := te.reliable(jwt.MapClaims{"sub": "a"})
		te.drop(c)
		expectStatus(t, te.rest("DELETE", "/api/hubs/chat/connections/"+c.id+v+"&reason=gone", "", nil), 204)
		te.expectRefused(c, c.reconnectionToken)
		if r := up.nextFor(t, ceTypeDisconnected, c.id); string(r.body) != `{"reason":"gone"}` {
			t.Fatalf("disconnected %s", r.body)
		}
	})
	t.Run("client close frame", func(t *testing.T) {
		te := te.with(t)
		c := te.reliable(jwt.MapClaims{"sub": "a"})
		if err := c.ws.Close(websocket.StatusNormalClosure, "done"); err != nil {
			t.Fatal(err)
		}
		te.waitEnded(c.id)
		te.expectRefused(c, c.reconnectionToken)
		if r := up.nextFor(t, ceTypeDisconnected, c.id); string(r.body) != `{"reason":"done"}` {
			t.Fatalf("disconnected %s", r.body)
		}
	})
	t.Run("wrong hub, unknown id, not reliable", func(t *testing.T) {
		te := te.with(t)
		c := te.reliable(jwt.MapClaims{"sub": "a"})
		te.drop(c)
		other := *c
		other.opts.hub = "other"
		te.expectRefused(&other, c.reconnectionToken)
		unknown := *c
		unknown.id = "0123456789abcdef0123456789abcdef"
		te.expectRefused(&unknown, c.reconnectionToken)
		p := te.pubsub(jwt.MapClaims{"sub": "p"})
		p.opts.subprotocols = []string{"json.reliable.webpubsub.azure.v1"}
		te.expectRefused(p, "anything")
		// Not offering the original subprotocol: accepted without one,
		// then closed with 1008 and no frame.
		ws, _, err := te.recoverRaw(&wsClient{id: c.id, opts: dialOptions{token: c.opts.token}}, c.reconnectionToken)
		if err != nil {
			t.Fatal(err)
		}
		if ws.Subprotocol() != "" {
			t.Fatalf("subprotocol %q; want none", ws.Subprotocol())
		}
		wrapWS(t, ws).ExpectClose(websocket.StatusPolicyViolation)
		// The connection itself is still recoverable.
		c = te.recover(c)
		c.Barrier()
	})
}

// TestReliableTTL: a message whose messageTtlSeconds ran out while the
// connection was detached is not replayed (a gap in sequence ids); one
// without a TTL, or within it, is.
func TestReliableTTL(t *testing.T) {
	fc := NewFakeClock(time.Time{})
	te := startWithClock(t, Options{}, fc)
	c := te.reliable(jwt.MapClaims{"sub": "a", "webpubsub.group": []string{"g"}})
	te.drop(c)
	te.sendText(c.id, "short", "&messageTtlSeconds=1")
	te.sendText(c.id, "forever", "")
	te.sendText(c.id, "long", "&messageTtlSeconds=300")
	fc.Advance(2 * time.Second)
	c = te.recover(c)
	c.ExpectJSON(`{"type":"message","from":"server","dataType":"text","data":"forever","sequenceId":2}`)
	c.ExpectJSON(`{"type":"message","from":"server","dataType":"text","data":"long","sequenceId":3}`)
	c.Barrier()
	// A client-side ttlSeconds counts too.
	p := te.pubsub(jwt.MapClaims{"sub": "p", "role": []string{"webpubsub.sendToGroup"}})
	c.SendText(`{"type":"sequenceAck","sequenceId":3}`)
	c.Barrier()
	te.drop(c)
	p.SendText(`{"type":"sendToGroup","group":"g","ackId":1,"dataType":"text","data":"brief","ttlSeconds":1}`)
	p.ExpectJSON(`{"type":"ack","ackId":1,"success":true}`)
	fc.Advance(2 * time.Second)
	te.sendText(c.id, "after", "")
	c = te.recover(c)
	c.ExpectJSON(`{"type":"message","from":"server","dataType":"text","data":"after","sequenceId":5}`)
	c.Barrier()
}

// TestReliableBufferLimits: 1,000 unacknowledged messages fit; the 1,001st
// (or going past 16 MiB) ends the connection, attached or detached, and a
// recovery then gets 1008.
func TestReliableBufferLimits(t *testing.T) {
	up := newFakeUpstream(t, nil)
	te := startEmulator(t, up.handlerOptions("", "disconnected"))
	t.Run("count while detached", func(t *testing.T) {
		te := te.with(t)
		c := te.reliable(jwt.MapClaims{"sub": "a"})
		te.drop(c)
		for i := range 1000 {
			te.sendText(c.id, strconv.Itoa(i), "")
		}
		expectStatus(t, te.rest("HEAD", "/api/hubs/chat/connections/"+c.id+v, "", nil), 200)
		te.sendText(c.id, "one too many", "")
		te.waitEnded(c.id)
		expectStatus(t, te.rest("HEAD", "/api/hubs/chat/connections/"+c.id+v, "", nil), 404)
		te.expectRefused(c, c.reconnectionToken)
		if r := up.nextFor(t, ceTypeDisconnected, c.id); string(r.body) != `{"reason":"The reliable message buffer is full."}` {
			t.Fatalf("disconnected %s", r.body)
		}
	})
	t.Run("acks make room", func(t *testing.T) {
		te := te.with(t)
		c := te.reliable(jwt.MapClaims{"sub": "b"})
		for i := range 1500 {
			te.sendText(c.id, "m", "")
			if i%500 == 499 {
				var last uint64
				for range 500 {
					last, _ = c.seqMessage()
				}
				c.SendText(`{"type":"sequenceAck","sequenceId":` + strconv.FormatUint(last, 10) + `}`)
				c.Barrier()
			}
		}
		expectStatus(t, te.rest("HEAD", "/api/hubs/chat/connections/"+c.id+v, "", nil), 200)
	})
	t.Run("bytes", func(t *testing.T) {
		te := te.with(t)
		c := te.reliable(jwt.MapClaims{"sub": "c"})
		te.drop(c)
		big := bytes.Repeat([]byte("x"), 1<<20)
		for range 15 {
			expectStatus(t, te.rest("POST", "/api/hubs/chat/connections/"+c.id+"/:send"+v, "text/plain", big), 202)
		}
		expectStatus(t, te.rest("HEAD", "/api/hubs/chat/connections/"+c.id+v, "", nil), 200)
		expectStatus(t, te.rest("POST", "/api/hubs/chat/connections/"+c.id+"/:send"+v, "text/plain", big), 202)
		te.waitEnded(c.id)
		te.expectRefused(c, c.reconnectionToken)
	})
}

// TestReliableKeepAliveTimeoutDetaches: a reliable connection that stops
// answering is detached, not ended, and can be recovered.
func TestReliableKeepAliveTimeoutDetaches(t *testing.T) {
	clock := NewFakeClock(time.Time{})
	te := startEmulator(t, Options{Clock: clock, PingInterval: time.Second, IdleTimeout: 3 * time.Second})
	c := te.reliable(jwt.MapClaims{"sub": "mute"}) // never reads, so never answers a ping
	te.tick(clock, time.Second, 4, 1)
	te.waitDetached(c.id)
	expectStatus(t, te.rest("HEAD", "/api/hubs/chat/connections/"+c.id+v, "", nil), 200)
	d := te.recover(c)
	d.Barrier()
}

// TestReliableSequenceSharedBySources: event replies and REST messages to a reliable
// client share one sequence.
func TestReliableSequenceSharedBySources(t *testing.T) {
	up := newFakeUpstream(t, func(r *recordedRequest) fakeResponse {
		return fakeResponse{status: 200, header: map[string][]string{"Content-Type": {"text/plain"}}, body: []byte("reply")}
	})
	te := startEmulator(t, up.handlerOptions("*"))
	c := te.reliable(jwt.MapClaims{"sub": "a"})
	te.sendText(c.id, "rest", "")
	c.SendText(`{"type":"event","event":"e","ackId":1,"dataType":"text","data":"x"}`)
	c.ExpectJSON(`{"type":"message","from":"server","dataType":"text","data":"rest","sequenceId":1}`)
	c.ExpectJSON(`{"type":"message","from":"server","dataType":"text","data":"reply","sequenceId":2}`)
	c.ExpectJSON(`{"type":"ack","ackId":1,"success":true}`)
	c.Barrier()
}
