package webpubsubclient

// Tests against a scripted fake service: the parts of the protocol the
// emulator cannot be made to exercise on demand (lost acks, recovery
// refusals, keep-alive, precise retry behaviour).

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// fastRetry makes retries immediate on the real clock.
var fastRetry = RetryOptions{Delay: time.Millisecond, MaxDelay: time.Millisecond}

// newFakeClient returns a client of fs with opts; clk, when not nil,
// replaces the real clock.
func newFakeClient(t *testing.T, fs *fakeService, opts *Options, clk clock) (*Client, *recorder, *atomic.Int32) {
	t.Helper()
	calls := new(atomic.Int32)
	c, err := New(URLFunc(func(context.Context) (string, error) {
		calls.Add(1)
		return fs.url(), nil
	}), opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if clk != nil {
		c.clock = clk
	}
	return c, record(c), calls
}

// startFake starts c against fs and answers the connection with a
// connected message for id/token.
func startFake(t *testing.T, c *Client, fs *fakeService, id, token string) *fakeConn {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- c.Start(testContext(t)) }()
	conn := fs.accept()
	conn.connected(id, token)
	if err := next(t, errc, "Start"); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { stopClient(t, c) })
	return conn
}

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

func ackID(t *testing.T, m map[string]any) uint64 {
	t.Helper()
	f, ok := m["ackId"].(float64)
	if !ok {
		t.Fatalf("frame %v has no ackId", m)
	}
	return uint64(f)
}

