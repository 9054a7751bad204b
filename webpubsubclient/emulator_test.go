package webpubsubclient

// Round trips against the in-process emulator: the production client talks
// to a real service implementation over loopback.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gowebpubsub/webpubsub"
	"github.com/gowebpubsub/webpubsub/emulator"
)

// drainUntil returns the next message on ch whose data is want, failing
// if another message comes first.
func nextData[T interface{ ServerMessage | GroupMessage }](t *testing.T, ch <-chan T, want string) T {
	t.Helper()
	v := next(t, ch, "message "+want)
	var data []byte
	switch m := any(v).(type) {
	case ServerMessage:
		data = m.Data
	case GroupMessage:
		data = m.Data
	}
	if string(data) != want {
		t.Fatalf("got message %q, want %q", data, want)
	}
	return v
}

// marker sends a server message to the connection and waits for it, so
// that every message sent to the connection before it has been delivered.
func (e *testEnv) marker(t *testing.T, c *Client, rec *recorder, text string) {
	t.Helper()
	if _, err := e.svc.SendToConnection(testContext(t), c.ConnectionID(), webpubsub.TextMessage(text), nil); err != nil {
		t.Fatalf("SendToConnection: %v", err)
	}
	nextData(t, rec.server, text)
}

func TestEmulatorLifecycle(t *testing.T) {
	protocols(t, func(t *testing.T, p Protocol) {
		env := newEnv(t)
		c, rec, calls := env.startClient(t, p, webpubsub.GetClientAccessTokenOptions{UserID: "alice"}, nil)
		ev := next(t, rec.connected, "Connected")
		if ev.UserID != "alice" || ev.ConnectionID == "" || ev.ConnectionID != c.ConnectionID() {
			t.Errorf("Connected = %+v, ConnectionID() = %q", ev, c.ConnectionID())
		}
		if ok, err := env.svc.ConnectionExists(testContext(t), ev.ConnectionID, nil); err != nil || !ok {
			t.Errorf("ConnectionExists = %v, %v", ok, err)
		}
		stopClient(t, c)
		if d := next(t, rec.disconnected, "Disconnected"); d.ConnectionID != ev.ConnectionID {
			t.Errorf("Disconnected = %+v", d)
		}
		next(t, rec.stopped, "Stopped")
		if got, want := rec.kinds(), []string{"connected", "disconnected", "stopped"}; !slices.Equal(got, want) {
			t.Errorf("events = %v, want %v", got, want)
		}
		if n := calls.Load(); n != 1 {
			t.Errorf("credential calls = %d", n)
		}
	})
}

