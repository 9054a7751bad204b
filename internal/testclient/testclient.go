// Package testclient is the WebSocket client that this module's tests use
// to play a client of a Web PubSub service (Azure or the emulator) frame by
// frame: the JSON subprotocols json.webpubsub.azure.v1 and
// json.reliable.webpubsub.azure.v1, the protobuf subprotocols
// protobuf.webpubsub.azure.v1 and protobuf.reliable.webpubsub.azure.v1
// (the same frames, encoded as binary protobuf messages), and raw
// WebSocket connections without a subprotocol.
//
// A [Conn] is bound to a test: its methods fail the test (t.Fatalf) when
// the service does not do what they expect, and every wait is bounded by a
// context deadline ([Options.Timeout]), so a test never sleeps and a hang
// becomes a failure. The Try methods return the error instead, for tests
// whose subject is the failure (a refused handshake, a close).
//
//	c := testclient.Dial(t, tok.URL, &testclient.Options{Subprotocols: []string{testclient.JSON}})
//	if r := c.JoinGroup("room"); !r.Ack.Success {
//		t.Fatalf("join: %s", r.ErrorName())
//	}
//	c.ExpectJSON(`{"type":"message","from":"server","dataType":"text","data":"hi"}`)
//
// Client access URLs carry an access token: no error or failure message of
// this package contains the URL.
//
// Methods of a Conn must be called from the goroutine of the test it is
// bound to (see [Conn.With] for subtests), one at a time.
package testclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/gowebpubsub/webpubsub/internal/protocol"
)

// The subprotocols of the PubSub client protocols, for
// Options.Subprotocols.
const (
	JSON             = protocol.SubprotocolJSON
	ReliableJSON     = protocol.SubprotocolReliableJSON
	Protobuf         = protocol.SubprotocolProtobuf
	ReliableProtobuf = protocol.SubprotocolReliableProtobuf
)

// DefaultTimeout bounds each wait of a Conn unless Options.Timeout says
// otherwise. A wait ends as soon as its event happens; the bound only turns
// a hang into a failure.
const DefaultTimeout = 10 * time.Second

// Options configure Dial and TryDial. A nil *Options means a raw client
// (no subprotocol) with the defaults below.
type Options struct {
	// Subprotocols are offered in the handshake, in order. Empty means a
	// raw WebSocket client.
	Subprotocols []string
	// Header holds extra HTTP headers of the handshake, for example
	// Authorization.
	Header http.Header
	// HTTPClient performs the handshake; nil means http.DefaultClient.
	HTTPClient *http.Client
	// Timeout bounds the handshake and each later wait (a read, a write,
	// a request's ack). Zero means DefaultTimeout.
	Timeout time.Duration
	// SkipConnected leaves the service's connected frame unread, so that
	// the first read returns it. By default, when the service accepted a
	// subprotocol, Dial reads the connected frame and keeps it (see
	// Conn.Connected).
	SkipConnected bool
}

