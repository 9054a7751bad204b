// Package connstr implements the Web PubSub connection-string grammar
// once, for the service client, the event handler and the test recorder,
// with its errors: one sentinel, one error type and one wording, which the
// public packages expose as aliases. An error names the broken rule, the
// segment position and a known key only, so that no message can carry a
// value or the input.
package connstr

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/gowebpubsub/webpubsub/internal/exported"
)

// ErrInvalid is wrapped by every *Error.
var ErrInvalid = errors.New("invalid connection string")

// Kind names the rule of the connection-string grammar that an input
// broke. The values are stable strings.
type Kind string

// The rules, in the order Parse checks them.
const (
	Empty                 Kind = "empty"
	MalformedSegment      Kind = "malformed_segment"
	DuplicateKey          Kind = "duplicate_key"
	MissingEndpoint       Kind = "missing_endpoint"
	MissingAccessKey      Kind = "missing_access_key"
	InvalidEndpoint       Kind = "invalid_endpoint"
	InvalidPort           Kind = "invalid_port"
	InvalidVersion        Kind = "invalid_version"
	InvalidClientEndpoint Kind = "invalid_client_endpoint"
)

// Error reports why a connection string was rejected. Its message is a
// function of Kind, Segment and Key only: it names keys, segment positions
// and the expected form, and never contains the access key, a segment's
// value or the input, so it is safe to log. It wraps both the
// invalid-connection-string sentinel and the invalid-argument sentinel of
// the module.
type Error struct {
	// Kind is the rule that was broken.
	Kind Kind
	// Segment is the 1-based position of the offending ';'-separated
	// segment (empty segments count) for malformed_segment and
	// duplicate_key, else 0.
	Segment int
	// Key is the canonical name of the known key concerned ("Endpoint",
	// "AccessKey", "Port", "Version" or "ClientEndpoint"), or "" when the
	// key is unknown (a repeated unknown key is not shown: it may be part
	// of a secret) or there is none.
	Key string
}

// form is the expected shape, appended where the message alone does not
// say what a valid connection string looks like.
const form = "; expected Endpoint=<http or https URL>;AccessKey=<key>, with optional Port (1..65535), Version (1.0) and ClientEndpoint"

// urlRule is what an Endpoint or ClientEndpoint must be.
const urlRule = " must be an absolute http or https URL with a host, an optional port 1..65535 and path, and no query, fragment or user info"

// Error returns "invalid connection string: " and what is wrong.
func (e *Error) Error() string {
	msg := ""
	switch e.Kind {
	case Empty:
		msg = "it is empty" + form
	case MalformedSegment:
		msg = fmt.Sprintf("segment %d is not of the form Key=Value", e.Segment) + form
	case DuplicateKey:
		if e.Key != "" {
			msg = fmt.Sprintf("key %s appears again in segment %d (keys are case-insensitive)", e.Key, e.Segment)
		} else {
			msg = fmt.Sprintf("segment %d repeats a key of an earlier segment (keys are case-insensitive)", e.Segment)
		}
	case MissingEndpoint:
		msg = "Endpoint is missing or empty" + form
	case MissingAccessKey:
		msg = "AccessKey is missing or empty" + form
	case InvalidEndpoint:
		msg = "Endpoint" + urlRule
	case InvalidPort:
		msg = "Port must be decimal digits in 1..65535"
	case InvalidVersion:
		msg = "Version must be 1.0 when present"
	case InvalidClientEndpoint:
		msg = "ClientEndpoint" + urlRule
	default:
		msg = string(e.Kind)
	}
	return ErrInvalid.Error() + ": " + msg
}

// Unwrap returns ErrInvalid and the module's invalid-argument sentinel, so
// that errors.Is matches either.
func (e *Error) Unwrap() []error { return []error{ErrInvalid, exported.ErrInvalidArgument} }

// URL is a normalized absolute http(s) endpoint.
type URL struct {
	Scheme  string // "http" or "https"
	Host    string // as given, never case-folded; IPv6 without brackets
	Port    int    // 0 when none
	RawPath string // escaped path prefix without trailing "/": "" or "/a/b"
}

// HostPort returns host[:port], with brackets around an IPv6 host.
func (u URL) HostPort() string {
	if u.Port != 0 {
		return net.JoinHostPort(u.Host, strconv.Itoa(u.Port))
	}
	if strings.Contains(u.Host, ":") {
		return "[" + u.Host + "]"
	}
	return u.Host
}

