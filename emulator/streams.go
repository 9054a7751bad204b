package emulator

import (
	"bytes"
	"fmt"
	"maps"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/gowebpubsub/webpubsub/emulator/internal/core"
	"github.com/gowebpubsub/webpubsub/internal/protocol"
)

// streamAckEvery is how many accepted fragments one streamAck may cover:
// the emulator batches stream acknowledgements, as the service may; a
// keepalive acknowledges at once what is unacknowledged, and a duplicate
// or a gap is answered with the stream's position.
const streamAckEvery = 8

// maxStreamIdle bounds a stream's idle timeout, so that a huge
// idleTimeoutMs cannot overflow a time.Duration.
const maxStreamIdle = time.Duration(math.MaxInt64)

// groupStream is one open outbound stream of a connection: a group, the
// next fragment position it expects, and its idle timer. The streams of
// a connection live as long as the connection, across reliable
// recoveries; their state is guarded by the connection's proc lock,
// which also orders their messages.
type groupStream struct {
	id     string
	group  string
	noEcho bool
	// next is the streamSequenceId the stream expects; acked is the
	// expectedSequenceId of the last streamAck sent.
	next, acked uint64
	idle        time.Duration
	// last is the time of the stream's last accepted activity.
	last time.Time
	// stop cancels the idle timer.
	stop func() bool
}

// streamStart opens a group stream: a sendToGroup with stream metadata.
// The start is refused with streamClosed (BadRequest for an invalid start
// or an id already open on the connection, Forbidden without the
// send-to-group permission, InternalServerError once Close has begun);
// an open stream stays open when a second start names it. An ackId on
// the start is answered as well, with the same outcome.
func (c *conn) streamStart(f *protocol.ClientFrame) {
	// Counted before the shutdown check, so that failStreams, which reads
	// the count after the shutdown began, either sees this stream or the
	// start sees the shutdown.
	c.openStreams.Add(1)
	name, msg := c.checkStreamStart(f)
	if name != "" {
		c.openStreams.Add(-1)
		c.streamClosed(f.StreamID, name, msg)
		if f.HasAckID {
			c.ackError(f.AckID, name, msg)
		}
		return
	}
	idle := time.Duration(protocol.DefaultStreamIdleTimeoutMs) * time.Millisecond
	if f.HasIdleTimeout {
		idle = maxStreamIdle
		if f.IdleTimeoutMs < uint64(maxStreamIdle/time.Millisecond) {
			idle = time.Duration(f.IdleTimeoutMs) * time.Millisecond
		}
	}
	s := &groupStream{id: f.StreamID, group: f.Group, noEcho: f.NoEcho, next: 1, acked: 1, idle: idle, last: c.e.clock.Now()}
	if c.streams == nil {
		c.streams = map[string]*groupStream{}
	}
	c.streams[s.id] = s
	c.armStreamTimer(s, idle)
	c.streamAck(s)
	if f.HasAckID {
		c.reply(&protocol.ServiceFrame{Type: protocol.TypeAck, AckID: f.AckID, Success: true})
	}
}

// checkStreamStart returns the error name and message that refuse a
// stream start, or "" when it may open.
func (c *conn) checkStreamStart(f *protocol.ClientFrame) (string, string) {
	if err := f.Validate(); err != nil {
		return protocol.ErrorNameBadRequest, streamBadRequest(f, err)
	}
	if !c.Allowed(core.PermSendToGroup, f.Group) {
		return protocol.ErrorNameForbidden, sendForbidden(f.Group)
	}
	if _, open := c.streams[f.StreamID]; open {
		return protocol.ErrorNameBadRequest, fmt.Sprintf("The stream '%s' is already open on this connection.", f.StreamID)
	}
	if c.e.shuttingDown() {
		return protocol.ErrorNameInternalServerError, reasonShutdown
	}
	return "", ""
}

