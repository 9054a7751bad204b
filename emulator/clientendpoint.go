package emulator

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"

	"github.com/gowebpubsub/webpubsub/internal/auth"
	"github.com/gowebpubsub/webpubsub/internal/names"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"

	"github.com/gowebpubsub/webpubsub/emulator/internal/core"
	"github.com/gowebpubsub/webpubsub/internal/protocol"
	"github.com/gowebpubsub/webpubsub/internal/redact"
)

// admitHandshake runs the checks every WebSocket handshake starts with:
// the emulator is not shutting down (else 503), the request is an
// upgrade, and no injected fault answers operation op. It returns false
// when it answered the request; otherwise the caller must call e.wg.Done
// when the connection is over.
func (e *Emulator) admitHandshake(w http.ResponseWriter, r *http.Request, op Operation) bool {
	if !e.track() {
		plainError(w, http.StatusServiceUnavailable, "The emulator is shutting down.")
		return false
	}
	if !checkUpgrade(w, r) || !e.applyFault(w, r, op, false) {
		e.wg.Done()
		return false
	}
	return true
}

// validHub returns the canonical (lower-case) form of a handshake's hub
// name, or answers 400 and returns false when the name is invalid.
func validHub(w http.ResponseWriter, name string) (string, bool) {
	if names.Hub(name) != "" {
		plainError(w, http.StatusBadRequest, "The hub name is invalid: it must match ^[A-Za-z][A-Za-z0-9_`,.[\\]]{0,127}$.")
		return "", false
	}
	return strings.ToLower(name), true
}

// acceptWebSocket upgrades r as the service does (any Origin, no
// compression), with small buffers, selecting subprotocol unless it is
// "". Pongs are reported to the transport *tr, which the caller sets
// before any frame is read (pongs are only seen by reads).
func acceptWebSocket(w http.ResponseWriter, r *http.Request, subprotocol string, tr **transport) (*websocket.Conn, error) {
	opts := &websocket.AcceptOptions{
		InsecureSkipVerify: true,
		CompressionMode:    websocket.CompressionDisabled,
		OnPongReceived: func(context.Context, []byte) {
			if t := *tr; t != nil {
				t.received()
			}
		},
	}
	if subprotocol != "" {
		opts.Subprotocols = []string{subprotocol}
	}
	return websocket.Accept(smallBuffers(w), r, opts)
}

// newEndpointConn is the connection a handshake on r opens, with the
// origin of its upstream calls and its hub's event handlers.
func (e *Emulator) newEndpointConn(r *http.Request, hubName, id, userID string, kind connKind, subprotocol string) *conn {
	c := newConn(e, hubName, id, userID, kind, subprotocol)
	c.origin = requestOrigin(e.publicEndpoint(r))
	c.handlers = e.handlersFor(hubName)
	return c
}

