package webpubsub

import (
	"errors"
	"fmt"

	"github.com/gowebpubsub/webpubsub/internal/connstr"
)

// ErrInvalidConnectionString is the sentinel wrapped by every
// *ConnectionStringError. Test for it with errors.Is.
var ErrInvalidConnectionString = errors.New("webpubsub: invalid connection string")

// ConnectionStringErrorKind names the rule of the connection-string grammar
// that an input broke. The values are stable and match the project's
// conformance data.
type ConnectionStringErrorKind string

// The kinds of connection-string errors, in the order the parser checks them.
const (
	ConnectionStringEmpty                 ConnectionStringErrorKind = "empty"
	ConnectionStringMalformedSegment      ConnectionStringErrorKind = "malformed_segment"
	ConnectionStringDuplicateKey          ConnectionStringErrorKind = "duplicate_key"
	ConnectionStringMissingEndpoint       ConnectionStringErrorKind = "missing_endpoint"
	ConnectionStringMissingAccessKey      ConnectionStringErrorKind = "missing_access_key"
	ConnectionStringInvalidEndpoint       ConnectionStringErrorKind = "invalid_endpoint"
	ConnectionStringInvalidPort           ConnectionStringErrorKind = "invalid_port"
	ConnectionStringInvalidVersion        ConnectionStringErrorKind = "invalid_version"
	ConnectionStringInvalidClientEndpoint ConnectionStringErrorKind = "invalid_client_endpoint"
)

// ConnectionStringError reports why a connection string was rejected. Its
// message names only keys, segment positions and the expected format: it never
// contains the access key, a segment's value or the input itself, so it is
// safe to log. It wraps ErrInvalidConnectionString.
type ConnectionStringError struct {
	// Kind is the rule that was broken.
	Kind ConnectionStringErrorKind
	// Segment is the 1-based position of the offending ';'-separated segment
	// for malformed_segment and duplicate_key, else 0.
	Segment int
	// Key is the (canonical) key concerned, when there is one.
	Key string
}

// Error implements error.
func (e *ConnectionStringError) Error() string {
	const form = "expected Endpoint=<http or https URL>;AccessKey=<key>, with optional Port, Version (1.0) and ClientEndpoint"
	switch e.Kind {
	case ConnectionStringEmpty:
		return "webpubsub: invalid connection string: it is empty; " + form
	case ConnectionStringMalformedSegment:
		return fmt.Sprintf("webpubsub: invalid connection string: segment %d is not of the form Key=Value; %s", e.Segment, form)
	case ConnectionStringDuplicateKey:
		return fmt.Sprintf("webpubsub: invalid connection string: key %q appears again in segment %d (keys are case-insensitive)", e.Key, e.Segment)
	case ConnectionStringMissingEndpoint:
		return "webpubsub: invalid connection string: Endpoint is missing or empty; " + form
	case ConnectionStringMissingAccessKey:
		return "webpubsub: invalid connection string: AccessKey is missing or empty (for Entra ID use NewServiceClient with a TokenCredential); " + form
	case ConnectionStringInvalidEndpoint:
		return "webpubsub: invalid connection string: Endpoint must be an absolute http or https URL with a host, an optional port 1..65535 and path, and no query, fragment or user info"
	case ConnectionStringInvalidPort:
		return "webpubsub: invalid connection string: Port must be decimal digits in 1..65535"
	case ConnectionStringInvalidVersion:
		return "webpubsub: invalid connection string: Version must be 1.0 when present"
	case ConnectionStringInvalidClientEndpoint:
		return "webpubsub: invalid connection string: ClientEndpoint must be an absolute http or https URL with a host, an optional port 1..65535 and path, and no query, fragment or user info"
	}
	return "webpubsub: invalid connection string: " + string(e.Kind)
}

// Unwrap returns ErrInvalidConnectionString.
func (e *ConnectionStringError) Unwrap() error { return ErrInvalidConnectionString }

