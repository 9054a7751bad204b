package emulator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gowebpubsub/webpubsub/internal/auth"
	"github.com/gowebpubsub/webpubsub/internal/names"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"

	"github.com/gowebpubsub/webpubsub/emulator/internal/core"
	"github.com/gowebpubsub/webpubsub/internal/cloudevents"
	"github.com/gowebpubsub/webpubsub/internal/protocol"
)

// ---- connect ----

// connectBody is the body of the connect event.
type connectBody struct {
	Claims             map[string][]string `json:"claims"`
	Query              map[string][]string `json:"query"`
	Headers            map[string][]string `json:"headers"`
	Subprotocols       []string            `json:"subprotocols"`
	ClientCertificates []struct{}          `json:"clientCertificates"`
	// MQTT holds the CONNECT packet's fields for an MQTT connection.
	MQTT *cloudevents.MQTTConnect `json:"mqtt,omitempty"`
}

// connectResult is what a connect handler's 2xx answer asks for.
type connectResult struct {
	userID      string   // "" keeps the token's user
	roles       []string // replaces the token's roles when hasRoles
	hasRoles    bool
	groups      []string // replaces the token's groups when non-empty
	subprotocol string   // "" keeps the default selection
	// mqttUserProperties are the user properties of an MQTT CONNACK.
	mqttUserProperties []core.KeyValue
}

