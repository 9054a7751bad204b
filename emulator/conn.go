package emulator

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"

	"github.com/gowebpubsub/webpubsub/internal/protocol"
)

// connKind says how a connection's frames are read and written.
type connKind uint8

const (
	// kindRaw is a "simple" WebSocket client: frames are payloads.
	kindRaw connKind = iota
	// kindPubSub speaks json.webpubsub.azure.v1. Part 2 adds the reliable
	// variant, which needs sequence numbers, a replay buffer and a detached
	// phase on top of the same queue.
	kindPubSub
)

// Outbound queue limits (client-protocol.md §14). A connection whose queue
// would exceed either limit is closed with 1008: a slow reader never holds
// up a send, and never makes the emulator buffer without bound.
const (
	maxQueueMessages = 1000
	maxQueueBytes    = 16 << 20
)

// Timing of the close procedure and of keep-alive (client-protocol.md §11,
// §13.2).
const (
	// closeHandshakeTimeout is how long the emulator waits for the client's
	// close frame after sending its own, before dropping TCP.
	closeHandshakeTimeout = time.Second
	// closeFlushTimeout bounds the whole close procedure (flushing the
	// queue, the disconnected frame, the close handshake).
	closeFlushTimeout = 5 * time.Second
	// pingInterval is the outbound silence after which a Ping is sent.
	pingInterval = 30 * time.Second
	// idleTimeout is the inbound silence after which a connection counts
	// as dropped.
	idleTimeout = 120 * time.Second
)

// Close reasons (client-protocol.md §13.3).
const (
	reasonDefaultClose   = "Closed by the application server."
	reasonInvalidMessage = "The client message is not a valid JSON protocol message."
	reasonBinaryOnJSON   = "The JSON subprotocol requires text messages."
	reasonTooLarge       = "The client message is too large."
	reasonQueueFull      = "The outbound message queue is full."
	reasonShutdown       = "The emulator is shutting down."
	reasonNotRecoverable = "The connection could not be recovered."
	reasonEnded          = "The connection ended."
	reasonEndedAbruptly  = "The connection ended unexpectedly."
)

// outFrame is one queued WebSocket message. data is shared between the
// recipients of a fan-out and must never be modified.
type outFrame struct {
	typ  websocket.MessageType
	data []byte
}

// closeRequest asks the writer to end the connection.
type closeRequest struct {
	code   websocket.StatusCode
	reason string
	// notify sends a disconnected frame before the close frame.
	notify bool
	// peerGone means the transport is already closed or broken: no frame
	// is written.
	peerGone bool
}

// conn is one client connection. Its reader runs in the HTTP handler
// goroutine that accepted it; its writer is a goroutine of its own. The
// writer alone writes to and closes the WebSocket.
type conn struct {
	e           *Emulator
	hub         *hub
	id          string
	userID      string // "" = anonymous
	kind        connKind
	subprotocol string
	ws          *websocket.Conn

	// groups is the connection's membership; guarded by hub.mu.
	groups map[string]struct{}

	permMu sync.Mutex
	perms  [numPermissions]permSet

	// acks is used by the reader goroutine only.
	acks ackSet

	qmu        sync.Mutex
	queue      []outFrame
	queueBytes int
	closeReq   *closeRequest
	closeTimer *time.Timer
	wake       chan struct{}

	// ctx is canceled to drop the transport: a read in progress closes
	// the TCP connection, which also fails any write in progress.
	ctx   context.Context
	abort context.CancelFunc

	lastRecv atomic.Int64 // unix nanoseconds of the last frame received
	pinging  atomic.Bool
	endOnce  sync.Once
}

func newConn(e *Emulator, h *hub, id, userID string, kind connKind, subprotocol string, ws *websocket.Conn) *conn {
	ctx, cancel := context.WithCancel(context.Background())
	c := &conn{
		e: e, hub: h, id: id, userID: userID, kind: kind, subprotocol: subprotocol, ws: ws,
		wake: make(chan struct{}, 1), ctx: ctx, abort: cancel,
	}
	c.lastRecv.Store(time.Now().UnixNano())
	return c
}

// enqueue appends f to the outbound queue and wakes the writer. It returns
// false when the queue is full; the caller must then end the connection
// with 1008 (see closeFull). Frames sent to a closing connection are
// dropped and count as queued.
func (c *conn) enqueue(f outFrame) bool {
	c.qmu.Lock()
	if c.closeReq != nil {
		c.qmu.Unlock()
		return true
	}
	if len(c.queue) >= maxQueueMessages || c.queueBytes+len(f.data) > maxQueueBytes {
		c.qmu.Unlock()
		return false
	}
	c.queue = append(c.queue, f)
	c.queueBytes += len(f.data)
	c.qmu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return true
}

