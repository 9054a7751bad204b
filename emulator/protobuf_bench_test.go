package emulator

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"

	"github.com/gowebpubsub/webpubsub/internal/protocol"
	"github.com/gowebpubsub/webpubsub/internal/testclient"
)

// protoBenchPayload is the 64-byte binary payload of the subprotocol
// benchmarks: base64 in JSON frames, raw bytes in protobuf ones.
var protoBenchPayload = bytes.Repeat([]byte{0xa5}, 64)

// relay is the baseline of the subprotocol benchmarks: a coder/websocket
// server that writes every message of its first connection, and every
// POST body, to its second connection, with no protocol at all. It is
// the physical limit of one message through a server to a client.
type relay struct {
	srv   *httptest.Server
	mu    sync.Mutex
	conns []*websocket.Conn
	// both is closed when the second connection is there.
	both chan struct{}
}

func newRelay(b *testing.B) *relay {
	r := &relay{both: make(chan struct{})}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method == http.MethodPost {
			body, _ := io.ReadAll(req.Body)
			r.mu.Lock()
			to := r.conns[1]
			r.mu.Unlock()
			if err := to.Write(req.Context(), websocket.MessageBinary, body); err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			w.WriteHeader(http.StatusAccepted)
			return
		}
		ws, err := websocket.Accept(w, req, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
		if err != nil {
			return
		}
		r.mu.Lock()
		r.conns = append(r.conns, ws)
		first := len(r.conns) == 1
		if !first {
			close(r.both)
		}
		r.mu.Unlock()
		if !first {
			// Reads only to see the close; CloseRead would answer a
			// data frame with a close of its own.
			for {
				_, rd, err := ws.Reader(context.Background())
				if err != nil {
					return
				}
				if _, err := io.Copy(io.Discard, rd); err != nil {
					return
				}
			}
		}
		<-r.both
		for {
			typ, m, err := ws.Read(context.Background())
			if err != nil {
				return
			}
			r.mu.Lock()
			to := r.conns[1]
			r.mu.Unlock()
			if to.Write(context.Background(), typ, m) != nil {
				return
			}
		}
	}))
	b.Cleanup(r.srv.Close)
	return r
}

// dialPair dials the relay's two connections: the sender, then the
// receiver.
func (r *relay) dialPair(b *testing.B) (from, to *websocket.Conn) {
	ctx := context.Background()
	u := "ws" + strings.TrimPrefix(r.srv.URL, "http")
	from, _, err := websocket.Dial(ctx, u, nil)
	if err != nil {
		b.Fatal(err)
	}
	for {
		r.mu.Lock()
		n := len(r.conns)
		r.mu.Unlock()
		if n == 1 {
			break
		}
		runtime.Gosched() // the first handler has not registered yet
	}
	to, _, err = websocket.Dial(ctx, u, nil)
	if err != nil {
		b.Fatal(err)
	}
	<-r.both
	b.Cleanup(func() { _ = from.CloseNow(); _ = to.CloseNow() })
	return from, to
}

var benchSubprotocols = []struct{ name, subprotocol string }{
	{"json", testclient.JSON},
	{"protobuf", testclient.Protobuf},
}

// BenchmarkSubprotocolSend sends one 64-byte binary group message per
// iteration from a client through the emulator to another client
// (sendToGroup with noEcho and no ack id), in the JSON and the protobuf
// subprotocol, beside the relay baseline: the same bytes through a bare
// coder/websocket server.
func BenchmarkSubprotocolSend(b *testing.B) {
	ctx := context.Background()
	b.Run("baseline-relay", func(b *testing.B) {
		from, to := newRelay(b).dialPair(b)
		b.SetBytes(int64(len(protoBenchPayload)))
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			if err := from.Write(ctx, websocket.MessageBinary, protoBenchPayload); err != nil {
				b.Fatal(err)
			}
			if _, _, err := to.Read(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, sp := range benchSubprotocols {
		b.Run(sp.name, func(b *testing.B) {
			te := startEmulator(b, Options{})
			claims := jwt.MapClaims{"role": []string{"webpubsub.sendToGroup"}, "webpubsub.group": []string{"room"}}
			pub := te.dial(dialOptions{subprotocols: []string{sp.subprotocol}, token: te.clientToken("chat", claims)})
			sub := te.dial(dialOptions{subprotocols: []string{sp.subprotocol}, token: te.clientToken("chat", claims)})
			f := protocol.ClientFrame{Type: protocol.TypeSendToGroup, Group: "room", NoEcho: true,
				DataType: protocol.DataTypeBinary, Data: protoBenchPayload, HasData: true}
			typ, frame := websocket.MessageText, f.AppendJSON(nil)
			if pub.Protobuf() {
				var err error
				if frame, err = f.AppendProtobuf(nil); err != nil {
					b.Fatal(err)
				}
				typ = websocket.MessageBinary
			}
			pws, sws := pub.WebSocket(), sub.WebSocket()
			// One checked round first: the subscriber gets the payload.
			if err := pws.Write(ctx, typ, frame); err != nil {
				b.Fatal(err)
			}
			if g := sub.ReadFrame(); g.DataType != protocol.DataTypeBinary || !bytes.Equal(g.Data, protoBenchPayload) {
				b.Fatalf("the subscriber got %+v", g)
			}
			b.SetBytes(int64(len(protoBenchPayload)))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if err := pws.Write(ctx, typ, frame); err != nil {
					b.Fatal(err)
				}
				if _, _, err := sws.Read(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSubprotocolReceive sends one 64-byte binary message per
// iteration with a REST send to the connection and reads it on the
// client, in the JSON and the protobuf subprotocol, beside the relay
// baseline: the same POST body written to a WebSocket by a bare server.
func BenchmarkSubprotocolReceive(b *testing.B) {
	ctx := context.Background()
	b.Run("baseline-relay", func(b *testing.B) {
		r := newRelay(b)
		_, to := r.dialPair(b)
		b.SetBytes(int64(len(protoBenchPayload)))
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			resp, err := sharedClient.Post(r.srv.URL, "application/octet-stream", bytes.NewReader(protoBenchPayload))
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusAccepted {
				b.Fatalf("relay POST: %d", resp.StatusCode)
			}
			if _, _, err := to.Read(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, sp := range benchSubprotocols {
		b.Run(sp.name, func(b *testing.B) {
			te := startEmulator(b, Options{})
			c := te.dial(dialOptions{subprotocols: []string{sp.subprotocol}, token: te.clientToken("chat", nil)})
			ws := c.WebSocket()
			path := "/api/hubs/chat/connections/" + c.id + "/:send" + v
			if r := te.rest("POST", path, "application/octet-stream", protoBenchPayload); r.status != http.StatusAccepted {
				b.Fatalf("send: %d", r.status)
			}
			if g := c.ReadFrame(); g.DataType != protocol.DataTypeBinary || !bytes.Equal(g.Data, protoBenchPayload) {
				b.Fatalf("the client got %+v", g)
			}
			b.SetBytes(int64(len(protoBenchPayload)))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if r := te.rest("POST", path, "application/octet-stream", protoBenchPayload); r.status != http.StatusAccepted {
					b.Fatalf("send: %d", r.status)
				}
				if _, _, err := ws.Read(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
