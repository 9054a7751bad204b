package eventhandler

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gowebpubsub/webpubsub/internal/cloudevents"
	"github.com/gowebpubsub/webpubsub/internal/payload"
)

// The CloudEvents types (ce-type) the handler dispatches on.
const (
	// TypeConnect is the type of connect events (blocking).
	TypeConnect = cloudevents.TypeConnect
	// TypeConnected is the type of connected events (non-blocking).
	TypeConnected = cloudevents.TypeConnected
	// TypeDisconnected is the type of disconnected events (non-blocking).
	TypeDisconnected = cloudevents.TypeDisconnected
	// TypeGroupJoined is the type of the group presence event of a join
	// (non-blocking).
	TypeGroupJoined = cloudevents.TypeGroupJoined
	// TypeGroupLeft is the type of the group presence event of a leave
	// (non-blocking).
	TypeGroupLeft = cloudevents.TypeGroupLeft
	// TypeUserPrefix is followed by the user event name, e.g.
	// "azure.webpubsub.user.message".
	TypeUserPrefix = cloudevents.TypeUserPrefix
)

// Request and response header names of the protocol. Header names are
// matched case-insensitively; these are the spellings the service uses.
const (
	// HeaderConnectionState carries the connection state, in requests and
	// in responses to blocking events.
	HeaderConnectionState = cloudevents.HeaderConnectionState
	// HeaderSignature carries the request signatures.
	HeaderSignature = cloudevents.HeaderSignature
	// HeaderRequestOrigin names the sending service's host.
	HeaderRequestOrigin = cloudevents.HeaderRequestOrigin
	// HeaderAllowedOrigin answers the abuse-protection check.
	HeaderAllowedOrigin = cloudevents.HeaderAllowedOrigin
)

// DataType is the type of a user event's payload or of a reply to it. It
// is the same type as webpubsubclient.DataType. Its MediaType method
// returns the HTTP media type it is read from and written as, which is the
// value of the service client's ContentType for the same data: text/plain,
// application/json or application/octet-stream.
type DataType = payload.DataType

// The data types of user events and replies.
const (
	// DataTypeText is UTF-8 text: Content-Type text/plain.
	DataTypeText DataType = "text"
	// DataTypeJSON is a JSON text: Content-Type application/json.
	DataTypeJSON DataType = "json"
	// DataTypeBinary is raw bytes: Content-Type application/octet-stream.
	DataTypeBinary DataType = "binary"
	// DataTypeProtobuf is an encoded google.protobuf.Any: Content-Type
	// application/x-protobuf. Only clients of the protobuf subprotocols
	// send it; reply with Protobuf. It is not one of the REST media
	// types: MediaType returns "" for it and PossibleDataTypeValues
	// leaves it out.
	DataTypeProtobuf DataType = payload.DataTypeProtobuf
)

// PossibleDataTypeValues returns every DataType: text, JSON, binary.
func PossibleDataTypeValues() []DataType {
	return payload.PossibleDataTypeValues()
}

// ConnectionContext describes the connection an event belongs to and the
// event itself, from the request's ce-* headers. It also carries the
// connection's state (see States and SetState).
//
// A ConnectionContext belongs to one request. It is not safe for concurrent
// use: a callback that hands it to other goroutines must synchronize.
type ConnectionContext struct {
	// Hub is the hub from ce-hub, as the service sent it (lower case).
	Hub string
	// ConnectionID is the connection id (ce-connectionId). For MQTT
	// connections it is the MQTT client id. Never empty.
	ConnectionID string
	// UserID is the user id (ce-userId); "" for anonymous connections.
	UserID string
	// EventName is the event name: "connect", "connected", "disconnected",
	// or the user event name. It is taken from ce-type, which is
	// authoritative, not from ce-eventName.
	EventName string
	// Type is the CloudEvents type (ce-type), e.g. TypeConnect.
	Type string
	// ID is the CloudEvents id (ce-id); the service numbers the events of a
	// connection 0, 1, 2, ...
	ID string
	// Source is the CloudEvents source (ce-source), e.g.
	// "/hubs/chat/client/<connectionId>".
	Source string
	// Time is ce-time, or the zero time when absent or not RFC 3339.
	Time time.Time
	// Subprotocol is the negotiated subprotocol (ce-subprotocol), e.g.
	// "json.reliable.webpubsub.azure.v1"; "" for connect events and for
	// connections without one.
	Subprotocol string
	// Origin is the WebHook-Request-Origin header: the service's host.
	Origin string
	// MQTT is non-nil only for MQTT connections (ce-subprotocol "mqtt" with
	// a ce-physicalConnectionId header).
	MQTT *MQTTContext

	state *cloudevents.State
}

