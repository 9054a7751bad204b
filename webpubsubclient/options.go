package webpubsubclient

import (
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/gowebpubsub/webpubsub/internal/protocol"
)

// Protocol is the WebSocket subprotocol the client speaks with the service.
type Protocol string

const (
	// ProtocolReliableJSON is json.reliable.webpubsub.azure.v1, the default:
	// the service numbers every message, the client acknowledges them, and a
	// dropped connection is recovered without losing or repeating messages.
	ProtocolReliableJSON Protocol = protocol.SubprotocolReliableJSON
	// ProtocolJSON is json.webpubsub.azure.v1: messages sent while the
	// connection is down are lost, and every drop means a new connection.
	ProtocolJSON Protocol = protocol.SubprotocolJSON
	// ProtocolReliableProtobuf is protobuf.reliable.webpubsub.azure.v1:
	// ProtocolReliableJSON's guarantees (sequence ids, acknowledgements,
	// recovery) with every frame a binary protobuf message, so binary
	// payloads travel without base64 and ProtobufMessage payloads can be
	// sent. Its schema has no invoke, group stream or metadata: InvokeEvent
	// and OpenGroupStream return an *UnsupportedError, and no group stream
	// arrives (fragments published to a group arrive as GroupMessages).
	// JSON sent by others arrives as DataTypeText holding the JSON text,
	// as the service delivers it to protobuf clients; JSONMessage sends
	// still reach JSON clients as DataTypeJSON.
	ProtocolReliableProtobuf Protocol = protocol.SubprotocolReliableProtobuf
	// ProtocolProtobuf is protobuf.webpubsub.azure.v1: ProtocolJSON's
	// behaviour with ProtocolReliableProtobuf's encoding and limits.
	ProtocolProtobuf Protocol = protocol.SubprotocolProtobuf
)

// PossibleProtocolValues returns every Protocol.
func PossibleProtocolValues() []Protocol {
	return []Protocol{ProtocolReliableJSON, ProtocolJSON, ProtocolReliableProtobuf, ProtocolProtobuf}
}

// protobuf reports whether p is one of the protobuf subprotocols.
func (p Protocol) protobuf() bool { return p == ProtocolProtobuf || p == ProtocolReliableProtobuf }

// RetryMode says how the delay grows between retries.
type RetryMode int

const (
	// RetryModeFixed waits RetryOptions.Delay before every retry.
	RetryModeFixed RetryMode = iota
	// RetryModeExponential waits min(2^(n-1) × Delay, MaxDelay) before
	// retry n (n counts from 1).
	RetryModeExponential
)

// String returns "Fixed" or "Exponential".
func (m RetryMode) String() string {
	switch m {
	case RetryModeFixed:
		return "Fixed"
	case RetryModeExponential:
		return "Exponential"
	}
	return "RetryMode(" + strconv.Itoa(int(m)) + ")"
}

// PossibleRetryModeValues returns every RetryMode.
func PossibleRetryModeValues() []RetryMode {
	return []RetryMode{RetryModeFixed, RetryModeExponential}
}

// RetryOptions is a retry policy: how many times, and how long to wait in
// between. The zero value means the defaults of the option it is used for.
type RetryOptions struct {
	// MaxRetries is the number of retries after the first attempt. Zero
	// means the default of the option (unlimited for
	// Options.ReconnectRetry, DefaultMessageRetries for
	// Options.MessageRetry); a negative value means no retry at all.
	MaxRetries int
	// Delay is the wait before a retry in RetryModeFixed, and the first
	// wait in RetryModeExponential. Zero means DefaultRetryDelay (1 s). It
	// must not be negative.
	Delay time.Duration
	// MaxDelay caps every wait. Zero means DefaultMaxRetryDelay (30 s). It
	// must not be negative.
	MaxDelay time.Duration
	// Mode is RetryModeFixed (the default) or RetryModeExponential.
	Mode RetryMode
}

// Defaults of Options.
const (
	// DefaultMessageRetries is how many times JoinGroup, LeaveGroup,
	// SendToGroup and SendEvent are retried after a retriable failure.
	DefaultMessageRetries = 3
	// DefaultRetryDelay is the wait between retries.
	DefaultRetryDelay = time.Second
	// DefaultMaxRetryDelay caps the wait between retries.
	DefaultMaxRetryDelay = 30 * time.Second
	// DefaultKeepAliveInterval is how long the client may stay silent
	// before it sends a ping.
	DefaultKeepAliveInterval = 20 * time.Second
	// DefaultKeepAliveTimeout is how long the service may stay silent
	// before the client treats the connection as dropped.
	DefaultKeepAliveTimeout = 120 * time.Second
	// DefaultAckTimeout is how long one attempt of an acknowledged call
	// waits for a connection and for its ack.
	DefaultAckTimeout = 30 * time.Second
	// DefaultRecoveryWindow is how long the reliable protocol tries to
	// recover a dropped connection.
	DefaultRecoveryWindow = 30 * time.Second
	// DefaultRecoveryInterval is the wait between recovery attempts.
	DefaultRecoveryInterval = time.Second
	// DefaultSequenceAckInterval is how often the reliable protocol
	// acknowledges the messages it received.
	DefaultSequenceAckInterval = time.Second
)