// ConnectionString is a parsed Web PubSub connection string. AccessKey is a
// secret: String, GoString and every fmt verb redact it.
type ConnectionString struct {
	// Endpoint is the normalized service endpoint: lower-case scheme, host as
	// given (IPv6 in brackets), ":port" when one was given (Port= replaces the
	// URL's port), the escaped path prefix, no trailing "/".
	// Example: "https://Host.Example.COM:8443/a/b".
	Endpoint string
	// Port is the explicit port of Endpoint, or 0 when it has none.
	Port int
	// ClientEndpoint is the normalized ClientEndpoint (Port= does not apply),
	// or "" when absent. When set it is the base of client access URLs.
	ClientEndpoint string
	// AccessKey is the access key, trimmed of surrounding white space. It is
	// used verbatim (its UTF-8 bytes) as the HMAC key; it is not base64-decoded.
	AccessKey string
}

// String returns the connection string with the access key redacted.
func (c ConnectionString) String() string {
	s := "Endpoint=" + c.Endpoint + ";AccessKey=REDACTED;Version=1.0;"
	if c.ClientEndpoint != "" {
		s += "ClientEndpoint=" + c.ClientEndpoint + ";"
	}
	return s
}

// GoString returns a Go-syntax representation with the access key redacted.
func (c ConnectionString) GoString() string {
	return fmt.Sprintf("webpubsub.ConnectionString{Endpoint:%q, Port:%d, ClientEndpoint:%q, AccessKey:\"REDACTED\"}", c.Endpoint, c.Port, c.ClientEndpoint)
}

// Format implements fmt.Formatter so that no verb (%v, %+v, %#v, %s, %q, ...)
// can print the access key.
func (c ConnectionString) Format(f fmt.State, verb rune) {
	switch {
	case verb == 'v' && f.Flag('#'):
		fmt.Fprint(f, c.GoString())
	case verb == 'q':
		fmt.Fprintf(f, "%q", c.String())
	default:
		fmt.Fprint(f, c.String())
	}
}

// ParseConnectionString parses a Web PubSub connection string such as
//
//	Endpoint=https://contoso.webpubsub.azure.com;AccessKey=<key>;Version=1.0;
//
// The grammar: segments are separated by ";"; empty or white-space-only
// segments are ignored; each other segment is Key=Value split on its first
// "=", with key and value trimmed; keys are case-insensitive and may not
// repeat. Endpoint and AccessKey are required. Port (1..65535, digits only)
// replaces the endpoint URL's port. Version, when present, must be "1.0".
// ClientEndpoint (optional) becomes the base of client access URLs. Unknown
// keys are ignored.
//
// For example "Endpoint=HTTPS://Host.Example.COM/a/b/;Port=8443;AccessKey=k"
// gives Endpoint "https://Host.Example.COM:8443/a/b".
//
// Errors are *ConnectionStringError (wrapping ErrInvalidConnectionString)
// and never contain the key, a value or the input.
func ParseConnectionString(s string) (ConnectionString, error) {
	p, perr := connstr.Parse(s)
	if perr != nil {
		e := &ConnectionStringError{Kind: ConnectionStringErrorKind(perr.Kind), Segment: perr.Segment, Key: perr.Key}
		if e.Kind == ConnectionStringDuplicateKey && e.Key == "" {
			e.Key = "(unknown key)"
		}
		return ConnectionString{}, e
	}
	cs := ConnectionString{Endpoint: p.Endpoint.String(), Port: p.Endpoint.Port, AccessKey: p.AccessKey}
	if p.HasClientEndpoint {
		cs.ClientEndpoint = p.ClientEndpoint.String()
	}
	return cs, nil
}

// serviceURL is a normalized absolute http(s) endpoint.
type serviceURL = connstr.URL

var errInvalidURL = errors.New("invalid URL")

// parseServiceURL validates and normalizes an absolute http(s) URL (see
// connstr.ParseURL). The host's case is kept.
func parseServiceURL(raw string) (serviceURL, error) {
	u, ok := connstr.ParseURL(raw)
	if !ok {
		return serviceURL{}, errInvalidURL
	}
	return u, nil
}
