// Package cloudevents holds the vocabulary of the upstream protocol, once,
// for its sender (the emulator) and its receiver (the eventhandler
// package): the service calls an event handler with the CloudEvents HTTP
// binding in binary mode, the attributes in ce-* request headers and the
// payload in the body.
//
// It defines the header names, the event types, the mapping of an event's
// attributes to headers ([Attributes]), the ce-signature HMAC ([Sign],
// [Signature], [Verifier]) and the ce-connectionState encoding that
// @azure/web-pubsub-express uses ([State]). Nothing here imports a public
// package of the module.
package cloudevents

import (
	"net/http"
	"strings"
)

// Header names of the protocol, in the spelling the service documents.
// Receivers match them case-insensitively (net/http canonicalizes them,
// HTTP/2 lower-cases them); the emulator sends exactly this spelling.
const (
	// HeaderSpecVersion is the CloudEvents spec version, SpecVersion.
	HeaderSpecVersion = "ce-specversion"
	// HeaderAWPSVersion is the Web PubSub extension version, AWPSVersion.
	// It is sent on abuse-protection checks too.
	HeaderAWPSVersion = "ce-awpsversion"
	// HeaderType is the event type, e.g. TypeConnect.
	HeaderType = "ce-type"
	// HeaderSource is the event source, see Source.
	HeaderSource = "ce-source"
	// HeaderID is the event id: a per-connection counter, "0" for connect.
	HeaderID = "ce-id"
	// HeaderTime is the time the event was created, see TimeLayout.
	HeaderTime = "ce-time"
	// HeaderSignature carries the request signatures, see Signature.
	HeaderSignature = "ce-signature"
	// HeaderUserID is the connection's user id; absent for anonymous
	// connections.
	HeaderUserID = "ce-userId"
	// HeaderConnectionID is the connection id (the client id for MQTT).
	HeaderConnectionID = "ce-connectionId"
	// HeaderHub is the hub, lower case.
	HeaderHub = "ce-hub"
	// HeaderEventName is the event name without prefix: EventConnect,
	// EventConnected, EventDisconnected or the user event name. Receivers
	// dispatch on HeaderType, which is authoritative.
	HeaderEventName = "ce-eventName"
	// HeaderSubprotocol is the negotiated subprotocol; absent on connect and
	// for connections without one.
	HeaderSubprotocol = "ce-subprotocol"
	// HeaderConnectionState carries the connection state, in requests and
	// in responses to blocking events (connect and user events).
	HeaderConnectionState = "ce-connectionState"
	// HeaderPhysicalConnectionID is the id of an MQTT client's network
	// connection; sent for MQTT connections only.
	HeaderPhysicalConnectionID = "ce-physicalConnectionId"
	// HeaderSessionID is an MQTT client's session id; sent for MQTT
	// connections on every event but connect.
	HeaderSessionID = "ce-sessionId"
	// HeaderRequestOrigin names the sending service's host, on events and
	// on abuse-protection checks.
	HeaderRequestOrigin = "WebHook-Request-Origin"
	// HeaderAllowedOrigin is a handler's answer to an abuse-protection
	// check: the allowed origin, or "*".
	HeaderAllowedOrigin = "WebHook-Allowed-Origin"
)

// Values of the version headers.
const (
	// SpecVersion is the value of HeaderSpecVersion.
	SpecVersion = "1.0"
	// AWPSVersion is the value of HeaderAWPSVersion.
	AWPSVersion = "1.0"
)

// TimeLayout is the layout of HeaderTime as the service writes it: RFC 3339
// in UTC, whole seconds. Receivers accept any RFC 3339 time.
const TimeLayout = "2006-01-02T15:04:05Z"

