package emulator

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"
)

// emulatorGoroutines returns the stacks of goroutines, other than the
// caller's, that are running code of this package.
func emulatorGoroutines() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for i, g := range strings.Split(string(buf), "\n\n") {
		if i == 0 {
			continue // the caller
		}
		for _, line := range strings.Split(g, "\n") {
			if strings.HasPrefix(line, "github.com/gowebpubsub/webpubsub/emulator.") && !strings.Contains(line, "emulator.Test") {
				out = append(out, g)
				break
			}
		}
	}
	return out
}

// waitNoEmulatorGoroutines waits, at most testTimeout, until no goroutine
// runs code of this package. A goroutine that has signalled its end (a
// WaitGroup.Done) may still be returning for a moment, so the check polls
// instead of looking once.
func waitNoEmulatorGoroutines(t *testing.T, when string) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for {
		left := emulatorGoroutines()
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("goroutines of the emulator left %s:\n%s", when, strings.Join(left, "\n\n"))
		}
		time.Sleep(time.Millisecond)
	}
}

// TestCloseIsGracefulAndLeavesNoGoroutines: on Close, a PubSub client gets
// disconnected then close 1001, a raw client close 1001; when Close
// returns, no goroutine of the emulator is left.
func TestCloseIsGracefulAndLeavesNoGoroutines(t *testing.T) {
	waitNoEmulatorGoroutines(t, "by earlier tests")
	te := newTestEmulator(t, Options{})
	e := te.Emulator
	if err := e.Start(); err != nil {
		t.Fatal(err)
	}
	a := te.pubsub(jwt.MapClaims{"sub": "a", "webpubsub.group": []string{"g"}})
	r := te.raw(nil)
	expectStatus(t, te.rest("POST", "/api/hubs/chat/:send"+v, "text/plain", []byte("before")), 202)

	done := make(chan error, 1)
	go func() { done <- e.Close() }()
	// Messages queued before the shutdown still arrive, then the close.
	a.ExpectJSON(`{"type":"message","from":"server","dataType":"text","data":"before"}`)
	a.ExpectJSON(`{"type":"system","event":"disconnected","message":"The emulator is shutting down."}`)
	a.ExpectClose(websocket.StatusGoingAway)
	if _, b := r.Read(); string(b) != "before" {
		t.Fatalf("raw got %q", b)
	}
	r.ExpectClose(websocket.StatusGoingAway)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(testTimeout):
		t.Fatal("Close did not return")
	}
	waitNoEmulatorGoroutines(t, "after Close")
	if err := e.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := e.Start(); err == nil {
		t.Fatal("Start after Close succeeded")
	}
	// After Close the handler refuses new work: health says 503 and the
	// client endpoint 503.
	for path, want := range map[string]int{"/api/health": 503, "/client/hubs/chat": 503} {
		rec := httptest.NewRecorder()
		e.Handler().ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != want {
			t.Errorf("%s after Close = %d; want %d", path, rec.Code, want)
		}
	}
}

