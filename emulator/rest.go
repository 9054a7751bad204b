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

// restMethod is one operation of a route: its name and its handler.
type restMethod struct {
	op Operation
	h  restHandler
}

// restRoute is one path shape under /api/hubs/{hub}/; "*" matches one
// non-empty segment.
type restRoute struct {
	pattern []string
	methods map[string]restMethod
}

var restRoutes = []restRoute{
	{[]string{":addToGroups"}, map[string]restMethod{http.MethodPost: {OperationAddConnectionsToGroups, (*Emulator).addConnectionsToGroups}}},
	{[]string{":closeConnections"}, map[string]restMethod{http.MethodPost: {OperationCloseAllConnections, (*Emulator).closeAllConnections}}},
	{[]string{":generateToken"}, map[string]restMethod{http.MethodPost: {OperationGetClientAccessToken, (*Emulator).generateToken}}},
	{[]string{":removeFromGroups"}, map[string]restMethod{http.MethodPost: {OperationRemoveConnectionsFromGroups, (*Emulator).removeConnectionsFromGroups}}},
	{[]string{":send"}, map[string]restMethod{http.MethodPost: {OperationSendToAll, (*Emulator).sendToAll}}},
	{[]string{"connections", "*"}, map[string]restMethod{
		http.MethodDelete: {OperationCloseConnection, (*Emulator).closeConnection},
		http.MethodHead:   {OperationConnectionExists, (*Emulator).connectionExists},
	}},
	{[]string{"connections", "*", ":send"}, map[string]restMethod{http.MethodPost: {OperationSendToConnection, (*Emulator).sendToConnection}}},
	{[]string{"connections", "*", "groups"}, map[string]restMethod{http.MethodDelete: {OperationRemoveConnectionFromAllGroups, (*Emulator).removeConnectionFromAllGroups}}},
	{[]string{"groups", "*"}, map[string]restMethod{http.MethodHead: {OperationGroupExists, (*Emulator).groupExists}}},
	{[]string{"groups", "*", ":closeConnections"}, map[string]restMethod{http.MethodPost: {OperationCloseGroupConnections, (*Emulator).closeGroupConnections}}},
	{[]string{"groups", "*", ":send"}, map[string]restMethod{http.MethodPost: {OperationSendToGroup, (*Emulator).sendToGroup}}},
	{[]string{"groups", "*", "connections"}, map[string]restMethod{http.MethodGet: {OperationListConnectionsInGroup, (*Emulator).listConnectionsInGroup}}},
	{[]string{"groups", "*", "connections", "*"}, map[string]restMethod{
		http.MethodDelete: {OperationRemoveConnectionFromGroup, (*Emulator).removeConnectionFromGroup},
		http.MethodPut:    {OperationAddConnectionToGroup, (*Emulator).addConnectionToGroup},
	}},
	{[]string{"permissions", "*", "connections", "*"}, map[string]restMethod{
		http.MethodDelete: {OperationRevokePermission, (*Emulator).revokePermission},
		http.MethodHead:   {OperationCheckPermission, (*Emulator).checkPermission},
		http.MethodPut:    {OperationGrantPermission, (*Emulator).grantPermission},
	}},
	{[]string{"users", "*"}, map[string]restMethod{http.MethodHead: {OperationUserExists, (*Emulator).userExists}}},
	{[]string{"users", "*", ":closeConnections"}, map[string]restMethod{http.MethodPost: {OperationCloseUserConnections, (*Emulator).closeUserConnections}}},
	{[]string{"users", "*", ":send"}, map[string]restMethod{http.MethodPost: {OperationSendToUser, (*Emulator).sendToUser}}},
	{[]string{"users", "*", "groups"}, map[string]restMethod{http.MethodDelete: {OperationRemoveUserFromAllGroups, (*Emulator).removeUserFromAllGroups}}},
	{[]string{"users", "*", "groups", "*"}, map[string]restMethod{
		http.MethodDelete: {OperationRemoveUserFromGroup, (*Emulator).removeUserFromGroup},
		http.MethodPut:    {OperationAddUserToGroup, (*Emulator).addUserToGroup},
	}},
}

// matchRoute finds the route for the decoded segments after the hub.
func matchRoute(segs []string) (*restRoute, []string) {
	for i := range restRoutes {
		rt := &restRoutes[i]
		if len(rt.pattern) != len(segs) {
			continue
		}
		var params []string
		ok := true
		for j, p := range rt.pattern {
			switch {
			case p == "*" && segs[j] != "":
				params = append(params, segs[j])
			case p == segs[j]:
			default:
				ok = false
			}
			if !ok {
				break
			}
		}
		if ok {
			return rt, params
		}
	}
	return nil, nil
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
	rt, params := matchRoute(segs[3:])
	if rt == nil {
		http.NotFound(w, r)
		return
	}
	rm, ok := rt.methods[r.Method]
	if !ok {
		allow := make([]string, 0, len(rt.methods))
		for m := range rt.methods {
			allow = append(allow, m)
		}
		slices.Sort(allow)
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
		defer func() { e.trace.rest(rm.op, strings.ToLower(segs[2]), restTarget(params), sw, time.Since(start)) }()
	}
	if !e.applyFault(w, r, rm.op, true) {
		return
	}
	w.Header().Set("api-supported-versions", supportedVersions)

	token := bearerToken(r)
	_, auds, err := e.verifyToken(token)
	if err == nil && !e.audienceAllowsREST(auds, r) {
		err = &tokenError{"The access token's audience " + audienceList(auds) + " does not match the request URL " +
			redact.Preview(requestScheme(r)+"://"+r.Host+r.RequestURI, redact.MaxLogField) + "."}
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
	rm.h(e, &restCall{w: w, r: r, hub: strings.ToLower(segs[2]), params: params, query: query})
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
