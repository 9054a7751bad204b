package emulator

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"

	"github.com/gowebpubsub/webpubsub/emulator/internal/core"
	"github.com/gowebpubsub/webpubsub/internal/cloudevents"
	"github.com/gowebpubsub/webpubsub/internal/protocol"
)

// connKind says how a connection's frames are read and written.
type connKind uint8

const (
	// kindRaw is a "simple" WebSocket client: frames are payloads.
	kindRaw connKind = iota
	// kindPubSub speaks json.webpubsub.azure.v1 or, when the connection
	// is reliable, json.reliable.webpubsub.azure.v1; with conn.pbuf set,
	// protobuf.webpubsub.azure.v1 or protobuf.reliable.webpubsub.azure.v1.
	kindPubSub
	// kindMQTT speaks MQTT 3.1.1 or 5.0 on the MQTT endpoint.
	kindMQTT
)

// Outbound queue limits. A connection whose queue would exceed either
// limit is closed with 1008: a slow reader never holds up a send, and
// never makes the emulator buffer without bound. On a reliable connection
// the limits apply to the frames that are not messages (acks, pongs);
// messages count against the reliable buffer.
const (
	maxQueueMessages = 1000
	maxQueueBytes    = 16 << 20
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
	reasonDefaultClose   = "Closed by the application server."
	reasonInvalidMessage = "The client message is not a valid JSON protocol message."
	reasonBinaryOnJSON   = "The JSON subprotocol requires text messages."
	reasonInvalidProto   = "The client message is not a valid protobuf protocol message."
	reasonTextOnProtobuf = "The protobuf subprotocol requires binary messages."
	reasonTooLarge       = "The client message is too large."
	reasonQueueFull      = core.ReasonQueueFull
	reasonShutdown       = "The emulator is shutting down."
	reasonNotRecoverable = core.ReasonNotRecoverable
	reasonHandlerFailed  = "The event handler failed."
	reasonEnded          = "The connection ended."
	reasonEndedAbruptly  = core.ReasonEndedAbruptly
)

// conn is the client endpoint's side of one logical connection: the core
// connection (identity, groups, permissions, reliable buffer) plus what
// the JSON subprotocols and the upstream calls keep for it.
//
// Lock order: the hub lock, then the core connection's, then conn.mu,
// then transport.qmu. conn.proc is taken before any of them, by the
// goroutine that processes client frames.
type conn struct {
	*core.Conn
	e    *Emulator
	kind connKind
	// mqtt is the MQTT state of a kindMQTT connection, else nil.
	mqtt *mqttSession
	// pbuf marks a PubSub connection of a protobuf subprotocol: binary
	// frames of the pb schema instead of JSON text frames.
	pbuf        bool
	subprotocol string
	// origin is the WebHook-Request-Origin of upstream calls.
	origin string
	// handlers are the event handlers of the connection's hub.
	handlers []*eventHandler

	// proc serialises the processing of client frames across the
	// connection's transports and guards acks.
	proc sync.Mutex
	acks ackSet

	mu    sync.Mutex
	state string // the connection state (ce-connectionState)
	// lastNonBlocking is closed when the connection's most recently
	// dispatched non-blocking upstream event is done; nil when there was
	// none.
	lastNonBlocking chan struct{}
	// upstream is set once the connection was accepted, so that exactly
	// one disconnected event follows.
	upstream bool
	// ackFaults are the injected faults of the next acks, in order.
	ackFaults []ackFault
	// invocations cancels the invocations in flight, by invocationId.
	invocations map[string]context.CancelFunc
	// streams are the connection's open outbound group streams, by
	// streamId; guarded by proc, not mu.
	streams map[string]*groupStream
	// openStreams counts the streams and the starts being checked, so
	// that Close takes proc only on the connections that have streams.
	openStreams atomic.Int32
	// connectedSent is set once the connected event was dispatched;
	// presence events of the initial groups wait in earlyPresence until
	// then, so that they follow it.
	connectedSent bool
	earlyPresence []*upstreamEvent
	presenceTo    []*eventHandler

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
		Conn: e.core.NewConn(hubName, id, userID),
		e:    e, kind: kind, subprotocol: subprotocol,
		life: life, endLife: endLife,
	}
	c.Owner = c
	c.setCodec()
	c.nextEventID.Store(1)
	return c
}

