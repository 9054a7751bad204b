package eventhandler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"

	"github.com/gowebpubsub/webpubsub/internal/cloudevents"
	"github.com/gowebpubsub/webpubsub/internal/names"
	"github.com/gowebpubsub/webpubsub/internal/redact"
)

// DefaultMaxBodyBytes is the default limit on a request body: 2 MiB, twice
// the service's 1 MiB limit on a client message.
const DefaultMaxBodyBytes int64 = 2 << 20

// DefaultMaxLogFieldBytes is the default of Options.MaxLogFieldBytes: a
// value taken from a request is cut to 256 bytes in a log line.
const DefaultMaxLogFieldBytes = redact.MaxLogField

// ConnectFunc handles a connect event. It runs while the client waits for
// its WebSocket handshake. It returns a response (nil accepts with the
// token's defaults) or an error: a *RejectError rejects the client with its
// status and detail, any other error rejects it with 500.
type ConnectFunc func(ctx context.Context, req *ConnectRequest) (*ConnectResponse, error)

// ConnectedFunc handles a connected event. An error is logged; it cannot
// reach the service or the client.
type ConnectedFunc func(ctx context.Context, req *ConnectedRequest) error

// DisconnectedFunc handles a disconnected event. An error is logged; it
// cannot reach the service or the client.
type DisconnectedFunc func(ctx context.Context, req *DisconnectedRequest) error

// GroupJoinedFunc handles a group presence event of a join. An error is
// logged; it cannot reach the service or the client.
type GroupJoinedFunc func(ctx context.Context, req *GroupJoinedRequest) error

// GroupLeftFunc handles a group presence event of a leave. An error is
// logged; it cannot reach the service or the client.
type GroupLeftFunc func(ctx context.Context, req *GroupLeftRequest) error

// UserEventFunc handles a user event. It returns a reply for the client (nil
// for none) or an error: a *RejectError fails the event with its status and
// detail, any other error fails it with 500. The service reports a failure
// to a PubSub client as a failed ack, and closes a raw WebSocket client's
// connection.
type UserEventFunc func(ctx context.Context, req *UserEventRequest) (*UserEventResponse, error)

// Options configures a Handler. A nil *Options is the zero Options: no
// callbacks, no signature validation, every origin allowed.
type Options struct {
	// Connect handles connect events. Nil accepts every connection with the
	// defaults from its token (the handler answers 204).
	Connect ConnectFunc
	// Connected handles connected events. Nil ignores them.
	Connected ConnectedFunc
	// Disconnected handles disconnected events. Nil ignores them.
	Disconnected DisconnectedFunc
	// GroupJoined and GroupLeft handle group presence events (types
	// azure.webpubsub.gp.joined and gp.left), which the service sends when
	// the hub's handler asks for them. Nil ignores them. They are answered
	// as connected and disconnected are.
	GroupJoined GroupJoinedFunc
	GroupLeft   GroupLeftFunc
	// UserEvents maps user event names (the "<event>" of ce-type
	// "azure.webpubsub.user.<event>"; raw WebSocket clients send "message")
	// to their callbacks. Names are case-sensitive and must match
	// ^[A-Za-z][A-Za-z0-9_.\-]{0,127}$.
	UserEvents map[string]UserEventFunc
	// UserEvent handles the user events that have no entry in UserEvents.
	// When both are nil for an event, the handler answers 204: success, no
	// reply.
	UserEvent UserEventFunc

	// AccessKeys are the service's access keys (primary and secondary) that
	// ce-signature is checked against; a request passes when its signature
	// matches any key. Keys are used verbatim as HMAC keys.
	AccessKeys []string
	// ConnectionString is a service connection string
	// ("Endpoint=https://<name>.webpubsub.azure.com;AccessKey=<key>;Version=1.0;");
	// its AccessKey is added to AccessKeys. "" means none.
	//
	// Signatures are validated only when AccessKeys or ConnectionString
	// provides at least one key. With no key, every request is accepted
	// unsigned, and New logs a warning.
	ConnectionString string

	// AllowedOrigins lists the services allowed to send events, for the
	// abuse-protection check (OPTIONS with WebHook-Request-Origin). Each
	// entry is an endpoint URL ("https://contoso.webpubsub.azure.com"), a
	// host with an optional port ("localhost:8080"), or "*" for any. They
	// are compared with the request origin by host and port,
	// case-insensitively. Nil or empty allows every origin.
	AllowedOrigins []string

	// MaxBodyBytes limits the request body; a larger body is answered with
	// 413. 0 means DefaultMaxBodyBytes; negative values are invalid.
	MaxBodyBytes int64

	// MaxLogFieldBytes limits each value taken from a request that a log
	// line carries (a connection id, an event name, a ce-type, an origin,
	// the reason a request was rejected): a longer value is cut at a rune
	// boundary to at most this many bytes and followed by the number of
	// bytes left out; invalid UTF-8 becomes U+FFFD. 0 means
	// DefaultMaxLogFieldBytes; negative values are invalid.
	MaxLogFieldBytes int

	// WaitForNonBlockingCallbacks makes the handler answer connected and
	// disconnected events after their callback returns. By default it
	// answers 200 first and then runs the callback, with a context that is
	// not cancelled when the service hangs up, as @azure/web-pubsub-express
	// does; the service then sends the connection's next non-blocking event
	// without waiting for the callback. Either way the answer is 200, except
	// that a callback that panics gets 500 when waited for.
	WaitForNonBlockingCallbacks bool

	// Logger receives warnings (no access key configured, an undecodable
	// ce-connectionState, a rejected signature) and errors (callback errors
	// and panics). Nil means slog.Default(). Access keys and signatures are
	// never logged.
	Logger *slog.Logger
}

