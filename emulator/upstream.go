package emulator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gowebpubsub/webpubsub/internal/cloudevents"
)

// DefaultEventHandlerTimeout bounds each upstream call when
// Options.EventHandlerTimeout is zero.
const DefaultEventHandlerTimeout = 100 * time.Second

// DefaultEventHandlerRetryDelays are the waits between the attempts of a
// connected or disconnected event when Options.EventHandlerRetryDelays is
// nil. The emulator never modifies it.
var DefaultEventHandlerRetryDelays = []time.Duration{time.Second, 3 * time.Second, 5 * time.Second}

// Upstream limits. A ce-connectionState longer than
// cloudevents.MaxStateLength fails the event.
const (
	maxUpstreamBody  = 16 << 20 // a larger response is a failure
	maxRejectionBody = 4 << 10  // the part of a connect rejection the client sees
)

const (
	contentTypeSystem = "application/json; charset=utf-8"
	contentTypeText   = "text/plain"
	contentTypeJSON   = "application/json"
	contentTypeBinary = "application/octet-stream"
	// contentTypeProtobuf carries the encoded google.protobuf.Any of a
	// protobuf client's protobuf_data, and of a handler's reply.
	contentTypeProtobuf = "application/x-protobuf"
)

// newUpstreamClient returns the HTTP client of upstream calls: no proxy,
// no redirects (a 3xx is a failure), no overall timeout (each call has its
// own).
func newUpstreamClient() (*http.Transport, *http.Client) {
	tr := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          64,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		ForceAttemptHTTP2:     true,
	}
	return tr, &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// upstreamEvent is one CloudEvents request, with the connection's
// attributes as they were when the event was created.
type upstreamEvent struct {
	ceType, name, id string
	contentType      string
	body             []byte
	hub, connID      string
	userID           string
	subprotocol      string
	// physicalID and sessionID are the MQTT attributes; "" otherwise.
	physicalID, sessionID string
	state                 string
	origin                string
	time                  time.Time
}

// newEvent creates the next event of c; connect passes its fixed id "0".
func (c *conn) newEvent(ceType, name, contentType string, body []byte, fixedID string) *upstreamEvent {
	id := fixedID
	if id == "" {
		id = strconv.FormatUint(c.nextEventID.Add(1)-1, 10)
	}
	c.mu.Lock()
	state := c.state
	c.mu.Unlock()
	ev := &upstreamEvent{
		ceType: ceType, name: name, id: id, contentType: contentType, body: body,
		hub: c.HubName(), connID: c.ID, userID: c.UserID, subprotocol: c.subprotocol,
		state: state, origin: c.origin, time: c.e.now(),
	}
	if s := c.mqtt; s != nil {
		s.mu.Lock() // a resumed session changes its physical connection
		ev.physicalID, ev.sessionID = s.physicalID, s.sessionID
		s.mu.Unlock()
	}
	return ev
}

// upstreamResponse is a handler's answer, body included.
type upstreamResponse struct {
	status int
	header http.Header
	body   []byte
}

// upstreamError is a failed upstream call. Its text is what a client may
// see in an InternalServerError ack; it never holds the URL.
type upstreamError struct {
	msg string
	// status is the handler's status when it answered 4xx or 5xx, else 0.
	status int
	// body is the start of that answer's body.
	body []byte
	// retry marks failures after which a non-blocking event is retried.
	retry bool
}

func (e *upstreamError) Error() string { return e.msg }

var (
	errUpstreamTimeout     = &upstreamError{msg: "The event handler request timed out.", retry: true}
	errUpstreamUnreachable = &upstreamError{msg: "The event handler could not be reached.", retry: true}
	errUpstreamRedirect    = &upstreamError{msg: "The event handler answered with a redirect."}
	errUpstreamTooLarge    = &upstreamError{msg: "The event handler response is too large."}
	errUpstreamValidation  = &upstreamError{msg: "The event handler did not pass the abuse-protection check."}
	errUpstreamCanceled    = &upstreamError{msg: "The connection ended before the event handler answered."}
)

// statusError is the failure of a handler that answered code.
func statusError(code int, body []byte) *upstreamError {
	return &upstreamError{
		msg:    fmt.Sprintf("The event handler returned status code %d.", code),
		status: code, body: body,
		retry: code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500,
	}
}

// setHeader sets a header with exactly the given name casing, the
// documented one.
func setHeader(h http.Header, name, value string) {
	h[name] = []string{value}
}

