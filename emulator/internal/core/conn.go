package core

import (
	"log/slog"
	"sort"
	"sync"
	"time"
)

// Close statuses the core ends connections with. They are WebSocket close
// codes; an adapter of another transport translates them.
const (
	CodeNormal          = 1000
	CodeGoingAway       = 1001
	CodePolicyViolation = 1008
)

// Reasons of the ends the core decides.
const (
	ReasonQueueFull       = "The outbound message queue is full."
	ReasonBufferFull      = "The reliable message buffer is full."
	ReasonNotRecoverable  = "The connection could not be recovered."
	ReasonRecoveryExpired = "The connection recovery timeout expired."
	ReasonEndedAbruptly   = "The connection ended unexpectedly."
)

// Frame is one encoded outbound frame. Data is shared between the
// recipients of a fan-out and must never be modified.
type Frame struct {
	// Binary marks a binary frame; otherwise it is text.
	Binary bool
	Data   []byte
	// Tail, when not nil, ends the frame after Data: the part that differs
	// per connection (a sequence id), so that the reliable buffers of a
	// fan-out's recipients share Data instead of holding copies.
	Tail []byte
	// Sequenced marks a message of a reliable connection: the reliable
	// buffer holds it, and it does not count against queue limits.
	Sequenced bool
	// NoAck marks a message of a reliable connection that its client
	// never acknowledges (an MQTT QoS 0 message): it is queued like any
	// other frame while the connection has an endpoint, and buffered only
	// while it is detached, until the next Attach replays it.
	NoAck bool
	// Deadline, when not 0, is when the message the frame carries
	// expires, in Unix nanoseconds of the service clock, for an endpoint
	// that tells its client the time left (MQTT 5's message expiry). The
	// core does not read it.
	Deadline int64
}

// Ending says how a connection's endpoint is closed.
type Ending struct {
	// Code is the close status and Reason its reason.
	Code   int
	Reason string
	// DropQueue closes at once instead of after the frames already queued.
	DropQueue bool
	// PeerGone means the endpoint is closed, broken or replaced: nothing
	// more is written to it.
	PeerGone bool
}

// Endpoint is an adapter's transport of one connection.
type Endpoint interface {
	// Enqueue queues f and reports false when the queue is full (the
	// connection must then end). A frame given to a closing endpoint is
	// dropped and counts as queued.
	Enqueue(f Frame) bool
	// EnqueueReply queues f, a reply to the client's own request, waiting
	// while the queue is full: the caller is the goroutine that reads the
	// client, so waiting stops the reading (back-pressure). A frame given
	// to a closing endpoint is dropped.
	EnqueueReply(f Frame)
	// Close closes the endpoint as end says; only the first call counts.
	Close(end Ending)
	// Drop closes the endpoint without writing anything.
	Drop(reason string)
}

// Owner is the adapter side of a connection's life cycle. Its methods may
// be called with the hub lock held and must not take it.
type Owner interface {
	// OnEnded is called once the connection left its hub for good.
	OnEnded(reason string)
	// OnDetached is called when a reliable connection lost its endpoint
	// and waits for a recovery.
	OnDetached()
	// OnGroup is called when the connection joined (or left) group, with
	// the hub lock held.
	OnGroup(group string, joined bool)
}

// Codec encodes messages as one adapter's frames.
type Codec interface {
	// Encode returns m as a frame. It may cache the frame in m with
	// Message.Encoded, since every recipient of a fan-out shares m.
	Encode(m *Message) Frame
	// EncodeSequenced returns m with the sequence id of a reliable
	// connection.
	EncodeSequenced(m *Message, seq uint64) Frame
}

// phase is the life-cycle phase of a logical connection.
type phase uint8

const (
	phaseActive phase = iota
	phaseDetached
	phaseEnded
)

// Reliable buffer limits: at most 1,000 unacknowledged messages and
// 16 MiB of encoded frames.
const (
	maxBufferMessages = 1000
	maxBufferBytes    = 16 << 20
)

// BufferFullGrace is how long, in real time, a delivery to a reliable
// connection whose buffer is full waits for a sequenceAck that makes room
// before the connection is closed with 1008. A client that acknowledges
// as it reads can still have its acknowledgement unread by a busy
// emulator when the buffer fills: Go's scheduler runs the goroutines that
// have work before it looks for the network input of a connection that
// has been quiet, for up to about 10 ms. The sender of the message (a
// publishing client's reading, a REST call) waits meanwhile, which is the
// back-pressure the busy emulator needs. A detached connection, which can
// get no acknowledgement, is closed at once.
const BufferFullGrace = 100 * time.Millisecond