// streamData handles a fragment or a keepalive of an open stream. A
// fragment at the expected position is published to the stream's group;
// one below it is a duplicate, acknowledged and not published again; one
// above it is refused with streamNack InvalidSequenceId. An invalid
// fragment, or one sent after the send permission was revoked, closes
// the stream. Only an accepted fragment or a keepalive is activity that
// defers the idle timeout; a duplicate or a gap is not.
func (c *conn) streamData(f *protocol.ClientFrame) {
	s := c.openStream(f)
	if s == nil {
		return
	}
	if !c.Allowed(core.PermSendToGroup, s.group) {
		c.closeStream(s, protocol.ErrorNameForbidden, sendForbidden(s.group), true)
		return
	}
	switch {
	case !f.HasStreamSequenceID: // keepalive
		s.last = c.e.clock.Now()
		c.flushStreamAck(s)
	case f.StreamSequenceID == s.next:
		s.last = c.e.clock.Now()
		m := newMessage(s.group, c.UserID, f.DataType, bytes.Clone(f.Data)) // f's data is a pooled read buffer
		m.Stream = &core.StreamPosition{ID: s.id, Sequence: s.next}
		c.publishStream(s, m)
		s.next++
		if s.next-s.acked >= streamAckEvery {
			c.flushStreamAck(s)
		}
	case f.StreamSequenceID < s.next:
		c.streamAck(s) // a duplicate: the client learns where the stream stands
	default:
		// A gap. The nack's expectedSequenceId acknowledges what came
		// before it, as a streamAck would.
		s.acked = s.next
		c.reply(&protocol.ServiceFrame{Type: protocol.TypeStreamNack, StreamID: s.id, Name: protocol.StreamErrorInvalidSequenceID,
			Message:            fmt.Sprintf("Expected streamSequenceId %d, got %d.", s.next, f.StreamSequenceID),
			ExpectedSequenceID: s.next})
	}
}

// streamEnd closes an open stream: the group gets the terminal message
// (with a UserError when the publisher gave an error), the publisher a
// streamClosed without an error.
func (c *conn) streamEnd(f *protocol.ClientFrame) {
	s := c.openStream(f)
	if s == nil {
		return
	}
	end := &core.StreamPosition{ID: s.id, Sequence: s.next, End: true}
	if e := f.StreamError; e != nil {
		end.ErrName, end.ErrMessage, end.ErrCode = protocol.StreamErrorUser, e.Message, e.UserErrorCode
	}
	c.dropStream(s)
	c.publishEnd(s, end)
	c.streamClosed(s.id, "", "")
}

// openStream returns the open stream that a streamData or streamEnd
// names, or nil when it answered the frame itself: with StreamNotFound
// for a stream that is not open, or by closing the stream as BadRequest
// for an invalid frame.
func (c *conn) openStream(f *protocol.ClientFrame) *groupStream {
	s := c.streams[f.StreamID]
	if s == nil {
		c.streamNotFound(f.StreamID)
		return nil
	}
	if err := f.Validate(); err != nil {
		c.closeStream(s, protocol.ErrorNameBadRequest, streamBadRequest(f, err), true)
		return nil
	}
	return s
}

// closeStream ends s on the service's side: its receivers get a terminal
// message with error name, and, when tell is set, the publisher a
// streamClosed with that error.
func (c *conn) closeStream(s *groupStream, name, msg string, tell bool) {
	c.dropStream(s)
	c.publishEnd(s, &core.StreamPosition{ID: s.id, Sequence: s.next, End: true, ErrName: name, ErrMessage: msg})
	if tell {
		c.streamClosed(s.id, name, msg)
	}
}

// dropStream forgets s and stops its idle timer.
func (c *conn) dropStream(s *groupStream) {
	delete(c.streams, s.id)
	c.openStreams.Add(-1)
	if s.stop != nil {
		s.stop()
	}
}

// publishStream fans a stream message out to the stream's group, without
// the publisher when it asked for no echo.
func (c *conn) publishStream(s *groupStream, m *core.Message) {
	var keep func(*core.Conn) bool
	if m.Stream.End {
		// The terminal message has no payload, which is all a simple
		// WebSocket client, a protobuf client (whose schema has no stream
		// fields) or an MQTT client could be given: they get nothing.
		keep = func(r *core.Conn) bool { o := ownerOf(r); return o.kind == kindPubSub && !o.pbuf }
	}
	c.sendToGroup(m, s.noEcho, keep)
}

