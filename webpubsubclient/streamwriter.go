package webpubsubclient

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"sync"
	"time"

	"github.com/gowebpubsub/webpubsub/internal/protocol"
)

// Limits of a GroupStreamWriter's buffer of unacknowledged fragments.
// Write blocks (back-pressure) while the buffer holds StreamBufferFragments
// fragments, or while adding the next one would take it past
// StreamBufferBytes bytes of encoded frames (a single fragment larger
// than that is still accepted once the buffer is empty).
const (
	StreamBufferFragments = 1000
	StreamBufferBytes     = 8 << 20
)

// OpenGroupStreamOptions are the optional parameters of OpenGroupStream.
type OpenGroupStreamOptions struct {
	// StreamID identifies the stream on this connection; "" generates a
	// random UUID-formatted id. It must not name a stream of this client
	// that is still open.
	StreamID string
	// NoEcho asks the service not to deliver the stream's fragments back
	// to this connection.
	NoEcho bool
	// IdleTimeout is how long the service keeps the stream open without a
	// fragment or keepalive; it is sent in whole milliseconds, rounded up.
	// Zero means the service's default (five minutes); it must not be
	// negative. The writer sends a keepalive on its own when the stream
	// has been silent for half of it (half of five minutes when zero).
	IdleTimeout time.Duration
}

// StreamError is the abnormal end of a group stream, on either side.
// For a GroupStreamWriter it is the service's refusal or closing of the
// stream (Name Forbidden, BadRequest, IdleTimeout, StreamNotFound,
// InternalServerError, or ProtocolViolation when the service acknowledged
// a position the writer never sent). For a GroupStream it is the error
// the publisher or the service ended the stream with (UserError,
// IdleTimeout, Forbidden, BadRequest, Cancelled), or one the client
// detected (InvalidSequenceId for a gap or a duplicate fragment,
// IdleTimeout for a stream silent past OnGroupStreamOptions.IdleTimeout).
type StreamError struct {
	// Group is the stream's group.
	Group string
	// StreamID is the stream's id.
	StreamID string
	// Name classifies the error; see the ErrorName constants.
	Name string
	// Message is the explanation.
	Message string
	// UserErrorCode is the publisher's own code of a UserError; "" otherwise.
	UserErrorCode string
}

// Error returns "webpubsubclient: stream <id> in group <group> ended with
// <Name>: <Message>", followed by " (user error code <code>)" when there
// is one.
func (e *StreamError) Error() string {
	s := "webpubsubclient: stream " + strconv.Quote(e.StreamID) + " in group " + strconv.Quote(e.Group) + " ended with " + e.Name
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.UserErrorCode != "" {
		s += " (user error code " + strconv.Quote(e.UserErrorCode) + ")"
	}
	return s
}

// Stream error names, besides ErrorNameForbidden, ErrorNameBadRequest and
// ErrorNameInternalServerError.
const (
	// ErrorNameUserError: the publisher ended the stream with an error
	// (GroupStreamWriter.CloseWithError).
	ErrorNameUserError = "UserError"
	// ErrorNameIdleTimeout: the stream saw no fragment or keepalive within
	// its idle timeout.
	ErrorNameIdleTimeout = "IdleTimeout"
	// ErrorNameCancelled: the publisher's connection ended before the
	// stream did.
	ErrorNameCancelled = "Cancelled"
	// ErrorNameStreamNotFound: the service does not know the stream (it is
	// not open on the connection).
	ErrorNameStreamNotFound = "StreamNotFound"
	// ErrorNameInvalidSequenceID: a received fragment is not the next one
	// (a gap or a duplicate).
	ErrorNameInvalidSequenceID = "InvalidSequenceId"
	// ErrorNameProtocolViolation: the service acknowledged a position the
	// writer never sent; the writer ended the stream.
	ErrorNameProtocolViolation = "ProtocolViolation"
)

