package emulator

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gowebpubsub/webpubsub/internal/redact"

	"github.com/gowebpubsub/webpubsub/internal/names"
)

// restCall is one authenticated REST request after routing.
type restCall struct {
	w      http.ResponseWriter
	r      *http.Request
	hub    string   // canonical (lower-case) hub name
	params []string // decoded wildcard path segments, in order
	query  url.Values
}

type restHandler func(e *Emulator, c *restCall)

// restRoute is one operation of the REST API: the shape of its path
// under /api/hubs/{hub}/, segments joined by "/" ("*" matches one
// non-empty segment), its method, its name and its handler.
type restRoute struct {
	path   string
	method string
	op     Operation
	h      restHandler
}

// restRoutes lists the operations, by path and then method.
var restRoutes = []restRoute{
	{":addToGroups", http.MethodPost, OperationAddConnectionsToGroups, (*Emulator).addConnectionsToGroups},
	{":closeConnections", http.MethodPost, OperationCloseAllConnections, (*Emulator).closeAllConnections},
	{":generateToken", http.MethodPost, OperationGetClientAccessToken, (*Emulator).generateToken},
	{":removeFromGroups", http.MethodPost, OperationRemoveConnectionsFromGroups, (*Emulator).removeConnectionsFromGroups},
	{":send", http.MethodPost, OperationSendToAll, (*Emulator).sendToAll},
	{"connections/*", http.MethodDelete, OperationCloseConnection, (*Emulator).closeConnection},
	{"connections/*", http.MethodHead, OperationConnectionExists, (*Emulator).connectionExists},
	{"connections/*/:send", http.MethodPost, OperationSendToConnection, (*Emulator).sendToConnection},
	{"connections/*/groups", http.MethodDelete, OperationRemoveConnectionFromAllGroups, (*Emulator).removeConnectionFromAllGroups},
	{"groups/*", http.MethodHead, OperationGroupExists, (*Emulator).groupExists},
	{"groups/*/:closeConnections", http.MethodPost, OperationCloseGroupConnections, (*Emulator).closeGroupConnections},
	{"groups/*/:send", http.MethodPost, OperationSendToGroup, (*Emulator).sendToGroup},
	{"groups/*/connections", http.MethodGet, OperationListConnectionsInGroup, (*Emulator).listConnectionsInGroup},
	{"groups/*/connections/*", http.MethodDelete, OperationRemoveConnectionFromGroup, (*Emulator).removeConnectionFromGroup},
	{"groups/*/connections/*", http.MethodPut, OperationAddConnectionToGroup, (*Emulator).addConnectionToGroup},
	{"permissions/*/connections/*", http.MethodDelete, OperationRevokePermission, (*Emulator).revokePermission},
	{"permissions/*/connections/*", http.MethodHead, OperationCheckPermission, (*Emulator).checkPermission},
	{"permissions/*/connections/*", http.MethodPut, OperationGrantPermission, (*Emulator).grantPermission},
	{"users/*", http.MethodHead, OperationUserExists, (*Emulator).userExists},
	{"users/*/:closeConnections", http.MethodPost, OperationCloseUserConnections, (*Emulator).closeUserConnections},
	{"users/*/:send", http.MethodPost, OperationSendToUser, (*Emulator).sendToUser},
	{"users/*/groups", http.MethodDelete, OperationRemoveUserFromAllGroups, (*Emulator).removeUserFromAllGroups},
	{"users/*/groups/*", http.MethodDelete, OperationRemoveUserFromGroup, (*Emulator).removeUserFromGroup},
	{"users/*/groups/*", http.MethodPut, OperationAddUserToGroup, (*Emulator).addUserToGroup},
}

// matchRoute finds the operation of method for the decoded segments after
// the hub, and the segments its "*" matched. Without one, allow holds the
// methods of the operations of that path (sorted; none: no such path).
func matchRoute(method string, segs []string) (rt *restRoute, params, allow []string) {
	for i := range restRoutes {
		params, ok := matchPath(restRoutes[i].path, segs)
		switch {
		case !ok:
		case restRoutes[i].method == method:
			return &restRoutes[i], params, nil
		default:
			allow = append(allow, restRoutes[i].method)
		}
	}
	slices.Sort(allow)
	return nil, nil, allow
}

// matchPath reports whether segs have the shape of path, and returns the
// segments that its "*" matched, in order.
func matchPath(path string, segs []string) ([]string, bool) {
	if strings.Count(path, "/")+1 != len(segs) {
		return nil, false
	}
	var params []string
	for _, s := range segs {
		var p string
		p, path, _ = strings.Cut(path, "/")
		switch {
		case p == "*" && s != "":
			params = append(params, s)
		case p != s:
			return nil, false
		}
	}
	return params, true
}

