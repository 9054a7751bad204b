package odata

import (
	"testing"
	"unicode/utf16"
)

// The reference implementations below follow the spec's wording literally:
// convert with utf16.Encode([]rune(s)) and work on code units.

func refSubstring(s string, start, count int64) (string, bool) {
	u := utf16.Encode([]rune(s))
	L := int64(len(u))
	if start < 0 || start > L {
		return "", false
	}
	end := L
	if count >= 0 {
		if start+count > L {
			return "", false
		}
		end = start + count
	}
	return string(utf16.Decode(u[start:end])), true
}

func refIndexOf(s, sub string) int {
	a, b := utf16.Encode([]rune(s)), utf16.Encode([]rune(sub))
	for i := 0; i+len(b) <= len(a); i++ {
		match := true
		for j := range b {
			if a[i+j] != b[j] {
				match = false
				break
			}
		}
		if match {
			return i
		}
	}
	return -1
}

// checkUTF16 compares the fast implementations with the references for s and
// sub at every start and count around s's length.
func checkUTF16(t *testing.T, s, sub string) {
	t.Helper()
	if got, want := utf16Len(s), len(utf16.Encode([]rune(s))); got != want {
		t.Fatalf("utf16Len(%q) = %d, want %d", s, got, want)
	}
	if got, want := indexOf16(validUTF8(s), validUTF8(sub)), refIndexOf(s, sub); got != want {
		t.Fatalf("indexOf16(%q, %q) = %d, want %d", s, sub, got, want)
	}
	L := int64(utf16Len(s))
	for start := int64(-2); start <= L+2; start++ {
		for count := int64(-2); count <= L+3; count++ {
			got, gotOK := substring16(s, start, count)
			want, wantOK := refSubstring(s, start, count)
			if got != want || gotOK != wantOK {
				t.Fatalf("substring16(%q, %d, %d) = %q, %v; want %q, %v", s, start, count, got, gotOK, want, wantOK)
			}
		}
	}
}

func TestUTF16AgainstReference(t *testing.T) {
	tests := []struct{ s, sub string }{
		{"", ""},
		{"", "a"},
		{"user1", "ser"},
		{"user1", ""},
		{"😀x", "x"},
		{"😀😀", "😀"},
		{"a😀é😀c", "c"},
		{"héllo", "l"},
		{"e\u0301", "\u0301"},
		{"\U0010FFFF\u0800\u07FF\u007F", "\u0800"},
		{"a\xffb", "b"},
		{"a\xffb", "\ufffd"},
		{"\xe2\x82", "\ufffd\ufffd"},
		{"\xed\xa0\x80x", "x"}, // an encoded surrogate is invalid UTF-8
		{"😀\xf0\x9f\x98", "\ufffd"},
	}
	for _, tt := range tests {
		t.Run(tt.s, func(t *testing.T) { checkUTF16(t, tt.s, tt.sub) })
	}
}

func FuzzUTF16(f *testing.F) {
	f.Add("😀x", "x")
	f.Add("a😀é😀c", "😀c")
	f.Add("a\xffb", "\ufffd")
	f.Add("user1", "")
	f.Fuzz(func(t *testing.T, s, sub string) {
		if len(s) > 32 {
			s = s[:32] // the substring sweep is cubic in the length
		}
		checkUTF16(t, s, sub)
	})
}
