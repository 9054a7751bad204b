package emulator

import (
	"bytes"
	"context"
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
	// kindPubSub speaks json.webpubsub.azure.v1 or, when conn.reliable is
	// set, json.reliable.webpubsub.azure.v1.
	kindPubSub
)

// phase is the life-cycle phase of a logical connection.
type phase uint8

const (
	// phaseActive: a transport is attached.
	phaseActive phase = iota
	// phaseDetached: a reliable connection whose transport dropped
	// abnormally; it waits for a recovery.
	phaseDetached
	// phaseEnded: the connection is gone for good.
	phaseEnded
)

// Outbound queue limits. A connection whose queue
// would exceed either limit is closed with 1008: a slow reader never holds
// up a send, and never makes the emulator buffer without bound. On a
// reliable connection the limits apply to the frames that are not
// messages (acks, pongs); messages count against the reliable buffer.
const (
	maxQueueMessages = 1000
	maxQueueBytes    = 16 << 20
)

// Reliable buffer limits: at most 1,000
// unacknowledged messages and 16 MiB of encoded frames.
const (
	maxBufferMessages = 1000
	maxBufferBytes    = 16 << 20
)

// DefaultReliableRetention is how long a reliable connection whose
// transport dropped abnormally is kept for a recovery.
const DefaultReliableRetention = 30 * time.Second

// closeHandshakeTimeout is how long the emulator waits for the client's
// close frame after sending its own, before dropping TCP.
const closeHandshakeTimeout = time.Second

// Defaults of the timings in Options.
const (
	// DefaultCloseTimeout bounds the close procedure of a connection when
	// Options.CloseTimeout is zero.
	DefaultCloseTimeout = 5 * time.Second
	// DefaultPingInterval is the outbound silence after which a Ping is
	// sent when Options.PingInterval is zero.
	DefaultPingInterval = 30 * time.Second
	// DefaultIdleTimeout is the inbound silence after which a connection
	// counts as dropped when Options.IdleTimeout is zero.
	DefaultIdleTimeout = 120 * time.Second
)

// Close reasons.
const (
	reasonDefaultClose    = "Closed by the application server."
	reasonInvalidMessage  = "The client message is not a valid JSON protocol message."
	reasonBinaryOnJSON    = "The JSON subprotocol requires text messages."
	reasonTooLarge        = "The client message is too large."
	reasonQueueFull       = "The outbound message queue is full."
	reasonBufferFull      = "The reliable message buffer is full."
	reasonShutdown        = "The emulator is shutting down."
	reasonNotRecoverable  = "The connection could not be recovered."
	reasonRecoveryExpired = "The connection recovery timeout expired."
	reasonHandlerFailed   = "The event handler failed."
	reasonEnded           = "The connection ended."
	reasonEndedAbruptly   = "The connection ended unexpectedly."
)

// outFrame is one queued WebSocket message. data is shared between the
// recipients of a fan-out and must never be modified.
type outFrame struct {
	typ  websocket.MessageType
	data []byte
	// sequenced marks a message of a reliable connection: it is held by
	// the reliable buffer and does not count against the queue limits.
	sequenced bool
}

// buffered is one unacknowledged message of a reliable connection.
type buffered struct {
	seq  uint64
	data []byte // the frame, with its sequenceId
	// deadline is when the message's TTL runs out, in Unix nanoseconds
	// of the emulator's clock; 0 means never.
	deadline int64
}

// conn is one logical client connection: its identity, groups,
// permissions, connection state and, for the reliable subprotocol, its
// sequence counter and unacknowledged messages. It outlives its transport
// when it is reliable: a dropped transport leaves it detached until a
// recovery attaches a new one or the retention ends.
//
// Lock order: hub.mu, then conn.mu, then transport.qmu. conn.proc is taken
// before any of them, by the goroutine that processes client frames.
type conn struct {
	e           *Emulator
	hubName     string // canonical
	hub         *hub   // set when registered
	id          string
	userID      string // "" = anonymous
	kind        connKind
	reliable    bool
	subprotocol string
	// reconnectionToken is the reliable protocol's recovery credential.
	reconnectionToken string
	// origin is the WebHook-Request-Origin of upstream calls.
	origin string
	// handlers are the event handlers of the connection's hub.
	handlers []*eventHandler

	// groups is the connection's membership; guarded by hub.mu.
	groups map[string]struct{}
	// roles are the roles granted at connect; connectedAt is when the
	// connection was registered. Both are set before it is registered.
	roles       []string
	connectedAt time.Time

	permMu sync.Mutex
	perms  [numPermissions]permSet

	// proc serialises the processing of client frames across the
	// connection's transports and guards acks.
	proc sync.Mutex
	acks ackSet

	mu         sync.Mutex
	ph         phase
	tr         *transport // nil when detached or ended
	seq        uint64     // last sequenceId assigned
	buf        []buffered // unacknowledged messages, ascending seq
	bufBytes   int
	detachGen  uint64      // counts detaches, so a stale retention timer does nothing
	stopDetach func() bool // stops the retention timer; nil when none runs
	detachEnd  time.Time   // end of the retention, on the emulator's clock
	state      string      // the connection state (ce-connectionState)
	// lastNonBlocking is closed when the connection's most recently
	// dispatched non-blocking upstream event is done; nil when there was
	// none.
	lastNonBlocking chan struct{}
	// upstream is set once the connection was accepted, so that exactly
	// one disconnected event follows.
	upstream bool
	// ackFaults are the injected faults of the next acks, in order.
	ackFaults []ackFault
	// refuseRecovery makes the next recovery request fail.
	refuseRecovery bool

	// life is canceled when the connection ends; upstream calls made for
	// it use it.
	life    context.Context
	endLife context.CancelFunc
	// nextEventID is the ce-id of the next upstream event (connect is 0).
	nextEventID atomic.Uint64
	endOnce     sync.Once
}

