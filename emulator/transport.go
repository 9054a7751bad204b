package emulator

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/gowebpubsub/webpubsub/emulator/internal/core"
	"github.com/gowebpubsub/webpubsub/internal/protocol"
)

// transport is one WebSocket of a connection. Its reader runs on a
// goroutine of its own; its writes run on the emulator's writerPool, one
// worker at a time, and then its close procedure. The writer alone
// writes to and closes the WebSocket.
type transport struct {
	c  *conn
	e  *Emulator // c.e, one pointer nearer
	ws *websocket.Conn

	qmu        sync.Mutex
	queue      []core.Frame
	queueLen   int // frames in queue that count against the limits
	queueBytes int // their bytes
	closeReq   *closeRequest
	closeTimer *time.Timer
	// room is signalled, on qmu, when the writer has taken the queue or
	// the transport is closing: replies waiting for room try again.
	room *sync.Cond
	// roomWaiters counts the replies waiting on room; guarded by qmu.
	roomWaiters int
	// writing is set while the transport is with the writerPool, which
	// holds it only while there is something to write: an idle transport
	// costs no goroutine.
	// finished is set once the writer has closed the WebSocket. Both are
	// guarded by qmu.
	writing, finished bool
	// started is set by start: before it no writer runs, so that the
	// ConnectionConnected callback can pause the transport before its
	// connected message is written.
	started bool
	// stopPing cancels the keep-alive timer; guarded by qmu.
	stopPing func() bool

	// ctx is canceled, and the connection closed, by abort to drop the
	// transport: a read or write in progress fails.
	ctx   context.Context
	abort func()
	// cancel cancels ctx alone, for a transport that never started.
	cancel context.CancelFunc

	// paused holds back every write (PauseOutbound); guarded by qmu.
	paused bool
	// takenOver is set when an MQTT session resume takes this network
	// connection over: its end, which the resume's DISCONNECT may prompt
	// from the client before the resume attaches the new transport, is
	// then not the end of the session.
	takenOver atomic.Bool
	// netConn is the TCP connection under ws when the emulator's own
	// server accepted it, else nil.
	netConn net.Conn

	// lastRecv and lastSent are the emulator clock's unix nanoseconds of
	// the last frame received and written.
	lastRecv atomic.Int64
	lastSent atomic.Int64
	pinging  atomic.Bool
}

// netConnKey is the context key under which the emulator's servers store
// each request's net.Conn.
type netConnKey struct{}

func newTransport(c *conn, ws *websocket.Conn, r *http.Request) *transport {
	ctx, cancel := context.WithCancel(context.Background())
	tr := &transport{c: c, e: c.e, ws: ws, ctx: ctx, cancel: cancel}
	// abort also closes the connection, so that a write blocked on a
	// client that does not read fails, and with it the transport.
	tr.abort = func() {
		cancel()
		if ws != nil {
			_ = ws.CloseNow()
		}
	}
	tr.room = sync.NewCond(&tr.qmu)
	if r != nil {
		tr.netConn, _ = r.Context().Value(netConnKey{}).(net.Conn)
	}
	now := c.e.now().UnixNano()
	tr.lastRecv.Store(now)
	tr.lastSent.Store(now)
	return tr
}

// setPaused pauses or resumes the writer.
func (tr *transport) setPaused(p bool) {
	tr.qmu.Lock()
	tr.paused = p
	tr.kickLocked()
	tr.qmu.Unlock()
}

// received notes that a frame or a Pong arrived.
func (tr *transport) received() {
	tr.lastRecv.Store(tr.e.now().UnixNano())
	tr.e.changes.Signal()
}

// held reports whether the transport is paused and how many frames wait
// in its queue.
func (tr *transport) held() (paused bool, queued int) {
	tr.qmu.Lock()
	defer tr.qmu.Unlock()
	return tr.paused, len(tr.queue)
}

// kickLocked hands the transport to the emulator's writers when there is
// something to write (queued frames while not paused, or a close) and it
// is not with them already. qmu must be held. The pool's workers count as
// the emulator's work; starting one is safe because the transport's
// reader, also counted, is still running or a close request, made before
// Close waits, is what kicks it.
func (tr *transport) kickLocked() {
	if !tr.started || tr.writing || tr.finished || tr.ws == nil || (tr.closeReq == nil && (tr.paused || len(tr.queue) == 0)) {
		return // (a transport without a WebSocket, in tests, only queues)
	}
	tr.writing = true
	tr.e.writers.submit(tr)
}

