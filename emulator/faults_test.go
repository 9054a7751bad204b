package emulator

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"
)

// TestFailNextREST: the next n calls of an operation get the injected
// status, x-ms-error-code, Retry-After and JSON body; other operations
// and later calls run normally.
func TestFailNextREST(t *testing.T) {
	te := startEmulator(t, Options{})
	if err := te.FailNext(OperationSendToAll, 2, Failure{Status: 503, ErrorCode: "Error.Throttled", Message: "slow down", RetryAfter: 1500 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if err := te.FailNext(OperationConnectionExists, 1, Failure{Status: 500}); err != nil {
		t.Fatal(err)
	}
	if err := te.FailNext(OperationGetServiceStatus, 1, Failure{Status: 502}); err != nil {
		t.Fatal(err)
	}
	// Another operation is not affected.
	expectStatus(t, te.rest("POST", "/api/hubs/chat/users/u/:send"+v, "text/plain", []byte("x")), 202)
	for i := range 2 {
		r := te.rest("POST", "/api/hubs/chat/:send"+v, "text/plain", []byte("x"))
		if r.status != 503 || r.header.Get("x-ms-error-code") != "Error.Throttled" || r.header.Get("Retry-After") != "2" {
			t.Fatalf("call %d: %d %v", i, r.status, r.header)
		}
		var body azureError
		if err := json.Unmarshal(r.body, &body); err != nil || body.Code != "Error.Throttled" || body.Message != "slow down" {
			t.Fatalf("call %d body %s (%v)", i, r.body, err)
		}
	}
	expectStatus(t, te.rest("POST", "/api/hubs/chat/:send"+v, "text/plain", []byte("x")), 202)

	r := te.rest("HEAD", "/api/hubs/chat/connections/c1"+v, "", nil)
	if r.status != 500 || r.header.Get("x-ms-error-code") != "" || len(r.body) != 0 {
		t.Fatalf("HEAD: %d %v %q", r.status, r.header, r.body)
	}
	expectStatus(t, te.rest("HEAD", "/api/hubs/chat/connections/c1"+v, "", nil), 404)
	expectStatus(t, te.rest("GET", "/api/health", "", nil), 502)
	expectStatus(t, te.rest("GET", "/api/health", "", nil), 200)

	// ClearFaults drops what is pending.
	if err := te.FailNext(OperationSendToAll, 5, Failure{Status: 429}); err != nil {
		t.Fatal(err)
	}
	te.ClearFaults()
	expectStatus(t, te.rest("POST", "/api/hubs/chat/:send"+v, "text/plain", []byte("x")), 202)
}

// TestInjectionArguments: bad arguments are errors and inject nothing.
func TestInjectionArguments(t *testing.T) {
	te := startEmulator(t, Options{})
	for _, tt := range []struct {
		name string
		call func() error
		want string
	}{
		{"unknown operation", func() error { return te.FailNext("SendToMars", 1, Failure{Status: 500}) }, "unknown operation"},
		{"zero calls", func() error { return te.FailNext(OperationSendToAll, 0, Failure{Status: 500}) }, "at least 1"},
		{"success status", func() error { return te.FailNext(OperationSendToAll, 1, Failure{Status: 200}) }, "not an error status"},
		{"status too high", func() error { return te.FailNext(OperationSendToAll, 1, Failure{Status: 600}) }, "not an error status"},
		{"negative delay", func() error { return te.DelayNext(OperationSendToAll, 1, -time.Second) }, "negative"},
		{"delay zero calls", func() error { return te.DelayNext(OperationSendToAll, -1, time.Second) }, "at least 1"},
		{"unknown connection", func() error { return te.CutConnection("chat", "nope") }, ErrConnectionNotFound.Error()},
		{"unknown hub", func() error { return te.PauseOutbound("nohub", "nope") }, ErrConnectionNotFound.Error()},
		{"ack of unknown connection", func() error { return te.DropNextAck("chat", "nope") }, ErrConnectionNotFound.Error()},
		{"empty ack error name", func() error { return te.FailNextAck("chat", "nope", "", "x") }, "must not be empty"},
		{"negative ack delay", func() error { return te.DelayNextAck("chat", "nope", -1) }, "negative"},
		{"recovery of unknown connection", func() error { return te.RefuseNextRecovery("chat", "nope") }, ErrConnectionNotFound.Error()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v; want one containing %q", err, tt.want)
			}
		})
	}
	expectStatus(t, te.rest("POST", "/api/hubs/chat/:send"+v, "text/plain", []byte("x")), 202)
	raw := te.raw(nil)
	if err := te.DropNextAck("chat", raw.id); err == nil || !strings.Contains(err.Error(), "raw client") {
		t.Errorf("DropNextAck of a raw client = %v", err)
	}
	p := te.pubsub(nil)
	if err := te.RefuseNextRecovery("chat", p.id); !errors.Is(err, ErrNotReliable) {
		t.Errorf("RefuseNextRecovery of a json.webpubsub.azure.v1 client = %v", err)
	}
	for _, op := range PossibleOperationValues() {
		if err := te.FailNext(op, 1, Failure{Status: 500}); err != nil {
			t.Errorf("FailNext(%s) = %v", op, err)
		}
	}
}