// MaxAckID is the largest ack id the client uses or accepts (2^53), so that
// JavaScript peers read it exactly.
const MaxAckID = 1 << 53

// Options configure a Client. A nil *Options, and the zero value of every
// field, mean the defaults.
type Options struct {
	// Protocol is the subprotocol; "" means ProtocolReliableJSON.
	Protocol Protocol
	// DisableAutoReconnect stops the client (raising Disconnected, then
	// Stopped) when its connection is lost and cannot be recovered. By
	// default the client opens a new connection, following ReconnectRetry.
	DisableAutoReconnect bool
	// DisableAutoRejoinGroups stops the client from joining again, on each
	// new connection, the groups it joined (and did not leave) through
	// JoinGroup. Rejoining is on by default.
	DisableAutoRejoinGroups bool
	// ReconnectRetry is the policy for opening a new connection after an
	// unrecoverable drop. Defaults: unlimited retries, a fixed 1 s delay,
	// at most 30 s.
	ReconnectRetry RetryOptions
	// MessageRetry is the policy for retrying JoinGroup, LeaveGroup,
	// SendToGroup and SendEvent after a lost connection, an ack timeout or
	// an InternalServerError ack. Defaults: 3 retries, a fixed 1 s delay.
	MessageRetry RetryOptions
	// KeepAliveInterval: the client sends a ping after this much time
	// without sending anything. Zero means DefaultKeepAliveInterval (20 s);
	// a negative value disables pings.
	KeepAliveInterval time.Duration
	// KeepAliveTimeout: after this much time without receiving anything the
	// client drops the connection (without a close frame, so the reliable
	// protocol can recover it). Zero means DefaultKeepAliveTimeout (120 s);
	// a negative value disables the check.
	KeepAliveTimeout time.Duration
	// AckTimeout bounds each attempt of an acknowledged call: the wait for
	// a connection plus the wait for the ack. An attempt that times out is
	// retried with the same ack id under MessageRetry, and in the end fails
	// with ErrAckTimeout. Zero means DefaultAckTimeout (30 s); a negative
	// value means no limit other than the call's context.
	AckTimeout time.Duration
	// RecoveryWindow is how long the reliable protocol tries to recover a
	// dropped connection before it gives up and opens a new one. Zero
	// means DefaultRecoveryWindow (30 s); a negative value disables
	// recovery.
	RecoveryWindow time.Duration
	// RecoveryInterval is the wait between recovery attempts. Zero means
	// DefaultRecoveryInterval (1 s). It must not be negative.
	RecoveryInterval time.Duration
	// SequenceAckInterval is how often the reliable protocol sends
	// sequenceAck, when new messages arrived. Independently of it, the
	// client acknowledges at once when more than 300 messages are
	// unacknowledged, and when a connection has just been recovered. Zero
	// means DefaultSequenceAckInterval (1 s). It must not be negative.
	SequenceAckInterval time.Duration
	// HTTPClient performs the WebSocket handshakes; nil means
	// http.DefaultClient. Use it for proxies or custom TLS settings.
	HTTPClient *http.Client
	// Logger receives diagnostics: connections, drops, recoveries and
	// reconnect attempts at info level, retries at debug level. Nil means
	// slog.Default(), so a reconnecting client says so; use
	// slog.New(slog.DiscardHandler) to silence it. No message ever
	// contains a client access URL, a token or a reconnection token.
	Logger *slog.Logger
}

// config is Options with every default applied.
type config struct {
	protocol            Protocol
	reliable            bool
	pbuf                bool // a protobuf subprotocol
	autoReconnect       bool
	autoRejoin          bool
	reconnect           retryPolicy
	message             retryPolicy
	keepAliveInterval   time.Duration // 0 = off
	keepAliveTimeout    time.Duration // 0 = off
	ackTimeout          time.Duration // 0 = off
	recoveryWindow      time.Duration // 0 = off
	recoveryInterval    time.Duration
	sequenceAckInterval time.Duration
	httpClient          *http.Client
	log                 *slog.Logger
}

