package auth

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

const testKey = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGH"

// rawHS256 builds a token the long way: header and payload bytes as
// given, HMAC-SHA256 with a fresh state.
func rawHS256(key, header, payload string) string {
	enc := base64.RawURLEncoding
	in := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload))
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(in))
	return in + "." + enc.EncodeToString(m.Sum(nil))
}

// mapJSON is what encoding/json writes for the claims as a map, without
// HTML escaping: the documented form of the payload.
func mapJSON(t *testing.T, c *Claims) string {
	t.Helper()
	m := map[string]any{"exp": c.ExpiresAt}
	if c.Audience != "" {
		m["aud"] = c.Audience
	}
	if c.IssuedAt != 0 {
		m["iat"] = c.IssuedAt
	}
	if c.Issuer != "" {
		m["iss"] = c.Issuer
	}
	if c.NotBefore != 0 {
		m["nbf"] = c.NotBefore
	}
	if len(c.Roles) > 0 {
		m["role"] = c.Roles
	}
	if c.Subject != "" {
		m["sub"] = c.Subject
	}
	if len(c.Groups) > 0 {
		m["webpubsub.group"] = c.Groups
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

var signCases = []struct {
	name   string
	claims Claims
}{
	{"rest", Claims{Audience: "http://localhost:8080/api/hubs/hub/:send?api-version=2024-12-01&filter=a%20b", IssuedAt: 1700000000, ExpiresAt: 1700000300}},
	{"recorder stand-in", Claims{ExpiresAt: 4102444800, IssuedAt: 1700000000, NotBefore: 1700000000}},
	{"client, every claim", Claims{Audience: "https://h/client/hubs/chat", IssuedAt: 1, ExpiresAt: 3601, Subject: "user 1", Roles: []string{"webpubsub.sendToGroup", "webpubsub.joinLeaveGroup.g"}, Groups: []string{"g 1", "g2"}}},
	{"service token", Claims{Audience: "https://h/client/hubs/chat", IssuedAt: 10, NotBefore: 10, ExpiresAt: 70, Issuer: "https://webpubsub.azure.com"}},
	{"escapes", Claims{Audience: "a\"b\\c<d>&e", ExpiresAt: 5, Subject: "\n\r\t\x01\u2028\u2029é😀\xff", Groups: []string{"\u3000"}}},
}

func TestSignIsRawHS256OfTheDocumentedPayload(t *testing.T) {
	s := NewSigner(testKey)
	for _, tt := range signCases {
		t.Run(tt.name, func(t *testing.T) {
			want := rawHS256(testKey, `{"alg":"HS256","typ":"JWT"}`, mapJSON(t, &tt.claims))
			for i := 0; i < 3; i++ { // the pooled HMAC state is reset between uses
				if got := s.Sign(&tt.claims); got != want {
					t.Fatalf("try %d:\n got %s\nwant %s", i, got, want)
				}
			}
			u, tok := s.SignURL("wss://h/client/hubs/chat", &tt.claims)
			if tok != want || u != "wss://h/client/hubs/chat?access_token="+want {
				t.Errorf("SignURL gave %s / %s", u, tok)
			}
		})
	}
}

func TestSignRESTWritesTheWireURL(t *testing.T) {
	s := NewSigner(testKey)
	for _, raw := range []string{
		"http://localhost:8080/api/hubs/hub/:send?api-version=2024-12-01",
		"https://h/p/api/hubs/hub/users/u%201%2Fx'%C3%BC(2)!*~/:send?api-version=2024-12-01&filter=%27g%27%20in%20groups",
		"http://h/api/health",
	} {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		now := time.Unix(1700000000, 0)
		got := s.SignREST(u, now)
		want, _ := SignREST(testKey, Audience(u), now)
		if got != "Bearer "+want {
			t.Errorf("%s:\n got %s\nwant Bearer %s", raw, got, want)
		}
	}
}

func TestSignWithHeader(t *testing.T) {
	s := NewSigner(testKey)
	c := &Claims{Audience: "a", ExpiresAt: 2}
	tok, err := s.SignWithHeader(c, map[string]any{"kid": "key1"})
	if err != nil {
		t.Fatal(err)
	}
	if want := rawHS256(testKey, `{"alg":"HS256","kid":"key1","typ":"JWT"}`, `{"aud":"a","exp":2}`); tok != want {
		t.Errorf("got %s, want %s", tok, want)
	}
	if tok, _ := s.SignWithHeader(c, nil); tok != s.Sign(c) {
		t.Error("an empty header is not Sign")
	}
	for _, h := range []map[string]any{{"alg": "none"}, {"typ": "x"}, {"x": make(chan int)}} {
		if _, err := s.SignWithHeader(c, h); !errors.Is(err, ErrHeader) {
			t.Errorf("%v: %v", h, err)
		}
	}
}

func TestSignConcurrently(t *testing.T) {
	s := NewSigner(testKey)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			c := signCases[i%len(signCases)].claims
			want := s.Sign(&c)
			for range 200 {
				if got := s.Sign(&c); got != want {
					t.Errorf("concurrent Sign differs")
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestClientPath(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"", "/client/hubs/", true},
		{"default", "/client/hubs/", true},
		{"mqtt", "/clients/mqtt/hubs/", true},
		{"socketio", "/clients/socketio/hubs/", true},
		{"MQTT", "", false},
		{"signalr", "", false},
	}
	for _, tt := range tests {
		if got, ok := ClientPath(tt.in); got != tt.want || ok != tt.ok {
			t.Errorf("ClientPath(%q) = %q, %v", tt.in, got, ok)
		}
	}
}

// FuzzClaimsJSON checks the hand-written claims writer against
// encoding/json for any audience, subject and group.
func FuzzClaimsJSON(f *testing.F) {
	for _, tt := range signCases {
		f.Add(tt.claims.Audience, tt.claims.Subject)
	}
	f.Fuzz(func(t *testing.T, aud, sub string) {
		c := &Claims{Audience: aud, Subject: sub, ExpiresAt: 1, Groups: []string{sub}}
		if got, want := string(appendClaims(nil, c, nil)), mapJSON(t, c); got != want {
			t.Errorf("got %s\nwant %s", got, want)
		}
	})
}
