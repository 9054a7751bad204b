package webpubsubclient

// The client's behaviour against the emulator test double: its faults
// (failed, dropped and held acks, cut connections, refused handshakes and
// recoveries, paused output, overflowing queues) play a misbehaving
// service and network, fake clocks play time, and a wire tap shows the
// frames the client writes. The two cases the emulator would never
// produce (a service that selects no subprotocol, frames it never sends)
// have a scripted server of their own.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/gowebpubsub/webpubsub"
	"github.com/gowebpubsub/webpubsub/emulator"
)

// aliceTok is a token of user alice who may join, leave and send to every
// group.
var aliceTok = webpubsub.GetClientAccessTokenOptions{UserID: "alice", Roles: allRoles}

// async runs f in a goroutine and returns its results on a channel.
func async(f func() (AckResult, error)) <-chan callResult {
	ch := make(chan callResult, 1)
	go func() {
		r, err := f()
		ch <- callResult{r, err}
	}()
	return ch
}

type callResult struct {
	res AckResult
	err error
}

// startBob starts a json.webpubsub.azure.v1 client of user bob, who sends
// group messages for the tests.
func (e *testEnv) startBob(t *testing.T) *Client {
	t.Helper()
	bob, _, _ := e.startClient(t, ProtocolJSON, webpubsub.GetClientAccessTokenOptions{UserID: "bob", Roles: allRoles}, nil)
	return bob
}

// join joins c to group and takes the joinGroup frame off tap.
func join(t *testing.T, c *Client, tap *wireTap, group string) {
	t.Helper()
	if _, err := c.JoinGroup(testContext(t), group, nil); err != nil {
		t.Fatalf("JoinGroup(%q): %v", group, err)
	}
	tap.frameOf(t, "joinGroup")
}

// sendAll sends each text to group from c, fire and forget, in order.
func sendAll(t *testing.T, c *Client, group string, texts ...string) {
	t.Helper()
	for _, s := range texts {
		if _, err := c.SendToGroup(testContext(t), group, TextMessage(s), &SendToGroupOptions{FireAndForget: true}); err != nil {
			t.Fatalf("SendToGroup(%q): %v", s, err)
		}
	}
}

// newEnvHoldingConnected starts an emulator that pauses the output of
// every new connection before its connected message is written, and
// returns the ids of the connections it paused.
func newEnvHoldingConnected(t *testing.T) (*testEnv, <-chan string) {
	t.Helper()
	var emu atomic.Pointer[emulator.Emulator]
	held := make(chan string, 10)
	env := newEnv(t, emulator.WithConnectionEvents(func(ev emulator.ConnectionEvent) {
		if e := emu.Load(); e != nil && ev.Kind == emulator.ConnectionConnected && e.PauseOutbound(ev.Hub, ev.ConnectionID) == nil {
			held <- ev.ConnectionID
		}
	}))
	emu.Store(env.emu)
	return env, held
}

// overflow sends connection id two messages of 9 MiB, more than its
// outbound queue or reliable buffer (16 MiB) holds when it neither reads
// nor acknowledges them: the emulator ends the connection with 1008.
func (e *testEnv) overflow(t *testing.T, id string) {
	t.Helper()
	big := webpubsub.TextMessage(strings.Repeat("x", 9<<20))
	for range 2 {
		if _, err := e.svc.SendToConnection(testContext(t), id, big, nil); err != nil {
			t.Fatalf("SendToConnection: %v", err)
		}
	}
}

// scriptedService serves every WebSocket connection with script, for the
// cases the emulator would never produce. It accepts subprotocols (none
// when nil) and returns a client access URL of the server.
func scriptedService(t *testing.T, subprotocols []string, script func(ctx context.Context, ws *websocket.Conn)) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var live liveSet
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !live.add() {
			http.Error(w, "closed", http.StatusServiceUnavailable)
			return
		}
		defer live.done()
		ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: subprotocols})
		if err != nil {
			return
		}
		defer ws.CloseNow()
		script(ctx, ws)
	}))
	t.Cleanup(func() {
		live.close()
		cancel()
		srv.Close()
		live.wait()
	})
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/client/hubs/chat?access_token=secret-token-value"
}

func TestStartAndStop(t *testing.T) {
	evOpt, events := connEvents()
	env := newEnv(t, evOpt)
	tap := newWireTap(t, env)
	c, rec, calls := env.newClient(t, aliceTok, nil, tap, nil)
	if s := c.State(); s != StateStopped {
		t.Fatalf("State before Start = %s", s)
	}
	mustStart(t, c)
	if q := tap.dial(t); q.Get("access_token") == "" || q.Has("awps_connection_id") {
		t.Error("the handshake does not carry the URL's access token alone")
	}
	ev := next(t, rec.connected, "Connected")
	if ev.UserID != "alice" || ev.ConnectionID == "" {
		t.Errorf("Connected = %+v", ev)
	}
	nextConnEvent(t, events, ev.ConnectionID, emulator.ConnectionConnected)
	if info := env.connection(t, ev.ConnectionID); info.Subprotocol != string(ProtocolReliableJSON) || !info.Reliable || info.UserID != "alice" {
		t.Errorf("the emulator sees %+v; want a reliable connection (the default) of alice (the URL's token)", info)
	}
	if s, id := c.State(), c.ConnectionID(); s != StateConnected || id != ev.ConnectionID {
		t.Errorf("State, ConnectionID = %s, %q", s, id)
	}
	access, reconnection := secrets(t, c)
	if access == "" || reconnection == "" {
		t.Fatal("the connection has no access token or no reconnection token")
	}
	if s := c.String(); strings.Contains(s, access) || strings.Contains(s, reconnection) || !strings.Contains(s, ev.ConnectionID) {
		t.Errorf("String() = %q", s)
	}
	if err := c.Start(testContext(t)); !errors.Is(err, ErrAlreadyStarted) {
		t.Errorf("second Start = %v, want ErrAlreadyStarted", err)
	}

	if len(clientGoroutines()) == 0 {
		t.Fatal("the leak check sees no client goroutine while the client runs; it cannot detect leaks")
	}
	stopClient(t, c)
	if code := tap.closed(t); code != websocket.StatusNormalClosure {
		t.Errorf("Stop sent close code %d, want 1000 (so the service ends the connection)", code)
	}
	// Ended for good, not detached for a recovery.
	nextConnEvent(t, events, ev.ConnectionID, emulator.ConnectionDisconnected)
	if d := next(t, rec.disconnected, "Disconnected"); d.ConnectionID != ev.ConnectionID {
		t.Errorf("Disconnected = %+v", d)
	}
	next(t, rec.stopped, "Stopped")
	if got, want := rec.kinds(), []string{"connected", "disconnected", "stopped"}; !slices.Equal(got, want) {
		t.Errorf("events = %v, want %v", got, want)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("credential called %d times, want 1", n)
	}
	if _, err := c.JoinGroup(testContext(t), "g", nil); !errors.Is(err, ErrNotStarted) {
		t.Errorf("JoinGroup after Stop = %v, want ErrNotStarted", err)
	}
	if err := c.Stop(testContext(t)); err != nil {
		t.Errorf("second Stop = %v", err)
	}
}

