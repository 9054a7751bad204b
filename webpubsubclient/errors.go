package webpubsubclient

import (
	"errors"
	"net/url"
	"strconv"
	"strings"

	"github.com/gowebpubsub/webpubsub/internal/exported"
)

// Errors returned by Client methods. Test for them with errors.Is.
var (
	// ErrNotStarted is returned by an operation on a client that is not
	// started (never started, stopped, or stopped on its own after an
	// unrecoverable drop with auto-reconnect off).
	ErrNotStarted = errors.New("webpubsubclient: the client is not started")
	// ErrAlreadyStarted is returned by Start when the client is not in
	// StateStopped.
	ErrAlreadyStarted = errors.New("webpubsubclient: the client is already started")
	// ErrStopped is returned by an operation, or by Start, that Stop
	// interrupted, and by operations in flight when the client stopped on
	// its own.
	ErrStopped = errors.New("webpubsubclient: the client was stopped")
	// ErrConnectionClosed means the connection was lost before the ack
	// arrived, on the last attempt allowed by Options.MessageRetry (or, for
	// a fire-and-forget call, while the frame was being written).
	ErrConnectionClosed = errors.New("webpubsubclient: the connection closed before the ack arrived")
	// ErrAckTimeout means no connection became available, or no ack
	// arrived, within Options.AckTimeout, on the last attempt allowed by
	// Options.MessageRetry.
	ErrAckTimeout = errors.New("webpubsubclient: no ack arrived within the ack timeout")
	// ErrAckIDInUse is returned when a caller-supplied ack id belongs to a
	// call that is still waiting for its ack.
	ErrAckIDInUse = errors.New("webpubsubclient: the ack id is in use by a call in flight")
	// ErrStreamClosed is returned by a GroupStreamWriter's Write and
	// KeepAlive after Close or CloseWithError, and by GroupStream.Next for a stream
	// whose OnGroupStream registration was removed.
	ErrStreamClosed = errors.New("webpubsubclient: the stream is closed")
	// ErrStreamConnectionLost ends a group stream, outbound or inbound,
	// whose connection ended for good: it was lost and not recovered (a
	// new connection, with a new connection id, replaces it), which with
	// ProtocolJSON is every drop.
	ErrStreamConnectionLost = errors.New("webpubsubclient: the connection that carried the stream ended")
	// ErrInvalidArgument is wrapped by every *ValidationError: an argument
	// or option was rejected before anything was sent. It is the same
	// value in every package of this module (webpubsub, eventhandler,
	// emulator).
	ErrInvalidArgument = exported.ErrInvalidArgument
	// ErrUnsupportedByProtocol is wrapped by every *UnsupportedError: the
	// client's Protocol cannot carry the call.
	ErrUnsupportedByProtocol = errors.New("webpubsubclient: the protocol cannot carry this call")
)

// UnsupportedError is returned, before anything is sent, by a call that
// the client's Options.Protocol cannot carry: InvokeEvent and
// OpenGroupStream on the protobuf protocols (their schema has no invoke
// or stream messages), and a ProtobufMessage sent on the JSON protocols.
// It wraps ErrUnsupportedByProtocol.
type UnsupportedError struct {
	// Feature names the call or payload: "InvokeEvent",
	// "OpenGroupStream" or "ProtobufMessage".
	Feature string
	// Protocol is the client's protocol.
	Protocol Protocol
}

// Error returns "webpubsubclient: <Feature> is not supported by
// <Protocol>".
func (e *UnsupportedError) Error() string {
	return "webpubsubclient: " + e.Feature + " is not supported by " + string(e.Protocol)
}

// Unwrap returns ErrUnsupportedByProtocol.
func (e *UnsupportedError) Unwrap() error { return ErrUnsupportedByProtocol }

// Ack error names the service uses. Other names may appear; every name
// other than ErrorNameDuplicate is a failure.
const (
	// ErrorNameForbidden: the connection's roles do not allow the call.
	ErrorNameForbidden = "Forbidden"
	// ErrorNameDuplicate: a request with this ack id was already executed
	// on this connection; reported as success with AckResult.Duplicated.
	ErrorNameDuplicate = "Duplicate"
	// ErrorNameBadRequest: the request is invalid (for example a group name
	// the service does not accept).
	ErrorNameBadRequest = "BadRequest"
	// ErrorNameInternalServerError: the service (or the application's
	// event handler) failed; the call is retried.
	ErrorNameInternalServerError = "InternalServerError"
)