// The names of the system events, as HeaderEventName carries them.
const (
	// EventConnect is the blocking event of a client asking to connect.
	EventConnect = "connect"
	// EventConnected is the non-blocking event of an established
	// connection.
	EventConnected = "connected"
	// EventDisconnected is the non-blocking last event of a connection.
	EventDisconnected = "disconnected"
	// EventGroupJoined and EventGroupLeft are the non-blocking group
	// presence events: a connection joined or left a group.
	EventGroupJoined = "joined"
	EventGroupLeft   = "left"
)

// The event types (HeaderType).
const (
	// TypeConnect is the type of connect events.
	TypeConnect = "azure.webpubsub.sys.connect"
	// TypeConnected is the type of connected events.
	TypeConnected = "azure.webpubsub.sys.connected"
	// TypeDisconnected is the type of disconnected events.
	TypeDisconnected = "azure.webpubsub.sys.disconnected"
	// TypeGroupJoined and TypeGroupLeft are the types of the group
	// presence events, sent when a hub's handler asks for them.
	TypeGroupJoined = "azure.webpubsub.gp.joined"
	TypeGroupLeft   = "azure.webpubsub.gp.left"
	// TypeSystemPrefix and TypeGroupPresencePrefix start the types of
	// system and group presence events, including ones a later service
	// version may add.
	TypeSystemPrefix        = "azure.webpubsub.sys."
	TypeGroupPresencePrefix = "azure.webpubsub.gp."
	// TypeUserPrefix is followed by the user event name, e.g.
	// "azure.webpubsub.user.message". MQTT clients' user events (a PUBLISH
	// to $webpubsub/server/events/<event>) use the same type.
	TypeUserPrefix = "azure.webpubsub.user."
)

// SubprotocolMQTT is the HeaderSubprotocol value of MQTT connections.
const SubprotocolMQTT = "mqtt"

// MaxStateLength is the longest HeaderConnectionState value a handler may
// answer with, in bytes; the service fails the event on a longer one.
const MaxStateLength = 16 << 10

// Kind classifies an event by its type.
type Kind int

// The kinds of events.
const (
	// KindUnknown is a type that is none of the others (or empty).
	KindUnknown Kind = iota
	// KindConnect is TypeConnect.
	KindConnect
	// KindConnected is TypeConnected.
	KindConnected
	// KindDisconnected is TypeDisconnected.
	KindDisconnected
	// KindUser is TypeUserPrefix followed by a non-empty event name.
	KindUser
	// KindGroupJoined is TypeGroupJoined.
	KindGroupJoined
	// KindGroupLeft is TypeGroupLeft.
	KindGroupLeft
	// KindOtherSystem is a well-formed system or group presence type
	// (TypeSystemPrefix or TypeGroupPresencePrefix and a name) that is
	// none of the above: an event of a newer service.
	KindOtherSystem
)

// ParseType classifies the event type t and returns its event name:
// EventConnect, EventConnected, EventDisconnected, EventGroupJoined,
// EventGroupLeft, the name after the prefix of another system type, or for a user event the
// part after TypeUserPrefix, taken as it is (any non-empty string: the
// service decides which names reach a handler). An unknown type is
// KindUnknown with an empty name.
func ParseType(t string) (Kind, string) {
	switch {
	case t == TypeConnect:
		return KindConnect, EventConnect
	case t == TypeConnected:
		return KindConnected, EventConnected
	case t == TypeDisconnected:
		return KindDisconnected, EventDisconnected
	case t == TypeGroupJoined:
		return KindGroupJoined, EventGroupJoined
	case t == TypeGroupLeft:
		return KindGroupLeft, EventGroupLeft
	case strings.HasPrefix(t, TypeUserPrefix) && len(t) > len(TypeUserPrefix):
		return KindUser, t[len(TypeUserPrefix):]
	}
	for _, prefix := range [...]string{TypeSystemPrefix, TypeGroupPresencePrefix} {
		if name, ok := strings.CutPrefix(t, prefix); ok && isTypeName(name) {
			return KindOtherSystem, name
		}
	}
	return KindUnknown, ""
}