// TestHandlerOnOwnServer mounts Handler on an httptest.Server; Close still
// ends the WebSocket connections it accepted.
func TestHandlerOnOwnServer(t *testing.T) {
	e, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(e.Handler())
	defer srv.Close()
	tok := sign(t, DefaultAccessKey, jwt.MapClaims{"aud": srv.URL + "/client/hubs/chat", "exp": time.Now().Add(time.Hour).Unix()})
	ctx, cancel := contextWithTimeout()
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/client/hubs/chat?access_token="+tok, &websocket.DialOptions{Subprotocols: []string{"json.webpubsub.azure.v1"}})
	if err != nil {
		t.Fatal(err)
	}
	c := wrapWS(t, ws)
	if f := c.ReadJSON(); f["event"] != "connected" {
		t.Fatalf("first frame %v", f)
	}
	// :generateToken uses the request's host when nothing else is known.
	r := doREST(t, srv.URL, DefaultAccessKey, "POST", "/api/hubs/chat/:generateToken", "", nil, nil)
	if r.status != 200 || !bytes.Contains(r.body, []byte(`"token"`)) {
		t.Fatalf("generateToken = %d %s", r.status, r.body)
	}
	done := make(chan error, 1)
	go func() { done <- e.Close() }()
	c.ExpectJSON(`{"type":"system","event":"disconnected","message":"The emulator is shutting down."}`)
	c.ExpectClose(websocket.StatusGoingAway)
	if err := <-done; err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// TestSlowReaderDoesNotStallOthers: a client that stops reading fills its
// outbound queue and is closed with 1008, while REST sends keep returning
// at once and a reading client gets every message.
func TestSlowReaderDoesNotStallOthers(t *testing.T) {
	te := startEmulator(t, Options{CloseTimeout: time.Minute})
	slow := te.pubsub(jwt.MapClaims{"sub": "slow"})
	fast := te.pubsub(jwt.MapClaims{"sub": "fast"})

	const messages = 120
	payload := bytes.Repeat([]byte("x"), 256<<10) // 120 × 256 KiB = 30 MiB > 16 MiB
	received := make(chan int, 1)
	go func() {
		n := 0
		ctx, cancel := contextWithTimeout()
		defer cancel()
		for n < messages {
			if _, _, err := fast.ws.Read(ctx); err != nil {
				break
			}
			n++
		}
		received <- n
	}()
	for range messages {
		expectStatus(t, te.rest("POST", "/api/hubs/chat/:send"+v, "text/plain", payload), 202)
	}
	select {
	case n := <-received:
		if n != messages {
			t.Fatalf("the reading client got %d of %d messages", n, messages)
		}
	case <-time.After(testTimeout):
		t.Fatal("the reading client did not get every message")
	}
	// The slow connection left every index when its queue overflowed.
	expectStatus(t, te.rest("HEAD", "/api/hubs/chat/connections/"+slow.id+v, "", nil), 404)
	te.waitEnded(slow.id)
	// When it reads again it finds what was already in flight, then the
	// disconnected frame and a 1008 close.
	for {
		typ, b := slow.Read()
		if typ == websocket.MessageText && bytes.HasPrefix(b, []byte(`{"type":"system"`)) {
			if !bytes.Contains(b, []byte("The outbound message queue is full.")) {
				t.Fatalf("got %s", b)
			}
			break
		}
	}
	slow.ExpectClose(websocket.StatusPolicyViolation)
	fast.Barrier()
}

// TestKeepAlive: the emulator pings idle connections; one that never
// answers is dropped after the idle timeout, one that reads stays.
func TestKeepAlive(t *testing.T) {
	clock := NewFakeClock(time.Time{})
	te := startEmulator(t, Options{Clock: clock})
	reader := te.pubsub(jwt.MapClaims{"sub": "r"})
	mute := te.raw(nil) // never reads, so never answers a ping
	go func() {
		ctx, cancel := contextWithTimeout()
		defer cancel()
		_, _, _ = reader.ws.Read(ctx) // answers pings until the test ends
	}()
	// Pings at 30, 60, 90 and 120 s; at 150 s the mute client has been
	// silent for longer than the idle timeout of 120 s, the reader (whose
	// Pong to the first Ping is awaited) for 120 s only.
	te.tick(clock, DefaultPingInterval, 1, 2)
	ctx, cancel := contextWithTimeout()
	defer cancel()
	if _, err := te.WaitConnection(ctx, "chat", func(ci ConnectionInfo) bool {
		return ci.ID == reader.id && ci.LastReceived.Equal(clock.Now())
	}); err != nil {
		ci, _ := te.Connection("chat", reader.id)
		t.Fatalf("no pong from the reader: %v; now %v info %+v pending %v", err, clock.Now(), ci, clock.Pending())
	}
	te.tick(clock, DefaultPingInterval, 4, 2)
	te.waitEnded(mute.id)
	expectStatus(t, te.rest("HEAD", "/api/hubs/chat/connections/"+mute.id+v, "", nil), 404)
	expectStatus(t, te.rest("HEAD", "/api/hubs/chat/connections/"+reader.id+v, "", nil), 200)
}

// TestClientCloseEndsConnection: a close frame from the client ends the
// connection and removes it at once.
func TestClientCloseEndsConnection(t *testing.T) {
	te := startEmulator(t, Options{})
	c := te.pubsub(jwt.MapClaims{"sub": "a", "webpubsub.group": []string{"g"}})
	if err := c.ws.Close(websocket.StatusNormalClosure, "bye"); err != nil {
		t.Fatalf("client close: %v", err)
	}
	te.waitEnded(c.id)
	expectStatus(t, te.rest("HEAD", "/api/hubs/chat/groups/g"+v, "", nil), 404)
	expectStatus(t, te.rest("HEAD", "/api/hubs/chat/users/a"+v, "", nil), 404)
	d := te.pubsub(nil)
	_ = d.ws.CloseNow() // an abrupt drop
	te.waitEnded(d.id)
	expectStatus(t, te.rest("HEAD", "/api/hubs/chat/connections/"+d.id+v, "", nil), 404)
}

func TestHealth(t *testing.T) {
	te := startEmulator(t, Options{})
	resp, err := http.Head(te.URL() + "/api/health")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("health %d", resp.StatusCode)
	}
}

