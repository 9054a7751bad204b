package emulator

import (
	"context"
	"errors"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gowebpubsub/webpubsub/emulator/internal/core"
	"github.com/gowebpubsub/webpubsub/internal/protocol"
)

// DefaultMessageLogSize is how many delivered messages Messages keeps when
// Options.MessageLogSize is zero.
const DefaultMessageLogSize = 1000

// ConnectionInfo describes one client connection at the moment it was
// inspected. It is a copy: later changes to the connection do not show.
type ConnectionInfo struct {
	// Hub is the canonical (lower-case) hub name.
	Hub string
	// ID is the connection id.
	ID string
	// UserID is the user the connection belongs to; "" when anonymous.
	UserID string
	// Groups are the groups the connection is in, sorted.
	Groups []string
	// Roles are the roles the connection was granted when it connected,
	// by its token or by the connect event handler, in their order.
	Roles []string
	// Permissions is the effective state of each group permission the
	// connection holds in some form, after runtime grants and revokes, in
	// the order joinLeaveGroup, sendToGroup.
	Permissions []PermissionState
	// Subprotocol is the negotiated subprotocol as the client spelled it;
	// "" for a raw client.
	Subprotocol string
	// ConnectedAt is when the connection was registered, on the
	// emulator's clock.
	ConnectedAt time.Time
	// Reliable reports a json.reliable.webpubsub.azure.v1 connection.
	Reliable bool
	// Detached reports a reliable connection whose transport dropped and
	// that waits for a recovery; it still exists for every REST call.
	Detached bool
	// Paused reports that PauseOutbound holds the connection's outbound
	// frames.
	Paused bool
	// Queued is the number of frames waiting in the outbound queue of
	// the connection's transport, not yet written to the client.
	Queued int
	// Unacknowledged is, on a reliable connection, the number of messages
	// the emulator keeps for a replay until the client acknowledges them
	// with a sequenceAck (at most 1,000: a client that lets more pile up
	// is closed with 1008); 0 otherwise.
	Unacknowledged int
	// LastReceived is when the emulator last received a frame or a Pong
	// on the connection's transport, on the emulator's clock; zero when
	// detached.
	LastReceived time.Time
}

// PermissionState is the effective state of one group permission of a
// connection: a group is allowed when it is not in Denied and AllGroups
// is set, or it is in Groups, or it matches one of Patterns.
type PermissionState struct {
	// Permission is "joinLeaveGroup" or "sendToGroup", as in the REST
	// permission operations.
	Permission string
	// AllGroups reports the permission for every group.
	AllGroups bool
	// Groups are the groups granted one by one, sorted.
	Groups []string
	// Patterns are the wildcard group patterns of
	// webpubsub.<permission>s.<pattern> roles, in their order.
	Patterns []string
	// Denied are the groups revoked one by one, which win over AllGroups
	// and Patterns, sorted.
	Denied []string
}

// DeliveredMessage is one entry of the message log: one message queued
// for one recipient connection (a fan-out to three connections makes
// three entries). An entry is made when the emulator accepts the message
// for the connection, before it reaches the client, and is not repeated
// when a recovery replays it.
type DeliveredMessage struct {
	// Hub is the canonical hub name.
	Hub string
	// ConnectionID is the recipient.
	ConnectionID string
	// From is "server" for a REST send or an event handler's reply, and
	// "group" for a message sent to a group.
	From string
	// Group is the group of a group message, else "".
	Group string
	// FromUserID is the user of the client that sent a group message;
	// "" for REST sends and anonymous senders.
	FromUserID string
	// DataType is "text", "json" or "binary".
	DataType string
	// Data is the payload as the recipient gets it decoded (JSON text
	// for "json", the raw bytes for "binary"). The log owns a copy.
	Data []byte
	// SequenceID is the message's sequence id on a reliable connection,
	// else 0.
	SequenceID uint64
	// Time is when the message was queued, on the emulator's clock.
	Time time.Time
}

// ConnectionEventKind says what happened to a connection.
type ConnectionEventKind string

// The kinds of ConnectionEvent.
const (
	// ConnectionConnected: the connection was registered in its hub.
	ConnectionConnected ConnectionEventKind = "connected"
	// ConnectionDetached: a reliable connection's transport dropped; the
	// connection waits for a recovery.
	ConnectionDetached ConnectionEventKind = "detached"
	// ConnectionRecovered: a recovery attached a new transport.
	ConnectionRecovered ConnectionEventKind = "recovered"
	// ConnectionDisconnected: the connection left its hub for good.
	ConnectionDisconnected ConnectionEventKind = "disconnected"
)

