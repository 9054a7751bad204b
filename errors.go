package webpubsub

import (
	"encoding/json"
	"io"
	"net/http"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/gowebpubsub/webpubsub/internal/exported"
)

// ErrInvalidArgument is wrapped by every *ValidationError and every
// *ConnectionStringError, so callers can test any argument rejected on the
// client with errors.Is(err, webpubsub.ErrInvalidArgument). It is the same
// value in every package of this module (webpubsubclient, eventhandler,
// emulator).
var ErrInvalidArgument = exported.ErrInvalidArgument

// ValidationError reports an argument or option rejected on the client,
// before any request was sent: its Name (for example "group" or
// "MessageTTLSeconds"), the rejected Value when showing it helps (never a
// key or token; "" otherwise) and the Reason, which says what was
// expected. Its message is "invalid <Name> <Value as a JSON string,
// shortened to 80 bytes>: <Reason>". It wraps ErrInvalidArgument, and it is
// the same type as the ValidationError of the other packages of this
// module.
type ValidationError = exported.ValidationError

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