// post sends ev to handler h: the abuse-protection check first when it is
// due, then the POST, bounded by the emulator's handler timeout. A 2xx
// answer is returned; anything else is an *upstreamError.
func (e *Emulator) post(ctx context.Context, h *eventHandler, ev *upstreamEvent) (resp *upstreamResponse, err error) {
	if e.trace != nil {
		start := time.Now()
		defer func() {
			status := 0
			if resp != nil {
				status = resp.status
			} else {
				var ue *upstreamError
				if errors.As(err, &ue) {
					status = ue.status
				}
			}
			e.trace.upstream(ev.hub, ev.connID, ev.name, h.url(ev.hub, ev.name), status, time.Since(start), err)
		}()
	}
	if err := e.validateHandler(ctx, h, ev.hub, ev.origin); err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url(ev.hub, ev.name), bytes.NewReader(ev.body))
	if err != nil {
		return nil, errUpstreamUnreachable
	}
	setHeader(req.Header, "Content-Type", ev.contentType)
	attrs := cloudevents.Attributes{
		Type:         ev.ceType,
		EventName:    ev.name,
		ID:           ev.id,
		Source:       cloudevents.Source(ev.hub, ev.connID),
		Time:         ev.time.UTC().Format(cloudevents.TimeLayout),
		Hub:          ev.hub,
		ConnectionID: ev.connID,
		UserID:       ev.userID,
		Signature:    cloudevents.Signature(ev.connID, e.key, e.secondaryKey), // the primary key first
		Origin:       ev.origin,
	}
	if ev.ceType != cloudevents.TypeConnect {
		// No subprotocol is negotiated yet, and no state set, on connect.
		attrs.Subprotocol, attrs.ConnectionState = ev.subprotocol, ev.state
	}
	if ev.physicalID != "" {
		// An MQTT connection: its subprotocol is known on connect too, and
		// its session has an id from the connected event on.
		attrs.Subprotocol, attrs.PhysicalConnectionID = ev.subprotocol, ev.physicalID
		if ev.ceType != cloudevents.TypeConnect {
			attrs.SessionID = ev.sessionID
		}
	}
	attrs.SetHeaders(req.Header)
	resp, err = e.do(ctx, req)
	if err != nil {
		return nil, err
	}
	if resp.status < 200 || resp.status > 299 {
		body := resp.body
		if len(body) > maxRejectionBody {
			body = body[:maxRejectionBody]
		}
		return nil, statusError(resp.status, body)
	}
	return resp, nil
}

// do sends req with the handler timeout and reads the answer, up to
// maxUpstreamBody. A 3xx, a network error, a timeout or a larger body is
// an *upstreamError.
func (e *Emulator) do(ctx context.Context, req *http.Request) (*upstreamResponse, error) {
	ctx, cancel := withClockTimeout(ctx, e.clock, e.handlerTimeout)
	defer cancel()
	resp, err := e.upClient.Do(req.WithContext(ctx))
	if err != nil {
		return nil, classify(ctx, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxUpstreamBody+1))
	if err != nil {
		return nil, classify(ctx, err)
	}
	if len(body) > maxUpstreamBody {
		return nil, errUpstreamTooLarge
	}
	if resp.StatusCode >= 300 && resp.StatusCode <= 399 {
		return nil, errUpstreamRedirect
	}
	return &upstreamResponse{status: resp.StatusCode, header: resp.Header, body: body}, nil
}

// classify maps a transport error to an upstreamError without its text,
// which would name the URL.
func classify(ctx context.Context, err error) *upstreamError {
	switch {
	case errors.Is(context.Cause(ctx), context.DeadlineExceeded):
		return errUpstreamTimeout
	case ctx.Err() != nil:
		return errUpstreamCanceled
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return errUpstreamTimeout
	}
	return errUpstreamUnreachable
}

// validationKey identifies one abuse-protection check: a handler, its
// resolved validation URL and the origin it was asked for.
type validationKey struct {
	h           *eventHandler
	url, origin string
}

// validateHandler runs the abuse-protection check,
// unless the handler skips it or it already succeeded. A success is kept;
// a failure is not, so the next event checks again.
func (e *Emulator) validateHandler(ctx context.Context, h *eventHandler, hub, origin string) error {
	if !h.validate {
		return nil
	}
	key := validationKey{h: h, url: h.url(hub, "validate"), origin: origin}
	e.validMu.Lock()
	ok := e.validated[key]
	e.validMu.Unlock()
	if ok {
		return nil
	}
	resp, err := e.validationRequest(ctx, http.MethodOptions, key)
	if err == nil && (resp.status == http.StatusNotFound || resp.status == http.StatusMethodNotAllowed) {
		// Fallback for handlers that do not answer OPTIONS.
		resp, err = e.validationRequest(ctx, http.MethodGet, key)
	}
	if err != nil {
		return err
	}
	if !allowsOrigin(resp, key.origin) {
		e.log.Warn("event handler refused the abuse-protection check", "hub", hub, "handler", redactURL(key.url), "status", resp.status)
		return errUpstreamValidation
	}
	e.validMu.Lock()
	e.validated[key] = true
	e.validMu.Unlock()
	return nil
}

// allowsOrigin reports whether a check's answer allows origin: a 2xx with
// a WebHook-Allowed-Origin entry (of any of its lines, split on ',') that
// is "*" or the origin, case-insensitively.
func allowsOrigin(resp *upstreamResponse, origin string) bool {
	if resp.status < 200 || resp.status > 299 {
		return false
	}
	for _, v := range resp.header.Values(cloudevents.HeaderAllowedOrigin) {
		for _, o := range strings.Split(v, ",") {
			o = strings.TrimSpace(o)
			if o == "*" || strings.EqualFold(o, origin) {
				return true
			}
		}
	}
	return false
}

