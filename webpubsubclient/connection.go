package webpubsubclient

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/gowebpubsub/webpubsub/internal/protocol"
)

const (
	// handshakeTimeout bounds one connection attempt: the upgrade and, for
	// a new connection, the wait for the connected message.
	handshakeTimeout = 30 * time.Second
	// maxReadBytes is the largest frame the client accepts from the
	// service. Service messages are at most about 1 MiB of payload; the
	// margin covers base64 and JSON escaping of REST sends.
	maxReadBytes = 64 << 20
	// maxHandshakeMessage is how much of a refused handshake's body is
	// kept in a *HandshakeError.
	maxHandshakeMessage = 512
)

// transport is one WebSocket of a logical connection. A reliable
// connection may go through several transports (recoveries).
type transport struct {
	ws *websocket.Conn
	// ctx is canceled by abort, which drops TCP without a close frame (a
	// read or write in progress closes the socket).
	ctx   context.Context
	abort context.CancelFunc
	// done is closed when the read loop has ended; err says why.
	done chan struct{}
	err  error

	lastRecv atomic.Int64 // unix nanoseconds, from the client's clock
	lastSend atomic.Int64
	quickAck chan struct{} // asks the keep-alive goroutine for a sequenceAck now (after a recovery)
	// writeSlot (capacity 1) is held by the goroutine writing a frame, so
	// that the others wait for it in a select their caller's context can
	// end; nil means no slot (writes wait inside the WebSocket library).
	writeSlot chan struct{}
}

// connInfo is what a connected message tells about a new connection.
type connInfo struct {
	url               string // the client access URL it was opened with
	connectionID      string
	userID            string
	reconnectionToken string
}

// closeGracefully performs the close handshake (1000), which tells the
// service to end the connection for good, and waits for the read loop if
// one runs.
func (t *transport) closeGracefully() {
	_ = t.ws.Close(websocket.StatusNormalClosure, "")
	t.abort()
}

