package recording

import (
	"encoding/json"
	"net/url"
	"regexp"
	"sort"
	"strings"

	"github.com/gowebpubsub/webpubsub/internal/auth"
	"github.com/gowebpubsub/webpubsub/internal/connstr"
)

// FakeEndpoint is the service endpoint written into fixtures in place of the
// real one, and the endpoint a test's client talks to in playback mode.
const FakeEndpoint = "https://fake.webpubsub.azure.com"

// fakeHost is the authority of FakeEndpoint; it replaces the bare host[:port]
// of the live endpoint wherever that appears without a scheme.
const fakeHost = "fake.webpubsub.azure.com"

// FakeAccessKey is the well-known access key of the local emulator. It is not
// a secret; playback clients sign their requests with it.
const FakeAccessKey = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGH"

// FakeConnectionString is the connection string a test uses in playback mode:
// FakeEndpoint with FakeAccessKey.
const FakeConnectionString = "Endpoint=" + FakeEndpoint + ";AccessKey=" + FakeAccessKey + ";Version=1.0;"

// SanitizedJWT replaces every JSON Web Token and every access_token query
// value in a fixture. In playback, occurrences of it in recorded response
// headers and bodies are handed to the client as FakeJWT, so that code which
// decodes a service-issued token still gets a well-formed one.
const SanitizedJWT = "Sanitized.JWT.Placeholder"

// SanitizedSecret replaces every access key and every caller-supplied secret
// in a fixture.
const SanitizedSecret = "Sanitized"

// fakeJWTIssuedAt and fakeJWTExpiresAt are the iat/nbf and exp claims of FakeJWT.
const (
	fakeJWTIssuedAt  = 1700000000 // 2023-11-14T22:13:20Z
	fakeJWTExpiresAt = 4102444800 // 2100-01-01T00:00:00Z
)

// jwtPattern matches a compact JWS anywhere in a string. Every JWT header is a
// JSON object, whose base64url encoding starts with "eyJ".
var jwtPattern = regexp.MustCompile(`eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*`)

// accessTokenPattern matches an access_token query parameter, also when the
// whole query is itself percent-encoded inside another value.
var accessTokenPattern = regexp.MustCompile(`(?i)(access_token(?:=|%3D))[^&\s"'<>#\\]*`)

var fakeJWT = makeFakeJWT()

// FakeJWT returns the token that playback substitutes for SanitizedJWT in
// recorded responses: an HS256 JWT signed with the UTF-8 bytes of
// FakeAccessKey, with claims iat = nbf = 1700000000 and exp = 4102444800
// (year 2100) and nothing else. The same value is returned on every call.
func FakeJWT() string { return fakeJWT }

func makeFakeJWT() string {
	return auth.NewSigner(FakeAccessKey).Sign(&auth.Claims{
		ExpiresAt: fakeJWTExpiresAt,
		IssuedAt:  fakeJWTIssuedAt,
		NotBefore: fakeJWTIssuedAt,
	})
}

// connInfo is what the recorder needs from a connection string.
type connInfo struct {
	endpoint  string // normalized: scheme://host[:port][/prefix], no trailing '/'
	authority string // host[:port] as it appears in request URLs
	accessKey string
}

// parseConnectionString reads the Endpoint (with Port applied) and the
// AccessKey of a Web PubSub connection string, with the grammar of
// internal/connstr. Its errors are *connstr.Error: they name keys and
// positions only, never values, because a value may be the key itself.
func parseConnectionString(cs string) (connInfo, error) {
	p, perr := connstr.Parse(cs)
	if perr != nil {
		return connInfo{}, perr
	}
	return connInfo{
		endpoint:  p.Endpoint.String(),
		authority: p.Endpoint.HostPort(),
		accessKey: p.AccessKey,
	}, nil
}

// replacement is one literal substitution.
type replacement struct {
	old, new   string
	ignoreCase bool
}