func TestRestartRejoinsGroups(t *testing.T) {
	env := newEnv(t)
	c, rec, _ := env.startClient(t, ProtocolJSON, aliceTok, nil)
	first := next(t, rec.connected, "Connected")
	if _, err := c.JoinGroup(testContext(t), "room", nil); err != nil {
		t.Fatal(err)
	}
	stopOnly(t, c)
	next(t, rec.stopped, "Stopped")
	// A second run: the group is joined again before Connected.
	if err := c.Start(testContext(t)); err != nil {
		t.Fatal(err)
	}
	second := next(t, rec.connected, "second Connected")
	if second.ConnectionID == first.ConnectionID {
		t.Fatalf("the second run has the first run's connection id %q", first.ConnectionID)
	}
	if g := env.connection(t, second.ConnectionID).Groups; !slices.Equal(g, []string{"room"}) {
		t.Errorf("at Connected the new connection is in groups %v, want [room]", g)
	}
}

func TestAckOutcomes(t *testing.T) {
	env := newEnv(t)
	tap := newWireTap(t, env)
	c, _, _ := env.newClient(t, aliceTok, &Options{Protocol: ProtocolJSON, MessageRetry: RetryOptions{MaxRetries: 2, Delay: time.Millisecond}}, tap, nil)
	mustStart(t, c)
	ctx := testContext(t)
	id := c.ConnectionID()
	// A member of the group: every executed send shows in the message log.
	join(t, c, tap, "g")

	const ise = ErrorNameInternalServerError
	tests := []struct {
		name     string
		sentOnce bool     // the same ack id was executed before
		acks     []string // error acks the emulator gives instead of running the request, in order
		ackID    uint64   // the caller's ack id
		attempts int
		executed int // times the emulator ran the request
		wantErr  string
		wantDup  bool
	}{
		{name: "success", attempts: 1, executed: 1},
		{name: "duplicate is success", sentOnce: true, ackID: 501, attempts: 1, wantDup: true},
		{name: "forbidden is not retried", acks: []string{"Forbidden"}, attempts: 1, wantErr: "Forbidden"},
		{name: "bad request is not retried", acks: []string{"BadRequest"}, attempts: 1, wantErr: "BadRequest"},
		{name: "unknown error name is a failure", acks: []string{"Teapot"}, attempts: 1, wantErr: "Teapot"},
		{name: "internal error retried then success", acks: []string{ise, ise}, attempts: 3, executed: 1},
		{name: "internal error retried then duplicate", sentOnce: true, ackID: 502, acks: []string{ise}, attempts: 2, wantDup: true},
		{name: "internal error exhausts retries", acks: []string{ise, ise, ise}, attempts: 3, wantErr: ise},
		{name: "caller ack id", ackID: 4242, attempts: 1, executed: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := &SendToGroupOptions{AckID: tt.ackID}
			if tt.sentOnce {
				if r, err := c.SendToGroup(ctx, "g", TextMessage("before"), opts); err != nil || r.Duplicated {
					t.Fatalf("first send = %+v, %v", r, err)
				}
				tap.frameOf(t, "sendToGroup")
			}
			env.emu.ClearMessages()
			for _, name := range tt.acks {
				if err := env.emu.FailNextAck(env.hub, id, name, "injected "+name); err != nil {
					t.Fatal(err)
				}
			}
			r, err := c.SendToGroup(ctx, "g", TextMessage("hi"), opts)
			var ids []uint64
			for range tt.attempts {
				ids = append(ids, ackID(t, tap.frameOf(t, "sendToGroup")))
			}
			// No attempt more: the next frame is this probe's.
			if _, err := c.LeaveGroup(ctx, "probe", nil); err != nil {
				t.Fatal(err)
			}
			tap.frameOf(t, "leaveGroup")
			for _, got := range ids {
				if got != ids[0] {
					t.Errorf("retries used ack ids %v; they must reuse the first", ids)
				}
			}
			if tt.ackID != 0 && ids[0] != tt.ackID {
				t.Errorf("ack id = %d, want the caller's %d", ids[0], tt.ackID)
			}
			if r.AckID != ids[0] {
				t.Errorf("AckResult.AckID = %d, want %d", r.AckID, ids[0])
			}
			if n := len(env.delivered(id)); n != tt.executed {
				t.Errorf("the emulator ran the send %d times, want %d", n, tt.executed)
			}
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				if r.Duplicated != tt.wantDup {
					t.Errorf("Duplicated = %v, want %v", r.Duplicated, tt.wantDup)
				}
				return
			}
			var ae *AckError
			if !errors.As(err, &ae) || ae.Name != tt.wantErr || ae.AckID != ids[0] || ae.Message != "injected "+tt.wantErr {
				t.Fatalf("err = %#v, want an *AckError named %s", err, tt.wantErr)
			}
		})
	}

	// A caller ack id already waiting for its ack (held back by the
	// emulator) is refused.
	if err := env.emu.PauseOutbound(env.hub, id); err != nil {
		t.Fatal(err)
	}
	first := async(func() (AckResult, error) { return c.JoinGroup(ctx, "a", &JoinGroupOptions{AckID: 7}) })
	tap.frameOf(t, "joinGroup")
	if _, err := c.LeaveGroup(ctx, "b", &LeaveGroupOptions{AckID: 7}); !errors.Is(err, ErrAckIDInUse) {
		t.Errorf("second call with ack id 7 = %v, want ErrAckIDInUse", err)
	}
	if err := env.emu.ResumeOutbound(env.hub, id); err != nil {
		t.Fatal(err)
	}
	if r := next(t, first, "JoinGroup"); r.err != nil || r.res.AckID != 7 {
		t.Errorf("JoinGroup = %+v, %v", r.res, r.err)
	}

	// Fire and forget: no ack id on the wire, a zero result.
	r, err := c.SendEvent(ctx, "evt", JSONMessage(map[string]int{"a": 1}), &SendEventOptions{FireAndForget: true})
	if err != nil || r != (AckResult{}) {
		t.Errorf("fire-and-forget SendEvent = %+v, %v", r, err)
	}
	m := tap.frameOf(t, "event").m
	if _, has := m["ackId"]; has {
		t.Errorf("fire-and-forget frame %v has an ackId", m)
	}
	if m["event"] != "evt" || m["dataType"] != "json" || fmt.Sprint(m["data"]) != "map[a:1]" {
		t.Errorf("event frame = %v", m)
	}
}