// publishEnd publishes the terminal message of s: an empty text payload
// with the stream's end position.
func (c *conn) publishEnd(s *groupStream, end *core.StreamPosition) {
	m := newMessage(s.group, c.UserID, protocol.DataTypeText, nil)
	m.Stream = end
	c.publishStream(s, m)
}

// flushStreamAck acknowledges the fragments of s accepted since its last
// streamAck, if any.
func (c *conn) flushStreamAck(s *groupStream) {
	if s.acked != s.next {
		c.streamAck(s)
	}
}

// streamAck tells the publisher the position s expects next.
func (c *conn) streamAck(s *groupStream) {
	s.acked = s.next
	c.reply(&protocol.ServiceFrame{Type: protocol.TypeStreamAck, StreamID: s.id, ExpectedSequenceID: s.next})
}

func (c *conn) streamNotFound(id string) {
	c.streamClosed(id, protocol.StreamErrorNotFound, fmt.Sprintf("The stream '%s' is not open on this connection.", id))
}

// streamClosed tells the publisher that stream id is closed: normally
// when name is "", otherwise with an error.
func (c *conn) streamClosed(id, name, msg string) {
	f := &protocol.ServiceFrame{Type: protocol.TypeStreamClosed, StreamID: id}
	if name != "" {
		f.Error = &protocol.ErrorDetail{Name: name, Message: msg}
	}
	c.reply(f)
}

// armStreamTimer checks s for idleness after d on the emulator's clock.
func (c *conn) armStreamTimer(s *groupStream, d time.Duration) {
	s.stop = c.e.clock.AfterFunc(d, func() {
		if !c.e.track() {
			return
		}
		defer c.e.wg.Done()
		c.proc.Lock()
		defer c.proc.Unlock()
		if c.streams[s.id] != s {
			return // ended meanwhile
		}
		if rest := s.idle - c.e.clock.Now().Sub(s.last); rest > 0 {
			c.armStreamTimer(s, rest)
			return
		}
		c.closeStream(s, protocol.StreamErrorIdleTimeout,
			fmt.Sprintf("The stream saw no activity for %d ms.", s.idle.Milliseconds()), true)
	})
}

// cancelStreams ends the streams of a connection that went away: their
// receivers get a terminal message with error Cancelled.
func (c *conn) cancelStreams() {
	c.e.goTracked(func() {
		c.proc.Lock()
		defer c.proc.Unlock()
		for _, s := range c.streams {
			c.closeStream(s, protocol.StreamErrorCancelled, "The publisher's connection ended.", false)
		}
	})
}

// failStreams ends every open stream of c as the service does when it
// fails: the publisher gets streamClosed InternalServerError with msg,
// the receivers the terminal message with that error. The caller holds
// c.proc.
func (c *conn) failStreams(msg string) {
	for _, id := range slices.Sorted(maps.Keys(c.streams)) {
		c.closeStream(c.streams[id], protocol.ErrorNameInternalServerError, msg, true)
	}
}

// failStreams ends the open streams of every connection with
// InternalServerError, "The emulator is shutting down.", when Close has
// begun and before the connections are told, so that each publisher's
// streamClosed and each receiver's terminal message precede their
// disconnected message. It waits for the frame each such connection is
// processing. Streams started later are refused (see streamStart).
func (e *Emulator) failStreams() {
	var wg sync.WaitGroup
	for _, name := range e.core.HubNames() {
		h := e.hubIfExists(name)
		if h == nil {
			continue
		}
		h.RLock()
		conns := h.ConnsLocked()
		h.RUnlock()
		for _, cc := range conns {
			c := ownerOf(cc)
			if c.openStreams.Load() == 0 {
				continue
			}
			wg.Go(func() {
				c.proc.Lock()
				defer c.proc.Unlock()
				c.failStreams(reasonShutdown)
			})
		}
	}
	wg.Wait()
}

// shuttingDown reports whether Close has begun.
func (e *Emulator) shuttingDown() bool {
	select {
	case <-e.shutdown:
		return true
	default:
		return false
	}
}

// streamBadRequest words a refused stream frame.
func streamBadRequest(f *protocol.ClientFrame, err error) string {
	if f.Type == protocol.TypeSendToGroup {
		if msg := badRequestMessage(f, err); msg != "The request is invalid." {
			return msg
		}
	}
	return "The stream request is invalid: " + err.Error() + "."
}