// buffered is one unacknowledged message of a reliable connection.
type buffered struct {
	seq  uint64
	f    Frame
	size int // of the whole frame, for the connection's limits
	// shared counts the buffers holding f.Data, for the service's budget.
	shared *sharedData
	// deadline is when the message's TTL runs out, in Unix nanoseconds
	// of the service clock; 0 means never.
	deadline int64
}

// Conn is one logical client connection: its identity, groups,
// permissions and, when reliable, its sequence counter and
// unacknowledged messages. A reliable Conn outlives its endpoint: a lost
// endpoint leaves it detached until a recovery attaches a new one or the
// retention ends.
type Conn struct {
	svc     *Service
	hubName string
	hub     *Hub // set when registered
	// order is the connection's place in its hub's order of
	// registration; set when registered.
	order uint64

	// ID is the connection id; set before registration, then fixed.
	ID string
	// UserID is "" for an anonymous connection; set before registration,
	// then fixed.
	UserID string
	// Reliable gives the connection sequence ids, a buffer and recovery.
	Reliable bool
	// ReconnectionToken is the recovery credential of a reliable
	// connection.
	ReconnectionToken string
	// Codec encodes the messages it receives; Owner hears its life cycle.
	// Both are set before registration.
	Codec Codec
	Owner Owner

	// groups is the membership; guarded by the hub lock.
	groups      map[string]struct{}
	roles       []string
	connectedAt time.Time

	permMu sync.Mutex
	perms  [numPermissions]permSet

	mu             sync.Mutex
	ph             phase
	ep             Endpoint // nil when detached or ended
	seq            uint64   // last sequence id assigned
	buf            []buffered
	bufBytes       int
	detachGen      uint64      // counts detaches, so a stale retention timer does nothing
	stopDetach     func() bool // stops the retention timer; nil when none runs
	detachEnd      time.Time
	refuseRecovery bool
	// acked, once a delivery found the reliable buffer full, wakes the
	// delivery waiting for room when a sequenceAck released messages.
	acked chan struct{}
	// retention, when not 0, replaces the service's retention for this
	// connection (an MQTT 5 session expiry interval below it).
	retention time.Duration
}

// NewConn returns an unregistered connection of the canonical hub name.
func (s *Service) NewConn(hubName, id, userID string) *Conn {
	return &Conn{svc: s, hubName: hubName, ID: id, UserID: userID}
}

// HubName is the canonical name of the connection's hub.
func (c *Conn) HubName() string { return c.hubName }

// Hub is the connection's hub, nil before registration.
func (c *Conn) Hub() *Hub { return c.hub }

// Roles are the roles granted at connect (or at an MQTT session's
// resume).
func (c *Conn) Roles() []string {
	c.permMu.Lock()
	defer c.permMu.Unlock()
	return c.roles
}

// SetRetention sets how long the connection waits for a recovery once
// detached; 0 means the service's retention. It applies from the next
// detach.
func (c *Conn) SetRetention(d time.Duration) {
	c.mu.Lock()
	c.retention = d
	c.mu.Unlock()
}

// ConnectedAt is when the connection registered.
func (c *Conn) ConnectedAt() time.Time { return c.connectedAt }

// GroupsLocked returns the connection's groups, sorted; the caller holds
// the hub lock.
func (c *Conn) GroupsLocked() []string { return sortedKeys(c.groups) }

// sortedKeys returns the keys of m, sorted; empty, not nil, for an empty m.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// SetRoles grants the permissions of roles, replacing those granted before
// (before registration, or when an MQTT session is resumed). Unknown
// roles are ignored; an invalid wildcard pattern is ignored with a
// warning to log.
func (c *Conn) SetRoles(roles []string, log *slog.Logger) {
	perms := permissionsFromRoles(roles, log)
	c.permMu.Lock()
	c.roles, c.perms = roles, perms
	c.permMu.Unlock()
}

// Allowed reports whether the connection holds p for group.
func (c *Conn) Allowed(p Permission, group string) bool {
	c.permMu.Lock()
	defer c.permMu.Unlock()
	return c.perms[p].allowed(group)
}