// ConnectRequest is a connect event: a client asks to connect. The
// callback accepts it (optionally changing the user, groups, roles or
// subprotocol) or rejects it.
type ConnectRequest struct {
	ConnectionContext
	// Claims are the claims of the client's access token, every value as a
	// list of strings. Empty for anonymous connections.
	Claims map[string][]string
	// Query holds the query parameters of the client's upgrade request,
	// including access_token when the client used one.
	Query url.Values
	// Headers holds the headers of the client's upgrade request, names in
	// canonical form (http.CanonicalHeaderKey) so that Headers.Get works.
	Headers http.Header
	// Subprotocols are the subprotocols the client offered, in order.
	Subprotocols []string
	// ClientCertificates are the client's TLS certificates, when the
	// service has client certificates enabled.
	ClientCertificates []ClientCertificate
	// MQTTProperties holds the MQTT CONNECT packet's properties; nil unless
	// the request body has an "mqtt" object.
	MQTTProperties *MQTTConnectProperties
}

// ClientCertificate is one client certificate forwarded by the service.
type ClientCertificate struct {
	// Thumbprint is the certificate's SHA-1 thumbprint, in hex.
	Thumbprint string `json:"thumbprint"`
	// Content is the certificate in PEM form.
	Content string `json:"content"`
}

// ConnectedRequest is a connected event: a connection was established.
// The event is non-blocking: its response cannot change anything.
type ConnectedRequest struct {
	ConnectionContext
}

// GroupJoinedRequest is a group presence event: the connection joined
// Group, by any route (its own request, a REST call, its token's or its
// connect answer's groups). The event is non-blocking; the service sends
// it only when the hub's event handler asks for group presence events.
type GroupJoinedRequest struct {
	ConnectionContext
	// Group is the group joined.
	Group string
}

// GroupLeftRequest is a group presence event: the connection left Group,
// by any route, including the end of the connection. The event is
// non-blocking.
type GroupLeftRequest struct {
	ConnectionContext
	// Group is the group left.
	Group string
}

// otherSystemEvent is a well-formed system event of a type the handler
// does not know (a newer service's): it is answered 200 and logged.
type otherSystemEvent struct{ ConnectionContext }

// DisconnectedRequest is a disconnected event: a connection ended. It is
// the last event of its connection. The event is non-blocking.
type DisconnectedRequest struct {
	ConnectionContext
	// Reason says why the connection ended, e.g. "The connection ended.";
	// "" when the service gave none.
	Reason string
	// MQTTProperties holds the MQTT details; nil unless the request body has
	// an "mqtt" object.
	MQTTProperties *MQTTDisconnectedProperties
}

// UserEventRequest is a user event: a message a client sent to the server.
// The callback may reply with a message to that client.
type UserEventRequest struct {
	ConnectionContext
	// DataType says how to read Data. It comes from the request's
	// Content-Type media type.
	DataType DataType
	// Data is the payload: UTF-8 text, a JSON text (checked to be valid
	// JSON), or bytes, as DataType says. Never nil, possibly empty.
	Data []byte
}

// requestError is a request the handler refuses before any callback runs.
// Its message is safe to send to the caller: it never holds a header value.
type requestError struct {
	status int
	msg    string
}

func (e *requestError) Error() string { return "eventhandler: " + e.msg }