func TestContextAndStopEndPendingCalls(t *testing.T) {
	env := newEnv(t)
	c, _, _ := env.startClient(t, ProtocolJSON, aliceTok, nil)
	id := c.ConnectionID()
	for range 2 {
		if err := env.emu.DropNextAck(env.hub, id); err != nil {
			t.Fatal(err)
		}
	}
	member := func() bool { return slices.Contains(env.emu.GroupMembers(env.hub, "g"), id) }

	ctx, cancel := context.WithCancel(testContext(t))
	res := async(func() (AckResult, error) { return c.JoinGroup(ctx, "g", nil) })
	env.waitFor(t, "the join", member)
	cancel()
	if r := next(t, res, "JoinGroup"); !errors.Is(r.err, context.Canceled) {
		t.Errorf("canceled JoinGroup = %v, want context.Canceled", r.err)
	}

	res = async(func() (AckResult, error) { return c.LeaveGroup(testContext(t), "g", nil) })
	env.waitFor(t, "the leave", func() bool { return !member() })
	stopClient(t, c)
	if r := next(t, res, "LeaveGroup"); !errors.Is(r.err, ErrStopped) {
		t.Errorf("LeaveGroup interrupted by Stop = %v, want ErrStopped", r.err)
	}
}

func TestAckTimeoutRetriesWithSameAckID(t *testing.T) {
	for _, tt := range []struct {
		name    string
		drops   int // acks the emulator drops
		wantErr error
		wantDup bool
	}{
		{name: "the retry is answered as a duplicate", drops: 1, wantDup: true},
		{name: "every ack lost", drops: 2, wantErr: ErrAckTimeout},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env := newEnv(t)
			tap := newWireTap(t, env)
			clk := emulator.NewFakeClock(time.Time{})
			c, _, _ := env.newClient(t, aliceTok, &Options{
				Protocol:          ProtocolJSON,
				KeepAliveInterval: -1, KeepAliveTimeout: -1,
				AckTimeout:   5 * time.Second,
				MessageRetry: RetryOptions{MaxRetries: 1, Delay: 3 * time.Second},
			}, tap, clk)
			mustStart(t, c)
			ctx := testContext(t)
			id := c.ConnectionID()
			join(t, c, tap, "g")
			env.emu.ClearMessages()
			for range tt.drops {
				if err := env.emu.DropNextAck(env.hub, id); err != nil {
					t.Fatal(err)
				}
			}
			res := async(func() (AckResult, error) { return c.SendToGroup(ctx, "g", TextMessage("x"), nil) })
			first := ackID(t, tap.frameOf(t, "sendToGroup"))
			waitTimer(t, clk, 5*time.Second)
			clk.Advance(5 * time.Second) // the first attempt times out
			waitTimer(t, clk, 3*time.Second)
			clk.Advance(3 * time.Second) // the retry delay
			if second := ackID(t, tap.frameOf(t, "sendToGroup")); second != first {
				t.Errorf("retry ack id = %d, want %d", second, first)
			}
			if tt.drops > 1 {
				waitTimer(t, clk, 5*time.Second)
				clk.Advance(5 * time.Second)
			}
			r := next(t, res, "SendToGroup")
			if !errors.Is(r.err, tt.wantErr) || r.res != (AckResult{AckID: first, Duplicated: tt.wantDup}) {
				t.Errorf("SendToGroup = %+v, %v; want ack id %d, Duplicated %v, error %v", r.res, r.err, first, tt.wantDup, tt.wantErr)
			}
			// Once the emulator has answered a later request, it has seen
			// the retry: it ran the send once.
			if _, err := c.JoinGroup(ctx, "probe", nil); err != nil {
				t.Fatal(err)
			}
			if got := env.delivered(id); len(got) != 1 {
				t.Errorf("the emulator ran the send %d times, want 1 (the retry reuses the ack id)", len(got))
			}
		})
	}
}