// AckError is the failure the service reported in an ack: for example
// Forbidden when the connection's roles do not allow the call. Only
// InternalServerError is retried (with the same ack id); a Duplicate ack is
// not an error (AckResult.Duplicated is set instead).
type AckError struct {
	// AckID is the ack id of the call.
	AckID uint64
	// Name is the service's error name, e.g. "Forbidden", "BadRequest",
	// "InternalServerError".
	Name string
	// Message is the service's explanation.
	Message string
}

// Error returns "webpubsubclient: ack <id> failed with <Name>: <Message>".
func (e *AckError) Error() string {
	s := "webpubsubclient: ack " + strconv.FormatUint(e.AckID, 10) + " failed with " + e.Name
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// HandshakeError means the service answered the WebSocket upgrade with an
// HTTP status other than 101, for example 401 for an invalid or expired
// token, or 400 for a subprotocol it does not support.
type HandshakeError struct {
	// StatusCode is the HTTP status of the response.
	StatusCode int
	// Message is the start of the response body (at most 512 bytes), which
	// usually says why. It is the service's text, with anything that looks
	// like a token removed.
	Message string
}

// Error returns "webpubsubclient: the service refused the WebSocket
// connection with HTTP <status>: <message>".
func (e *HandshakeError) Error() string {
	s := "webpubsubclient: the service refused the WebSocket connection with HTTP " + strconv.Itoa(e.StatusCode)
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// ValidationError reports an argument or option rejected on the client,
// before anything was sent: its Name (for example "group" or
// "Options.Protocol"), the rejected Value when showing it helps (never a
// URL, key or token; "" otherwise) and the Reason, which says what was
// expected. Its message is "invalid <Name> <Value as a JSON string,
// shortened to 80 bytes>: <Reason>". It wraps ErrInvalidArgument, and it is
// the same type as the ValidationError of the other packages of this
// module.
type ValidationError = exported.ValidationError

// connectError is a failure to open a connection whose text has been
// scrubbed of secrets; Unwrap gives a cause that holds no URL.
type connectError struct {
	msg   string
	cause error
}

func (e *connectError) Error() string { return e.msg }
func (e *connectError) Unwrap() error { return e.cause }

// newConnectError describes err, which may mention rawURL (net/http puts
// the request URL in its errors), without any secret.
func newConnectError(what string, err error) error {
	cause := err
	var ue *url.Error
	if errors.As(err, &ue) {
		cause = ue.Err // the part without the URL
	}
	return &connectError{msg: "webpubsubclient: " + what + ": " + scrub(err.Error()), cause: cause}
}

// secretParams are the query parameters whose values are secrets.
var secretParams = []string{"access_token=", "awps_reconnection_token="}

// scrub removes the values of secret query parameters from s, wherever
// they appear, so that an error or log text never holds a token.
func scrub(s string) string {
	for _, p := range secretParams {
		var b strings.Builder
		rest := s
		changed := false
		for {
			i := indexFold(rest, p)
			if i < 0 {
				break
			}
			changed = true
			b.WriteString(rest[:i+len(p)])
			b.WriteString("REDACTED")
			rest = rest[i+len(p):]
			end := strings.IndexAny(rest, "&# \t\r\n\"'`<>")
			if end < 0 {
				end = len(rest)
			}
			rest = rest[end:]
		}
		if changed {
			b.WriteString(rest)
			s = b.String()
		}
	}
	return s
}

// indexFold is strings.Index, ignoring ASCII case.
func indexFold(s, substr string) int {
	n := len(substr)
	for i := 0; i+n <= len(s); i++ {
		if strings.EqualFold(s[i:i+n], substr) {
			return i
		}
	}
	return -1
}

// redactURL returns u's scheme, host and path, without its query.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "<redacted>"
	}
	s := u.Scheme + "://" + u.Host + u.EscapedPath()
	if u.RawQuery != "" {
		s += "?REDACTED"
	}
	return s
}
