package webpubsubclient

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// testTimeout bounds every wait in the tests. It is a safety net that
// turns a bug into a failure instead of a hang; no test relies on it
// elapsing.
const testTimeout = 20 * time.Second

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// ---------------------------------------------------------------------
// Events

// recorder records every event of a client on buffered channels.
type recorder struct {
	connected    chan ConnectedEvent
	disconnected chan DisconnectedEvent
	stopped      chan StoppedEvent
	server       chan ServerMessage
	group        chan GroupMessage
	rejoin       chan RejoinGroupFailedEvent

	mu  sync.Mutex
	log []string // kinds in delivery order
}

func record(c *Client) *recorder {
	const n = 20000
	r := &recorder{
		connected:    make(chan ConnectedEvent, 100),
		disconnected: make(chan DisconnectedEvent, 100),
		stopped:      make(chan StoppedEvent, 100),
		server:       make(chan ServerMessage, n),
		group:        make(chan GroupMessage, n),
		rejoin:       make(chan RejoinGroupFailedEvent, 100),
	}
	c.OnConnected(func(e ConnectedEvent) { r.note("connected"); r.connected <- e })
	c.OnDisconnected(func(e DisconnectedEvent) { r.note("disconnected"); r.disconnected <- e })
	c.OnStopped(func(e StoppedEvent) { r.note("stopped"); r.stopped <- e })
	c.OnServerMessage(func(e ServerMessage) { r.note("server:" + short(e.Data)); r.server <- e })
	c.OnGroupMessage(func(e GroupMessage) { r.note("group:" + e.Group + ":" + short(e.Data)); r.group <- e })
	c.OnRejoinGroupFailed(func(e RejoinGroupFailedEvent) { r.note("rejoinFailed:" + e.Group); r.rejoin <- e })
	return r
}

// short is data for the event log: a payload of more than 64 bytes is
// cut to its first 16 and its length.
func short(data []byte) string {
	if len(data) <= 64 {
		return string(data)
	}
	return fmt.Sprintf("%s…(%d bytes)", data[:16], len(data))
}

func (r *recorder) note(s string) {
	r.mu.Lock()
	r.log = append(r.log, s)
	r.mu.Unlock()
}

func (r *recorder) kinds() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.log...)
}

// next returns the next value of ch, failing the test after testTimeout.
func next[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(testTimeout):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// expectEmpty fails if ch holds a value. Call it only once every event
// that could be in ch has been delivered (for example after Stop).
func expectEmpty[T any](t testing.TB, ch <-chan T, what string) {
	t.Helper()
	select {
	case v := <-ch:
		t.Fatalf("unexpected %s: %+v", what, v)
	default:
	}
}

// ---------------------------------------------------------------------
// Goroutine leaks

// clientGoroutines lists the goroutines running code of this package
// (test files excepted).
func clientGoroutines() []string {
	buf := make([]byte, 4<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var leaks []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		for _, line := range strings.Split(g, "\n") {
			if strings.HasPrefix(line, "created by ") {
				break
			}
			if strings.HasPrefix(line, "\t") && strings.Contains(line, "/webpubsubclient/") && !strings.Contains(line, "_test.go") {
				leaks = append(leaks, g)
				break
			}
		}
	}
	return leaks
}

// checkNoGoroutines fails the test if goroutines of the client are still
// running. Stop waits for all of them, so they are gone by the time it
// returns; the short poll only covers goroutines between their last
// deferred call and their exit. The package's tests do not run in
// parallel, so that this check sees only its own test's clients.
func checkNoGoroutines(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		leaks := clientGoroutines()
		if len(leaks) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%d client goroutine(s) still running:\n%s", len(leaks), strings.Join(leaks, "\n\n"))
			return
		}
		runtime.Gosched()
		time.Sleep(5 * time.Millisecond)
	}
}

// stopClient stops c and checks that no client goroutine is left (so it
// must be the test's only running client).
func stopClient(t testing.TB, c *Client) {
	t.Helper()
	stopOnly(t, c)
	checkNoGoroutines(t)
}

// stopOnly stops c and checks its state.
func stopOnly(t testing.TB, c *Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := c.Stop(ctx); err != nil {
		t.Errorf("Stop: %v", err)
	}
	if s := c.State(); s != StateStopped {
		t.Errorf("State after Stop = %s, want Stopped", s)
	}
}