func TestSequenceAckAndDeduplication(t *testing.T) {
	evOpt, events := connEvents()
	env := newEnv(t, evOpt)
	tap := newWireTap(t, env)
	clk := emulator.NewFakeClock(time.Time{})
	c, rec, _ := env.newClient(t, aliceTok, &Options{KeepAliveInterval: -1, KeepAliveTimeout: -1, RecoveryInterval: 7 * time.Second}, tap, clk)
	mustStart(t, c)
	ctx := testContext(t)
	id := c.ConnectionID()
	nextConnEvent(t, events, id, emulator.ConnectionConnected)
	join(t, c, tap, "g")
	bob := env.startBob(t)
	sendAll(t, bob, "g", "m1", "m2", "m3")
	for i := 1; i <= 3; i++ {
		m := next(t, rec.group, "group message")
		if want := fmt.Sprint("m", i); string(m.Data) != want || m.SequenceID != uint64(i) || m.FromUserID != "bob" || m.DataType != DataTypeText {
			t.Fatalf("message %d = %+v, want %s", i, m, want)
		}
	}
	// Nothing is acknowledged yet (the clock has not moved). The transport
	// breaks; after the recovery the emulator replays 1 to 3, which the
	// client has seen already and drops, then sends 4.
	if err := env.emu.CutConnection(env.hub, id); err != nil {
		t.Fatal(err)
	}
	nextRecovery(t, events, id)
	if f := tap.frame(t); f.conn != 2 || f.m["type"] != "sequenceAck" || f.m["sequenceId"] != 3.0 {
		t.Errorf("frame %v on connection %d, want sequenceAck 3 on the recovered transport (2)", f.m, f.conn)
	}
	sendAll(t, bob, "g", "m4")
	if m := next(t, rec.group, "group message"); string(m.Data) != "m4" || m.SequenceID != 4 {
		t.Fatalf("after the recovery got %+v, want m4 (1 to 3 are duplicates)", m)
	}
	if ids := tap.serviceSequenceIDs(2); !slices.Equal(ids, []uint64{1, 2, 3, 4}) {
		t.Fatalf("the recovered transport carried sequence ids %v, want 1 to 3 replayed, then 4", ids)
	}

	// Acknowledged on the tick, once.
	waitTimer(t, clk, time.Second)
	clk.Advance(time.Second)
	if f := tap.frame(t); f.m["type"] != "sequenceAck" || f.m["sequenceId"] != 4.0 {
		t.Errorf("frame %v, want sequenceAck 4", f.m)
	}
	waitTimer(t, clk, time.Second)
	clk.Advance(time.Second) // nothing new: no sequenceAck
	waitTimer(t, clk, time.Second)
	if _, err := env.svc.SendToConnection(ctx, id, webpubsub.BinaryMessage([]byte{1, 2}), nil); err != nil {
		t.Fatal(err)
	}
	if m := next(t, rec.server, "server message"); m.DataType != DataTypeBinary || string(m.Data) != "\x01\x02" || m.SequenceID != 5 {
		t.Errorf("server message = %+v", m)
	}
	clk.Advance(time.Second)
	if f := tap.frame(t); f.m["type"] != "sequenceAck" || f.m["sequenceId"] != 5.0 {
		t.Errorf("frame %v, want sequenceAck 5 (and no repeated 4)", f.m)
	}

	// More than 300 ahead of the last acknowledgement: acknowledged at
	// once, without a tick.
	var burst []string
	for i := range 301 {
		burst = append(burst, fmt.Sprint("b", i))
	}
	sendAll(t, bob, "g", burst...)
	if f := tap.frame(t); f.m["type"] != "sequenceAck" || f.m["sequenceId"] != 306.0 {
		t.Errorf("frame %v, want a quick sequenceAck 306", f.m)
	}
	for range burst {
		next(t, rec.group, "burst message")
	}
}

func TestKeepAlivePingsAndDropsSilentConnection(t *testing.T) {
	evOpt, events := connEvents()
	env := newEnv(t, evOpt)
	tap := newWireTap(t, env)
	clk := emulator.NewFakeClock(time.Time{})
	c, rec, calls := env.newClient(t, aliceTok, &Options{SequenceAckInterval: time.Hour, RecoveryInterval: 7 * time.Second}, tap, clk)
	mustStart(t, c)
	tap.dial(t)
	id := next(t, rec.connected, "Connected").ConnectionID
	nextConnEvent(t, events, id, emulator.ConnectionConnected)
	_, reconnection := secrets(t, c)
	// From now on the service writes nothing, not even a pong.
	if err := env.emu.PauseOutbound(env.hub, id); err != nil {
		t.Fatal(err)
	}
	// A ping every 20 s of client silence.
	for i := 1; i <= 5; i++ {
		waitTimer(t, clk, 20*time.Second)
		clk.Advance(20 * time.Second)
		if f := tap.frame(t); f.m["type"] != "ping" {
			t.Fatalf("frame %d = %v, want a ping", i, f.m)
		}
	}
	// 120 s without anything from the service: drop TCP, no close frame...
	waitTimer(t, clk, 20*time.Second)
	clk.Advance(20 * time.Second)
	if code := tap.closed(t); code != -1 {
		t.Fatalf("the client sent a close frame (%d); it must drop TCP without one", code)
	}
	// ... and recover (a close frame would have ended the connection for
	// good).
	if q := tap.dial(t); q.Get("awps_connection_id") != id || q.Get("awps_reconnection_token") != reconnection {
		t.Error("the recovery handshake does not name the connection and its reconnection token")
	}
	nextRecovery(t, events, id)
	if n := calls.Load(); n != 1 {
		t.Errorf("credential called %d times; recovery must not call it", n)
	}
	stopClient(t, c)
	if got, want := rec.kinds(), []string{"connected", "disconnected", "stopped"}; !slices.Equal(got, want) {
		t.Errorf("events = %v, want %v (no second Connected after a recovery)", got, want)
	}
}

