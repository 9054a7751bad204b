// Package payload holds the rules for the body of a message, once, for the
// three packages that build one: the service client (the body of a REST
// send), the WebSocket client (the data of sendToGroup and event frames)
// and the event handler (the reply to a user event).
//
// The rules:
//
//   - A payload is text, JSON or binary ([DataType]). Each maps to one HTTP
//     media type: text/plain, application/json, application/octet-stream.
//   - Text is UTF-8. Each byte of the input that does not start a valid
//     UTF-8 sequence becomes U+FFFD, as encoding/json and a Go conversion to
//     []rune do, so that every path (REST body, JSON frame, HTTP reply)
//     delivers the same characters.
//   - JSON is the encoding/json encoding of a Go value, without HTML
//     escaping: <, > and & are kept as they are, because the service passes
//     payloads through to clients that are not browsers' HTML parsers. A
//     json.RawMessage is validated and compacted; invalid UTF-8 inside its
//     strings becomes U+FFFD, as in text. A value that encodes as
//     null is refused: the JSON subprotocols have no null data, and the
//     service closes a connection that sends it.
//   - Binary is a copy of the caller's bytes, so a caller may reuse its
//     buffer as soon as the builder returns. (The JSON subprotocols carry it
//     as standard base64 with padding; the protocol encoder does that.)
//   - An empty payload (no bytes) is not a message: the service does not
//     deliver empty messages, and an empty reply to a user event means no
//     message. Senders refuse it; the event handler answers it with 204.
//
// A [Message] is immutable once built and safe to share between goroutines.
package payload

import (
	"bytes"
	"encoding/json"
	"mime"
	"strings"
	"unicode/utf8"

	"github.com/gowebpubsub/webpubsub/internal/exported"
)

// DataType is the kind of a payload. Its values are the dataType strings of
// the JSON subprotocols.
type DataType string

// The data types of payloads.
const (
	// DataTypeText is UTF-8 text: media type text/plain.
	DataTypeText DataType = "text"
	// DataTypeJSON is a JSON value other than null: media type
	// application/json.
	DataTypeJSON DataType = "json"
	// DataTypeBinary is arbitrary bytes: media type
	// application/octet-stream.
	DataTypeBinary DataType = "binary"
	// DataTypeProtobuf is an encoded google.protobuf.Any, which only the
	// protobuf client subprotocols can send. It is not one of the REST
	// media types, so MediaType and ParseContentType do not know it, and
	// PossibleDataTypeValues leaves it out.
	DataTypeProtobuf DataType = "protobuf"
)

// The HTTP media types of the data types: the three the service accepts in
// a REST send and in a reply to a user event.
const (
	MediaTypeText   = "text/plain"
	MediaTypeJSON   = "application/json"
	MediaTypeBinary = "application/octet-stream"
	// MediaTypeProtobuf is the media type of DataTypeProtobuf in the
	// upstream calls and replies of the protobuf subprotocols' events.
	MediaTypeProtobuf = "application/x-protobuf"
)

// PossibleDataTypeValues returns every DataType: text, JSON, binary.
func PossibleDataTypeValues() []DataType {
	return []DataType{DataTypeText, DataTypeJSON, DataTypeBinary}
}

// MediaType returns the HTTP media type of d (text/plain, application/json
// or application/octet-stream), or "" when d is not a known data type.
func (d DataType) MediaType() string {
	switch d {
	case DataTypeText:
		return MediaTypeText
	case DataTypeJSON:
		return MediaTypeJSON
	case DataTypeBinary:
		return MediaTypeBinary
	}
	return ""
}

// ParseContentType returns the data type of an HTTP Content-Type value: its
// media type, compared case-insensitively, with parameters such as charset
// ignored. It reports false for an empty or malformed value and for any
// other media type.
func ParseContentType(v string) (DataType, bool) {
	if v == "" {
		return "", false
	}
	mt, _, err := mime.ParseMediaType(v)
	if err != nil {
		return "", false
	}
	for _, d := range PossibleDataTypeValues() {
		if strings.EqualFold(mt, d.MediaType()) {
			return d, true
		}
	}
	return "", false
}

