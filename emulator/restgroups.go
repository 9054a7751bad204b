package emulator

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/gowebpubsub/webpubsub/emulator/internal/core"
	"github.com/gowebpubsub/webpubsub/internal/names"

	"github.com/gowebpubsub/webpubsub/internal/odata"
)

// ---- group membership ----

// missing is the 404 of an operation on an entity that must exist.
type missing struct{ code, what, id string }

// membership runs change under the hub lock on the connections that to
// picks. When notFound is not nil, an empty pick answers its 404;
// otherwise the answer is status.
func (e *Emulator) membership(c *restCall, status int, notFound *missing, to target, change func(h *core.Hub, conn *core.Conn) bool) {
	found, limited := 0, 0
	var limit int
	if h := e.hubIfExists(c.hub); h != nil {
		h.Lock()
		for _, conn := range to(h, core.Selector{}) {
			found++
			if !change(h, conn) {
				limited++
			}
		}
		h.Unlock()
		limit = h.MaxGroups()
	}
	switch {
	case found == 0 && notFound != nil:
		writeAzureError(c.w, http.StatusNotFound, notFound.code, notFound.what+" `"+notFound.id+"` is not found.", notFound.what)
		return
	case limited > 0 && notFound != nil && notFound.what == "Connection":
		writeValidation(c.w, "group", groupLimitMessage(limit))
		return
	case limited > 0:
		e.groupLimitWarning(c.hub, limited, limit)
	}
	writeEmpty(c.w, status)
}

// groupLimitWarning logs that n connections were not added to a group
// because they are in the maximum of limit groups.
func (e *Emulator) groupLimitWarning(hub string, n, limit int) {
	e.log.Warn("connections at the limit of groups per connection were not added", "hub", hub, "connections", n, "limit", limit)
}

// connectionAt picks the connection whose id is params[i].
func (c *restCall) connectionAt(i int) target {
	return func(h *core.Hub, _ core.Selector) []*core.Conn {
		if conn := h.ConnLocked(c.params[i]); conn != nil {
			return []*core.Conn{conn}
		}
		return nil
	}
}

func join(g string) func(h *core.Hub, conn *core.Conn) bool {
	return func(h *core.Hub, conn *core.Conn) bool { return h.JoinLocked(conn, g) }
}

func leave(g string) func(h *core.Hub, conn *core.Conn) bool {
	return func(h *core.Hub, conn *core.Conn) bool { h.LeaveLocked(conn, g); return true }
}

func leaveAll(h *core.Hub, conn *core.Conn) bool { h.LeaveAllLocked(conn); return true }

func (e *Emulator) addConnectionToGroup(c *restCall) {
	if g, ok := c.group(0); ok {
		e.membership(c, http.StatusOK, &missing{codeConnectionNotExisted, "Connection", c.params[1]}, c.connectionAt(1), join(g))
	}
}

func (e *Emulator) removeConnectionFromGroup(c *restCall) {
	if g, ok := c.group(0); ok {
		e.membership(c, http.StatusNoContent, nil, c.connectionAt(1), leave(g))
	}
}

func (e *Emulator) removeConnectionFromAllGroups(c *restCall) {
	e.membership(c, http.StatusNoContent, nil, c.connectionAt(0), leaveAll)
}

// addUserToGroup adds every current connection of the user; future
// connections of the user are not added (membership is per connection).
func (e *Emulator) addUserToGroup(c *restCall) {
	if g, ok := c.group(1); ok {
		e.membership(c, http.StatusOK, &missing{codeWarnUserNotExist, "User", c.params[0]}, c.user, join(g))
	}
}

func (e *Emulator) removeUserFromGroup(c *restCall) {
	if g, ok := c.group(1); ok {
		e.membership(c, http.StatusNoContent, nil, c.user, leave(g))
	}
}

func (e *Emulator) removeUserFromAllGroups(c *restCall) {
	e.membership(c, http.StatusNoContent, nil, c.user, leaveAll)
}

// groupsRequest is the body of :addToGroups and :removeFromGroups.
type groupsRequest struct {
	groups []string
	filter *odata.Filter
}