// isTypeName reports whether s is a plausible event name within a type:
// 1 to 64 of a-z, A-Z, 0-9, '.', '_' and '-'.
func isTypeName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// UserType returns the event type of the user event named event.
func UserType(event string) string { return TypeUserPrefix + event }

// Source returns the HeaderSource value of an event of connectionID in hub:
// "/hubs/<hub>/client/<connectionId>".
func Source(hub, connectionID string) string {
	return "/hubs/" + hub + "/client/" + connectionID
}

// Attributes are the header-borne attributes of one event, each as its
// header value ("" when absent).
type Attributes struct {
	// Type is HeaderType.
	Type string
	// EventName is HeaderEventName.
	EventName string
	// ID is HeaderID.
	ID string
	// Source is HeaderSource.
	Source string
	// Time is HeaderTime.
	Time string
	// Hub is HeaderHub.
	Hub string
	// ConnectionID is HeaderConnectionID.
	ConnectionID string
	// UserID is HeaderUserID.
	UserID string
	// Subprotocol is HeaderSubprotocol.
	Subprotocol string
	// ConnectionState is HeaderConnectionState.
	ConnectionState string
	// Signature is HeaderSignature. A receiver verifies every value of the
	// header (Verifier.Verify with http.Header.Values), not only this one.
	Signature string
	// Origin is HeaderRequestOrigin.
	Origin string
	// PhysicalConnectionID is HeaderPhysicalConnectionID (MQTT).
	PhysicalConnectionID string
	// SessionID is HeaderSessionID (MQTT).
	SessionID string
}

// attribute ties an Attributes field to its header.
type attribute struct {
	header   string
	value    *string
	optional bool // not sent when empty
}

// attributes lists a's fields with their headers, in the order the
// service's table lists them: the one mapping both directions use.
func (a *Attributes) attributes() [14]attribute {
	return [...]attribute{
		{HeaderRequestOrigin, &a.Origin, false},
		{HeaderType, &a.Type, false},
		{HeaderSource, &a.Source, false},
		{HeaderID, &a.ID, false},
		{HeaderTime, &a.Time, false},
		{HeaderSignature, &a.Signature, true},
		{HeaderUserID, &a.UserID, true},
		{HeaderConnectionID, &a.ConnectionID, false},
		{HeaderHub, &a.Hub, false},
		{HeaderEventName, &a.EventName, false},
		{HeaderSubprotocol, &a.Subprotocol, true},
		{HeaderConnectionState, &a.ConnectionState, true},
		{HeaderPhysicalConnectionID, &a.PhysicalConnectionID, true},
		{HeaderSessionID, &a.SessionID, true},
	}
}

// SetHeaders writes a into h the way the service sends an event: the
// version headers and every attribute under its documented spelling (the
// map key is set as it is, not canonicalized). Type, EventName, ID, Source,
// Time, Hub, ConnectionID and Origin are always written; the others only
// when not empty. It does not set Content-Type.
func (a *Attributes) SetHeaders(h http.Header) {
	h[HeaderSpecVersion] = []string{SpecVersion}
	h[HeaderAWPSVersion] = []string{AWPSVersion}
	for _, f := range a.attributes() {
		if *f.value != "" || !f.optional {
			h[f.header] = []string{*f.value}
		}
	}
}

// ReadAttributes reads the attributes of a received request, the first
// value of each header, matched as http.Header.Get matches (canonical keys,
// as net/http stores them). It checks nothing: the receiver decides what a
// missing or odd value means.
func ReadAttributes(h http.Header) Attributes {
	var a Attributes
	for _, f := range a.attributes() {
		*f.value = h.Get(f.header)
	}
	return a
}

// IsMQTT reports whether the attributes are those of an MQTT connection:
// Subprotocol is SubprotocolMQTT (in any case) and PhysicalConnectionID is
// present, as @azure/web-pubsub-express decides.
func (a *Attributes) IsMQTT() bool {
	return a.PhysicalConnectionID != "" && strings.EqualFold(a.Subprotocol, SubprotocolMQTT)
}