// withDefaults returns a copy of o (the zero Options for nil) with the
// default Timeout when it has none.
func (o *Options) withDefaults() Options {
	var c Options
	if o != nil {
		c = *o
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	return c
}

// HandshakeError is the error of TryDial when the service answered the
// WebSocket upgrade with an HTTP status other than 101.
type HandshakeError struct {
	// StatusCode is the HTTP status of the answer.
	StatusCode int
	// Header is the answer's header.
	Header http.Header
	// Body is the start of the answer's body (at most 1 KiB).
	Body string
}

// Error returns "testclient: the service refused the WebSocket upgrade
// with HTTP <status>: <body>".
func (e *HandshakeError) Error() string {
	return fmt.Sprintf("testclient: the service refused the WebSocket upgrade with HTTP %d: %s", e.StatusCode, e.Body)
}

// Conn is one client connection, bound to a test. The zero Conn is not
// usable; get one from Dial or TryDial.
type Conn struct {
	t testing.TB
	*state
}

// state is shared by a Conn and its views made by With.
type state struct {
	ws        *websocket.Conn
	resp      *http.Response
	timeout   time.Duration
	connected protocol.ServiceFrame
	lastAckID uint64
	// pbuf is set when a protobuf subprotocol was negotiated.
	pbuf bool
}

// Dial connects to url (a client access URL, ws:// or wss://) with opts and
// fails t when it cannot. See TryDial.
func Dial(t testing.TB, url string, opts *Options) *Conn {
	t.Helper()
	c, err := TryDial(t, url, opts)
	if err != nil {
		t.Fatalf("testclient: dial: %v", err)
	}
	return c
}

// TryDial connects to url with opts. When the service accepted one of the
// offered subprotocols it reads the connected frame (unless
// opts.SkipConnected), and fails if the first frame is anything else. The
// connection is closed without a handshake when t ends. A refused upgrade
// is a *HandshakeError; no error holds url.
func TryDial(t testing.TB, url string, opts *Options) (*Conn, error) {
	t.Helper()
	o := opts.withDefaults()
	ctx, cancel := context.WithTimeout(t.Context(), o.Timeout)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{
		Subprotocols: o.Subprotocols,
		HTTPHeader:   o.Header,
		HTTPClient:   o.HTTPClient,
	})
	if err != nil {
		return nil, dialError(err, resp, url)
	}
	return Wrap(t, ws, resp, &o)
}

// Wrap makes a Conn of ws, a connection the caller dialed itself (resp is
// its handshake response, or nil), as TryDial does after its dial: it
// reads the connected frame unless opts.SkipConnected, and closes ws
// without a handshake when t ends. Only opts.Timeout and
// opts.SkipConnected are used.
func Wrap(t testing.TB, ws *websocket.Conn, resp *http.Response, opts *Options) (*Conn, error) {
	t.Helper()
	o := opts.withDefaults()
	ws.SetReadLimit(-1)
	t.Cleanup(func() { _ = ws.CloseNow() })
	sp := ws.Subprotocol()
	c := &Conn{t: t, state: &state{ws: ws, resp: resp, timeout: o.Timeout,
		pbuf: strings.EqualFold(sp, Protobuf) || strings.EqualFold(sp, ReliableProtobuf)}}
	if ws.Subprotocol() == "" || o.SkipConnected {
		return c, nil
	}
	f, _, err := c.TryReadFrame()
	if err != nil {
		return nil, fmt.Errorf("testclient: reading the connected frame: %w", err)
	}
	if f.Type != protocol.TypeSystem || f.Event != protocol.EventConnected {
		return nil, fmt.Errorf("testclient: the first frame is %s/%s, not system/connected", f.Type, f.Event)
	}
	c.connected = f
	return c, nil
}

// dialError describes a failed dial without the URL, which holds a token.
func dialError(err error, resp *http.Response, rawURL string) error {
	if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
		he := &HandshakeError{StatusCode: resp.StatusCode, Header: resp.Header}
		if resp.Body != nil {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
			he.Body = string(b)
		}
		return he
	}
	// net/http quotes the URL in a *url.Error; keep what it wraps.
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if msg := err.Error(); strings.Contains(msg, "access_token") || (rawURL != "" && strings.Contains(msg, rawURL)) {
		return errors.New("testclient: the connection failed (details withheld: they quote the URL)")
	}
	return fmt.Errorf("testclient: %w", err)
}

// With returns a view of c that reports failures to t, for subtests. The
// views share the connection and its ack ids.
func (c *Conn) With(t testing.TB) *Conn { return &Conn{t: t, state: c.state} }

// WebSocket returns the underlying connection, for tests that write or
// close at the WebSocket level.
func (c *Conn) WebSocket() *websocket.Conn { return c.ws }

// Subprotocol returns the subprotocol the service accepted; "" for a raw
// connection.
func (c *Conn) Subprotocol() string { return c.ws.Subprotocol() }

// Response returns the service's answer to the handshake (status 101).
func (c *Conn) Response() *http.Response { return c.resp }

