package emulator

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gowebpubsub/webpubsub/emulator/internal/core"

	"github.com/gowebpubsub/webpubsub/internal/odata"
	"github.com/gowebpubsub/webpubsub/internal/protocol"
)

// ---- sending ----

// readMessage reads a REST message body and maps its Content-Type to a
// data type: text/plain → text, application/json → json (validated),
// application/octet-stream or none → binary, anything else → 415.
func (e *Emulator) readMessage(c *restCall) (protocol.DataType, []byte, bool) {
	var dt protocol.DataType
	switch mediaType(c.r) {
	case "text/plain":
		dt = protocol.DataTypeText
	case "application/json":
		dt = protocol.DataTypeJSON
	case "application/octet-stream", "":
		dt = protocol.DataTypeBinary
	default:
		unsupportedMediaType(c.w, "text/plain, application/json or application/octet-stream")
		return "", nil, false
	}
	body, ok := e.readBody(c)
	if !ok {
		return "", nil, false
	}
	switch dt {
	case protocol.DataTypeJSON:
		if !utf8.Valid(body) || !json.Valid(body) {
			writeValidation(c.w, "message", "The message is not valid JSON.")
			return "", nil, false
		}
	case protocol.DataTypeText:
		body = bytes.ToValidUTF8(body, []byte("\uFFFD"))
	}
	return dt, body, true
}

// ttl validates messageTtlSeconds (0–300, default 0: no limit). The TTL
// only limits how long the message may wait in the buffer of a reliable
// connection for a replay; live delivery is
// immediate.
func (c *restCall) ttl() (time.Duration, bool) {
	v, ok := c.query["messageTtlSeconds"]
	if !ok {
		return 0, true
	}
	n, err := strconv.Atoi(v[0])
	if err != nil || n < 0 || n > protocol.MaxTTLSeconds {
		writeValidation(c.w, "messageTtlSeconds", "The messageTtlSeconds must be an integer between 0 and 300.")
		return 0, false
	}
	return time.Duration(n) * time.Second, true
}

// compileFilter compiles a filter; an empty one means no filtering.
// On failure it writes the 400 with target, which is
// "filter" for the query parameter and "Filter" for a request body.
func compileFilter(w http.ResponseWriter, src, target string) (*odata.Filter, bool) {
	if src == "" {
		return nil, true
	}
	if !utf8.ValidString(src) {
		writeValidation(w, target, "The filter is not valid UTF-8.")
		return nil, false
	}
	f, err := odata.Parse(src)
	if err != nil {
		writeValidation(w, target, err.Error())
		return nil, false
	}
	return f, true
}

// outgoing is a validated REST send.
type outgoing struct {
	dt     protocol.DataType
	body   []byte
	filter *odata.Filter // nil = no filtering
	ttl    time.Duration
}

// message encodes the send as a server message, or as a group message
// when group is not empty.
func (o outgoing) message(group string) *core.Message {
	m := newMessage(group, "", o.dt, o.body)
	m.TTL = o.ttl
	return m
}

// sendPrelude validates everything a send needs before it touches any
// connection, so that a failure has no side effects: messageTtlSeconds,
// the filter (when the operation has one), the Content-Type and the body.
func (e *Emulator) sendPrelude(c *restCall, useFilter bool) (outgoing, bool) {
	var o outgoing
	var ok bool
	if o.ttl, ok = c.ttl(); !ok {
		return o, false
	}
	if useFilter {
		if o.filter, ok = compileFilter(c.w, c.query.Get("filter"), "filter"); !ok {
			return o, false
		}
	}
	o.dt, o.body, ok = e.readMessage(c)
	return o, ok
}

// target picks the connections of a hub a REST operation addresses,
// narrowed by sel where the operation takes excluded ids or a filter.
type target func(h *core.Hub, sel core.Selector) []*core.Conn

func everyone(h *core.Hub, sel core.Selector) []*core.Conn { return h.SelectAllLocked(sel) }

func inGroup(g string) target {
	return func(h *core.Hub, sel core.Selector) []*core.Conn { return h.SelectGroupLocked(g, sel) }
}