// TestDelayNextREST: a delayed call waits for the emulator's clock and
// then runs; nothing happens before.
func TestDelayNextREST(t *testing.T) {
	clock := NewFakeClock(time.Time{})
	te := startEmulator(t, Options{Clock: clock})
	c := te.pubsub(nil)
	if err := te.DelayNext(OperationSendToAll, 1, 7*time.Second); err != nil {
		t.Fatal(err)
	}
	done := make(chan restResponse, 1)
	go func() {
		done <- doREST(t, te.URL(), te.AccessKey(), "POST", "/api/hubs/chat/:send"+v, "text/plain", []byte("late"), nil)
	}()
	ctx, cancel := contextWithTimeout()
	defer cancel()
	if err := clock.WaitTimers(ctx, 7*time.Second, 1); err != nil {
		t.Fatal(err)
	}
	if got := te.Messages(); len(got) != 0 {
		t.Fatalf("the delayed send ran before the clock moved: %+v", got)
	}
	clock.Advance(7 * time.Second)
	if r := <-done; r.status != 202 {
		t.Fatalf("delayed send: %d %s", r.status, r.body)
	}
	c.ExpectJSON(`{"type":"message","from":"server","dataType":"text","data":"late"}`)
}

// TestFailNextHandshake: new connections and recoveries can be refused
// with a status before any other check.
func TestFailNextHandshake(t *testing.T) {
	te := startEmulator(t, Options{})
	if err := te.FailNext(OperationConnect, 1, Failure{Status: 503, ErrorCode: "Busy", Message: "try later"}); err != nil {
		t.Fatal(err)
	}
	_, resp, err := te.dialRaw(dialOptions{token: te.clientToken("chat", nil)})
	if err == nil || resp == nil || resp.StatusCode != 503 || resp.Header.Get("x-ms-error-code") != "Busy" {
		t.Fatalf("refused dial: %v %v", err, resp)
	}
	c := te.reliable(jwt.MapClaims{"sub": "a"})
	te.drop(c)
	if err := te.FailNext(OperationRecover, 1, Failure{Status: 500}); err != nil {
		t.Fatal(err)
	}
	if _, resp, err := te.recoverRaw(c, c.reconnectionToken); err == nil || resp == nil || resp.StatusCode != 500 {
		t.Fatalf("refused recovery: %v %v", err, resp)
	}
	// The connection is still detached and recovers on the next attempt.
	te.recover(c).Barrier()
}

