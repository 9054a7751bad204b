package protocol

import (
	"bytes"
	"encoding/json"
	"math"
)

// The helpers below walk JSON text that encoding/json's Valid has already
// accepted, so they only find boundaries and never re-check the grammar.

// kind is the JSON type of a raw value, read from its first byte.
type kind uint8

const (
	kindNull kind = iota
	kindBool
	kindNumber
	kindString
	kindArray
	kindObject
)

func (k kind) String() string {
	switch k {
	case kindNull:
		return "null"
	case kindBool:
		return "boolean"
	case kindNumber:
		return "number"
	case kindString:
		return "string"
	case kindArray:
		return "array"
	default:
		return "object"
	}
}

// kindOf reports the JSON type of the valid raw value v.
func kindOf(v []byte) kind {
	switch v[0] {
	case 'n':
		return kindNull
	case 't', 'f':
		return kindBool
	case '"':
		return kindString
	case '[':
		return kindArray
	case '{':
		return kindObject
	default:
		return kindNumber
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// stringEnd returns the index just past the string literal starting at b[i].
func stringEnd(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(b)
}

// valueEnd returns the index just past the value starting at b[i].
func valueEnd(b []byte, i int) int {
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				i = stringEnd(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return len(b)
	default: // number, true, false, null
		for ; i < len(b); i++ {
			switch b[i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return i
			}
		}
		return i
	}
}

// forEachMember calls fn for each member of the valid JSON object obj, in
// order. key is the raw key literal including its quotes; value is the raw
// value. It stops at the first error fn returns.
func forEachMember(obj []byte, fn func(key, value []byte) error) error {
	i := skipSpace(obj, 0) + 1 // past '{'
	for {
		i = skipSpace(obj, i)
		if i >= len(obj) || obj[i] == '}' {
			return nil
		}
		if obj[i] == ',' {
			i = skipSpace(obj, i+1)
		}
		ke := stringEnd(obj, i)
		key := obj[i:ke]
		i = skipSpace(obj, ke) + 1 // past ':'
		i = skipSpace(obj, i)
		ve := valueEnd(obj, i)
		if err := fn(key, obj[i:ve]); err != nil {
			return err
		}
		i = ve
	}
}

// pickMembers sets *values[i] to the raw value of the member of the valid
// JSON object obj named names[i] (compared as keyEquals does), or to nil
// when that member is null; a member absent from obj leaves *values[i] as
// it was, and of repeated members the last one counts.
func pickMembers(obj []byte, names []string, values ...*[]byte) {
	_ = forEachMember(obj, func(key, value []byte) error {
		if kindOf(value) == kindNull {
			value = nil
		}
		for i, name := range names {
			if keyEquals(key, name) {
				*values[i] = value
				break
			}
		}
		return nil
	})
}

// keyEquals reports whether the raw key literal equals name. Keys written
// with escapes are decoded first, so "typ\u0065" equals "type".
func keyEquals(raw []byte, name string) bool {
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return string(inner) == name
	}
	s, ok := decodeString(raw)
	return ok && s == name
}

// decodeString decodes the valid string literal raw.
func decodeString(raw []byte) (string, bool) {
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return string(inner), true
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

// stringBytes returns the UTF-8 bytes of the valid string literal raw. When
// the literal has no escapes the result aliases raw.
func stringBytes(raw []byte) ([]byte, bool) {
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return inner, true
	}
	s, ok := decodeString(raw)
	return []byte(s), ok
}

// isInteger reports whether the valid number literal v has no fraction and
// no exponent.
func isInteger(v []byte) bool {
	return !bytes.ContainsAny(v, ".eE")
}

// parseUint64 parses a JSON integer literal in 0 … 2^64−1.
func parseUint64(v []byte) (uint64, bool) {
	if len(v) == 0 || v[0] == '-' || !isInteger(v) {
		return 0, false
	}
	var n uint64
	for _, c := range v {
		d := uint64(c - '0')
		if n > (math.MaxUint64-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// parseInt64 parses a JSON integer literal, saturating at the int64 limits
// so that an out-of-range value stays out of any smaller range.
func parseInt64(v []byte) (int64, bool) {
	if len(v) == 0 || !isInteger(v) {
		return 0, false
	}
	neg := v[0] == '-'
	if neg {
		v = v[1:]
	}
	var n int64
	for _, c := range v {
		d := int64(c - '0')
		if n > (math.MaxInt64-d)/10 {
			if neg {
				return math.MinInt64, true
			}
			return math.MaxInt64, true
		}
		n = n*10 + d
	}
	if neg {
		n = -n
	}
	return n, true
}