// Handler is an http.Handler that receives the Web PubSub service's
// CloudEvents for one hub and dispatches them to the callbacks of Options.
// Create it with New; it is safe for concurrent use, and its configuration
// cannot change after New.
//
// Mount it at DefaultPath(hub) (or any path: the Handler does not look at
// the URL path) and point the hub's event handler URL template there, e.g.
// "https://example.com/api/webpubsub/hubs/chat/". The Handler needs no
// "{event}" in the URL: it dispatches on the ce-type header.
//
// Responses:
//   - OPTIONS: the abuse-protection check. 200 with WebHook-Allowed-Origin
//     when the WebHook-Request-Origin is allowed (the origin itself, or "*"
//     when every origin is), 400 when it is not or when the header is
//     missing (the CloudEvents reference's table says 403; either tells
//     the service that the handler refuses).
//   - Methods other than OPTIONS and POST: 405.
//   - POST with a ce-hub for another hub (compared case-insensitively): 404,
//     so a router may try another handler. A missing ce-hub, ce-type or
//     ce-connectionId, a ce-type that is not a Web PubSub event type, or a
//     body that is not the expected JSON: 400. A missing or wrong signature, when keys are configured: 401.
//     A body over the limit: 413. A user event whose Content-Type is not
//     text/plain, application/json, application/octet-stream or
//     application/x-protobuf: 415.
//   - connect: 204 (accepted, defaults), 200 with a JSON ConnectResponse, or
//     the rejection status with a text/plain detail.
//   - connected, disconnected, group presence (gp.joined, gp.left): 200
//     with an empty body. A system or presence type this version does not
//     know (azure.webpubsub.sys.<name> or azure.webpubsub.gp.<name>): 200,
//     logged once per type.
//   - user events: 204 (no reply), 200 with the reply, or the rejection.
//   - A callback that returns a non-RejectError error, or panics: 500 with a
//     generic message. The panic is logged with its stack; the server goes
//     on (http.ErrAbortHandler is re-panicked, as net/http expects).
//
// A connect or user event callback that changed the connection state
// (SetState, DeleteState, ClearStates) gets a ce-connectionState response
// header on success.
type Handler struct {
	hub       string
	connect   ConnectFunc
	connected ConnectedFunc
	disconn   DisconnectedFunc
	joined    GroupJoinedFunc
	left      GroupLeftFunc
	// unknownTypes remembers the unknown system event types logged, so
	// each is logged once (at most maxUnknownTypes of them).
	unknownMu    sync.Mutex
	unknownTypes map[string]bool
	userEvents   map[string]UserEventFunc
	userEvent    UserEventFunc
	verifier     cloudevents.Verifier
	origins      originPolicy
	maxBody      int64
	maxLogField  int
	wait         bool
	log          *slog.Logger
}

