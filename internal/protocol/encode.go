package protocol

import (
	"encoding/base64"
	"strconv"
	"unicode/utf8"
)

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string literal. Invalid UTF-8 is written
// as U+FFFD; only the characters JSON requires are escaped.
func appendString[T ~string | ~[]byte](dst []byte, s T) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		size := runeLen(s, i)
		if size == 0 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// runeLen returns the length of the valid multi-byte UTF-8 sequence at
// s[i], or 0 when the bytes there are not valid UTF-8.
func runeLen[T ~string | ~[]byte](s T, i int) int {
	cont := func(j int, lo, hi byte) bool { return j < len(s) && lo <= s[j] && s[j] <= hi }
	c := s[i]
	switch {
	case 0xC2 <= c && c <= 0xDF:
		if cont(i+1, 0x80, 0xBF) {
			return 2
		}
	case c == 0xE0:
		if cont(i+1, 0xA0, 0xBF) && cont(i+2, 0x80, 0xBF) {
			return 3
		}
	case 0xE1 <= c && c <= 0xEC, c == 0xEE, c == 0xEF:
		if cont(i+1, 0x80, 0xBF) && cont(i+2, 0x80, 0xBF) {
			return 3
		}
	case c == 0xED:
		if cont(i+1, 0x80, 0x9F) && cont(i+2, 0x80, 0xBF) {
			return 3
		}
	case c == 0xF0:
		if cont(i+1, 0x90, 0xBF) && cont(i+2, 0x80, 0xBF) && cont(i+3, 0x80, 0xBF) {
			return 4
		}
	case 0xF1 <= c && c <= 0xF3:
		if cont(i+1, 0x80, 0xBF) && cont(i+2, 0x80, 0xBF) && cont(i+3, 0x80, 0xBF) {
			return 4
		}
	case c == 0xF4:
		if cont(i+1, 0x80, 0x8F) && cont(i+2, 0x80, 0xBF) && cont(i+3, 0x80, 0xBF) {
			return 4
		}
	}
	return 0
}

// appendKey appends `,"name":` (or `"name":` right after an opening brace).
func appendKey(dst []byte, name string) []byte {
	if len(dst) > 0 && dst[len(dst)-1] != '{' {
		dst = append(dst, ',')
	}
	dst = append(dst, '"')
	dst = append(dst, name...)
	return append(dst, '"', ':')
}

func appendStringField(dst []byte, name, value string) []byte {
	return appendString(appendKey(dst, name), value)
}

// appendNullableStringField writes value, or null when value is empty.
func appendNullableStringField(dst []byte, name, value string) []byte {
	dst = appendKey(dst, name)
	if value == "" {
		return append(dst, "null"...)
	}
	return appendString(dst, value)
}

func appendUintField(dst []byte, name string, v uint64) []byte {
	return strconv.AppendUint(appendKey(dst, name), v, 10)
}

func appendIntField(dst []byte, name string, v int64) []byte {
	return strconv.AppendInt(appendKey(dst, name), v, 10)
}

func appendBoolField(dst []byte, name string, v bool) []byte {
	return strconv.AppendBool(appendKey(dst, name), v)
}

// appendData writes `"dataType":…,"data":…` for the decoded payload data.
// JSON payloads are written verbatim and must already be valid JSON (an
// empty one is written as null); binary payloads and protobuf ones (the
// encoded google.protobuf.Any) are written as standard base64.
func appendData(dst []byte, dt DataType, data []byte) []byte {
	dt = dt.orDefault()
	dst = appendStringField(dst, "dataType", string(dt))
	dst = appendKey(dst, "data")
	switch dt {
	case DataTypeText:
		return appendString(dst, data)
	case DataTypeBinary, DataTypeProtobuf:
		dst = append(dst, '"')
		dst = base64.StdEncoding.AppendEncode(dst, data)
		return append(dst, '"')
	default:
		if len(data) == 0 {
			return append(dst, "null"...)
		}
		return append(dst, data...)
	}
}

func appendError(dst []byte, e *ErrorDetail) []byte {
	dst = appendKey(dst, "error")
	dst = append(dst, '{')
	if e.Name != "" {
		dst = appendStringField(dst, "name", e.Name)
	}
	dst = appendStringField(dst, "message", e.Message)
	if e.UserErrorCode != "" {
		dst = appendStringField(dst, "userErrorCode", e.UserErrorCode)
	}
	return append(dst, '}')
}