// sanitizer removes secrets from strings. redact removes tokens and secrets
// only; scrub additionally replaces the live endpoint with FakeEndpoint. A
// sanitizer is immutable after construction and safe for concurrent use.
type sanitizer struct {
	secrets []replacement // literal secrets, longest first
	hosts   []replacement // live endpoint forms, longest first
}

// newSanitizer builds a sanitizer for the given secrets and live endpoint
// (endpoint and authority may be empty).
func newSanitizer(secrets []string, endpoint, authority string) *sanitizer {
	s := &sanitizer{}
	seen := map[string]bool{}
	for _, sec := range secrets {
		for _, form := range encodedForms(sec) {
			if form == "" || seen[form] {
				continue
			}
			seen[form] = true
			s.secrets = append(s.secrets, replacement{old: form, new: SanitizedSecret})
		}
	}
	addHost := func(old, new string) {
		if old == "" || old == new {
			return
		}
		olds, news := encodedForms(old), encodedForms(new)
		for i := range olds {
			if olds[i] != "" && !seen[olds[i]] {
				seen[olds[i]] = true
				s.hosts = append(s.hosts, replacement{old: olds[i], new: news[i], ignoreCase: true})
			}
		}
	}
	if endpoint != "" {
		addHost(endpoint, FakeEndpoint)
		if scheme, _, ok := strings.Cut(endpoint, "://"); ok {
			root := scheme + "://" + authority
			addHost(root, FakeEndpoint)
			other := "https://" + authority
			if scheme == "https" {
				other = "http://" + authority
			}
			addHost(other, FakeEndpoint)
		}
		addHost("wss://"+authority, "wss://"+fakeHost)
		addHost("ws://"+authority, "wss://"+fakeHost)
		addHost(authority, fakeHost)
	}
	byLength := func(r []replacement) {
		sort.SliceStable(r, func(i, j int) bool { return len(r[i].old) > len(r[j].old) })
	}
	byLength(s.secrets)
	byLength(s.hosts)
	return s
}

// encodedForms lists the spellings under which a literal may appear on the
// wire: as is, query-escaped, path-escaped, and JSON-escaped. The forms are
// positionally aligned so that the same encoding can be applied to a
// replacement.
func encodedForms(v string) []string {
	js, _ := json.Marshal(v) // a string always marshals
	jsonForm := strings.ReplaceAll(strings.Trim(string(js), `"`), "/", `\/`)
	return []string{v, url.QueryEscape(v), url.PathEscape(v), jsonForm}
}

// redact replaces JWTs, access_token values and literal secrets.
func (s *sanitizer) redact(v string) string {
	v = jwtPattern.ReplaceAllLiteralString(v, SanitizedJWT)
	v = accessTokenPattern.ReplaceAllString(v, "${1}"+SanitizedJWT)
	for _, r := range s.secrets {
		v = strings.ReplaceAll(v, r.old, r.new)
	}
	return v
}

// scrub redacts v and replaces the live endpoint with FakeEndpoint.
func (s *sanitizer) scrub(v string) string {
	v = s.redact(v)
	for _, r := range s.hosts {
		v = replaceFold(v, r.old, r.new)
	}
	return v
}

// replaceFold replaces every ASCII-case-insensitive occurrence of old in s.
// Host names are case-insensitive, and only their ASCII letters fold.
func replaceFold(s, old, new string) string {
	if old == "" {
		return s
	}
	lower, lowerOld := lowerASCII(s), lowerASCII(old)
	var b strings.Builder
	i := 0
	for {
		j := strings.Index(lower[i:], lowerOld)
		if j < 0 {
			if i == 0 {
				return s
			}
			b.WriteString(s[i:])
			return b.String()
		}
		b.WriteString(s[i : i+j])
		b.WriteString(new)
		i += j + len(old)
	}
}

// lowerASCII lower-cases ASCII letters only, so byte offsets are preserved.
func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + ('a' - 'A')
		}
	}
	return string(b)
}
