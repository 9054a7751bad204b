package webpubsub

import "github.com/gowebpubsub/webpubsub/internal/payload"

// ContentType is the content type of a message body sent through the REST
// API. The service accepts exactly these three. Each is the HTTP side of a
// data type of the client protocols: the value of ContentTypeText is what
// webpubsubclient.DataTypeText.MediaType() and
// eventhandler.DataTypeText.MediaType() return, and so on.
type ContentType string

const (
	// ContentTypeText is text/plain (UTF-8): clients of the JSON
	// subprotocols receive it with dataType "text".
	ContentTypeText ContentType = payload.MediaTypeText
	// ContentTypeJSON is application/json: dataType "json".
	ContentTypeJSON ContentType = payload.MediaTypeJSON
	// ContentTypeBinary is application/octet-stream: dataType "binary".
	ContentTypeBinary ContentType = payload.MediaTypeBinary
)

// PossibleContentTypeValues returns every ContentType: text, JSON, binary.
func PossibleContentTypeValues() []ContentType {
	return []ContentType{ContentTypeText, ContentTypeJSON, ContentTypeBinary}
}

// Message is the body of a send: bytes and their content type. Build one
// with TextMessage, JSONMessage or BinaryMessage. The zero Message is
// invalid: sending it is rejected with a *ValidationError. A Message is an
// immutable value, safe to reuse and share across goroutines.
//
// The builders follow the same rules as webpubsubclient's Message and
// eventhandler's replies, so a recipient gets the same bytes whichever
// package sent them.
type Message struct {
	p payload.Message
}

// TextMessage returns a text/plain message with the UTF-8 bytes of s; each
// byte of s that does not start a valid UTF-8 sequence is sent as U+FFFD.
// Sending an empty text is rejected on the client (the service does not
// deliver empty messages).
func TextMessage(s string) Message {
	return Message{payload.Text(s)}
}

// JSONMessage returns an application/json message with the JSON encoding of
// v, as json.Marshal encodes it but without escaping <, > and & (a
// json.RawMessage is validated and sent compacted). An error of the
// encoding, or a value that encodes as null (which the service's clients
// cannot receive), is reported as a *ValidationError when the message is
// sent. Note that a Go string becomes a JSON string ("hi" is sent as
// "\"hi\""): use TextMessage for text.
func JSONMessage(v any) Message {
	return Message{payload.JSON(v)}
}

// BinaryMessage returns an application/octet-stream message with a copy of
// b: b may be reused as soon as BinaryMessage returns. Sending an empty one
// is rejected on the client.
func BinaryMessage(b []byte) Message {
	return Message{payload.Binary(b)}
}

// ContentType returns the message's content type ("" for the zero Message).
func (m Message) ContentType() ContentType { return ContentType(m.p.DataType().MediaType()) }

// Bytes returns a copy of the message body.
func (m Message) Bytes() []byte { return m.p.Bytes() }

// validate reports why m cannot be sent.
func (m Message) validate() error { return m.p.Check("message") }