func badRequest(format string, args ...any) *requestError {
	return &requestError{status: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

// parseHeaders reads the ce-* headers: the event kind and the connection
// context. The state header is decoded here; stateErr reports a state that
// could not be decoded (the state is then empty, and the request goes on).
func parseHeaders(h http.Header) (kind cloudevents.Kind, cc ConnectionContext, stateErr error, err error) {
	a := cloudevents.ReadAttributes(h)
	kind, cc.EventName = cloudevents.ParseType(a.Type)
	if kind == cloudevents.KindUnknown {
		if a.Type == "" {
			return 0, cc, nil, badRequest("the ce-type header is missing")
		}
		return 0, cc, nil, badRequest("unsupported ce-type; expected %s<event>, %s<event>, %s<event>", cloudevents.TypeSystemPrefix, cloudevents.TypeGroupPresencePrefix, TypeUserPrefix)
	}
	cc.Type = a.Type
	cc.ConnectionID = a.ConnectionID
	if cc.ConnectionID == "" {
		return 0, cc, nil, badRequest("the ce-connectionId header is missing")
	}
	cc.Hub = a.Hub
	cc.UserID = a.UserID
	cc.ID = a.ID
	cc.Source = a.Source
	if t, err := time.Parse(time.RFC3339, a.Time); err == nil {
		cc.Time = t
	}
	cc.Subprotocol = a.Subprotocol
	cc.Origin = a.Origin
	if a.IsMQTT() {
		cc.MQTT = &MQTTContext{PhysicalConnectionID: a.PhysicalConnectionID, SessionID: a.SessionID}
	}
	cc.state, stateErr = cloudevents.DecodeState(a.ConnectionState)
	return kind, cc, stateErr, nil
}

// parseBody builds the typed request for kind from the body. contentType is
// the request's Content-Type (used by user events only).
func parseBody(kind cloudevents.Kind, cc ConnectionContext, contentType string, body []byte) (any, error) {
	switch kind {
	case cloudevents.KindConnect:
		return parseConnect(cc, body)
	case cloudevents.KindConnected:
		if len(bytes.TrimSpace(body)) > 0 {
			var v map[string]json.RawMessage
			if err := decodeObject(body, &v); err != nil {
				return nil, err
			}
		}
		return &ConnectedRequest{ConnectionContext: cc}, nil
	case cloudevents.KindDisconnected:
		return parseDisconnected(cc, body)
	case cloudevents.KindUser:
		return parseUserEvent(cc, contentType, body)
	case cloudevents.KindGroupJoined, cloudevents.KindGroupLeft:
		group, err := parsePresence(body)
		if err != nil {
			return nil, err
		}
		if kind == cloudevents.KindGroupJoined {
			return &GroupJoinedRequest{ConnectionContext: cc, Group: group}, nil
		}
		return &GroupLeftRequest{ConnectionContext: cc, Group: group}, nil
	case cloudevents.KindOtherSystem:
		return &otherSystemEvent{ConnectionContext: cc}, nil
	}
	return nil, badRequest("unsupported event")
}

// parseEvent parses a whole request: headers, then body. It is what the
// handler does between its hub, signature and size checks, and it never
// panics on any input.
func parseEvent(h http.Header, body []byte) (req any, stateErr error, err error) {
	kind, cc, stateErr, err := parseHeaders(h)
	if err != nil {
		return nil, nil, err
	}
	req, err = parseBody(kind, cc, h.Get("Content-Type"), body)
	return req, stateErr, err
}

// decodeObject unmarshals body, which must be one JSON object, into v.
// Errors are *requestError with a message that holds no body content.
func decodeObject(body []byte, v any) error {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 {
		return badRequest("the request body is empty; expected a JSON object")
	}
	if trimmed[0] != '{' {
		return badRequest("the request body is not a JSON object")
	}
	if err := json.Unmarshal(body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return badRequest("the request body's field %q has the wrong type (%s)", te.Field, te.Value)
		}
		var fe *fieldError
		if errors.As(err, &fe) {
			return badRequest("%s", fe.msg)
		}
		return badRequest("the request body is not valid JSON")
	}
	return nil
}

// fieldError is a semantic error found while decoding a body field.
type fieldError struct{ msg string }

func (e *fieldError) Error() string { return e.msg }

// stringList is a list of strings that also accepts a single string or
// null, so a claim sent as a bare string is not an error.
type stringList []string

func (l *stringList) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		*l = nil
		return nil
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*l = stringList{s}
		return nil
	}
	var ss []string
	if err := json.Unmarshal(b, &ss); err != nil {
		return &fieldError{msg: "a claims, query or headers value is not a string or a list of strings"}
	}
	*l = ss
	return nil
}

