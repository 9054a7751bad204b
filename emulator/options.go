package emulator

import (
	"cmp"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gowebpubsub/webpubsub/internal/exported"
)

// ErrInvalidArgument is wrapped by every *ValidationError: New rejected an
// option. Test for it with errors.Is. It is the same value in every
// package of this module (webpubsub, webpubsubclient, eventhandler).
var ErrInvalidArgument = exported.ErrInvalidArgument

// ValidationError reports an option that New rejected: its Name (for
// example "Port", "IdleTimeout" or `Hubs["chat"].EventHandlers[0]`), the
// rejected Value when showing it helps (never a key or a URL; ""
// otherwise) and the Reason, which says what was expected. Its message is
// "invalid <Name> <Value as a JSON string, shortened to 80 bytes>:
// <Reason>". It wraps ErrInvalidArgument, and it is the same type as the
// ValidationError of the other packages of this module.
type ValidationError = exported.ValidationError

// DefaultAccessKey is the well-known development key of the Web PubSub
// and SignalR emulators and of the SDK test suites. It is public: never use
// it to protect real data.
const DefaultAccessKey = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGH"

// DefaultHost is the host the emulator listens on when Options.Host is
// empty.
const DefaultHost = "localhost"

// DefaultMaxRESTBodyBytes is the default limit of a REST request body
// (16 MiB).
const DefaultMaxRESTBodyBytes = 16 << 20

// DefaultMaxGroupsPerConnection is the default of
// Options.MaxGroupsPerConnection.
const DefaultMaxGroupsPerConnection = 10000

// DefaultMaxBufferedBytes is the default of Options.MaxBufferedBytes.
const DefaultMaxBufferedBytes = 256 << 20

// DefaultMaxLogFieldBytes is the default of Options.MaxLogFieldBytes: a
// value taken from a request is cut to 256 bytes in a log or trace line.
const DefaultMaxLogFieldBytes = 256

// Defaults of the HTTP server limits in Options.
const (
	// DefaultReadHeaderTimeout bounds how long a client may take to send
	// the headers of a request.
	DefaultReadHeaderTimeout = 10 * time.Second
	// DefaultHTTPIdleTimeout is how long an idle HTTP keep-alive
	// connection stays open.
	DefaultHTTPIdleTimeout = 60 * time.Second
	// DefaultMaxHeaderBytes bounds the request line and headers of a
	// request (1 MiB: a REST filter of the service's maximum length, query
	// escaped, fits).
	DefaultMaxHeaderBytes = 1 << 20
)