func TestStartAndStop(t *testing.T) {
	fs := newFakeService(t)
	c, rec, calls := newFakeClient(t, fs, nil, nil)
	if s := c.State(); s != StateStopped {
		t.Fatalf("State before Start = %s", s)
	}
	errc := make(chan error, 1)
	go func() { errc <- c.Start(testContext(t)) }()
	conn := fs.accept()
	if got := conn.ws.Subprotocol(); got != string(ProtocolReliableJSON) {
		t.Errorf("default subprotocol = %q, want %q", got, ProtocolReliableJSON)
	}
	if got := conn.query.Get("access_token"); got != "secret-token-value" {
		t.Errorf("access_token = %q", got)
	}
	conn.connected("conn-1", "token-1")
	if err := next(t, errc, "Start"); err != nil {
		t.Fatalf("Start: %v", err)
	}
	ev := next(t, rec.connected, "Connected")
	if ev != (ConnectedEvent{ConnectionID: "conn-1", UserID: "alice"}) {
		t.Errorf("Connected = %+v", ev)
	}
	if s, id := c.State(), c.ConnectionID(); s != StateConnected || id != "conn-1" {
		t.Errorf("State, ConnectionID = %s, %q", s, id)
	}
	if s := c.String(); strings.Contains(s, "secret") || strings.Contains(s, "token-1") || !strings.Contains(s, "conn-1") {
		t.Errorf("String() = %q", s)
	}
	if err := c.Start(testContext(t)); !errors.Is(err, ErrAlreadyStarted) {
		t.Errorf("second Start = %v, want ErrAlreadyStarted", err)
	}

	if len(clientGoroutines()) == 0 {
		t.Fatal("the leak check sees no client goroutine while the client runs; it cannot detect leaks")
	}
	codec := make(chan websocket.StatusCode, 1)
	go func() { codec <- conn.expectClose() }()
	stopClient(t, c)
	if code := next(t, codec, "close frame"); code != websocket.StatusNormalClosure {
		t.Errorf("Stop sent close code %d, want 1000 (so the service ends the connection)", code)
	}
	if d := next(t, rec.disconnected, "Disconnected"); d.ConnectionID != "conn-1" {
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

func TestOperationsBeforeStart(t *testing.T) {
	c, err := New(StaticURL("ws://localhost:1/client/hubs/chat?access_token=x"), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t)
	for name, call := range map[string]func() error{
		"JoinGroup":   func() error { _, err := c.JoinGroup(ctx, "g", nil); return err },
		"LeaveGroup":  func() error { _, err := c.LeaveGroup(ctx, "g", nil); return err },
		"SendToGroup": func() error { _, err := c.SendToGroup(ctx, "g", TextMessage("x"), nil); return err },
		"SendEvent":   func() error { _, err := c.SendEvent(ctx, "e", TextMessage("x"), nil); return err },
	} {
		if err := call(); !errors.Is(err, ErrNotStarted) {
			t.Errorf("%s before Start = %v, want ErrNotStarted", name, err)
		}
	}
	if err := c.Stop(ctx); err != nil {
		t.Errorf("Stop of a never-started client = %v", err)
	}
}

func TestRestartRejoinsGroups(t *testing.T) {
	fs := newFakeService(t)
	c, rec, _ := newFakeClient(t, fs, &Options{Protocol: ProtocolJSON}, nil)
	conn := startFake(t, c, fs, "c1", "")
	next(t, rec.connected, "Connected")
	res := async(func() (AckResult, error) { return c.JoinGroup(testContext(t), "room", nil) })
	conn.ack(conn.readType("joinGroup"), "")
	if r := next(t, res, "JoinGroup"); r.err != nil {
		t.Fatal(r.err)
	}
	go conn.expectClose()
	if err := c.Stop(testContext(t)); err != nil {
		t.Fatal(err)
	}
	// A second run: the group is joined again before Connected.
	errc := make(chan error, 1)
	go func() { errc <- c.Start(testContext(t)) }()
	conn2 := fs.accept()
	conn2.connected("c2", "")
	if err := next(t, errc, "second Start"); err != nil {
		t.Fatal(err)
	}
	m := conn2.readType("joinGroup")
	if m["group"] != "room" {
		t.Errorf("rejoined %v", m)
	}
	conn2.ack(m, "")
	if ev := next(t, rec.connected, "second Connected"); ev.ConnectionID != "c2" {
		t.Errorf("Connected = %+v", ev)
	}
	go conn2.expectClose()
}

func TestAckOutcomes(t *testing.T) {
	fs := newFakeService(t)
	c, _, _ := newFakeClient(t, fs, &Options{Protocol: ProtocolJSON, MessageRetry: RetryOptions{MaxRetries: 2, Delay: time.Millisecond}}, nil)
	conn := startFake(t, c, fs, "c1", "")
	ctx := testContext(t)

	tests := []struct {
		name      string
		acks      []string // the service's answer to each attempt ("" = success)
		wantErr   string   // ack error name, or ""
		wantDup   bool
		attempts  int
		userAckID uint64
	}{
		{name: "success", acks: []string{""}, attempts: 1},
		{name: "duplicate is success", acks: []string{"Duplicate"}, wantDup: true, attempts: 1},
		{name: "forbidden is not retried", acks: []string{"Forbidden"}, wantErr: "Forbidden", attempts: 1},
		{name: "bad request is not retried", acks: []string{"BadRequest"}, wantErr: "BadRequest", attempts: 1},
		{name: "unknown error name is a failure", acks: []string{"Teapot"}, wantErr: "Teapot", attempts: 1},
		{name: "internal error retried then success", acks: []string{"InternalServerError", "InternalServerError", ""}, attempts: 3},
		{name: "internal error retried then duplicate", acks: []string{"InternalServerError", "Duplicate"}, wantDup: true, attempts: 2},
		{name: "internal error exhausts retries", acks: []string{"InternalServerError", "InternalServerError", "InternalServerError"}, wantErr: "InternalServerError", attempts: 3},
		{name: "caller ack id", acks: []string{""}, attempts: 1, userAckID: 4242},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := async(func() (AckResult, error) {
				return c.SendToGroup(ctx, "g", TextMessage("hi"), &SendToGroupOptions{AckID: tt.userAckID})
			})
			var ids []uint64
			for _, a := range tt.acks {
				m := conn.readType("sendToGroup")
				ids = append(ids, ackID(t, m))
				conn.ack(m, a)
			}
			r := next(t, res, "SendToGroup")
			if len(ids) != tt.attempts {
				t.Fatalf("attempts = %d, want %d", len(ids), tt.attempts)
			}
			for _, id := range ids {
				if id != ids[0] {
					t.Errorf("retries used ack ids %v; they must reuse the first", ids)
				}
			}
			if tt.userAckID != 0 && ids[0] != tt.userAckID {
				t.Errorf("ack id = %d, want the caller's %d", ids[0], tt.userAckID)
			}
			if r.res.AckID != ids[0] {
				t.Errorf("AckResult.AckID = %d, want %d", r.res.AckID, ids[0])
			}
			if tt.wantErr == "" {
				if r.err != nil {
					t.Fatalf("err = %v", r.err)
				}
				if r.res.Duplicated != tt.wantDup {
					t.Errorf("Duplicated = %v, want %v", r.res.Duplicated, tt.wantDup)
				}
				return
			}
			var ae *AckError
			if !errors.As(r.err, &ae) || ae.Name != tt.wantErr || ae.AckID != ids[0] || ae.Message != "fake "+tt.wantErr {
				t.Fatalf("err = %#v, want an *AckError named %s", r.err, tt.wantErr)
			}
		})
	}

	// A caller ack id already waiting for its ack is refused.
	first := async(func() (AckResult, error) { return c.JoinGroup(ctx, "a", &JoinGroupOptions{AckID: 7}) })
	m := conn.readType("joinGroup")
	if _, err := c.LeaveGroup(ctx, "b", &LeaveGroupOptions{AckID: 7}); !errors.Is(err, ErrAckIDInUse) {
		t.Errorf("second call with ack id 7 = %v, want ErrAckIDInUse", err)
	}
	conn.ack(m, "")
	if r := next(t, first, "JoinGroup"); r.err != nil || r.res.AckID != 7 {
		t.Errorf("JoinGroup = %+v, %v", r.res, r.err)
	}

	// Fire and forget: no ack id on the wire, a zero result.
	r, err := c.SendEvent(ctx, "evt", JSONMessage(map[string]int{"a": 1}), &SendEventOptions{FireAndForget: true})
	if err != nil || r != (AckResult{}) {
		t.Errorf("fire-and-forget SendEvent = %+v, %v", r, err)
	}
	m = conn.readType("event")
	if _, has := m["ackId"]; has {
		t.Errorf("fire-and-forget frame %v has an ackId", m)
	}
	if m["event"] != "evt" || m["dataType"] != "json" || fmt.Sprint(m["data"]) != "map[a:1]" {
		t.Errorf("event frame = %v", m)
	}
	go conn.expectClose()
}

