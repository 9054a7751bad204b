package eventhandler

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// ErrInvalidConnectionString is wrapped by the error New returns when
// Options.ConnectionString cannot be parsed. Test for it with errors.Is.
// Such errors name the broken rule and, for a malformed segment, its
// position; they never contain the access key, any value or the input.
var ErrInvalidConnectionString = errors.New("eventhandler: invalid connection string")

// connStringError is one broken rule of the connection-string grammar
// (spec rest-and-auth.md §g). kind is the rule's name in the conformance
// data.
type connStringError struct {
	kind    string
	segment int    // 1-based, for malformed_segment and duplicate_key
	key     string // canonical key name, when known
}

func (e *connStringError) Error() string {
	const form = "expected Endpoint=<http or https URL>;AccessKey=<key>, optionally with Port (1..65535), Version (which must be 1.0) and ClientEndpoint"
	msg := ""
	switch e.kind {
	case "empty":
		msg = "it is empty"
	case "malformed_segment":
		msg = fmt.Sprintf("segment %d is not of the form Key=Value", e.segment)
	case "duplicate_key":
		msg = fmt.Sprintf("key %s appears again in segment %d (keys are case-insensitive)", e.key, e.segment)
	case "missing_endpoint":
		msg = "Endpoint is missing or empty"
	case "missing_access_key":
		msg = "AccessKey is missing or empty"
	case "invalid_endpoint":
		msg = "Endpoint is not an absolute http or https URL with a host, an optional port 1..65535 and path, and no query, fragment or user info"
	case "invalid_port":
		msg = "Port must be decimal digits in 1..65535"
	case "invalid_version":
		msg = "Version must be 1.0"
	case "invalid_client_endpoint":
		msg = "ClientEndpoint is not an absolute http or https URL with a host, an optional port 1..65535 and path, and no query, fragment or user info"
	default:
		msg = e.kind
	}
	return ErrInvalidConnectionString.Error() + ": " + msg + "; " + form
}

func (e *connStringError) Unwrap() error { return ErrInvalidConnectionString }

// connString is a parsed connection string. It holds a secret and is never
// printed.
type connString struct {
	endpoint  string // normalized: lower-case scheme, host as given, port, path without trailing "/"
	accessKey string
}

// parseConnectionString implements the project's grammar: ";"-separated
// segments, empty ones ignored, each "Key=Value" split on the first "=",
// keys and values trimmed, keys case-insensitive and unique; Endpoint and
// AccessKey required; Port, Version and ClientEndpoint checked; unknown keys
// ignored. Errors are reported in the grammar's check order.
func parseConnectionString(s string) (connString, error) {
	known := map[string]string{"endpoint": "Endpoint", "accesskey": "AccessKey", "port": "Port", "version": "Version", "clientendpoint": "ClientEndpoint"}
	vals := map[string]string{}
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
			return connString{}, &connStringError{kind: "malformed_segment", segment: i + 1}
		}
		lk := strings.ToLower(k)
		if seen[lk] {
			name, isKnown := known[lk]
			if !isKnown {
				name = "(an unknown key)"
			}
			return connString{}, &connStringError{kind: "duplicate_key", segment: i + 1, key: name}
		}
		seen[lk] = true
		if _, isKnown := known[lk]; isKnown {
			vals[lk] = strings.TrimSpace(v)
		}
	}
	if !nonEmpty {
		return connString{}, &connStringError{kind: "empty"}
	}
	if vals["endpoint"] == "" {
		return connString{}, &connStringError{kind: "missing_endpoint", key: "Endpoint"}
	}
	if vals["accesskey"] == "" {
		return connString{}, &connStringError{kind: "missing_access_key", key: "AccessKey"}
	}
	ep, ok := parseEndpoint(vals["endpoint"])
	if !ok {
		return connString{}, &connStringError{kind: "invalid_endpoint", key: "Endpoint"}
	}
	if p, has := vals["port"]; has {
		port, ok := parsePort(p)
		if !ok {
			return connString{}, &connStringError{kind: "invalid_port", key: "Port"}
		}
		ep.port = port
	}
	if v, has := vals["version"]; has && v != "1.0" {
		return connString{}, &connStringError{kind: "invalid_version", key: "Version"}
	}
	if v, has := vals["clientendpoint"]; has {
		if _, ok := parseEndpoint(v); !ok {
			return connString{}, &connStringError{kind: "invalid_client_endpoint", key: "ClientEndpoint"}
		}
	}
	return connString{endpoint: ep.String(), accessKey: vals["accesskey"]}, nil
}

// endpoint is a validated absolute http(s) URL.
type endpoint struct {
	scheme string // "http" or "https"
	host   string // as given; IPv6 without brackets
	port   int    // 0 when none
	path   string // escaped, without trailing "/"
}

func (e endpoint) String() string {
	host := e.host
	if e.port != 0 {
		host = net.JoinHostPort(e.host, strconv.Itoa(e.port))
	} else if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return e.scheme + "://" + host + e.path
}

func parseEndpoint(raw string) (endpoint, bool) {
	if strings.ContainsAny(raw, " \t\r\n#") {
		return endpoint{}, false
	}
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" || u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return endpoint{}, false
	}
	e := endpoint{scheme: strings.ToLower(u.Scheme), host: u.Hostname()}
	if (e.scheme != "http" && e.scheme != "https") || e.host == "" {
		return endpoint{}, false
	}
	if p := u.Port(); p != "" {
		port, ok := parsePort(p)
		if !ok {
			return endpoint{}, false
		}
		e.port = port
	} else if strings.HasSuffix(u.Host, ":") {
		return endpoint{}, false
	}
	e.path = strings.TrimRight(u.EscapedPath(), "/")
	return e, true
}

// parsePort accepts decimal digits only, in 1..65535.
func parsePort(p string) (int, bool) {
	if p == "" || len(p) > 10 || strings.TrimLeft(p, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 65535 {
		return 0, false
	}
	return n, true
}
