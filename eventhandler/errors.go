package eventhandler

import "github.com/gowebpubsub/webpubsub/internal/exported"

// ErrInvalidArgument is wrapped by every error New returns for a rejected
// argument or option: each *ValidationError and each
// *ConnectionStringError. Test for it with errors.Is. It is the same value
// in every package of this module (webpubsub, webpubsubclient, emulator).
var ErrInvalidArgument = exported.ErrInvalidArgument

// ValidationError reports an argument or option of New that was rejected:
// its Name (for example "hub", "MaxBodyBytes" or "AllowedOrigins[1]"), the
// rejected Value when showing it helps (never an access key; "" otherwise)
// and the Reason, which says what was expected. Its message is
// "invalid <Name> <Value as a JSON string, shortened to 80 bytes>:
// <Reason>". It wraps ErrInvalidArgument, and it is the same type as the
// ValidationError of the other packages of this module.
type ValidationError = exported.ValidationError
