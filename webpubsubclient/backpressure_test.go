package webpubsubclient

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestSendsApplyBackPressure: the client queues nothing. While the service
// does not read, a send blocks once the socket buffers are full; a call
// waiting behind it ends at its context's deadline having sent nothing;
// the calls still waiting when the service reads again complete, in
// full, each exactly once.
func TestSendsApplyBackPressure(t *testing.T) {
	resume := make(chan struct{})
	var mu sync.Mutex
	received := map[string]int{} // group or event name -> frames read
	u := scriptedService(t, []string{string(ProtocolJSON)}, func(ctx context.Context, ws *websocket.Conn) {
		ws.SetReadLimit(-1)
		_ = ws.Write(ctx, websocket.MessageText, []byte(`{"type":"system","event":"connected","connectionId":"c1"}`))
		select {
		case <-resume:
		case <-ctx.Done():
			return
		}
		for {
			_, b, err := ws.Read(ctx)
			if err != nil {
				return
			}
			var f struct {
				Type  string  `json:"type"`
				Group string  `json:"group"`
				Event string  `json:"event"`
				AckID *uint64 `json:"ackId"`
			}
			if json.Unmarshal(b, &f) != nil {
				continue
			}
			mu.Lock()
			received[f.Group+f.Event]++
			mu.Unlock()
			if f.AckID != nil {
				ack, _ := json.Marshal(map[string]any{"type": "ack", "ackId": *f.AckID, "success": true})
				if ws.Write(ctx, websocket.MessageText, ack) != nil {
					return
				}
			}
		}
	})
	c, err := New(StaticURL(u), &Options{Protocol: ProtocolJSON})
	if err != nil {
		t.Fatal(err)
	}
	mustStart(t, c)

	// Fill the socket buffers with fire-and-forget sends until one blocks.
	big := TextMessage(strings.Repeat("x", 256<<10))
	var sent atomic.Int64
	var stop atomic.Bool
	filled := make(chan error, 1)
	go func() {
		for !stop.Load() {
			if _, err := c.SendToGroup(context.Background(), "filler", big, &SendToGroupOptions{FireAndForget: true}); err != nil {
				filled <- err
				return
			}
			if sent.Add(1) == 1000 {
				filled <- errors.New("1000 sends of 256 KiB did not block")
				return
			}
		}
		filled <- nil
	}()
	for last := int64(-1); ; {
		select {
		case err := <-filled:
			t.Fatalf("the filling sends ended: %v", err)
		case <-time.After(300 * time.Millisecond):
		}
		n := sent.Load()
		if n == last {
			break
		}
		last = n
	}
	t.Logf("%d sends of 256 KiB before one blocked", sent.Load())

	calls := []struct {
		name string
		call func(ctx context.Context, name string) error
	}{
		{"SendToGroup", func(ctx context.Context, name string) error {
			_, err := c.SendToGroup(ctx, name, TextMessage("hi"), nil)
			return err
		}},
		{"SendToGroup fire-and-forget", func(ctx context.Context, name string) error {
			_, err := c.SendToGroup(ctx, name, TextMessage("hi"), &SendToGroupOptions{FireAndForget: true})
			return err
		}},
		{"SendEvent", func(ctx context.Context, name string) error {
			_, err := c.SendEvent(ctx, name, TextMessage("hi"), nil)
			return err
		}},
		{"SendEvent fire-and-forget", func(ctx context.Context, name string) error {
			_, err := c.SendEvent(ctx, name, TextMessage("hi"), &SendEventOptions{FireAndForget: true})
			return err
		}},
	}
	name := func(i int, phase string) string { return phase + string(rune('a'+i)) }
	// A call behind the blocked send ends at its deadline.
	for i, tt := range calls {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		start := time.Now()
		done := make(chan error, 1)
		go func() { done <- tt.call(ctx, name(i, "timedout")) }()
		select {
		case err := <-done:
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("%s while the service does not read: %v; want context.DeadlineExceeded", tt.name, err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("%s returned after %v; its deadline was 100 ms", tt.name, d)
			}
		case <-time.After(testTimeout):
			t.Fatalf("%s did not return at its deadline while the service does not read", tt.name)
		}
		cancel()
	}
	// Calls without a deadline wait, and complete once the service reads.
	results := make(chan error, len(calls))
	for i, tt := range calls {
		go func() { results <- tt.call(context.Background(), name(i, "resumed")) }()
	}
	select {
	case err := <-results:
		t.Fatalf("a call returned (%v) while the service does not read", err)
	case <-time.After(200 * time.Millisecond):
	}
	close(resume)
	stop.Store(true)
	for range calls {
		if err := next(t, results, "a call after the service reads again"); err != nil {
			t.Errorf("a call after the service reads again: %v", err)
		}
	}
	if err := next(t, filled, "the filling sends"); err != nil {
		t.Errorf("the filling sends: %v", err)
	}
	// Every send the client reported done reaches the service.
	for deadline := time.Now().Add(testTimeout); ; time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		n := int64(received["filler"])
		mu.Unlock()
		if n == sent.Load() || time.Now().After(deadline) {
			break
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for i, tt := range calls {
		if n := received[name(i, "timedout")]; n != 0 {
			t.Errorf("%s that timed out was sent %d times; want 0", tt.name, n)
		}
		if n := received[name(i, "resumed")]; n != 1 {
			t.Errorf("%s after the service read again was received %d times; want 1", tt.name, n)
		}
	}
	if got, want := int64(received["filler"]), sent.Load(); got != want {
		t.Errorf("the service read %d filling sends; the client reported %d", got, want)
	}
}
