package exampleenv

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/coder/websocket"
	"github.com/gowebpubsub/webpubsub"
)

// Subprotocol is the WebSocket subprotocol the examples' clients speak: the
// Web PubSub JSON subprotocol, in which the service wraps every message in a
// frame that says where it comes from and what type its data has.
const Subprotocol = "json.webpubsub.azure.v1"

// Client is a WebSocket client of the JSON subprotocol. It stands in for the
// browser or device of a real application, so that the examples can show
// what a client receives. It is not safe for concurrent use.
type Client struct {
	// Name labels the client in the examples' output.
	Name string
	// ConnectionID and UserID are from the service's "connected" frame.
	// UserID is "" for an anonymous connection.
	ConnectionID string
	UserID       string

	conn *websocket.Conn
}

// Dial connects to url (a client access URL, which carries its token) with
// the JSON subprotocol and waits for the service's "connected" frame. The
// error never contains url.
func Dial(ctx context.Context, name, url string) (*Client, error) {
	conn, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{Subprotocol}})
	if err != nil {
		// An error that quotes the URL would reveal its token: report the
		// HTTP status, or the error only when it does not quote the URL.
		if resp != nil {
			return nil, fmt.Errorf("%s: connecting: the service answered %s", name, resp.Status)
		}
		if strings.Contains(err.Error(), "access_token") {
			return nil, fmt.Errorf("%s: connecting failed", name)
		}
		return nil, fmt.Errorf("%s: connecting: %w", name, err)
	}
	c := &Client{Name: name, conn: conn}
	f, err := c.Read(ctx)
	if err != nil {
		conn.CloseNow()
		return nil, err
	}
	if f.Type != "system" || f.Event != "connected" {
		conn.CloseNow()
		return nil, fmt.Errorf("%s: expected the connected frame first, got %s", name, f)
	}
	c.ConnectionID, c.UserID = f.ConnectionID, f.UserID
	return c, nil
}

// Write sends one frame (a value encoded as JSON), for example
// map[string]any{"type": "joinGroup", "group": "room1", "ackId": 1}.
func (c *Client) Write(ctx context.Context, frame any) error {
	b, err := json.Marshal(frame)
	if err != nil {
		return err
	}
	if err := c.conn.Write(ctx, websocket.MessageText, b); err != nil {
		return fmt.Errorf("%s: writing: %w", c.Name, err)
	}
	return nil
}

// Read returns the next frame from the service. When the service closes the
// connection the error is a *ClosedError.
func (c *Client) Read(ctx context.Context) (Frame, error) {
	_, b, err := c.conn.Read(ctx)
	if err != nil {
		var ce websocket.CloseError
		if errors.As(err, &ce) {
			return Frame{}, &ClosedError{Name: c.Name, Code: int(ce.Code), Reason: ce.Reason}
		}
		return Frame{}, fmt.Errorf("%s: reading: %w", c.Name, err)
	}
	var f Frame
	if err := json.Unmarshal(b, &f); err != nil {
		return Frame{}, fmt.Errorf("%s: decoding a frame: %w", c.Name, err)
	}
	return f, nil
}

// ReadUntil reads frames up to and including the first message whose text
// data is marker, and returns the frames before it. The examples send a
// marker last so that a client can show everything it received, and
// nothing it did not, without waiting for a timeout.
func (c *Client) ReadUntil(ctx context.Context, marker string) ([]Frame, error) {
	var got []Frame
	for {
		f, err := c.Read(ctx)
		if err != nil {
			return got, err
		}
		if f.Type == "message" && f.DataType == "text" && f.Text() == marker {
			return got, nil
		}
		got = append(got, f)
	}
}

// Close closes the connection with a normal closure.
func (c *Client) Close() error {
	return c.conn.Close(websocket.StatusNormalClosure, "")
}

// CloseNow closes the connection without a closing handshake.
func (c *Client) CloseNow() error { return c.conn.CloseNow() }

