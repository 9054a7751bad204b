package webpubsubclient

// Benchmarks through the in-process emulator, each beside a baseline that
// moves the same frames with bare coder/websocket and no client logic (no
// parsing, no ack matching, no event dispatch). The ratio to the baseline
// is the client's cost; the baseline itself is mostly the emulator and
// loopback TCP.
//
//	go test -run '^$' -bench . -benchtime 2000x ./webpubsubclient/

import (
	"context"
	"encoding/json"
	"io"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/coder/websocket"

	"github.com/gowebpubsub/webpubsub"
)

// rawConn dials the emulator with bare coder/websocket and the JSON
// subprotocol, and reads the connected message.
func (e *testEnv) rawConn(b *testing.B, opts webpubsub.GetClientAccessTokenOptions) *websocket.Conn {
	b.Helper()
	ctx := testContext(b)
	tok, err := e.svc.GetClientAccessToken(ctx, &opts)
	if err != nil {
		b.Fatal(err)
	}
	ws, _, err := websocket.Dial(ctx, tok.URL, &websocket.DialOptions{Subprotocols: []string{string(ProtocolJSON)}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = ws.Close(websocket.StatusNormalClosure, "") })
	if _, _, err := ws.Read(ctx); err != nil { // connected
		b.Fatal(err)
	}
	return ws
}

