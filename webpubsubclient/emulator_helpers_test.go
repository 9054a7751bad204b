package webpubsubclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/gowebpubsub/webpubsub"
	"github.com/gowebpubsub/webpubsub/emulator"
)

// ---------------------------------------------------------------------
// Emulator

// testEnv is an in-process emulator with a service client for hub "chat".
type testEnv struct {
	emu *emulator.Emulator
	svc *webpubsub.ServiceClient
	hub string
}

// newEnv starts an emulator test double configured by opts (see
// emulator.NewTest), closed at the end of the test, with a service client
// for hub "chat".
func newEnv(t testing.TB, opts ...emulator.Option) *testEnv {
	t.Helper()
	e := emulator.NewTest(t, opts...)
	svc, err := webpubsub.NewServiceClientFromConnectionString(e.ConnectionString(), "chat", nil)
	if err != nil {
		t.Fatalf("NewServiceClientFromConnectionString: %v", err)
	}
	// Runs after the clients' cleanups (which stop them), before the
	// emulator closes.
	t.Cleanup(func() { checkNoGoroutines(t) })
	return &testEnv{emu: e, svc: svc, hub: "chat"}
}

// cred returns a credential that mints a token with opts on every call,
// and the number of calls.
func (e *testEnv) cred(opts webpubsub.GetClientAccessTokenOptions) (URLFunc, *atomic.Int32) {
	calls := new(atomic.Int32)
	return func(ctx context.Context) (string, error) {
		calls.Add(1)
		tok, err := e.svc.GetClientAccessToken(ctx, &opts)
		return tok.URL, err
	}, calls
}

var allRoles = []string{"webpubsub.joinLeaveGroup", "webpubsub.sendToGroup"}

// protocols runs f once per protocol: the JSON and the protobuf ones.
// A variant is skipped when the emulator does not support its
// subprotocol.
func protocols(t *testing.T, f func(t *testing.T, p Protocol)) {
	for _, p := range PossibleProtocolValues() {
		t.Run(string(p), func(t *testing.T) { f(t, p) })
	}
}

// jsonProtocols runs f once per JSON protocol, for the features the
// protobuf protocols cannot carry (invocations, group streams).
func jsonProtocols(t *testing.T, f func(t *testing.T, p Protocol)) {
	for _, p := range []Protocol{ProtocolJSON, ProtocolReliableJSON} {
		t.Run(string(p), func(t *testing.T) { f(t, p) })
	}
}

// reliableProtocol reports whether p numbers messages.
func reliableProtocol(p Protocol) bool {
	return p == ProtocolReliableJSON || p == ProtocolReliableProtobuf
}

// skipIfUnsupported skips the test when err says the service does not
// support the subprotocol (the emulator before its reliable protocol).
func skipIfUnsupported(t testing.TB, p Protocol, err error) {
	t.Helper()
	var he *HandshakeError
	if errors.As(err, &he) && he.StatusCode == http.StatusBadRequest && strings.Contains(he.Message, "not supported") {
		t.Skipf("the emulator does not support %s yet (%s); this test runs once it does", p, he.Message)
	}
}

// startClient creates a client with protocol p and a token with opts,
// starts it and stops it at the end of the test (checking for leaks).
func (e *testEnv) startClient(t testing.TB, p Protocol, tok webpubsub.GetClientAccessTokenOptions, opts *Options) (*Client, *recorder, *atomic.Int32) {
	t.Helper()
	if opts == nil {
		opts = &Options{}
	}
	opts.Protocol = p
	c, rec, calls := e.newClient(t, tok, opts, nil, nil)
	if err := c.Start(testContext(t)); err != nil {
		skipIfUnsupported(t, p, err)
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { stopOnly(t, c) })
	return c, rec, calls
}

// newClient creates a client with opts whose credential mints a token
// with tok on every call (counted), without starting it. When tap is not
// nil the client connects through it; when clk is not nil it is the
// client's clock.
func (e *testEnv) newClient(t testing.TB, tok webpubsub.GetClientAccessTokenOptions, opts *Options, tap *wireTap, clk *emulator.FakeClock) (*Client, *recorder, *atomic.Int32) {
	t.Helper()
	cred, calls := e.cred(tok)
	if tap != nil {
		cred = tap.route(cred)
	}
	c, err := New(cred, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if clk != nil {
		c.clock = clientClock{clk}
	}
	return c, record(c), calls
}

// mustStart starts c and stops it at the end of the test.
func mustStart(t testing.TB, c *Client) {
	t.Helper()
	if err := c.Start(testContext(t)); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { stopOnly(t, c) })
}

