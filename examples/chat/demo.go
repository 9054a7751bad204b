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
	"github.com/gowebpubsub/webpubsub/webpubsubclient"
)

// runDemo plays a conversation between alice and bob, two webpubsubclient
// clients that do what the page does: negotiate with the server over HTTP,
// connect to the service, and send "join" and "chat" events that the
// server's event handler turns into group messages. It prints what each
// client sees.
func runDemo(ctx context.Context, s *chatServer, events *eventLog, w io.Writer) error {
	alice, err := connectDemoClient(ctx, s, "alice", w)
	if err != nil {
		return err
	}
	defer alice.Close()
	bob, err := connectDemoClient(ctx, s, "bob", w)
	if err != nil {
		return err
	}
	defer bob.Close()

	// The conversation: who sends which event, and who else in the room
	// sees the line it makes. bob's first line comes before he is in a
	// room, his last one is blank: the server answers him alone.
	for _, m := range []struct {
		from        *demoClient
		event, text string
		others      []*demoClient
	}{
		{alice, "join", "lobby", nil},
		{bob, "chat", "Is anybody here?", nil},
		{bob, "join", "lobby", []*demoClient{alice}},
		{alice, "chat", "Hi Bob!", []*demoClient{bob}},
		{bob, "chat", "Hello Alice. Every line goes through the Go event handler.", []*demoClient{alice}},
		{bob, "chat", "   ", []*demoClient{alice}},
	} {
		if err := m.from.event(ctx, w, m.event, m.text, m.others...); err != nil {
			return err
		}
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

// demoClient is a client of the demo: a webpubsubclient.Client, on the
// subprotocol of the page, that records what it receives.
type demoClient struct {
	*exampleenv.Client
}

// connectDemoClient connects a client whose credential gets its client
// access URL from the server's negotiate endpoint, as the page does.
func connectDemoClient(ctx context.Context, s *chatServer, user string, w io.Writer) (*demoClient, error) {
	c, err := exampleenv.Dial(ctx, user, webpubsubclient.URLFunc(func(ctx context.Context) (string, error) {
		return negotiate(ctx, s, user)
	}))
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(w, "%s connects as user %s\n", user, c.UserID)
	return &demoClient{Client: c}, nil
}

// negotiate asks the server for a client access URL for user.
func negotiate(ctx context.Context, s *chatServer, user string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"negotiate?user="+url.QueryEscape(user), nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return "", fmt.Errorf("negotiate for %s: %s: %s", user, resp.Status, strings.TrimSpace(string(msg)))
	}
	var body struct {
		URL string `json:"url"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return "", fmt.Errorf("negotiate for %s: %w", user, err)
	}
	return body.URL, nil
}

// event sends a user event with text data and waits for its ack. The
// server answers every event with exactly one message to the sender,
// before the ack: the line it sends to the sender's room, or a reply to
// the sender alone. event prints what the client sees, then, when it was
// a line for the room, what each of the others sees.
func (c *demoClient) event(ctx context.Context, w io.Writer, event, text string, others ...*demoClient) error {
	fmt.Fprintf(w, "%s sends %s %q\n", c.Name, event, text)
	if _, err := c.SendEvent(ctx, event, webpubsubclient.TextMessage(text), nil); err != nil {
		return fmt.Errorf("%s: event %s: %w", c.Name, event, err)
	}
	ev, err := c.Next(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "  %s sees: %s\n", c.Name, describe(ev))
	if _, toRoom := ev.(webpubsubclient.GroupMessage); !toRoom {
		return nil
	}
	for _, o := range others {
		if err := o.see(ctx, w, 1); err != nil {
			return err
		}
	}
	return nil
}

// see waits for n events and prints them.
func (c *demoClient) see(ctx context.Context, w io.Writer, n int) error {
	for range n {
		ev, err := c.Next(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "  %s sees: %s\n", c.Name, describe(ev))
	}
	return nil
}

// describe renders an event as the page does: a message from the server
// (to the room, or to the sender only) as its line, anything else as
// exampleenv describes it.
func describe(ev any) string {
	var dt webpubsubclient.DataType
	var data []byte
	switch ev := ev.(type) {
	case webpubsubclient.GroupMessage:
		dt, data = ev.DataType, ev.Data
	case webpubsubclient.ServerMessage:
		dt, data = ev.DataType, ev.Data
	}
	var m chatMessage
	if dt == webpubsubclient.DataTypeJSON && json.Unmarshal(data, &m) == nil && m.Kind != "" {
		return m.line()
	}
	return exampleenv.Describe(ev)
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