// Options configure an Emulator. The zero value is ready to use: the
// well-known key, localhost, a free port.
type Options struct {
	// Host is the host name or IP address to listen on; empty means
	// "localhost". For "localhost" the emulator listens on 127.0.0.1 and,
	// when the machine has IPv6, on [::1] with the same port, so clients
	// that resolve localhost either way reach it. Use "0.0.0.0" in
	// containers.
	Host string
	// Port is the TCP port to listen on; 0 picks a free port.
	Port int
	// AccessKey signs and verifies every token; empty means
	// DefaultAccessKey. A custom key must be at least 32 bytes of UTF-8
	// without ';', control characters, or leading or trailing whitespace.
	AccessKey string
	// SecondaryAccessKey, when set, is accepted as well as AccessKey, for
	// testing key rotation. Same rules as AccessKey.
	SecondaryAccessKey string
	// PublicEndpoint is the http(s) URL clients use to reach the emulator,
	// e.g. "http://emulator:8080" behind docker-compose. It is the
	// Endpoint of ConnectionString and the base of the audience of tokens
	// from :generateToken. Empty means URL() once started, or the request's
	// own host when the emulator is used only through Handler.
	PublicEndpoint string
	// RelaxedAudience skips the host part of every audience check, for
	// tokens minted for another host name than the one clients dial.
	RelaxedAudience bool
	// Hubs holds per-hub settings, keyed by hub name (case-insensitive).
	// The key "*" applies to hubs without an entry of their own. Nil
	// means defaults for every hub.
	Hubs map[string]HubOptions
	// MaxRESTBodyBytes limits REST request bodies; larger ones get 413.
	// Zero means DefaultMaxRESTBodyBytes.
	MaxRESTBodyBytes int64
	// ClockSkew is how far past exp, or before nbf, a token is still
	// accepted (an expired token accepted so is logged at info level);
	// zero means DefaultClockSkew (5 minutes), as the service allows.
	// Negative values are an error.
	ClockSkew time.Duration
	// ReadHeaderTimeout bounds how long a client may take to send the
	// request line and headers of a request (a REST call, a health check
	// or a WebSocket handshake) before the emulator drops the TCP
	// connection; zero means DefaultReadHeaderTimeout (10 s). Negative
	// values are an error.
	ReadHeaderTimeout time.Duration
	// HTTPIdleTimeout is how long an HTTP keep-alive connection may wait
	// for its next request before the emulator closes it; zero means
	// DefaultHTTPIdleTimeout (60 s). WebSocket connections are not
	// affected (see IdleTimeout). Negative values are an error.
	HTTPIdleTimeout time.Duration
	// MaxBufferedBytes bounds the memory that the reliable buffers of all
	// connections hold together (unacknowledged messages; a broadcast's
	// frame counts once however many buffers hold it). When a send takes
	// the total past it, the connections holding the most are closed with
	// 1008 ("The emulator's memory budget for buffered messages is
	// exceeded."), largest first, until the total fits, and each is
	// logged at warning level. Zero means DefaultMaxBufferedBytes
	// (256 MiB); a negative value means no bound.
	MaxBufferedBytes int64
	// MaxGroupsPerConnection bounds the groups one connection is in. A
	// joinGroup beyond it gets a BadRequest ack, an AddConnectionToGroup
	// 400; AddUserToGroup, AddConnectionsToGroups and the initial groups
	// of a token or connect answer skip the connections at the limit, with
	// a warning. Zero means DefaultMaxGroupsPerConnection (10,000); a
	// negative value means no bound.
	MaxGroupsPerConnection int
	// MaxLogFieldBytes limits each value taken from a request that a log
	// or trace line carries (a close reason, a subprotocol, an MQTT topic,
	// a REST target, an event name, an upstream error, an audience): a
	// longer value is cut at a rune boundary to at most this many bytes
	// and followed by the number of bytes left out; invalid UTF-8 becomes
	// U+FFFD. Zero means DefaultMaxLogFieldBytes (256). Negative values
	// are an error.
	MaxLogFieldBytes int
	// MaxHeaderBytes bounds the request line and headers of a request;
	// a larger one gets 431. Zero means DefaultMaxHeaderBytes (1 MiB).
	// Negative values are an error.
	MaxHeaderBytes int
	// Logger receives the emulator's diagnostics; nil discards them. No
	// message ever contains a key or a token.
	Logger *slog.Logger
	// Clock is the emulator's source of time and of the timers of the
	// service's behaviour (see Clock); nil means the real clock. A
	// FakeClock lets tests move time on demand.
	Clock Clock
	// AllowUnvalidatedEntraTokens makes the REST API accept a Microsoft
	// Entra ID access token whose audience is https://webpubsub.azure.com
	// after checking only that audience and its lifetime (exp required,
	// nbf, five minutes of skew): its signature and issuer are not
	// verified. It exists so that SDK code paths built on an
	// azcore.TokenCredential can run against the emulator. Anyone who can reach the emulator can then forge such a
	// token: never enable it on a shared network. Default false.
	AllowUnvalidatedEntraTokens bool
	// ReliableRetention is how long a reliable connection whose transport
	// dropped without a close frame is kept for a recovery; zero means
	// DefaultReliableRetention (30 s). Negative values are an error.
	ReliableRetention time.Duration
	// EventHandlerTimeout bounds each upstream call, including the
	// abuse-protection check; zero means DefaultEventHandlerTimeout
	// (100 s). Negative values are an error.
	EventHandlerTimeout time.Duration
	// EventHandlerRetryDelays are the waits between the attempts of a
	// connected or disconnected event after a network error, 408, 429 or
	// 5xx: one retry per entry. Nil means DefaultEventHandlerRetryDelays
	// (1 s, 3 s, 5 s); an empty non-nil slice means no retry. Negative
	// entries are an error.
	EventHandlerRetryDelays []time.Duration
	// PingInterval is the outbound silence after which the emulator sends
	// a connection a WebSocket Ping; zero means DefaultPingInterval
	// (30 s). Negative values are an error.
	PingInterval time.Duration
	// IdleTimeout is the inbound silence (no frame, no Pong) after which
	// a connection counts as dropped: a reliable one is detached, any
	// other ends. It is checked at each ping tick; zero means
	// DefaultIdleTimeout (120 s). Negative values are an error.
	IdleTimeout time.Duration
	// CloseTimeout bounds the close procedure of one connection (flushing
	// its queue, the disconnected message, the close handshake) before
	// its TCP connection is dropped, and how long Close waits for REST
	// requests and upstream calls; zero means DefaultCloseTimeout (5 s).
	// It runs on real time whatever Clock is. Negative values are an
	// error.
	CloseTimeout time.Duration
	// Trace writes the traffic trace to Logger, at info level with the
	// message "trace": one line per REST call (operation, hub, target,
	// status, duration, error code, and for a refusal such as a 401 the
	// reason: wrong signature, expired and by how much, not yet valid,
	// audience mismatch, malformed), per delivery (source, target,
	// recipients, bytes, data type, a short escaped preview of text and
	// JSON), per upstream call (event, the URL called without its query or
	// user information, status, duration), per connect, disconnect,
	// detach, recovery, join and leave, and per refused WebSocket
	// handshake (event "refused" with the HTTP status and the reason, a
	// 401's as above or a token for another hub), refused recovery
	// (event "recoveryRefused") or MQTT CONNECT refused after the
	// upgrade (event "refused" with the client id, the CONNACK code sent,
	// or "none" when the protocol sends none, and why: an invalid client
	// id, keep-alive or will, a connect event handler's answer, a first
	// packet that is not a CONNECT). No line holds a key, a token, a
	// signature or more of a message than the preview.
	Trace bool
	// Dashboard serves a live dashboard at DashboardPath (see
	// DashboardURL): the hubs, their connections (user id, groups, roles,
	// subprotocol, age) and groups with their members, the traffic trace
	// as it happens (whether or not Trace also logs it), a form that sends
	// a message to all, a user, a group or a connection, and a test client
	// that connects from the page. Default false; the standalone command
	// turns it on.
	//
	// The dashboard has no login and its URL carries no secret: it is a
	// local development tool, and whoever can reach the emulator can use
	// it. Its sends go through the REST API signed with the emulator's
	// key (so they are traced, and FailNext and DelayNext apply to them as
	// to any REST call), and it issues tokens for its test client (lifetime
	// DashboardTokenLifetime, for any user id): so it gives its users the
	// power of the access key over the data plane without showing the key.
	// Leave it off when others can reach the emulator and the key is not
	// DefaultAccessKey. No page or JSON body of the dashboard holds the
	// access key, a REST token or a reconnection token; the only token it
	// hands out is the test client's own. It guards against other web
	// sites: it answers only requests addressed to localhost, an IP
	// address, Host or the host of PublicEndpoint (a DNS-rebinding page
	// has another name), its actions are POSTs with a JSON body (a
	// cross-site page cannot send one without a CORS preflight, which it
	// never grants) and refuse a foreign Origin, and its pages may not be
	// framed.
	Dashboard bool
	// MessageLogSize is how many delivered messages Messages keeps, the
	// oldest dropped first; zero means DefaultMessageLogSize (1,000), a
	// negative value disables the log.
	MessageLogSize int
	// OnConnectionEvent, when set, is called for every change in the life
	// of a client connection (see ConnectionEvent), in order for each
	// connection, with no emulator lock held: it may call the emulator's
	// inspection and fault-injection methods but must not block, and must
	// not call Close. ConnectionConnected is reported after the connection
	// is registered and before any frame is written to it, so a callback
	// may PauseOutbound to hold back even the connected message.
	OnConnectionEvent func(ConnectionEvent)
}