// ConnectionEvent is one change in the life of a connection, passed to
// Options.OnConnectionEvent.
type ConnectionEvent struct {
	Kind ConnectionEventKind
	// Hub is the canonical hub name.
	Hub string
	// ConnectionID is the connection's id.
	ConnectionID string
	// Reason is the close reason of ConnectionDisconnected, else "".
	Reason string
}

// ErrConnectionNotFound is returned by the methods that act on one
// connection when the hub has no connection with that id (it never
// existed or has ended). Match it with errors.Is.
var ErrConnectionNotFound = errors.New("emulator: connection not found")

// Hubs returns the canonical names of the hubs the emulator currently
// holds, sorted. A hub exists once a connection or REST call has used it.
// The result is a fresh slice (empty, not nil, when there is no hub); it
// is safe to call concurrently with any other method.
func (e *Emulator) Hubs() []string { return e.core.HubNames() }

// Connections returns the connections of hub (compared
// case-insensitively), detached ones included, ordered by ConnectedAt and
// then ID. The result is empty, not nil, for an unknown hub.
func (e *Emulator) Connections(hub string) []ConnectionInfo {
	h := e.hubIfExists(strings.ToLower(hub))
	if h == nil {
		return []ConnectionInfo{}
	}
	h.RLock()
	conns := h.ConnsLocked()
	out := make([]ConnectionInfo, 0, len(conns))
	for _, c := range conns {
		out = append(out, ownerOf(c).infoLocked())
	}
	h.RUnlock()
	slices.SortFunc(out, func(a, b ConnectionInfo) int {
		if c := a.ConnectedAt.Compare(b.ConnectedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

// Connection returns the connection id of hub, or ErrConnectionNotFound.
func (e *Emulator) Connection(hub, id string) (ConnectionInfo, error) {
	c, err := e.findConn(hub, id)
	if err != nil {
		return ConnectionInfo{}, err
	}
	c.Hub().RLock()
	defer c.Hub().RUnlock()
	return c.infoLocked(), nil
}

// Groups returns the groups of hubName (case-insensitive) that have members, sorted; empty, not
// nil, when there is none.
func (e *Emulator) Groups(hubName string) []string {
	return e.sortedOf(hubName, (*core.Hub).GroupNamesLocked)
}

// GroupMembers returns the ids of the connections in group of hubName,
// sorted; empty, not nil, when the group has no member. Group names
// compare exactly.
func (e *Emulator) GroupMembers(hubName, group string) []string {
	return e.sortedOf(hubName, func(h *core.Hub) []string {
		members := h.GroupMembersLocked(group)
		out := make([]string, 0, len(members))
		for _, c := range members {
			out = append(out, c.ID)
		}
		return out
	})
}

// sortedOf returns list(h) of hub sorted, under the hub's read lock; an
// empty non-nil slice when the hub or the list is empty.
func (e *Emulator) sortedOf(name string, list func(h *core.Hub) []string) []string {
	h := e.hubIfExists(strings.ToLower(name))
	if h == nil {
		return []string{}
	}
	h.RLock()
	out := list(h)
	h.RUnlock()
	if out == nil {
		return []string{}
	}
	sort.Strings(out)
	return out
}

// Messages returns the message log, oldest first: at most
// Options.MessageLogSize entries (DefaultMessageLogSize by default),
// empty when the log is disabled. The result and its Data slices are
// fresh copies.
func (e *Emulator) Messages() []DeliveredMessage {
	return e.messages.snapshot()
}

// ClearMessages empties the message log.
func (e *Emulator) ClearMessages() {
	e.messages.clear()
}

// Wait blocks until cond returns true and returns nil, or returns
// ctx.Err() when ctx ends first, or an error once Close has begun. cond is
// called at once and again after every change of the emulator's state
// that inspection can see (a connection registered, detached, recovered
// or ended, a group joined or left, a permission changed, a message
// logged or written, a pause, a frame or Pong received, a sequenceAck
// applied), with no emulator lock held, so it may call any
// inspection method. It lets tests wait for a condition without sleeping.
func (e *Emulator) Wait(ctx context.Context, cond func() bool) error {
	for {
		changed := e.changes.Wait()
		if cond() {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		case <-e.shutdown:
			return errors.New("emulator: closed while waiting")
		}
	}
}

// WaitConnection blocks until hub (case-insensitive) has a connection for
// which match returns true (any connection when match is nil) and returns
// the first such connection in the order of Connections. It fails as Wait
// does.
func (e *Emulator) WaitConnection(ctx context.Context, hub string, match func(ConnectionInfo) bool) (ConnectionInfo, error) {
	var found ConnectionInfo
	err := e.Wait(ctx, func() bool {
		for _, c := range e.Connections(hub) {
			if match == nil || match(c) {
				found = c
				return true
			}
		}
		return false
	})
	return found, err
}

// findConn returns connection id of hub or ErrConnectionNotFound.
func (e *Emulator) findConn(hub, id string) (*conn, error) {
	if h := e.hubIfExists(strings.ToLower(hub)); h != nil {
		h.RLock()
		c := h.ConnLocked(id)
		h.RUnlock()
		if c != nil {
			return ownerOf(c), nil
		}
	}
	return nil, ErrConnectionNotFound
}

// infoLocked describes c; the caller holds the hub lock.
func (c *conn) infoLocked() ConnectionInfo {
	info := ConnectionInfo{
		Hub: c.HubName(), ID: c.ID, UserID: c.UserID, Subprotocol: c.subprotocol,
		Reliable: c.Reliable, Roles: slices.Clone(c.Roles()), ConnectedAt: c.ConnectedAt(),
		Groups: c.GroupsLocked(), Detached: c.Detached(), Unacknowledged: c.Unacknowledged(),
	}
	if tr, ok := c.Endpoint().(*transport); ok {
		info.Paused, info.Queued = tr.held()
		info.LastReceived = time.Unix(0, tr.lastRecv.Load())
	}
	c.EachPermission(func(name string, all bool, groups, patterns, denied []string) {
		info.Permissions = append(info.Permissions, PermissionState{Permission: name, AllGroups: all,
			Groups: groups, Patterns: patterns, Denied: denied})
	})
	return info
}

// logKey caches the message log's copy of a payload in the message.
type logKey struct{}

// logDelivery records m, queued for c with sequence id seq, in the
// message log.
func (e *Emulator) logDelivery(cc *core.Conn, m *core.Message, seq uint64) {
	if !e.messages.enabled() || m.Reply != nil {
		return
	}
	// One copy of the payload serves every entry of a fan-out.
	logged := m.Encoded(logKey{}, func() core.Frame { return core.Frame{Data: append([]byte{}, m.Data...)} })
	from := protocol.FromServer
	if m.Group != "" {
		from = protocol.FromGroup
	}
	e.messages.add(DeliveredMessage{
		Hub: cc.HubName(), ConnectionID: cc.ID, From: from, Group: m.Group, FromUserID: m.FromUserID,
		DataType: m.DataType, Data: logged.Data, SequenceID: seq, Time: e.now(),
	})
	e.changes.Signal()
}

// event reports a connection event to Options.OnConnectionEvent and wakes
// Wait. No emulator lock may be held.
func (e *Emulator) event(kind ConnectionEventKind, c *conn, reason string) {
	e.trace.connection(string(kind), c.HubName(), c.ID, reason)
	if e.onEvent != nil {
		e.onEvent(ConnectionEvent{Kind: kind, Hub: c.HubName(), ConnectionID: c.ID, Reason: reason})
	}
	// After the callback, so that a Wait woken here sees what it did.
	e.changes.Signal()
}

// messageLog is a ring of the most recent delivered messages.
type messageLog struct {
	mu      sync.Mutex
	size    int // 0 = disabled
	entries []DeliveredMessage
	next    int // the slot of the next entry once the ring is full
}

func (l *messageLog) init(size int) {
	switch {
	case size == 0:
		l.size = DefaultMessageLogSize
	case size > 0:
		l.size = size
	}
}

func (l *messageLog) enabled() bool { return l.size > 0 }

func (l *messageLog) add(m DeliveredMessage) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.entries) < l.size {
		l.entries = append(l.entries, m)
		return
	}
	l.entries[l.next] = m
	l.next = (l.next + 1) % l.size
}

func (l *messageLog) snapshot() []DeliveredMessage {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]DeliveredMessage, 0, len(l.entries))
	out = append(out, l.entries[l.next:]...)
	out = append(out, l.entries[:l.next]...)
	for i := range out {
		out[i].Data = slices.Clone(out[i].Data)
	}
	return out
}

func (l *messageLog) clear() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries, l.next = nil, 0
}