// connectUpstream sends the blocking connect event for c and reads the
// answer. On failure status is the HTTP status the client's upgrade gets,
// with msg as its text/plain body: the handler's own status and body for a
// 4xx or 5xx answer, 500 otherwise. On success the
// connection state of the answer is already stored on c.
func (e *Emulator) connectUpstream(c *conn, h *eventHandler, r *http.Request, id clientIdentity, offered []string) (res connectResult, status int, msg string) {
	body := connectBody{
		Claims:             claimsForUpstream(id.claims),
		Query:              map[string][]string{},
		Headers:            map[string][]string{},
		Subprotocols:       append([]string{}, offered...),
		ClientCertificates: []struct{}{},
	}
	if c.mqtt != nil {
		body.MQTT = c.mqtt.connectInfo
	}
	for k, v := range r.URL.Query() {
		body.Query[k] = v
	}
	for k, v := range r.Header {
		body.Headers[k] = v
	}
	if r.Host != "" {
		body.Headers["Host"] = []string{r.Host}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(body); err != nil {
		return res, http.StatusInternalServerError, "The connect event could not be encoded."
	}
	ev := c.newEvent(cloudevents.TypeConnect, SystemEventConnect, contentTypeSystem, bytes.TrimSuffix(buf.Bytes(), []byte("\n")), "0")
	resp, err := e.post(c.life, h, ev)
	if err != nil {
		var ue *upstreamError
		if errors.As(err, &ue) && ue.status >= 400 && ue.status <= 599 {
			return res, ue.status, string(bytes.ToValidUTF8(ue.body, []byte("\uFFFD")))
		}
		return res, http.StatusInternalServerError, "The connect event handler failed: " + err.Error()
	}
	state, ok := newState(resp.header, "")
	if !ok {
		return res, http.StatusInternalServerError, "The connect event handler returned a connection state longer than 16 KiB."
	}
	res, err = parseConnectResponse(resp.body)
	if err != nil {
		return res, http.StatusInternalServerError, "The connect event handler returned an invalid response: " + err.Error()
	}
	c.mu.Lock()
	c.state = state
	c.mu.Unlock()
	return res, 0, ""
}

// parseConnectResponse reads a connect answer's body. An empty body or JSON null accepts with the token's defaults.
// Field names match exactly; unknown fields are ignored.
func parseConnectResponse(b []byte) (connectResult, error) {
	var res connectResult
	b = bytes.TrimSpace(b)
	if len(b) == 0 || string(b) == "null" {
		return res, nil
	}
	if !utf8.Valid(b) {
		return res, errors.New("the body is not UTF-8")
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil || fields == nil {
		return res, errors.New("the body is not a JSON object")
	}
	var user, sub *string
	var roles, groups *[]string
	for _, f := range []struct {
		name string
		dst  any
	}{{"userId", &user}, {"roles", &roles}, {"groups", &groups}, {"subprotocol", &sub}} {
		if raw, ok := fields[f.name]; ok {
			if err := json.Unmarshal(raw, f.dst); err != nil {
				return res, fmt.Errorf("the field %q has the wrong type", f.name)
			}
		}
	}
	if user != nil {
		res.userID = *user
	}
	if sub != nil {
		res.subprotocol = strings.TrimSpace(*sub)
		if res.subprotocol != "" {
			res.subprotocol = *sub
		}
	}
	if roles != nil {
		res.roles, res.hasRoles = *roles, true
	}
	if raw, ok := fields["mqtt"]; ok {
		var m struct {
			UserProperties []cloudevents.MQTTUserProperty `json:"userProperties"`
		}
		if err := json.Unmarshal(raw, &m); err != nil {
			return res, errors.New("the field \"mqtt\" has the wrong type")
		}
		for _, u := range m.UserProperties {
			res.mqttUserProperties = append(res.mqttUserProperties, core.KeyValue{Key: u.Name, Value: u.Value})
		}
	}
	if groups != nil {
		for _, g := range *groups {
			if names.Group(g) != "" {
				return res, errors.New("the groups field has an invalid group name")
			}
		}
		res.groups = *groups
	}
	return res, nil
}

// apply overrides the token's identity and the default subprotocol with a
// connect answer. It returns 500 and a
// message when the chosen subprotocol was not offered or is unsupported.
func (res connectResult) apply(c *conn, id *clientIdentity, offered []string) (int, string) {
	if res.userID != "" {
		id.userID = res.userID
		c.UserID = res.userID
	}
	if res.hasRoles {
		id.roles = res.roles
	}
	if len(res.groups) > 0 {
		id.groups = res.groups
	}
	if res.subprotocol == "" {
		return 0, ""
	}
	if !slices.Contains(offered, res.subprotocol) {
		return http.StatusInternalServerError, "The connect event handler selected a subprotocol the client did not offer."
	}
	sp := res.subprotocol
	n, ok := pubSubSubprotocol(sp)
	switch {
	case ok:
	case isUnsupportedPredefined(sp):
		return http.StatusInternalServerError, "The connect event handler selected a subprotocol this emulator does not support."
	default:
		n = negotiated{kind: kindRaw}
	}
	c.subprotocol = sp
	c.setSubprotocol(n)
	return 0, ""
}

// claimsForUpstream turns token claims into the connect event's claims
// map: every value stringified, array claims one string per element, plus
// the .NET-style aliases of the user id and roles.
func claimsForUpstream(claims jwt.MapClaims) map[string][]string {
	out := make(map[string][]string, len(claims)+3)
	for k, v := range claims {
		if arr, ok := v.([]any); ok {
			vals := make([]string, 0, len(arr))
			for _, x := range arr {
				if s, ok := claimString(x); ok {
					vals = append(vals, s)
				}
			}
			out[k] = vals
			continue
		}
		if s, ok := claimString(v); ok {
			out[k] = []string{s}
		}
	}
	if sub, ok := out[auth.ClaimSubject]; ok {
		for _, alias := range []string{auth.ClaimNameID, auth.ClaimNameIDLong} {
			if _, present := out[alias]; !present {
				out[alias] = sub
			}
		}
	}
	if roles, ok := out[auth.ClaimRole]; ok {
		if _, present := out[auth.ClaimRoleLong]; !present {
			out[auth.ClaimRoleLong] = roles
		}
	}
	return out
}

// claimString stringifies one claim value: strings as they are, numbers
// in their shortest decimal form, booleans as true/false, objects and
// arrays as compact JSON. ok is false for null.
func claimString(v any) (string, bool) {
	switch t := v.(type) {
	case nil:
		return "", false
	case string:
		return t, true
	case bool:
		return strconv.FormatBool(t), true
	case json.Number:
		s := t.String()
		if _, err := strconv.ParseInt(s, 10, 64); err == nil {
			return s, true
		}
		if f, err := t.Float64(); err == nil {
			return strconv.FormatFloat(f, 'f', -1, 64), true
		}
		return s, true
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64), true
	default:
		b, err := json.Marshal(t)
		if err != nil {
			return "", false
		}
		return string(b), true
	}
}

// ---- user events ----

// eventReply is a decoded 2xx answer to a user event.
type eventReply struct {
	has  bool
	dt   protocol.DataType
	data []byte
}

// replyOf maps a user event's 2xx answer to the message the client gets:
// nothing for an empty body, else text,
// JSON (which must parse when strictJSON) or binary by media type. Any
// other media type is a failure, reported as the ack's message.
func replyOf(resp *upstreamResponse, strictJSON bool) (eventReply, string) {
	if len(resp.body) == 0 {
		return eventReply{}, ""
	}
	switch mediaTypeOf(resp.header.Get("Content-Type")) {
	case "text/plain":
		return eventReply{has: true, dt: protocol.DataTypeText, data: resp.body}, ""
	case "application/json":
		if strictJSON && (!utf8.Valid(resp.body) || !json.Valid(resp.body)) {
			return eventReply{}, "The event handler returned invalid JSON."
		}
		return eventReply{has: true, dt: protocol.DataTypeJSON, data: resp.body}, ""
	case "application/octet-stream", "":
		return eventReply{has: true, dt: protocol.DataTypeBinary, data: resp.body}, ""
	case contentTypeProtobuf:
		if !protocol.ValidProtobufData(resp.body) {
			return eventReply{}, "The event handler returned a body that is not an encoded google.protobuf.Any."
		}
		return eventReply{has: true, dt: protocol.DataTypeProtobuf, data: resp.body}, ""
	default:
		return eventReply{}, "The event handler returned an unsupported content type."
	}
}

// callUser sends a blocking user event and applies its answer's
// connection state. It returns the reply, or the failure message and,
// when the upstream call itself failed, its *upstreamError (else nil).
// ctx bounds the call: c.life, or an invocation's own context.
func (c *conn) callUser(ctx context.Context, h *eventHandler, name, contentType string, data []byte, strictJSON bool) (eventReply, string, *upstreamError) {
	// The body is a copy: the transport may still read it after the call
	// returns, and data is a pooled read buffer.
	ev := c.newEvent(cloudevents.UserType(name), name, contentType, bytes.Clone(data), "")
	resp, err := c.e.post(ctx, h, ev)
	if err != nil {
		c.e.log.Debug("user event failed", "hub", c.HubName(), "connectionId", c.ID, "event", c.e.cut(name), "error", c.e.cut(err.Error()))
		ue, _ := err.(*upstreamError)
		return eventReply{}, err.Error(), ue
	}
	reply, msg := replyOf(resp, strictJSON)
	if msg != "" {
		return reply, msg, nil
	}
	c.mu.Lock()
	state, ok := newState(resp.header, c.state)
	c.state = state
	c.mu.Unlock()
	if !ok {
		return eventReply{}, "The event handler returned a connection state longer than 16 KiB.", nil
	}
	return reply, "", nil
}

// contentTypeOf is the Content-Type of a user event whose frame has
// data type dt.
func contentTypeOf(dt protocol.DataType) string {
	switch dt {
	case protocol.DataTypeText:
		return contentTypeText
	case protocol.DataTypeBinary:
		return contentTypeBinary
	case protocol.DataTypeProtobuf:
		return contentTypeProtobuf
	}
	return contentTypeJSON
}

// userEvent forwards an event frame upstream and delivers the handler's reply as a server message. It
// returns "" on success, or the message of the InternalServerError ack.
func (c *conn) userEvent(f *protocol.ClientFrame) string {
	h := c.userHandler(f.Event)
	if h == nil {
		return fmt.Sprintf("No event handler is configured for event '%s'.", f.Event)
	}
	reply, msg, _ := c.callUser(c.life, h, f.Event, contentTypeOf(f.DataType), f.Data, true)
	if msg != "" {
		return msg
	}
	if reply.has {
		data := reply.data
		if reply.dt == protocol.DataTypeText {
			data = bytes.ToValidUTF8(data, []byte("\uFFFD"))
		}
		m := newMessage("", "", reply.dt, data)
		m.Source, m.Target = "upstream", "connection"
		c.DeliverReply(m)
	}
	return ""
}

// handleRaw handles a frame from a raw client: the blocking user event
// "message". Without a handler for it the
// connection is closed with 1000 and an empty reason, as the service
// does; a failing handler closes it with 1011. A 2xx body goes back as a
// text or binary frame.
func (c *conn) handleRaw(typ websocket.MessageType, b []byte) {
	const name = "message"
	h := c.userHandler(name)
	if h == nil {
		c.terminate(websocket.StatusNormalClosure, "", false)
		return
	}
	ct := contentTypeText
	if typ == websocket.MessageBinary {
		ct = contentTypeBinary
	}
	reply, msg, _ := c.callUser(c.life, h, name, ct, b, false)
	if msg != "" {
		if c.life.Err() == nil {
			c.terminate(websocket.StatusInternalError, reasonHandlerFailed, false)
		}
		return
	}
	if !reply.has {
		return
	}
	c.Reply(core.Frame{Binary: isBinary(reply.dt), Data: reply.data})
}