// serveClient is the WebSocket endpoint: /client/hubs/{hub} and
// /client?hub={hub}. It runs the handshake checks in the service's order (a recovery request goes to recoverConnection), calls the
// connect event handler if the hub has one, upgrades, registers the
// connection, sends the connected event and then reads its frames until
// the transport ends.
func (e *Emulator) serveClient(w http.ResponseWriter, r *http.Request, pathHub string) {
	query := r.URL.Query()
	op := OperationConnect
	if query.Has("awps_connection_id") {
		op = OperationRecover
	}
	if !e.admitHandshake(w, r, op) {
		return
	}
	defer e.wg.Done()
	hubName := pathHub
	if hubName == "" {
		hubName = query.Get("hub")
	}
	if hubName == "" {
		plainError(w, http.StatusBadRequest, "The hub is missing: use /client/hubs/{hub} or the hub query parameter.")
		return
	}
	hubName, ok := validHub(w, hubName)
	if !ok {
		return
	}
	offered := offeredSubprotocols(r.Header)

	if query.Get("awps_connection_id") != "" {
		// A recovery request: no token needed.
		e.recoverConnection(w, r, hubName, query, offered)
		return
	}

	id, ok := e.authenticateClient(w, r, query, hubName)
	if !ok {
		return
	}

	neg, selected, unsupported := selectSubprotocol(offered)
	if unsupported != "" {
		plainError(w, http.StatusBadRequest, "Subprotocol '"+unsupported+"' is not supported by this emulator.")
		return
	}

	c := e.newEndpointConn(r, hubName, newConnectionID(), id.userID, neg.kind, selected)
	c.setSubprotocol(neg)
	if h := c.systemHandler(SystemEventConnect); h != nil {
		res, status, msg := e.connectUpstream(c, h, r, id, offered)
		if status != 0 {
			c.endLife()
			plainError(w, status, msg)
			return
		}
		if status, msg := res.apply(c, &id, offered); status != 0 {
			c.endLife()
			plainError(w, status, msg)
			return
		}
	}
	if c.Reliable {
		c.ReconnectionToken = core.NewReconnectionToken()
	}
	// From here on the connect succeeded: exactly one upstream
	// disconnected event follows, even if the upgrade fails.
	c.mu.Lock()
	c.upstream = true
	c.mu.Unlock()

	var tr *transport
	ws, err := acceptWebSocket(w, r, c.subprotocol, &tr)
	if err != nil {
		// Accept has written the error response; the client is gone.
		noteReason(w, "The WebSocket upgrade failed: "+err.Error())
		c.OnEnded(reasonEndedAbruptly)
		return
	}
	if c.subprotocol != "" {
		c.subprotocol = ws.Subprotocol() // as the client spelled it
	}
	tr = newTransport(c, ws, r)
	if !e.register(c, tr, id) {
		tr.cancel() // never started: the close below is the only frame
		_ = ws.Close(websocket.StatusGoingAway, reasonShutdown)
		c.OnEnded(reasonShutdown)
		return
	}
	e.log.Debug("connection connected", "hub", hubName, "connectionId", c.ID, "subprotocol", e.cut(c.subprotocol))
	e.event(ConnectionConnected, c, "")
	c.connectedUpstream()
	tr.start()
}

// requestOrigin is the WebHook-Request-Origin of a public endpoint: its
// host, with the port unless it is the scheme's default.
func requestOrigin(endpoint string) string {
	scheme, rest, _ := strings.Cut(endpoint, "://")
	host, _, _ := strings.Cut(rest, "/")
	if h, p, err := net.SplitHostPort(host); err == nil {
		if (strings.EqualFold(scheme, "http") && p == "80") || (strings.EqualFold(scheme, "https") && p == "443") {
			host = h
			if strings.Contains(h, ":") {
				host = "[" + h + "]"
			}
		}
	}
	return host
}

// clientIdentity is what a client token grants.
type clientIdentity struct {
	userID string
	roles  []string
	groups []string
	// claims are the token's claims, nil for an anonymous client.
	claims jwt.MapClaims
}

// authenticateClient finds and validates the client's token (query
// access_token first, then Authorization: Bearer) and writes the error response when it fails.
func (e *Emulator) authenticateClient(w http.ResponseWriter, r *http.Request, query url.Values, hubName string) (clientIdentity, bool) {
	token := query.Get("access_token")
	if token == "" {
		token = bearerToken(r)
	}
	if token == "" && e.hubOptions(hubName).AllowAnonymous {
		return clientIdentity{}, true
	}
	claims, auds, err := e.verifyToken(token)
	if err == nil && !e.audienceAllowsClient(auds, hubName, r) {
		err = &tokenError{clientAudienceReason(auds, hubName)}
	}
	if err != nil {
		e.unauthorized(w, err)
		return clientIdentity{}, false
	}
	return identityFromClaims(w, claims)
}

// clientAudienceReason words an audience that does not name the client
// endpoint of hub: a token for another hub, or for something else.
func clientAudienceReason(auds []string, hub string) string {
	for _, a := range auds {
		if u, err := url.Parse(a); err == nil {
			if other, ok := strings.CutPrefix(strings.ToLower(strings.TrimSuffix(u.Path, "/")), "/client/hubs/"); ok && other != hub {
				return "The access token is for hub " + strconv.Quote(redact.Preview(other, redact.MaxLogField)) + ", not " + strconv.Quote(hub) + "."
			}
		}
	}
	return "The access token's audience " + audienceList(auds) + " does not name the client endpoint of hub " + strconv.Quote(hub) +
		" (an http, https, ws or wss URL of this emulator's host ending in /client/hubs/" + hub + ")."
}