func TestEmulatorGroupRoundTrip(t *testing.T) {
	protocols(t, func(t *testing.T, p Protocol) {
		env := newEnv(t)
		ctx := testContext(t)
		a, recA, _ := env.startClient(t, p, webpubsub.GetClientAccessTokenOptions{UserID: "alice", Roles: allRoles}, nil)
		b, recB, _ := env.startClient(t, p, webpubsub.GetClientAccessTokenOptions{UserID: "bob", Roles: []string{"webpubsub.joinLeaveGroup"}}, nil)
		for _, c := range []*Client{a, b} {
			res, err := c.JoinGroup(ctx, "room", nil)
			if err != nil || res.AckID == 0 || res.Duplicated {
				t.Fatalf("JoinGroup = %+v, %v", res, err)
			}
		}

		// Text with echo: both get it, the sender too.
		r1, err := a.SendToGroup(ctx, "room", TextMessage("hello"), nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, rec := range []*recorder{recA, recB} {
			m := nextData(t, rec.group, "hello")
			// The protobuf schema has no fromUserId.
			if m.Group != "room" || (m.FromUserID != "alice") != p.protobuf() || m.DataType != DataTypeText {
				t.Errorf("group message = %+v", m)
			}
			if reliableProtocol(p) != (m.SequenceID != 0) {
				t.Errorf("SequenceID = %d with %s", m.SequenceID, p)
			}
		}
		// JSON without echo, binary with echo.
		r2, err := a.SendToGroup(ctx, "room", JSONMessage(map[string]any{"n": 1}), &SendToGroupOptions{NoEcho: true})
		if err != nil {
			t.Fatal(err)
		}
		// The protobuf protocols receive JSON as text holding the JSON.
		if m := nextData(t, recB.group, `{"n":1}`); m.DataType != receivedAs(DataTypeJSON, p.protobuf()) {
			t.Errorf("JSON message = %+v", m)
		}
		if _, err := a.SendToGroup(ctx, "room", BinaryMessage([]byte{0xCA, 0xFE}), nil); err != nil {
			t.Fatal(err)
		}
		if m := nextData(t, recB.group, "\xCA\xFE"); m.DataType != DataTypeBinary {
			t.Errorf("binary message = %+v", m)
		}
		nextData(t, recA.group, "\xCA\xFE") // not the JSON one: NoEcho
		if r2.AckID <= r1.AckID {
			t.Errorf("ack ids %d then %d; want increasing", r1.AckID, r2.AckID)
		}

		// Fire and forget.
		if res, err := a.SendToGroup(ctx, "room", TextMessage("ff"), &SendToGroupOptions{FireAndForget: true}); err != nil || res != (AckResult{}) {
			t.Errorf("fire-and-forget = %+v, %v", res, err)
		}
		nextData(t, recB.group, "ff")
		nextData(t, recA.group, "ff")

		// After LeaveGroup, b gets nothing more from the group.
		if _, err := b.LeaveGroup(ctx, "room", nil); err != nil {
			t.Fatal(err)
		}
		if _, err := a.SendToGroup(ctx, "room", TextMessage("after leave"), nil); err != nil {
			t.Fatal(err)
		}
		nextData(t, recA.group, "after leave")
		env.marker(t, b, recB, "marker")
		if slices.Contains(recB.kinds(), "group:room:after leave") {
			t.Error("b received a group message after leaving the group")
		}
	})
}

func TestEmulatorServerMessages(t *testing.T) {
	protocols(t, func(t *testing.T, p Protocol) {
		env := newEnv(t)
		ctx := testContext(t)
		c, rec, _ := env.startClient(t, p, webpubsub.GetClientAccessTokenOptions{UserID: "alice", Roles: allRoles}, nil)
		if _, err := c.JoinGroup(ctx, "news", nil); err != nil {
			t.Fatal(err)
		}
		if _, err := env.svc.SendToAll(ctx, webpubsub.TextMessage("to all"), nil); err != nil {
			t.Fatal(err)
		}
		if _, err := env.svc.SendToUser(ctx, "alice", webpubsub.JSONMessage([]int{1, 2}), nil); err != nil {
			t.Fatal(err)
		}
		if _, err := env.svc.SendToConnection(ctx, c.ConnectionID(), webpubsub.BinaryMessage([]byte{0, 255}), nil); err != nil {
			t.Fatal(err)
		}
		if _, err := env.svc.SendToGroup(ctx, "news", webpubsub.TextMessage("from the server"), nil); err != nil {
			t.Fatal(err)
		}
		for _, want := range []struct {
			dt   DataType
			data string
		}{{DataTypeText, "to all"}, {DataTypeJSON, "[1,2]"}, {DataTypeBinary, "\x00\xff"}} {
			if m := nextData(t, rec.server, want.data); m.DataType != receivedAs(want.dt, p.protobuf()) {
				t.Errorf("server message %q has data type %s, want %s", want.data, m.DataType, receivedAs(want.dt, p.protobuf()))
			}
		}
		if m := nextData(t, rec.group, "from the server"); m.FromUserID != "" || m.Group != "news" {
			t.Errorf("REST group message = %+v", m)
		}
	})
}

func TestEmulatorSendEvent(t *testing.T) {
	protocols(t, func(t *testing.T, p Protocol) {
		env := newEnv(t)
		ctx := testContext(t)
		c, _, _ := env.startClient(t, p, webpubsub.GetClientAccessTokenOptions{UserID: "alice"},
			&Options{MessageRetry: RetryOptions{MaxRetries: 2, Delay: time.Millisecond}})
		// No role is needed; fire and forget succeeds once written.
		if res, err := c.SendEvent(ctx, "chat", TextMessage("hi"), &SendEventOptions{FireAndForget: true}); err != nil || res != (AckResult{}) {
			t.Errorf("fire-and-forget SendEvent = %+v, %v", res, err)
		}
		// The emulator has no event handler for it: InternalServerError,
		// retried (same ack id) and then reported.
		res, err := c.SendEvent(ctx, "chat", JSONMessage(map[string]string{"k": "v"}), &SendEventOptions{AckID: 900})
		var ae *AckError
		if !errors.As(err, &ae) || ae.Name != ErrorNameInternalServerError || ae.AckID != 900 || res.AckID != 900 {
			t.Fatalf("SendEvent = %+v, %v; want an InternalServerError *AckError for ack id 900", res, err)
		}
		if !strings.Contains(ae.Message, "chat") {
			t.Errorf("AckError message = %q", ae.Message)
		}
	})
}

func TestEmulatorSendEventToHandler(t *testing.T) {
	protocols(t, func(t *testing.T, p Protocol) {
		// The application server: answers user event "echo" with a text
		// reply, which reaches the client as a server message.
		events := make(chan string, 10)
		upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			events <- r.Header.Get("ce-type") + " " + string(body)
			w.Header().Set("Content-Type", "text/plain")
			_, _ = w.Write([]byte("reply to " + string(body)))
		}))
		t.Cleanup(upstream.Close)
		env := newEnv(t, emulator.WithHub("chat", emulator.HubOptions{
			EventHandlers: []emulator.EventHandler{{URLTemplate: upstream.URL + "/{event}", UserEventPattern: "*", SkipValidation: true}},
		}))
		c, rec, _ := env.startClient(t, p, webpubsub.GetClientAccessTokenOptions{UserID: "alice"}, nil)
		res, err := c.SendEvent(testContext(t), "echo", TextMessage("hi"), nil)
		if err != nil || res.AckID == 0 || res.Duplicated {
			t.Fatalf("SendEvent = %+v, %v", res, err)
		}
		if got := next(t, events, "upstream event"); got != "azure.webpubsub.user.echo hi" {
			t.Errorf("upstream got %q", got)
		}
		if m := nextData(t, rec.server, "reply to hi"); m.DataType != DataTypeText {
			t.Errorf("reply = %+v", m)
		}
	})
}

