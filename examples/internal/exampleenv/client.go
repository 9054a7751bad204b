package exampleenv

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/gowebpubsub/webpubsub"
	"github.com/gowebpubsub/webpubsub/webpubsubclient"
)

// Client is a started webpubsubclient.Client that records, in order, what
// it receives: webpubsubclient.GroupMessage, ServerMessage,
// DisconnectedEvent and StoppedEvent values. It stands in for the browser
// or device of a real application, so that the examples can show what a
// client receives. It speaks json.webpubsub.azure.v1, as the browser page
// of the chat example does, and does not reconnect: a connection the server
// closes ends at once with the server's reason, and the client stops.
type Client struct {
	*webpubsubclient.Client
	// Name labels the client in the examples' output.
	Name string
	// UserID is the user of the connection, from its ConnectedEvent; ""
	// for an anonymous connection.
	UserID string

	mu      sync.Mutex
	events  []any
	changed chan struct{} // closed and replaced on every new event
	next    int           // index of the event Next returns
}

// Connect starts a client named name whose credential gets a client
// access URL from e.Service with token (nil for an anonymous client) for
// each connection: what a browser does with the URL its application server
// hands it. e.Close stops the client.
func (e *Env) Connect(ctx context.Context, name string, token *webpubsub.GetClientAccessTokenOptions) (*Client, error) {
	c, err := Dial(ctx, name, webpubsubclient.URLFunc(func(ctx context.Context) (string, error) {
		tok, err := e.Service.GetClientAccessToken(ctx, token)
		return tok.URL, err
	}))
	if err != nil {
		return nil, err
	}
	e.clients = append(e.clients, c)
	return c, nil
}

// ClientSpec describes a client for ConnectAll.
type ClientSpec struct {
	// Name labels the client in the output.
	Name string
	// Token are the options of its client access tokens: the user id,
	// roles and initial groups. Nil means an anonymous client.
	Token *webpubsub.GetClientAccessTokenOptions
}

// ConnectAll connects a client for each spec, in order (see Connect),
// prints "Connected: " and who, a description of the clients, and returns
// them in the same order.
func (e *Env) ConnectAll(ctx context.Context, who string, specs ...ClientSpec) ([]*Client, error) {
	clients := make([]*Client, 0, len(specs))
	for _, s := range specs {
		c, err := e.Connect(ctx, s.Name, s.Token)
		if err != nil {
			return nil, err
		}
		clients = append(clients, c)
	}
	fmt.Println("Connected:", who)
	return clients, nil
}

// Dial starts a client named name with cred and returns once its ConnectedEvent has been handled. Stop
// it with Close. The error never contains the client access URL.
func Dial(ctx context.Context, name string, cred webpubsubclient.Credential) (*Client, error) {
	wc, err := webpubsubclient.New(cred, &webpubsubclient.Options{
		Protocol:             webpubsubclient.ProtocolJSON,
		DisableAutoReconnect: true,
	})
	if err != nil {
		return nil, err
	}
	c := &Client{Client: wc, Name: name, changed: make(chan struct{})}
	connected := make(chan string, 1)
	wc.OnConnected(func(e webpubsubclient.ConnectedEvent) {
		select {
		case connected <- e.UserID:
		default:
		}
	})
	wc.OnGroupMessage(func(m webpubsubclient.GroupMessage) { c.record(m) })
	wc.OnServerMessage(func(m webpubsubclient.ServerMessage) { c.record(m) })
	wc.OnDisconnected(func(e webpubsubclient.DisconnectedEvent) { c.record(e) })
	wc.OnStopped(func(e webpubsubclient.StoppedEvent) { c.record(e) })
	if err := wc.Start(ctx); err != nil {
		return nil, fmt.Errorf("%s: connecting: %w", name, err)
	}
	select {
	case c.UserID = <-connected:
		return c, nil
	case <-ctx.Done():
		_ = c.Close()
		return nil, fmt.Errorf("%s: waiting for the connected event: %w", name, ctx.Err())
	}
}

func (c *Client) record(ev any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.events = append(c.events, ev)
	close(c.changed)
	c.changed = make(chan struct{})
}

