package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"hash"
	"net/url"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// Claims are the claims of a Web PubSub token: the service client builds
// its REST request tokens and client access tokens from a Claims and signs
// them with a Signer.
//
// In the JSON payload the claims appear in the order encoding/json gives a
// map of them (aud, exp, iat, iss, nbf, role, sub, webpubsub.group), with
// strings escaped as encoding/json escapes them but without HTML escaping.
// Audience, Issuer and Subject are omitted when "", NotBefore and IssuedAt
// when 0, Roles and Groups when empty; ExpiresAt is always written.
type Claims struct {
	Audience  string   // aud
	ExpiresAt int64    // exp, Unix seconds
	IssuedAt  int64    // iat, Unix seconds
	Issuer    string   // iss
	NotBefore int64    // nbf, Unix seconds
	Roles     []string // role
	Subject   string   // sub
	Groups    []string // webpubsub.group
}

// Claim names of Web PubSub tokens. A token the service accepts may name
// the user and the roles with the short names or with the long .NET claim
// types; the service writes the short ones.
const (
	ClaimAudience   = "aud"
	ClaimExpiresAt  = "exp"
	ClaimIssuedAt   = "iat"
	ClaimIssuer     = "iss"
	ClaimNotBefore  = "nbf"
	ClaimRole       = "role"
	ClaimRoleLong   = "http://schemas.microsoft.com/ws/2008/06/identity/claims/role"
	ClaimSubject    = "sub"
	ClaimNameID     = "nameid"
	ClaimNameIDLong = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier"
	ClaimGroups     = "webpubsub.group"
)

// hs256Header is the base64url form of {"alg":"HS256","typ":"JWT"}, the
// JOSE header of every token without extra header fields.
const hs256Header = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"

// ErrHeader is returned by Signer.SignWithHeader for extra header fields
// that try to set alg or typ, or that cannot be encoded as JSON.
var ErrHeader = errors.New("the extra JWT header fields cannot be used")

// Signer mints HS256 tokens keyed with the UTF-8 bytes of one access key.
// It is safe for concurrent use; the HMAC state is reused through a pool,
// one state per goroutine at a time.
type Signer struct {
	key  string
	pool sync.Pool // of *signState
}

type signState struct {
	mac  hash.Hash
	js   []byte // the claims' JSON
	out  []byte // the token being built
	sum  [sha256.Size]byte
	used bool
}

// NewSigner returns a Signer for key.
func NewSigner(key string) *Signer {
	s := &Signer{key: key}
	kb := []byte(key)
	s.pool.New = func() any { return &signState{mac: hmac.New(sha256.New, kb)} }
	return s
}

// Key reports whether s signs with key.
func (s *Signer) Key(key string) bool { return s.key == key }

// Sign returns the compact JWS of c with the header {"alg":"HS256","typ":"JWT"}.
func (s *Signer) Sign(c *Claims) string {
	st := s.get()
	st.js = appendClaims(st.js[:0], c, nil)
	st.out = append(st.out[:0], hs256Header...)
	tok := s.finish(st, 0)
	s.pool.Put(st)
	return tok
}

// SignWithHeader is Sign with extra JOSE header fields (for example
// {"kid": "key1"}). The header is written as encoding/json writes a map:
// keys sorted, alg and typ among them. It fails with ErrHeader when header
// sets alg or typ or holds a value encoding/json cannot encode. With an
// empty header it is Sign.
func (s *Signer) SignWithHeader(c *Claims, header map[string]any) (string, error) {
	if len(header) == 0 {
		return s.Sign(c), nil
	}
	h := make(map[string]any, len(header)+2)
	for k, v := range header {
		if k == "alg" || k == "typ" {
			return "", ErrHeader
		}
		h[k] = v
	}
	h["alg"], h["typ"] = "HS256", "JWT"
	hj, err := json.Marshal(h)
	if err != nil {
		return "", ErrHeader
	}
	st := s.get()
	st.js = appendClaims(st.js[:0], c, nil)
	st.out = base64.RawURLEncoding.AppendEncode(st.out[:0], hj)
	tok := s.finish(st, 0)
	s.pool.Put(st)
	return tok, nil
}

// SignURL returns base + "?access_token=" + the token of c, and the token
// (a substring of the URL: one allocation for both).
func (s *Signer) SignURL(base string, c *Claims) (rawURL, token string) {
	st := s.get()
	st.js = appendClaims(st.js[:0], c, nil)
	st.out = append(append(st.out[:0], base...), "?access_token="...)
	start := len(st.out)
	st.out = append(st.out, hs256Header...)
	rawURL = s.finish(st, start)
	s.pool.Put(st)
	return rawURL, rawURL[start:]
}

// SignREST returns "Bearer " + a REST token whose aud is the request URL u
// as it goes on the wire (see Audience), written straight into the payload.
func (s *Signer) SignREST(u *url.URL, now time.Time) string {
	st := s.get()
	iat := now.Unix()
	st.js = appendClaims(st.js[:0], &Claims{ExpiresAt: iat + int64(RESTTokenLifetime/time.Second), IssuedAt: iat}, u)
	st.out = append(st.out[:0], "Bearer "...)
	st.out = append(st.out, hs256Header...)
	tok := s.finish(st, len("Bearer "))
	s.pool.Put(st)
	return tok
}