func TestEmulatorDuplicate(t *testing.T) {
	protocols(t, func(t *testing.T, p Protocol) {
		env := newEnv(t)
		ctx := testContext(t)
		a, recA, _ := env.startClient(t, p, webpubsub.GetClientAccessTokenOptions{UserID: "alice", Roles: allRoles}, nil)
		r1, err1 := a.JoinGroup(ctx, "dup", &JoinGroupOptions{AckID: 42})
		r2, err2 := a.JoinGroup(ctx, "dup", &JoinGroupOptions{AckID: 42})
		if err1 != nil || err2 != nil || r1 != (AckResult{AckID: 42}) || r2 != (AckResult{AckID: 42, Duplicated: true}) {
			t.Fatalf("JoinGroup twice with ack id 42 = %+v, %v / %+v, %v", r1, err1, r2, err2)
		}
		// The same send twice is delivered once.
		for i, wantDup := range []bool{false, true} {
			res, err := a.SendToGroup(ctx, "dup", TextMessage("once"), &SendToGroupOptions{AckID: 77})
			if err != nil || res.AckID != 77 || res.Duplicated != wantDup {
				t.Fatalf("send %d = %+v, %v", i, res, err)
			}
		}
		nextData(t, recA.group, "once")
		env.marker(t, a, recA, "marker")
		if n := strings.Count(strings.Join(recA.kinds(), "\n"), "group:dup:once"); n != 1 {
			t.Errorf("the message was delivered %d times, want 1", n)
		}
	})
}