// waitFor waits until cond holds, re-evaluated on every change of the
// emulator's state.
func (e *testEnv) waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	if err := e.emu.Wait(testContext(t), cond); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

// connection returns the emulator's view of connection id of the hub.
func (e *testEnv) connection(t testing.TB, id string) emulator.ConnectionInfo {
	t.Helper()
	info, err := e.emu.Connection(e.hub, id)
	if err != nil {
		t.Fatalf("Connection(%q): %v", id, err)
	}
	return info
}

// delivered returns the data of the messages the emulator has queued for
// connection id since the log was last cleared, in order.
func (e *testEnv) delivered(id string) []string {
	var out []string
	for _, m := range e.emu.Messages() {
		if m.ConnectionID == id {
			out = append(out, string(m.Data))
		}
	}
	return out
}

// connEvents returns an emulator option that records every connection
// event on the returned channel.
func connEvents() (emulator.Option, <-chan emulator.ConnectionEvent) {
	ch := make(chan emulator.ConnectionEvent, 1000)
	return emulator.WithConnectionEvents(func(ev emulator.ConnectionEvent) { ch <- ev }), ch
}

// nextConnEvent returns the next event of connection id, failing unless
// it is of kind want (any kind when want is ""); events of other
// connections are skipped.
func nextConnEvent(t testing.TB, ch <-chan emulator.ConnectionEvent, id string, want emulator.ConnectionEventKind) emulator.ConnectionEvent {
	t.Helper()
	for {
		ev := next(t, ch, fmt.Sprintf("connection event %s of %s", want, id))
		if ev.ConnectionID != id {
			continue
		}
		if want != "" && ev.Kind != want {
			t.Fatalf("connection %s: event %+v, want %s", id, ev, want)
		}
		return ev
	}
}

// nextRecovery waits for the recovery of connection id: its next events
// must be Recovered, after Detached unless the recovery came before the
// emulator noticed the broken transport.
func nextRecovery(t testing.TB, ch <-chan emulator.ConnectionEvent, id string) {
	t.Helper()
	for detached := false; ; detached = true {
		ev := nextConnEvent(t, ch, id, "")
		switch {
		case ev.Kind == emulator.ConnectionRecovered:
			return
		case ev.Kind != emulator.ConnectionDetached || detached:
			t.Fatalf("connection %s: event %+v, want its recovery", id, ev)
		}
	}
}

// secrets returns the access token and the reconnection token of c's
// current connection, so that tests can check that neither leaks.
func secrets(t testing.TB, c *Client) (accessToken, reconnectionToken string) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.run == nil {
		t.Fatal("the client is not running")
	}
	u, err := url.Parse(c.run.url)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("access_token"), c.run.reconnectionToken
}

// ---------------------------------------------------------------------
// Time

// clientClock drives the client's timers from an emulator.FakeClock, so
// that a test moves the client's time with Advance and sees its timers
// with WaitTimers.
type clientClock struct{ *emulator.FakeClock }

func (c clientClock) NewTimer(d time.Duration) timer {
	t := &fakeClockTimer{clk: c.FakeClock, ch: make(chan time.Time, 1)}
	t.Reset(d)
	return t
}

// fakeClockTimer is a timer on a FakeClock with the semantics of
// *time.Timer since Go 1.23: after Stop or Reset no stale value is
// received.
type fakeClockTimer struct {
	clk *emulator.FakeClock
	ch  chan time.Time

	mu   sync.Mutex
	gen  uint64      // incremented by Stop and Reset; a firing of an older generation is ignored
	stop func() bool // cancels the armed AfterFunc; nil when none is armed
}

func (t *fakeClockTimer) C() <-chan time.Time { return t.ch }

func (t *fakeClockTimer) Stop() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.disarmLocked()
}

