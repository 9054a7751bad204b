package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/gowebpubsub/webpubsub/examples/internal/exampleenv"
)

// runDemo plays a conversation between alice and bob, two WebSocket clients
// that do what the page does: negotiate with the server over HTTP, connect
// to the service, and send "join" and "chat" events that the server's event
// handler turns into group messages. It prints what each client sees.
func runDemo(ctx context.Context, s *chatServer, events *eventLog, w io.Writer) error {
	alice, err := connectDemoClient(ctx, s, "alice", w)
	if err != nil {
		return err
	}
	defer alice.CloseNow()
	if err := alice.event(ctx, w, "join", "lobby"); err != nil {
		return err
	}

	bob, err := connectDemoClient(ctx, s, "bob", w)
	if err != nil {
		return err
	}
	defer bob.CloseNow()
	if err := bob.event(ctx, w, "chat", "Is anybody here?"); err != nil {
		return err
	}
	if err := bob.event(ctx, w, "join", "lobby", alice); err != nil {
		return err
	}
	if err := alice.event(ctx, w, "chat", "Hi Bob!", bob); err != nil {
		return err
	}
	if err := bob.event(ctx, w, "chat", "Hello Alice. Every line goes through the Go event handler.", alice); err != nil {
		return err
	}
	if err := bob.event(ctx, w, "chat", "   ", alice); err != nil {
		return err
	}

	// Closing a connection makes the service send a disconnected event;
	// the handler tells the room.
	fmt.Fprintln(w, "bob closes his connection")
	if err := bob.Close(); err != nil {
		return err
	}
	if err := alice.see(ctx, w, 1); err != nil {
		return err
	}
	fmt.Fprintln(w, "alice closes her connection")
	if err := alice.Close(); err != nil {
		return err
	}
	// Nobody is left to see it; the server's log shows it.
	if err := events.waitFor(ctx, "alice left lobby"); err != nil {
		return fmt.Errorf("waiting for alice's disconnected event: %w", err)
	}
	fmt.Fprintln(w, "  the event handler saw: alice left lobby")
	fmt.Fprintln(w, "Done.")
	return nil
}

// demoClient is a WebSocket client of the demo.
type demoClient struct {
	*exampleenv.Client
	lastAck uint64
}

// connectDemoClient gets a client access URL from the server's negotiate
// endpoint, as the page does, and connects with it.
func connectDemoClient(ctx context.Context, s *chatServer, user string, w io.Writer) (*demoClient, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"negotiate?user="+url.QueryEscape(user), nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return nil, fmt.Errorf("negotiate for %s: %s: %s", user, resp.Status, strings.TrimSpace(string(msg)))
	}
	var body struct {
		URL string `json:"url"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("negotiate for %s: %w", user, err)
	}
	c, err := exampleenv.Dial(ctx, user, body.URL)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(w, "%s connects as user %s\n", user, c.UserID)
	return &demoClient{Client: c}, nil
}

// event sends a user event with text data, prints what the client sees up
// to the event's ack, then what each of the others sees: as many lines,
// since they are in the same room.
func (c *demoClient) event(ctx context.Context, w io.Writer, event, text string, others ...*demoClient) error {
	c.lastAck++
	id := c.lastAck
	fmt.Fprintf(w, "%s sends %s %q\n", c.Name, event, text)
	if err := c.Write(ctx, map[string]any{"type": "event", "event": event, "dataType": "text", "data": text, "ackId": id}); err != nil {
		return err
	}
	n := 0
	for {
		f, err := c.Read(ctx)
		if err != nil {
			return err
		}
		if f.Type == "ack" && f.AckID != nil && *f.AckID == id {
			if !f.Success {
				return fmt.Errorf("%s: event %s failed: %s", c.Name, event, f)
			}
			break
		}
		fmt.Fprintf(w, "  %s sees: %s\n", c.Name, describe(f))
		if f.Type == "message" && f.From == "group" {
			n++
		}
	}
	for _, o := range others {
		if err := o.see(ctx, w, n); err != nil {
			return err
		}
	}
	return nil
}

// see reads and prints n frames.
func (c *demoClient) see(ctx context.Context, w io.Writer, n int) error {
	for range n {
		f, err := c.Read(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "  %s sees: %s\n", c.Name, describe(f))
	}
	return nil
}

// describe renders a frame as the page does: a message from the server
// (to the room, or to the sender only) as its line, anything else as the
// frame.
func describe(f exampleenv.Frame) string {
	if f.Type == "message" && f.DataType == "json" {
		var m chatMessage
		if json.Unmarshal(f.Data, &m) == nil && m.Kind != "" {
			return m.line()
		}
	}
	return f.String()
}

// eventLog records what the event handler did, for the demo to wait on.
type eventLog struct {
	mu      sync.Mutex
	lines   []string
	changed chan struct{} // closed and replaced on every new line
}

func newEventLog() *eventLog { return &eventLog{changed: make(chan struct{})} }

func (l *eventLog) logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
	close(l.changed)
	l.changed = make(chan struct{})
}

// waitFor returns when line has been logged, or ctx is done.
func (l *eventLog) waitFor(ctx context.Context, line string) error {
	for {
		l.mu.Lock()
		found, changed := slices.Contains(l.lines, line), l.changed
		l.mu.Unlock()
		if found {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