type connectBody struct {
	Claims             map[string]stringList `json:"claims"`
	Query              map[string]stringList `json:"query"`
	Headers            map[string]stringList `json:"headers"`
	Subprotocols       []string              `json:"subprotocols"`
	ClientCertificates []ClientCertificate   `json:"clientCertificates"`
	MQTT               *mqttConnectBody      `json:"mqtt"`
}

func parseConnect(cc ConnectionContext, body []byte) (*ConnectRequest, error) {
	var b connectBody
	if err := decodeObject(body, &b); err != nil {
		return nil, err
	}
	req := &ConnectRequest{
		ConnectionContext:  cc,
		Claims:             make(map[string][]string, len(b.Claims)),
		Query:              make(url.Values, len(b.Query)),
		Headers:            make(http.Header, len(b.Headers)),
		Subprotocols:       b.Subprotocols,
		ClientCertificates: b.ClientCertificates,
	}
	for k, v := range b.Claims {
		req.Claims[k] = []string(v)
	}
	for k, v := range b.Query {
		req.Query[k] = []string(v)
	}
	// Merge header names that differ only in case, in a fixed order.
	names := make([]string, 0, len(b.Headers))
	for k := range b.Headers {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		ck := http.CanonicalHeaderKey(k)
		req.Headers[ck] = append(req.Headers[ck], b.Headers[k]...)
	}
	if b.MQTT != nil {
		p, err := b.MQTT.properties()
		if err != nil {
			return nil, err
		}
		req.MQTTProperties = p
	}
	return req, nil
}

type disconnectedBody struct {
	Reason *string                `json:"reason"`
	MQTT   *mqttDisconnectedProps `json:"mqtt"`
}

// parsePresence reads the group of a group presence event's body,
// {"group": "..."}.
func parsePresence(body []byte) (string, error) {
	var b struct {
		Group *string `json:"group"`
	}
	if err := decodeObject(body, &b); err != nil {
		return "", err
	}
	if b.Group == nil || *b.Group == "" {
		return "", badRequest("a group presence event's body has no group")
	}
	return *b.Group, nil
}

func parseDisconnected(cc ConnectionContext, body []byte) (*DisconnectedRequest, error) {
	req := &DisconnectedRequest{ConnectionContext: cc}
	if len(bytes.TrimSpace(body)) == 0 {
		return req, nil
	}
	var b disconnectedBody
	if err := decodeObject(body, &b); err != nil {
		return nil, err
	}
	if b.Reason != nil {
		req.Reason = *b.Reason
	}
	if b.MQTT != nil {
		req.MQTTProperties = b.MQTT.properties()
	}
	return req, nil
}

func parseUserEvent(cc ConnectionContext, contentType string, body []byte) (*UserEventRequest, error) {
	unsupported := &requestError{status: http.StatusUnsupportedMediaType,
		msg: "a user event's Content-Type must be text/plain, application/json, application/octet-stream or application/x-protobuf"}
	dt, ok := payload.ParseContentType(contentType)
	if !ok {
		if mt, _, err := mime.ParseMediaType(contentType); err != nil || !strings.EqualFold(mt, payload.MediaTypeProtobuf) {
			return nil, unsupported
		}
		dt = DataTypeProtobuf
	}
	if dt == DataTypeJSON && !json.Valid(body) {
		return nil, badRequest("the body of a JSON user event is not valid JSON")
	}
	req := &UserEventRequest{ConnectionContext: cc, DataType: dt, Data: body}
	if req.Data == nil {
		req.Data = []byte{}
	}
	return req, nil
}

// decodeBase64Field decodes a base64 field (standard alphabet, padded or
// not).
func decodeBase64Field(s string) ([]byte, bool) {
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		return b, true
	}
	if b, err := base64.RawStdEncoding.DecodeString(s); err == nil {
		return b, true
	}
	return nil, false
}
