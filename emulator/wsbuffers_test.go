package emulator

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// recordingConn is a net.Conn that records what is written to it.
type recordingConn struct {
	net.Conn
	written bytes.Buffer
}

func (c *recordingConn) Write(p []byte) (int, error) { return c.written.Write(p) }

// header is an unmasked frame header for a payload of n bytes.
func header(n int) []byte {
	switch {
	case n > 0xffff:
		return binary.BigEndian.AppendUint64([]byte{0x81, 127}, uint64(n))
	case n > 125:
		return binary.BigEndian.AppendUint16([]byte{0x81, 126}, uint16(n))
	default:
		return []byte{0x81, byte(n)}
	}
}

func TestFrameWriter(t *testing.T) {
	payload := bytes.Repeat([]byte("p"), 70000)
	frame := func(n int) []byte { return append(header(n), payload[:n]...) }
	tests := []struct {
		name   string
		writes [][]byte
		// onConn is the number of bytes on the connection after each write:
		// a piece that starts a frame and is not all of it waits for the
		// next write, and nothing else waits.
		onConn []int
	}{
		{"empty frame", [][]byte{frame(0)}, []int{2}},
		{"small frame whole", [][]byte{frame(10)}, []int{12}},
		{"two whole frames", [][]byte{frame(3), frame(4)}, []int{5, 11}},
		{"header and start, then rest", [][]byte{frame(100)[:16], frame(100)[16:]}, []int{0, 102}},
		{"16-bit length", [][]byte{frame(1000)[:16], frame(1000)[16:]}, []int{0, 1004}},
		{"64-bit length", [][]byte{frame(70000)[:16], frame(70000)[16:]}, []int{0, 70010}},
		{"frame after a joined frame", [][]byte{frame(100)[:16], frame(100)[16:], frame(1)}, []int{0, 102, 105}},
		{"frame in three pieces", [][]byte{frame(100)[:16], frame(100)[16:50], frame(100)[50:], frame(0)}, []int{0, 50, 102, 104}},
		{"large first piece is not held", [][]byte{frame(100)[:40], frame(100)[40:]}, []int{40, 102}},
		{"two frames in one write", [][]byte{append(frame(1), frame(2)...), frame(100)[:16], frame(100)[16:]}, []int{7, 7, 109}},
		{"cut header: nothing held after", [][]byte{append(frame(1), 0x81), {5}, frame(100)[:16], frame(100)[16:]}, []int{4, 5, 21, 107}},
		{"masked header", [][]byte{{0x81, 0x80 | 4, 1, 2, 3, 4}, {9, 9, 9, 9}}, []int{0, 10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn := &recordingConn{}
			w := &frameWriter{conn: conn}
			var all []byte
			for i, p := range tt.writes {
				n, err := w.Write(p)
				if err != nil || n != len(p) {
					t.Fatalf("write %d: %d, %v; want %d, nil", i, n, err, len(p))
				}
				all = append(all, p...)
				if got := conn.written.Len(); got != tt.onConn[i] {
					t.Fatalf("after write %d: %d bytes on the connection, want %d", i, got, tt.onConn[i])
				}
			}
			if !bytes.Equal(conn.written.Bytes(), all) {
				t.Fatal("the connection got other bytes than were written")
			}
		})
	}
}

// smallBuffersServer accepts WebSockets with smallBuffers and echoes every
// message.
func smallBuffersServer(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(smallBuffers(w), r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
		if err != nil {
			return
		}
		defer ws.CloseNow()
		ws.SetReadLimit(-1)
		for {
			typ, data, err := ws.Read(context.Background())
			if err != nil {
				return
			}
			if err := ws.Write(context.Background(), typ, data); err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// Messages of every header form cross a WebSocket with the small buffers
// intact, both ways.
func TestSmallBuffersRoundTrip(t *testing.T) {
	srv := smallBuffersServer(t)
	ctx, cancel := contextWithTimeout()
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	ws.SetReadLimit(-1)
	for _, n := range []int{0, 1, 5, 6, 14, 15, 16, 125, 126, 511, 512, 513, 4096, 65535, 65536, 1 << 20} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			msg := make([]byte, n)
			for i := range msg {
				msg[i] = byte(i * 7)
			}
			if err := ws.Write(ctx, websocket.MessageBinary, msg); err != nil {
				t.Fatal(err)
			}
			typ, got, err := ws.Read(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if typ != websocket.MessageBinary || !bytes.Equal(got, msg) {
				t.Fatalf("echo of %d bytes: type %v, %d bytes, equal %v", n, typ, len(got), bytes.Equal(got, msg))
			}
		})
	}
	if err := ws.Close(websocket.StatusNormalClosure, ""); err != nil {
		t.Fatal(err)
	}
}

// A frame the client sends in the same packet as its handshake, which
// net/http has read into its own buffer before the hijack, is not lost.
func TestSmallBuffersKeepEarlyFrame(t *testing.T) {
	srv := smallBuffersServer(t)
	conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	const key = "dGhlIHNhbXBsZSBub25jZQ=="
	req := "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + key + "\r\n\r\n"
	payload := []byte("early frame")
	mask := []byte{1, 2, 3, 4}
	frame := append([]byte{0x81, 0x80 | byte(len(payload))}, mask...)
	for i, b := range payload {
		frame = append(frame, b^mask[i%4])
	}
	if _, err := conn.Write(append([]byte(req), frame...)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(sum[:]) {
		t.Fatalf("handshake: %s", resp.Status)
	}
	got := make([]byte, 2+len(payload))
	if _, err := io.ReadFull(br, got); err != nil {
		t.Fatal(err)
	}
	if got[0] != 0x81 || int(got[1]) != len(payload) || !bytes.Equal(got[2:], payload) {
		t.Fatalf("echo: % x, want a text frame of %q", got, payload)
	}
}
