package emulator

import (
	"errors"
	"fmt"
	"github.com/gowebpubsub/webpubsub/emulator/internal/core"
	"net/url"
	"strings"

	"github.com/gowebpubsub/webpubsub/internal/cloudevents"
)

// System event names, as used in EventHandler.SystemEvents.
const (
	SystemEventConnect      = cloudevents.EventConnect
	SystemEventConnected    = cloudevents.EventConnected
	SystemEventDisconnected = cloudevents.EventDisconnected
)

// PossibleSystemEventValues returns the system events an EventHandler can
// receive.
func PossibleSystemEventValues() []string {
	return []string{SystemEventConnect, SystemEventConnected, SystemEventDisconnected}
}

// EventHandler is one upstream event handler of a hub: where the emulator
// sends a connection's events, and which events it sends there.
// The emulator calls it as the service does, with the
// CloudEvents HTTP binding.
type EventHandler struct {
	// URLTemplate is the absolute http or https URL of the handler. The
	// placeholders {event} (the event name, or "validate" for the
	// abuse-protection check) and {hub} (the canonical hub name) are
	// replaced, case-insensitively, by their path-escaped values. {event}
	// must not appear in the host. Required.
	URLTemplate string
	// UserEventPattern selects the user events sent to this handler: "*"
	// for all, a comma-separated list of names ("chat,join") or one name.
	// Names are trimmed and compared case-insensitively. Empty means no
	// user events. A raw client's frames are the user event "message".
	UserEventPattern string
	// SystemEvents selects the system events sent to this handler: any of
	// "connect", "connected" and "disconnected" (case-insensitive). Empty
	// means none.
	SystemEvents []string
	// SkipValidation skips the abuse-protection check (an OPTIONS request
	// that the handler must answer with a WebHook-Allowed-Origin header)
	// that otherwise runs before the handler's first event.
	// The configuration file's "validate": false.
	SkipValidation bool
	// GroupPresenceEvents, when not nil, sends this handler the group
	// presence events (azure.webpubsub.gp.joined and gp.left) of the
	// hub's connections, as the service's hub setting of that name does.
	GroupPresenceEvents *GroupPresenceEvents
}

// GroupPresenceEvents selects group presence events: a connection joined
// or left a group, by any route (its own joinGroup or leaveGroup, a REST
// call by connection, user or filter, its token's or connect answer's
// groups, or its end, which leaves every group). They are non-blocking
// events, sent in order with the connection's connected and disconnected
// events, with the body {"group": "<name>"}.
type GroupPresenceEvents struct {
	// EventNames are "joined" and/or "left" (case-insensitive).
	EventNames []string
	// GroupFilters limit the events to the groups that match one of them:
	// a group name, or a wildcard pattern with ? (one character that is
	// not '.'), * (any characters but '.') and ** (any characters). Empty
	// means every group.
	GroupFilters []string
}

// eventHandler is a validated EventHandler.
type eventHandler struct {
	template   string
	allUser    bool
	userEvents []string // lower case
	connect    bool
	connected  bool
	disconn    bool
	validate   bool
	// joined and left select presence events; filters narrow them to the
	// groups they match (none: every group).
	joined, left bool
	filters      []core.GroupPattern
}

