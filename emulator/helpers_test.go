package emulator

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"

	"github.com/gowebpubsub/webpubsub/internal/testclient"
)

// testTimeout bounds every wait on the network in these tests. Waits end
// as soon as their event happens; the bound only turns a hang into a
// failure.
const testTimeout = 10 * time.Second

// testEmulator is a started emulator that reports registrations and ends
// of connections on channels (through Options.OnConnectionEvent), so
// tests wait on events instead of time.
type testEmulator struct {
	*Emulator
	t           testing.TB
	registered  chan string
	endedIDs    chan string
	detachedIDs chan string
}

func startEmulator(t testing.TB, opts Options) *testEmulator {
	t.Helper()
	te := newTestEmulator(t, opts)
	if err := te.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := te.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return te
}

// newTestEmulator creates an emulator whose connection events land on
// te's channels (after opts' own callback, if any), without starting it.
func newTestEmulator(t testing.TB, opts Options) *testEmulator {
	t.Helper()
	te := &testEmulator{t: t, registered: make(chan string, 1024), endedIDs: make(chan string, 1024), detachedIDs: make(chan string, 1024)}
	user := opts.OnConnectionEvent
	opts.OnConnectionEvent = func(ev ConnectionEvent) {
		if user != nil {
			user(ev)
		}
		switch ev.Kind {
		case ConnectionConnected:
			te.registered <- ev.ConnectionID
		case ConnectionDisconnected:
			select {
			case te.endedIDs <- ev.ConnectionID:
			default:
			}
		case ConnectionDetached:
			select {
			case te.detachedIDs <- ev.ConnectionID:
			default:
			}
		}
	}
	e, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	te.Emulator = e
	return te
}

// with returns a view of te that reports failures to t, for subtests.
func (te *testEmulator) with(t testing.TB) *testEmulator {
	c := *te
	c.t = t
	return &c
}

// with returns a view of c that reports failures to t, for subtests.
func (c *wsClient) with(t testing.TB) *wsClient {
	d := *c
	d.t = t
	d.Conn = c.Conn.With(t)
	return &d
}

// hostPort is the emulator's "localhost:port".
func (te *testEmulator) hostPort() string {
	return strings.TrimPrefix(te.URL(), "http://")
}

// sign returns an HS256 token over claims with the given key.
func sign(t testing.TB, key string, claims jwt.MapClaims) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(key))
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return tok
}

// restResponse is a finished REST call.
type restResponse struct {
	status int
	header http.Header
	body   []byte
}

// rest sends a signed REST request: aud is the exact URL sent, as the
// official SDKs sign it. pathAndQuery is appended to the emulator's URL.
func (te *testEmulator) rest(method, pathAndQuery, contentType string, body []byte) restResponse {
	te.t.Helper()
	return doREST(te.t, te.URL(), te.AccessKey(), method, pathAndQuery, contentType, body, nil)
}

// sharedClient has a transport of its own: httptest.Server.Close closes
// the idle connections of http.DefaultTransport, which fails a POST of a
// parallel test that was about to reuse one.
var sharedClient = &http.Client{Timeout: testTimeout, Transport: http.DefaultTransport.(*http.Transport).Clone()}

// doREST signs and sends a request to base+pathAndQuery. Claims, when
// given, replace the default aud/iat/exp.
func doREST(t testing.TB, base, key, method, pathAndQuery, contentType string, body []byte, claims jwt.MapClaims) restResponse {
	t.Helper()
	full := base + pathAndQuery
	if claims == nil {
		claims = jwt.MapClaims{"aud": full, "iat": time.Now().Unix(), "exp": time.Now().Add(5 * time.Minute).Unix()}
	}
	req, err := http.NewRequest(method, full, bytes.NewReader(body))
	if err != nil {
		t.Fatalf("NewRequest: %v", err)
	}
	if body == nil {
		req.Body = http.NoBody
		req.ContentLength = 0
	}
	req.Header.Set("Authorization", "Bearer "+sign(t, key, claims))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := sharedClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, pathAndQuery, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return restResponse{status: resp.StatusCode, header: resp.Header, body: b}
}