// cut resets the TCP connection (no close frame, no FIN handshake) when
// the emulator's server accepted it, and drops the transport.
func (tr *transport) cut() {
	if tcp, ok := tr.netConn.(*net.TCPConn); ok {
		_ = tcp.SetLinger(0)
		_ = tcp.Close()
	}
	tr.abort()
}

// closeRequest asks the writer to end the transport.
type closeRequest struct {
	code   websocket.StatusCode
	reason string
	// notify sends a disconnected frame before the close frame.
	notify bool
	// peerGone means the transport is already closed or broken, or was
	// replaced by a recovery: no frame is written.
	peerGone bool
}

// enqueue appends f to the outbound queue and wakes the writer. It returns
// false when the queue is full; the caller must then end the connection
// with 1008. Frames sent to a closing transport are dropped and count as
// queued.
func (tr *transport) Enqueue(f core.Frame) bool {
	tr.qmu.Lock()
	if tr.closeReq != nil {
		tr.qmu.Unlock()
		return true
	}
	if !f.Sequenced {
		if !tr.fitsLocked(len(f.Data)) {
			tr.qmu.Unlock()
			return false
		}
		tr.queueLen++
		tr.queueBytes += len(f.Data)
	}
	tr.appendLocked(f)
	return true
}

// fitsLocked reports whether a frame of n bytes that counts against the
// limits fits in the queue. qmu must be held.
func (tr *transport) fitsLocked(n int) bool {
	return tr.queueLen < maxQueueMessages && tr.queueBytes+n <= maxQueueBytes
}

// appendLocked appends f, starts the writer if needed and unlocks qmu.
func (tr *transport) appendLocked(f core.Frame) {
	tr.queue = append(tr.queue, f)
	tr.kickLocked()
	tr.qmu.Unlock()
	tr.e.changes.Signal()
}

// EnqueueReply queues a reply to the client's own request, waiting while
// the queue is full. It runs in the reading goroutine (or a timer of an
// injected ack delay), so while it waits the client's frames stay unread:
// a client that sends requests faster than it reads their replies is
// slowed down, not disconnected. A frame that alone exceeds the byte
// limit waits for an empty queue. A closing transport drops the frame.
func (tr *transport) EnqueueReply(f core.Frame) {
	tr.qmu.Lock()
	for tr.closeReq == nil && tr.queueLen > 0 && !tr.fitsLocked(len(f.Data)) {
		tr.roomWaiters++
		tr.room.Wait()
		tr.roomWaiters--
	}
	if tr.closeReq != nil {
		tr.qmu.Unlock()
		return
	}
	tr.queueLen++
	tr.queueBytes += len(f.Data)
	tr.appendLocked(f)
}

// closing reports whether the transport is being closed.
func (tr *transport) closing() bool {
	tr.qmu.Lock()
	defer tr.qmu.Unlock()
	return tr.closeReq != nil
}

// Close asks the writer to close the transport as end says, after a
// disconnected frame on a PubSub connection.
func (tr *transport) Close(end core.Ending) {
	if tr.c.mqtt != nil {
		tr.c.mqtt.markServerEnded()
	}
	tr.request(&closeRequest{code: websocket.StatusCode(end.Code), reason: end.Reason,
		notify: tr.c.kind == kindPubSub, peerGone: end.PeerGone}, end.DropQueue)
}

// request asks the writer to close the transport; only the first request
// counts. The whole procedure is bounded by the emulator's closeFlush,
// after which the transport is dropped.
func (tr *transport) request(req *closeRequest, dropQueue bool) bool {
	tr.qmu.Lock()
	if tr.closeReq != nil {
		tr.qmu.Unlock()
		return false
	}
	tr.closeReq = req
	if dropQueue || req.peerGone {
		clear(tr.queue)
		tr.queue = tr.queue[:0]
		tr.queueLen, tr.queueBytes = 0, 0
	}
	if !req.peerGone {
		tr.closeTimer = time.AfterFunc(tr.e.closeFlush, tr.abort)
	}
	tr.room.Broadcast()
	tr.kickLocked()
	tr.qmu.Unlock()
	return true
}

// Drop closes the transport without any frame.
func (tr *transport) Drop(reason string) {
	tr.request(&closeRequest{peerGone: true, reason: reason}, true)
	tr.abort()
}

