package eventhandler

import (
	"errors"
	"fmt"

	"github.com/gowebpubsub/webpubsub/internal/connstr"
)

// ErrInvalidConnectionString is wrapped by the error New returns when
// Options.ConnectionString cannot be parsed. Test for it with errors.Is.
// Such errors name the broken rule and, for a malformed segment, its
// position; they never contain the access key, any value or the input.
var ErrInvalidConnectionString = errors.New("eventhandler: invalid connection string")

// connStringError is one broken rule of the connection-string grammar.
// kind is the name of the broken rule.
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

// parseConnectionString applies the project's connection-string grammar
// (internal/connstr).
func parseConnectionString(s string) (connString, error) {
	p, perr := connstr.Parse(s)
	if perr != nil {
		e := &connStringError{kind: string(perr.Kind), segment: perr.Segment, key: perr.Key}
		if perr.Kind == connstr.DuplicateKey && e.key == "" {
			e.key = "(an unknown key)"
		}
		return connString{}, e
	}
	return connString{endpoint: p.Endpoint.String(), accessKey: p.AccessKey}, nil
}
