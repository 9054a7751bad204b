package odata

import (
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// utf16Len returns the length of s in UTF-16 code units, counting each
// invalid UTF-8 byte as one U+FFFD. It equals len(utf16.Encode([]rune(s))).
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		if r >= 0x10000 {
			n += 2
		} else {
			n++
		}
	}
	return n
}

// validUTF8 returns s unchanged when it is valid UTF-8, and otherwise a copy
// in which each invalid byte is replaced by U+FFFD, which is how []rune(s)
// sees it.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteRune(utf8.RuneError)
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// indexOf16 returns the index, in UTF-16 code units, of the first occurrence
// of sub in s, or -1. Both must be valid UTF-8; then a byte match is always
// at a code point boundary and is the first code unit match too.
func indexOf16(s, sub string) int {
	i := strings.Index(s, sub)
	if i < 0 {
		return -1
	}
	return utf16Len(s[:i])
}

// substring16 returns the code units start..start+count-1 of s (to the end
// when count is negative), or ok=false when the range is outside s. A lone
// surrogate left by a boundary inside a surrogate pair becomes U+FFFD, as
// does each invalid UTF-8 byte of s.
func substring16(s string, start, count int64) (sub string, ok bool) {
	if start < 0 {
		return "", false
	}
	valid := utf8.ValidString(s)
	// Find the byte offsets of the two boundaries, noting whether either
	// falls inside a surrogate pair.
	var u int64
	b0, b1 := -1, -1
	split := false
	end := int64(-1)
	if count >= 0 {
		end = start + count
	}
	for b, r := range s {
		if u == start {
			b0 = b
		}
		if u == end {
			b1 = b
		}
		w := int64(1)
		if r >= 0x10000 {
			w = 2
			if start == u+1 || end == u+1 {
				split = true
			}
		}
		u += w
	}
	L := u
	if start > L || end > L {
		return "", false
	}
	if start == L {
		b0 = len(s)
	}
	if end < 0 || end == L {
		b1 = len(s)
	}
	if valid && !split {
		return s[b0:b1], true
	}
	units := utf16.Encode([]rune(s))
	if end < 0 {
		end = L
	}
	return string(utf16.Decode(units[start:end])), true
}
