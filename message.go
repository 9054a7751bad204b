package webpubsub

import "github.com/gowebpubsub/webpubsub/internal/payload"

// ContentType is the content type of a message body sent through the REST
// API. The service accepts exactly these three.
type ContentType string

const (
	// ContentTypeJSON is application/json: clients of the JSON subprotocols
	// receive it with dataType "json".
	ContentTypeJSON ContentType = payload.ContentTypeJSON
	// ContentTypeText is text/plain (UTF-8): dataType "text".
	ContentTypeText ContentType = payload.ContentTypeText
	// ContentTypeBinary is application/octet-stream: dataType "binary".
	ContentTypeBinary ContentType = payload.ContentTypeBinary
)

// PossibleContentTypeValues returns every ContentType.
func PossibleContentTypeValues() []ContentType {
	return []ContentType{ContentTypeJSON, ContentTypeText, ContentTypeBinary}
}

// Message is the body of a send: bytes and their content type. Build one
// with TextMessage, JSONMessage or BinaryMessage. The zero Message is
// invalid: sending it is rejected with a *ValidationError. A Message is an
// immutable value, safe to reuse and share across goroutines.
type Message struct {
	contentType ContentType
	body        []byte
	err         error
}

// TextMessage returns a text/plain message with the UTF-8 bytes of s.
// Sending an empty text is rejected on the client (the service does not
// deliver empty messages).
func TextMessage(s string) Message {
	return Message{contentType: ContentTypeText, body: []byte(s)}
}

// JSONMessage returns an application/json message with the JSON encoding of
// v (as json.Marshal encodes it, but without escaping <, > and &; a
// json.RawMessage is sent compacted). A value that cannot be encoded, or
// that encodes as null (no recipient can be sent a null message), is
// reported as a *ValidationError when the message is sent. Note that a Go
// string becomes a JSON string ("hi" is sent as "\"hi\""): use
// TextMessage for text.
func JSONMessage(v any) Message {
	b, err := payload.JSON("message", v)
	return Message{contentType: ContentTypeJSON, body: b, err: err}
}

// BinaryMessage returns an application/octet-stream message with a copy of b.
// Sending an empty one is rejected on the client.
func BinaryMessage(b []byte) Message {
	return Message{contentType: ContentTypeBinary, body: payload.Copy(b)}
}

// ContentType returns the message's content type ("" for the zero Message).
func (m Message) ContentType() ContentType { return m.contentType }

// Bytes returns a copy of the message body.
func (m Message) Bytes() []byte { return append([]byte(nil), m.body...) }

// validate reports why m cannot be sent.
func (m Message) validate() error {
	if m.err != nil {
		return m.err
	}
	if m.contentType == "" {
		return &ValidationError{Name: "message", Reason: "is the zero Message; build one with TextMessage, JSONMessage or BinaryMessage"}
	}
	return payload.CheckNotEmpty("message", m.body)
}
