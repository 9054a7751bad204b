package protocol

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxGroupNameLength is the longest group name, in Unicode code points.
const MaxGroupNameLength = 1024

// ValidGroupName reports whether g is a valid group name: 1 to 1024 code
// points of valid UTF-8, no line feed (U+000A), and not made only of
// whitespace. This is the REST specification's pattern `^(?!\s+$).+$` with
// maxLength 1024, as the service (.NET) reads it.
func ValidGroupName(g string) bool {
	if g == "" || !utf8.ValidString(g) || strings.IndexByte(g, '\n') >= 0 {
		return false
	}
	n := 0
	blank := true
	for _, r := range g {
		n++
		if n > MaxGroupNameLength {
			return false
		}
		if blank && !unicode.IsSpace(r) {
			blank = false
		}
	}
	return !blank
}

// ValidEventName reports whether e is a valid user event name:
// `^[A-Za-z][A-Za-z0-9_.\-]{0,127}$`.
func ValidEventName(e string) bool {
	if e == "" || len(e) > 128 || !isASCIILetter(e[0]) {
		return false
	}
	for i := 1; i < len(e); i++ {
		c := e[i]
		if !isASCIILetter(c) && !('0' <= c && c <= '9') && c != '_' && c != '.' && c != '-' {
			return false
		}
	}
	return true
}

func isASCIILetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