// clientToken signs a client token for hub on this emulator; claims are
// added to aud and exp.
func (te *testEmulator) clientToken(hub string, claims jwt.MapClaims) string {
	te.t.Helper()
	c := jwt.MapClaims{"aud": "http://" + te.hostPort() + "/client/hubs/" + hub, "exp": time.Now().Add(time.Hour).Unix()}
	for k, v := range claims {
		c[k] = v
	}
	return sign(te.t, te.AccessKey(), c)
}

// wsClient is a test WebSocket client: the module's test client plus
// what the emulator's tests dial and recover with.
type wsClient struct {
	*testclient.Conn
	t    testing.TB
	ws   *websocket.Conn
	id   string
	resp *http.Response
	// reconnectionToken is the one of the connected frame (reliable).
	reconnectionToken string
	// opts dialed the connection; a recovery dials them again.
	opts dialOptions
}

// dialOptions configure dial.
type dialOptions struct {
	subprotocols []string
	token        string // "" = no token
	tokenHeader  bool   // send the token as Authorization: Bearer
	hub          string // default "chat"
	query        string // extra query, without '&'
}

// dialRaw dials the client endpoint and returns the connection, or the
// handshake response when the upgrade failed.
func (te *testEmulator) dialRaw(o dialOptions) (*websocket.Conn, *http.Response, error) {
	te.t.Helper()
	if o.hub == "" {
		o.hub = "chat"
	}
	u := "ws://127.0.0.1:" + strings.Split(te.hostPort(), ":")[1] + "/client/hubs/" + o.hub
	var q []string
	if o.token != "" && !o.tokenHeader {
		q = append(q, "access_token="+url.QueryEscape(o.token))
	}
	if o.query != "" {
		q = append(q, o.query)
	}
	if len(q) > 0 {
		u += "?" + strings.Join(q, "&")
	}
	h := http.Header{}
	if o.token != "" && o.tokenHeader {
		h.Set("Authorization", "Bearer "+o.token)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{Subprotocols: o.subprotocols, HTTPHeader: h})
	if err == nil {
		ws.SetReadLimit(-1)
	}
	return ws, resp, err
}

// dial connects, waits until the emulator has registered the connection,
// and for PubSub clients consumes and checks the connected frame.
func (te *testEmulator) dial(o dialOptions) *wsClient {
	te.t.Helper()
	ws, resp, err := te.dialRaw(o)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		te.t.Fatalf("dial: %v (status %d)", err, status)
	}
	tc, err := testclient.Wrap(te.t, ws, resp, nil)
	if err != nil {
		te.t.Fatal(err)
	}
	c := &wsClient{Conn: tc, t: te.t, ws: ws, resp: resp, opts: o}
	c.id = te.waitRegistered()
	if ws.Subprotocol() != "" {
		if got := tc.ConnectionID(); got != c.id {
			te.t.Fatalf("connected frame for %s; want %s", got, c.id)
		}
		c.reconnectionToken = tc.ReconnectionToken()
	}
	return c
}

// recoverRaw dials a recovery of c (its original URL plus the recovery
// parameters) with the given reconnection token.
func (te *testEmulator) recoverRaw(c *wsClient, token string) (*websocket.Conn, *http.Response, error) {
	te.t.Helper()
	o := c.opts
	q := "awps_connection_id=" + url.QueryEscape(c.id) + "&awps_reconnection_token=" + url.QueryEscape(token)
	if o.query != "" {
		q = o.query + "&" + q
	}
	o.query = q
	return te.dialRaw(o)
}

// recover recovers c and returns the client of the new transport, which
// replaces c's.
func (te *testEmulator) recover(c *wsClient) *wsClient {
	te.t.Helper()
	ws, _, err := te.recoverRaw(c, c.reconnectionToken)
	if err != nil {
		te.t.Fatalf("recover: %v", err)
	}
	if ws.Subprotocol() != c.ws.Subprotocol() {
		te.t.Fatalf("recovered with subprotocol %q; want %q", ws.Subprotocol(), c.ws.Subprotocol())
	}
	return c.replaced(ws)
}

// drop aborts c's TCP connection without a close frame and waits until
// the emulator has detached the (reliable) connection.
func (te *testEmulator) drop(c *wsClient) {
	te.t.Helper()
	_ = c.ws.CloseNow()
	te.waitDetached(c.id)
}