// Connected returns the connected frame Dial read; the zero frame for a
// raw connection or with Options.SkipConnected.
func (c *Conn) Connected() protocol.ServiceFrame { return c.connected }

// ConnectionID returns the connection id of the connected frame.
func (c *Conn) ConnectionID() string { return c.connected.ConnectionID }

// UserID returns the user id of the connected frame ("" for anonymous).
func (c *Conn) UserID() string { return c.connected.UserID }

// ReconnectionToken returns the reconnection token of the connected frame
// (reliable subprotocol only). It is a secret of the connection.
func (c *Conn) ReconnectionToken() string { return c.connected.ReconnectionToken }

func (c *Conn) wait() (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.t.Context(), c.timeout)
}

// TryRead returns the next message of the connection. A close by the
// service is an error for which websocket.CloseStatus returns its status.
func (c *Conn) TryRead() (websocket.MessageType, []byte, error) {
	ctx, cancel := c.wait()
	defer cancel()
	return c.ws.Read(ctx)
}

// Read returns the next message, text or binary, and fails the test on a
// close or a timeout.
func (c *Conn) Read() (websocket.MessageType, []byte) {
	c.t.Helper()
	typ, b, err := c.TryRead()
	if err != nil {
		c.t.Fatalf("testclient: read: %v", err)
	}
	return typ, b
}

// Protobuf reports whether the connection speaks a protobuf
// subprotocol: its frames are then binary protobuf messages.
func (c *Conn) Protobuf() bool { return c.pbuf }

// TryReadFrame reads the next message as a frame of the negotiated
// subprotocol (a JSON text frame, or a protobuf binary frame) and returns
// it parsed, with its bytes.
func (c *Conn) TryReadFrame() (protocol.ServiceFrame, []byte, error) {
	typ, b, err := c.TryRead()
	if err != nil {
		return protocol.ServiceFrame{}, nil, err
	}
	if c.pbuf {
		if typ != websocket.MessageBinary {
			return protocol.ServiceFrame{}, b, fmt.Errorf("testclient: got a text message %q, not a protobuf frame", b)
		}
		f, err := protocol.ParseProtobufServiceFrame(b)
		if err != nil {
			return protocol.ServiceFrame{}, b, fmt.Errorf("testclient: protobuf frame %x: %w", b, err)
		}
		return f, b, nil
	}
	if typ != websocket.MessageText {
		return protocol.ServiceFrame{}, b, fmt.Errorf("testclient: got a binary message (%d bytes), not a frame", len(b))
	}
	f, err := protocol.ParseServiceFrame(b)
	if err != nil {
		return protocol.ServiceFrame{}, b, fmt.Errorf("testclient: frame %s: %w", b, err)
	}
	return f, b, nil
}

// ReadFrame returns the next frame, parsed. It fails the test on a close,
// a timeout, a binary message or a frame that does not parse.
func (c *Conn) ReadFrame() protocol.ServiceFrame {
	c.t.Helper()
	f, _, err := c.TryReadFrame()
	if err != nil {
		c.t.Fatalf("testclient: read frame: %v", err)
	}
	return f
}

// ReadJSON returns the next text message decoded as a JSON object, for
// checks of fields the frame types do not model (null versus absent).
func (c *Conn) ReadJSON() map[string]any {
	c.t.Helper()
	typ, b := c.Read()
	if typ != websocket.MessageText {
		c.t.Fatalf("testclient: got a binary message %x; want a JSON frame", b)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		c.t.Fatalf("testclient: frame %s is not a JSON object: %v", b, err)
	}
	return m
}

// ExpectJSON reads the next text message and fails the test unless it is
// the same JSON value as want (key order and spacing do not matter; null
// and an absent key do).
func (c *Conn) ExpectJSON(want string) {
	c.t.Helper()
	var w any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		c.t.Fatalf("testclient: bad expectation %s: %v", want, err)
	}
	got := c.ReadJSON()
	gb, _ := json.Marshal(got)
	wb, _ := json.Marshal(w)
	if !bytes.Equal(gb, wb) {
		c.t.Fatalf("testclient: frame\n got %s\nwant %s", gb, wb)
	}
}

