package emulator

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/gowebpubsub/webpubsub/internal/protocol"
)

// recoverConnection handles a recovery request:
// when the connection exists in the hub, is reliable, has not ended and
// the reconnection token matches, the upgrade is accepted with the
// connection's original subprotocol, a transport still attached is
// dropped, and every buffered message is replayed before live delivery
// resumes. Otherwise the upgrade is accepted and closed with 1008.
func (e *Emulator) recoverConnection(w http.ResponseWriter, r *http.Request, hubName string, query url.Values, offered []string) {
	id := query.Get("awps_connection_id")
	cc := e.core.FindRecoverable(hubName, id, query.Get("awps_reconnection_token"))
	if cc == nil {
		e.trace.connection("recoveryRefused", hubName, id, "no recoverable connection with this id and reconnection token")
		e.refuseRecovery(w, r, offered)
		return
	}
	c := ownerOf(cc)
	original := false
	for _, p := range offered {
		original = original || strings.EqualFold(p, c.subprotocol)
	}
	if !original {
		// Accepted without a subprotocol, then refused.
		e.trace.connection("recoveryRefused", hubName, c.ID, "the connection's subprotocol "+c.subprotocol+" was not offered")
		e.refuseRecovery(w, r, nil)
		return
	}
	var tr *transport
	ws, err := acceptWebSocket(w, r, c.subprotocol, &tr)
	if err != nil {
		noteReason(w, "The WebSocket upgrade failed: "+err.Error())
		return // Accept has written the error response
	}
	tr = newTransport(c, ws, r)
	if !c.Attach(tr) {
		tr.cancel() // never started: refuseOn writes and closes
		e.trace.connection("recoveryRefused", hubName, c.ID, "the connection ended before the recovery attached")
		refuseOn(ws, e.closeFlush, notifyOf(c))
		return
	}
	e.log.Debug("connection recovered", "hub", hubName, "connectionId", c.ID)
	e.event(ConnectionRecovered, c, "")
	tr.start()
}

// refuseRecovery accepts a recovery request and closes it with 1008,
// after a disconnected frame when a PubSub subprotocol (JSON or
// protobuf) was negotiated.
func (e *Emulator) refuseRecovery(w http.ResponseWriter, r *http.Request, offered []string) {
	var selected string
	var neg negotiated
	for _, p := range offered {
		if n, ok := pubSubSubprotocol(p); ok {
			selected, neg = p, n
			break
		}
	}
	opts := &websocket.AcceptOptions{InsecureSkipVerify: true, CompressionMode: websocket.CompressionDisabled}
	if selected != "" {
		opts.Subprotocols = []string{selected}
	}
	ws, err := websocket.Accept(smallBuffers(w), r, opts)
	if err != nil {
		return
	}
	notify := notifyNone
	if selected != "" {
		notify = notifyJSON
		if neg.pbuf {
			notify = notifyProtobuf
		}
	}
	refuseOn(ws, e.closeFlush, notify)
}

// notifyHow says whether, and in which encoding, refuseOn sends the
// disconnected frame.
type notifyHow uint8

const (
	notifyNone notifyHow = iota
	notifyJSON
	notifyProtobuf
)

// notifyOf is the notification of c's subprotocol.
func notifyOf(c *conn) notifyHow {
	switch {
	case c.kind != kindPubSub:
		return notifyNone
	case c.pbuf:
		return notifyProtobuf
	}
	return notifyJSON
}

// refuseOn sends the disconnected frame (unless notify is notifyNone)
// and closes ws with 1008, within flush.
func refuseOn(ws *websocket.Conn, flush time.Duration, notify notifyHow) {
	ctx, cancel := context.WithTimeout(context.Background(), flush)
	defer cancel()
	f := protocol.ServiceFrame{Type: protocol.TypeSystem, Event: protocol.EventDisconnected, Message: reasonNotRecoverable}
	switch notify {
	case notifyJSON:
		_ = ws.Write(ctx, websocket.MessageText, f.AppendJSON(nil))
	case notifyProtobuf:
		_ = ws.Write(ctx, websocket.MessageBinary, protobufFrame(&f).Data)
	}
	// Read in the background so the client's close frame is seen (Close
	// waits for it), discarding data frames: a reliable client sends a
	// sequenceAck as soon as its recovery socket opens. CloseRead is not
	// used because it answers a data frame with a Close of its own, which
	// then races this Close and stalls it for the library's 15 s.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			_, r, err := ws.Reader(ctx)
			if err != nil {
				return
			}
			if _, err := io.Copy(io.Discard, r); err != nil {
				return
			}
		}
	}()
	_ = ws.Close(websocket.StatusPolicyViolation, reasonNotRecoverable)
	cancel()
	<-done
}
