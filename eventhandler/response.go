package eventhandler

import (
	"fmt"
	"net/http"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/gowebpubsub/webpubsub/internal/payload"
)

// ConnectResponse is how a Connect callback accepts a connection and
// changes its defaults. The zero value (and a nil *ConnectResponse) accepts
// the connection with the defaults from the client's token; the handler
// then answers 204.
type ConnectResponse struct {
	// UserID, when non-empty, replaces the token's user.
	UserID string `json:"userId,omitempty"`
	// Groups, when non-empty, replaces the token's initial groups. Every
	// name must be a valid group name, or the service fails the connect.
	Groups []string `json:"groups,omitempty"`
	// Roles, when non-nil, replaces the token's roles, e.g.
	// "webpubsub.sendToGroup.room1" or "webpubsub.joinLeaveGroup". An empty
	// non-nil slice removes every role; nil keeps the token's roles.
	Roles []string `json:"roles,omitzero"`
	// Subprotocol, when non-empty, is the subprotocol to use; it must be one
	// of ConnectRequest.Subprotocols.
	Subprotocol string `json:"subprotocol,omitempty"`
	// MQTT holds MQTT-specific fields; nil for none.
	MQTT *MQTTConnectResponseProperties `json:"mqtt,omitempty"`
}

func (r *ConnectResponse) isEmpty() bool {
	return r == nil || (r.UserID == "" && len(r.Groups) == 0 && r.Roles == nil && r.Subprotocol == "" &&
		(r.MQTT == nil || len(r.MQTT.UserProperties) == 0))
}

// UserEventResponse is a reply to a user event: a message for the client
// that sent it. Build one with Text, JSON, Binary or Protobuf. A nil
// *UserEventResponse, the zero UserEventResponse and a reply with an empty
// payload all mean no reply: the handler answers 204 and the client gets
// no message (the service delivers no empty messages). A UserEventResponse
// is immutable once built.
//
// The builders follow the same rules as the Message of the service client
// and of webpubsubclient, so a client gets the same bytes whichever package
// sent them.
type UserEventResponse struct {
	p payload.Message
}

// Text returns a text reply: 200 with Content-Type text/plain;
// charset=utf-8. Each byte of s that does not start a valid UTF-8 sequence
// is sent as U+FFFD. An empty s means no reply.
func Text(s string) *UserEventResponse {
	return &UserEventResponse{payload.Text(s)}
}

// Binary returns a binary reply: 200 with Content-Type
// application/octet-stream. The reply holds a copy of b, so b may be reused
// as soon as Binary returns. An empty b means no reply.
func Binary(b []byte) *UserEventResponse {
	return &UserEventResponse{payload.Binary(b)}
}

// JSON returns a JSON reply: 200 with Content-Type application/json;
// charset=utf-8, and v encoded as encoding/json encodes it but without
// escaping <, > and &. A json.RawMessage is validated and sent compacted.
// A value that cannot be encoded, or that encodes as null (which no client
// can be sent), is a *ValidationError named "reply" with a nil response,
// so a callback can end with `return eventhandler.JSON(v)`.
func JSON(v any) (*UserEventResponse, error) {
	p := payload.JSON(v)
	if err := p.Check("reply"); err != nil {
		return nil, err
	}
	return &UserEventResponse{p}, nil
}

// Protobuf returns a protobuf reply: 200 with Content-Type
// application/x-protobuf and m packed in an encoded google.protobuf.Any.
// A protobuf client receives it as protobuf_data, a JSON client as
// dataType protobuf (the base64 of the encoded Any). A nil m, or one that
// cannot be encoded, is a *ValidationError named "reply" with a nil
// response.
func Protobuf(m proto.Message) (*UserEventResponse, error) {
	reason := "is a nil protobuf message"
	if m != nil {
		a, err := anypb.New(m)
		if err == nil {
			var b []byte
			if b, err = (proto.MarshalOptions{Deterministic: true}).Marshal(a); err == nil {
				return &UserEventResponse{payload.Protobuf(b, "")}, nil
			}
		}
		reason = "cannot be encoded as protobuf: " + err.Error()
	}
	return nil, payload.Protobuf(nil, reason).Check("reply")
}

// DataType returns the reply's data type ("" for the zero
// UserEventResponse).
func (r *UserEventResponse) DataType() DataType {
	if r == nil {
		return ""
	}
	return r.p.DataType()
}

// Bytes returns a copy of the reply's payload: the text's UTF-8 bytes, the
// JSON text or the binary bytes. It is empty when there is no reply.
func (r *UserEventResponse) Bytes() []byte {
	if r == nil {
		return nil
	}
	return r.p.Bytes()
}

// contentType returns the Content-Type of the reply, or "" when r is no
// reply (nil, zero or empty).
func (r *UserEventResponse) contentType() string {
	if r == nil || r.p.Check("reply") != nil {
		return ""
	}
	switch dt := r.p.DataType(); dt {
	case DataTypeBinary:
		return payload.MediaTypeBinary
	case DataTypeProtobuf:
		return payload.MediaTypeProtobuf
	default:
		return dt.MediaType() + "; charset=utf-8"
	}
}

// RejectError is an error a callback returns to reject an event with a
// chosen HTTP status and message. Return it, or an error wrapping it, from
// a Connect or user event callback; it is found with errors.As.
//
// For connect events the service returns the status and Detail to the
// client's WebSocket upgrade request, so use 401 for failed
// authentication, 403 for a client that may not connect and 400 for bad
// input. Any other error a callback returns becomes a 500 with a generic
// message; its text is logged but never sent.
type RejectError struct {
	// StatusCode is the HTTP status to answer with.
	//
	// For connect events it must be 400, 401, 403 or 500; 0 means 401, and
	// any other value is answered as 500 (and logged). For user events it
	// must be in 400..599; 0 and any other value are answered as 500.
	StatusCode int
	// Detail is the response body, sent as text/plain; charset=utf-8 (for
	// MQTT connects, as the "reason" of a JSON body). It reaches the
	// client, so it must not contain secrets.
	Detail string
}

// Reject returns a *RejectError with the given status and detail.
func Reject(statusCode int, detail string) *RejectError {
	return &RejectError{StatusCode: statusCode, Detail: detail}
}

// Error returns "eventhandler: event rejected with status <code>: <detail>".
func (e *RejectError) Error() string {
	return fmt.Sprintf("eventhandler: event rejected with status %d: %s", e.StatusCode, e.Detail)
}

// connectStatus maps a rejection status of a connect event to the status
// sent, and reports whether the requested one was allowed.
func connectStatus(code int) (int, bool) {
	switch code {
	case 0:
		return http.StatusUnauthorized, true
	case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusInternalServerError:
		return code, true
	}
	return http.StatusInternalServerError, false
}

// userEventStatus maps a rejection status of a user event to the status
// sent, and reports whether the requested one was allowed.
func userEventStatus(code int) (int, bool) {
	if code >= 400 && code <= 599 {
		return code, true
	}
	return http.StatusInternalServerError, code == 0
}