// retryPolicy is RetryOptions resolved: maxRetries < 0 means unlimited.
type retryPolicy struct {
	maxRetries int
	delay      time.Duration
	maxDelay   time.Duration
	mode       RetryMode
}

// allows reports whether retry n (counting from 1) may happen.
func (p retryPolicy) allows(n int) bool {
	return p.maxRetries < 0 || n <= p.maxRetries
}

// wait returns the delay before retry n (counting from 1).
func (p retryPolicy) wait(n int) time.Duration {
	d := p.delay
	if p.mode == RetryModeExponential {
		for i := 1; i < n && d < p.maxDelay; i++ {
			d *= 2
		}
	}
	return min(d, p.maxDelay)
}

func resolveRetry(name string, o RetryOptions, defaultRetries int) (retryPolicy, error) {
	p := retryPolicy{maxRetries: o.MaxRetries, delay: o.Delay, maxDelay: o.MaxDelay, mode: o.Mode}
	switch {
	case o.MaxRetries == 0:
		p.maxRetries = defaultRetries
	case o.MaxRetries < 0:
		p.maxRetries = 0
	}
	if o.Delay < 0 {
		return p, &ValidationError{Name: name + ".Delay", Reason: "must not be negative"}
	}
	if o.MaxDelay < 0 {
		return p, &ValidationError{Name: name + ".MaxDelay", Reason: "must not be negative"}
	}
	if o.Mode != RetryModeFixed && o.Mode != RetryModeExponential {
		return p, &ValidationError{Name: name + ".Mode", Reason: "must be RetryModeFixed or RetryModeExponential"}
	}
	if p.delay == 0 {
		p.delay = DefaultRetryDelay
	}
	if p.maxDelay == 0 {
		p.maxDelay = DefaultMaxRetryDelay
	}
	return p, nil
}

// durationOrDefault maps zero to def and negative to 0 (off).
func durationOrDefault(d, def time.Duration) time.Duration {
	switch {
	case d == 0:
		return def
	case d < 0:
		return 0
	}
	return d
}

func resolveOptions(o *Options) (config, error) {
	if o == nil {
		o = &Options{}
	}
	c := config{
		protocol:            o.Protocol,
		autoReconnect:       !o.DisableAutoReconnect,
		autoRejoin:          !o.DisableAutoRejoinGroups,
		keepAliveInterval:   durationOrDefault(o.KeepAliveInterval, DefaultKeepAliveInterval),
		keepAliveTimeout:    durationOrDefault(o.KeepAliveTimeout, DefaultKeepAliveTimeout),
		ackTimeout:          durationOrDefault(o.AckTimeout, DefaultAckTimeout),
		recoveryWindow:      durationOrDefault(o.RecoveryWindow, DefaultRecoveryWindow),
		recoveryInterval:    o.RecoveryInterval,
		sequenceAckInterval: o.SequenceAckInterval,
		httpClient:          o.HTTPClient,
		log:                 o.Logger,
	}
	switch c.protocol {
	case "":
		c.protocol = ProtocolReliableJSON
	case ProtocolReliableJSON, ProtocolJSON, ProtocolReliableProtobuf, ProtocolProtobuf:
	default:
		return c, &ValidationError{Name: "Protocol", Value: string(c.protocol), Reason: "must be " + string(ProtocolReliableJSON) + ", " +
			string(ProtocolJSON) + ", " + string(ProtocolReliableProtobuf) + " or " + string(ProtocolProtobuf)}
	}
	c.reliable = c.protocol == ProtocolReliableJSON || c.protocol == ProtocolReliableProtobuf
	c.pbuf = c.protocol.protobuf()
	var err error
	if c.reconnect, err = resolveRetry("ReconnectRetry", o.ReconnectRetry, -1); err != nil {
		return c, err
	}
	if c.message, err = resolveRetry("MessageRetry", o.MessageRetry, DefaultMessageRetries); err != nil {
		return c, err
	}
	if c.recoveryInterval < 0 {
		return c, &ValidationError{Name: "RecoveryInterval", Reason: "must not be negative"}
	}
	if c.recoveryInterval == 0 {
		c.recoveryInterval = DefaultRecoveryInterval
	}
	if c.sequenceAckInterval < 0 {
		return c, &ValidationError{Name: "SequenceAckInterval", Reason: "must not be negative"}
	}
	if c.sequenceAckInterval == 0 {
		c.sequenceAckInterval = DefaultSequenceAckInterval
	}
	if c.httpClient == nil {
		c.httpClient = http.DefaultClient
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	return c, nil
}