// Next returns the next event the client recorded, waiting for it until
// ctx is done.
func (c *Client) Next(ctx context.Context) (any, error) {
	for {
		c.mu.Lock()
		if c.next < len(c.events) {
			ev := c.events[c.next]
			c.next++
			c.mu.Unlock()
			return ev, nil
		}
		changed := c.changed
		c.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, fmt.Errorf("%s: waiting for a message: %w", c.Name, ctx.Err())
		}
	}
}

// NextUntil returns the events up to, not including, the first text
// message from the server whose text is marker. The examples send a marker
// last so that a client can show everything it received, and nothing it
// did not, without waiting for a timeout.
func (c *Client) NextUntil(ctx context.Context, marker string) ([]any, error) {
	var got []any
	for {
		ev, err := c.Next(ctx)
		if err != nil {
			return got, err
		}
		if m, ok := ev.(webpubsubclient.ServerMessage); ok && m.DataType == webpubsubclient.DataTypeText && string(m.Data) == marker {
			return got, nil
		}
		got = append(got, ev)
	}
}

// Close stops the client (see webpubsubclient.Client.Stop), waiting at
// most ten seconds.
func (c *Client) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.Stop(ctx)
}

// endOfDemo is the text of the marker message PrintReceived sends.
const endOfDemo = "end of demo"

// PrintReceived sends a marker message to every connection of the hub,
// last, and then prints what each client received before it (see
// NextUntil): everything sent to it, and by omission what it did not
// receive.
func (e *Env) PrintReceived(ctx context.Context, clients ...*Client) error {
	if _, err := e.Service.SendToAll(ctx, webpubsub.TextMessage(endOfDemo), nil); err != nil {
		return err
	}
	for _, c := range clients {
		events, err := c.NextUntil(ctx, endOfDemo)
		if err != nil {
			return err
		}
		if len(events) == 0 {
			fmt.Printf("%s received nothing\n", c.Name)
			continue
		}
		fmt.Printf("%s received:\n", c.Name)
		for _, ev := range events {
			fmt.Printf("  %s\n", Describe(ev))
		}
	}
	return nil
}

// Describe renders an event of a Client on one line: "from group room1
// (sent by alice): text "hi"", "from server: binary cafe", "disconnected:
// "reason"" or "stopped".
func Describe(ev any) string {
	switch ev := ev.(type) {
	case webpubsubclient.GroupMessage:
		if ev.FromUserID != "" {
			return fmt.Sprintf("from group %s (sent by %s): %s", ev.Group, ev.FromUserID, Payload(ev.DataType, ev.Data))
		}
		return fmt.Sprintf("from group %s: %s", ev.Group, Payload(ev.DataType, ev.Data))
	case webpubsubclient.ServerMessage:
		return "from server: " + Payload(ev.DataType, ev.Data)
	case webpubsubclient.DisconnectedEvent:
		return fmt.Sprintf("disconnected: %q", ev.Message)
	case webpubsubclient.StoppedEvent:
		return "stopped"
	}
	return fmt.Sprintf("%T", ev)
}

// Payload describes a message's data by its type: text "hi", json {"a":1}
// or binary cafe (hexadecimal).
func Payload(dt webpubsubclient.DataType, data []byte) string {
	switch dt {
	case webpubsubclient.DataTypeText:
		return "text " + strconv.Quote(string(data))
	case webpubsubclient.DataTypeBinary:
		return "binary " + hex.EncodeToString(data)
	}
	return string(dt) + " " + string(data)
}

// DescribeAck renders the outcome of an acknowledged call on one line:
// "ack 1: success", or "ack 1: Forbidden (<the service's message>)" for an
// *webpubsubclient.AckError. Any other error is returned.
func DescribeAck(res webpubsubclient.AckResult, err error) (string, error) {
	var ackErr *webpubsubclient.AckError
	switch {
	case err == nil:
		return fmt.Sprintf("ack %d: success", res.AckID), nil
	case errors.As(err, &ackErr):
		return fmt.Sprintf("ack %d: %s (%s)", ackErr.AckID, ackErr.Name, ackErr.Message), nil
	}
	return "", err
}