// TestServe serves on a listener of the caller's; Serve returns nil after
// Close.
func TestServe(t *testing.T) {
	e, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- e.Serve(l) }()
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	// The client waits for the server through the listener's backlog, so
	// the request cannot race with Serve.
	resp, err := http.Get("http://127.0.0.1:" + port + "/api/health")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || e.URL() != "http://localhost:"+port {
		t.Fatalf("health %d, URL %q", resp.StatusCode, e.URL())
	}
	if err := e.Start(); err != nil {
		t.Fatalf("Start after Serve: %v", err)
	}
	if err := e.Start(); err == nil {
		t.Fatal("a second Start succeeded")
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve returned %v", err)
	}
}

// TestSecretsStayOut: with debug logging on, the log holds neither the
// key nor any token, after valid and invalid requests and connections.
func TestSecretsStayOut(t *testing.T) {
	key := "a-private-key-that-must-not-leak-0123456789"
	var logs syncBuffer
	te := startEmulator(t, Options{AccessKey: key, Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	good := te.clientToken("chat", jwt.MapClaims{"sub": "u"})
	bad := sign(t, key, jwt.MapClaims{"aud": "http://elsewhere/client/hubs/chat", "exp": time.Now().Add(time.Hour).Unix()})
	c := te.dial(dialOptions{token: good, subprotocols: []string{"json.webpubsub.azure.v1"}})
	_, resp, _ := te.dialRaw(dialOptions{token: bad})
	if resp == nil || resp.StatusCode != 401 {
		t.Fatalf("bad token: %v", resp)
	}
	body, _ := io.ReadAll(resp.Body)
	r := te.rest("POST", "/api/hubs/chat/:generateToken"+v, "", nil)
	expectStatus(t, r, 200)
	r2 := doREST(t, te.URL(), key, "POST", "/api/hubs/chat/:send"+v, "text/plain", []byte("x"), jwt.MapClaims{"aud": "http://other", "exp": time.Now().Add(time.Minute).Unix()})
	expectStatus(t, r2, 401)
	c.SendText(`{"type":"fooBar"}`)
	c.ExpectJSON(`{"type":"system","event":"disconnected","message":"The client message is not a valid JSON protocol message."}`)
	c.ExpectClose(websocket.StatusInvalidFramePayloadData)
	te.waitEnded(c.id)

	issued := string(r.body)
	for _, out := range []string{logs.String(), string(body), string(r2.body), te.String()} {
		for _, secret := range []string{key, good, bad, "access_token=", "eyJ"} {
			if strings.Contains(out, secret) {
				t.Fatalf("output %q contains a secret", out)
			}
		}
	}
	if !strings.Contains(issued, "eyJ") {
		t.Fatalf("generateToken body %q", issued)
	}
	if !strings.Contains(logs.String(), "connection ended") {
		t.Fatalf("debug log missing events: %s", logs.String())
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writers and a reader.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestCloseDoesNotWaitForSilentConnections: a TCP connection that never
// sent a request does not hold up Close (http.Server.Shutdown alone waits
// for such a connection for 5 s, then fails).
func TestCloseDoesNotWaitForSilentConnections(t *testing.T) {
	e, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(); err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", strings.TrimPrefix(e.URL(), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// The emulator has accepted the connection once it answers a request
	// on another one.
	if r := doREST(t, e.URL(), e.AccessKey(), "HEAD", "/api/health", "", nil, nil); r.status != 200 {
		t.Fatalf("health: %d", r.status)
	}
	if err := e.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}
