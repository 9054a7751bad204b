package emulator

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"
)

// dialSmallBuffer dials a raw client whose TCP receive buffer is small,
// so that a client that does not read soon blocks the emulator's writes.
func dialSmallBuffer(t *testing.T, te *testEmulator) (*websocket.Conn, string) {
	t.Helper()
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err == nil {
			_ = c.(*net.TCPConn).SetReadBuffer(4096)
		}
		return c, err
	}}
	t.Cleanup(tr.CloseIdleConnections)
	ctx, cancel := contextWithTimeout()
	defer cancel()
	u := "ws://" + te.hostPort() + "/client/hubs/chat?access_token=" + te.clientToken("chat", jwt.MapClaims{})
	ws, _, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPClient: &http.Client{Transport: tr}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ws.CloseNow() })
	ws.SetReadLimit(-1)
	id := te.waitRegistered()
	if err := te.withTransport("chat", id, func(server *transport) {
		_ = server.netConn.(*net.TCPConn).SetWriteBuffer(4096)
	}); err != nil {
		t.Fatal(err)
	}
	return ws, id
}

// Clients that do not read block the writes to them, more of them than
// the writer pool has workers: a client that reads still gets every
// message, because the pool starts more workers when the waiting
// transports make no progress.
func TestStalledReadersHoldUpNoOther(t *testing.T) {
	te := startEmulator(t, Options{})
	stalled := te.writers.max + 2
	for range stalled {
		dialSmallBuffer(t, te) // never read
	}
	reader := te.raw(nil) // reads, with ordinary buffers
	msg := bytes.Repeat([]byte("s"), 256<<10)
	const sends = 6
	ctx, cancel := contextWithTimeout()
	defer cancel()
	for i := range sends {
		body := append([]byte(strconv.Itoa(i)+":"), msg...)
		if r := te.rest("POST", "/api/hubs/chat/:send?api-version=2024-12-01", "text/plain", body); r.status != http.StatusAccepted {
			t.Fatalf("send %d: %d %s", i, r.status, r.body)
		}
	}
	for i := range sends {
		_, data, err := reader.ws.Read(ctx)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if want := strconv.Itoa(i) + ":"; !strings.HasPrefix(string(data), want) || len(data) != len(want)+len(msg) {
			t.Fatalf("message %d: %d bytes starting %q", i, len(data), data[:min(len(data), 8)])
		}
	}
	te.writers.mu.Lock()
	rescued := te.writers.rescued
	te.writers.mu.Unlock()
	if rescued == 0 {
		t.Fatal("no worker was started for waiting transports: the clients did not stall the pool, the test proves nothing")
	}
}