func TestContextAndStopEndPendingCalls(t *testing.T) {
	fs := newFakeService(t)
	c, _, _ := newFakeClient(t, fs, &Options{Protocol: ProtocolJSON}, nil)
	conn := startFake(t, c, fs, "c1", "")

	ctx, cancel := context.WithCancel(testContext(t))
	res := async(func() (AckResult, error) { return c.JoinGroup(ctx, "g", nil) })
	conn.readType("joinGroup")
	cancel()
	if r := next(t, res, "JoinGroup"); !errors.Is(r.err, context.Canceled) {
		t.Errorf("canceled JoinGroup = %v, want context.Canceled", r.err)
	}

	res = async(func() (AckResult, error) { return c.LeaveGroup(testContext(t), "g", nil) })
	conn.readType("leaveGroup")
	go conn.expectClose()
	stopClient(t, c)
	if r := next(t, res, "LeaveGroup"); !errors.Is(r.err, ErrStopped) {
		t.Errorf("LeaveGroup interrupted by Stop = %v, want ErrStopped", r.err)
	}
}

func TestAckTimeoutRetriesWithSameAckID(t *testing.T) {
	fs := newFakeService(t)
	clk := newFakeClock()
	c, _, _ := newFakeClient(t, fs, &Options{
		Protocol:          ProtocolJSON,
		KeepAliveInterval: -1, KeepAliveTimeout: -1,
		AckTimeout:   5 * time.Second,
		MessageRetry: RetryOptions{MaxRetries: 1, Delay: 3 * time.Second},
	}, clk)
	conn := startFake(t, c, fs, "c1", "")
	res := async(func() (AckResult, error) { return c.JoinGroup(testContext(t), "g", nil) })
	first := ackID(t, conn.readType("joinGroup"))
	clk.waitArmed(t, 5*time.Second, 1)
	clk.Advance(5 * time.Second) // the first attempt times out
	clk.waitArmed(t, 3*time.Second, 1)
	clk.Advance(3 * time.Second) // the retry delay
	if second := ackID(t, conn.readType("joinGroup")); second != first {
		t.Errorf("retry ack id = %d, want %d", second, first)
	}
	clk.waitArmed(t, 5*time.Second, 1)
	clk.Advance(5 * time.Second)
	r := next(t, res, "JoinGroup")
	if !errors.Is(r.err, ErrAckTimeout) || r.res.AckID != first {
		t.Errorf("JoinGroup = %+v, %v; want ErrAckTimeout with ack id %d", r.res, r.err, first)
	}
	go conn.expectClose()
}