// HubOptions are the settings of one hub.
type HubOptions struct {
	// AllowAnonymous accepts client connections without any token (the
	// hub's anonymousConnectPolicy "allow"). A request with an invalid
	// token is still rejected. Default false.
	AllowAnonymous bool
	// EventHandlers are the hub's upstream event handlers, in priority
	// order: each event goes to the first handler whose filter matches it.
	// Nil means none: connect is skipped (the token
	// decides), connected and disconnected are not sent, an event frame
	// gets an InternalServerError ack and a raw client that sends a frame
	// is closed with 1000.
	EventHandlers []EventHandler
}

// applyTimings checks the durations of opts and fills in the defaults.
func (e *Emulator) applyTimings(opts Options) error {
	for _, d := range []struct {
		name  string
		value time.Duration
		field *time.Duration
		def   time.Duration
	}{
		{"ReliableRetention", opts.ReliableRetention, &e.retention, DefaultReliableRetention},
		{"EventHandlerTimeout", opts.EventHandlerTimeout, &e.handlerTimeout, DefaultEventHandlerTimeout},
		{"PingInterval", opts.PingInterval, &e.pingInterval, DefaultPingInterval},
		{"IdleTimeout", opts.IdleTimeout, &e.idleTimeout, DefaultIdleTimeout},
		{"CloseTimeout", opts.CloseTimeout, &e.closeFlush, DefaultCloseTimeout},
		{"ReadHeaderTimeout", opts.ReadHeaderTimeout, &e.readHeaderTimeout, DefaultReadHeaderTimeout},
		{"ClockSkew", opts.ClockSkew, &e.clockSkew, DefaultClockSkew},
		{"HTTPIdleTimeout", opts.HTTPIdleTimeout, &e.httpIdleTimeout, DefaultHTTPIdleTimeout},
	} {
		if d.value < 0 {
			return &ValidationError{Name: d.name, Value: d.value.String(), Reason: "must not be negative (zero means the default, " + d.def.String() + ")"}
		}
		*d.field = d.value
		if d.value == 0 {
			*d.field = d.def
		}
	}
	for _, n := range []struct {
		name        string
		value       int
		field       *int
		def         int
		defaultText string // the default, as the error names it
	}{
		{"MaxHeaderBytes", opts.MaxHeaderBytes, &e.maxHeaderBytes, DefaultMaxHeaderBytes, "1 MiB"},
		{"MaxLogFieldBytes", opts.MaxLogFieldBytes, &e.maxLogField, DefaultMaxLogFieldBytes, "256"},
	} {
		if n.value < 0 {
			return &ValidationError{Name: n.name, Value: strconv.Itoa(n.value), Reason: "must not be negative (zero means the default, " + n.defaultText + ")"}
		}
		*n.field = cmp.Or(n.value, n.def)
	}
	if opts.EventHandlerRetryDelays == nil {
		e.retryDelays = slices.Clone(DefaultEventHandlerRetryDelays)
	}
	for i, d := range e.retryDelays {
		if d < 0 {
			return &ValidationError{Name: "EventHandlerRetryDelays[" + strconv.Itoa(i) + "]", Value: d.String(), Reason: "must not be negative"}
		}
	}
	return nil
}

// now is the emulator's current time.
func (e *Emulator) now() time.Time { return e.clock.Now() }

// validateKey applies the official emulator's key rules to the key of the
// option name. The error never shows the key.
func validateKey(name, k string) error {
	reason := ""
	switch {
	case len(k) < 32:
		reason = "must be at least 32 bytes long"
	case strings.TrimSpace(k) != k:
		reason = "must not have leading or trailing whitespace"
	case strings.ContainsFunc(k, func(r rune) bool { return r == ';' || r < 0x20 || r == 0x7f }):
		reason = "must not contain ';' or control characters"
	default:
		return nil
	}
	return &ValidationError{Name: name, Reason: reason}
}

func normalizeEndpoint(ep string) (string, error) {
	scheme, rest, ok := strings.Cut(ep, "://")
	if !ok || rest == "" || !(strings.EqualFold(scheme, "http") || strings.EqualFold(scheme, "https")) ||
		strings.ContainsAny(rest, "?#@") {
		return "", &ValidationError{Name: "PublicEndpoint", Reason: "must be an absolute http or https URL without query, fragment or user info"}
	}
	return strings.ToLower(scheme) + "://" + strings.TrimRight(rest, "/"), nil
}
