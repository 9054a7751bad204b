package webpubsubclient

import "sync"

type eventKind uint8

const (
	evConnected eventKind = iota + 1
	evDisconnected
	evStopped
	evServerMessage
	evGroupMessage
	evRejoinFailed
	evProtocolError
)

// event is one queued event; only the field of its kind is set. Events are
// queued by value, so queuing does not allocate once the queue has grown.
type event struct {
	kind         eventKind
	connected    ConnectedEvent
	disconnected DisconnectedEvent
	server       ServerMessage
	group        GroupMessage
	rejoin       RejoinGroupFailedEvent
	protoErr     ProtocolErrorEvent
}

// dispatcher delivers the events of one run on a goroutine of its own, in
// the order they were pushed, one at a time. Pushing never blocks: the
// queue is unbounded, so a slow handler costs memory, never a stalled
// connection. A dispatcher first waits for the previous run's dispatcher
// to finish, so events of successive runs never interleave.
type dispatcher struct {
	c    *Client
	prev <-chan struct{} // done of the previous run's dispatcher, or nil

	mu     sync.Mutex
	queue  []event
	closed bool
	wake   chan struct{}
	done   chan struct{}
}

func newDispatcher(c *Client, prev <-chan struct{}) *dispatcher {
	return &dispatcher{c: c, prev: prev, wake: make(chan struct{}, 1), done: make(chan struct{})}
}

// push queues e. After close, push drops e.
func (d *dispatcher) push(e event) {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	d.queue = append(d.queue, e)
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// close makes loop return once the queue is empty.
func (d *dispatcher) close() {
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// loop delivers events until close and an empty queue; then it closes done.
func (d *dispatcher) loop() {
	defer close(d.done)
	if d.prev != nil {
		<-d.prev
	}
	var batch []event
	for {
		d.mu.Lock()
		batch, d.queue = d.queue, batch[:0]
		closed := d.closed
		d.mu.Unlock()
		if len(batch) == 0 {
			if closed {
				return
			}
			<-d.wake
			continue
		}
		for i := range batch {
			d.c.handlers.deliver(&batch[i])
			batch[i] = event{} // let the payload be collected
		}
		if cap(batch) > 4096 {
			batch = nil // do not keep a burst's memory
		}
	}
}

// handlerEntry is one registered handler.
type handlerEntry[T any] struct {
	id uint64
	fn func(T)
}

// handlerSet holds the registered handlers. Each list is copied on write,
// so delivery reads a snapshot without holding the lock while calling.
type handlerSet struct {
	mu     sync.RWMutex
	nextID uint64
	handlerLists
}

// handlerLists is one list of handlers per kind of event. Copying it
// copies the slice headers only: a snapshot of every list.
type handlerLists struct {
	connected    []handlerEntry[ConnectedEvent]
	disconnected []handlerEntry[DisconnectedEvent]
	stopped      []handlerEntry[StoppedEvent]
	server       []handlerEntry[ServerMessage]
	group        []handlerEntry[GroupMessage]
	rejoin       []handlerEntry[RejoinGroupFailedEvent]
	protoErr     []handlerEntry[ProtocolErrorEvent]
	// streams are the OnGroupStream registrations; they are called on
	// the reader, not by the dispatcher (see routeStream).
	streams []handlerEntry[streamEvent]
}

// addHandler registers fn in *list and returns the function that removes
// it. A nil fn registers nothing.
func addHandler[T any](h *handlerSet, list *[]handlerEntry[T], fn func(T)) (remove func()) {
	if fn == nil {
		return func() {}
	}
	h.mu.Lock()
	h.nextID++
	id := h.nextID
	next := make([]handlerEntry[T], len(*list), len(*list)+1)
	copy(next, *list)
	*list = append(next, handlerEntry[T]{id: id, fn: fn})
	h.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			h.mu.Lock()
			defer h.mu.Unlock()
			next := make([]handlerEntry[T], 0, len(*list))
			for _, e := range *list {
				if e.id != id {
					next = append(next, e)
				}
			}
			*list = next
		})
	}
}

func call[T any](list []handlerEntry[T], v T) {
	for _, e := range list {
		e.fn(v)
	}
}

// deliver calls the handlers of e's kind, in registration order.
func (h *handlerSet) deliver(e *event) {
	h.mu.RLock()
	l := h.handlerLists
	h.mu.RUnlock()
	switch e.kind {
	case evConnected:
		call(l.connected, e.connected)
	case evDisconnected:
		call(l.disconnected, e.disconnected)
	case evStopped:
		call(l.stopped, StoppedEvent{})
	case evServerMessage:
		call(l.server, e.server)
	case evGroupMessage:
		call(l.group, e.group)
	case evRejoinFailed:
		call(l.rejoin, e.rejoin)
	case evProtocolError:
		call(l.protoErr, e.protoErr)
	}
}