// dial opens a WebSocket with the configured subprotocol. Its errors never
// contain rawURL.
func (r *run) dial(ctx context.Context, rawURL string) (*transport, error) {
	c := r.c
	tctx, abort := context.WithCancel(context.Background())
	t := &transport{ctx: tctx, abort: abort, done: make(chan struct{}), quickAck: make(chan struct{}, 1), writeSlot: make(chan struct{}, 1)}
	now := c.clock.Now().UnixNano()
	t.lastRecv.Store(now)
	t.lastSend.Store(now)
	ws, resp, err := websocket.Dial(ctx, rawURL, &websocket.DialOptions{
		HTTPClient:   c.cfg.httpClient,
		Subprotocols: []string{string(c.cfg.protocol)},
		OnPingReceived: func(context.Context, []byte) bool {
			t.lastRecv.Store(c.clock.Now().UnixNano())
			return true
		},
		OnPongReceived: func(context.Context, []byte) {
			t.lastRecv.Store(c.clock.Now().UnixNano())
		},
	})
	if err != nil {
		abort()
		if resp != nil && resp.StatusCode != 0 && resp.StatusCode != 101 {
			return nil, &HandshakeError{StatusCode: resp.StatusCode, Message: handshakeMessage(resp.Body)}
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, newConnectError("connecting", err)
	}
	if got := ws.Subprotocol(); got != string(c.cfg.protocol) {
		_ = ws.CloseNow()
		abort()
		if got == "" {
			got = "none"
		}
		return nil, &connectError{msg: "webpubsubclient: the service did not accept subprotocol " + string(c.cfg.protocol) + " (it selected " + scrub(got) + ")"}
	}
	ws.SetReadLimit(maxReadBytes)
	t.ws = ws
	return t, nil
}

// handshakeMessage returns the start of a refused handshake's body, as
// valid UTF-8 without secrets.
func handshakeMessage(body io.Reader) string {
	if body == nil {
		return ""
	}
	b, _ := io.ReadAll(io.LimitReader(body, maxHandshakeMessage))
	return scrub(strings.TrimSpace(strings.ToValidUTF8(string(b), "\uFFFD")))
}

// connectNew gets a client access URL, opens a new connection and waits
// for its connected message.
func (r *run) connectNew(ctx context.Context) (*transport, connInfo, error) {
	raw, err := r.c.cred.ClientAccessURL(ctx)
	if err != nil {
		return nil, connInfo{}, err
	}
	u, err := parseClientURL(raw)
	if err != nil {
		return nil, connInfo{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
	defer cancel()
	t, err := r.dial(ctx, u)
	if err != nil {
		return nil, connInfo{}, err
	}
	info, err := r.awaitConnected(ctx, t)
	if err != nil {
		_ = t.ws.CloseNow()
		t.abort()
		return nil, connInfo{}, err
	}
	info.url = u
	return t, info, nil
}

// awaitConnected reads frames until the connected message. The service
// sends it first; anything before it is ignored.
func (r *run) awaitConnected(ctx context.Context, t *transport) (connInfo, error) {
	for {
		typ, b, err := t.ws.Read(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return connInfo{}, ctx.Err()
			}
			if ce := (websocket.CloseError{}); errors.As(err, &ce) {
				return connInfo{}, &connectError{
					msg:   "webpubsubclient: the connection closed before the connected message (status " + strconv.Itoa(int(ce.Code)) + " " + quote(ce.Reason) + ")",
					cause: ce,
				}
			}
			return connInfo{}, newConnectError("waiting for the connected message", err)
		}
		t.lastRecv.Store(r.c.clock.Now().UnixNano())
		if typ != r.c.cfg.messageType() {
			continue
		}
		f, err := r.c.cfg.parseFrame(b)
		if err != nil || f.Type != protocol.TypeSystem || f.Event != protocol.EventConnected {
			continue
		}
		if f.ConnectionID == "" {
			return connInfo{}, &connectError{msg: "webpubsubclient: the connected message has no connectionId"}
		}
		return connInfo{connectionID: f.ConnectionID, userID: f.UserID, reconnectionToken: f.ReconnectionToken}, nil
	}
}

// messageType is the WebSocket message type of the subprotocol's frames:
// text for JSON, binary for protobuf.
func (c *config) messageType() websocket.MessageType {
	if c.pbuf {
		return websocket.MessageBinary
	}
	return websocket.MessageText
}

// parseFrame parses one frame of the service in the subprotocol.
func (c *config) parseFrame(b []byte) (protocol.ServiceFrame, error) {
	if c.pbuf {
		return protocol.ParseProtobufServiceFrame(b)
	}
	return protocol.ParseServiceFrame(b)
}

// appendFrame appends f encoded in the subprotocol. Only the protobuf
// encoding can fail: a frame it has no form for, which the callers
// refuse before (see UnsupportedError).
func (c *config) appendFrame(dst []byte, f *protocol.ClientFrame) ([]byte, error) {
	if c.pbuf {
		return f.AppendProtobuf(dst)
	}
	return f.AppendJSON(dst), nil
}

// write sends one frame on t, of the subprotocol's message type. The
// transport's context is used, not the caller's: canceling a write
// closes the socket. It blocks while the service does not read
// (back-pressure), until the frame is written or the transport ends.
func (r *run) write(t *transport, b []byte) error {
	return r.writeBounded(t.ctx, nil, t, b)
}

// writeBounded is write for a caller whose ctx and timeout (nil: none)
// bound the wait for the frames written before: it returns ctx.Err(), or
// ErrAckTimeout when timeout fires, if the frame has not begun by then,
// and nothing of it is sent. A frame that has begun is written whole
// (interrupting it would close the socket), so the call that writes it
// returns once the service has taken it or the transport has ended.
func (r *run) writeBounded(ctx context.Context, timeout <-chan time.Time, t *transport, b []byte) error {
	if t.writeSlot != nil {
		select {
		case t.writeSlot <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		case <-timeout:
			return ErrAckTimeout
		case <-t.ctx.Done():
			return t.ctx.Err()
		}
		defer func() { <-t.writeSlot }()
	}
	if err := t.ws.Write(t.ctx, r.c.cfg.messageType(), b); err != nil {
		return err
	}
	t.lastSend.Store(r.c.clock.Now().UnixNano())
	return nil
}

// readLoop reads frames until the transport ends, handles each at once
// and never blocks on event handlers.
func (r *run) readLoop(t *transport) {
	defer r.wg.Done()
	defer close(t.done)
	var buf bytes.Buffer
	for {
		typ, rd, err := t.ws.Reader(t.ctx)
		if err == nil {
			buf.Reset()
			_, err = buf.ReadFrom(rd)
		}
		if err != nil {
			t.err = err
			t.abort()
			return
		}
		t.lastRecv.Store(r.c.clock.Now().UnixNano())
		if typ == r.c.cfg.messageType() {
			r.handleFrame(t, buf.Bytes())
		}
		if buf.Cap() > 1<<20 {
			buf = bytes.Buffer{} // do not keep a large frame's memory
		}
	}
}

// observeSequence notes the sequence id of a sequenced frame (0: none) on
// the reliable protocol and reports false for a duplicate, which the
// caller drops. When the gap since the last acknowledgement is large it
// acknowledges at once, from the reader: handing it to another goroutine
// lets hundreds more messages in before it runs on a busy machine, and
// the service's buffer is finite.
func (r *run) observeSequence(t *transport, seq uint64) bool {
	if seq == 0 || !r.c.cfg.reliable {
		return true
	}
	fresh, ackNow := r.seq.observe(seq)
	if fresh && ackNow {
		r.flushSequenceAck(t)
	}
	return fresh
}

// handleFrame handles one frame from the service. Frames it does not know
// are ignored.
func (r *run) handleFrame(t *transport, b []byte) {
	f, err := r.c.cfg.parseFrame(b)
	if err != nil {
		r.protocolError("", err.Error())
		return
	}
	switch f.Type {
	case protocol.TypeAck:
		if !f.HasAckID {
			r.protocolError(string(f.Type), "the ack has no ackId")
			return
		}
		r.resolveAck(f.AckID, f.Success, f.Error)
	case protocol.TypeMessage:
		if !r.observeSequence(t, f.SequenceID) {
			return
		}
		dt := DataType(f.DataType)
		switch dt {
		case "":
			dt = DataTypeJSON
		case DataTypeJSON, DataTypeText, DataTypeBinary, DataTypeProtobuf:
		default:
			r.protocolError(string(f.Type), "the message has the unknown dataType "+strconv.Quote(string(dt)))
			return
		}
		if !f.HasData {
			if f.Stream == nil || !f.Stream.EndOfStream {
				r.protocolError(string(f.Type), "the message has no data, or null data")
				return
			}
			// The terminal message of a stream may carry no payload; it is
			// delivered with an empty text one.
			dt = DataTypeText
		}
		switch {
		case f.From == "":
			r.protocolError(string(f.Type), "the message has no from")
			return
		case f.From != protocol.FromGroup && f.From != protocol.FromServer:
			r.protocolError(string(f.Type), "the message has the unknown from "+strconv.Quote(f.From))
			return
		case f.From == protocol.FromGroup && f.Group == "":
			r.protocolError(string(f.Type), "the group message has no group")
			return
		}
		data := f.Data
		if dt != DataTypeBinary { // binary data was decoded into a new slice
			data = bytes.Clone(f.Data)
		}
		switch f.From {
		case protocol.FromGroup:
			m := GroupMessage{Group: f.Group, FromUserID: f.FromUserID, DataType: dt, Data: data, SequenceID: f.SequenceID}
			if f.Stream != nil {
				m.Stream = newStreamInfo(f.Group, f.Stream)
				r.c.handlers.routeStream(r, m)
			}
			r.events.push(event{kind: evGroupMessage, group: m})
		case protocol.FromServer:
			r.events.push(event{kind: evServerMessage, server: ServerMessage{
				DataType: dt, Data: data, SequenceID: f.SequenceID,
			}})
		}
	case protocol.TypeStreamAck, protocol.TypeStreamNack, protocol.TypeStreamClosed:
		if !r.observeSequence(t, f.SequenceID) {
			return
		}
		r.handleStreamFrame(t, &f)
	case protocol.TypeInvokeResponse:
		if !r.observeSequence(t, f.SequenceID) {
			return
		}
		r.resolveInvocation(f)
	case protocol.TypeSystem:
		switch f.Event {
		case protocol.EventConnected:
			// The service may send it again after a recovery: take the new
			// token, raise no event.
			r.c.mu.Lock()
			if f.ReconnectionToken != "" {
				r.reconnectionToken = f.ReconnectionToken
			}
			r.c.mu.Unlock()
		case protocol.EventDisconnected:
			r.c.mu.Lock()
			r.lastDisconnectMessage = f.Message
			r.c.mu.Unlock()
		}
	}
}

// keepAlive sends pings when the client has been silent for
// KeepAliveInterval, drops the transport (without a close frame, so that a
// reliable connection can be recovered) when the service has been silent
// for KeepAliveTimeout, and sends sequenceAck every SequenceAckInterval
// when it changed, or at once when the reader asks. It ends with the
// transport.
func (r *run) keepAlive(t *transport) {
	defer r.wg.Done()
	cfg := &r.c.cfg
	clk := r.c.clock
	var pingC, seqC <-chan time.Time
	var pt, st timer
	if cfg.keepAliveInterval > 0 || cfg.keepAliveTimeout > 0 {
		pt = clk.NewTimer(r.nextKeepAlive(t))
		defer pt.Stop()
		pingC = pt.C()
	}
	if cfg.reliable {
		st = clk.NewTimer(cfg.sequenceAckInterval)
		defer st.Stop()
		seqC = st.C()
	}
	for {
		select {
		case <-t.ctx.Done():
			return
		case <-pingC:
			now := clk.Now()
			if cfg.keepAliveTimeout > 0 && now.Sub(time.Unix(0, t.lastRecv.Load())) >= cfg.keepAliveTimeout {
				cfg.log.Info("webpubsubclient: nothing received within the keep-alive timeout; dropping the connection", "timeout", cfg.keepAliveTimeout)
				t.abort()
				return
			}
			// The protobuf schema has no ping: there the service's
			// WebSocket pings keep the connection seen as alive.
			if cfg.keepAliveInterval > 0 && !cfg.pbuf && now.Sub(time.Unix(0, t.lastSend.Load())) >= cfg.keepAliveInterval {
				_ = r.write(t, pingFrame)
			}
			pt.Reset(r.nextKeepAlive(t))
		case <-seqC:
			r.flushSequenceAck(t)
			st.Reset(cfg.sequenceAckInterval)
		case <-t.quickAck:
			r.flushSequenceAck(t)
		}
	}
}

// nextKeepAlive is the time until the next ping is due or the service's
// silence reaches the keep-alive timeout, whichever comes first.
func (r *run) nextKeepAlive(t *transport) time.Duration {
	cfg := &r.c.cfg
	now := r.c.clock.Now().UnixNano()
	d := time.Duration(1<<63 - 1)
	if cfg.keepAliveInterval > 0 {
		d = time.Duration(t.lastSend.Load() + int64(cfg.keepAliveInterval) - now)
	}
	if cfg.keepAliveTimeout > 0 {
		d = min(d, time.Duration(t.lastRecv.Load()+int64(cfg.keepAliveTimeout)-now))
	}
	return max(d, time.Millisecond)
}

var pingFrame = []byte(`{"type":"ping"}`)

// flushSequenceAck sends the highest sequence id received, if it changed.
func (r *run) flushSequenceAck(t *transport) {
	id, ok := r.seq.take()
	if !ok {
		return
	}
	f := protocol.ClientFrame{Type: protocol.TypeSequenceAck, SequenceID: id}
	var b [64]byte
	frame, err := r.c.cfg.appendFrame(b[:0], &f)
	if err == nil {
		err = r.write(t, frame)
	}
	r.seq.done(id, err == nil)
}

func quote(s string) string {
	return "\"" + strings.ReplaceAll(scrub(s), "\"", "'") + "\""
}