// GroupStreamWriter publishes a group stream: an ordered sequence of
// fragments that every member of the group receives with its position
// (see OnGroupStream), ended by Close or CloseWithError. Create one with
// OpenGroupStream. Its methods are safe for concurrent use; concurrent
// Writes are serialised, each fragment taking the next position.
//
// The writer keeps every fragment until the service acknowledges it, and
// sends again what the service did not accept: after a streamNack, and
// after a recovery of a reliable connection (ProtocolReliableJSON), when
// it resends the unacknowledged fragments in order (the service
// acknowledges duplicates without publishing them again). While the
// connection recovers the writer holds its frames. When the connection is
// lost for good (always the case with ProtocolJSON) the stream fails with
// ErrStreamConnectionLost, and with ErrStopped when the client stops.
type GroupStreamWriter struct {
	r              *run
	id             string
	group          string
	keepAliveFrame []byte
	keepAliveEvery time.Duration

	sem     chan struct{} // serialises Write, Close and CloseWithError
	wake    chan struct{} // cap 1: asks the send loop to look again
	started chan struct{} // closed by the start ack
	done    chan struct{} // closed when the stream has ended

	mu       sync.Mutex
	changed  chan struct{} // closed and replaced on every change that a waiter may need
	startTr  *transport    // the transport the start was sent on
	isStart  bool
	frames   [][]byte // unacknowledged fragments; frames[i] has position oldest+i
	bytes    int      // encoded size of frames
	oldest   uint64   // position of frames[0]: the service's expectedSequenceId
	next     uint64   // position of the next Write
	sendPos  uint64   // next position to write on the transport
	written  uint64   // highest position written at least once
	rewound  uint64   // expectedSequenceId of the last streamNack that rewound
	tr       *transport
	endFrame []byte // the streamEnd to send once every fragment is written; nil before Close or CloseWithError
	endSent  bool   // endFrame was written on tr
	endEver  bool   // endFrame was written on some transport
	lastSend time.Time
	ended    bool
	err      error // why the stream ended; nil for a normal close
}