func TestSequenceAckAndDeduplication(t *testing.T) {
	fs := newFakeService(t)
	clk := newFakeClock()
	c, rec, _ := newFakeClient(t, fs, &Options{KeepAliveInterval: -1, KeepAliveTimeout: -1}, clk)
	conn := startFake(t, c, fs, "c1", "tok")
	msg := func(seq int, data string) {
		conn.send(fmt.Sprintf(`{"type":"message","from":"group","group":"g","fromUserId":"bob","dataType":"text","data":%q,"sequenceId":%d}`, data, seq))
	}
	for i := 1; i <= 3; i++ {
		msg(i, fmt.Sprint("m", i))
	}
	msg(2, "duplicate") // already seen: dropped
	msg(4, "m4")
	for i := 1; i <= 4; i++ {
		m := next(t, rec.group, "group message")
		if want := fmt.Sprint("m", i); string(m.Data) != want || m.SequenceID != uint64(i) || m.FromUserID != "bob" || m.DataType != DataTypeText {
			t.Fatalf("message %d = %+v, want %s", i, m, want)
		}
	}
	// Acknowledged on the tick, once.
	clk.waitArmed(t, time.Second, 1)
	clk.Advance(time.Second)
	if m := conn.readType("sequenceAck"); m["sequenceId"] != 4.0 {
		t.Errorf("sequenceAck = %v, want 4", m)
	}
	clk.waitArmed(t, time.Second, 1)
	clk.Advance(time.Second) // nothing new: no sequenceAck
	clk.waitArmed(t, time.Second, 1)
	conn.send(`{"type":"message","from":"server","dataType":"binary","data":"AQI=","sequenceId":5}`)
	if m := next(t, rec.server, "server message"); m.DataType != DataTypeBinary || string(m.Data) != "\x01\x02" || m.SequenceID != 5 {
		t.Errorf("server message = %+v", m)
	}
	clk.Advance(time.Second)
	if m := conn.readType("sequenceAck"); m["sequenceId"] != 5.0 {
		t.Errorf("sequenceAck = %v, want 5 (and no repeated 4)", m)
	}
	// A jump of more than 300 is acknowledged at once, without a tick.
	msg(400, "far")
	if m := conn.readType("sequenceAck"); m["sequenceId"] != 400.0 {
		t.Errorf("quick sequenceAck = %v, want 400", m)
	}
	next(t, rec.group, "message 400")
	go conn.expectClose()
}

func TestKeepAlivePingsAndDropsSilentConnection(t *testing.T) {
	fs := newFakeService(t)
	clk := newFakeClock()
	c, rec, calls := newFakeClient(t, fs, &Options{SequenceAckInterval: time.Hour, RecoveryInterval: 7 * time.Second}, clk)
	conn := startFake(t, c, fs, "c1", "tok1")
	next(t, rec.connected, "Connected")
	// A ping every 20 s of client silence; the service says nothing.
	for i := 1; i <= 5; i++ {
		clk.waitArmed(t, 20*time.Second, 1)
		clk.Advance(20 * time.Second)
		if m := conn.read(); m["type"] != "ping" {
			t.Fatalf("frame %d = %v, want a ping", i, m)
		}
	}
	// 120 s without anything from the service: drop TCP, no close frame.
	clk.waitArmed(t, 20*time.Second, 1)
	clk.Advance(20 * time.Second)
	conn.expectDropWithoutClose()
	// ... and recover.
	rconn := fs.accept()
	if rconn.query.Get("awps_connection_id") != "c1" || rconn.query.Get("awps_reconnection_token") != "tok1" {
		t.Errorf("recovery query = %v", rconn.query)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("credential called %d times; recovery must not call it", n)
	}
	// The recovered connection keeps working: an answer to a ping counts.
	rconn.send(`{"type":"pong"}`)
	go rconn.expectClose()
	stopClient(t, c)
	if got, want := rec.kinds(), []string{"connected", "disconnected", "stopped"}; !slices.Equal(got, want) {
		t.Errorf("events = %v, want %v (no second Connected after a recovery)", got, want)
	}
}

