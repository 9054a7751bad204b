// Package exported holds the types that several public packages of the
// module expose under their own names, as aliases, so that each kind of
// failure is one type whatever package returned it.
//
// Nothing here is a promise to users: the aliases in the public packages
// and their doc comments are.
package exported

import (
	"encoding/json"
	"errors"
)

// ErrInvalidArgument is wrapped by every *ValidationError: an argument or
// option was rejected before anything was sent or started.
var ErrInvalidArgument = errors.New("invalid argument")

// ValidationError reports an argument or option rejected before anything
// was sent or started. It says what was expected and never holds a
// secret. It wraps ErrInvalidArgument.
type ValidationError struct {
	// Name is the parameter or option, for example "group",
	// "MessageTTLSeconds" or "AllowedOrigins[1]".
	Name string
	// Value is the rejected value when showing it helps (names, ids,
	// numbers; never keys, tokens or URLs that may carry them). It may be
	// empty.
	Value string
	// Reason says what was expected.
	Reason string
}

// Error returns "invalid <Name> <quoted Value>: <Reason>", or
// "invalid <Name>: <Reason>" when Value is empty. Value is quoted as a
// JSON string and shortened to its first 80 bytes.
func (e *ValidationError) Error() string {
	if e.Value != "" {
		return "invalid " + e.Name + " " + quote(e.Value) + ": " + e.Reason
	}
	return "invalid " + e.Name + ": " + e.Reason
}

// Unwrap returns ErrInvalidArgument.
func (e *ValidationError) Unwrap() error { return ErrInvalidArgument }

// maxQuoted is how many bytes of a value an error shows.
const maxQuoted = 80

// quote returns v as a JSON string, shortened to its first 80 bytes
// followed by "..." when longer, with encoding/json's escapes: control
// characters and <, >, & are escaped and invalid UTF-8 becomes \ufffd,
// so the result is one line of valid UTF-8.
func quote(v string) string {
	if len(v) > maxQuoted {
		v = v[:maxQuoted] + "..."
	}
	b, _ := json.Marshal(v)
	return string(b)
}