func TestRecoveryReplaysAndRetriesWithSameAckID(t *testing.T) {
	evOpt, events := connEvents()
	env := newEnv(t, evOpt)
	tap := newWireTap(t, env)
	clk := emulator.NewFakeClock(time.Time{})
	c, rec, calls := env.newClient(t, aliceTok, &Options{
		KeepAliveInterval: -1, KeepAliveTimeout: -1,
		RecoveryInterval: 7 * time.Second,
		MessageRetry:     RetryOptions{Delay: 3 * time.Second},
	}, tap, clk)
	mustStart(t, c)
	ctx := testContext(t)
	firstDial := tap.dial(t)
	id := next(t, rec.connected, "Connected").ConnectionID
	nextConnEvent(t, events, id, emulator.ConnectionConnected)
	_, reconnection := secrets(t, c)
	join(t, c, tap, "g")
	bob := env.startBob(t)
	sendAll(t, bob, "g", "m1")
	next(t, rec.group, "m1")
	waitTimer(t, clk, time.Second)
	clk.Advance(time.Second)
	if f := tap.frameOf(t, "sequenceAck"); f.m["sequenceId"] != 1.0 {
		t.Fatalf("sequenceAck = %v, want 1", f.m)
	}
	sendAll(t, bob, "g", "m2")
	next(t, rec.group, "m2")

	// A send whose ack is lost with the transport: the emulator runs it
	// and queues its echo (sequence id 3) and its ack, but holds back
	// what it writes, and the transport breaks. (Cut any earlier and the
	// ack, queued after the echo, may reach the recovered transport.)
	if err := env.emu.PauseOutbound(env.hub, id); err != nil {
		t.Fatal(err)
	}
	res := async(func() (AckResult, error) { return c.SendToGroup(ctx, "g", TextMessage("x"), nil) })
	sent := ackID(t, tap.frameOf(t, "sendToGroup"))
	env.waitFor(t, "the echo and the ack to be held", func() bool {
		info, err := env.emu.Connection(env.hub, id)
		return err == nil && info.Paused && info.Queued == 2
	})
	if err := env.emu.CutConnection(env.hub, id); err != nil {
		t.Fatal(err)
	}
	q := tap.dial(t)
	if q.Get("awps_connection_id") != id || q.Get("awps_reconnection_token") != reconnection || q.Get("access_token") != firstDial.Get("access_token") {
		t.Error("the recovery URL is not the original URL plus the connection id and the reconnection token")
	}
	nextRecovery(t, events, id)
	// The emulator replays what was not acknowledged: 2 again, then 3.
	if m := next(t, rec.group, "replayed message"); string(m.Data) != "x" || m.SequenceID != 3 {
		t.Errorf("after recovery got %+v, want x with sequence id 3 (2 was seen already)", m)
	}
	if ids := tap.serviceSequenceIDs(2); !slices.Equal(ids, []uint64{2, 3}) {
		t.Errorf("the recovered transport carried sequence ids %v, want 2 and 3", ids)
	}
	// The send is retried with the same ack id; the emulator ran it.
	waitTimer(t, clk, 3*time.Second)
	clk.Advance(3 * time.Second)
	if f := tap.frameOf(t, "sendToGroup"); f.conn != 2 || ackID(t, f) != sent {
		t.Errorf("retry %v on connection %d, want ack id %d on the recovered transport", f.m, f.conn, sent)
	}
	if r := next(t, res, "SendToGroup"); r.err != nil || r.res != (AckResult{AckID: sent, Duplicated: true}) {
		t.Errorf("SendToGroup = %+v, %v", r.res, r.err)
	}
	if got := c.ConnectionID(); got != id {
		t.Errorf("ConnectionID after recovery = %q, want %q", got, id)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("credential called %d times", n)
	}
	stopOnly(t, c) // bob runs on; the emulator's cleanup checks for leaks
	expectEmpty(t, rec.group, "group message")
	if got, want := rec.kinds(), []string{"connected", "group:g:m1", "group:g:m2", "group:g:x", "disconnected", "stopped"}; !slices.Equal(got, want) {
		t.Errorf("events = %v, want %v", got, want)
	}
}

func TestUnrecoverableDropOpensNewConnectionAndRejoins(t *testing.T) {
	for _, tt := range []struct {
		name     string
		drop     func(t *testing.T, env *testEnv, id string)
		recovery bool     // whether the client tries a recovery first
		message  string   // of the Disconnected event
		received []string // events between the first Connected and Disconnected
	}{
		{
			name: "recovery refused with 1008",
			drop: func(t *testing.T, env *testEnv, id string) {
				if err := env.emu.RefuseNextRecovery(env.hub, id); err != nil {
					t.Fatal(err)
				}
				if err := env.emu.CutConnection(env.hub, id); err != nil {
					t.Fatal(err)
				}
			},
			recovery: true,
			message:  "The connection could not be recovered.",
		},
		{
			name:     "closed with 1008",
			drop:     func(t *testing.T, env *testEnv, id string) { env.overflow(t, id) },
			message:  "The reliable message buffer is full.",
			received: []string{"server:" + short([]byte(strings.Repeat("x", 9<<20)))},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env := newEnv(t)
			tap := newWireTap(t, env)
			// The first token may join every group, later ones only g1.
			var calls atomic.Int32
			cred := URLFunc(func(ctx context.Context) (string, error) {
				opts := aliceTok
				if calls.Add(1) > 1 {
					opts.Roles = []string{"webpubsub.joinLeaveGroup.g1"}
				}
				tok, err := env.svc.GetClientAccessToken(ctx, &opts)
				return tok.URL, err
			})
			c, err := New(tap.route(cred), nil)
			if err != nil {
				t.Fatal(err)
			}
			// A clock that never moves: no sequenceAck tick, so nothing
			// empties the reliable buffer, and no retry waits.
			c.clock = clientClock{emulator.NewFakeClock(time.Time{})}
			rec := record(c)
			mustStart(t, c)
			tap.dial(t)
			first := next(t, rec.connected, "Connected").ConnectionID
			ctx := testContext(t)
			var joined []uint64
			for _, g := range []string{"g1", "g2", "g3"} {
				if _, err := c.JoinGroup(ctx, g, nil); err != nil {
					t.Fatal(err)
				}
				joined = append(joined, ackID(t, tap.frameOf(t, "joinGroup")))
			}
			if _, err := c.LeaveGroup(ctx, "g3", nil); err != nil {
				t.Fatal(err)
			}
			tap.frameOf(t, "leaveGroup")

			tt.drop(t, env, first)
			if d := next(t, rec.disconnected, "Disconnected"); d != (DisconnectedEvent{ConnectionID: first, Message: tt.message}) {
				t.Errorf("Disconnected = %+v", d)
			}
			if tt.recovery {
				if q := tap.dial(t); q.Get("awps_connection_id") != first {
					t.Fatal("expected a recovery attempt first")
				}
			}
			if q := tap.dial(t); q.Has("awps_connection_id") {
				t.Fatal("the new connection's URL has recovery parameters")
			}
			// g1 and g2 are joined again with fresh ack ids; g3 was left.
			var rejoined []string
			for range 2 {
				f := tap.frameOf(t, "joinGroup")
				if slices.Contains(joined, ackID(t, f)) {
					t.Errorf("rejoin reused ack id %v", f.m["ackId"])
				}
				rejoined = append(rejoined, fmt.Sprint(f.m["group"]))
			}
			slices.Sort(rejoined)
			if !slices.Equal(rejoined, []string{"g1", "g2"}) {
				t.Errorf("rejoined %v, want g1 and g2", rejoined)
			}
			expectRejoinRefusedForG2(t, env, rec, first)
			if n := calls.Load(); n != 2 {
				t.Errorf("credential called %d times, want 2 (once per new connection)", n)
			}
			stopClient(t, c)
			want := append(append([]string{"connected"}, tt.received...), "disconnected", "rejoinFailed:g2", "connected", "disconnected", "stopped")
			if got := rec.kinds(); !slices.Equal(got, want) {
				t.Errorf("events = %v, want %v", got, want)
			}
		})
	}
}