// TestCutConnection: a cut resets the client's TCP connection without a
// close frame; a reliable connection is detached and recovered, any other
// ends.
func TestCutConnection(t *testing.T) {
	te := startEmulator(t, Options{})
	c := te.reliable(jwt.MapClaims{"sub": "a"})
	te.sendText(c.id, "before", "")
	c.ExpectJSON(`{"type":"message","from":"server","dataType":"text","data":"before","sequenceId":1}`)
	if err := te.CutConnection("CHAT", c.id); err != nil {
		t.Fatal(err)
	}
	te.waitDetached(c.id)
	ctx, cancel := contextWithTimeout()
	defer cancel()
	_, _, err := c.ws.Read(ctx)
	if err == nil || websocket.CloseStatus(err) != -1 {
		t.Fatalf("client read = %v; want an abnormal closure without close frame", err)
	}
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("client read = %v; want a TCP reset", err)
	}
	if err := te.CutConnection("chat", c.id); !errors.Is(err, ErrDetached) {
		t.Fatalf("cut of a detached connection = %v; want ErrDetached", err)
	}
	c = te.recover(c)
	c.ExpectJSON(`{"type":"message","from":"server","dataType":"text","data":"before","sequenceId":1}`)

	p := te.pubsub(nil)
	if err := te.CutConnection("chat", p.id); err != nil {
		t.Fatal(err)
	}
	te.waitEnded(p.id)
	if err := te.CutConnection("chat", p.id); !errors.Is(err, ErrConnectionNotFound) {
		t.Fatalf("cut of an ended connection = %v", err)
	}
}

// TestRefuseNextRecovery: a refused recovery is closed with 1008 and ends
// the connection; AllowRecovery cancels a refusal.
func TestRefuseNextRecovery(t *testing.T) {
	up := newFakeUpstream(t, nil)
	te := startEmulator(t, up.handlerOptions("", "disconnected"))

	c := te.reliable(jwt.MapClaims{"sub": "a"})
	te.drop(c)
	if err := te.RefuseNextRecovery("chat", c.id); err != nil {
		t.Fatal(err)
	}
	te.expectRefused(c, c.reconnectionToken)
	te.waitEnded(c.id)
	if _, err := te.Connection("chat", c.id); !errors.Is(err, ErrConnectionNotFound) {
		t.Fatalf("Connection after a refused recovery = %v", err)
	}
	if r := up.nextFor(t, ceTypeDisconnected, c.id); string(r.body) != `{"reason":"The connection could not be recovered."}` {
		t.Fatalf("disconnected %s", r.body)
	}

	d := te.reliable(jwt.MapClaims{"sub": "b"})
	if err := te.RefuseNextRecovery("chat", d.id); err != nil {
		t.Fatal(err)
	}
	if err := te.AllowRecovery("chat", d.id); err != nil {
		t.Fatal(err)
	}
	te.drop(d)
	te.recover(d).Barrier()
}