// ExpectMessage reads the next frame and fails the test unless it is a
// message of dataType whose decoded data is data (the text, the binary
// bytes, or the JSON text exactly). It returns the frame for further
// checks (From, Group, FromUserID, SequenceID).
func (c *Conn) ExpectMessage(dataType protocol.DataType, data string) protocol.ServiceFrame {
	c.t.Helper()
	f := c.ReadFrame()
	dt := f.DataType
	if dt == "" {
		dt = protocol.DataTypeJSON
	}
	if f.Type != protocol.TypeMessage || dt != dataType || string(f.Data) != data {
		c.t.Fatalf("testclient: connection %s got %s %s %q; want message %s %q", c.ConnectionID(), f.Type, dt, f.Data, dataType, data)
	}
	return f
}

// ExpectSystem reads the next frame and fails the test unless it is a
// system frame of event (protocol.EventConnected or EventDisconnected).
func (c *Conn) ExpectSystem(event string) protocol.ServiceFrame {
	c.t.Helper()
	f := c.ReadFrame()
	if f.Type != protocol.TypeSystem || f.Event != event {
		c.t.Fatalf("testclient: got %s/%s; want system/%s", f.Type, f.Event, event)
	}
	return f
}

// ExpectClose reads the next message and fails the test unless the service
// closed the connection with code. It returns the close reason.
func (c *Conn) ExpectClose(code websocket.StatusCode) string {
	c.t.Helper()
	typ, b, err := c.TryRead()
	if err == nil {
		c.t.Fatalf("testclient: got message %v %s; want close %d", typ, b, code)
	}
	var ce websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != code {
		c.t.Fatalf("testclient: read ended with %v (status %d); want close %d", err, websocket.CloseStatus(err), code)
	}
	return ce.Reason
}

// TryWrite sends one message.
func (c *Conn) TryWrite(typ websocket.MessageType, b []byte) error {
	ctx, cancel := c.wait()
	defer cancel()
	return c.ws.Write(ctx, typ, b)
}

// SendText sends s as a text message, as is: a frame of the JSON
// subprotocols, or anything a test wants the service to see.
func (c *Conn) SendText(s string) {
	c.t.Helper()
	if err := c.TryWrite(websocket.MessageText, []byte(s)); err != nil {
		c.t.Fatalf("testclient: write: %v", err)
	}
}

// SendBinary sends b as a binary message.
func (c *Conn) SendBinary(b []byte) {
	c.t.Helper()
	if err := c.TryWrite(websocket.MessageBinary, b); err != nil {
		c.t.Fatalf("testclient: write: %v", err)
	}
}

// Send sends f, encoded as the service expects it: a JSON text frame, or
// a protobuf binary frame on a protobuf subprotocol (where a frame with
// no protobuf form fails the test).
func (c *Conn) Send(f *protocol.ClientFrame) {
	c.t.Helper()
	if c.pbuf {
		b, err := f.AppendProtobuf(nil)
		if err != nil {
			c.t.Fatalf("testclient: %s frame: %v", f.Type, err)
		}
		c.SendBinary(b)
		return
	}
	c.SendText(string(f.AppendJSON(nil)))
}

// NextAckID returns a new ack id for this connection: 1, 2, 3... shared
// by the views of c.
func (c *Conn) NextAckID() uint64 {
	c.lastAckID++
	return c.lastAckID
}

// Reply is what a request got from the service.
type Reply struct {
	// Ack is the ack of the request.
	Ack protocol.ServiceFrame
	// Before holds the frames that arrived before the ack, in order (for
	// example the echo of a sendToGroup, or an event handler's reply).
	Before []protocol.ServiceFrame
}

// ErrorName returns the ack's error name, or "" when it succeeded.
func (r Reply) ErrorName() string {
	if r.Ack.Success {
		return ""
	}
	if r.Ack.Error == nil {
		return "(no error)"
	}
	return r.Ack.Error.Name
}