// String returns scheme://host[:port][prefix].
func (u URL) String() string { return u.Scheme + "://" + u.HostPort() + u.RawPath }

// WSString returns the same URL with http mapped to ws and https to wss.
func (u URL) WSString() string {
	s := "ws"
	if u.Scheme == "https" {
		s = "wss"
	}
	return s + "://" + u.HostPort() + u.RawPath
}

// ParseURL validates and normalizes an absolute http(s) URL with a host, an
// optional port in 1..65535 and path, and no query, fragment or user info.
func ParseURL(raw string) (URL, bool) {
	if strings.ContainsAny(raw, " \t\r\n#") {
		return URL{}, false
	}
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" || u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return URL{}, false
	}
	out := URL{Scheme: strings.ToLower(u.Scheme), Host: u.Hostname()}
	if (out.Scheme != "http" && out.Scheme != "https") || out.Host == "" {
		return URL{}, false
	}
	if p := u.Port(); p != "" {
		port, ok := ParsePort(p)
		if !ok {
			return URL{}, false
		}
		out.Port = port
	} else if strings.HasSuffix(u.Host, ":") {
		return URL{}, false
	}
	out.RawPath = strings.TrimRight(u.EscapedPath(), "/")
	return out, true
}

// ParsePort accepts decimal digits only (leading zeros allowed), 1..65535.
func ParsePort(p string) (int, bool) {
	if p == "" || len(p) > 10 || strings.TrimLeft(p, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 65535 {
		return 0, false
	}
	return n, true
}

// Parsed is a valid connection string. AccessKey is a secret.
type Parsed struct {
	// Endpoint is the service endpoint; Port= has replaced its port.
	Endpoint URL
	// ClientEndpoint is set when HasClientEndpoint.
	ClientEndpoint    URL
	HasClientEndpoint bool
	// AccessKey is the key, trimmed, used verbatim.
	AccessKey string
}

var known = map[string]string{"endpoint": "Endpoint", "accesskey": "AccessKey", "port": "Port", "version": "Version", "clientendpoint": "ClientEndpoint"}

// Parse applies the grammar: ";"-separated segments, empty ones ignored,
// each "Key=Value" split on the first "=", keys and values trimmed, keys
// case-insensitive and unique (unknown keys too, then ignored); Endpoint and
// AccessKey required; Port (1..65535) replaces the endpoint's port; Version,
// when present, is 1.0; ClientEndpoint is an http(s) URL. The first broken
// rule, in the order of the Kind constants, is reported.
func Parse(s string) (Parsed, *Error) {
	values := map[string]string{}
	seen := map[string]bool{}
	nonEmpty := false
	for i, seg := range strings.Split(s, ";") {
		seg = strings.TrimSpace(seg)
		if seg == "" {
			continue
		}
		nonEmpty = true
		k, v, ok := strings.Cut(seg, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return Parsed{}, &Error{Kind: MalformedSegment, Segment: i + 1}
		}
		lk := strings.ToLower(k)
		if seen[lk] {
			return Parsed{}, &Error{Kind: DuplicateKey, Segment: i + 1, Key: known[lk]}
		}
		seen[lk] = true
		if _, ok := known[lk]; ok {
			values[lk] = strings.TrimSpace(v)
		}
	}
	switch {
	case !nonEmpty:
		return Parsed{}, &Error{Kind: Empty}
	case values["endpoint"] == "":
		return Parsed{}, &Error{Kind: MissingEndpoint, Key: "Endpoint"}
	case values["accesskey"] == "":
		return Parsed{}, &Error{Kind: MissingAccessKey, Key: "AccessKey"}
	}
	ep, ok := ParseURL(values["endpoint"])
	if !ok {
		return Parsed{}, &Error{Kind: InvalidEndpoint, Key: "Endpoint"}
	}
	if p, has := values["port"]; has {
		port, ok := ParsePort(p)
		if !ok {
			return Parsed{}, &Error{Kind: InvalidPort, Key: "Port"}
		}
		ep.Port = port
	}
	if v, has := values["version"]; has && v != "1.0" {
		return Parsed{}, &Error{Kind: InvalidVersion, Key: "Version"}
	}
	out := Parsed{Endpoint: ep, AccessKey: values["accesskey"]}
	if v, has := values["clientendpoint"]; has {
		ce, ok := ParseURL(v)
		if !ok {
			return Parsed{}, &Error{Kind: InvalidClientEndpoint, Key: "ClientEndpoint"}
		}
		out.ClientEndpoint, out.HasClientEndpoint = ce, true
	}
	return out, nil
}