// New returns a Handler for hub. opts may be nil (see Options). New copies
// what it needs from opts; later changes to opts have no effect.
//
// It returns a *ValidationError when hub does not match
// ^[A-Za-z][A-Za-z0-9_`,.\[\]]{0,127}$, when a UserEvents name is invalid
// or its callback nil, when an access key is empty, when an AllowedOrigins
// entry is not a URL, host or "*", or when MaxBodyBytes or
// MaxLogFieldBytes is negative, and a
// *ConnectionStringError (which also wraps ErrInvalidConnectionString)
// when ConnectionString cannot be parsed. Both wrap ErrInvalidArgument. No
// error contains a key.
func New(hub string, opts *Options) (*Handler, error) {
	if r := names.Hub(hub); r != "" {
		return nil, &ValidationError{Name: "hub", Value: hub, Reason: r}
	}
	if opts == nil {
		opts = &Options{}
	}
	h := &Handler{
		hub:         hub,
		connect:     opts.Connect,
		connected:   opts.Connected,
		disconn:     opts.Disconnected,
		joined:      opts.GroupJoined,
		left:        opts.GroupLeft,
		userEvents:  maps.Clone(opts.UserEvents),
		userEvent:   opts.UserEvent,
		maxBody:     opts.MaxBodyBytes,
		maxLogField: opts.MaxLogFieldBytes,
		wait:        opts.WaitForNonBlockingCallbacks,
		log:         opts.Logger,
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	h.log = h.log.With("hub", hub)
	for name, fn := range h.userEvents {
		if r := names.Event(name); r != "" {
			return nil, &ValidationError{Name: "UserEvents key", Value: name, Reason: r}
		}
		if fn == nil {
			return nil, &ValidationError{Name: "UserEvents[" + strconv.Quote(name) + "]", Reason: "must not be a nil callback"}
		}
	}
	switch {
	case h.maxBody == 0:
		h.maxBody = DefaultMaxBodyBytes
	case h.maxBody < 0:
		return nil, &ValidationError{Name: "MaxBodyBytes", Value: strconv.FormatInt(h.maxBody, 10), Reason: "must not be negative (0 means DefaultMaxBodyBytes)"}
	}
	switch {
	case h.maxLogField == 0:
		h.maxLogField = DefaultMaxLogFieldBytes
	case h.maxLogField < 0:
		return nil, &ValidationError{Name: "MaxLogFieldBytes", Value: strconv.Itoa(h.maxLogField), Reason: "must not be negative (0 means DefaultMaxLogFieldBytes)"}
	}
	keys := make([]string, 0, len(opts.AccessKeys)+1)
	for i, k := range opts.AccessKeys {
		if strings.TrimSpace(k) == "" {
			return nil, &ValidationError{Name: "AccessKeys[" + strconv.Itoa(i) + "]", Reason: "must not be empty or only white space"}
		}
		keys = append(keys, k)
	}
	if opts.ConnectionString != "" {
		cs, err := parseConnectionString(opts.ConnectionString)
		if err != nil {
			return nil, err
		}
		keys = append(keys, cs.accessKey)
	}
	h.verifier = cloudevents.NewVerifier(keys...)
	origins, err := newOriginPolicy(opts.AllowedOrigins)
	if err != nil {
		return nil, err
	}
	h.origins = origins
	if h.verifier.Len() == 0 {
		h.log.Warn("eventhandler: no access key configured; ce-signature is not validated and any caller can send events")
	}
	return h, nil
}

// DefaultPath returns the conventional mount path of the handler for hub,
// "/api/webpubsub/hubs/<hub in lower case>/", the default path of
// @azure/web-pubsub-express. With http.ServeMux, the trailing "/" makes the
// pattern match sub-paths too, such as ".../chat/connect" when the URL
// template uses "{event}". The hub is not escaped: valid hub names need no
// escaping in a ServeMux pattern.
func DefaultPath(hub string) string {
	return "/api/webpubsub/hubs/" + strings.ToLower(hub) + "/"
}

// Hub returns the hub the handler serves, as given to New.
func (h *Handler) Hub() string { return h.hub }

// Path returns DefaultPath(h.Hub()).
func (h *Handler) Path() string { return DefaultPath(h.hub) }

// String describes the handler without its secrets, e.g.
// "eventhandler.Handler{hub: chat, access keys: 2, path: /api/webpubsub/hubs/chat/}".
// Access keys are counted, never shown; %v and %+v print this too.
func (h *Handler) String() string {
	return fmt.Sprintf("eventhandler.Handler{hub: %s, access keys: %d, path: %s}", h.hub, h.verifier.Len(), h.Path())
}

// GoString is String, for %#v.
func (h *Handler) GoString() string { return h.String() }

// ServeHTTP implements http.Handler. See Handler for the responses.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodOptions:
		h.serveValidate(w, r)
		return
	case http.MethodPost:
	default:
		w.Header().Set("Allow", "OPTIONS, POST")
		writeText(w, http.StatusMethodNotAllowed, "eventhandler: only OPTIONS and POST are supported")
		return
	}
	req, err := h.readEvent(w, r)
	if err != nil {
		var re *requestError
		if !errors.As(err, &re) {
			re = &requestError{status: http.StatusBadRequest, msg: "the request cannot be read"}
		}
		if re.status == http.StatusUnauthorized {
			h.log.Warn("eventhandler: request rejected", "reason", h.cut(re.msg))
		} else {
			h.log.Debug("eventhandler: request rejected", "status", re.status, "reason", h.cut(re.msg))
		}
		writeText(w, re.status, re.Error())
		return
	}
	switch req := req.(type) {
	case *ConnectRequest:
		h.serveConnect(r.Context(), w, req)
	case *ConnectedRequest:
		h.serveNonBlocking(r.Context(), w, &req.ConnectionContext, callback(h.connected, req))
	case *DisconnectedRequest:
		h.serveNonBlocking(r.Context(), w, &req.ConnectionContext, callback(h.disconn, req))
	case *GroupJoinedRequest:
		h.serveNonBlocking(r.Context(), w, &req.ConnectionContext, callback(h.joined, req))
	case *GroupLeftRequest:
		h.serveNonBlocking(r.Context(), w, &req.ConnectionContext, callback(h.left, req))
	case *otherSystemEvent:
		h.serveNonBlocking(r.Context(), w, &req.ConnectionContext, func(context.Context) error {
			h.logUnknownType(req.Type)
			return nil
		})
	case *UserEventRequest:
		h.serveUserEvent(r.Context(), w, req)
	}
}

