package emulator

import (
	"slices"
	"sync"

	"github.com/gowebpubsub/webpubsub/internal/odata"
)

// hub holds the connections of one hub and the indexes derived from them.
// Hubs are implicit: one is created when its first connection registers.
//
// Lock order: hub.mu before conn.qmu and conn.permMu. Every REST mutation
// and every send holds mu for writing for its whole duration, which makes
// it atomic with respect to the messages it affects and gives every
// recipient the same order of messages.
type hub struct {
	name string // canonical, lower case

	mu     sync.RWMutex
	conns  map[string]*conn              // by connection id
	users  map[string]map[*conn]struct{} // by user id; anonymous connections are absent
	groups map[string]map[*conn]struct{} // by group name; a group exists while non-empty

	// changes is told about every change of the indexes; nil means nobody
	// listens.
	changes *notifier
}

func newHub(name string, changes *notifier) *hub {
	return &hub{
		name:    name,
		changes: changes,
		conns:   map[string]*conn{},
		users:   map[string]map[*conn]struct{}{},
		groups:  map[string]map[*conn]struct{}{},
	}
}

// addLocked registers c and joins its initial groups.
func (h *hub) addLocked(c *conn, groups []string) {
	h.conns[c.id] = c
	if c.userID != "" {
		set := h.users[c.userID]
		if set == nil {
			set = map[*conn]struct{}{}
			h.users[c.userID] = set
		}
		set[c] = struct{}{}
	}
	for _, g := range groups {
		h.joinLocked(c, g)
	}
	h.changes.signal()
}

// removeLocked removes c from every index. It reports whether c was
// registered, so that only one caller handles the end of a connection.
func (h *hub) removeLocked(c *conn) bool {
	if h.conns[c.id] != c {
		return false
	}
	delete(h.conns, c.id)
	if set := h.users[c.userID]; set != nil {
		delete(set, c)
		if len(set) == 0 {
			delete(h.users, c.userID)
		}
	}
	h.leaveAllLocked(c)
	h.changes.signal()
	return true
}

func (h *hub) joinLocked(c *conn, g string) {
	set := h.groups[g]
	if set == nil {
		set = map[*conn]struct{}{}
		h.groups[g] = set
	}
	set[c] = struct{}{}
	if c.groups == nil {
		c.groups = map[string]struct{}{}
	}
	c.groups[g] = struct{}{}
	h.changes.signal()
}

func (h *hub) leaveLocked(c *conn, g string) {
	if set := h.groups[g]; set != nil {
		delete(set, c)
		if len(set) == 0 {
			delete(h.groups, g)
		}
	}
	delete(c.groups, g)
	h.changes.signal()
}

func (h *hub) leaveAllLocked(c *conn) {
	for g := range c.groups {
		h.leaveLocked(c, g)
	}
}

// filterConn is the filter's view of c; it must be called with h.mu held.
func filterConn(c *conn) odata.Connection {
	fc := odata.Connection{ConnectionID: c.id, Groups: make([]string, 0, len(c.groups))}
	if c.userID != "" {
		fc.UserID = &c.userID
	}
	for g := range c.groups {
		fc.Groups = append(fc.Groups, g)
	}
	return fc
}

// selector narrows a candidate set: excluded ids are dropped, and when
// filter is non-nil only connections it matches are kept.
type selector struct {
	excluded []string
	filter   *odata.Filter
}

func (s selector) keep(c *conn) bool {
	if slices.Contains(s.excluded, c.id) {
		return false
	}
	return s.filter == nil || s.filter.Match(filterConn(c))
}

// selectAll returns every connection of the hub that passes sel. It must be
// called with h.mu held.
func (h *hub) selectAll(sel selector) []*conn {
	out := make([]*conn, 0, len(h.conns))
	for _, c := range h.conns {
		if sel.keep(c) {
			out = append(out, c)
		}
	}
	return out
}

// selectSet returns the members of set that pass sel. It must be called
// with h.mu held.
func selectSet(set map[*conn]struct{}, sel selector) []*conn {
	out := make([]*conn, 0, len(set))
	for c := range set {
		if sel.keep(c) {
			out = append(out, c)
		}
	}
	return out
}