// Reasons a Message cannot be sent, for *exported.ValidationError. Each
// completes a sentence that starts with the parameter's name.
const (
	ReasonZero   = "is the zero Message; build one with TextMessage, JSONMessage or BinaryMessage"
	ReasonEmpty  = "is empty; the service does not deliver empty messages"
	ReasonNull   = "is JSON null, which no recipient can be sent"
	ReasonEncode = "cannot be encoded as JSON: "
)

// Message is a payload built by Text, JSON or Binary. The zero Message has
// no data type and cannot be sent.
type Message struct {
	dataType DataType
	data     []byte
	reason   string // why JSON refused the value; "" otherwise
}

// Text returns a text payload with the bytes of s, each byte that does not
// start a valid UTF-8 sequence replaced by U+FFFD.
func Text(s string) Message {
	return Message{dataType: DataTypeText, data: ValidUTF8(s)}
}

// Protobuf returns a protobuf payload holding the encoded Any b (not
// copied: the caller hands it over), or, when reason is not "", one that
// Check refuses with reason.
func Protobuf(b []byte, reason string) Message {
	return Message{dataType: DataTypeProtobuf, data: b, reason: reason}
}

// Binary returns a binary payload holding a copy of b.
func Binary(b []byte) Message {
	return Message{dataType: DataTypeBinary, data: bytes.Clone(b)}
}

// JSON returns a JSON payload holding the encoding of v: encoding/json's,
// without HTML escaping and without a trailing newline. Bytes that are not
// UTF-8 (which encoding/json copies from a json.RawMessage or a
// json.Marshaler) become U+FFFD, as in Text. An encoding error,
// or a value that encodes as null, is kept in the Message and reported by
// Check, with the encoding/json error's text in the reason.
func JSON(v any) Message {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return Message{dataType: DataTypeJSON, reason: ReasonEncode + err.Error()}
	}
	b := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if !utf8.Valid(b) {
		// Only a json.RawMessage or a json.Marshaler can get here (and
		// only inside strings): encoding/json copies their bytes.
		b = ValidUTF8(string(b))
	}
	if string(b) == "null" {
		return Message{dataType: DataTypeJSON, reason: ReasonNull}
	}
	return Message{dataType: DataTypeJSON, data: b}
}

// DataType returns the payload's data type ("" for the zero Message).
func (m Message) DataType() DataType { return m.dataType }

// Data returns the payload bytes without copying them: the text's UTF-8
// bytes, the JSON text or the binary bytes. The caller must not modify
// them. Use Bytes to hand them to code outside the module.
func (m Message) Data() []byte { return m.data }

// Bytes returns a copy of the payload bytes.
func (m Message) Bytes() []byte { return bytes.Clone(m.data) }

// Check returns nil when m can be sent, else a *exported.ValidationError
// named name whose Reason says why: the zero Message (ReasonZero), a value
// JSON could not encode (ReasonEncode and the encoding/json error) or that
// encodes as null (ReasonNull), or an empty payload (ReasonEmpty), in that
// order.
func (m Message) Check(name string) error {
	var reason string
	switch {
	case m.dataType == "":
		reason = ReasonZero
	case m.reason != "":
		reason = m.reason
	case len(m.data) == 0:
		reason = ReasonEmpty
	default:
		return nil
	}
	return &exported.ValidationError{Name: name, Reason: reason}
}

// ValidUTF8 returns the bytes of s with each byte that does not start a
// valid UTF-8 sequence replaced by U+FFFD: the same result as
// []byte(string([]rune(s))).
func ValidUTF8(s string) []byte {
	if utf8.ValidString(s) {
		return []byte(s)
	}
	b := make([]byte, 0, len(s)+2*utf8.UTFMax)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = utf8.AppendRune(b, utf8.RuneError)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return b
}