var apiVersionPattern = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}(-preview)?$`)

// serveREST handles /api/...: routing on the escaped path, then the method, authentication, api-version and the hub name,
// in that order.
func (e *Emulator) serveREST(w http.ResponseWriter, r *http.Request) {
	segs := strings.Split(strings.TrimPrefix(r.URL.EscapedPath(), "/"), "/")
	for i, s := range segs {
		d, err := url.PathUnescape(s)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		segs[i] = d
	}
	if len(segs) == 2 && segs[1] == "health" {
		e.health(w, r)
		return
	}
	if len(segs) < 4 || segs[1] != "hubs" || segs[2] == "" {
		http.NotFound(w, r)
		return
	}
	rt, params, allow := matchRoute(r.Method, segs[3:])
	if rt == nil {
		if len(allow) == 0 {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Allow", strings.Join(allow, ", "))
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	if !e.track() {
		plainError(w, http.StatusServiceUnavailable, "The emulator is shutting down.")
		return
	}
	defer e.wg.Done()
	if e.trace != nil {
		sw := &statusWriter{ResponseWriter: w}
		w = sw
		start := time.Now()
		defer func() { e.trace.rest(rt.op, strings.ToLower(segs[2]), restTarget(params), sw, time.Since(start)) }()
	}
	if !e.applyFault(w, r, rt.op, true) {
		return
	}
	w.Header().Set("api-supported-versions", supportedVersions)

	token := bearerToken(r)
	_, auds, err := e.verifyToken(token)
	if err == nil && !e.audienceAllowsREST(auds, r) {
		err = &tokenError{"The access token's audience " + audienceList(auds) + " does not match the request URL " +
			e.cut(requestScheme(r)+"://"+r.Host+r.RequestURI) + "."}
	}
	if err != nil && (!e.opts.AllowUnvalidatedEntraTokens || !e.entraTokenOK(token)) {
		e.unauthorized(w, err)
		return
	}

	query, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		writeValidation(w, "query", "The query string is malformed.")
		return
	}
	if v, ok := query["api-version"]; ok && (len(v) == 0 || !apiVersionPattern.MatchString(v[0])) {
		writeValidation(w, "api-version", "The api-version is invalid; expected the form yyyy-mm-dd or yyyy-mm-dd-preview.")
		return
	}
	if names.Hub(segs[2]) != "" {
		writeValidation(w, "hub", "The hub name is invalid; it must match ^[A-Za-z][A-Za-z0-9_`,.[\\]]{0,127}$.")
		return
	}
	rt.h(e, &restCall{w: w, r: r, hub: strings.ToLower(segs[2]), params: params, query: query})
}

// unauthorized answers 401 with the reason of err, a verifyToken or
// audience error, which holds no secret, and logs it.
func (e *Emulator) unauthorized(w http.ResponseWriter, err error) {
	reason := unauthorizedReason(err)
	e.log.Debug("request refused: 401", "reason", reason)
	w.Header().Set("WWW-Authenticate", "Bearer")
	plainError(w, http.StatusUnauthorized, reason)
}

// audienceList quotes the audiences of a token for a 401 reason.
func audienceList(auds []string) string {
	if len(auds) == 0 {
		return "(none)"
	}
	quoted := make([]string, len(auds))
	for i, a := range auds {
		quoted[i] = strconv.Quote(redact.Preview(a, redact.MaxLogField))
	}
	return strings.Join(quoted, ", ")
}

// health answers HEAD and GET /api/health without authentication: 200, or
// 503 while the emulator is shutting down.
func (e *Emulator) health(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodHead && r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET, HEAD")
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	if !e.applyFault(w, r, OperationGetServiceStatus, true) {
		return
	}
	e.mu.RLock()
	closing := e.closing
	e.mu.RUnlock()
	if closing {
		writeEmpty(w, http.StatusServiceUnavailable)
		return
	}
	writeEmpty(w, http.StatusOK)
}

// group validates the wildcard parameter at index i as a group name.
func (c *restCall) group(i int) (string, bool) {
	g := c.params[i]
	if names.Group(g) != "" {
		writeValidation(c.w, "group", "The group name is invalid; it must be 1 to 1024 characters, not only whitespace, without line feeds.")
		return "", false
	}
	return g, true
}

// readBody reads the request body up to the emulator's limit, answering
// 413 beyond it.
func (e *Emulator) readBody(c *restCall) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(c.w, c.r.Body, e.maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeAzureError(c.w, http.StatusRequestEntityTooLarge, codePayloadTooLarge,
				"The request body is larger than the emulator's limit.", "body")
			return nil, false
		}
		writeValidation(c.w, "body", "The request body could not be read.")
		return nil, false
	}
	return body, true
}

// mediaType returns the lower-case media type of Content-Type, without
// parameters.
func mediaType(r *http.Request) string {
	mt, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";")
	return strings.ToLower(strings.TrimSpace(mt))
}

func unsupportedMediaType(w http.ResponseWriter, allowed string) {
	writeAzureError(w, http.StatusUnsupportedMediaType, codeUnsupportedMediaType,
		"The Content-Type is not supported; use "+allowed+".", "Content-Type")
}