// BenchmarkSendToGroupAcked is one acknowledged SendToGroup per op: encode,
// write, wait for the matching ack.
func BenchmarkSendToGroupAcked(b *testing.B) {
	env := newEnv(b)
	c, _, _ := env.startClient(b, ProtocolJSON, webpubsub.GetClientAccessTokenOptions{UserID: "bench", Roles: allRoles}, nil)
	ctx := testContext(b)
	msg := TextMessage("hello, group")
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := c.SendToGroup(ctx, "bench", msg, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSendToGroupAckedBaseline writes the same frames with bare
// coder/websocket and reads each ack without parsing it.
func BenchmarkSendToGroupAckedBaseline(b *testing.B) {
	env := newEnv(b)
	ws := env.rawConn(b, webpubsub.GetClientAccessTokenOptions{UserID: "bench", Roles: allRoles})
	ctx := testContext(b)
	const head = `{"type":"sendToGroup","group":"bench","ackId":`
	const tail = `,"noEcho":false,"dataType":"text","data":"hello, group"}`
	buf := make([]byte, 0, 128)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		buf = append(strconv.AppendInt(append(buf[:0], head...), int64(i+1), 10), tail...)
		if err := ws.Write(ctx, websocket.MessageText, buf); err != nil {
			b.Fatal(err)
		}
		if _, _, err := ws.Read(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// receiveWindow bounds the messages in flight. A reliable receiver's
// unacknowledged messages (at most 1,000 in the service) are the window,
// plus up to 300 between sequenceAcks, plus those the service sends while
// an ack is on its way; 250 keeps that sum well below the limit.
const receiveWindow = 250

// feed publishes n text messages to group "bench" from a bare connection,
// keeping at most receiveWindow ahead of *received.
func feed(ctx context.Context, ws *websocket.Conn, n int, received *atomic.Int64, progress <-chan struct{}) error {
	frame := []byte(`{"type":"sendToGroup","group":"bench","dataType":"text","data":"a message of a typical small size."}`)
	for i := range n {
		for int64(i)-received.Load() >= receiveWindow {
			select {
			case <-progress:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if err := ws.Write(ctx, websocket.MessageText, frame); err != nil {
			return err
		}
	}
	return nil
}

func benchmarkReceive(b *testing.B, p Protocol) {
	env := newEnv(b)
	ctx := testContext(b)
	// No event recorder here: it would block after its buffer fills and
	// add its own allocations to every message measured.
	cred, _ := env.cred(webpubsub.GetClientAccessTokenOptions{UserID: "receiver", Roles: allRoles})
	c, err := New(cred, &Options{Protocol: p})
	if err != nil {
		b.Fatal(err)
	}
	if err := c.Start(ctx); err != nil {
		skipIfUnsupported(b, p, err)
		b.Fatal(err)
	}
	b.Cleanup(func() { stopOnly(b, c) })
	if _, err := c.JoinGroup(ctx, "bench", nil); err != nil {
		b.Fatal(err)
	}
	sender := env.rawConn(b, webpubsub.GetClientAccessTokenOptions{UserID: "sender", Roles: allRoles})
	var received atomic.Int64
	progress := make(chan struct{}, 1)
	done := make(chan struct{})
	target := int64(b.N)
	c.OnGroupMessage(func(m GroupMessage) {
		if n := received.Add(1); n == target {
			close(done)
		}
		select {
		case progress <- struct{}{}:
		default:
		}
	})
	lost := make(chan string, 1)
	c.OnDisconnected(func(e DisconnectedEvent) {
		select {
		case lost <- e.Message:
		default:
		}
	})
	b.ReportAllocs()
	b.ResetTimer()
	errc := make(chan error, 1)
	go func() { errc <- feed(ctx, sender, b.N, &received, progress) }()
	select {
	case <-done:
	case msg := <-lost:
		b.Fatalf("the connection was lost after %d of %d messages: %s", received.Load(), b.N, msg)
	case <-ctx.Done():
		b.Fatalf("received %d of %d", received.Load(), b.N)
	}
	b.StopTimer()
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
}

// BenchmarkReceive is one group message per op, received, parsed and
// delivered to an OnGroupMessage handler (json.webpubsub.azure.v1).
func BenchmarkReceive(b *testing.B) { benchmarkReceive(b, ProtocolJSON) }

// BenchmarkReceiveReliable is BenchmarkReceive on the reliable protocol
// (sequence tracking and sequenceAck included). It is skipped while the
// emulator does not support that protocol.
func BenchmarkReceiveReliable(b *testing.B) { benchmarkReceive(b, ProtocolReliableJSON) }

// BenchmarkReceiveBaseline reads the same frames with bare
// coder/websocket, without parsing them.
func BenchmarkReceiveBaseline(b *testing.B) {
	env := newEnv(b)
	ctx := testContext(b)
	recv := env.rawConn(b, webpubsub.GetClientAccessTokenOptions{UserID: "receiver", Roles: allRoles})
	join, _ := json.Marshal(map[string]any{"type": "joinGroup", "group": "bench", "ackId": 1})
	if err := recv.Write(ctx, websocket.MessageText, join); err != nil {
		b.Fatal(err)
	}
	if _, _, err := recv.Read(ctx); err != nil { // the ack
		b.Fatal(err)
	}
	sender := env.rawConn(b, webpubsub.GetClientAccessTokenOptions{UserID: "sender", Roles: allRoles})
	var received atomic.Int64
	progress := make(chan struct{}, 1)
	b.ReportAllocs()
	b.ResetTimer()
	errc := make(chan error, 1)
	go func() { errc <- feed(ctx, sender, b.N, &received, progress) }()
	for range b.N {
		if _, _, err := recv.Read(ctx); err != nil {
			b.Fatal(err)
		}
		received.Add(1)
		select {
		case progress <- struct{}{}:
		default:
		}
	}
	b.StopTimer()
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
}

// benchFragments is the size of the streams of BenchmarkGroupStream.
const benchFragments = 1000

// BenchmarkGroupStream is one stream of 1,000 text fragments per op, from
// a writer to a subscriber through the emulator, on the reliable
// protocol: open, write, close, and read to the end on the other side.
func BenchmarkGroupStream(b *testing.B) {
	env := newEnv(b)
	ctx := testContext(b)
	pub, _, _ := env.startClient(b, ProtocolReliableJSON, webpubsub.GetClientAccessTokenOptions{UserID: "pub", Roles: allRoles}, nil)
	cred, _ := env.cred(webpubsub.GetClientAccessTokenOptions{UserID: "sub", Roles: allRoles})
	sub, err := New(cred, nil)
	if err != nil {
		b.Fatal(err)
	}
	streams := make(chan *GroupStream, 1)
	sub.OnGroupStream(func(s *GroupStream) { streams <- s }, nil)
	if err := sub.Start(ctx); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { stopOnly(b, sub) })
	if _, err := sub.JoinGroup(ctx, "bench", nil); err != nil {
		b.Fatal(err)
	}
	msg := TextMessage("a message of a typical small size.")
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		w, err := pub.OpenGroupStream(ctx, "bench", nil)
		if err != nil {
			b.Fatal(err)
		}
		// The subscriber's reliable buffer (1,000 messages in the service)
		// bounds how far the writer may run ahead of the reader: a group
		// stream has flow control towards the service, not towards its
		// receivers.
		var received atomic.Int64
		progress := make(chan struct{}, 1)
		read := make(chan error, 1)
		go func() {
			s := <-streams
			for {
				if _, err := s.Next(ctx); err != nil {
					if err == io.EOF {
						err = nil
					}
					read <- err
					return
				}
				received.Add(1)
				select {
				case progress <- struct{}{}:
				default:
				}
			}
		}()
		for i := range benchFragments {
			for int64(i)-received.Load() >= receiveWindow {
				select {
				case <-progress:
				case <-ctx.Done():
					b.Fatal(ctx.Err())
				}
			}
			if err := w.Write(ctx, msg); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Close(ctx); err != nil {
			b.Fatal(err)
		}
		if err := <-read; err != nil {
			b.Fatal(err)
		}
		if n := received.Load(); n != benchFragments {
			b.Fatalf("read %d fragments, want %d", n, benchFragments)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchFragments), "ns/fragment")
}

// BenchmarkGroupStreamBaselineSendToGroup moves the same 1,000 messages
// per op as plain acknowledged SendToGroup calls from the same writer to
// the same kind of subscriber, for comparison with BenchmarkGroupStream.
func BenchmarkGroupStreamBaselineSendToGroup(b *testing.B) {
	env := newEnv(b)
	ctx := testContext(b)
	pub, _, _ := env.startClient(b, ProtocolReliableJSON, webpubsub.GetClientAccessTokenOptions{UserID: "pub", Roles: allRoles}, nil)
	cred, _ := env.cred(webpubsub.GetClientAccessTokenOptions{UserID: "sub", Roles: allRoles})
	sub, err := New(cred, nil)
	if err != nil {
		b.Fatal(err)
	}
	got := make(chan struct{}, benchFragments)
	sub.OnGroupMessage(func(GroupMessage) { got <- struct{}{} })
	if err := sub.Start(ctx); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { stopOnly(b, sub) })
	if _, err := sub.JoinGroup(ctx, "bench", nil); err != nil {
		b.Fatal(err)
	}
	msg := TextMessage("a message of a typical small size.")
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		for range benchFragments {
			if _, err := pub.SendToGroup(ctx, "bench", msg, nil); err != nil {
				b.Fatal(err)
			}
		}
		for range benchFragments {
			<-got
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchFragments), "ns/fragment")
}
