package core

import (
	"cmp"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/gowebpubsub/webpubsub/internal/odata"
)

// Hub holds the connections of one hub and the indexes derived from them.
// Hubs are implicit: one is made when its first connection registers.
//
// Every mutation holds the hub lock for writing. A send picks its
// recipients under the lock and queues under the hub's send lock (see
// Fanout), which gives every recipient the same order of messages.
// Methods named ...Locked need the hub lock (for writing when they change
// anything).
type Hub struct {
	name string // canonical, lower case

	// sendMu orders the hub's fan-outs; it is taken before mu.
	sendMu sync.Mutex
	mu     sync.RWMutex
	conns  map[string]*Conn // by connection id
	// nextOrder numbers the connections in the order they registered.
	nextOrder uint64
	users     map[string]map[*Conn]struct{} // by user id; anonymous connections are absent
	groups    map[string]map[*Conn]struct{} // by group name; a group exists while non-empty

	changes *Notifier
	// maxGroups bounds the groups of one connection; 0 means no bound.
	maxGroups int
	onFanout  func(hub string, m *Message, recipients int)
	log       *slog.Logger
}

func newHub(name string, changes *Notifier, maxGroups int, log *slog.Logger, onFanout func(string, *Message, int)) *Hub {
	return &Hub{
		onFanout:  onFanout,
		name:      name,
		changes:   changes,
		maxGroups: maxGroups,
		log:       log,
		conns:     map[string]*Conn{},
		users:     map[string]map[*Conn]struct{}{},
		groups:    map[string]map[*Conn]struct{}{},
	}
}

// Name is the canonical hub name.
func (h *Hub) Name() string { return h.name }

// Lock locks the hub for writing.
func (h *Hub) Lock() { h.mu.Lock() }

// Unlock undoes Lock.
func (h *Hub) Unlock() { h.mu.Unlock() }

// RLock locks the hub for reading.
func (h *Hub) RLock() { h.mu.RLock() }

// RUnlock undoes RLock.
func (h *Hub) RUnlock() { h.mu.RUnlock() }

// addLocked registers c and joins its initial groups.
func (h *Hub) addLocked(c *Conn, groups []string) {
	h.nextOrder++
	c.order = h.nextOrder
	h.conns[c.ID] = c
	if c.UserID != "" {
		set := h.users[c.UserID]
		if set == nil {
			set = map[*Conn]struct{}{}
			h.users[c.UserID] = set
		}
		set[c] = struct{}{}
	}
	skipped := 0
	for _, g := range groups {
		if !h.JoinLocked(c, g) {
			skipped++
		}
	}
	if skipped > 0 {
		h.log.Warn("a new connection's initial groups exceed the limit of groups per connection; the rest were not joined",
			"hub", h.name, "connectionId", c.ID, "limit", h.maxGroups, "skipped", skipped)
	}
	h.changes.Signal()
}

// removeLocked removes c from every index. It reports whether c was
// registered, so that only one caller handles the end of a connection.
func (h *Hub) removeLocked(c *Conn) bool {
	if h.conns[c.ID] != c {
		return false
	}
	delete(h.conns, c.ID)
	if set := h.users[c.UserID]; set != nil {
		delete(set, c)
		if len(set) == 0 {
			delete(h.users, c.UserID)
		}
	}
	h.LeaveAllLocked(c)
	h.changes.Signal()
	return true
}

// ConnLocked returns the connection with the id, or nil.
func (h *Hub) ConnLocked(id string) *Conn { return h.conns[id] }

// ConnsLocked returns every connection of the hub, in no order.
func (h *Hub) ConnsLocked() []*Conn {
	out := make([]*Conn, 0, len(h.conns))
	for _, c := range h.conns {
		out = append(out, c)
	}
	return out
}

// UserLocked returns the connections of the user, in no order.
func (h *Hub) UserLocked(user string) []*Conn { return h.SelectUserLocked(user, Selector{}) }

// HasUserLocked reports whether the user has a connection.
func (h *Hub) HasUserLocked(user string) bool { return len(h.users[user]) > 0 }

// HasGroupLocked reports whether the group has a member.
func (h *Hub) HasGroupLocked(g string) bool { return len(h.groups[g]) > 0 }

// GroupNamesLocked returns the groups that have members, sorted.
func (h *Hub) GroupNamesLocked() []string { return sortedKeys(h.groups) }

// GroupMembersLocked returns the members of group g, in no order.
func (h *Hub) GroupMembersLocked(g string) []*Conn { return h.SelectGroupLocked(g, Selector{}) }

// JoinLocked adds c to group g. It reports false, and changes nothing,
// when c is in the maximum number of groups already (and not in g).
func (h *Hub) JoinLocked(c *Conn, g string) bool {
	if _, in := c.groups[g]; in {
		return true
	}
	if h.maxGroups > 0 && len(c.groups) >= h.maxGroups {
		return false
	}
	set := h.groups[g]
	if set == nil {
		set = map[*Conn]struct{}{}
		h.groups[g] = set
	}
	set[c] = struct{}{}
	if c.groups == nil {
		c.groups = map[string]struct{}{}
	}
	c.groups[g] = struct{}{}
	h.changes.Signal()
	c.Owner.OnGroup(g, true)
	return true
}