// user picks the connections of the user in params[0].
func (c *restCall) user(h *core.Hub, sel core.Selector) []*core.Conn {
	return h.SelectUserLocked(c.params[0], sel)
}

// send delivers the request's message, to group when it is not "", to
// the connections to picks, narrowed by the filter (when useFilter) and
// the excluded ids (when useExcluded).
func (e *Emulator) send(c *restCall, kind, group string, useFilter, useExcluded bool, to target) {
	o, ok := e.sendPrelude(c, useFilter)
	if !ok {
		return
	}
	if h := e.hubIfExists(c.hub); h != nil {
		sel := core.Selector{Filter: o.filter}
		if useExcluded {
			sel.Excluded = c.query["excluded"]
		}
		m := o.message(group)
		m.Source, m.Target = "rest", kind
		h.Fanout(m, func(h *core.Hub) []*core.Conn { return to(h, sel) })
	}
	writeEmpty(c.w, http.StatusAccepted)
}

func (e *Emulator) sendToAll(c *restCall) { e.send(c, "all", "", true, true, everyone) }

func (e *Emulator) sendToGroup(c *restCall) {
	if g, ok := c.group(0); ok {
		e.send(c, "group", g, true, true, inGroup(g))
	}
}

func (e *Emulator) sendToUser(c *restCall) { e.send(c, "user", "", true, false, c.user) }

// sendToConnection ignores a filter, as the service tolerated one in a
// recording.
func (e *Emulator) sendToConnection(c *restCall) {
	e.send(c, "connection", "", false, false, c.connectionAt(0))
}

// ---- closing ----

// closing ends each connection with 1000 and the reason: a PubSub
// client gets a disconnected frame, every client a close frame, and the
// connection leaves every index before the REST call returns.
func closing(reason string) core.Ending { return core.Ending{Code: core.CodeNormal, Reason: reason} }

// reason is the close reason of a close operation, as valid UTF-8: the
// client's disconnected message, its close frame (cut to 123 bytes there)
// and the upstream disconnected event carry it.
func (c *restCall) reason() string {
	if r := c.query.Get("reason"); r != "" {
		return strings.ToValidUTF8(r, "\uFFFD")
	}
	return reasonDefaultClose
}

// close ends the connections to picks (without the excluded ids).
func (e *Emulator) close(c *restCall, to target) {
	if h := e.hubIfExists(c.hub); h != nil {
		h.Lock()
		h.CloseLocked(to(h, core.Selector{Excluded: c.query["excluded"]}), closing(c.reason()))
		h.Unlock()
	}
	writeEmpty(c.w, http.StatusNoContent)
}

func (e *Emulator) closeConnection(c *restCall)      { e.close(c, c.connectionAt(0)) }
func (e *Emulator) closeAllConnections(c *restCall)  { e.close(c, everyone) }
func (e *Emulator) closeUserConnections(c *restCall) { e.close(c, c.user) }

func (e *Emulator) closeGroupConnections(c *restCall) {
	if g, ok := c.group(0); ok {
		e.close(c, inGroup(g))
	}
}

// ---- existence checks ----

// exists answers a HEAD check under the hub's read lock.
func (e *Emulator) exists(c *restCall, code string, present func(h *core.Hub) bool) {
	found := false
	if h := e.hubIfExists(c.hub); h != nil {
		h.RLock()
		found = present(h)
		h.RUnlock()
	}
	if !found {
		writeHeadNotFound(c.w, code)
		return
	}
	writeEmpty(c.w, http.StatusOK)
}

func (e *Emulator) connectionExists(c *restCall) {
	e.exists(c, codeWarnConnectionNotExist, func(h *core.Hub) bool { return h.ConnLocked(c.params[0]) != nil })
}

func (e *Emulator) userExists(c *restCall) {
	e.exists(c, codeWarnUserNotExist, func(h *core.Hub) bool { return h.HasUserLocked(c.params[0]) })
}

func (e *Emulator) groupExists(c *restCall) {
	g, ok := c.group(0)
	if !ok {
		return
	}
	e.exists(c, codeWarnGroupNotExist, func(h *core.Hub) bool { return h.HasGroupLocked(g) })
}