func TestJSONProtocolDoesNotRecover(t *testing.T) {
	evOpt, events := connEvents()
	env := newEnv(t, evOpt)
	tap := newWireTap(t, env)
	c, rec, calls := env.newClient(t, aliceTok, &Options{Protocol: ProtocolJSON}, tap, nil)
	mustStart(t, c)
	tap.dial(t)
	first := next(t, rec.connected, "Connected").ConnectionID
	nextConnEvent(t, events, first, emulator.ConnectionConnected)
	if err := env.emu.CutConnection(env.hub, first); err != nil {
		t.Fatal(err)
	}
	nextConnEvent(t, events, first, emulator.ConnectionDisconnected)
	next(t, rec.disconnected, "Disconnected")
	if q := tap.dial(t); q.Has("awps_connection_id") {
		t.Fatal("a json.webpubsub.azure.v1 client tried to recover")
	}
	if second := next(t, rec.connected, "second Connected").ConnectionID; second == first {
		t.Errorf("the new connection has the old id %q", first)
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("credential called %d times, want 2", n)
	}
}

func TestReconnectRetryPolicy(t *testing.T) {
	env := newEnv(t)
	clk := emulator.NewFakeClock(time.Time{})
	c, rec, calls := env.newClient(t, aliceTok, &Options{
		Protocol:          ProtocolJSON,
		KeepAliveInterval: -1, KeepAliveTimeout: -1,
		ReconnectRetry: RetryOptions{MaxRetries: 3, Delay: 7 * time.Second, MaxDelay: 20 * time.Second, Mode: RetryModeExponential},
	}, nil, clk)
	mustStart(t, c)
	id := next(t, rec.connected, "Connected").ConnectionID
	if err := env.emu.FailNext(emulator.OperationConnect, 4, emulator.Failure{Status: http.StatusServiceUnavailable}); err != nil {
		t.Fatal(err)
	}
	if err := env.emu.CutConnection(env.hub, id); err != nil {
		t.Fatal(err)
	}
	next(t, rec.disconnected, "Disconnected")
	// Attempt 1 fails at once; retries wait 7 s, 14 s, then 20 s (capped).
	for _, d := range []time.Duration{7 * time.Second, 14 * time.Second, 20 * time.Second} {
		waitTimer(t, clk, d)
		if s := c.State(); s != StateDisconnected {
			t.Errorf("State while waiting = %s", s)
		}
		clk.Advance(d)
	}
	next(t, rec.stopped, "Stopped after the last retry")
	if n := calls.Load(); n != 5 {
		t.Errorf("credential called %d times, want 5 (Start + 4 attempts)", n)
	}
	checkNoGoroutines(t)
	// The four attempts used up the four refusals: a new run connects.
	if err := c.Start(testContext(t)); err != nil {
		t.Fatalf("Start after the refusals: %v", err)
	}
}

