package webpubsubclient

import (
	"context"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/gowebpubsub/webpubsub/internal/protocol"
)

// DefaultGroupStreamIdleTimeout is the default of
// OnGroupStreamOptions.IdleTimeout: five minutes.
const DefaultGroupStreamIdleTimeout = 5 * time.Minute

// OnGroupStreamOptions are the optional parameters of OnGroupStream.
type OnGroupStreamOptions struct {
	// Groups limits the streams to those of these groups; nil or empty
	// means every group the connection receives.
	Groups []string
	// FromStart ignores a stream whose first fragment observed is not its
	// first (position 1), for example one that started before this
	// connection joined the group.
	FromStart bool
	// IdleTimeout ends a stream, with a *StreamError named IdleTimeout,
	// when no fragment of it arrives for that long, on the client's clock.
	// Zero means DefaultGroupStreamIdleTimeout; it must not be negative.
	IdleTimeout time.Duration
}

// GroupStream is one inbound group stream, identified by its group and
// stream id, read in order with Next. It is safe for concurrent use.
//
// Fragments are queued as they arrive, without limit, and never block the
// connection: a reader that falls behind costs memory.
type GroupStream struct {
	group, id string
	fromUser  string

	mu      sync.Mutex
	queue   []GroupMessage
	end     error // io.EOF or the error the stream ended with; nil while open
	changed chan struct{}
	done    chan struct{}
}

// Group returns the stream's group.
func (s *GroupStream) Group() string { return s.group }

// StreamID returns the stream's id.
func (s *GroupStream) StreamID() string { return s.id }

// FromUserID returns the publisher's user id as the first fragment
// observed gave it; "" for an anonymous publisher.
func (s *GroupStream) FromUserID() string { return s.fromUser }

// Done returns a channel that is closed when the stream has ended (the
// fragments already queued can still be read with Next).
func (s *GroupStream) Done() <-chan struct{} { return s.done }

// Next returns the stream's next fragment, in order, waiting for one if
// needed. Each fragment is a GroupMessage whose Stream is set; the caller
// owns its Data. After the last fragment Next returns io.EOF when the
// stream ended normally, and otherwise the error it ended with: a
// *StreamError (the publisher's UserError, the service's IdleTimeout,
// Forbidden, BadRequest or Cancelled, a gap or duplicate detected by the
// client as InvalidSequenceId, or the client's own IdleTimeout),
// ErrStreamConnectionLost when a new connection replaced the one that
// carried it, ErrStopped when the client stopped, or ErrStreamClosed when
// the OnGroupStream registration was removed. It returns ctx.Err() when
// ctx ends first.
func (s *GroupStream) Next(ctx context.Context) (GroupMessage, error) {
	for {
		s.mu.Lock()
		if len(s.queue) > 0 {
			m := s.queue[0]
			s.queue[0] = GroupMessage{}
			s.queue = s.queue[1:]
			if len(s.queue) == 0 {
				s.queue = nil
			}
			s.mu.Unlock()
			return m, nil
		}
		if s.end != nil {
			err := s.end
			s.mu.Unlock()
			return GroupMessage{}, err
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return GroupMessage{}, ctx.Err()
		}
	}
}

func (s *GroupStream) push(m GroupMessage) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.end != nil {
		return
	}
	s.queue = append(s.queue, m)
	close(s.changed)
	s.changed = make(chan struct{})
}

// finish ends the stream with err (io.EOF for a normal end), once.
func (s *GroupStream) finish(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.end != nil {
		return
	}
	s.end = err
	close(s.done)
	close(s.changed)
	s.changed = make(chan struct{})
}

// OnGroupStream registers h for inbound group streams and returns a
// function that removes the registration (ending its open streams with
// ErrStreamClosed). h is called once per stream of a group the connection
// receives, when the client observes the stream's first fragment (or its
// end, for a stream that ended before any fragment arrived), on a
// goroutine of its own: h may read the stream to its end. Each
// registration tracks its streams separately, so two registrations get two
// GroupStream values for the same stream. A nil options means every group,
// streams joined midway included, and DefaultGroupStreamIdleTimeout.
//
// Stream fragments still reach OnGroupMessage handlers, with
// GroupMessage.Stream set. When a connection ends for good, its open
// inbound streams end with ErrStreamConnectionLost (ErrStopped on Stop);
// a reliable recovery keeps them. A nil h registers nothing. A negative
// IdleTimeout is treated as zero.
func (c *Client) OnGroupStream(h func(*GroupStream), options *OnGroupStreamOptions) (remove func()) {
	if h == nil {
		return func() {}
	}
	var o OnGroupStreamOptions
	if options != nil {
		o = *options
	}
	sub := &streamSub{h: h, fromStart: o.FromStart, idle: o.IdleTimeout,
		active: map[streamKey]*inbound{}, ignored: map[streamKey]bool{}}
	if sub.idle <= 0 {
		sub.idle = DefaultGroupStreamIdleTimeout
	}
	if len(o.Groups) > 0 {
		sub.groups = map[string]bool{}
		for _, g := range o.Groups {
			sub.groups[g] = true
		}
	}
	drop := addHandler(&c.handlers, &c.handlers.streams, func(ev streamEvent) {
		if ev.end != nil {
			sub.endAll(ev.end, false)
		} else {
			sub.handle(ev.r, ev.m)
		}
	})
	var once sync.Once
	return func() {
		once.Do(func() {
			drop()
			sub.endAll(ErrStreamClosed, true)
		})
	}
}