// readGroupsRequest parses {"groups":[...],"filter":"..."}: keys are
// matched case-insensitively; groups is required and each must be a valid
// group name (400, target Groups); filter may be absent, null or "" (no
// filtering) or a filter (400, target Filter).
func (e *Emulator) readGroupsRequest(c *restCall) (groupsRequest, bool) {
	var req groupsRequest
	if mediaType(c.r) != "application/json" {
		unsupportedMediaType(c.w, "application/json")
		return req, false
	}
	body, ok := e.readBody(c)
	if !ok {
		return req, false
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		writeValidation(c.w, "body", "The request body must be a JSON object with groups and an optional filter.")
		return req, false
	}
	var rawGroups, rawFilter json.RawMessage
	for k, v := range fields {
		switch {
		case strings.EqualFold(k, "groups"):
			rawGroups = v
		case strings.EqualFold(k, "filter"):
			rawFilter = v
		}
	}
	if err := json.Unmarshal(rawGroups, &req.groups); err != nil || rawGroups == nil || string(rawGroups) == "null" {
		writeValidation(c.w, "Groups", "The groups field is required and must be an array of group names.")
		return req, false
	}
	for _, g := range req.groups {
		if names.Group(g) != "" {
			writeValidation(c.w, "Groups", "The groups field contains an invalid group name.")
			return req, false
		}
	}
	var src *string
	if rawFilter != nil {
		if err := json.Unmarshal(rawFilter, &src); err != nil {
			writeValidation(c.w, "Filter", "The filter must be a string.")
			return req, false
		}
	}
	if src != nil {
		if req.filter, ok = compileFilter(c.w, *src, "Filter"); !ok {
			return req, false
		}
	}
	return req, true
}

// batchGroups adds (join) or removes every selected connection of the hub
// to or from every listed group. The filter sees membership as it was
// before the operation.
func (e *Emulator) batchGroups(c *restCall, join bool) {
	req, ok := e.readGroupsRequest(c)
	if !ok {
		return
	}
	if h := e.hubIfExists(c.hub); h != nil && len(req.groups) > 0 {
		limited := 0
		h.Lock()
		for _, conn := range h.SelectAllLocked(core.Selector{Filter: req.filter}) {
			for _, g := range req.groups {
				if join {
					if !h.JoinLocked(conn, g) {
						limited++
						break
					}
				} else {
					h.LeaveLocked(conn, g)
				}
			}
		}
		h.Unlock()
		if limited > 0 {
			e.groupLimitWarning(c.hub, limited, h.MaxGroups())
		}
	}
	writeEmpty(c.w, http.StatusOK)
}

func (e *Emulator) addConnectionsToGroups(c *restCall)      { e.batchGroups(c, true) }
func (e *Emulator) removeConnectionsFromGroups(c *restCall) { e.batchGroups(c, false) }

// listConnectionsInGroup pages through the members of a group, ordered by
// connection id.
func (e *Emulator) listConnectionsInGroup(c *restCall) {
	g, ok := c.group(0)
	if !ok {
		return
	}
	pageSize := 200
	if v, present := c.query["maxpagesize"]; present {
		n, err := strconv.Atoi(v[0])
		if err != nil || n < 1 || n > 200 {
			writeValidation(c.w, "maxpagesize", "The maxpagesize must be an integer between 1 and 200.")
			return
		}
		pageSize = n
	}
	top := -1
	if v, present := c.query["top"]; present {
		n, err := strconv.ParseInt(v[0], 10, 32)
		if err != nil || n < 1 {
			writeValidation(c.w, "top", "The top must be an integer between 1 and 2147483647.")
			return
		}
		top = int(n)
	}
	after := ""
	if v := c.query.Get("continuationToken"); v != "" {
		b, err := base64.RawURLEncoding.DecodeString(v)
		if err != nil {
			writeValidation(c.w, "continuationToken", "The continuationToken is invalid.")
			return
		}
		after = string(b)
	}

	type member struct {
		ConnectionID string `json:"connectionId"`
		UserID       string `json:"userId,omitempty"`
	}
	var members []member
	if h := e.hubIfExists(c.hub); h != nil {
		h.RLock()
		for _, conn := range h.GroupMembersLocked(g) {
			if conn.ID > after {
				members = append(members, member{ConnectionID: conn.ID, UserID: conn.UserID})
			}
		}
		h.RUnlock()
	}
	slices.SortFunc(members, func(a, b member) int { return strings.Compare(a.ConnectionID, b.ConnectionID) })

	n := min(pageSize, len(members))
	if top >= 0 {
		n = min(n, top)
	}
	page := struct {
		Value    []member `json:"value"`
		NextLink string   `json:"nextLink,omitempty"`
	}{Value: members[:n]}
	if page.Value == nil {
		page.Value = []member{}
	}
	remainingTop := top - n
	if n < len(members) && (top < 0 || remainingTop > 0) {
		var q strings.Builder
		if top >= 0 {
			q.WriteString("top=" + strconv.Itoa(remainingTop) + "&")
		}
		q.WriteString("maxpagesize=" + strconv.Itoa(pageSize))
		q.WriteString("&continuationToken=" + base64.RawURLEncoding.EncodeToString([]byte(members[n-1].ConnectionID)))
		page.NextLink = requestScheme(c.r) + "://" + c.r.Host + c.r.URL.EscapedPath() + "?" + q.String()
	}
	writeJSON(c.w, http.StatusOK, "application/json; charset=utf-8", page)
}
