package webpubsubclient

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// testTimeout bounds every wait in the tests. It is a safety net that
// turns a bug into a failure instead of a hang; no test relies on it
// elapsing.
const testTimeout = 20 * time.Second

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// ---------------------------------------------------------------------
// Events

// recorder records every event of a client on buffered channels.
type recorder struct {
	connected    chan ConnectedEvent
	disconnected chan DisconnectedEvent
	stopped      chan StoppedEvent
	server       chan ServerMessage
	group        chan GroupMessage
	rejoin       chan RejoinGroupFailedEvent

	mu  sync.Mutex
	log []string // kinds in delivery order
}

func record(c *Client) *recorder {
	const n = 20000
	r := &recorder{
		connected:    make(chan ConnectedEvent, 100),
		disconnected: make(chan DisconnectedEvent, 100),
		stopped:      make(chan StoppedEvent, 100),
		server:       make(chan ServerMessage, n),
		group:        make(chan GroupMessage, n),
		rejoin:       make(chan RejoinGroupFailedEvent, 100),
	}
	c.OnConnected(func(e ConnectedEvent) { r.note("connected"); r.connected <- e })
	c.OnDisconnected(func(e DisconnectedEvent) { r.note("disconnected"); r.disconnected <- e })
	c.OnStopped(func(e StoppedEvent) { r.note("stopped"); r.stopped <- e })
	c.OnServerMessage(func(e ServerMessage) { r.note("server:" + string(e.Data)); r.server <- e })
	c.OnGroupMessage(func(e GroupMessage) { r.note("group:" + e.Group + ":" + string(e.Data)); r.group <- e })
	c.OnRejoinGroupFailed(func(e RejoinGroupFailedEvent) { r.note("rejoinFailed:" + e.Group); r.rejoin <- e })
	return r
}

func (r *recorder) note(s string) {
	r.mu.Lock()
	r.log = append(r.log, s)
	r.mu.Unlock()
}

func (r *recorder) kinds() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.log...)
}

// next returns the next value of ch, failing the test after testTimeout.
func next[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(testTimeout):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// expectEmpty fails if ch holds a value. Call it only once every event
// that could be in ch has been delivered (for example after Stop).
func expectEmpty[T any](t testing.TB, ch <-chan T, what string) {
	t.Helper()
	select {
	case v := <-ch:
		t.Fatalf("unexpected %s: %+v", what, v)
	default:
	}
}

// ---------------------------------------------------------------------
// Goroutine leaks

// clientGoroutines lists the goroutines running code of this package
// (test files excepted).
func clientGoroutines() []string {
	buf := make([]byte, 4<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var leaks []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		for _, line := range strings.Split(g, "\n") {
			if strings.HasPrefix(line, "created by ") {
				break
			}
			if strings.HasPrefix(line, "\t") && strings.Contains(line, "/webpubsubclient/") && !strings.Contains(line, "_test.go") {
				leaks = append(leaks, g)
				break
			}
		}
	}
	return leaks
}

// checkNoGoroutines fails the test if goroutines of the client are still
// running. Stop waits for all of them, so they are gone by the time it
// returns; the short poll only covers goroutines between their last
// deferred call and their exit. The package's tests do not run in
// parallel, so that this check sees only its own test's clients.
func checkNoGoroutines(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		leaks := clientGoroutines()
		if len(leaks) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%d client goroutine(s) still running:\n%s", len(leaks), strings.Join(leaks, "\n\n"))
			return
		}
		runtime.Gosched()
		time.Sleep(5 * time.Millisecond)
	}
}

// stopClient stops c and checks that no client goroutine is left (so it
// must be the test's only running client).
func stopClient(t testing.TB, c *Client) {
	t.Helper()
	stopOnly(t, c)
	checkNoGoroutines(t)
}

// stopOnly stops c and checks its state.
func stopOnly(t testing.TB, c *Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := c.Stop(ctx); err != nil {
		t.Errorf("Stop: %v", err)
	}
	if s := c.State(); s != StateStopped {
		t.Errorf("State after Stop = %s, want Stopped", s)
	}
}

// ---------------------------------------------------------------------
// Fake service

// fakeService is a scripted WebSocket server: each accepted connection is
// handed to the test, which reads and writes its frames.
type fakeService struct {
	t     testing.TB
	srv   *httptest.Server
	conns chan *fakeConn
	// refuse, when it returns a status, answers the upgrade with it.
	refuse atomic.Pointer[func(*http.Request) int]
	// protocolOverride, when set, is the subprotocol accepted instead of
	// the offered one ("-" for none).
	protocolOverride atomic.Pointer[string]
}

type fakeConn struct {
	t     testing.TB
	ws    *websocket.Conn
	query url.Values
	ctx   context.Context
}

func newFakeService(t testing.TB) *fakeService {
	fs := &fakeService{t: t, conns: make(chan *fakeConn, 16)}
	fs.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f := fs.refuse.Load(); f != nil {
			if code := (*f)(r); code != 0 {
				http.Error(w, "refused by the fake service", code)
				return
			}
		}
		var protos []string
		if p := r.Header.Get("Sec-WebSocket-Protocol"); p != "" {
			protos = []string{strings.TrimSpace(strings.Split(p, ",")[0])}
		}
		if o := fs.protocolOverride.Load(); o != nil {
			protos = []string{*o}
			if *o == "-" {
				protos = nil
			}
		}
		ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: protos})
		if err != nil {
			return
		}
		ws.SetReadLimit(-1)
		fs.conns <- &fakeConn{t: t, ws: ws, query: r.URL.Query(), ctx: context.Background()}
	}))
	t.Cleanup(func() {
		for drained := false; !drained; {
			select {
			case c := <-fs.conns:
				_ = c.ws.CloseNow()
			default:
				drained = true
			}
		}
		fs.srv.CloseClientConnections()
		fs.srv.Close()
	})
	return fs
}