// reply queues one service frame for a PubSub connection, ending the
// connection when its queue is full. It must not be called with the hub
// lock held.
func (c *conn) reply(f *protocol.ServiceFrame) {
	if !c.enqueue(outFrame{typ: websocket.MessageText, data: f.AppendJSON(nil)}) {
		c.terminate(websocket.StatusPolicyViolation, reasonQueueFull, true)
	}
}

// closing reports whether the connection is being closed.
func (c *conn) closing() bool {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	return c.closeReq != nil
}

// beginClose asks the writer to close the connection with code and
// reason, after the frames already queued (or instead of them when
// dropQueue is true). A PubSub client first gets a disconnected frame. Only
// the first request counts. The caller must already have removed c from
// its hub. The whole procedure is bounded by closeFlushTimeout, after which
// the transport is dropped.
func (c *conn) beginClose(code websocket.StatusCode, reason string, dropQueue bool) {
	c.request(&closeRequest{code: code, reason: reason, notify: c.kind == kindPubSub}, dropQueue)
}

func (c *conn) request(req *closeRequest, dropQueue bool) bool {
	c.qmu.Lock()
	if c.closeReq != nil {
		c.qmu.Unlock()
		return false
	}
	c.closeReq = req
	if dropQueue || req.peerGone {
		clear(c.queue)
		c.queue = c.queue[:0]
		c.queueBytes = 0
	}
	if !req.peerGone {
		c.closeTimer = time.AfterFunc(c.e.closeFlush, c.abort)
	}
	c.qmu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return true
}

// terminate removes c from its hub and closes it; it is for callers that
// do not hold the hub lock.
func (c *conn) terminate(code websocket.StatusCode, reason string, dropQueue bool) {
	c.hub.mu.Lock()
	c.hub.removeLocked(c)
	c.hub.mu.Unlock()
	c.beginClose(code, reason, dropQueue)
	c.ended(reason)
}

// ended runs once per connection when it leaves its hub for good. Part 2
// dispatches the upstream disconnected event from here.
func (c *conn) ended(reason string) {
	c.endOnce.Do(func() {
		c.e.log.Debug("connection ended", "hub", c.hub.name, "connectionId", c.id, "reason", reason)
		if hook := c.e.connEnded; hook != nil {
			hook(c.id)
		}
	})
}

// writeLoop delivers queued frames in order and then performs the close
// procedure of client-protocol.md §13.2. It runs until the connection is
// closed and owns closing the WebSocket.
func (c *conn) writeLoop() {
	ping := time.NewTimer(c.e.pingInterval)
	defer ping.Stop()
	var batch []outFrame
	for {
		c.qmu.Lock()
		batch, c.queue = c.queue, batch[:0]
		c.queueBytes = 0
		req := c.closeReq
		c.qmu.Unlock()

		for i := range batch {
			if req != nil && req.peerGone {
				break
			}
			if err := c.ws.Write(context.Background(), batch[i].typ, batch[i].data); err != nil {
				_ = c.ws.CloseNow()
				c.dropTransport(reasonEndedAbruptly)
				return
			}
			batch[i] = outFrame{}
		}
		if len(batch) > 0 {
			ping.Reset(c.e.pingInterval)
		}
		if cap(batch) > 64 {
			batch = nil // do not keep a burst's memory on an idle connection
		}
		if req != nil {
			c.closeTransport(req)
			return
		}
		select {
		case <-c.wake:
		case <-c.ctx.Done():
			_ = c.ws.CloseNow()
			c.dropTransport(reasonEndedAbruptly)
			return
		case <-ping.C:
			c.keepAlive()
			ping.Reset(c.e.pingInterval)
		}
	}
}

// closeTransport sends the disconnected frame (PubSub only) and the close
// frame, waits up to closeHandshakeTimeout for the client's close frame,
// then drops TCP.
func (c *conn) closeTransport(req *closeRequest) {
	defer func() {
		c.qmu.Lock()
		if c.closeTimer != nil {
			c.closeTimer.Stop()
		}
		c.qmu.Unlock()
		c.abort()
	}()
	if req.peerGone {
		_ = c.ws.CloseNow()
		return
	}
	if req.notify {
		f := protocol.ServiceFrame{Type: protocol.TypeSystem, Event: protocol.EventDisconnected, Message: req.reason}
		if err := c.ws.Write(context.Background(), websocket.MessageText, f.AppendJSON(nil)); err != nil {
			_ = c.ws.CloseNow()
			return
		}
	}
	t := time.AfterFunc(closeHandshakeTimeout, c.abort)
	defer t.Stop()
	_ = c.ws.Close(req.code, truncateReason(req.reason))
}