func TestRecoveryReplaysAndRetriesWithSameAckID(t *testing.T) {
	fs := newFakeService(t)
	c, rec, calls := newFakeClient(t, fs, &Options{RecoveryInterval: time.Millisecond, MessageRetry: fastRetry}, nil)
	const token = "t/+=&?1"
	conn := startFake(t, c, fs, "c1", token)
	next(t, rec.connected, "Connected")
	for i := 1; i <= 2; i++ {
		conn.send(fmt.Sprintf(`{"type":"message","from":"group","group":"g","fromUserId":null,"dataType":"text","data":"m%d","sequenceId":%d}`, i, i))
		next(t, rec.group, "message")
	}
	// A send whose ack is lost with the transport.
	res := async(func() (AckResult, error) { return c.SendToGroup(testContext(t), "g", TextMessage("x"), nil) })
	id := ackID(t, conn.readType("sendToGroup"))
	_ = conn.ws.CloseNow() // drop TCP without a close frame

	rconn := fs.accept()
	q := rconn.query
	if q.Get("awps_connection_id") != "c1" || q.Get("awps_reconnection_token") != token || q.Get("access_token") != "secret-token-value" {
		t.Errorf("recovery query = %v; want the original URL plus the connection id and the escaped token", q)
	}
	// The service replays what was not acknowledged: 2 again, then 3.
	rconn.send(`{"type":"message","from":"group","group":"g","dataType":"text","data":"m2","sequenceId":2}`)
	rconn.send(`{"type":"message","from":"group","group":"g","dataType":"text","data":"m3","sequenceId":3}`)
	if m := next(t, rec.group, "replayed message"); string(m.Data) != "m3" {
		t.Errorf("after recovery got %q, want m3 (m2 was seen already)", m.Data)
	}
	// The send is retried with the same ack id; the service executed it.
	m := rconn.readType("sendToGroup")
	if ackID(t, m) != id {
		t.Errorf("retry ack id = %v, want %d", m["ackId"], id)
	}
	rconn.ack(m, "Duplicate")
	if r := next(t, res, "SendToGroup"); r.err != nil || r.res != (AckResult{AckID: id, Duplicated: true}) {
		t.Errorf("SendToGroup = %+v, %v", r.res, r.err)
	}
	if got := c.ConnectionID(); got != "c1" {
		t.Errorf("ConnectionID after recovery = %q", got)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("credential called %d times", n)
	}
	go rconn.expectClose()
	stopClient(t, c)
	expectEmpty(t, rec.group, "group message")
	if got, want := rec.kinds(), []string{"connected", "group:g:m1", "group:g:m2", "group:g:m3", "disconnected", "stopped"}; !slices.Equal(got, want) {
		t.Errorf("events = %v, want %v", got, want)
	}
}