// url is the client access URL of the fake service.
func (fs *fakeService) url() string {
	return "ws" + strings.TrimPrefix(fs.srv.URL, "http") + "/client/hubs/chat?access_token=secret-token-value"
}

// accept returns the next connection.
func (fs *fakeService) accept() *fakeConn {
	fs.t.Helper()
	return next(fs.t, fs.conns, "a connection to the fake service")
}

func (c *fakeConn) send(frame string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, testTimeout)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, []byte(frame)); err != nil {
		c.t.Fatalf("fake service write: %v", err)
	}
}

// connected sends the connected message.
func (c *fakeConn) connected(id, token string) {
	c.t.Helper()
	b, _ := json.Marshal(map[string]any{"type": "system", "event": "connected", "userId": "alice", "connectionId": id, "reconnectionToken": token})
	c.send(string(b))
}

// read returns the next frame as a map, or fails.
func (c *fakeConn) read() map[string]any {
	c.t.Helper()
	m, err := c.tryRead()
	if err != nil {
		c.t.Fatalf("fake service read: %v", err)
	}
	return m
}

func (c *fakeConn) tryRead() (map[string]any, error) {
	ctx, cancel := context.WithTimeout(c.ctx, testTimeout)
	defer cancel()
	_, b, err := c.ws.Read(ctx)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	return m, nil
}

// readType reads frames until one of type typ, skipping pings and
// sequence acks unless asked for.
func (c *fakeConn) readType(typ string) map[string]any {
	c.t.Helper()
	for {
		m := c.read()
		if m["type"] == typ {
			return m
		}
		if m["type"] != "ping" && m["type"] != "sequenceAck" {
			c.t.Fatalf("fake service: got %v, want a %s frame", m, typ)
		}
	}
}

// ack answers frame m (which has an ackId) with success or an error name.
func (c *fakeConn) ack(m map[string]any, errName string) {
	c.t.Helper()
	id := int64(m["ackId"].(float64))
	if errName == "" {
		c.send(`{"type":"ack","ackId":` + itoa64(id) + `,"success":true}`)
		return
	}
	c.send(`{"type":"ack","ackId":` + itoa64(id) + `,"success":false,"error":{"name":"` + errName + `","message":"fake ` + errName + `"}}`)
}

// expectDropWithoutClose reads until the transport ends and checks that
// the client sent no close frame.
func (c *fakeConn) expectDropWithoutClose() {
	c.t.Helper()
	for {
		_, _, err := c.ws.Read(context.Background())
		if err == nil {
			continue
		}
		if code := websocket.CloseStatus(err); code != -1 {
			c.t.Fatalf("the client sent a close frame (%d); it must drop TCP without one", code)
		}
		return
	}
}

// expectClose reads until the client's close frame and returns its code.
func (c *fakeConn) expectClose() websocket.StatusCode {
	c.t.Helper()
	for {
		_, _, err := c.ws.Read(context.Background())
		if err == nil {
			continue
		}
		return websocket.CloseStatus(err)
	}
}

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }

// ---------------------------------------------------------------------
// Fake clock

// fakeClock is a manual clock. Timers fire only in Advance.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	timers  []*fakeTimer
	changed chan struct{}
}

type fakeTimer struct {
	c      *fakeClock
	ch     chan time.Time
	when   time.Time
	d      time.Duration
	active bool
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), changed: make(chan struct{})}
}

func (c *fakeClock) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTimer(d time.Duration) timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: c, ch: make(chan time.Time, 1), when: c.now.Add(d), d: d, active: true}
	c.timers = append(c.timers, t)
	c.notifyLocked()
	return t
}

func (t *fakeTimer) C() <-chan time.Time { return t.ch }

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := t.active
	t.active = false
	select {
	case <-t.ch:
	default:
	}
	t.c.notifyLocked()
	return was
}

func (t *fakeTimer) Reset(d time.Duration) {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	select {
	case <-t.ch:
	default:
	}
	t.active, t.d, t.when = true, d, t.c.now.Add(d)
	t.c.notifyLocked()
}

// Advance moves the clock forward and fires the timers that are due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	for _, t := range c.timers {
		if t.active && !t.when.After(c.now) {
			t.active = false
			select {
			case t.ch <- t.when:
			default:
			}
		}
	}
	c.notifyLocked()
}

// waitArmed waits until at least n timers of duration d are armed.
func (c *fakeClock) waitArmed(t testing.TB, d time.Duration, n int) {
	t.Helper()
	deadline := time.After(testTimeout)
	for {
		c.mu.Lock()
		count := 0
		for _, tm := range c.timers {
			if tm.active && tm.d == d {
				count++
			}
		}
		ch := c.changed
		c.mu.Unlock()
		if count >= n {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("timed out waiting for %d timer(s) of %v", n, d)
		}
	}
}
