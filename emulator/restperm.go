package emulator

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/gowebpubsub/webpubsub/emulator/internal/core"
	"github.com/gowebpubsub/webpubsub/internal/auth"
	"github.com/gowebpubsub/webpubsub/internal/names"
)

// ---- permissions ----

// permissionTarget reads {permission} and the optional targetName.
func (c *restCall) permissionTarget() (core.Permission, string, bool) {
	p, ok := core.ParsePermission(c.params[0])
	if !ok {
		writeValidation(c.w, "permission", "The permission must be joinLeaveGroup or sendToGroup.")
		return 0, "", false
	}
	target := c.query.Get("targetName")
	if target != "" && names.Group(target) != "" {
		writeValidation(c.w, "targetName", "The targetName is not a valid group name.")
		return 0, "", false
	}
	return p, target, true
}

// permissionRequest reads a permission operation: the permission, the
// target group and the connection at params[1] (nil when it does not
// exist). ok is false when the answer is already written.
func (e *Emulator) permissionRequest(c *restCall) (conn *core.Conn, p core.Permission, target string, ok bool) {
	if p, target, ok = c.permissionTarget(); !ok {
		return nil, 0, "", false
	}
	if h := e.hubIfExists(c.hub); h != nil {
		h.RLock()
		conn = h.ConnLocked(c.params[1])
		h.RUnlock()
	}
	return conn, p, target, true
}

func (e *Emulator) grantPermission(c *restCall) {
	conn, p, target, ok := e.permissionRequest(c)
	switch {
	case !ok:
	case conn == nil:
		writeAzureError(c.w, http.StatusNotFound, codeInfoConnectionNotExist, "Connection `"+c.params[1]+"` is not found.", "Connection")
	default:
		conn.Grant(p, target)
		writeEmpty(c.w, http.StatusOK)
	}
}

func (e *Emulator) revokePermission(c *restCall) {
	if conn, p, target, ok := e.permissionRequest(c); ok {
		if conn != nil {
			conn.Revoke(p, target)
		}
		writeEmpty(c.w, http.StatusNoContent)
	}
}

func (e *Emulator) checkPermission(c *restCall) {
	conn, p, target, ok := e.permissionRequest(c)
	switch {
	case !ok:
	case conn == nil:
		writeHeadNotFound(c.w, codeInfoConnectionNotExist)
	case !conn.Check(p, target):
		writeHeadNotFound(c.w, "")
	default:
		writeEmpty(c.w, http.StatusOK)
	}
}

// ---- :generateToken ----

func (e *Emulator) generateToken(c *restCall) {
	minutes := int64(defaultTokenMins)
	if v, present := c.query["minutesToExpire"]; present {
		n, err := strconv.ParseInt(v[0], 10, 32)
		if err != nil {
			writeValidation(c.w, "minutesToExpire", "MinutesToExpire must be an integer.")
			return
		}
		if n <= 0 {
			writeValidation(c.w, "minutesToExpire", "MinutesToExpire must be greater than 0")
			return
		}
		minutes = n
	}
	groups := c.query["group"]
	for _, g := range groups {
		if names.Group(g) != "" {
			writeValidation(c.w, "group", "The group name is invalid; it must be 1 to 1024 characters, not only whitespace, without line feeds.")
			return
		}
	}
	path, ok := auth.ClientPath(strings.ToLower(c.query.Get("clientType")))
	if !ok {
		writeValidation(c.w, "clientType", "The clientType must be Default, MQTT or SocketIO.")
		return
	}
	now := e.now().Unix()
	token := auth.NewSigner(e.key).Sign(&auth.Claims{
		Audience:  e.publicEndpoint(c.r) + path + c.hub,
		ExpiresAt: now + minutes*60,
		IssuedAt:  now,
		Issuer:    tokenIssuer,
		NotBefore: now,
		Roles:     c.query["role"],
		Subject:   c.query.Get("userId"),
		Groups:    groups,
	})
	writeJSON(c.w, http.StatusOK, "application/json; charset=utf-8", struct {
		Token string `json:"token"`
	}{token})
}