// OpenGroupStream starts a group stream to group and returns its writer
// once the service has accepted the start. The connection needs the role
// webpubsub.sendToGroup (or one for this group), but not membership. It
// waits for a connection as SendToGroup does. A nil options means a random
// id, echo, and the service's idle timeout.
//
// It fails with a *StreamError when the service refuses the start (Name
// Forbidden without the permission, BadRequest for an invalid start),
// ErrStreamConnectionLost when the connection is lost before the
// service's answer, ctx.Err() when ctx ends first (the client then ends
// the stream on the service's side), ErrStopped when the client stops,
// ErrNotStarted when it is not started, and a *ValidationError for an
// invalid group, option, or a stream id already open on this client. The
// protobuf protocols cannot carry a stream: there it returns an
// *UnsupportedError.
func (c *Client) OpenGroupStream(ctx context.Context, group string, options *OpenGroupStreamOptions) (*GroupStreamWriter, error) {
	if err := validateGroup(group); err != nil {
		return nil, err
	}
	if c.cfg.pbuf {
		return nil, &UnsupportedError{Feature: "OpenGroupStream", Protocol: c.cfg.protocol}
	}
	var o OpenGroupStreamOptions
	if options != nil {
		o = *options
	}
	if o.IdleTimeout < 0 {
		return nil, &ValidationError{Name: "IdleTimeout", Value: o.IdleTimeout.String(), Reason: "must not be negative"}
	}
	if o.StreamID == "" {
		o.StreamID = newStreamID()
	}
	c.mu.Lock()
	r := c.run
	c.mu.Unlock()
	if r == nil {
		return nil, ErrNotStarted
	}
	start := protocol.ClientFrame{Type: protocol.TypeSendToGroup, Group: group, NoEcho: o.NoEcho, StreamID: o.StreamID}
	idle := time.Duration(protocol.DefaultStreamIdleTimeoutMs) * time.Millisecond
	if o.IdleTimeout > 0 {
		ms := (o.IdleTimeout + time.Millisecond - 1) / time.Millisecond
		start.IdleTimeoutMs, start.HasIdleTimeout = uint64(ms), true
		idle = ms * time.Millisecond
	}
	startFrame := start.AppendJSON(nil)
	if len(startFrame) > protocol.MaxFrameSize {
		return nil, &ValidationError{Name: "StreamID", Reason: "is too long for a frame"}
	}
	ka := protocol.ClientFrame{Type: protocol.TypeStreamData, StreamID: o.StreamID}
	w := &GroupStreamWriter{
		r: r, id: o.StreamID, group: group,
		keepAliveFrame: ka.AppendJSON(nil),
		keepAliveEvery: idle / 2,
		sem:            make(chan struct{}, 1),
		wake:           make(chan struct{}, 1),
		started:        make(chan struct{}),
		done:           make(chan struct{}),
		changed:        make(chan struct{}),
		oldest:         1, next: 1, sendPos: 1,
	}
	var connID string // the logical connection the start goes to
	t, err := r.waitTransport(ctx, nil, func(t *transport) error {
		if _, busy := r.writers[w.id]; busy {
			return &ValidationError{Name: "StreamID", Value: w.id, Reason: "is in use by an open stream of this client"}
		}
		connID = r.connectionID
		w.startTr, w.tr = t, t
		r.writers[w.id] = w
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := r.write(t, startFrame); err != nil {
		// The transport is gone; detach fails the stream.
		c.cfg.log.Debug("webpubsubclient: writing a stream start failed", "streamId", w.id, "error", err)
	}
	select {
	case <-w.started:
	case <-w.done:
		return nil, w.err
	case <-ctx.Done():
		w.finish(ctx.Err())
		// Best effort, on the connection's current transport (the service
		// keeps a stream across a recovery): it may have opened it.
		r.writeToConnection(connID, w.streamEnd(&protocol.ErrorDetail{Message: "The publisher gave up opening the stream."}))
		return nil, ctx.Err()
	}
	w.mu.Lock()
	w.lastSend = c.clock.Now()
	w.mu.Unlock()
	c.mu.Lock()
	if r.stopping {
		c.mu.Unlock()
		w.finish(ErrStopped)
		return nil, ErrStopped
	}
	r.wg.Add(1)
	c.mu.Unlock()
	go w.loop()
	return w, nil
}

// newStreamID returns a random id formatted as a UUID (version 4).
func newStreamID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// StreamID returns the stream's id.
func (w *GroupStreamWriter) StreamID() string { return w.id }

// Group returns the stream's group.
func (w *GroupStreamWriter) Group() string { return w.group }

// Done returns a channel that is closed when the stream has ended: closed
// by the service after Close or CloseWithError, refused or closed with an error by
// the service, or failed with the connection. Err then says why.
func (w *GroupStreamWriter) Done() <-chan struct{} { return w.done }

// Err returns nil while the stream is open and after a normal close, and
// otherwise why the stream ended: a *StreamError (from the service, or
// ProtocolViolation), ErrStreamConnectionLost or ErrStopped.
func (w *GroupStreamWriter) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// Write publishes msg as the stream's next fragment. It returns once the
// fragment has been written to the connection (not when the service
// acknowledges it: the writer keeps it until then and sends it again if
// needed). It blocks while the buffer of unacknowledged fragments is full
// (StreamBufferFragments, StreamBufferBytes), and while the connection
// recovers. If ctx ends before the fragment is queued nothing is sent; if
// it ends after, Write returns ctx.Err() and the fragment keeps its
// position and is still sent.
//
// Write fails with ErrStreamClosed after Close or CloseWithError, with the stream's
// error (see Err) when it has failed, and with a *ValidationError for an
// invalid message or one too large for a frame.
func (w *GroupStreamWriter) Write(ctx context.Context, msg Message) error {
	if err := w.r.c.checkMessage(msg); err != nil {
		return err
	}
	if err := w.acquire(ctx); err != nil {
		return err
	}
	defer w.release()
	w.mu.Lock()
	if err := w.closedLocked(); err != nil {
		w.mu.Unlock()
		return err
	}
	seq := w.next
	w.mu.Unlock()
	f := protocol.ClientFrame{Type: protocol.TypeStreamData, StreamID: w.id, StreamSequenceID: seq, HasStreamSequenceID: true,
		DataType: protocol.DataType(msg.p.DataType()), Data: msg.p.Data(), HasData: true}
	frame := f.AppendJSON(nil)
	if err := checkFrameSize(frame); err != nil {
		return err
	}
	// Back-pressure: wait for room in the buffer.
	err := w.await(ctx, func() (bool, error) {
		if err := w.closedLocked(); err != nil {
			return false, err
		}
		if len(w.frames) > 0 && (len(w.frames) >= StreamBufferFragments || w.bytes+len(frame) > StreamBufferBytes) {
			return false, nil
		}
		w.frames = append(w.frames, frame)
		w.bytes += len(frame)
		w.next++
		return true, nil
	})
	if err != nil {
		return err
	}
	w.kick()
	// Wait until the fragment has been written once.
	return w.await(ctx, func() (bool, error) {
		if w.written >= seq {
			return true, nil
		}
		if w.ended {
			return false, cmp.Or(w.err, ErrStreamClosed)
		}
		return false, nil
	})
}

// await calls cond with w.mu held, again after each change of the
// writer's state, until it reports done or an error, or ctx ends.
func (w *GroupStreamWriter) await(ctx context.Context, cond func() (done bool, err error)) error {
	for {
		w.mu.Lock()
		done, err := cond()
		ch := w.changed
		w.mu.Unlock()
		if done || err != nil {
			return err
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// KeepAlive sends a keepalive now, which restarts the service's idle
// timeout of the stream. The writer also sends keepalives on its own (see
// OpenGroupStreamOptions.IdleTimeout). It waits for a connection as
// SendToGroup does, and fails with ErrStreamClosed after Close or CloseWithError,
// the stream's error when it has failed, ErrConnectionClosed when the
// frame could not be written, or ctx.Err().
func (w *GroupStreamWriter) KeepAlive(ctx context.Context) error {
	w.mu.Lock()
	err := w.closedLocked()
	w.mu.Unlock()
	if err != nil {
		return err
	}
	t, err := w.r.waitTransport(ctx, nil, nil)
	if err != nil {
		return err
	}
	if err := w.r.write(t, w.keepAliveFrame); err != nil {
		return ErrConnectionClosed
	}
	w.mu.Lock()
	w.lastSend = w.r.c.clock.Now()
	w.mu.Unlock()
	return nil
}

// Close ends the stream normally once every fragment written before it
// has been sent, and waits for the service to confirm (receivers then see
// the end of the stream). It returns nil when the service closed the
// stream without an error, the stream's error when it failed (see Err),
// or ctx.Err() when ctx ends first (the stream still ends in the
// background). Calling Close or CloseWithError again waits for the same end.
func (w *GroupStreamWriter) Close(ctx context.Context) error {
	return w.end(ctx, w.streamEnd(nil))
}

// streamEnd is the stream's streamEnd frame, with the error e when not
// nil.
func (w *GroupStreamWriter) streamEnd(e *protocol.ErrorDetail) []byte {
	end := protocol.ClientFrame{Type: protocol.TypeStreamEnd, StreamID: w.id, StreamError: e}
	return end.AppendJSON(nil)
}

// CloseWithError ends the stream with an error once every fragment written before
// it has been sent: receivers see the end of the stream with a
// *StreamError named UserError carrying message and userErrorCode (both
// may be empty). It waits for the service as Close does, and returns nil
// when the service closed the stream.
func (w *GroupStreamWriter) CloseWithError(ctx context.Context, message, userErrorCode string) error {
	frame := w.streamEnd(&protocol.ErrorDetail{Message: message, UserErrorCode: userErrorCode})
	if len(frame) > protocol.MaxFrameSize {
		return &ValidationError{Name: "message", Reason: "is too long for a frame"}
	}
	return w.end(ctx, frame)
}

func (w *GroupStreamWriter) end(ctx context.Context, frame []byte) error {
	if err := w.acquire(ctx); err != nil {
		select {
		case <-w.done:
			return w.Err() // the end it would have waited for
		default:
			return err
		}
	}
	w.mu.Lock()
	if !w.ended && w.endFrame == nil {
		w.endFrame = frame
	}
	w.mu.Unlock()
	w.release()
	w.kick()
	select {
	case <-w.done:
		return w.Err()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// acquire takes the writer's turn for Write, Close and CloseWithError.
func (w *GroupStreamWriter) acquire(ctx context.Context) error {
	select {
	case w.sem <- struct{}{}:
		return nil
	case <-w.done:
		// Let a caller see the stream's end rather than wait.
		select {
		case w.sem <- struct{}{}:
			return nil
		default:
		}
		if err := w.Err(); err != nil {
			return err
		}
		return ErrStreamClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (w *GroupStreamWriter) release() { <-w.sem }

// closedLocked returns the error of a Write on a stream that is ending or
// has ended, or nil. w.mu must be held.
func (w *GroupStreamWriter) closedLocked() error {
	if w.ended && w.err != nil {
		return w.err
	}
	if w.ended || w.endFrame != nil {
		return ErrStreamClosed
	}
	return nil
}

func (w *GroupStreamWriter) kick() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// notifyLocked wakes every waiter of w.changed. w.mu must be held.
func (w *GroupStreamWriter) notifyLocked() {
	close(w.changed)
	w.changed = make(chan struct{})
}

// loop writes the stream's frames in order: fragments from sendPos, then
// the streamEnd, and keepalives when the stream has been silent. On a new
// transport (a recovery) it sends again from the oldest unacknowledged
// fragment, and the streamEnd if no streamClosed came. It ends with the
// stream or the run.
func (w *GroupStreamWriter) loop() {
	r := w.r
	defer r.wg.Done()
	clk := r.c.clock
	// The keep-alive timer is armed once and re-armed only when it fires
	// (for the rest of the silence) or after a keepalive.
	ka := clk.NewTimer(w.keepAliveEvery)
	defer ka.Stop()
	var failed *transport // the transport a write failed on
	keepAliveDue := false
	for {
		r.c.mu.Lock()
		t, ready := r.tr, r.ready
		r.c.mu.Unlock()
		if t == nil || t == failed {
			var wait <-chan struct{}
			if t == nil {
				wait = ready
			}
			select {
			case <-wait:
			case <-w.wake:
			case <-w.done:
				return
			case <-r.ctx.Done():
				return
			}
			continue
		}
		w.mu.Lock()
		if w.ended {
			w.mu.Unlock()
			return
		}
		if t != w.tr {
			// A recovered connection: the service keeps the stream, but what
			// was in flight may be lost.
			w.tr = t
			w.sendPos = w.oldest
			w.rewound = 0
			w.endSent = false
		}
		var frame []byte
		var seq uint64
		isEnd, isKeepAlive := false, false
		switch {
		case w.sendPos < w.next:
			frame, seq = w.frames[w.sendPos-w.oldest], w.sendPos
		case w.endFrame != nil && !w.endSent:
			frame, isEnd = w.endFrame, true
		case keepAliveDue:
			keepAliveDue = false
			if since := clk.Now().Sub(w.lastSend); since >= w.keepAliveEvery {
				frame, isKeepAlive = w.keepAliveFrame, true
			} else {
				ka.Reset(w.keepAliveEvery - since)
			}
		}
		w.mu.Unlock()
		if frame == nil {
			select {
			case <-w.wake:
			case <-ka.C():
				keepAliveDue = true
			case <-w.done:
				return
			case <-r.ctx.Done():
				return
			}
			continue
		}
		if err := r.write(t, frame); err != nil {
			failed = t
			keepAliveDue = keepAliveDue || isKeepAlive // try again on the next transport
			continue
		}
		if isKeepAlive {
			ka.Reset(w.keepAliveEvery)
		}
		w.mu.Lock()
		w.lastSend = clk.Now()
		if seq != 0 {
			if w.sendPos == seq {
				w.sendPos++
			}
			if seq > w.written {
				w.written = seq
				w.notifyLocked()
			}
		}
		if isEnd && w.tr == t {
			w.endSent, w.endEver = true, true
		}
		w.mu.Unlock()
	}
}

// handleAck applies a streamAck (or the position of a streamNack, when
// nack is set): the fragments below expected are accepted.
func (w *GroupStreamWriter) handleAck(t *transport, expected uint64, nack bool) {
	w.mu.Lock()
	if w.ended {
		w.mu.Unlock()
		return
	}
	if !w.isStart {
		if expected == 1 && !nack {
			w.isStart = true
			close(w.started)
			w.mu.Unlock()
			return
		}
		w.mu.Unlock()
		w.violation(t, "the service acknowledged position "+strconv.FormatUint(expected, 10)+" before the start of the stream")
		return
	}
	if expected < w.oldest || expected > w.next {
		msg := "the service acknowledged position " + strconv.FormatUint(expected, 10) + " outside the unacknowledged range " +
			strconv.FormatUint(w.oldest, 10) + "–" + strconv.FormatUint(w.next, 10)
		w.mu.Unlock()
		w.violation(t, msg)
		return
	}
	if n := int(expected - w.oldest); n > 0 {
		for i := range n {
			w.bytes -= len(w.frames[i])
			w.frames[i] = nil
		}
		w.frames = w.frames[n:]
		if len(w.frames) == 0 {
			w.frames = nil // do not keep a burst's backing array
		}
		w.oldest = expected
		if w.sendPos < w.oldest {
			w.sendPos = w.oldest
		}
		w.notifyLocked()
	}
	if nack && w.sendPos > expected && w.rewound != expected {
		w.sendPos = expected
		w.rewound = expected
		w.mu.Unlock()
		w.kick()
		return
	}
	w.mu.Unlock()
}

// violation fails the stream after an acknowledgement that makes no
// sense, and ends it on the service's side with an error.
func (w *GroupStreamWriter) violation(t *transport, msg string) {
	r := w.r
	r.c.cfg.log.Warn("webpubsubclient: ending a stream after an invalid acknowledgement", "streamId", w.id, "reason", msg)
	w.finish(&StreamError{Group: w.group, StreamID: w.id, Name: ErrorNameProtocolViolation, Message: msg})
	_ = r.write(t, w.streamEnd(&protocol.ErrorDetail{Message: msg, UserErrorCode: ErrorNameProtocolViolation})) // best effort; called on the reader, which may write small frames
}

// handleClosed applies a streamClosed. A StreamNotFound answer after a
// streamEnd was sent means the service closed the stream and its answer
// was lost (in a recovery): a normal close.
func (w *GroupStreamWriter) handleClosed(detail *protocol.ErrorDetail) {
	w.mu.Lock()
	endEver := w.endEver
	w.mu.Unlock()
	if detail == nil || (detail.Name == ErrorNameStreamNotFound && endEver) {
		w.finish(nil)
		return
	}
	w.finish(&StreamError{Group: w.group, StreamID: w.id, Name: detail.Name, Message: detail.Message})
}

// transportLost is called when t is detached: a stream whose start was
// sent on t and not yet acknowledged fails; the others wait for the next
// transport.
func (w *GroupStreamWriter) transportLost(t *transport) {
	w.mu.Lock()
	lost := !w.isStart && w.startTr == t
	w.mu.Unlock()
	if lost {
		if w.r.ctx.Err() != nil {
			w.finish(ErrStopped)
		} else {
			w.finish(ErrStreamConnectionLost)
		}
		return
	}
	w.kick()
}

// finish ends the stream with err (nil: a normal close), once, and
// removes it from the run.
func (w *GroupStreamWriter) finish(err error) {
	// Free the id first, so that it may be used again as soon as the end
	// is observed.
	r := w.r
	r.c.mu.Lock()
	if r.writers[w.id] == w {
		delete(r.writers, w.id)
	}
	r.c.mu.Unlock()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ended {
		return
	}
	w.ended = true
	w.err = err
	w.frames, w.bytes = nil, 0
	close(w.done)
	w.notifyLocked()
}

// handleStreamFrame routes a streamAck, streamNack or streamClosed to its
// writer; frames about a stream this client does not know are ignored.
func (r *run) handleStreamFrame(t *transport, f *protocol.ServiceFrame) {
	r.c.mu.Lock()
	w := r.writers[f.StreamID]
	r.c.mu.Unlock()
	if w == nil {
		return
	}
	switch f.Type {
	case protocol.TypeStreamAck:
		w.handleAck(t, f.ExpectedSequenceID, false)
	case protocol.TypeStreamNack:
		r.c.cfg.log.Debug("webpubsubclient: stream fragment refused", "streamId", f.StreamID, "name", f.Name, "expected", f.ExpectedSequenceID)
		w.handleAck(t, f.ExpectedSequenceID, true)
	case protocol.TypeStreamClosed:
		w.handleClosed(f.Error)
	}
}

// writersLocked returns the open writers. c.mu must be held.
func (r *run) writersLocked() []*GroupStreamWriter {
	ws := make([]*GroupStreamWriter, 0, len(r.writers))
	for _, w := range r.writers {
		ws = append(ws, w)
	}
	return ws
}
