package webpubsub

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
)

// ErrInvalidArgument is wrapped by every *ValidationError, so callers can
// test with errors.Is(err, webpubsub.ErrInvalidArgument).
var ErrInvalidArgument = errors.New("webpubsub: invalid argument")

// ValidationError reports an argument rejected on the client, before any
// request was sent. It says what was expected. It never holds a secret.
type ValidationError struct {
	// Name is the parameter or option, for example "group" or "MessageTTLSeconds".
	Name string
	// Value is the rejected value when showing it helps (ids and names; never
	// keys or tokens). It may be empty.
	Value string
	// Reason says what was expected.
	Reason string
}

// Error implements error.
func (e *ValidationError) Error() string {
	if e.Value != "" {
		return "webpubsub: invalid " + e.Name + " " + quoteForError(e.Value) + ": " + e.Reason
	}
	return "webpubsub: invalid " + e.Name + ": " + e.Reason
}

// Unwrap returns ErrInvalidArgument.
func (e *ValidationError) Unwrap() error { return ErrInvalidArgument }

// quoteForError quotes v, shortened to 80 bytes.
func quoteForError(v string) string {
	const max = 80
	if len(v) > max {
		v = v[:max] + "..."
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// serviceErrorBody is the part of the service's error body that is read:
// its code, at the top or inside an {"error": {...}} wrapper. Other fields
// (message, inner, innererror) are left to the response body.
type serviceErrorBody struct {
	Code  string            `json:"code"`
	Error *serviceErrorBody `json:"error"`
}

// newResponseError returns an *azcore.ResponseError for resp with ErrorCode
// from the x-ms-error-code header, else from the body's code. The body of a
// HEAD response is never read.
func newResponseError(resp *http.Response) error {
	code := resp.Header.Get("x-ms-error-code")
	if code == "" && resp.Request != nil && resp.Request.Method != http.MethodHead {
		if body, err := runtime.Payload(resp); err == nil && len(body) > 0 {
			var e serviceErrorBody
			if json.Unmarshal(body, &e) == nil {
				code = e.Code
				if code == "" && e.Error != nil {
					code = e.Error.Code
				}
			}
		}
	}
	if resp.Request != nil && resp.Request.Method == http.MethodHead && resp.Body != nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	}
	return runtime.NewResponseErrorWithErrorCode(resp, code)
}