func TestUnrecoverableDropOpensNewConnectionAndRejoins(t *testing.T) {
	for _, tt := range []struct {
		name string
		drop func(t *testing.T, fs *fakeService, conn *fakeConn)
	}{
		{"recovery refused with 1008", func(t *testing.T, fs *fakeService, conn *fakeConn) {
			_ = conn.ws.CloseNow()
			rconn := fs.accept()
			if rconn.query.Get("awps_connection_id") != "c1" {
				t.Fatalf("expected a recovery attempt, got %v", rconn.query)
			}
			rconn.send(`{"type":"system","event":"disconnected","message":"The connection could not be recovered."}`)
			_ = rconn.ws.Close(websocket.StatusPolicyViolation, "The connection could not be recovered.")
		}},
		{"closed with 1008", func(t *testing.T, fs *fakeService, conn *fakeConn) {
			conn.send(`{"type":"system","event":"disconnected","message":"The connection could not be recovered."}`)
			_ = conn.ws.Close(websocket.StatusPolicyViolation, "The connection could not be recovered.")
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fs := newFakeService(t)
			c, rec, calls := newFakeClient(t, fs, &Options{RecoveryInterval: time.Millisecond}, nil)
			conn := startFake(t, c, fs, "c1", "tok")
			next(t, rec.connected, "Connected")
			var joined []uint64
			for _, g := range []string{"g1", "g2", "g3"} {
				res := async(func() (AckResult, error) { return c.JoinGroup(testContext(t), g, nil) })
				m := conn.readType("joinGroup")
				joined = append(joined, ackID(t, m))
				conn.ack(m, "")
				if r := next(t, res, "JoinGroup"); r.err != nil {
					t.Fatal(r.err)
				}
			}
			res := async(func() (AckResult, error) { return c.LeaveGroup(testContext(t), "g3", nil) })
			m := conn.readType("leaveGroup")
			conn.ack(m, "")
			if r := next(t, res, "LeaveGroup"); r.err != nil {
				t.Fatal(r.err)
			}

			tt.drop(t, fs, conn)
			d := next(t, rec.disconnected, "Disconnected")
			if d != (DisconnectedEvent{ConnectionID: "c1", Message: "The connection could not be recovered."}) {
				t.Errorf("Disconnected = %+v", d)
			}
			nconn := fs.accept()
			if nconn.query.Has("awps_connection_id") {
				t.Fatalf("new connection URL has recovery parameters: %v", nconn.query)
			}
			nconn.connected("c2", "tok2")
			// g1 and g2 are joined again with fresh ack ids; g3 was left.
			var rejoined []string
			for range 2 {
				m := nconn.readType("joinGroup")
				if slices.Contains(joined, ackID(t, m)) {
					t.Errorf("rejoin reused ack id %v", m["ackId"])
				}
				rejoined = append(rejoined, m["group"].(string))
				if m["group"] == "g2" {
					nconn.ack(m, "Forbidden")
				} else {
					nconn.ack(m, "")
				}
			}
			slices.Sort(rejoined)
			if !slices.Equal(rejoined, []string{"g1", "g2"}) {
				t.Errorf("rejoined %v, want g1 and g2", rejoined)
			}
			f := next(t, rec.rejoin, "RejoinGroupFailed")
			var ae *AckError
			if f.Group != "g2" || !errors.As(f.Err, &ae) || ae.Name != "Forbidden" {
				t.Errorf("RejoinGroupFailed = %+v", f)
			}
			if ev := next(t, rec.connected, "second Connected"); ev.ConnectionID != "c2" {
				t.Errorf("Connected = %+v", ev)
			}
			if n := calls.Load(); n != 2 {
				t.Errorf("credential called %d times, want 2 (once per new connection)", n)
			}
			go nconn.expectClose()
			stopClient(t, c)
			want := []string{"connected", "disconnected", "rejoinFailed:g2", "connected", "disconnected", "stopped"}
			if got := rec.kinds(); !slices.Equal(got, want) {
				t.Errorf("events = %v, want %v", got, want)
			}
		})
	}
}

func TestJSONProtocolDoesNotRecover(t *testing.T) {
	fs := newFakeService(t)
	c, rec, _ := newFakeClient(t, fs, &Options{Protocol: ProtocolJSON}, nil)
	conn := startFake(t, c, fs, "c1", "")
	next(t, rec.connected, "Connected")
	conn.send(`{"type":"message","from":"group","group":"g","dataType":"text","data":"x","sequenceId":9}`)
	if m := next(t, rec.group, "message"); m.SequenceID != 9 {
		t.Errorf("message = %+v", m) // sequence ids are tolerated on any message
	}
	_ = conn.ws.CloseNow()
	next(t, rec.disconnected, "Disconnected")
	nconn := fs.accept()
	if nconn.query.Has("awps_connection_id") {
		t.Fatalf("a json.webpubsub.azure.v1 client tried to recover: %v", nconn.query)
	}
	nconn.connected("c2", "")
	next(t, rec.connected, "second Connected")
	go nconn.expectClose()
}