// Grant grants p for target; an empty target grants every group.
func (c *Conn) Grant(p Permission, target string) {
	c.permMu.Lock()
	c.perms[p].grant(target)
	c.permMu.Unlock()
}

// Revoke revokes p for target; an empty target revokes everything. A
// targeted revoke wins over broad roles and patterns.
func (c *Conn) Revoke(p Permission, target string) {
	c.permMu.Lock()
	c.perms[p].revoke(target)
	c.permMu.Unlock()
}

// Check answers a permission check; an empty target asks about every
// group.
func (c *Conn) Check(p Permission, target string) bool {
	c.permMu.Lock()
	defer c.permMu.Unlock()
	return c.perms[p].check(target)
}

// EachPermission calls f, in permission order, for each permission the
// connection holds in any form: its name ("joinLeaveGroup" or
// "sendToGroup"), whether it covers all groups, the groups granted one by
// one (sorted), the wildcard patterns of its roles, and the groups
// revoked one by one (sorted).
func (c *Conn) EachPermission(f func(name string, all bool, groups, patterns, denied []string)) {
	c.permMu.Lock()
	defer c.permMu.Unlock()
	for p := range c.perms {
		c.perms[p].each(Permission(p), f)
	}
}

// Endpoint returns the current endpoint, nil when detached or ended.
func (c *Conn) Endpoint() Endpoint {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ep
}

// Unacknowledged is the number of messages in the reliable buffer: sent,
// or waiting for a recovery, and not yet acknowledged by a sequenceAck.
func (c *Conn) Unacknowledged() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.buf)
}

// Detached reports whether the connection waits for a recovery.
func (c *Conn) Detached() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ph == phaseDetached
}

// Ended reports whether the connection is gone for good.
func (c *Conn) Ended() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ph == phaseEnded
}

// Send queues a frame that is not a message (an ack, a pong) on the
// current endpoint. It reports false when the queue is full; without an
// endpoint the frame is dropped.
func (c *Conn) Send(f Frame) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ep == nil {
		return true
	}
	return c.ep.Enqueue(f)
}

// Reply queues a reply to the client's own request on the current
// endpoint, waiting while its queue is full (see Endpoint.EnqueueReply);
// without an endpoint the frame is dropped. No lock of the core may be
// held.
func (c *Conn) Reply(f Frame) {
	c.mu.Lock()
	ep := c.ep
	c.mu.Unlock()
	if ep != nil {
		ep.EnqueueReply(f)
	}
}

// EndLocked removes c from its hub and closes its endpoint as end says.
// It returns false when c had already left the hub. The caller holds the
// hub lock for writing.
func (c *Conn) EndLocked(end Ending) bool {
	if !c.hub.removeLocked(c) {
		return false
	}
	c.finish(end)
	return true
}

// Terminate is EndLocked for callers that do not hold the hub lock.
func (c *Conn) Terminate(end Ending) {
	c.hub.mu.Lock()
	removed := c.hub.removeLocked(c)
	c.hub.mu.Unlock()
	if removed {
		c.finish(end)
	}
}

// EndByPeer ends the connection for good after its client closed ep or
// ep broke: nothing more is written. An ep that is no longer current is
// only dropped.
func (c *Conn) EndByPeer(ep Endpoint, reason string) {
	c.hub.mu.Lock()
	c.mu.Lock()
	current := c.ep == ep
	c.mu.Unlock()
	removed := current && c.hub.removeLocked(c)
	c.hub.mu.Unlock()
	if removed {
		c.finish(Ending{PeerGone: true, Reason: reason, DropQueue: true})
		return
	}
	ep.Drop(reason)
}

// finish ends the logical connection after it left its hub: the reliable
// buffer and the retention timer go, the endpoint is closed and the owner
// told.
func (c *Conn) finish(end Ending) {
	c.mu.Lock()
	c.ph = phaseEnded
	ep := c.ep
	c.ep = nil
	c.releaseLocked(c.buf)
	c.buf, c.bufBytes = nil, 0
	if c.stopDetach != nil {
		c.stopDetach()
		c.stopDetach = nil
	}
	c.mu.Unlock()
	if ep != nil {
		if end.PeerGone {
			ep.Drop(end.Reason)
		} else {
			ep.Close(end)
		}
	}
	c.Owner.OnEnded(end.Reason)
}