// callback is the call of fn with req; nothing when fn is nil.
func callback[R any, F ~func(context.Context, *R) error](fn F, req *R) func(context.Context) error {
	return func(ctx context.Context) error {
		if fn == nil {
			return nil
		}
		return fn(ctx, req)
	}
}

// maxUnknownTypes bounds the unknown event types remembered for logging.
const maxUnknownTypes = 64

// logUnknownType logs, once per type, a system event type the handler
// does not know; it was answered 200, so a newer service's events never
// fail.
func (h *Handler) logUnknownType(typ string) {
	h.unknownMu.Lock()
	defer h.unknownMu.Unlock()
	if h.unknownTypes[typ] || len(h.unknownTypes) >= maxUnknownTypes {
		return
	}
	if h.unknownTypes == nil {
		h.unknownTypes = map[string]bool{}
	}
	h.unknownTypes[typ] = true
	h.log.Info("eventhandler: answering 200 to a system event type this version does not know", "type", h.cut(typ))
}

// serveValidate answers the abuse-protection check.
func (h *Handler) serveValidate(w http.ResponseWriter, r *http.Request) {
	origin := strings.TrimSpace(r.Header.Get(HeaderRequestOrigin))
	if origin == "" {
		writeText(w, http.StatusBadRequest, "eventhandler: the WebHook-Request-Origin header is missing")
		return
	}
	allowed, ok := h.origins.allow(origin)
	if !ok {
		h.log.Warn("eventhandler: abuse-protection check from an origin that is not allowed", "origin", h.cut(origin))
		writeText(w, http.StatusBadRequest, "eventhandler: the origin is not allowed")
		return
	}
	w.Header().Set(HeaderAllowedOrigin, allowed)
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
}