func identityFromClaims(w http.ResponseWriter, claims jwt.MapClaims) (clientIdentity, bool) {
	var id clientIdentity
	id.userID, _ = stringClaim(claims, auth.ClaimSubject, auth.ClaimNameID, auth.ClaimNameIDLong)
	if roles, ok := stringsClaim(claims, auth.ClaimRole, auth.ClaimRoleLong); ok {
		id.roles = roles
	}
	groups, ok := stringsClaim(claims, auth.ClaimGroups)
	for _, g := range groups {
		ok = ok && names.Group(g) == ""
	}
	if !ok {
		plainError(w, http.StatusBadRequest, "The token contains an invalid group name.")
		return clientIdentity{}, false
	}
	id.groups = groups
	id.claims = claims
	return id, true
}

// register makes c visible with its first transport: it joins its hub,
// user and initial groups and queues the connected frame first, all under
// the hub lock, so no REST message can overtake the connected frame.
// It returns false when the emulator is shutting down.
func (e *Emulator) register(c *conn, tr *transport, id clientIdentity) bool {
	c.SetRoles(id.roles, e.log)
	var first *core.Frame
	switch c.kind {
	case kindPubSub:
		f := protocol.ServiceFrame{Type: protocol.TypeSystem, Event: protocol.EventConnected, UserID: c.UserID,
			ConnectionID: c.ID, ReconnectionToken: c.ReconnectionToken}
		fr := c.frameOf(&f)
		first = &fr
	case kindMQTT:
		f := c.connack()
		first = &f
	}
	return e.core.Register(c.Conn, tr, id.groups, first)
}

// offeredSubprotocols lists the Sec-WebSocket-Protocol entries in order,
// trimmed, without empty entries.
func offeredSubprotocols(h http.Header) []string {
	var out []string
	for _, v := range h.Values("Sec-WebSocket-Protocol") {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// negotiated is what a subprotocol makes of a connection.
type negotiated struct {
	kind     connKind
	pbuf     bool
	reliable bool
}

// pubSubSubprotocol reports what the PubSub subprotocol p is (its name
// matched case-insensitively); ok is false for any other name.
func pubSubSubprotocol(p string) (n negotiated, ok bool) {
	switch {
	case strings.EqualFold(p, protocol.SubprotocolJSON):
		return negotiated{kind: kindPubSub}, true
	case strings.EqualFold(p, protocol.SubprotocolReliableJSON):
		return negotiated{kind: kindPubSub, reliable: true}, true
	case strings.EqualFold(p, protocol.SubprotocolProtobuf):
		return negotiated{kind: kindPubSub, pbuf: true}, true
	case strings.EqualFold(p, protocol.SubprotocolReliableProtobuf):
		return negotiated{kind: kindPubSub, pbuf: true, reliable: true}, true
	}
	return negotiated{}, false
}

// selectSubprotocol picks the subprotocol as the service does: the first
// offered PubSub subprotocol (json.webpubsub.azure.v1,
// json.reliable.webpubsub.azure.v1, protobuf.webpubsub.azure.v1,
// protobuf.reliable.webpubsub.azure.v1), echoed as spelled, makes a
// PubSub client; otherwise the client is raw with no subprotocol. The
// unsupported predefined subprotocol (MQTT) is skipped, and when only
// such entries are offered the handshake fails with 400 naming the first
// of them.
func selectSubprotocol(offered []string) (n negotiated, selected, unsupported string) {
	onlyUnsupported := len(offered) > 0
	first := ""
	for _, p := range offered {
		if n, ok := pubSubSubprotocol(p); ok {
			return n, p, ""
		}
		if isUnsupportedPredefined(p) {
			if first == "" {
				first = p
			}
			continue
		}
		onlyUnsupported = false
	}
	if onlyUnsupported {
		return negotiated{kind: kindRaw}, "", first
	}
	return negotiated{kind: kindRaw}, "", ""
}

func isUnsupportedPredefined(p string) bool {
	return strings.EqualFold(p, protocol.SubprotocolMQTT)
}

// newConnectionID returns 32 lower-case hex characters from 128 random
// bits.
func newConnectionID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

// headerHasToken reports whether a comma-separated header contains token,
// case-insensitively.
func headerHasToken(h http.Header, key, token string) bool {
	for _, v := range h[textproto.CanonicalMIMEHeaderKey(key)] {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// plainError writes a text/plain error response; msg, which must hold no
// secret, is also the reason of the request's trace line.
func plainError(w http.ResponseWriter, status int, msg string) {
	noteReason(w, msg)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(msg))
}
