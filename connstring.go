package webpubsub

import (
	"errors"
	"fmt"

	"github.com/gowebpubsub/webpubsub/internal/connstr"
)

// ErrInvalidConnectionString is wrapped by every *ConnectionStringError.
// Test for it with errors.Is. It is the same value as
// eventhandler.ErrInvalidConnectionString.
var ErrInvalidConnectionString = connstr.ErrInvalid

// ConnectionStringErrorKind names the rule of the connection-string grammar
// that an input broke. The values are stable strings such as "empty" or
// "malformed_segment"; the ConnectionString* constants list them.
type ConnectionStringErrorKind = connstr.Kind

// The kinds of connection-string errors, in the order the parser checks them.
const (
	ConnectionStringEmpty                 = connstr.Empty
	ConnectionStringMalformedSegment      = connstr.MalformedSegment
	ConnectionStringDuplicateKey          = connstr.DuplicateKey
	ConnectionStringMissingEndpoint       = connstr.MissingEndpoint
	ConnectionStringMissingAccessKey      = connstr.MissingAccessKey
	ConnectionStringInvalidEndpoint       = connstr.InvalidEndpoint
	ConnectionStringInvalidPort           = connstr.InvalidPort
	ConnectionStringInvalidVersion        = connstr.InvalidVersion
	ConnectionStringInvalidClientEndpoint = connstr.InvalidClientEndpoint
)

// ConnectionStringError reports why a connection string was rejected: the
// Kind of rule broken, the 1-based Segment (the ";"-separated part, empty
// ones counted) for malformed_segment and duplicate_key, and the canonical
// Key concerned when it is one of Endpoint, AccessKey, Port, Version and
// ClientEndpoint ("" otherwise). Its message, such as
//
//	invalid connection string: segment 2 is not of the form Key=Value; expected Endpoint=<http or https URL>;AccessKey=<key>, with optional Port (1..65535), Version (1.0) and ClientEndpoint
//
// depends on those fields only: it never contains the access key, a
// segment's value or the input, so it is safe to log. It wraps both
// ErrInvalidConnectionString and ErrInvalidArgument. It is the same type as
// eventhandler.ConnectionStringError.
type ConnectionStringError = connstr.Error

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
// Errors are *ConnectionStringError (wrapping ErrInvalidConnectionString
// and ErrInvalidArgument) and never contain the key, a value or the input.
func ParseConnectionString(s string) (ConnectionString, error) {
	p, perr := connstr.Parse(s)
	if perr != nil {
		return ConnectionString{}, perr
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