// streamEvent is what a registration is given: a group message with
// stream metadata of run r, or, when end is not nil, the end of the
// connection that carried its open streams.
type streamEvent struct {
	r   *run
	m   GroupMessage
	end error
}

// routeStream hands a group message with stream metadata to every
// OnGroupStream registration. It runs on the reader and never blocks.
func (h *handlerSet) routeStream(r *run, m GroupMessage) { h.dispatchStream(streamEvent{r: r, m: m}) }

// endStreams ends the open inbound streams of every registration with
// err, for the end of a connection.
func (h *handlerSet) endStreams(err error) { h.dispatchStream(streamEvent{end: err}) }

func (h *handlerSet) dispatchStream(ev streamEvent) {
	h.mu.RLock()
	subs := h.streams
	h.mu.RUnlock()
	for _, e := range subs {
		e.fn(ev)
	}
}

type streamKey struct{ group, id string }

// inbound is an open stream of a registration.
type inbound struct {
	s    *GroupStream
	next uint64 // the position expected next
	last time.Time
}

// streamSub is one OnGroupStream registration.
type streamSub struct {
	h         func(*GroupStream)
	groups    map[string]bool // nil: all
	fromStart bool
	idle      time.Duration

	mu      sync.Mutex
	removed bool
	active  map[streamKey]*inbound
	ignored map[streamKey]bool // streams skipped until their end
}

// handle places m in its stream.
func (sub *streamSub) handle(r *run, m GroupMessage) {
	info := m.Stream
	if sub.groups != nil && !sub.groups[m.Group] {
		return
	}
	key := streamKey{m.Group, info.StreamID}
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if sub.removed {
		return
	}
	if sub.ignored[key] {
		if info.EndOfStream {
			delete(sub.ignored, key)
		}
		return
	}
	st := sub.active[key]
	if st == nil {
		if sub.fromStart && info.StreamSequenceID != 1 {
			if !info.EndOfStream {
				sub.ignored[key] = true
			}
			return
		}
		st = &inbound{next: info.StreamSequenceID,
			s: &GroupStream{group: m.Group, id: info.StreamID, fromUser: m.FromUserID, changed: make(chan struct{}), done: make(chan struct{})}}
		sub.active[key] = st
		r.c.mu.Lock()
		watch := !r.stopping
		if watch {
			r.wg.Add(1)
		}
		r.c.mu.Unlock()
		if watch {
			go sub.watch(r, key, st)
		}
		go sub.h(st.s)
	}
	st.last = r.c.clock.Now()
	if info.EndOfStream {
		delete(sub.active, key)
		switch {
		case info.StreamSequenceID != st.next:
			st.s.finish(sub.sequenceError(m, st.next, "the end of the stream"))
		case info.Error != nil:
			st.s.finish(info.Error)
		default:
			st.s.finish(io.EOF)
		}
		return
	}
	if info.StreamSequenceID != st.next {
		delete(sub.active, key)
		sub.ignored[key] = true
		st.s.finish(sub.sequenceError(m, st.next, "fragment "+strconv.FormatUint(info.StreamSequenceID, 10)))
		return
	}
	st.next++
	m.Data = append([]byte(nil), m.Data...) // each reader owns its data
	st.s.push(m)
}

// sequenceError describes a gap or a duplicate the client detected.
func (sub *streamSub) sequenceError(m GroupMessage, want uint64, got string) *StreamError {
	kind := "a gap"
	if m.Stream.StreamSequenceID < want {
		kind = "a duplicate"
	}
	return &StreamError{Group: m.Group, StreamID: m.Stream.StreamID, Name: ErrorNameInvalidSequenceID,
		Message: "expected fragment " + strconv.FormatUint(want, 10) + ", got " + got + " (" + kind + ")"}
}

// watch ends st when no fragment arrives within the idle timeout, on the
// client's clock.
func (sub *streamSub) watch(r *run, key streamKey, st *inbound) {
	defer r.wg.Done()
	clk := r.c.clock
	t := clk.NewTimer(sub.idle)
	defer t.Stop()
	for {
		select {
		case <-st.s.done:
			return
		case <-r.ctx.Done():
			return
		case <-t.C():
		}
		sub.mu.Lock()
		if sub.active[key] != st {
			sub.mu.Unlock()
			return
		}
		if rest := sub.idle - clk.Now().Sub(st.last); rest > 0 {
			sub.mu.Unlock()
			t.Reset(rest)
			continue
		}
		delete(sub.active, key)
		sub.ignored[key] = true
		sub.mu.Unlock()
		st.s.finish(&StreamError{Group: key.group, StreamID: key.id, Name: ErrorNameIdleTimeout,
			Message: "no fragment arrived within " + sub.idle.String()})
		return
	}
}

// endAll ends every open stream of the registration with err and forgets
// the skipped ones; removed marks the registration as removed.
func (sub *streamSub) endAll(err error, removed bool) {
	sub.mu.Lock()
	if removed {
		sub.removed = true
	}
	active := sub.active
	sub.active = map[streamKey]*inbound{}
	sub.ignored = map[streamKey]bool{}
	sub.mu.Unlock()
	for _, st := range active {
		st.s.finish(err)
	}
}

// newStreamInfo converts the stream metadata of a group message.
func newStreamInfo(group string, s *protocol.StreamInfo) *StreamInfo {
	info := &StreamInfo{StreamID: s.StreamID, StreamSequenceID: s.StreamSequenceID, EndOfStream: s.EndOfStream}
	if e := s.Error; e != nil {
		info.Error = &StreamError{Group: group, StreamID: s.StreamID, Name: e.Name, Message: e.Message, UserErrorCode: e.UserErrorCode}
	}
	return info
}