// compileEventHandler validates h. Its errors name the field at fault and
// never contain the URL, which may carry a secret (a ?code= query).
func compileEventHandler(h EventHandler) (*eventHandler, error) {
	c := &eventHandler{template: strings.TrimSpace(h.URLTemplate), validate: !h.SkipValidation}
	if c.template == "" {
		return nil, errors.New("URLTemplate is required")
	}
	scheme, rest, ok := strings.Cut(c.template, "://")
	if !ok || !(strings.EqualFold(scheme, "http") || strings.EqualFold(scheme, "https")) {
		return nil, errors.New("URLTemplate must be an absolute http or https URL")
	}
	host := rest
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		host = rest[:i]
	}
	if strings.Contains(strings.ToLower(host), "{event}") {
		return nil, errors.New("URLTemplate must not have {event} in its host")
	}
	u, err := url.Parse(expandTemplate(c.template, "hub", "event"))
	if err != nil || u.Host == "" || u.User != nil {
		return nil, errors.New("URLTemplate must be an absolute http or https URL with a host and no user info")
	}
	for _, name := range strings.Split(h.UserEventPattern, ",") {
		name = strings.TrimSpace(name)
		switch name {
		case "":
		case "*":
			c.allUser = true
		default:
			c.userEvents = append(c.userEvents, strings.ToLower(name))
		}
	}
	for _, ev := range h.SystemEvents {
		switch strings.ToLower(strings.TrimSpace(ev)) {
		case SystemEventConnect:
			c.connect = true
		case SystemEventConnected:
			c.connected = true
		case SystemEventDisconnected:
			c.disconn = true
		default:
			return nil, fmt.Errorf("SystemEvents has %q; want connect, connected or disconnected", ev)
		}
	}
	if gp := h.GroupPresenceEvents; gp != nil {
		for _, ev := range gp.EventNames {
			switch strings.ToLower(strings.TrimSpace(ev)) {
			case cloudevents.EventGroupJoined:
				c.joined = true
			case cloudevents.EventGroupLeft:
				c.left = true
			default:
				return nil, fmt.Errorf("GroupPresenceEvents.EventNames has %q; want joined or left", ev)
			}
		}
		for i, f := range gp.GroupFilters {
			p, err := core.CompilePattern(f)
			if err != nil {
				return nil, fmt.Errorf("GroupPresenceEvents.GroupFilters[%d] is not a valid group pattern", i)
			}
			c.filters = append(c.filters, p)
		}
	}
	return c, nil
}

// matchesPresence reports whether the handler takes the presence event
// of joining (or leaving) group.
func (h *eventHandler) matchesPresence(joined bool, group string) bool {
	if joined && !h.joined || !joined && !h.left {
		return false
	}
	return len(h.filters) == 0 || core.MatchAny(h.filters, group)
}

// matchesUser reports whether the handler takes user event name.
func (h *eventHandler) matchesUser(name string) bool {
	if h.allUser {
		return true
	}
	for _, n := range h.userEvents {
		if strings.EqualFold(n, name) {
			return true
		}
	}
	return false
}

// matchesSystem reports whether the handler takes system event name.
func (h *eventHandler) matchesSystem(name string) bool {
	switch name {
	case SystemEventConnect:
		return h.connect
	case SystemEventConnected:
		return h.connected
	case SystemEventDisconnected:
		return h.disconn
	}
	return false
}

// url is the handler's URL for an event of hub.
func (h *eventHandler) url(hub, event string) string {
	return expandTemplate(h.template, url.PathEscape(hub), url.PathEscape(event))
}

// expandTemplate replaces {hub} and {event}, case-insensitively, with
// the given (already escaped) values; other braces stay as they are.
func expandTemplate(t, hub, event string) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(t, '{')
		if i < 0 {
			b.WriteString(t)
			return b.String()
		}
		b.WriteString(t[:i])
		t = t[i:]
		j := strings.IndexByte(t, '}')
		if j < 0 {
			b.WriteString(t)
			return b.String()
		}
		switch name := t[1:j]; {
		case strings.EqualFold(name, "hub"):
			b.WriteString(hub)
		case strings.EqualFold(name, "event"):
			b.WriteString(event)
		default:
			b.WriteString(t[:j+1])
		}
		t = t[j+1:]
	}
}

// userHandler returns the first handler of c's hub for user event name,
// or nil.
func (c *conn) userHandler(name string) *eventHandler {
	for _, h := range c.handlers {
		if h.matchesUser(name) {
			return h
		}
	}
	return nil
}

// systemHandler returns the first handler of c's hub for system event
// name, or nil.
func (c *conn) systemHandler(name string) *eventHandler {
	for _, h := range c.handlers {
		if h.matchesSystem(name) {
			return h
		}
	}
	return nil
}