// Request sends f with a new ack id (see NextAckID; f.AckID when
// f.HasAckID is already set) and reads until its ack.
func (c *Conn) Request(f *protocol.ClientFrame) Reply {
	c.t.Helper()
	g := *f
	if !g.HasAckID {
		g.AckID, g.HasAckID = c.NextAckID(), true
	}
	c.Send(&g)
	return c.ReadUntilAck(g.AckID)
}

// ReadUntilAck reads frames up to the ack of ackID and returns them.
func (c *Conn) ReadUntilAck(ackID uint64) Reply {
	c.t.Helper()
	var r Reply
	for {
		f := c.ReadFrame()
		if f.Type == protocol.TypeAck && f.AckID == ackID {
			r.Ack = f
			return r
		}
		r.Before = append(r.Before, f)
	}
}

// JoinGroup asks to join group and returns the reply.
func (c *Conn) JoinGroup(group string) Reply {
	c.t.Helper()
	return c.Request(&protocol.ClientFrame{Type: protocol.TypeJoinGroup, Group: group})
}

// LeaveGroup asks to leave group and returns the reply.
func (c *Conn) LeaveGroup(group string) Reply {
	c.t.Helper()
	return c.Request(&protocol.ClientFrame{Type: protocol.TypeLeaveGroup, Group: group})
}

// SendToGroup publishes data of dataType to group (the text, the bytes to
// send as base64, or JSON text) and returns the reply.
func (c *Conn) SendToGroup(group string, dataType protocol.DataType, data []byte, noEcho bool) Reply {
	c.t.Helper()
	return c.Request(&protocol.ClientFrame{Type: protocol.TypeSendToGroup, Group: group, NoEcho: noEcho,
		DataType: dataType, Data: data, HasData: true})
}

// SendEvent sends the user event named event with data of dataType to the
// hub's event handler and returns the reply: the handler's answer, if any,
// is in Reply.Before.
func (c *Conn) SendEvent(event string, dataType protocol.DataType, data []byte) Reply {
	c.t.Helper()
	return c.Request(&protocol.ClientFrame{Type: protocol.TypeEvent, Event: event, DataType: dataType, Data: data, HasData: true})
}

// SequenceAck acknowledges every message up to sequenceID (reliable
// subprotocol).
func (c *Conn) SequenceAck(sequenceID uint64) {
	c.t.Helper()
	c.Send(&protocol.ClientFrame{Type: protocol.TypeSequenceAck, SequenceID: sequenceID})
}

// Barrier sends a ping and fails the test unless the next frame is the
// pong: since the service answers in order, it proves that nothing else
// was queued for the connection. The protobuf subprotocols have no ping:
// there the barrier is a leaveGroup with an ack, of a group the
// connection never joins, and the next frame must be its ack (a
// success, or Forbidden without the permission).
func (c *Conn) Barrier() {
	c.t.Helper()
	if c.pbuf {
		id := c.NextAckID()
		c.Send(&protocol.ClientFrame{Type: protocol.TypeLeaveGroup, Group: BarrierGroup, AckID: id, HasAckID: true})
		if f := c.ReadFrame(); f.Type != protocol.TypeAck || f.AckID != id {
			c.t.Fatalf("testclient: got %s/%s %q before the barrier's ack", f.Type, f.Event, f.Data)
		}
		return
	}
	c.Send(&protocol.ClientFrame{Type: protocol.TypePing})
	if f := c.ReadFrame(); f.Type != protocol.TypePong {
		c.t.Fatalf("testclient: got %s/%s %q before the pong", f.Type, f.Event, f.Data)
	}
}

// BarrierGroup is the group a protobuf connection's Barrier leaves.
const BarrierGroup = "testclient-barrier"

// Close closes the connection with code and reason and waits for the
// service's close frame.
func (c *Conn) Close(code websocket.StatusCode, reason string) error {
	return c.ws.Close(code, reason)
}

// CloseNow closes the TCP connection without a close frame, as a network
// failure would.
func (c *Conn) CloseNow() error { return c.ws.CloseNow() }