// TestAckFaults: a dropped ack still runs the request (a retry is a
// Duplicate), a failed ack does not run it, a delayed ack follows the
// emulator's clock.
func TestAckFaults(t *testing.T) {
	clock := NewFakeClock(time.Time{})
	te := startEmulator(t, Options{Clock: clock})
	c := te.pubsub(jwt.MapClaims{"role": []string{"webpubsub.joinLeaveGroup"}})

	if err := te.DropNextAck("chat", c.id); err != nil {
		t.Fatal(err)
	}
	c.SendText(`{"type":"joinGroup","group":"g1","ackId":1}`)
	c.Barrier() // the pong comes first: no ack was sent
	if got := te.GroupMembers("chat", "g1"); len(got) != 1 || got[0] != c.id {
		t.Fatalf("members of g1 = %v; the request must have run", got)
	}
	c.SendText(`{"type":"joinGroup","group":"g1","ackId":1}`)
	c.ExpectJSON(`{"type":"ack","ackId":1,"success":false,"error":{"name":"Duplicate","message":"Message with ack-id: 1 has been processed"}}`)

	if err := te.FailNextAck("chat", c.id, "InternalServerError", "injected"); err != nil {
		t.Fatal(err)
	}
	c.SendText(`{"type":"joinGroup","group":"g2","ackId":2}`)
	c.ExpectJSON(`{"type":"ack","ackId":2,"success":false,"error":{"name":"InternalServerError","message":"injected"}}`)
	if got := te.GroupMembers("chat", "g2"); len(got) != 0 {
		t.Fatalf("members of g2 = %v; a failed request must not run", got)
	}
	c.SendText(`{"type":"joinGroup","group":"g2","ackId":2}`)
	c.ExpectJSON(`{"type":"ack","ackId":2,"success":true}`)

	if err := te.DelayNextAck("chat", c.id, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	c.SendText(`{"type":"leaveGroup","group":"g2","ackId":3}`)
	c.Barrier() // not yet
	ctx, cancel := contextWithTimeout()
	defer cancel()
	if err := clock.WaitTimers(ctx, 10*time.Second, 1); err != nil {
		t.Fatal(err)
	}
	clock.Advance(10 * time.Second)
	c.ExpectJSON(`{"type":"ack","ackId":3,"success":true}`)
	// Faults are consumed: the next request is answered at once.
	c.SendText(`{"type":"joinGroup","group":"g3","ackId":4}`)
	c.ExpectJSON(`{"type":"ack","ackId":4,"success":true}`)
}

// TestPauseOutbound: a paused transport holds every frame in its queue;
// resuming writes them in order; the holding counts against the queue
// limit as a client that does not read does.
func TestPauseOutbound(t *testing.T) {
	te := startEmulator(t, Options{})
	c := te.pubsub(nil)
	if err := te.PauseOutbound("chat", c.id); err != nil {
		t.Fatal(err)
	}
	te.sendText(c.id, "m1", "")
	c.SendText(`{"type":"ping"}`)
	ctx, cancel := contextWithTimeout()
	defer cancel()
	// The pong is queued once the frame has been read: wait for it.
	if _, err := te.WaitConnection(ctx, "chat", func(ci ConnectionInfo) bool { return ci.Queued == 2 }); err != nil {
		t.Fatal(err)
	}
	te.sendText(c.id, "m2", "")
	info, err := te.Connection("chat", c.id)
	if err != nil || info.Queued != 3 {
		t.Fatalf("info = %+v, %v; want 3 frames held", info, err)
	}
	if !info.Paused {
		t.Fatalf("info = %+v; want Paused", info)
	}
	if err := te.ResumeOutbound("chat", c.id); err != nil {
		t.Fatal(err)
	}
	c.ExpectJSON(`{"type":"message","from":"server","dataType":"text","data":"m1"}`)
	c.ExpectJSON(`{"type":"pong"}`)
	c.ExpectJSON(`{"type":"message","from":"server","dataType":"text","data":"m2"}`)
	if info, _ := te.Connection("chat", c.id); info.Paused {
		t.Fatal("still paused after ResumeOutbound")
	}

	// A paused client overflows its queue like one that does not read.
	if err := te.PauseOutbound("chat", c.id); err != nil {
		t.Fatal(err)
	}
	for range maxQueueMessages + 1 {
		te.sendText(c.id, "x", "")
	}
	te.waitEnded(c.id)
	// The close lifts the pause: the client gets the disconnected message
	// and the close frame (the queue was dropped).
	c.ExpectJSON(`{"type":"system","event":"disconnected","message":"The outbound message queue is full."}`)
	c.ExpectClose(websocket.StatusPolicyViolation)
}

// TestPausedConnectedMessage: a callback may pause a connection before
// its connected message is written.
func TestPausedConnectedMessage(t *testing.T) {
	var te *testEmulator
	te = startEmulator(t, Options{OnConnectionEvent: func(ev ConnectionEvent) {
		if ev.Kind == ConnectionConnected {
			if err := te.PauseOutbound(ev.Hub, ev.ConnectionID); err != nil {
				t.Errorf("PauseOutbound: %v", err)
			}
		}
	}})
	ws, _, err := te.dialRaw(dialOptions{subprotocols: []string{"json.webpubsub.azure.v1"}, token: te.clientToken("chat", nil)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ws.CloseNow() })
	id := te.waitRegistered()
	ctx, cancel := contextWithTimeout()
	defer cancel()
	if _, err := te.WaitConnection(ctx, "chat", func(ci ConnectionInfo) bool { return ci.ID == id && ci.Paused && ci.Queued == 1 }); err != nil {
		t.Fatal(err)
	}
	if err := te.ResumeOutbound("chat", id); err != nil {
		t.Fatal(err)
	}
	c := wrapWS(t, ws)
	c.id = id
	if f := c.ReadJSON(); f["event"] != "connected" || f["connectionId"] != id {
		t.Fatalf("first frame %v", f)
	}
}

// TestKeepAliveOnFakeClock: Options.PingInterval and IdleTimeout follow
// the emulator's clock; a paused connection gets no Ping and is dropped
// when its client stays silent.
func TestKeepAliveOnFakeClock(t *testing.T) {
	clock := NewFakeClock(time.Time{})
	te := startEmulator(t, Options{Clock: clock, PingInterval: 10 * time.Second, IdleTimeout: 25 * time.Second})
	c := te.raw(nil) // never reads, so never answers a ping
	te.tick(clock, 10*time.Second, 3, 1)
	te.waitEnded(c.id)
	ctx, cancel := contextWithTimeout()
	defer cancel()
	if _, _, err := c.ws.Read(ctx); websocket.CloseStatus(err) != -1 {
		t.Fatalf("client read = %v; want a dropped connection", err)
	}
}

// TestUpstreamTimeoutOnFakeClock: EventHandlerTimeout runs on the
// emulator's clock.
func TestUpstreamTimeoutOnFakeClock(t *testing.T) {
	clock := NewFakeClock(time.Time{})
	up := newFakeUpstream(t, func(*recordedRequest) fakeResponse { return fakeResponse{hold: true} })
	opts := up.handlerOptions("*")
	opts.Clock = clock
	opts.EventHandlerTimeout = 42 * time.Second
	te := startEmulator(t, opts)
	c := te.pubsub(nil)
	c.SendText(`{"type":"event","event":"e","ackId":1,"dataType":"text","data":"x"}`)
	up.next(t, ceTypeUserPrefix+"e")
	ctx, cancel := contextWithTimeout()
	defer cancel()
	if err := clock.WaitTimers(ctx, 42*time.Second, 1); err != nil {
		t.Fatal(err)
	}
	clock.Advance(42 * time.Second)
	c.ExpectJSON(`{"type":"ack","ackId":1,"success":false,"error":{"name":"InternalServerError","message":"The event handler request timed out."}}`)
}

// TestUpstreamRetriesOnFakeClock: the waits between the attempts of a
// connected event are EventHandlerRetryDelays on the emulator's clock.
func TestUpstreamRetriesOnFakeClock(t *testing.T) {
	clock := NewFakeClock(time.Time{})
	up := newFakeUpstream(t, func(*recordedRequest) fakeResponse { return fakeResponse{status: http.StatusServiceUnavailable} })
	opts := up.handlerOptions("", "connected")
	opts.Clock = clock
	opts.EventHandlerRetryDelays = []time.Duration{2 * time.Second, 9 * time.Second}
	te := startEmulator(t, opts)
	c := te.pubsub(nil)
	up.nextFor(t, ceTypeConnected, c.id)
	for _, d := range opts.EventHandlerRetryDelays {
		ctx, cancel := contextWithTimeout()
		err := clock.WaitTimers(ctx, d, 1)
		cancel()
		if err != nil {
			t.Fatalf("retry wait of %v: %v", d, err)
		}
		clock.Advance(d)
		up.nextFor(t, ceTypeConnected, c.id)
	}
}
