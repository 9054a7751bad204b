package core

import "time"

// Data types of messages, as the service names them.
const (
	DataTypeText     = "text"
	DataTypeJSON     = "json"
	DataTypeBinary   = "binary"
	DataTypeProtobuf = "protobuf"
)

// Message is one payload on its way to a set of recipients. It is
// delivered from one goroutine at a time (under the hub lock, or to a
// single connection), which lets codecs cache their encodings in it.
type Message struct {
	// Group is the group of a group message; "" for a server message.
	Group string
	// FromUserID is the sender of a group message sent by a client.
	FromUserID string
	// DataType is one of the DataType constants.
	DataType string
	// Data is the decoded payload; it must stay unchanged until the
	// message has been delivered.
	Data []byte
	// TTL limits how long the message may wait in a reliable buffer for a
	// replay; 0 means no limit.
	TTL time.Duration
	// Source and Target describe the message for a trace: who sent it
	// ("rest", "upstream" or a connection id) and to what ("all",
	// "group", "user", "connection").
	Source, Target string
	// Reply, when not nil, makes this not a group or server message but
	// an adapter's answer to one connection's own request that the
	// reliable subprotocols sequence like a message (an invoke response).
	// Only the adapter's codec reads it; the other fields are unused.
	Reply any
	// Stream, when not nil, places a group message in a group stream.
	Stream *StreamPosition
	// Published, when not nil, is what an MQTT client's PUBLISH carried
	// beyond the payload; nil for a message from any other sender.
	Published *Published

	cache []cached
	// shared is the budget's record of the buffered Data of this
	// message's sequenced frames; set on first buffering.
	shared *sharedData
}

// StreamPosition is where a group message stands in a group stream: a
// fragment, or the stream's terminal message.
type StreamPosition struct {
	// ID is the stream's id, unique among its publisher's open streams.
	ID string
	// Sequence is the fragment's position from 1; on the terminal message
	// it is the next position the stream expected.
	Sequence uint64
	// End marks the terminal message.
	End bool
	// ErrName, ErrMessage and ErrCode say why a terminal message ended
	// the stream abnormally; ErrName is "" for a normal end.
	ErrName, ErrMessage, ErrCode string
}

// Published describes a message an MQTT client published: its quality
// of service and the MQTT 5 properties forwarded to MQTT subscribers.
type Published struct {
	// QoS is the publisher's quality of service, 0 to 2.
	QoS byte
	// ContentType is the MQTT 5 content type as published; "" when absent.
	ContentType string
	// UserProperties are the MQTT 5 user properties, in order.
	UserProperties []KeyValue
	// ResponseTopic and CorrelationData are the MQTT 5 request/response
	// properties; empty when absent.
	ResponseTopic   string
	CorrelationData []byte
	// ExpirySeconds is the MQTT 5 message expiry interval; 0 means none.
	ExpirySeconds uint32
	// ExpiresAt is when a message with ExpirySeconds expires, on the
	// service clock; the zero time for none.
	ExpiresAt time.Time
}

// KeyValue is one name/value pair, kept in order with duplicates.
type KeyValue struct{ Key, Value string }

type cached struct {
	key any
	f   Frame
}

// Encoded returns the frame cached under key, building and caching it
// on first use. key is comparable, one per codec.
func (m *Message) Encoded(key any, build func() Frame) Frame {
	for _, e := range m.cache {
		if e.key == key {
			return e.f
		}
	}
	f := build()
	m.cache = append(m.cache, cached{key: key, f: f})
	return f
}

// DeliverTo queues m for c alone, for callers that do not hold the hub
// lock, ending c when its queue or buffer is full.
func (c *Conn) DeliverTo(m *Message) {
	reason := c.deliver(m)
	if reason == ReasonBufferFull {
		reason = c.awaitRoom(m, time.Now().Add(BufferFullGrace))
	}
	if c.svc.onFanout != nil && m.Reply == nil {
		n := 1
		if reason != "" {
			n = 0
		}
		c.svc.onFanout(c.hubName, m, n)
	}
	if reason != "" {
		c.Terminate(Ending{Code: CodePolicyViolation, Reason: reason, DropQueue: reason == ReasonQueueFull})
	}
}

// DeliverReply queues m for c alone as the answer to c's own request (an
// event handler's reply to the client's event), for callers that do not
// hold the hub lock. On a connection that is not reliable it waits while
// c's outbound queue is full (Endpoint.EnqueueReply), which stops the
// reading of c when the caller is its reader, instead of ending c as
// DeliverTo does. On a reliable connection it is DeliverTo: the message is
// sequenced, which the queue limit exempts, and a full reliable buffer
// ends c after BufferFullGrace.
func (c *Conn) DeliverReply(m *Message) {
	if c.Reliable {
		c.DeliverTo(m)
		return
	}
	c.Reply(c.Codec.Encode(m))
	c.delivered(m, 0)
	if c.svc.onFanout != nil && m.Reply == nil {
		c.svc.onFanout(c.hubName, m, 1)
	}
}

// deliver queues m for c and, on a reliable connection, keeps a
// sequenced copy in the buffer until the client acknowledges it. It
// returns "" on success, or the reason the connection must end with 1008.
func (c *Conn) deliver(m *Message) string {
	if !c.Reliable {
		if !c.Send(c.Codec.Encode(m)) {
			return ReasonQueueFull
		}
		c.delivered(m, 0)
		return ""
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ph == phaseEnded {
		return ""
	}
	seq := c.seq + 1
	f := c.Codec.EncodeSequenced(m, seq)
	if f.NoAck && c.ep != nil {
		c.seq = seq
		if !c.ep.Enqueue(f) {
			return ReasonQueueFull
		}
		c.delivered(m, seq)
		return ""
	}
	f.Sequenced = true
	if n := len(f.Data) + len(f.Tail); !c.bufferFits(n) {
		c.pruneExpiredLocked()
		if !c.bufferFits(n) {
			return ReasonBufferFull
		}
	}
	var deadline int64
	if m.TTL > 0 {
		deadline = c.svc.Now().Add(m.TTL).UnixNano()
	}
	c.seq = seq
	size := len(f.Data) + len(f.Tail)
	if m.shared == nil {
		m.shared = &sharedData{}
	}
	c.svc.hold(m.shared, len(f.Data), len(f.Tail))
	c.buf = append(c.buf, buffered{seq: seq, f: f, size: size, deadline: deadline, shared: m.shared})
	c.bufBytes += size
	if c.ep != nil {
		c.ep.Enqueue(f)
	}
	c.delivered(m, seq)
	return ""
}

func (c *Conn) delivered(m *Message, seq uint64) {
	if c.svc.onDeliver != nil {
		c.svc.onDeliver(c, m, seq)
	}
}