// start arms keep-alive for a transport whose connection is registered
// (its connected frame may already be queued) and starts its reader. The
// caller, an HTTP handler that the emulator counts, may return then: the
// reader runs on a goroutine of its own, whose stack starts small, rather
// than on the handler's, which the handshake has grown; an idle
// connection costs less memory that way.
func (tr *transport) start() {
	tr.qmu.Lock()
	tr.started = true
	tr.armPingLocked(tr.e.pingInterval)
	tr.kickLocked()
	tr.qmu.Unlock()
	tr.e.wg.Add(1)
	go func() {
		defer tr.e.wg.Done()
		tr.readLoop()
	}()
}

// keptQueueCap is the largest queue capacity an idle transport keeps.
const keptQueueCap = 2

// write delivers queued frames in order until the queue is empty, then
// ends; a close request makes it start the close procedure, on a
// goroutine of its own since it waits for the client, instead. While the
// transport is paused, and not closing, it writes nothing. It runs on a
// worker of the emulator's writerPool.
func (tr *transport) write() {
	var batch []core.Frame
	for {
		tr.qmu.Lock()
		req := tr.closeReq
		if req == nil && (tr.paused || len(tr.queue) == 0) {
			tr.writing = false
			if cap(tr.queue) == 0 && cap(batch) <= keptQueueCap {
				// The next frame needs no allocation; a burst's larger
				// queue is not kept by an idle transport.
				tr.queue = batch[:0]
			}
			tr.qmu.Unlock()
			return
		}
		batch, tr.queue = tr.queue, batch[:0]
		tr.queueLen, tr.queueBytes = 0, 0
		if tr.roomWaiters > 0 {
			tr.room.Broadcast()
		}
		tr.qmu.Unlock()

		if len(batch) > 0 {
			tr.e.changes.Signal() // Queued changed
		}
		if !tr.writeBatch(batch, req) {
			tr.finish()
			return
		}
		clear(batch)
		if req != nil {
			tr.e.goTracked(func() {
				tr.closeTransport(req)
				tr.finish()
			})
			return
		}
	}
}

// finish marks the WebSocket closed by the writer and stops keep-alive.
func (tr *transport) finish() {
	tr.qmu.Lock()
	tr.writing, tr.finished = false, true
	if tr.stopPing != nil {
		tr.stopPing()
		tr.stopPing = nil
	}
	tr.qmu.Unlock()
}

// armPingLocked arms the keep-alive timer for d. qmu must be held.
func (tr *transport) armPingLocked(d time.Duration) {
	if tr.finished || tr.closeReq != nil {
		return
	}
	tr.stopPing = tr.e.clock.AfterFunc(d, tr.pingTick)
}

// pingTick runs when the keep-alive timer fires: after pingInterval of
// outbound silence it checks the inbound silence and sends a Ping (see
// keepAlive); otherwise it waits for the rest of the interval.
func (tr *transport) pingTick() {
	e := tr.e
	tr.qmu.Lock()
	if tr.finished || tr.closeReq != nil {
		tr.qmu.Unlock()
		return
	}
	paused := tr.paused
	tr.qmu.Unlock()
	next := e.pingInterval
	if silence := time.Duration(e.now().UnixNano() - tr.lastSent.Load()); silence < e.pingInterval {
		next = e.pingInterval - silence
	} else if !tr.keepAlive(paused) {
		return
	}
	tr.qmu.Lock()
	tr.armPingLocked(next)
	tr.qmu.Unlock()
}

// writeBatch writes batch unless req drops the transport. It reports
// false when a write failed, after handling the loss of the transport.
func (tr *transport) writeBatch(batch []core.Frame, req *closeRequest) bool {
	if len(batch) == 0 {
		return true
	}
	// The batch counts as sent when it was taken, before any client can
	// have seen it.
	taken := tr.e.now().UnixNano()
	for i := range batch {
		if req != nil && req.peerGone {
			return true
		}
		typ := websocket.MessageText
		if batch[i].Binary {
			typ = websocket.MessageBinary
		}
		f := batch[i]
		if tr.c.mqtt != nil {
			var write bool
			if f, write = tr.c.mqttOutbound(f); !write {
				continue
			}
		}
		if err := tr.writeFrame(typ, f); err != nil {
			_ = tr.ws.CloseNow()
			tr.c.EndpointLost(tr, reasonEndedAbruptly)
			return false
		}
	}
	tr.lastSent.Store(taken)
	return true
}

// writeFrame writes f as one WebSocket message; a frame with a Tail is
// joined in a pooled buffer first.
func (tr *transport) writeFrame(typ websocket.MessageType, f core.Frame) error {
	if f.Tail == nil {
		return tr.ws.Write(context.Background(), typ, f.Data)
	}
	buf := getBuffer()
	defer putBuffer(buf)
	buf.Grow(len(f.Data) + len(f.Tail))
	buf.Write(f.Data)
	buf.Write(f.Tail)
	return tr.ws.Write(context.Background(), typ, buf.Bytes())
}