// waitDetached waits until the emulator reports that connection id was
// detached.
func (te *testEmulator) waitDetached(id string) {
	te.t.Helper()
	deadline := time.After(testTimeout)
	for {
		select {
		case got := <-te.detachedIDs:
			if got == id {
				return
			}
		case <-deadline:
			te.t.Fatalf("connection %s was not detached", id)
		}
	}
}

func (te *testEmulator) waitRegistered() string {
	te.t.Helper()
	select {
	case id := <-te.registered:
		return id
	case <-time.After(testTimeout):
		te.t.Fatal("the connection was not registered")
		return ""
	}
}

// reliable dials a json.reliable.webpubsub.azure.v1 client with the
// given token claims.
func (te *testEmulator) reliable(claims jwt.MapClaims) *wsClient {
	te.t.Helper()
	return te.dial(dialOptions{subprotocols: []string{"json.reliable.webpubsub.azure.v1"}, token: te.clientToken("chat", claims)})
}

// pubsub dials a json.webpubsub.azure.v1 client with the given token
// claims.
func (te *testEmulator) pubsub(claims jwt.MapClaims) *wsClient {
	te.t.Helper()
	return te.dial(dialOptions{subprotocols: []string{"json.webpubsub.azure.v1"}, token: te.clientToken("chat", claims)})
}

// raw dials a raw client with the given token claims.
func (te *testEmulator) raw(claims jwt.MapClaims) *wsClient {
	te.t.Helper()
	return te.dial(dialOptions{token: te.clientToken("chat", claims)})
}

// rawBarrier does the same for a raw client with a REST send to it.
func (te *testEmulator) rawBarrier(c *wsClient) {
	te.t.Helper()
	marker := "barrier-" + c.id
	if r := te.rest("POST", "/api/hubs/chat/connections/"+c.id+"/:send?api-version=2024-12-01", "text/plain", []byte(marker)); r.status != 202 {
		te.t.Fatalf("barrier send: %d %s", r.status, r.body)
	}
	typ, b := c.Read()
	if typ != websocket.MessageText || string(b) != marker {
		c.t.Fatalf("got %d %q; want the barrier %q", typ, b, marker)
	}
}

// waitEnded waits until the emulator reports the end of connection id.
func (te *testEmulator) waitEnded(id string) {
	te.t.Helper()
	deadline := time.After(testTimeout)
	for {
		select {
		case got := <-te.endedIDs:
			if got == id {
				return
			}
		case <-deadline:
			te.t.Fatalf("connection %s did not end", id)
		}
	}
}

func contextWithTimeout() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), testTimeout)
}

// loadJSON reads a file from testdata.
func loadJSON(t testing.TB, name string, v any) {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatalf("read testdata: %v", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("parse %s: %v", name, err)
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// tick advances clock by d, times times, each time after waiting until n
// timers armed with d are pending (the emulator's keep-alive timers of n
// connections, say).
func (te *testEmulator) tick(clock *FakeClock, d time.Duration, times, n int) {
	te.t.Helper()
	for i := range times {
		ctx, cancel := contextWithTimeout()
		err := clock.WaitTimers(ctx, d, n)
		cancel()
		if err != nil {
			te.t.Fatalf("tick %d: %d timers of %v were not armed: %v (pending %v)", i+1, n, d, err, clock.Pending())
		}
		clock.Advance(d)
	}
}

// wrapWS makes a wsClient of a WebSocket a test dialed itself; nothing
// is read from it.
func wrapWS(t testing.TB, ws *websocket.Conn) *wsClient {
	t.Helper()
	tc, err := testclient.Wrap(t, ws, nil, &testclient.Options{SkipConnected: true})
	if err != nil {
		t.Fatal(err)
	}
	return &wsClient{Conn: tc, t: t, ws: ws}
}

// replaced returns c with the WebSocket of its recovery, from which
// nothing was read yet.
func (c *wsClient) replaced(ws *websocket.Conn) *wsClient {
	c.t.Helper()
	d := *wrapWS(c.t, ws)
	d.id, d.resp, d.reconnectionToken, d.opts = c.id, c.resp, c.reconnectionToken, c.opts
	return &d
}
