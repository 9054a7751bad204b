package emulator

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TestRepliesApplyBackPressure: a client that sends more acked requests
// than its outbound queue holds, while its replies cannot be written yet,
// is slowed down, not closed: the emulator stops reading until the
// writer drains the queue, and every request gets its ack, in order.
func TestRepliesApplyBackPressure(t *testing.T) {
	te := startEmulator(t, Options{})
	c := te.pubsub(jwt.MapClaims{"role": []string{"webpubsub.joinLeaveGroup"}})
	if err := te.PauseOutbound("chat", c.id); err != nil {
		t.Fatal(err)
	}
	const n = 3 * maxQueueMessages / 2
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	// The writes finish once the emulator reads again; the socket buffers
	// hold what it does not read meanwhile.
	wrote := make(chan error, 1)
	go func() {
		for i := 1; i <= n; i++ {
			f := fmt.Sprintf(`{"type":"joinGroup","group":"g%d","ackId":%d}`, i%7, i)
			if err := c.ws.Write(ctx, 1, []byte(f)); err != nil {
				wrote <- err
				return
			}
		}
		wrote <- nil
	}()
	// The queue fills with the replies to the first requests; the rest
	// wait unread.
	if err := te.Wait(ctx, func() bool {
		info, err := te.Connection("chat", c.id)
		return err == nil && info.Queued >= maxQueueMessages
	}); err != nil {
		t.Fatalf("the queue did not fill: %v", err)
	}
	if err := te.ResumeOutbound("chat", c.id); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= n; i++ {
		f := c.ReadJSON()
		if f["type"] != "ack" || f["ackId"] != float64(i) || f["success"] != true {
			t.Fatalf("reply %d = %v; want a successful ack %d", i, f, i)
		}
	}
	if err := <-wrote; err != nil {
		t.Fatalf("write: %v", err)
	}
	c.Barrier()
	info, err := te.Connection("chat", c.id)
	if err != nil {
		t.Fatalf("the connection ended: %v", err)
	}
	if strings.Join(info.Groups, ",") != "g0,g1,g2,g3,g4,g5,g6" {
		t.Errorf("groups %v", info.Groups)
	}
}

// TestEventRepliesApplyBackPressure: the event handler's replies to a
// client's own events wait for room in the outbound queue, as acks do: a
// PubSub client that sends more acked events than the queue holds while
// its outbound traffic is held back is slowed down, not closed with 1008,
// and gets every reply and every ack, in order. On the reliable
// subprotocol the replies are sequenced messages, exempt from the queue
// limit: a client that acknowledges them as it reads, and keeps fewer
// events in flight than the reliable buffer holds (its sequenceAck is read
// only after the events sent before it), gets them all too.
func TestEventRepliesApplyBackPressure(t *testing.T) {
	tests := []struct {
		subprotocol string
		n           int
		window      int  // events sent and not yet acked, at most
		pause       bool // hold back the outbound traffic until the queue is full
	}{
		{"json.webpubsub.azure.v1", 3 * maxQueueMessages, 3 * maxQueueMessages, true},
		{"json.reliable.webpubsub.azure.v1", 3 * maxQueueMessages, maxQueueMessages / 2, false},
	}
	for _, tt := range tests {
		t.Run(tt.subprotocol, func(t *testing.T) {
			fu := newFakeUpstream(t, func(r *recordedRequest) fakeResponse {
				return fakeResponse{status: 200, header: http.Header{"Content-Type": {"text/plain"}}, body: []byte("pong")}
			})
			te := startEmulator(t, fu.handlerOptions("ping"))
			c := te.dial(dialOptions{subprotocols: []string{tt.subprotocol}, token: te.clientToken("chat", jwt.MapClaims{"sub": "u"})})
			if tt.pause {
				if err := te.PauseOutbound("chat", c.id); err != nil {
					t.Fatal(err)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 3*testTimeout)
			defer cancel()
			// The writes finish once the emulator reads again; the socket
			// buffers hold what it does not read meanwhile.
			wrote := make(chan error, 1)
			window := make(chan struct{}, tt.window)
			go func() {
				for i := 1; i <= tt.n; i++ {
					select {
					case window <- struct{}{}:
					case <-ctx.Done():
						wrote <- ctx.Err()
						return
					}
					f := fmt.Sprintf(`{"type":"event","event":"ping","ackId":%d,"dataType":"text","data":"hi"}`, i)
					if err := c.ws.Write(ctx, 1, []byte(f)); err != nil {
						wrote <- err
						return
					}
				}
				wrote <- nil
			}()
			if tt.pause {
				// The queue fills with the first replies and acks; then the
				// next reply must wait (the reader with it), not end the
				// connection.
				for waiting := false; !waiting; time.Sleep(time.Millisecond) {
					err := te.withTransport("chat", c.id, func(tr *transport) {
						tr.qmu.Lock()
						waiting = tr.roomWaiters > 0
						tr.qmu.Unlock()
					})
					if err != nil {
						t.Fatalf("the connection ended while the queue was full: %v", err)
					}
					if ctx.Err() != nil {
						t.Fatal("no reply waited for room in the queue")
					}
				}
				if info, err := te.Connection("chat", c.id); err != nil || info.Queued < maxQueueMessages {
					t.Fatalf("queue %+v, %v; want it full", info, err)
				}
				if err := te.ResumeOutbound("chat", c.id); err != nil {
					t.Fatal(err)
				}
			}
			for i := 1; i <= tt.n; i++ {
				f := c.ReadJSON()
				if f["type"] != "message" || f["from"] != "server" || f["data"] != "pong" {
					t.Fatalf("frame before ack %d = %v; want the handler's reply", i, f)
				}
				seq, sequenced := f["sequenceId"].(float64)
				if sequenced != (tt.subprotocol == "json.reliable.webpubsub.azure.v1") {
					t.Fatalf("reply %d = %v: sequenced only on the reliable subprotocol", i, f)
				}
				if sequenced && int(seq)%100 == 0 {
					if err := c.ws.Write(ctx, 1, []byte(fmt.Sprintf(`{"type":"sequenceAck","sequenceId":%d}`, int(seq)))); err != nil {
						t.Fatal(err)
					}
				}
				if f := c.ReadJSON(); f["type"] != "ack" || f["ackId"] != float64(i) || f["success"] != true {
					t.Fatalf("frame %v; want a successful ack %d", f, i)
				}
				<-window
			}
			if err := <-wrote; err != nil {
				t.Fatalf("write: %v", err)
			}
			if _, err := te.Connection("chat", c.id); err != nil {
				t.Fatalf("the connection ended: %v", err)
			}
		})
	}
}
