package emulator

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/gowebpubsub/webpubsub/internal/protocol"
)

// transport is one WebSocket of a connection. Its reader runs in the HTTP
// handler goroutine that accepted it; its writer is a goroutine of its
// own. The writer alone writes to and closes the WebSocket.
type transport struct {
	c  *conn
	ws *websocket.Conn

	qmu        sync.Mutex
	queue      []outFrame
	queueLen   int // frames in queue that count against the limits
	queueBytes int // their bytes
	closeReq   *closeRequest
	closeTimer *time.Timer
	wake       chan struct{}

	// ctx is canceled to drop the transport: a read in progress closes
	// the TCP connection, which also fails any write in progress.
	ctx   context.Context
	abort context.CancelFunc

	lastRecv atomic.Int64 // unix nanoseconds of the last frame received
	pinging  atomic.Bool
}

func newTransport(c *conn, ws *websocket.Conn) *transport {
	ctx, cancel := context.WithCancel(context.Background())
	tr := &transport{c: c, ws: ws, wake: make(chan struct{}, 1), ctx: ctx, abort: cancel}
	tr.lastRecv.Store(time.Now().UnixNano())
	return tr
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
func (tr *transport) enqueue(f outFrame) bool {
	tr.qmu.Lock()
	if tr.closeReq != nil {
		tr.qmu.Unlock()
		return true
	}
	if !f.sequenced {
		if tr.queueLen >= maxQueueMessages || tr.queueBytes+len(f.data) > maxQueueBytes {
			tr.qmu.Unlock()
			return false
		}
		tr.queueLen++
		tr.queueBytes += len(f.data)
	}
	tr.queue = append(tr.queue, f)
	tr.qmu.Unlock()
	select {
	case tr.wake <- struct{}{}:
	default:
	}
	return true
}

// closing reports whether the transport is being closed.
func (tr *transport) closing() bool {
	tr.qmu.Lock()
	defer tr.qmu.Unlock()
	return tr.closeReq != nil
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
		tr.closeTimer = time.AfterFunc(tr.c.e.closeFlush, tr.abort)
	}
	tr.qmu.Unlock()
	select {
	case tr.wake <- struct{}{}:
	default:
	}
	return true
}

// drop closes the transport without any frame.
func (tr *transport) drop(reason string) {
	tr.request(&closeRequest{peerGone: true, reason: reason}, true)
	tr.abort()
}

// writeLoop delivers queued frames in order and then performs the close
// procedure. It runs until the transport is
// closed and owns closing the WebSocket.
func (tr *transport) writeLoop() {
	e := tr.c.e
	ping := time.NewTimer(e.pingInterval)
	defer ping.Stop()
	var batch []outFrame
	for {
		tr.qmu.Lock()
		batch, tr.queue = tr.queue, batch[:0]
		tr.queueLen, tr.queueBytes = 0, 0
		req := tr.closeReq
		tr.qmu.Unlock()

		for i := range batch {
			if req != nil && req.peerGone {
				break
			}
			if err := tr.ws.Write(context.Background(), batch[i].typ, batch[i].data); err != nil {
				_ = tr.ws.CloseNow()
				tr.c.transportLost(tr, reasonEndedAbruptly)
				return
			}
			batch[i] = outFrame{}
		}
		if len(batch) > 0 {
			ping.Reset(e.pingInterval)
		}
		if cap(batch) > 64 {
			batch = nil // do not keep a burst's memory on an idle connection
		}
		if req != nil {
			tr.closeTransport(req)
			return
		}
		select {
		case <-tr.wake:
		case <-tr.ctx.Done():
			_ = tr.ws.CloseNow()
			tr.c.transportLost(tr, reasonEndedAbruptly)
			return
		case <-ping.C:
			tr.keepAlive()
			ping.Reset(e.pingInterval)
		}
	}
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
	if req.notify {
		f := protocol.ServiceFrame{Type: protocol.TypeSystem, Event: protocol.EventDisconnected, Message: req.reason}
		if err := tr.ws.Write(context.Background(), websocket.MessageText, f.AppendJSON(nil)); err != nil {
			_ = tr.ws.CloseNow()
			return
		}
	}
	t := time.AfterFunc(closeHandshakeTimeout, tr.abort)
	defer t.Stop()
	_ = tr.ws.Close(req.code, truncateReason(req.reason))
}

// keepAlive treats a transport that has been silent for idleTimeout as
// dropped, and otherwise sends a Ping and waits for the Pong in the
// background.
func (tr *transport) keepAlive() {
	e := tr.c.e
	if time.Since(time.Unix(0, tr.lastRecv.Load())) > e.idleTimeout {
		tr.abort()
		return
	}
	if !tr.pinging.CompareAndSwap(false, true) {
		return
	}
	e.goTracked(func() {
		defer tr.pinging.Store(false)
		ctx, cancel := context.WithTimeout(tr.ctx, e.idleTimeout)
		defer cancel()
		_ = tr.ws.Ping(ctx)
	})
}

// readLoop reads frames until the transport ends and hands each to the
// protocol handler, one at a time per connection. It runs in the HTTP
// handler goroutine.
func (tr *transport) readLoop() {
	c := tr.c
	tr.ws.SetReadLimit(-1) // the 1 MiB limit is enforced below, so that the close is ours
	var err error
	for {
		var typ websocket.MessageType
		var r io.Reader
		typ, r, err = tr.ws.Reader(tr.ctx)
		if err != nil {
			break
		}
		tr.lastRecv.Store(time.Now().UnixNano())
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
			if c.kind == kindPubSub {
				c.handleJSON(typ, buf.Bytes())
			} else {
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
	if tr.closing() {
		tr.abort()
		return
	}
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		reason := ce.Reason
		if reason == "" {
			reason = reasonEnded
		}
		tr.c.endByPeer(tr, reason)
		return
	}
	tr.c.transportLost(tr, reasonEndedAbruptly)
}
