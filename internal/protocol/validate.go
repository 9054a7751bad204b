package protocol

import (
	"unicode/utf8"

	"github.com/gowebpubsub/webpubsub/internal/names"
)

// Validate runs the semantic checks of class V on
// a structurally valid frame: group names for joinGroup, leaveGroup
// and sendToGroup, the event name of event and invoke, ttlSeconds in 0–300, dataType
// protobuf (event, invoke, sendToGroup: accepted only on a frame of
// [ParseProtobufClientFrame]), and the metadata rules. It returns nil or an [*Error]
// of class [ClassValidation]. Other frame types always pass.
func (f *ClientFrame) Validate() error {
	switch f.Type {
	case TypeJoinGroup, TypeLeaveGroup:
		if names.Group(f.Group) != "" {
			return validation("group", "is not a valid group name")
		}
	case TypeSendToGroup:
		if names.Group(f.Group) != "" {
			return validation("group", "is not a valid group name")
		}
		if f.StreamID != "" {
			if f.HasData || f.DataType != "" {
				return validation("data", "a stream start carries no data or dataType")
			}
			if f.HasIdleTimeout && f.IdleTimeoutMs == 0 {
				return validation("stream.idleTimeoutMs", "must be greater than 0")
			}
		}
		if f.DataType == DataTypeProtobuf && !f.viaProtobuf {
			return validation("dataType", "protobuf is not supported")
		}
		if f.HasTTL && (f.TTLSeconds < 0 || f.TTLSeconds > MaxTTLSeconds) {
			return validation("ttlSeconds", "is out of range; the allowed range is [0,300]")
		}
		return f.validateMetadata()
	case TypeEvent, TypeInvoke:
		if names.Event(f.Event) != "" {
			return validation("event", "is not a valid event name")
		}
		if f.DataType == DataTypeProtobuf && !f.viaProtobuf {
			return validation("dataType", "protobuf is not supported")
		}
		return f.validateMetadata()
	case TypeStreamData:
		if !f.HasStreamSequenceID && !f.HasData && f.DataType == "" {
			return nil // keepalive
		}
		if !f.HasStreamSequenceID || !f.HasData || f.DataType == "" {
			return validation("streamSequenceId", "a fragment needs streamSequenceId, dataType and data together")
		}
		if f.StreamSequenceID == 0 {
			return validation("streamSequenceId", "must be a positive integer")
		}
		if f.DataType == DataTypeProtobuf {
			return validation("dataType", "protobuf is not supported")
		}
	case TypeStreamEnd:
		if f.StreamError != nil && f.StreamError.Name != "" {
			return validation("error.name", "a client may not name a stream error")
		}
	}
	return nil
}

// Metadata limits.
const (
	maxMetadataKeyBytes   = 256
	maxMetadataValueBytes = 1024
	maxMetadataBytes      = 8 * 1024
)

func (f *ClientFrame) validateMetadata() error {
	if f.badMetadata {
		return validation("metadata", "values must be strings")
	}
	total := 0
	for k, v := range f.Metadata {
		if k == "" || len(k) > maxMetadataKeyBytes || !isToken(k) {
			return validation("metadata", "keys must be 1 to 256 token characters")
		}
		if len(v) > maxMetadataValueBytes || !isASCII(v) {
			return validation("metadata", "values must be ASCII and at most 1024 bytes")
		}
		total += len(k) + len(v)
	}
	if total > maxMetadataBytes {
		return validation("metadata", "is larger than 8 KB")
	}
	return nil
}

// isToken reports whether s matches ^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$.
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '!' || c == '#' || c == '$' || c == '%' || c == '&' || c == '\'' || c == '*' ||
			c == '+' || c == '-' || c == '.' || c == '^' || c == '_' || c == '`' || c == '|' || c == '~':
		default:
			return false
		}
	}
	return true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