// validationRequest sends one abuse-protection request. Status codes are
// not errors here.
func (e *Emulator) validationRequest(ctx context.Context, method string, key validationKey) (*upstreamResponse, error) {
	req, err := http.NewRequestWithContext(ctx, method, key.url, nil)
	if err != nil {
		return nil, errUpstreamUnreachable
	}
	setHeader(req.Header, cloudevents.HeaderRequestOrigin, key.origin)
	setHeader(req.Header, cloudevents.HeaderAWPSVersion, cloudevents.AWPSVersion)
	return e.do(ctx, req)
}

// redactURL drops the query and user info of a handler URL for logs: a
// ?code= query is a credential.
func redactURL(u string) string {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		u = u[:i]
	}
	if scheme, rest, ok := strings.Cut(u, "://"); ok {
		if at := strings.IndexByte(rest, '@'); at >= 0 && at < strings.IndexByte(rest+"/", '/') {
			rest = rest[at+1:]
		}
		u = scheme + "://" + rest
	}
	return u
}

// mediaTypeOf returns the lower-case media type of a Content-Type value,
// without parameters; "" when there is none.
func mediaTypeOf(ct string) string {
	if ct == "" {
		return ""
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		mt, _, _ = strings.Cut(ct, ";")
		mt = strings.ToLower(strings.TrimSpace(mt))
	}
	return mt
}

// newState applies a blocking response's ce-connectionState header:
// present replaces (the last value wins, empty
// clears), absent keeps. ok is false when the value is too long.
func newState(h http.Header, current string) (state string, ok bool) {
	values := h.Values(cloudevents.HeaderConnectionState)
	if len(values) == 0 {
		return current, true
	}
	v := values[len(values)-1]
	if len(v) > cloudevents.MaxStateLength {
		return current, false
	}
	return v, true
}

// dispatchNonBlocking sends ev to h in the background, after the
// connection's previous non-blocking event completed or gave up,
// retrying after network errors, 408, 429 and 5xx.
// The caller must be counted in e.wg.
func (c *conn) dispatchNonBlocking(h *eventHandler, ev *upstreamEvent) {
	c.mu.Lock()
	prev := c.lastNonBlocking
	done := make(chan struct{})
	c.lastNonBlocking = done
	c.mu.Unlock()
	e := c.e
	e.goTracked(func() {
		defer close(done)
		if prev != nil {
			<-prev
		}
		if ev.ceType == cloudevents.TypeDisconnected {
			// disconnected comes last: wait for a frame still being
			// processed (its upstream call is canceled by now).
			c.proc.Lock()
			//lint:ignore SA2001 the empty critical section is the wait
			c.proc.Unlock()
		}
		e.sendWithRetries(h, ev)
	})
}

// sendWithRetries sends a non-blocking event: at most 1+len(retryDelays)
// attempts, and no retry once Close began.
func (e *Emulator) sendWithRetries(h *eventHandler, ev *upstreamEvent) {
	for attempt := 0; ; attempt++ {
		_, err := e.post(e.upstreamCtx, h, ev)
		if err == nil {
			return
		}
		var ue *upstreamError
		retry := errors.As(err, &ue) && ue.retry
		if !retry || attempt >= len(e.retryDelays) || e.upstreamCtx.Err() != nil {
			e.log.Warn("upstream event failed", "hub", ev.hub, "connectionId", ev.connID, "event", ev.name, "error", err.Error())
			return
		}
		t := newClockTimer(e.clock, e.retryDelays[attempt])
		select {
		case <-t.C:
		case <-e.shutdown:
			// No retries once Close began: the attempt made counts.
			t.Stop()
			e.log.Warn("upstream event abandoned at shutdown", "hub", ev.hub, "connectionId", ev.connID, "event", ev.name, "error", err.Error())
			return
		}
	}
}

// connectedUpstream dispatches the connected event, if a handler takes it.
func (c *conn) connectedUpstream() {
	if h := c.systemHandler(SystemEventConnected); h != nil {
		c.dispatchNonBlocking(h, c.newEvent(cloudevents.TypeConnected, SystemEventConnected, contentTypeSystem, []byte("{}"), ""))
	}
	// The presence events of the initial groups follow.
	c.mu.Lock()
	c.connectedSent = true
	early, to := c.earlyPresence, c.presenceTo
	c.earlyPresence, c.presenceTo = nil, nil
	c.mu.Unlock()
	for i, ev := range early {
		c.dispatchNonBlocking(to[i], ev)
	}
}

// disconnectedUpstream dispatches the disconnected event, if a handler
// takes it.
func (c *conn) disconnectedUpstream(reason string) {
	h := c.systemHandler(SystemEventDisconnected)
	if h == nil {
		return
	}
	r, _ := json.Marshal(reason) // a string always encodes
	body := append(append([]byte(`{"reason":`), r...), '}')
	if c.mqtt != nil {
		body = append(append(body[:len(body)-1], `,"mqtt":`...), c.mqtt.disconnectedJSON()...)
		body = append(body, '}')
	}
	c.dispatchNonBlocking(h, c.newEvent(cloudevents.TypeDisconnected, SystemEventDisconnected, contentTypeSystem, body, ""))
}