func newConn(e *Emulator, hubName, id, userID string, kind connKind, subprotocol string) *conn {
	life, endLife := context.WithCancel(e.upstreamCtx)
	c := &conn{
		e: e, hubName: hubName, id: id, userID: userID, kind: kind, subprotocol: subprotocol,
		life: life, endLife: endLife,
	}
	c.nextEventID.Store(1)
	return c
}

// send queues a frame that is not a message (ack, pong, system) on the
// current transport. It reports false when the queue is full. Without a
// transport (detached or ended) the frame is dropped.
func (c *conn) send(f outFrame) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tr == nil {
		return true
	}
	return c.tr.enqueue(f)
}

// reply queues one service frame for a PubSub connection, ending the
// connection when its queue is full. It must not be called with the hub
// lock held.
func (c *conn) reply(f *protocol.ServiceFrame) {
	if !c.send(outFrame{typ: websocket.MessageText, data: f.AppendJSON(nil)}) {
		c.terminate(websocket.StatusPolicyViolation, reasonQueueFull, true)
	}
}

// endLocked removes c from its hub and closes its transport, if any, with
// code and reason, after the frames already queued (or instead of them
// when dropQueue is true); a PubSub client first gets a disconnected
// frame. It returns false when c had already left the hub. The caller
// holds the hub lock for writing.
func (c *conn) endLocked(code websocket.StatusCode, reason string, dropQueue bool) bool {
	if !c.hub.removeLocked(c) {
		return false
	}
	c.finish(&closeRequest{code: code, reason: reason, notify: c.kind == kindPubSub}, dropQueue)
	return true
}

// finish ends the logical connection after it left its hub: the reliable
// buffer and the retention timer go, the transport is closed per req, and
// the upstream disconnected event is dispatched.
func (c *conn) finish(req *closeRequest, dropQueue bool) {
	c.mu.Lock()
	c.ph = phaseEnded
	tr := c.tr
	c.tr = nil
	c.buf, c.bufBytes = nil, 0
	if c.stopDetach != nil {
		c.stopDetach()
		c.stopDetach = nil
	}
	c.mu.Unlock()
	if tr != nil {
		if req.peerGone {
			tr.drop(req.reason)
		} else {
			tr.request(req, dropQueue)
		}
	}
	c.ended(req.reason)
}

// terminate is endLocked for callers that do not hold the hub lock.
func (c *conn) terminate(code websocket.StatusCode, reason string, dropQueue bool) {
	c.hub.mu.Lock()
	removed := c.hub.removeLocked(c)
	c.hub.mu.Unlock()
	if removed {
		c.finish(&closeRequest{code: code, reason: reason, notify: c.kind == kindPubSub}, dropQueue)
	}
}

// endByPeer ends the connection for good after its client closed tr or
// tr broke: no frame is sent.
func (c *conn) endByPeer(tr *transport, reason string) {
	c.hub.mu.Lock()
	c.mu.Lock()
	current := c.tr == tr
	c.mu.Unlock()
	removed := current && c.hub.removeLocked(c)
	c.hub.mu.Unlock()
	if removed {
		c.finish(&closeRequest{peerGone: true, reason: reason}, true)
		return
	}
	tr.drop(reason)
}

// ended runs once per connection when it leaves its hub for good: it
// cancels the connection's upstream calls and dispatches the upstream
// disconnected event.
func (c *conn) ended(reason string) {
	c.endOnce.Do(func() {
		c.endLife()
		c.e.log.Debug("connection ended", "hub", c.hubName, "connectionId", c.id, "reason", reason)
		c.e.event(ConnectionDisconnected, c, reason)
		c.mu.Lock()
		accepted := c.upstream
		c.mu.Unlock()
		if accepted {
			c.disconnectedUpstream(reason)
		}
	})
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
// the most recent ackRetention of them.
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