// MaxGroups is the limit of groups per connection; 0 means none.
func (h *Hub) MaxGroups() int { return h.maxGroups }

// JoinIfRegisteredLocked adds c to group g unless c has already left the
// hub (a close raced with the request). It reports false when c is at the
// limit of groups.
func (h *Hub) JoinIfRegisteredLocked(c *Conn, g string) bool {
	if h.conns[c.ID] == c {
		return h.JoinLocked(c, g)
	}
	return true
}

// LeaveLocked removes c from group g.
func (h *Hub) LeaveLocked(c *Conn, g string) {
	if _, in := c.groups[g]; !in {
		return
	}
	if set := h.groups[g]; set != nil {
		delete(set, c)
		if len(set) == 0 {
			delete(h.groups, g)
		}
	}
	delete(c.groups, g)
	h.changes.Signal()
	c.Owner.OnGroup(g, false)
}

// LeaveAllLocked removes c from every group.
func (h *Hub) LeaveAllLocked(c *Conn) {
	for g := range c.groups {
		h.LeaveLocked(c, g)
	}
}

// filterConn is the filter's view of c.
func filterConn(c *Conn) odata.Connection {
	fc := odata.Connection{ConnectionID: c.ID, Groups: make([]string, 0, len(c.groups))}
	if c.UserID != "" {
		fc.UserID = &c.UserID
	}
	for g := range c.groups {
		fc.Groups = append(fc.Groups, g)
	}
	return fc
}

// Selector narrows a set of candidates: excluded ids are dropped, and
// when Filter is not nil only the connections it matches are kept.
type Selector struct {
	Excluded []string
	Filter   *odata.Filter
	// Except, when not nil, is dropped too (a sender that asked for no
	// echo).
	Except *Conn
}

func (s Selector) keep(c *Conn) bool {
	if c == s.Except || slices.Contains(s.Excluded, c.ID) {
		return false
	}
	return s.Filter == nil || s.Filter.Match(filterConn(c))
}

// SelectAllLocked returns every connection of the hub that passes sel.
func (h *Hub) SelectAllLocked(sel Selector) []*Conn {
	out := make([]*Conn, 0, len(h.conns))
	for _, c := range h.conns {
		if sel.keep(c) {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b *Conn) int { return cmp.Compare(a.order, b.order) })
	return out
}

// SelectGroupLocked returns the members of group g that pass sel.
func (h *Hub) SelectGroupLocked(g string, sel Selector) []*Conn { return selectSet(h.groups[g], sel) }

// SelectUserLocked returns the connections of user that pass sel.
func (h *Hub) SelectUserLocked(user string, sel Selector) []*Conn {
	return selectSet(h.users[user], sel)
}

func selectSet(set map[*Conn]struct{}, sel Selector) []*Conn {
	out := make([]*Conn, 0, len(set))
	for c := range set {
		if sel.keep(c) {
			out = append(out, c)
		}
	}
	return out
}

// Fanout queues m for the connections pick selects (and, for reliable
// ones, buffers it), and ends the connections whose queue or reliable
// buffer is full. When it returns, m is on every remaining recipient's
// queue or buffer. pick runs under the hub's read lock; the queueing runs
// without the hub lock, so that a large fan-out does not stall joins,
// lookups and connections of the hub, but under the hub's send lock, so
// that every recipient gets the hub's messages in the same order.
func (h *Hub) Fanout(m *Message, pick func(h *Hub) []*Conn) {
	h.sendMu.Lock()
	defer h.sendMu.Unlock()
	h.mu.RLock()
	recipients := pick(h)
	h.mu.RUnlock()
	var full, waiting []*Conn
	var reasons []string
	for _, c := range recipients {
		switch reason := c.deliver(m); reason {
		case "":
		case ReasonBufferFull:
			waiting = append(waiting, c)
		default:
			full, reasons = append(full, c), append(reasons, reason)
		}
	}
	if len(waiting) > 0 {
		// Still under the send lock, so these recipients get m before
		// the hub's next message, as the others did.
		deadline := time.Now().Add(BufferFullGrace)
		for _, c := range waiting {
			if reason := c.awaitRoom(m, deadline); reason != "" {
				full, reasons = append(full, c), append(reasons, reason)
			}
		}
	}
	if h.onFanout != nil {
		h.onFanout(h.name, m, len(recipients)-len(full))
	}
	if len(full) == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, c := range full {
		// A full outbound queue means a slow reader: what it has not read
		// is dropped. A full reliable buffer still lets the client read
		// what was queued before the close.
		c.EndLocked(Ending{Code: CodePolicyViolation, Reason: reasons[i], DropQueue: reasons[i] == ReasonQueueFull})
	}
}

// CloseLocked ends each connection with end. A reliable connection,
// detached or not, cannot be recovered afterwards.
func (h *Hub) CloseLocked(conns []*Conn, end Ending) {
	for _, c := range conns {
		c.EndLocked(end)
	}
}