func TestHandshakeFailures(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T) (u, token string)
		check func(t *testing.T, err error)
	}{
		{"refused with 401", func(t *testing.T) (string, string) {
			env := newEnv(t)
			if err := env.emu.FailNext(emulator.OperationConnect, 1, emulator.Failure{Status: http.StatusUnauthorized, Message: "Injected refusal."}); err != nil {
				t.Fatal(err)
			}
			tok, err := env.svc.GetClientAccessToken(testContext(t), &aliceTok)
			if err != nil {
				t.Fatal(err)
			}
			return tok.URL, tok.Token
		}, func(t *testing.T, err error) {
			var he *HandshakeError
			if !errors.As(err, &he) || he.StatusCode != 401 || he.Message != "Injected refusal." {
				t.Errorf("err = %#v, want a *HandshakeError 401", err)
			}
		}},
		// The emulator always selects the subprotocol it accepts.
		{"subprotocol not selected", func(t *testing.T) (string, string) {
			u := scriptedService(t, nil, func(ctx context.Context, ws *websocket.Conn) {
				_, _, _ = ws.Read(ctx) // until the client goes
			})
			return u, "secret-token-value"
		}, func(t *testing.T, err error) {
			if err == nil || !strings.Contains(err.Error(), "did not accept subprotocol") {
				t.Errorf("err = %v", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, token := tt.setup(t)
			c, err := New(StaticURL(u), nil)
			if err != nil {
				t.Fatal(err)
			}
			rec := record(c)
			err = c.Start(testContext(t))
			tt.check(t, err)
			if err != nil && strings.Contains(err.Error(), token) {
				t.Errorf("error reveals the token: %v", err)
			}
			if s := c.State(); s != StateStopped {
				t.Errorf("State = %s", s)
			}
			if got := rec.kinds(); len(got) != 0 {
				t.Errorf("a failed Start raised %v", got)
			}
			checkNoGoroutines(t)
		})
	}
}

func TestStartFailsWhenClosedBeforeConnected(t *testing.T) {
	env, held := newEnvHoldingConnected(t)
	c, _, _ := env.newClient(t, aliceTok, &Options{Protocol: ProtocolJSON}, nil, nil)
	ctx := testContext(t)
	errc := make(chan error, 1)
	go func() { errc <- c.Start(ctx) }()
	// The connected message waits in the outbound queue, which overflows:
	// the emulator drops the queue and closes with 1008.
	env.overflow(t, next(t, held, "the new connection"))
	err := next(t, errc, "Start")
	if err == nil || !strings.Contains(err.Error(), "1008") || websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
		t.Errorf("Start = %v", err)
	}
	checkNoGoroutines(t)
}

func TestStopDuringStart(t *testing.T) {
	env, held := newEnvHoldingConnected(t)
	c, _, _ := env.newClient(t, aliceTok, nil, nil, nil)
	ctx := testContext(t)
	errc := make(chan error, 1)
	go func() { errc <- c.Start(ctx) }()
	next(t, held, "the new connection") // connected, but the connected message never comes
	stopped := make(chan error, 1)
	go func() { stopped <- c.Stop(ctx) }()
	if err := next(t, errc, "Start"); !errors.Is(err, ErrStopped) {
		t.Errorf("Start interrupted by Stop = %v, want ErrStopped", err)
	}
	if err := next(t, stopped, "Stop"); err != nil {
		t.Errorf("Stop = %v", err)
	}
	checkNoGoroutines(t)
}