// closeTransport sends the disconnected frame (PubSub only) and the close
// frame, waits up to closeHandshakeTimeout for the client's close frame,
// then drops TCP.
func (tr *transport) closeTransport(req *closeRequest) {
	defer func() {
		tr.qmu.Lock()
		if tr.closeTimer != nil {
			tr.closeTimer.Stop()
		}
		tr.qmu.Unlock()
		tr.abort()
	}()
	if req.peerGone {
		_ = tr.ws.CloseNow()
		return
	}
	if tr.c.mqtt != nil {
		if pkt := tr.c.mqtt.disconnectPacket(req.code, req.reason); pkt != nil {
			if err := tr.ws.Write(context.Background(), websocket.MessageBinary, pkt); err != nil {
				_ = tr.ws.CloseNow()
				return
			}
		}
	}
	if req.notify {
		f := tr.c.frameOf(&protocol.ServiceFrame{Type: protocol.TypeSystem, Event: protocol.EventDisconnected, Message: req.reason})
		typ := websocket.MessageText
		if f.Binary {
			typ = websocket.MessageBinary
		}
		if err := tr.ws.Write(context.Background(), typ, f.Data); err != nil {
			_ = tr.ws.CloseNow()
			return
		}
	}
	t := time.AfterFunc(closeHandshakeTimeout, tr.abort)
	defer t.Stop()
	_ = tr.ws.Close(req.code, truncateReason(req.reason))
}

// keepAlive treats a transport that has been silent for longer than
// idleTimeout as dropped (its reader then sees the loss) and reports
// false; otherwise, unless it is paused, it sends a Ping and waits for
// the Pong in the background.
func (tr *transport) keepAlive(paused bool) bool {
	e := tr.e
	if time.Duration(e.now().UnixNano()-tr.lastRecv.Load()) > e.idleTimeout {
		tr.abort()
		return false
	}
	if paused || !tr.pinging.CompareAndSwap(false, true) {
		return true
	}
	// The wait for the Pong ends with the transport; a transport that
	// stays silent is dropped by a later tick.
	e.goTracked(func() {
		defer tr.pinging.Store(false)
		_ = tr.ws.Ping(tr.ctx)
	})
	return true
}

// readLoop reads frames until the transport ends and hands each to the
// protocol handler, one at a time per connection. It runs on the
// goroutine start made.
func (tr *transport) readLoop() {
	c := tr.c
	tr.ws.SetReadLimit(-1) // the 1 MiB limit is enforced below, so that the close is ours
	var err error
	if c.kind == kindMQTT {
		// Packets that followed the CONNECT in its WebSocket message.
		c.proc.Lock()
		if len(c.mqtt.inbuf) > 0 {
			c.handleMQTT(websocket.MessageBinary, nil)
		}
		c.proc.Unlock()
	}
	for {
		var typ websocket.MessageType
		var r io.Reader
		// No context: abort closes the WebSocket, which ends the read,
		// and a read without a context registers nothing with one.
		typ, r, err = tr.ws.Reader(context.Background())
		if err != nil {
			break
		}
		tr.received()
		if tr.closing() {
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
		c.proc.Lock()
		// A frame that arrives after the connection ended, or on a
		// transport that a recovery replaced, is not processed.
		if !tr.closing() {
			switch {
			case c.pbuf:
				c.handleProtobuf(typ, buf.Bytes())
			case c.kind == kindPubSub:
				c.handleJSON(typ, buf.Bytes())
			case c.kind == kindMQTT:
				c.handleMQTT(typ, buf.Bytes())
			default:
				c.handleRaw(typ, buf.Bytes())
			}
		}
		c.proc.Unlock()
		putBuffer(buf)
	}
	tr.readEnded(err)
}

// readEnded handles the end of the read side. When the emulator started a
// close, the writer finishes it; a close frame from the client ends the
// connection for good, even a reliable one;
// anything else is an abnormal drop.
func (tr *transport) readEnded(err error) {
	if tr.closing() || tr.takenOver.Load() {
		tr.abort()
		return
	}
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		reason := ce.Reason
		if reason == "" {
			reason = reasonEnded
		}
		tr.c.EndByPeer(tr, reason)
		return
	}
	_ = tr.ws.CloseNow()
	tr.c.EndpointLost(tr, reasonEndedAbruptly)
}