// setCodec picks the codec of the connection's kind.
func (c *conn) setCodec() {
	switch {
	case c.kind == kindRaw:
		c.Codec = rawCodec{}
	case c.kind == kindMQTT && c.mqtt != nil:
		c.Codec = mqttCodec{c.mqtt}
	case c.pbuf:
		c.Codec = protobufCodec{}
	default:
		c.Codec = jsonCodec{}
	}
}

// setSubprotocol applies a negotiated subprotocol's kind, encoding and
// reliability, and picks the codec.
func (c *conn) setSubprotocol(n negotiated) {
	c.kind, c.pbuf, c.Reliable = n.kind, n.pbuf, n.reliable
	c.setCodec()
}

// ownerOf returns the client endpoint's view of a core connection.
func ownerOf(cc *core.Conn) *conn { return cc.Owner.(*conn) }

// reply queues one service frame for a PubSub connection, ending the
// connection when its queue is full. It must not be called with the hub
// lock held.
func (c *conn) reply(f *protocol.ServiceFrame) {
	c.Reply(c.frameOf(f))
}

// frameOf encodes a service frame in the connection's subprotocol: a
// JSON text frame, or a protobuf binary frame. The frames a protobuf
// client can cause all have a protobuf form (acks, messages, connected
// and disconnected); any other is written as an ack failure naming its
// type, so that the client is told rather than left waiting.
func (c *conn) frameOf(f *protocol.ServiceFrame) core.Frame {
	if !c.pbuf {
		return textFrame(f.AppendJSON(nil))
	}
	return protobufFrame(f)
}

// terminate ends the connection with code and reason.
func (c *conn) terminate(code websocket.StatusCode, reason string, dropQueue bool) {
	c.Terminate(core.Ending{Code: int(code), Reason: reason, DropQueue: dropQueue})
}

// OnEnded runs once per connection when it leaves its hub for good: it
// cancels the connection's upstream calls and dispatches the upstream
// disconnected event.
func (c *conn) OnEnded(reason string) {
	c.endOnce.Do(func() {
		c.endLife()
		c.cancelStreams()
		c.e.log.Debug("connection ended", "hub", c.HubName(), "connectionId", c.ID, "reason", c.e.cut(reason))
		c.e.event(ConnectionDisconnected, c, reason)
		if c.mqtt != nil {
			c.mqtt.mqttEnded()
			c.publishWill()
		}
		c.mu.Lock()
		accepted := c.upstream
		c.mu.Unlock()
		if accepted {
			c.disconnectedUpstream(reason)
		}
	})
}

// OnGroup dispatches the group presence event of joining or leaving
// group to the first handler that takes it. It runs with the hub lock
// held; the call itself runs in the background, in order with the
// connection's other non-blocking events.
func (c *conn) OnGroup(group string, joined bool) {
	if c.mqtt != nil {
		c.mqttGroup(group, joined)
	}
	if joined {
		c.e.trace.connection("joined", c.HubName(), c.ID, group)
	} else {
		c.e.trace.connection("left", c.HubName(), c.ID, group)
	}
	for _, h := range c.handlers {
		if !h.matchesPresence(joined, group) {
			continue
		}
		typ, name := cloudevents.TypeGroupLeft, cloudevents.EventGroupLeft
		if joined {
			typ, name = cloudevents.TypeGroupJoined, cloudevents.EventGroupJoined
		}
		g, _ := json.Marshal(group) // a string always encodes
		ev := c.newEvent(typ, name, contentTypeSystem, append(append([]byte(`{"group":`), g...), '}'), "")
		c.mu.Lock()
		early := !c.connectedSent
		if early {
			c.earlyPresence = append(c.earlyPresence, ev)
			c.presenceTo = append(c.presenceTo, h)
		}
		c.mu.Unlock()
		if !early {
			c.dispatchNonBlocking(h, ev)
		}
		return
	}
}

// OnDetached reports the detach of a reliable connection.
func (c *conn) OnDetached() {
	if c.mqtt != nil {
		c.mqttDetached()
	}
	c.e.log.Debug("connection detached", "hub", c.HubName(), "connectionId", c.ID)
	c.e.event(ConnectionDetached, c, "")
}

// newMessage is a message from the server, or to group when group is not
// empty.
func newMessage(group, fromUserID string, dt protocol.DataType, data []byte) *core.Message {
	return &core.Message{Group: group, FromUserID: fromUserID, DataType: string(dt), Data: data}
}

// truncateReason makes a close reason valid UTF-8 (each run of
// invalid bytes becomes U+FFFD) and cuts it to the 123 bytes a close frame can
// carry, on a rune boundary.
func truncateReason(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	n := 123
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
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