func (t *fakeClockTimer) Reset(d time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.disarmLocked()
	gen := t.gen
	t.stop = t.clk.AfterFunc(d, func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		if t.gen == gen {
			t.stop = nil
			t.ch <- t.clk.Now() // buffered, and drained by every disarm
		}
	})
}

// disarmLocked cancels the armed firing and drains a value not yet
// received. It reports whether a firing was cancelled.
func (t *fakeClockTimer) disarmLocked() bool {
	t.gen++
	was := t.stop != nil && t.stop()
	t.stop = nil
	select {
	case <-t.ch:
	default:
	}
	return was
}

// waitTimer waits until clk has a timer armed for exactly d.
func waitTimer(t testing.TB, clk *emulator.FakeClock, d time.Duration) {
	t.Helper()
	if err := clk.WaitTimers(testContext(t), d, 1); err != nil {
		t.Fatalf("waiting for a timer of %v: %v", d, err)
	}
}

// ---------------------------------------------------------------------
// Wire tap

// wireTap is a WebSocket relay between clients and the emulator that
// records what crosses it: the query of every handshake, every frame in
// both directions and how the client ended each connection. The emulator
// still plays the service; the tap only lets a test see the client's
// frames, which the emulator does not expose. Each end is ended the way
// the other ended: with the same close frame, or abruptly. WebSocket
// Pings are answered by the tap, not relayed.
type wireTap struct {
	target string // ws://host:port of the emulator
	srv    *httptest.Server
	ctx    context.Context
	cancel context.CancelFunc
	live   liveSet
	n      atomic.Int32 // connections so far

	dials  chan url.Values           // the query of each handshake
	sent   chan tapFrame             // text frames from clients
	closes chan websocket.StatusCode // per connection: the client's close code, -1 without a close frame

	mu       sync.Mutex
	received []tapFrame // text frames from the service (at most 1 MiB each), in order
}

// liveSet counts the handlers of a test server that outlive its Close
// (WebSocket handlers, whose connections are hijacked), so that a cleanup
// can wait for them; once closed it admits no new one.
type liveSet struct {
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

// add admits a handler, or reports false once the set is closed.
func (s *liveSet) add() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Add(1)
	return true
}

func (s *liveSet) done() { s.wg.Done() }

func (s *liveSet) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
}

// wait waits for the admitted handlers; call it after close.
func (s *liveSet) wait() { s.wg.Wait() }

// tapFrame is one recorded JSON frame of connection conn (1 for the
// first connection through the tap, 2 for the next…).
type tapFrame struct {
	conn int
	m    map[string]any
}

func newWireTap(t testing.TB, e *testEnv) *wireTap {
	t.Helper()
	u, err := url.Parse(e.emu.URL())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tap := &wireTap{
		target: "ws://" + u.Host, ctx: ctx, cancel: cancel,
		dials: make(chan url.Values, 100), sent: make(chan tapFrame, 10000), closes: make(chan websocket.StatusCode, 100),
	}
	tap.srv = httptest.NewServer(http.HandlerFunc(tap.relay))
	t.Cleanup(func() {
		tap.live.close()
		cancel()
		tap.srv.Close()
		tap.live.wait()
	})
	return tap
}

// route returns cred with its URLs pointed at the tap.
func (tap *wireTap) route(cred URLFunc) URLFunc {
	return func(ctx context.Context) (string, error) {
		raw, err := cred(ctx)
		if err != nil {
			return "", err
		}
		u, err := url.Parse(raw)
		if err != nil {
			return "", err
		}
		u.Host = strings.TrimPrefix(tap.srv.URL, "http://")
		return u.String(), nil
	}
}

