// Package payload is the one set of rules for message payloads that the
// service client, the WebSocket client and the event handler build: how a
// Go value becomes JSON, which payloads are refused, and that a caller's
// slice is copied.
//
// The rules:
//   - JSON is the encoding of encoding/json without HTML escaping ('<',
//     '>' and '&' are sent as they are, as the service passes payloads
//     through); a json.RawMessage is validated and compacted.
//   - A value that encodes as JSON null is refused: no recipient can be
//     sent a null message (the service refuses one from a client, and a
//     client reports one as a protocol error).
//   - An empty payload is refused by the builders of sends; an event
//     handler's empty reply means no reply.
//   - Bytes given by the caller are copied, so that reusing the slice
//     afterwards does not change what is sent.
package payload

import (
	"bytes"
	"encoding/json"

	"github.com/gowebpubsub/webpubsub/internal/exported"
)

// The data types of the JSON subprotocols, and the REST content types
// that carry them.
const (
	DataTypeText   = "text"
	DataTypeJSON   = "json"
	DataTypeBinary = "binary"

	ContentTypeText   = "text/plain"
	ContentTypeJSON   = "application/json"
	ContentTypeBinary = "application/octet-stream"
)

// Reasons of the refused payloads, for *exported.ValidationError.
const (
	ReasonNull  = "is JSON null, which no recipient can be sent"
	ReasonEmpty = "is empty; the service does not deliver empty messages"
)

// JSON returns the JSON encoding of v under the package's rules. Its
// error is a *exported.ValidationError named name.
func JSON(name string, v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, &exported.ValidationError{Name: name, Reason: "cannot be encoded as JSON: " + err.Error()}
	}
	b := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if string(b) == "null" {
		return nil, &exported.ValidationError{Name: name, Reason: ReasonNull}
	}
	return b, nil
}

// Copy returns a copy of b that the caller cannot change afterwards; nil
// for an empty b.
func Copy(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return bytes.Clone(b)
}

// CheckNotEmpty returns a *exported.ValidationError named name when b is
// empty.
func CheckNotEmpty(name string, b []byte) error {
	if len(b) == 0 {
		return &exported.ValidationError{Name: name, Reason: ReasonEmpty}
	}
	return nil
}

// ContentTypeOf returns the REST content type of a data type, "" for an
// unknown one.
func ContentTypeOf(dataType string) string {
	switch dataType {
	case DataTypeText:
		return ContentTypeText
	case DataTypeJSON:
		return ContentTypeJSON
	case DataTypeBinary:
		return ContentTypeBinary
	}
	return ""
}