// readEvent checks the hub and the signature, reads the body within the
// limit and parses the request. Errors are *requestError.
func (h *Handler) readEvent(w http.ResponseWriter, r *http.Request) (any, error) {
	hub := r.Header.Get(cloudevents.HeaderHub)
	if hub == "" {
		return nil, badRequest("the ce-hub header is missing")
	}
	if !strings.EqualFold(hub, h.hub) {
		return nil, &requestError{status: http.StatusNotFound, msg: "this handler does not serve the hub of the request"}
	}
	kind, cc, stateErr, err := parseHeaders(r.Header)
	if err != nil {
		return nil, err
	}
	if h.verifier.Len() > 0 {
		if len(r.Header.Values(HeaderSignature)) == 0 {
			return nil, &requestError{status: http.StatusUnauthorized, msg: "the ce-signature header is missing"}
		}
		if !h.verifier.Verify(cc.ConnectionID, r.Header.Values(HeaderSignature)) {
			return nil, &requestError{status: http.StatusUnauthorized, msg: "the ce-signature header matches no access key"}
		}
	}
	if stateErr != nil {
		h.log.Warn("eventhandler: the ce-connectionState header cannot be decoded; using an empty state",
			"connectionId", h.cut(cc.ConnectionID), "reason", h.cut(stateErr.Error()))
	}
	body, err := h.readBody(w, r)
	if err != nil {
		return nil, err
	}
	return parseBody(kind, cc, r.Header.Get("Content-Type"), body)
}

func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	tooLarge := &requestError{status: http.StatusRequestEntityTooLarge,
		msg: "the request body is larger than " + strconv.FormatInt(h.maxBody, 10) + " bytes"}
	if r.ContentLength > h.maxBody {
		return nil, tooLarge
	}
	if r.Body == nil {
		return nil, nil
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge
		}
		return nil, badRequest("the request body cannot be read")
	}
	return body, nil
}