// ClosedError is the error of Read once the service closed the connection.
type ClosedError struct {
	Name   string
	Code   int
	Reason string
}

func (e *ClosedError) Error() string {
	return fmt.Sprintf("%s: closed by the service with status %d %q", e.Name, e.Code, e.Reason)
}

// Frame is a frame of the JSON subprotocol sent by the service: a message
// (Type "message", From "server" or "group"), an ack, or a system frame
// (Event "connected" or "disconnected").
type Frame struct {
	Type         string          `json:"type"`
	Event        string          `json:"event,omitempty"`
	From         string          `json:"from,omitempty"`
	Group        string          `json:"group,omitempty"`
	FromUserID   string          `json:"fromUserId,omitempty"`
	DataType     string          `json:"dataType,omitempty"`
	Data         json.RawMessage `json:"data,omitempty"`
	AckID        *uint64         `json:"ackId,omitempty"`
	Success      bool            `json:"success,omitempty"`
	Error        *FrameError     `json:"error,omitempty"`
	UserID       string          `json:"userId,omitempty"`
	ConnectionID string          `json:"connectionId,omitempty"`
	Message      string          `json:"message,omitempty"`
}

// FrameError is the error of a failed ack.
type FrameError struct {
	Name    string `json:"name"`
	Message string `json:"message"`
}

// Text returns the data of a text message ("" for other data types).
func (f Frame) Text() string {
	var s string
	if f.DataType == "text" && json.Unmarshal(f.Data, &s) == nil {
		return s
	}
	return ""
}

// Payload describes a message's data by its type: text "hi", json {"a":1}
// or binary cafe (hexadecimal).
func (f Frame) Payload() string {
	switch f.DataType {
	case "text":
		return "text " + strconv.Quote(f.Text())
	case "binary":
		var s string
		if json.Unmarshal(f.Data, &s) == nil {
			if b, err := base64.StdEncoding.DecodeString(s); err == nil {
				return "binary " + hex.EncodeToString(b)
			}
		}
	}
	return f.DataType + " " + string(f.Data)
}

// String describes the frame on one line.
func (f Frame) String() string {
	switch f.Type {
	case "message":
		if f.From == "group" {
			if f.FromUserID != "" {
				return fmt.Sprintf("from group %s (sent by %s): %s", f.Group, f.FromUserID, f.Payload())
			}
			return fmt.Sprintf("from group %s: %s", f.Group, f.Payload())
		}
		return "from " + f.From + ": " + f.Payload()
	case "ack":
		id := "?"
		if f.AckID != nil {
			id = strconv.FormatUint(*f.AckID, 10)
		}
		if f.Error != nil {
			return fmt.Sprintf("ack %s: %s (%s)", id, f.Error.Name, f.Error.Message)
		}
		return fmt.Sprintf("ack %s: success", id)
	case "system":
		if f.Event == "disconnected" {
			return fmt.Sprintf("disconnected: %q", f.Message)
		}
		return "system " + f.Event
	}
	return f.Type
}

// Connect gets a client access URL from client with opts (nil for an
// anonymous client) and dials it: what a browser does with the URL its
// application server hands it.
func Connect(ctx context.Context, client *webpubsub.ServiceClient, name string, opts *webpubsub.GetClientAccessTokenOptions) (*Client, error) {
	tok, err := client.GetClientAccessToken(ctx, opts)
	if err != nil {
		return nil, err
	}
	return Dial(ctx, name, tok.URL)
}

// PrintReceived reads each client's frames up to the message marker and
// prints them: what each client received, and by omission what it did not.
func PrintReceived(ctx context.Context, marker string, clients ...*Client) error {
	for _, c := range clients {
		frames, err := c.ReadUntil(ctx, marker)
		if err != nil {
			return err
		}
		if len(frames) == 0 {
			fmt.Printf("%s received nothing\n", c.Name)
			continue
		}
		fmt.Printf("%s received:\n", c.Name)
		for _, f := range frames {
			fmt.Printf("  %s\n", f)
		}
	}
	return nil
}