func TestEmulatorForbiddenIsNotRetried(t *testing.T) {
	protocols(t, func(t *testing.T, p Protocol) {
		env := newEnv(t)
		// A retry would wait an hour, far beyond the test's context: a
		// Forbidden that was retried fails with a context error instead.
		c, _, _ := env.startClient(t, p, webpubsub.GetClientAccessTokenOptions{UserID: "nobody"},
			&Options{MessageRetry: RetryOptions{Delay: time.Hour, MaxDelay: time.Hour}})
		ctx := testContext(t)
		for name, call := range map[string]func() (AckResult, error){
			"JoinGroup":   func() (AckResult, error) { return c.JoinGroup(ctx, "private", nil) },
			"LeaveGroup":  func() (AckResult, error) { return c.LeaveGroup(ctx, "private", nil) },
			"SendToGroup": func() (AckResult, error) { return c.SendToGroup(ctx, "private", TextMessage("x"), nil) },
		} {
			res, err := call()
			var ae *AckError
			if !errors.As(err, &ae) || ae.Name != ErrorNameForbidden || ae.AckID != res.AckID || ae.Message == "" {
				t.Errorf("%s = %+v, %v; want a Forbidden *AckError", name, res, err)
			}
		}
	})
}

func TestEmulatorRejoinAfterServerClose(t *testing.T) {
	protocols(t, func(t *testing.T, p Protocol) {
		env := newEnv(t)
		ctx := testContext(t)
		c, rec, calls := env.startClient(t, p, webpubsub.GetClientAccessTokenOptions{UserID: "alice", Roles: allRoles},
			&Options{RecoveryInterval: 10 * time.Millisecond, ReconnectRetry: RetryOptions{Delay: 10 * time.Millisecond}})
		first := next(t, rec.connected, "Connected")
		for _, g := range []string{"g1", "g2"} {
			if _, err := c.JoinGroup(ctx, g, nil); err != nil {
				t.Fatal(err)
			}
		}
		// A REST close ends the connection for good: no recovery.
		if _, err := env.svc.CloseConnection(ctx, first.ConnectionID, &webpubsub.CloseConnectionOptions{Reason: "bye"}); err != nil {
			t.Fatal(err)
		}
		d := next(t, rec.disconnected, "Disconnected")
		if d.ConnectionID != first.ConnectionID || (p == ProtocolJSON && d.Message != "bye") || d.Message == "" {
			t.Errorf("Disconnected = %+v", d)
		}
		second := next(t, rec.connected, "Connected after the reconnect")
		if second.ConnectionID == first.ConnectionID || second.ConnectionID != c.ConnectionID() {
			t.Errorf("new connection id %q (old %q, current %q)", second.ConnectionID, first.ConnectionID, c.ConnectionID())
		}
		if n := calls.Load(); n != 2 {
			t.Errorf("credential calls = %d, want 2", n)
		}
		// Connected comes after the rejoin: the groups work at once.
		for _, g := range []string{"g1", "g2"} {
			if _, err := env.svc.SendToGroup(ctx, g, webpubsub.TextMessage("to "+g), nil); err != nil {
				t.Fatal(err)
			}
			nextData(t, rec.group, "to "+g)
		}
		expectEmpty(t, rec.rejoin, "RejoinGroupFailed")
	})
}