// dropTransport ends the connection after the client closed it or the
// transport failed: no frame is sent, and the writer closes the socket.
func (c *conn) dropTransport(reason string) {
	c.hub.mu.Lock()
	c.hub.removeLocked(c)
	c.hub.mu.Unlock()
	c.request(&closeRequest{peerGone: true, reason: reason}, true)
	c.abort()
	c.ended(reason)
}

// keepAlive treats a connection that has been silent for idleTimeout as
// dropped, and otherwise sends a Ping and waits for the Pong in the
// background.
func (c *conn) keepAlive() {
	if time.Since(time.Unix(0, c.lastRecv.Load())) > c.e.idleTimeout {
		c.abort()
		return
	}
	if !c.pinging.CompareAndSwap(false, true) {
		return
	}
	c.e.goTracked(func() {
		defer c.pinging.Store(false)
		ctx, cancel := context.WithTimeout(c.ctx, c.e.idleTimeout)
		defer cancel()
		_ = c.ws.Ping(ctx)
	})
}

// readLoop reads frames until the connection ends and hands each to the
// protocol handler. It runs in the HTTP handler goroutine.
func (c *conn) readLoop() {
	c.ws.SetReadLimit(-1) // the 1 MiB limit is enforced below, so that the close is ours
	var err error
	for {
		var typ websocket.MessageType
		var r io.Reader
		typ, r, err = c.ws.Reader(c.ctx)
		if err != nil {
			break
		}
		c.lastRecv.Store(time.Now().UnixNano())
		if c.closing() {
			// Keep reading so that the client's close frame is seen.
			if _, err = io.Copy(io.Discard, r); err != nil {
				break
			}
			continue
		}
		buf := getBuffer()
		var n int64
		n, err = io.CopyN(buf, r, protocol.MaxFrameSize+1)
		if err != nil && !errors.Is(err, io.EOF) {
			putBuffer(buf)
			break
		}
		err = nil
		if n > protocol.MaxFrameSize {
			putBuffer(buf)
			c.terminate(websocket.StatusMessageTooBig, reasonTooLarge, false)
			if _, err = io.Copy(io.Discard, r); err != nil {
				break
			}
			continue
		}
		if c.kind == kindPubSub {
			c.handleJSON(typ, buf.Bytes())
		} else {
			c.handleRaw(typ, buf.Bytes())
		}
		putBuffer(buf)
	}
	c.readEnded(err)
}

// readEnded handles the end of the read side. When the emulator started a
// close, the writer finishes it; otherwise the client closed or the
// transport broke, and the connection ends without further frames.
func (c *conn) readEnded(err error) {
	if c.closing() {
		c.abort()
		return
	}
	reason := reasonEndedAbruptly
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		reason = ce.Reason
		if reason == "" {
			reason = reasonEnded
		}
	}
	c.dropTransport(reason)
}

// truncateReason cuts a close reason to the 123 bytes a close frame can
// carry, on a UTF-8 boundary.
func truncateReason(s string) string {
	const limit = 123
	if len(s) <= limit {
		return s
	}
	s = s[:limit]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// Read buffers are pooled rather than kept per connection, so that an idle
// connection holds no buffer.
var bufferPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func getBuffer() *bytes.Buffer { return bufferPool.Get().(*bytes.Buffer) }

func putBuffer(b *bytes.Buffer) {
	if b.Cap() > 64<<10 {
		return
	}
	b.Reset()
	bufferPool.Put(b)
}

// ackSet remembers the ack ids of requests that succeeded, keeping at least
// the most recent ackRetention of them (client-protocol.md §8.2).
type ackSet struct {
	seen map[uint64]struct{}
	ring []uint64
	next int
}

const ackRetention = 10000

func (a *ackSet) has(id uint64) bool {
	_, ok := a.seen[id]
	return ok
}

func (a *ackSet) add(id uint64) {
	if a.seen == nil {
		a.seen = map[uint64]struct{}{}
	}
	if _, ok := a.seen[id]; ok {
		return
	}
	if len(a.ring) < ackRetention {
		a.ring = append(a.ring, id)
	} else {
		delete(a.seen, a.ring[a.next])
		a.ring[a.next] = id
		a.next = (a.next + 1) % ackRetention
	}
	a.seen[id] = struct{}{}
}
