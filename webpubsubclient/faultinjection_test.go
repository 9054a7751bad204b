package webpubsubclient

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gowebpubsub/webpubsub"
)

// cutProxy is a loopback TCP proxy whose connections the test can sever
// at any moment, the way a network failure would: abruptly, with no
// WebSocket close frame in either direction.
type cutProxy struct {
	l        net.Listener
	target   string
	accepted atomic.Int32
	cuts     atomic.Int32

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func newCutProxy(t testing.TB, target string) *cutProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{l: l, target: target, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(func() {
		_ = l.Close()
		p.sever()
		p.wg.Wait()
	})
	return p
}

func (p *cutProxy) port() int { return p.l.Addr().(*net.TCPAddr).Port }

func (p *cutProxy) serve() {
	defer p.wg.Done()
	for {
		down, err := p.l.Accept()
		if err != nil {
			return
		}
		p.accepted.Add(1)
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = down.Close()
			continue
		}
		p.mu.Lock()
		p.conns[down], p.conns[up] = struct{}{}, struct{}{}
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(up, down)
		go p.pipe(down, up)
	}
}

func (p *cutProxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	_, _ = io.Copy(dst, src)
	_ = dst.Close()
	_ = src.Close()
	p.mu.Lock()
	delete(p.conns, dst)
	delete(p.conns, src)
	p.mu.Unlock()
}

// sever resets every proxied connection (RST, no FIN) on both sides.
func (p *cutProxy) sever() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		_ = c.Close()
		delete(p.conns, c)
	}
	p.cuts.Add(1)
}

// TestFaultInjectionExactlyOnceInOrder cuts the receiver's TCP connection
// ten times while 10,000 group messages flow, and checks that every one
// arrives exactly once and in order, on one logical connection (recovered
// each time, no new Connected event). It needs the emulator's reliable
// subprotocol and is skipped, saying so, while the emulator answers that
// subprotocol as unsupported.
func TestFaultInjectionExactlyOnceInOrder(t *testing.T) {
	const (
		total  = 10000
		window = 200  // messages in flight at most
		every  = 1000 // cut after every 1,000 messages, offset by half
	)
	env := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	emuURL, err := url.Parse(env.emu.URL())
	if err != nil {
		t.Fatal(err)
	}
	proxy := newCutProxy(t, net.JoinHostPort("127.0.0.1", emuURL.Port()))
	// Tokens for the proxy's address, so that their audience matches the
	// host the receiver dials.
	viaProxy, err := webpubsub.NewServiceClientFromConnectionString(
		fmt.Sprintf("Endpoint=http://127.0.0.1;Port=%d;AccessKey=%s;Version=1.0;", proxy.port(), env.emu.AccessKey()), "chat", nil)
	if err != nil {
		t.Fatal(err)
	}
	var credCalls atomic.Int32
	receiver, err := New(URLFunc(func(ctx context.Context) (string, error) {
		credCalls.Add(1)
		tok, err := viaProxy.GetClientAccessToken(ctx, &webpubsub.GetClientAccessTokenOptions{UserID: "receiver", Roles: []string{"webpubsub.joinLeaveGroup"}})
		return tok.URL, err
	}), &Options{Protocol: ProtocolReliableJSON, RecoveryInterval: 5 * time.Millisecond, DisableAutoReconnect: true})
	if err != nil {
		t.Fatal(err)
	}

	var (
		received atomic.Int64
		progress = make(chan struct{}, 1)
		finished = make(chan struct{})
		failure  = make(chan string, 1)
		lastSeq  uint64
		connects atomic.Int32
		drops    atomic.Int32
	)
	fail := func(msg string) {
		select {
		case failure <- msg:
		default:
		}
	}
	receiver.OnConnected(func(ConnectedEvent) { connects.Add(1) })
	receiver.OnDisconnected(func(e DisconnectedEvent) {
		if drops.Add(1) == 1 && received.Load() < total {
			fail(fmt.Sprintf("the connection was lost for good after %d messages (%q)", received.Load(), e.Message))
		}
	})
	receiver.OnGroupMessage(func(m GroupMessage) {
		n := received.Load()
		if want := fmt.Sprintf("m-%05d", n); string(m.Data) != want {
			fail(fmt.Sprintf("message %d is %q, want %q (lost, repeated or out of order)", n, m.Data, want))
			return
		}
		if m.SequenceID <= lastSeq {
			fail(fmt.Sprintf("sequence id %d after %d", m.SequenceID, lastSeq))
			return
		}
		lastSeq = m.SequenceID
		n = received.Add(1)
		if n%every == every/2 {
			proxy.sever()
		}
		if n == total {
			close(finished)
		}
		select {
		case progress <- struct{}{}:
		default:
		}
	})
	if err := receiver.Start(ctx); err != nil {
		skipIfUnsupported(t, ProtocolReliableJSON, err)
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { stopOnly(t, receiver) })
	if _, err := receiver.JoinGroup(ctx, "stream", nil); err != nil {
		t.Fatal(err)
	}
	firstID := receiver.ConnectionID()

	sender, _, _ := env.startClient(t, ProtocolJSON, webpubsub.GetClientAccessTokenOptions{UserID: "sender", Roles: []string{"webpubsub.sendToGroup"}}, nil)
	sendErr := make(chan error, 1)
	go func() {
		for i := range total {
			for int64(i)-received.Load() >= window {
				select {
				case <-progress:
				case <-ctx.Done():
					sendErr <- ctx.Err()
					return
				}
			}
			// The window bounds what the receiver has not handled; the
			// service's replay buffer holds what it has not acknowledged,
			// which a loaded machine can let grow past the window. Keep
			// that below the service's limit too.
			if i%100 == 0 {
				if err := env.emu.Wait(ctx, func() bool {
					info, err := env.emu.Connection("chat", firstID)
					return err != nil || info.Unacknowledged <= 1000-2*window
				}); err != nil {
					sendErr <- err
					return
				}
			}
			if _, err := sender.SendToGroup(ctx, "stream", TextMessage(fmt.Sprintf("m-%05d", i)), &SendToGroupOptions{FireAndForget: true}); err != nil {
				sendErr <- err
				return
			}
		}
		sendErr <- nil
	}()

	select {
	case <-finished:
	case msg := <-failure:
		t.Fatal(msg)
	case <-ctx.Done():
		t.Fatalf("timed out with %d of %d messages received", received.Load(), total)
	}
	if err := <-sendErr; err != nil {
		t.Fatalf("sender: %v", err)
	}
	select {
	case msg := <-failure:
		t.Fatal(msg)
	default:
	}
	if n := proxy.cuts.Load(); n != total/every {
		t.Errorf("%d cuts, want %d", n, total/every)
	}
	if n := proxy.accepted.Load(); n < total/every+1 {
		t.Errorf("%d connections through the proxy; every cut needs a recovery", n)
	}
	if n := connects.Load(); n != 1 {
		t.Errorf("%d Connected events; recoveries must not raise one", n)
	}
	if n := drops.Load(); n != 0 {
		t.Errorf("%d Disconnected events during the run; every cut must be recovered", n)
	}
	if id := receiver.ConnectionID(); id != firstID {
		t.Errorf("connection id changed from %q to %q", firstID, id)
	}
	if n := credCalls.Load(); n != 1 {
		t.Errorf("credential called %d times; recoveries reuse the URL", n)
	}
}