func (h *Handler) serveConnect(ctx context.Context, w http.ResponseWriter, req *ConnectRequest) {
	if h.connect == nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	var resp *ConnectResponse
	err := h.guard(req.EventName, func() error {
		var err error
		resp, err = h.connect(ctx, req)
		return err
	})
	if err != nil {
		h.writeConnectFailure(w, req, err)
		return
	}
	var body []byte
	if !resp.isEmpty() {
		body, err = json.Marshal(resp)
		if err != nil {
			h.log.Error("eventhandler: cannot marshal the connect response", "connectionId", h.cut(req.ConnectionID), "error", err)
			writeText(w, http.StatusInternalServerError, genericFailure)
			return
		}
	}
	if v, ok := req.stateHeader(); ok {
		w.Header().Set(HeaderConnectionState, v)
	}
	if body == nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// genericFailure is the body of a 500 caused by a callback error or panic.
// The error itself is logged, never sent: it may hold details the client
// must not see.
const genericFailure = "The event handler failed to process the event."

// failure returns the status and body of the answer to a blocking event
// whose callback returned err. A *RejectError gives the status allowed maps
// its StatusCode to and, when allowed accepts it, its Detail; any other
// error gives 500 and genericFailure. It logs a refused status and any
// error but a panic (guard logged that), naming the event as what and
// the refused statuses as refused, with the attributes attrs.
func (h *Handler) failure(err error, allowed func(int) (int, bool), what, refused string, attrs ...any) (status int, detail string) {
	var rej *RejectError
	if !errors.As(err, &rej) {
		if !errors.Is(err, errPanicked) {
			h.log.Error("eventhandler: "+what+" callback failed", append(attrs, "error", err)...)
		}
		return http.StatusInternalServerError, genericFailure
	}
	status, ok := allowed(rej.StatusCode)
	if !ok {
		h.log.Error("eventhandler: "+what+" rejected with a status "+refused+"; answering 500", append(attrs, "status", rej.StatusCode)...)
		return status, genericFailure
	}
	return status, rej.Detail
}

func (h *Handler) writeConnectFailure(w http.ResponseWriter, req *ConnectRequest, err error) {
	status, detail := h.failure(err, connectStatus, "connect", "that is not 400, 401, 403 or 500", "connectionId", h.cut(req.ConnectionID))
	if req.MQTT != nil {
		version := 4
		if req.MQTTProperties != nil {
			version = req.MQTTProperties.ProtocolVersion
		}
		type mqttFailure struct {
			Code   int    `json:"code"`
			Reason string `json:"reason,omitempty"`
		}
		body, _ := json.Marshal(struct {
			MQTT mqttFailure `json:"mqtt"`
		}{mqttFailure{Code: mqttConnectCode(status, version), Reason: detail}})
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(status)
		_, _ = w.Write(body)
		return
	}
	writeText(w, status, detail)
}

func (h *Handler) serveUserEvent(ctx context.Context, w http.ResponseWriter, req *UserEventRequest) {
	fn := h.userEvents[req.EventName]
	if fn == nil {
		fn = h.userEvent
	}
	if fn == nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	var resp *UserEventResponse
	err := h.guard(req.EventName, func() error {
		var err error
		resp, err = fn(ctx, req)
		return err
	})
	if err != nil {
		status, detail := h.failure(err, userEventStatus, "user event", "outside 400..599", "event", h.cut(req.EventName), "connectionId", h.cut(req.ConnectionID))
		writeText(w, status, detail)
		return
	}
	if v, ok := req.stateHeader(); ok {
		w.Header().Set(HeaderConnectionState, v)
	}
	ct := resp.contentType()
	if ct == "" {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	data := resp.p.Data()
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(data)
}

// serveNonBlocking answers a connected or disconnected event and runs its
// callback, in the order WaitForNonBlockingCallbacks selects.
func (h *Handler) serveNonBlocking(ctx context.Context, w http.ResponseWriter, cc *ConnectionContext, call func(context.Context) error) {
	if !h.wait {
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusOK)
		// Push the answer out now; the callback runs afterwards. A writer
		// that cannot flush sends it when the handler returns.
		_ = http.NewResponseController(w).Flush()
		ctx = context.WithoutCancel(ctx)
	}
	err := h.guard(cc.EventName, func() error { return call(ctx) })
	if err != nil && !errors.Is(err, errPanicked) {
		h.log.Error("eventhandler: "+h.cut(cc.EventName)+" callback failed", "connectionId", h.cut(cc.ConnectionID), "error", err)
	}
	if h.wait {
		if errors.Is(err, errPanicked) {
			writeText(w, http.StatusInternalServerError, genericFailure)
			return
		}
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusOK)
	}
}

// errPanicked is returned by guard when the callback panicked.
var errPanicked = errors.New("eventhandler: the callback panicked")

// guard runs f, turning a panic into errPanicked after logging it with its
// stack. http.ErrAbortHandler is re-panicked: it asks net/http to abort the
// response, and net/http handles it quietly.
func (h *Handler) guard(event string, f func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			h.log.Error("eventhandler: callback panicked", "event", h.cut(event), "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			err = errPanicked
		}
	}()
	return f()
}

// writeText writes a plain-text response.
func writeText(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Length", strconv.Itoa(len(msg)))
	w.WriteHeader(status)
	_, _ = io.WriteString(w, msg)
}

// cut returns s, a value taken from a request, for a log line: valid
// UTF-8 and at most maxLogField bytes (see Options.MaxLogFieldBytes).
func (h *Handler) cut(s string) string { return redact.Preview(s, h.maxLogField) }