func (tap *wireTap) relay(w http.ResponseWriter, r *http.Request) {
	if !tap.live.add() {
		http.Error(w, "the tap is closed", http.StatusServiceUnavailable)
		return
	}
	defer tap.live.done()
	n := int(tap.n.Add(1))
	offer(tap.ctx, tap.dials, r.URL.Query())
	var offered []string
	for _, p := range strings.Split(r.Header.Get("Sec-WebSocket-Protocol"), ",") {
		if p = strings.TrimSpace(p); p != "" {
			offered = append(offered, p)
		}
	}
	up, resp, err := websocket.Dial(tap.ctx, tap.target+r.URL.RequestURI(), &websocket.DialOptions{Subprotocols: offered})
	if err != nil {
		status, body := http.StatusBadGateway, []byte(err.Error())
		if resp != nil && resp.StatusCode != 0 && resp.StatusCode != http.StatusSwitchingProtocols {
			status, body = resp.StatusCode, nil
			body, _ = io.ReadAll(resp.Body)
		}
		w.WriteHeader(status)
		_, _ = w.Write(body)
		return
	}
	var selected []string
	if p := up.Subprotocol(); p != "" {
		selected = []string{p}
	}
	down, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: selected})
	if err != nil {
		_ = up.CloseNow()
		return
	}
	up.SetReadLimit(-1)
	down.SetReadLimit(-1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		tap.pipe(n, up, down, false)
	}()
	offer(tap.ctx, tap.closes, tap.pipe(n, down, up, true))
	<-done
}

// pipe copies frames from src to dst until src ends, recording them, and
// ends dst as src ended. It returns the code of src's close frame, or -1
// when src ended without one.
func (tap *wireTap) pipe(n int, src, dst *websocket.Conn, fromClient bool) websocket.StatusCode {
	for {
		typ, b, err := src.Read(tap.ctx)
		if err != nil {
			var ce websocket.CloseError
			if errors.As(err, &ce) {
				_ = dst.Close(ce.Code, ce.Reason)
				return ce.Code
			}
			_ = dst.CloseNow()
			return -1
		}
		if typ == websocket.MessageText && (fromClient || len(b) <= 1<<20) {
			var m map[string]any
			if json.Unmarshal(b, &m) == nil {
				if fromClient {
					offer(tap.ctx, tap.sent, tapFrame{n, m})
				} else {
					tap.mu.Lock()
					tap.received = append(tap.received, tapFrame{n, m})
					tap.mu.Unlock()
				}
			}
		}
		if dst.Write(tap.ctx, typ, b) != nil {
			_ = src.CloseNow()
		}
	}
}

// offer sends v on ch, giving up when ctx ends (so that a client gone
// wild cannot block the tap's cleanup).
func offer[T any](ctx context.Context, ch chan<- T, v T) {
	select {
	case ch <- v:
	case <-ctx.Done():
	}
}

// dial returns the query of the next handshake through the tap.
func (tap *wireTap) dial(t testing.TB) url.Values {
	t.Helper()
	return next(t, tap.dials, "a handshake through the tap")
}

// closed returns how the client ended its next connection to end: its
// close code, or -1 when it dropped TCP without a close frame.
func (tap *wireTap) closed(t testing.TB) websocket.StatusCode {
	t.Helper()
	return next(t, tap.closes, "the end of a connection through the tap")
}

// frame returns the next frame a client sent.
func (tap *wireTap) frame(t testing.TB) tapFrame {
	t.Helper()
	return next(t, tap.sent, "a client frame")
}

// frameOf returns the next frame a client sent of type typ, skipping
// pings and sequence acks (unless typ is one of them) and failing on any
// other frame.
func (tap *wireTap) frameOf(t testing.TB, typ string) tapFrame {
	t.Helper()
	for {
		f := tap.frame(t)
		if f.m["type"] == typ {
			return f
		}
		if f.m["type"] != "ping" && f.m["type"] != "sequenceAck" {
			t.Fatalf("the client sent %v, want a %s frame", f.m, typ)
		}
	}
}

// serviceSequenceIDs returns the sequence ids of the messages the service
// sent on connection n so far, in order.
func (tap *wireTap) serviceSequenceIDs(n int) []uint64 {
	tap.mu.Lock()
	defer tap.mu.Unlock()
	var ids []uint64
	for _, f := range tap.received {
		if s, ok := f.m["sequenceId"].(float64); ok && f.conn == n && f.m["type"] == "message" {
			ids = append(ids, uint64(s))
		}
	}
	return ids
}

// ackID returns the ack id of frame f, failing when it has none.
func ackID(t testing.TB, f tapFrame) uint64 {
	t.Helper()
	id, ok := f.m["ackId"].(float64)
	if !ok {
		t.Fatalf("frame %v has no ackId", f.m)
	}
	return uint64(id)
}