// TestIgnoresUnknownFrames feeds the client frames the emulator never
// sends: malformed, unknown, or for features the client does not use.
func TestIgnoresUnknownFrames(t *testing.T) {
	u := scriptedService(t, []string{string(ProtocolJSON)}, func(ctx context.Context, ws *websocket.Conn) {
		for _, f := range []string{
			`{"type":"system","event":"connected","userId":"alice","connectionId":"c1"}`,
			`not json`,
			`[1,2]`,
			`{"no":"type"}`,
			`{"type":"futureThing","x":1}`,
			`{"type":"system","event":"somethingNew"}`,
			`{"type":"message","from":"elsewhere","dataType":"text","data":"x"}`,
			`{"type":"message","from":"group","group":"g","dataType":"xml","data":"AA=="}`,
			`{"type":"message","from":"group","group":"g","dataType":"text","data":5}`,
			`{"type":"ack","ackId":99999,"success":true}`,
			`{"type":"invokeResponse","invocationId":"a1","success":true,"dataType":"json","data":{}}`,
			`{"type":"streamClosed","streamId":"s1","error":{"name":"IdleTimeout","message":"x"}}`,
			`{"type":"pong"}`,
		} {
			if ws.Write(ctx, websocket.MessageText, []byte(f)) != nil {
				return
			}
		}
		_ = ws.Write(ctx, websocket.MessageBinary, []byte{1, 2, 3})
		for _, f := range []string{
			// A sequence id is tolerated on any message.
			`{"type":"message","from":"group","group":"g","dataType":"text","data":"seq","sequenceId":9}`,
			`{"type":"message","from":"group","group":"g","fromUserId":null,"dataType":"json","data":{"k":[1,2]},"metadata":{"a":"b"},"unknown":true}`,
			`{"type":"message","from":"server","dataType":"text","data":"tail"}`,
		} {
			if ws.Write(ctx, websocket.MessageText, []byte(f)) != nil {
				return
			}
		}
		_, _, _ = ws.Read(ctx) // until the client goes
	})
	var buf safeBuffer
	c, err := New(StaticURL(u), &Options{Protocol: ProtocolJSON, Logger: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	rec := record(c)
	var protoMu sync.Mutex
	var protoErrs []*ProtocolError
	c.OnProtocolError(func(e ProtocolErrorEvent) {
		protoMu.Lock()
		protoErrs = append(protoErrs, e.Err)
		protoMu.Unlock()
	})
	mustStart(t, c)
	next(t, rec.connected, "Connected")
	if m := next(t, rec.group, "group message"); string(m.Data) != "seq" || m.SequenceID != 9 {
		t.Errorf("group message = %+v, want seq with sequence id 9", m)
	}
	m := next(t, rec.group, "group message")
	if m.Group != "g" || m.FromUserID != "" || m.DataType != DataTypeJSON || string(m.Data) != `{"k":[1,2]}` {
		t.Errorf("group message = %+v", m)
	}
	if s := next(t, rec.server, "server message"); string(s.Data) != "tail" {
		t.Errorf("server message = %+v", s)
	}
	if s := c.State(); s != StateConnected {
		t.Errorf("State = %s; unknown frames must not end the connection", s)
	}
	stopClient(t, c)
	if out := buf.String(); !strings.Contains(out, "breaks the protocol") || strings.Contains(out, "secret-token-value") {
		t.Errorf("the log lacks the malformed frame or holds the token:\n%s", out)
	}
	// Every dropped frame was reported, before the messages after it.
	protoMu.Lock()
	defer protoMu.Unlock()
	if len(protoErrs) < 5 {
		t.Errorf("%d protocol errors reported; want one per malformed frame", len(protoErrs))
	}
	for _, e := range protoErrs {
		if strings.Contains(e.Error(), "secret-token-value") {
			t.Errorf("a protocol error holds the token: %v", e)
		}
	}
}

// TestRecoveryAcknowledgesAtOnce: acks written just before a drop may be
// lost with it, so a recovered transport acknowledges the highest id at
// once instead of waiting for the next tick (the service's buffer would
// otherwise fill up under a fast stream).
func TestRecoveryAcknowledgesAtOnce(t *testing.T) {
	evOpt, events := connEvents()
	env := newEnv(t, evOpt)
	tap := newWireTap(t, env)
	clk := emulator.NewFakeClock(time.Time{})
	c, rec, _ := env.newClient(t, aliceTok, &Options{SequenceAckInterval: time.Hour, KeepAliveInterval: -1, KeepAliveTimeout: -1}, tap, clk)
	mustStart(t, c)
	id := c.ConnectionID()
	nextConnEvent(t, events, id, emulator.ConnectionConnected)
	join(t, c, tap, "g")
	var burst []string
	for i := range 301 {
		burst = append(burst, fmt.Sprint("m", i))
	}
	sendAll(t, env.startBob(t), "g", burst...)
	for range burst {
		next(t, rec.group, "message")
	}
	// The jump is acknowledged at once, and the ack is written...
	if f := tap.frame(t); f.m["type"] != "sequenceAck" || f.m["sequenceId"] != 301.0 {
		t.Fatalf("frame = %v, want sequenceAck 301", f.m)
	}
	// ... but the connection breaks: the client cannot know it arrived.
	if err := env.emu.CutConnection(env.hub, id); err != nil {
		t.Fatal(err)
	}
	nextRecovery(t, events, id)
	if f := tap.frame(t); f.conn != 2 || f.m["type"] != "sequenceAck" || f.m["sequenceId"] != 301.0 {
		t.Errorf("first frame after recovery = %v on connection %d, want sequenceAck 301 again on 2 (the clock did not move)", f.m, f.conn)
	}
}

// TestLogsHoldNoSecrets runs a connection, a refused recovery attempt, a
// recovery and a stop with debug logging, and checks that no token or
// reconnection token reaches the log.
func TestLogsHoldNoSecrets(t *testing.T) {
	evOpt, events := connEvents()
	env := newEnv(t, evOpt)
	var buf safeBuffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c, rec, _ := env.newClient(t, aliceTok, &Options{Logger: log, RecoveryInterval: time.Millisecond}, nil, nil)
	mustStart(t, c)
	id := c.ConnectionID()
	access, reconnection := secrets(t, c)
	nextConnEvent(t, events, id, emulator.ConnectionConnected)
	if err := env.emu.FailNext(emulator.OperationRecover, 1, emulator.Failure{Status: http.StatusServiceUnavailable}); err != nil {
		t.Fatal(err)
	}
	if err := env.emu.CutConnection(env.hub, id); err != nil {
		t.Fatal(err)
	}
	nextRecovery(t, events, id)
	if _, err := env.svc.SendToConnection(testContext(t), id, webpubsub.TextMessage("x"), nil); err != nil {
		t.Fatal(err)
	}
	nextData(t, rec.server, "x")
	stopClient(t, c)
	out := buf.String()
	if !strings.Contains(out, "recovery attempt failed") || !strings.Contains(out, "connection recovered") {
		t.Errorf("the log lacks the expected records:\n%s", out)
	}
	for _, secret := range []string{access, reconnection} {
		if strings.Contains(out, secret) {
			t.Errorf("the log holds a secret:\n%s", out)
		}
	}
}

type safeBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *safeBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *safeBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestConnectionLostLogsCloseReason checks that the log record of a lost
// connection names the reason of the service's close frame, which is what
// tells a 1008 "The outbound message queue is full." from another 1008.
func TestConnectionLostLogsCloseReason(t *testing.T) {
	evOpt, events := connEvents()
	env := newEnv(t, evOpt)
	var buf safeBuffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c, _, _ := env.newClient(t, aliceTok, &Options{Logger: log, DisableAutoReconnect: true}, nil, nil)
	disconnected := make(chan DisconnectedEvent, 1)
	c.OnDisconnected(func(ev DisconnectedEvent) { disconnected <- ev })
	mustStart(t, c)
	id := c.ConnectionID()
	nextConnEvent(t, events, id, emulator.ConnectionConnected)
	if _, err := env.svc.CloseConnection(testContext(t), id, &webpubsub.CloseConnectionOptions{Reason: "maintenance window"}); err != nil {
		t.Fatal(err)
	}
	// The client logs the loss before it raises Disconnected.
	select {
	case <-disconnected:
	case <-testContext(t).Done():
		t.Fatal("no Disconnected event")
	}
	stopClient(t, c)
	out := buf.String()
	if !strings.Contains(out, `msg="webpubsubclient: connection lost"`) || !strings.Contains(out, `closeReason="maintenance window"`) {
		t.Errorf("the log of the lost connection lacks its close reason:\n%s", out)
	}
}

// expectRejoinRefusedForG2 checks what a client that was in groups g1 and
// g2 sees after a new connection replaced first, with a token that may
// join only g1: RejoinGroupFailed for g2 (Forbidden), then Connected with
// a new connection id, which is in g1 alone.
func expectRejoinRefusedForG2(t *testing.T, env *testEnv, rec *recorder, first string) {
	t.Helper()
	f := next(t, rec.rejoin, "RejoinGroupFailed")
	var ae *AckError
	if f.Group != "g2" || !errors.As(f.Err, &ae) || ae.Name != ErrorNameForbidden {
		t.Errorf("RejoinGroupFailed = %+v", f)
	}
	second := next(t, rec.connected, "second Connected").ConnectionID
	if second == first {
		t.Errorf("the new connection has the old id %q", first)
	}
	if g := env.connection(t, second).Groups; !slices.Equal(g, []string{"g1"}) {
		t.Errorf("at Connected the new connection is in groups %v, want [g1]", g)
	}
}
