package redact

import (
	"fmt"
	"strings"
	"testing"
)

type secretive struct {
	Name string
	Key  string
}

func (s secretive) Format(f fmt.State, verb rune) {
	s.Key = String(s.Key)
	Struct(f, verb, s)
}

type opaque struct{ token string }

func (o opaque) Format(f fmt.State, verb rune) {
	Text(f, verb, "redact.opaque{token: REDACTED}", "opaque(REDACTED)")
}

func TestNoVerbPrintsTheSecret(t *testing.T) {
	const secret = "s3cr3t-value"
	values := []any{secretive{Name: "n", Key: secret}, opaque{token: secret}, &secretive{Key: secret}}
	for _, v := range values {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10.3v", "%T"} {
			got := fmt.Sprintf(verb, v)
			if strings.Contains(got, secret) || strings.Contains(got, fmt.Sprintf("%x", secret)) || strings.Contains(got, fmt.Sprintf("%X", secret)) {
				t.Errorf("Sprintf(%q, %T) = %q shows the secret", verb, v, got)
			}
		}
	}
	if got := fmt.Sprintf("%#v", secretive{Name: "n", Key: secret}); got != `redact.secretive{Name:"n", Key:"REDACTED"}` {
		t.Errorf("%%#v = %s", got)
	}
	if got := fmt.Sprintf("%+v", secretive{Name: "n"}); got != `{Name:n Key:}` {
		t.Errorf("an empty secret prints as %s; want it empty", got)
	}
	if got := fmt.Sprintf("%q|%#v|%v", opaque{}, opaque{}, opaque{}); got != `"opaque(REDACTED)"|redact.opaque{token: REDACTED}|opaque(REDACTED)` {
		t.Errorf("opaque = %s", got)
	}
	if Strings(nil) != nil || strings.Join(Strings([]string{"a", ""}), ",") != "REDACTED," {
		t.Error("Strings")
	}
}

func TestPreview(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want string
	}{
		{"", 10, ""},
		{"short", 10, "short"},
		{"0123456789abc", 10, "0123456789…(3 more bytes)"},
		{"ab\xffcd", 10, "ab\uFFFDcd"},
		{"aé", 2, "a…(2 more bytes)"},
		{strings.Repeat("x", 500000), MaxLogField, strings.Repeat("x", MaxLogField) + "…(499744 more bytes)"},
	}
	for _, tt := range tests {
		if got := Preview(tt.in, tt.max); got != tt.want {
			t.Errorf("Preview(%.20q, %d) = %.40q; want %.40q", tt.in, tt.max, got, tt.want)
		}
	}
}

func TestQueryAndHeader(t *testing.T) {
	tests := []struct {
		name   string
		secret bool
	}{
		{"access_token", true}, {"awps_reconnection_token", true}, {"Authorization", true},
		{"Proxy-Authorization", true}, {"Cookie", true}, {"X-Api-Key", true}, {"code", true},
		{"sig", true}, {"Client-Secret", true}, {"password", true},
		{"User-Agent", false}, {"Sec-Websocket-Protocol", false}, {"hub", false}, {"encode", false},
	}
	for _, tt := range tests {
		if got := SecretName(tt.name); got != tt.secret {
			t.Errorf("SecretName(%q) = %v, want %v", tt.name, got, tt.secret)
		}
		q := Query(map[string][]string{tt.name: {"v1", ""}})
		h := Header(map[string][]string{tt.name: {"v1", ""}})
		want := "v1"
		if tt.secret {
			want = Mask
		}
		if q[tt.name][0] != want || h[tt.name][0] != want || q[tt.name][1] != "" {
			t.Errorf("Query/Header of %q = %v/%v, want %s", tt.name, q, h, want)
		}
	}
	if Query(nil) != nil || Header(nil) != nil || Bytes(nil) != nil || len(Bytes([]byte{})) != 0 || Bytes([]byte{}) == nil || string(Bytes([]byte("x"))) != Mask {
		t.Error("nil, empty or non-empty")
	}
}

// Inner has methods of its own, which an embedding struct's Struct output
// must still use for the embedded field.
type Inner struct{ A string }

func (Inner) String() string { return "inner!" }

type embedding struct {
	Inner
	Key string
}

func (e embedding) Format(f fmt.State, verb rune) {
	e.Key = String(e.Key)
	Struct(f, verb, e)
}

type hidden struct {
	Key    string
	secret string
}

func (h hidden) Format(f fmt.State, verb rune) { Struct(f, verb, h) }

type notStruct string

func (n notStruct) Format(f fmt.State, verb rune) { Struct(f, verb, n) }

// TestStruct: Struct prints as fmt prints the struct, without calling the
// struct's own Format (no recursion), with the embedded field's methods
// used, and refuses what it cannot copy without revealing it.
func TestStruct(t *testing.T) {
	for _, tc := range []struct {
		format string
		v      any
		want   string
	}{
		{"%v", secretive{Name: "n", Key: "k"}, "{n REDACTED}"},
		{"%+v", secretive{Name: "n", Key: "k"}, "{Name:n Key:REDACTED}"},
		{"%#v", secretive{Name: "n", Key: "k"}, `redact.secretive{Name:"n", Key:"REDACTED"}`},
		{"%s", secretive{Name: "n", Key: "k"}, "{Name:n Key:REDACTED}"},
		{"%x", secretive{Name: "n", Key: "k"}, "{Name:n Key:REDACTED}"},
		{"%v", []secretive{{Key: "k"}}, "[{ REDACTED}]"},
		{"%v", embedding{Inner{"a"}, "k"}, "{inner! REDACTED}"},
		{"%+v", embedding{Inner{"a"}, "k"}, "{Inner:inner! Key:REDACTED}"},
		{"%#v", embedding{Inner{"a"}, "k"}, `redact.embedding{Inner:redact.Inner{A:"a"}, Key:"REDACTED"}`},
		{"%v", embedding{Inner{"a"}, ""}, "{inner! }"},
		{"%v", hidden{Key: "k", secret: "s"}, "redact.hidden{REDACTED}"},
		{"%#v", notStruct("k"), "redact.notStruct{REDACTED}"},
	} {
		if got := fmt.Sprintf(tc.format, tc.v); got != tc.want {
			t.Errorf("Sprintf(%q, %T) = %s; want %s", tc.format, tc.v, got, tc.want)
		}
	}
}