func (s *Signer) get() *signState {
	st := s.pool.Get().(*signState)
	if st.used {
		st.mac.Reset()
	}
	st.used = true
	return st
}

// finish appends "." + base64url(st.js) to st.out, signs st.out[start:] and
// appends "." + the signature; it returns st.out as a string.
func (s *Signer) finish(st *signState, start int) string {
	enc := base64.RawURLEncoding
	st.out = append(st.out, '.')
	st.out = enc.AppendEncode(st.out, st.js)
	st.mac.Write(st.out[start:])
	sig := st.mac.Sum(st.sum[:0])
	st.out = append(st.out, '.')
	st.out = enc.AppendEncode(st.out, sig)
	return string(st.out)
}

// appendClaims appends the JSON of c. When aud is not nil it is the
// audience instead of c.Audience.
func appendClaims(j []byte, c *Claims, aud *url.URL) []byte {
	j = append(j, '{')
	switch {
	case aud != nil:
		j = append(j, `"`+ClaimAudience+`":"`...)
		j = appendJSONChars(j, aud.Scheme)
		j = append(j, "://"...)
		j = appendJSONChars(j, aud.Host)
		j = appendJSONChars(j, aud.EscapedPath())
		if aud.RawQuery != "" {
			j = append(j, '?')
			j = appendJSONChars(j, aud.RawQuery)
		}
		j = append(j, `",`...)
	case c.Audience != "":
		j = append(j, `"`+ClaimAudience+`":`...)
		j = appendJSONString(j, c.Audience)
		j = append(j, ',')
	}
	j = append(j, `"`+ClaimExpiresAt+`":`...)
	j = strconv.AppendInt(j, c.ExpiresAt, 10)
	if c.IssuedAt != 0 {
		j = append(j, `,"`+ClaimIssuedAt+`":`...)
		j = strconv.AppendInt(j, c.IssuedAt, 10)
	}
	if c.Issuer != "" {
		j = append(j, `,"`+ClaimIssuer+`":`...)
		j = appendJSONString(j, c.Issuer)
	}
	if c.NotBefore != 0 {
		j = append(j, `,"`+ClaimNotBefore+`":`...)
		j = strconv.AppendInt(j, c.NotBefore, 10)
	}
	j = appendJSONArray(j, `,"`+ClaimRole+`":`, c.Roles)
	if c.Subject != "" {
		j = append(j, `,"`+ClaimSubject+`":`...)
		j = appendJSONString(j, c.Subject)
	}
	j = appendJSONArray(j, `,"`+ClaimGroups+`":`, c.Groups)
	return append(j, '}')
}

func appendJSONArray(j []byte, name string, vs []string) []byte {
	if len(vs) == 0 {
		return j
	}
	j = append(j, name...)
	j = append(j, '[')
	for i, v := range vs {
		if i > 0 {
			j = append(j, ',')
		}
		j = appendJSONString(j, v)
	}
	return append(j, ']')
}

// appendJSONString appends s as a JSON string.
func appendJSONString(j []byte, s string) []byte {
	j = append(j, '"')
	j = appendJSONChars(j, s)
	return append(j, '"')
}

// appendJSONChars appends the characters of s as encoding/json escapes them
// inside a string, without HTML escaping: invalid UTF-8 becomes U+FFFD.
func appendJSONChars(j []byte, s string) []byte {
	const hex = "0123456789abcdef"
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			switch {
			case b == '"' || b == '\\':
				j = append(j, '\\', b)
			case b == '\n':
				j = append(j, '\\', 'n')
			case b == '\r':
				j = append(j, '\\', 'r')
			case b == '\t':
				j = append(j, '\\', 't')
			case b == '\b':
				j = append(j, '\\', 'b')
			case b == '\f':
				j = append(j, '\\', 'f')
			case b < 0x20:
				j = append(j, '\\', 'u', '0', '0', hex[b>>4], hex[b&15])
			default:
				j = append(j, b)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			j = append(j, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			j = append(j, '\\', 'u', '2', '0', '2', hex[r&15])
		default:
			j = append(j, s[i:i+size]...)
		}
		i += size
	}
	return j
}

// ---- client endpoints ----

// Client protocols: the names ClientPath takes, as the SDK's ClientProtocol
// values and (in lower case) the clientType values of :generateToken.
const (
	ProtocolDefault  = "default"
	ProtocolMQTT     = "mqtt"
	ProtocolSocketIO = "socketio"
)

// ClientPath returns the path of the client endpoint of protocol, without
// the hub and ending in "/": "/client/hubs/" for "" and "default",
// "/clients/mqtt/hubs/" for "mqtt", "/clients/socketio/hubs/" for
// "socketio". ok is false for any other value (the match is exact; callers
// that accept other cases lower-case first).
func ClientPath(protocol string) (path string, ok bool) {
	switch protocol {
	case "", ProtocolDefault:
		return "/client/hubs/", true
	case ProtocolMQTT:
		return "/clients/mqtt/hubs/", true
	case ProtocolSocketIO:
		return "/clients/socketio/hubs/", true
	}
	return "", false
}