func TestEmulatorRejoinGroupFailed(t *testing.T) {
	env := newEnv(t)
	ctx := testContext(t)
	// The first token may join groups; later ones may not.
	var calls atomic.Int32
	cred := URLFunc(func(ctx context.Context) (string, error) {
		opts := &webpubsub.GetClientAccessTokenOptions{UserID: "alice"}
		if calls.Add(1) == 1 {
			opts.Roles = allRoles
		}
		tok, err := env.svc.GetClientAccessToken(ctx, opts)
		return tok.URL, err
	})
	c, err := New(cred, &Options{Protocol: ProtocolJSON, ReconnectRetry: RetryOptions{Delay: time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	rec := record(c)
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopOnly(t, c) })
	first := next(t, rec.connected, "Connected")
	if _, err := c.JoinGroup(ctx, "g", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := env.svc.CloseConnection(ctx, first.ConnectionID, nil); err != nil {
		t.Fatal(err)
	}
	f := next(t, rec.rejoin, "RejoinGroupFailed")
	var ae *AckError
	if f.Group != "g" || !errors.As(f.Err, &ae) || ae.Name != ErrorNameForbidden {
		t.Errorf("RejoinGroupFailed = %+v", f)
	}
	next(t, rec.connected, "Connected after the rejoin")
	if got, want := rec.kinds(), []string{"connected", "disconnected", "rejoinFailed:g", "connected"}; !slices.Equal(got, want) {
		t.Errorf("events = %v, want %v", got, want)
	}
}

func TestEmulatorDisableAutoReconnect(t *testing.T) {
	protocols(t, func(t *testing.T, p Protocol) {
		env := newEnv(t)
		c, rec, _ := env.startClient(t, p, webpubsub.GetClientAccessTokenOptions{UserID: "alice"},
			&Options{DisableAutoReconnect: true, RecoveryInterval: 10 * time.Millisecond})
		id := next(t, rec.connected, "Connected").ConnectionID
		if _, err := env.svc.CloseConnection(testContext(t), id, &webpubsub.CloseConnectionOptions{Reason: "bye"}); err != nil {
			t.Fatal(err)
		}
		// A reliable client first tries to recover, which the emulator
		// refuses; a json.webpubsub.azure.v1 one reports the reason.
		if d := next(t, rec.disconnected, "Disconnected"); d.ConnectionID != id || (p == ProtocolJSON && d.Message != "bye") {
			t.Errorf("Disconnected = %+v", d)
		}
		next(t, rec.stopped, "Stopped")
		if s := c.State(); s != StateStopped {
			t.Errorf("State = %s", s)
		}
		if _, err := c.JoinGroup(testContext(t), "g", nil); !errors.Is(err, ErrNotStarted) {
			t.Errorf("JoinGroup after the client stopped = %v, want ErrNotStarted", err)
		}
		checkNoGoroutines(t)
	})
}

func TestEmulatorRefusesBadToken(t *testing.T) {
	env := newEnv(t)
	other, err := webpubsub.NewServiceClientFromConnectionString(
		strings.Replace(env.emu.ConnectionString(), env.emu.AccessKey(), "ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210abcdef", 1), "chat", nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := other.GetClientAccessToken(testContext(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(StaticURL(tok.URL), &Options{Protocol: ProtocolJSON})
	if err != nil {
		t.Fatal(err)
	}
	err = c.Start(testContext(t))
	var he *HandshakeError
	if !errors.As(err, &he) || he.StatusCode != 401 {
		t.Fatalf("Start with a token signed by another key = %v, want a 401 *HandshakeError", err)
	}
	if strings.Contains(err.Error(), tok.Token) {
		t.Errorf("the error reveals the token: %v", err)
	}
	checkNoGoroutines(t)
}

func TestEmulatorConcurrentUse(t *testing.T) {
	protocols(t, func(t *testing.T, p Protocol) {
		env := newEnv(t)
		ctx := testContext(t)
		a, _, _ := env.startClient(t, p, webpubsub.GetClientAccessTokenOptions{UserID: "alice", Roles: allRoles}, nil)
		b, recB, _ := env.startClient(t, p, webpubsub.GetClientAccessTokenOptions{UserID: "bob", Roles: allRoles}, nil)
		if _, err := b.JoinGroup(ctx, "busy", nil); err != nil {
			t.Fatal(err)
		}
		const workers, each = 8, 50
		var mu sync.Mutex
		ids := map[uint64]bool{}
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					res, err := a.SendToGroup(ctx, "busy", TextMessage(fmt.Sprintf("%d-%d", w, i)), nil)
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					ids[res.AckID] = true
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if len(ids) != workers*each {
			t.Errorf("%d distinct ack ids for %d calls", len(ids), workers*each)
		}
		// Each worker's messages arrive in the order it sent them.
		last := map[int]int{}
		for range workers * each {
			m := next(t, recB.group, "group message")
			var w, i int
			if _, err := fmt.Sscanf(string(m.Data), "%d-%d", &w, &i); err != nil {
				t.Fatal(err)
			}
			if prev, ok := last[w]; ok && i != prev+1 {
				t.Fatalf("worker %d: message %d after %d", w, i, prev)
			}
			last[w] = i
		}
	})
}
