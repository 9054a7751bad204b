package eventhandler

import (
	"github.com/gowebpubsub/webpubsub/internal/connstr"
)

// ErrInvalidConnectionString is wrapped by every *ConnectionStringError,
// which New returns when Options.ConnectionString cannot be parsed. Test
// for it with errors.Is. It is the same value as
// webpubsub.ErrInvalidConnectionString.
var ErrInvalidConnectionString = connstr.ErrInvalid

// ConnectionStringErrorKind names the rule of the connection-string grammar
// that an input broke, as a stable string: "empty", "malformed_segment",
// "duplicate_key", "missing_endpoint", "missing_access_key",
// "invalid_endpoint", "invalid_port", "invalid_version" or
// "invalid_client_endpoint", in the order the rules are checked. It is the
// same type as webpubsub.ConnectionStringErrorKind, whose constants name
// these values.
type ConnectionStringErrorKind = connstr.Kind

// ConnectionStringError reports why Options.ConnectionString was rejected:
// the Kind of rule broken, the 1-based Segment (the ";"-separated part,
// empty ones counted) for malformed_segment and duplicate_key, and the
// canonical Key concerned when it is one of Endpoint, AccessKey, Port,
// Version and ClientEndpoint ("" otherwise). Its message, such as
//
//	invalid connection string: AccessKey is missing or empty; expected Endpoint=<http or https URL>;AccessKey=<key>, with optional Port (1..65535), Version (1.0) and ClientEndpoint
//
// depends on those fields only: it never contains the access key, a
// segment's value or the input. It wraps both ErrInvalidConnectionString
// and ErrInvalidArgument. It is the same type as
// webpubsub.ConnectionStringError.
type ConnectionStringError = connstr.Error

// connString is a parsed connection string. It holds a secret and is never
// printed.
type connString struct {
	endpoint  string // normalized: lower-case scheme, host as given, port, path without trailing "/"
	accessKey string
}

// parseConnectionString applies the connection-string grammar of
// internal/connstr. Its errors are *ConnectionStringError.
func parseConnectionString(s string) (connString, error) {
	p, perr := connstr.Parse(s)
	if perr != nil {
		return connString{}, perr
	}
	return connString{endpoint: p.Endpoint.String(), accessKey: p.AccessKey}, nil
}