func TestDisableAutoReconnectStops(t *testing.T) {
	fs := newFakeService(t)
	c, rec, _ := newFakeClient(t, fs, &Options{Protocol: ProtocolJSON, DisableAutoReconnect: true}, nil)
	conn := startFake(t, c, fs, "c1", "")
	next(t, rec.connected, "Connected")
	conn.send(`{"type":"system","event":"disconnected","message":"bye"}`)
	_ = conn.ws.Close(websocket.StatusNormalClosure, "bye")
	if d := next(t, rec.disconnected, "Disconnected"); d.Message != "bye" {
		t.Errorf("Disconnected = %+v", d)
	}
	next(t, rec.stopped, "Stopped")
	if _, err := c.JoinGroup(testContext(t), "g", nil); !errors.Is(err, ErrNotStarted) {
		t.Errorf("JoinGroup after the client stopped = %v", err)
	}
	checkNoGoroutines(t)
}

func TestReconnectRetryPolicy(t *testing.T) {
	fs := newFakeService(t)
	clk := newFakeClock()
	c, rec, calls := newFakeClient(t, fs, &Options{
		Protocol:          ProtocolJSON,
		KeepAliveInterval: -1, KeepAliveTimeout: -1,
		ReconnectRetry: RetryOptions{MaxRetries: 3, Delay: 7 * time.Second, MaxDelay: 20 * time.Second, Mode: RetryModeExponential},
	}, clk)
	conn := startFake(t, c, fs, "c1", "")
	next(t, rec.connected, "Connected")
	refuse := func(*http.Request) int { return http.StatusServiceUnavailable }
	fs.refuse.Store(&refuse)
	_ = conn.ws.CloseNow()
	next(t, rec.disconnected, "Disconnected")
	// Attempt 1 fails at once; retries wait 7 s, 14 s, then 20 s (capped).
	for _, d := range []time.Duration{7 * time.Second, 14 * time.Second, 20 * time.Second} {
		clk.waitArmed(t, d, 1)
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
}

func TestHandshakeFailures(t *testing.T) {
	fs := newFakeService(t)
	tests := []struct {
		name  string
		setup func()
		check func(t *testing.T, err error)
	}{
		{"refused with 401", func() {
			f := func(*http.Request) int { return http.StatusUnauthorized }
			fs.refuse.Store(&f)
		}, func(t *testing.T, err error) {
			var he *HandshakeError
			if !errors.As(err, &he) || he.StatusCode != 401 || he.Message != "refused by the fake service" {
				t.Errorf("err = %#v, want a *HandshakeError 401", err)
			}
		}},
		{"subprotocol not selected", func() {
			fs.refuse.Store(nil)
			none := "-"
			fs.protocolOverride.Store(&none)
		}, func(t *testing.T, err error) {
			if err == nil || !strings.Contains(err.Error(), "did not accept subprotocol") {
				t.Errorf("err = %v", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.setup()
			c, rec, _ := newFakeClient(t, fs, nil, nil)
			err := c.Start(testContext(t))
			tt.check(t, err)
			if err != nil && strings.Contains(err.Error(), "secret-token-value") {
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
	fs := newFakeService(t)
	c, _, _ := newFakeClient(t, fs, nil, nil)
	errc := make(chan error, 1)
	go func() { errc <- c.Start(testContext(t)) }()
	conn := fs.accept()
	_ = conn.ws.Close(websocket.StatusPolicyViolation, "go away")
	err := next(t, errc, "Start")
	if err == nil || !strings.Contains(err.Error(), "1008") || websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
		t.Errorf("Start = %v", err)
	}
	checkNoGoroutines(t)
}

func TestStopDuringStart(t *testing.T) {
	fs := newFakeService(t)
	c, _, _ := newFakeClient(t, fs, nil, nil)
	errc := make(chan error, 1)
	go func() { errc <- c.Start(testContext(t)) }()
	conn := fs.accept() // connected, but the connected message never comes
	stopped := make(chan error, 1)
	go func() { stopped <- c.Stop(testContext(t)) }()
	if err := next(t, errc, "Start"); !errors.Is(err, ErrStopped) {
		t.Errorf("Start interrupted by Stop = %v, want ErrStopped", err)
	}
	if err := next(t, stopped, "Stop"); err != nil {
		t.Errorf("Stop = %v", err)
	}
	_ = conn.ws.CloseNow()
	checkNoGoroutines(t)
}

func TestIgnoresUnknownFrames(t *testing.T) {
	fs := newFakeService(t)
	c, rec, _ := newFakeClient(t, fs, &Options{Protocol: ProtocolJSON}, nil)
	conn := startFake(t, c, fs, "c1", "")
	next(t, rec.connected, "Connected")
	for _, f := range []string{
		`not json`,
		`[1,2]`,
		`{"no":"type"}`,
		`{"type":"futureThing","x":1}`,
		`{"type":"system","event":"somethingNew"}`,
		`{"type":"message","from":"elsewhere","dataType":"text","data":"x"}`,
		`{"type":"message","from":"group","group":"g","dataType":"protobuf","data":"AA=="}`,
		`{"type":"message","from":"group","group":"g","dataType":"text","data":5}`,
		`{"type":"ack","ackId":99999,"success":true}`,
		`{"type":"invokeResponse","invocationId":"a1","success":true,"dataType":"json","data":{}}`,
		`{"type":"streamClosed","streamId":"s1","error":{"name":"IdleTimeout","message":"x"}}`,
		`{"type":"pong"}`,
	} {
		conn.send(f)
	}
	if err := conn.ws.Write(testContext(t), websocket.MessageBinary, []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	conn.send(`{"type":"message","from":"group","group":"g","fromUserId":null,"dataType":"json","data":{"k":[1,2]},"metadata":{"a":"b"},"unknown":true}`)
	conn.send(`{"type":"message","from":"server","dataType":"text","data":"tail"}`)
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
	go conn.expectClose()
}

// TestRecoveryAcknowledgesAtOnce: acks written just before a drop may be
// lost with it, so a recovered transport acknowledges the highest id at
// once instead of waiting for the next tick (the service's buffer would
// otherwise fill up under a fast stream).
func TestRecoveryAcknowledgesAtOnce(t *testing.T) {
	fs := newFakeService(t)
	clk := newFakeClock()
	c, rec, _ := newFakeClient(t, fs, &Options{SequenceAckInterval: time.Hour, KeepAliveInterval: -1, KeepAliveTimeout: -1}, clk)
	conn := startFake(t, c, fs, "c1", "tok")
	for _, i := range []int{1, 2, 400} {
		conn.send(fmt.Sprintf(`{"type":"message","from":"server","dataType":"text","data":"m%d","sequenceId":%d}`, i, i))
		next(t, rec.server, "message")
	}
	// The jump is acknowledged at once, and the ack is written...
	if m := conn.read(); m["type"] != "sequenceAck" || m["sequenceId"] != 400.0 {
		t.Fatalf("frame = %v, want sequenceAck 400", m)
	}
	// ... but the connection breaks: the client cannot know it arrived.
	_ = conn.ws.CloseNow()
	rconn := fs.accept()
	if m := rconn.read(); m["type"] != "sequenceAck" || m["sequenceId"] != 400.0 {
		t.Errorf("first frame after recovery = %v, want sequenceAck 400 again (the clock did not move)", m)
	}
	go rconn.expectClose()
}

// TestLogsHoldNoSecrets runs a connection, a refused recovery attempt, a
// recovery and a stop with debug logging, and checks that no token or
// reconnection token reaches the log.
func TestLogsHoldNoSecrets(t *testing.T) {
	fs := newFakeService(t)
	var buf safeBuffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c, rec, _ := newFakeClient(t, fs, &Options{Logger: log, RecoveryInterval: time.Millisecond, MessageRetry: fastRetry}, nil)
	conn := startFake(t, c, fs, "c1", "reconnection-secret")
	var refused atomic.Bool
	refuseOnce := func(r *http.Request) int {
		if r.URL.Query().Has("awps_connection_id") && refused.CompareAndSwap(false, true) {
			return http.StatusServiceUnavailable
		}
		return 0
	}
	fs.refuse.Store(&refuseOnce)
	_ = conn.ws.CloseNow()
	rconn := fs.accept()
	rconn.send(`not json`)
	rconn.send(`{"type":"message","from":"server","dataType":"text","data":"x"}`)
	next(t, rec.server, "message on the recovered connection")
	go rconn.expectClose()
	stopClient(t, c)
	out := buf.String()
	if !strings.Contains(out, "recovery attempt failed") || !strings.Contains(out, "connection recovered") {
		t.Errorf("the log lacks the expected records:\n%s", out)
	}
	for _, secret := range []string{"secret-token-value", "reconnection-secret"} {
		if strings.Contains(out, secret) {
			t.Errorf("the log holds %q:\n%s", secret, out)
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
