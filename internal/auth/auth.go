// Package auth holds the request-signing and reverse-proxy pipeline policies
// of the service client, and the HS256 helpers shared by the SDK's tokens.
//
// Nothing here is a promise to users: the public surface is the root package.
package auth

import (
	"context"
	"errors"
	"hash/maphash"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
)

// RESTTokenLifetime is the lifetime of the JWT that signs REST
// calls made with an access key.
const RESTTokenLifetime = 5 * time.Minute

// Clock returns the current time. A nil Clock means time.Now.
type Clock func() time.Time

// Now returns c() or time.Now() when c is nil.
func (c Clock) Now() time.Time {
	if c == nil {
		return time.Now()
	}
	return c()
}

// SignREST returns an HS256 JWT with aud = audience, iat = now and
// exp = now + RESTTokenLifetime, keyed with the UTF-8 bytes of key.
func SignREST(key, audience string, now time.Time) (string, error) {
	iat := now.Unix()
	return NewSigner(key).Sign(&Claims{Audience: audience, IssuedAt: iat, ExpiresAt: iat + int64(RESTTokenLifetime/time.Second)}), nil
}

// RESTTokenReuse is how long KeyPolicy sends the same token again for the
// same URL: a token is reused while now is in [iat, iat+RESTTokenReuse), so
// that every token sent has at least RESTTokenLifetime - RESTTokenReuse (4
// minutes) left before it expires, for the service's clock as much as for
// ours.
const RESTTokenReuse = time.Minute

// restTokenSlots is the size of KeyPolicy's token cache, a direct-mapped
// table indexed by a hash of the URL: bounded memory however many URLs a
// client sends to, and no lock.
const restTokenSlots = 64

// KeyPolicy signs each try of a request with an HS256 JWT whose aud is the
// exact URL being sent (scheme, host, escaped path and raw query). It reads
// the key from the credential on every try, so KeyCredential.Update takes
// effect on the next request. It must run per retry and before the
// reverse-proxy policy.
//
// Tokens are cached per URL and key: a try reuses the token of an earlier
// try to the same URL, signed with the same key, during RESTTokenReuse;
// otherwise it signs a new one (iat = now, exp = now + RESTTokenLifetime).
type KeyPolicy struct {
	key    *KeySource
	clock  Clock
	signer atomic.Pointer[Signer] // for the key last read
	seed   maphash.Seed
	tokens [restTokenSlots]atomic.Pointer[restToken]
}

// restToken is a signed Authorization value and what it is valid for.
type restToken struct {
	signer *Signer // the key it is signed with
	aud    string  // the URL, as Audience writes it
	iat    int64   // Unix seconds
	value  string  // "Bearer <jwt>"
}

// NewKeyPolicy returns a KeyPolicy for key; clock may be nil.
func NewKeyPolicy(key *KeySource, clock Clock) *KeyPolicy {
	return &KeyPolicy{key: key, clock: clock, seed: maphash.MakeSeed()}
}

// Do implements policy.Policy.
func (p *KeyPolicy) Do(req *policy.Request) (*http.Response, error) {
	if err := p.Sign(req.Raw()); err != nil {
		return nil, err
	}
	return req.Next()
}

// Sign sets the Authorization header of req (replacing any) to a token for
// req's URL. Its error is final (not retried) and holds no secret.
func (p *KeyPolicy) Sign(req *http.Request) error {
	s := p.Signer()
	if s == nil {
		return &nonRetriable{errors.New("webpubsub: cannot sign the request: the access key cannot be read")}
	}
	req.Header["Authorization"] = []string{p.token(s, req.URL, p.clock.Now())}
	return nil
}

// token returns the Authorization value for u signed by s: the cached one
// when it is s's, for u, and was signed at most RESTTokenReuse before now
// (and not after it: a clock that went back gets a new token).
func (p *KeyPolicy) token(s *Signer, u *url.URL, now time.Time) string {
	var buf [256]byte
	aud := appendAudience(buf[:0], u)
	slot := &p.tokens[maphash.Bytes(p.seed, aud)%restTokenSlots]
	iat := now.Unix()
	if t := slot.Load(); t != nil && t.signer == s && t.iat <= iat && iat < t.iat+int64(RESTTokenReuse/time.Second) && t.aud == string(aud) {
		return t.value
	}
	v := s.SignREST(u, now)
	slot.Store(&restToken{signer: s, aud: string(aud), iat: iat, value: v})
	return v
}

// Signer returns a Signer for the credential's current key, reusing the
// one of the previous call while the key has not changed; nil when the
// key cannot be read.
func (p *KeyPolicy) Signer() *Signer {
	key := p.key.Key()
	if key == "" {
		return nil
	}
	if s := p.signer.Load(); s != nil && s.Key(key) {
		return s
	}
	s := NewSigner(key)
	p.signer.Store(s)
	return s
}

// KeySource reads the current value of an *azcore.KeyCredential. azcore
// offers no getter, only runtime.KeyCredentialPolicy, which writes the key
// into a request header; KeySource runs that policy on a private, never-sent
// request and reads the header back. The key therefore never travels in a
// header of a real request. Safe for concurrent use.
type KeySource struct {
	pol  *runtime.KeyCredentialPolicy
	pool sync.Pool
}

// keyHeader is the header of the private request that KeySource reads
// the key from: short and in canonical form, so that the policy's
// Header.Add has little to canonicalize.
const keyHeader = "Key"

// NewKeySource returns a KeySource for cred.
func NewKeySource(cred *azcore.KeyCredential) *KeySource {
	ks := &KeySource{pol: runtime.NewKeyCredentialPolicy(cred, keyHeader, &runtime.KeyCredentialPolicyOptions{InsecureAllowCredentialWithHTTP: true})}
	ks.pool.New = func() any {
		req, err := runtime.NewRequest(context.Background(), http.MethodGet, "https://key.invalid/")
		if err != nil {
			return nil
		}
		req.Raw().Header[keyHeader] = make([]string, 0, 1)
		return req
	}
	return ks
}

// Key returns the credential's current key ("" if it cannot be read).
func (k *KeySource) Key() string {
	req, _ := k.pool.Get().(*policy.Request)
	if req == nil {
		return ""
	}
	// keyHeader is in canonical form, so the policy's Header.Add appends to
	// this slice: its capacity of one, kept from call to call, saves an
	// allocation. The policy then calls Next, which fails with "no more
	// policies" because this request belongs to no pipeline. That error is
	// expected and ignored.
	h := req.Raw().Header
	v := h[keyHeader][:0]
	h[keyHeader] = v
	_, _ = k.pol.Do(req)
	var key string
	if v = h[keyHeader]; len(v) > 0 {
		key = v[0]
		v[0] = ""
	}
	h[keyHeader] = v[:0]
	k.pool.Put(req)
	return key
}

// Audience returns the URL string exactly as it goes on the wire, which is
// what the service expects in aud.
func Audience(u *url.URL) string { return string(appendAudience(nil, u)) }

// appendAudience appends Audience(u) to b.
func appendAudience(b []byte, u *url.URL) []byte {
	b = append(b, u.Scheme...)
	b = append(b, "://"...)
	b = append(b, u.Host...)
	b = append(b, u.EscapedPath()...)
	if u.RawQuery != "" {
		b = append(b, '?')
		b = append(b, u.RawQuery...)
	}
	return b
}

type nonRetriable struct{ error }

func (nonRetriable) NonRetriable()   {}
func (e nonRetriable) Unwrap() error { return e.error }

// ProxyPolicy sends every request to a reverse proxy: the proxy's scheme,
// host, port and path prefix replace the service endpoint's, and the rest of
// the path and the query are unchanged. It must run per retry, after the
// signing policy, so that aud stays the service URL.
type ProxyPolicy struct {
	service *url.URL // scheme, host and escaped prefix of the service endpoint
	proxy   *url.URL // scheme, host and escaped prefix of the proxy
}

// NewProxyPolicy returns a ProxyPolicy. serviceEndpoint and proxyEndpoint are
// normalized absolute URLs without query or trailing "/".
func NewProxyPolicy(serviceEndpoint, proxyEndpoint string) (*ProxyPolicy, error) {
	s, err := url.Parse(serviceEndpoint)
	if err != nil {
		return nil, err
	}
	p, err := url.Parse(proxyEndpoint)
	if err != nil {
		return nil, err
	}
	return &ProxyPolicy{service: s, proxy: p}, nil
}

// Do implements policy.Policy.
func (p *ProxyPolicy) Do(req *policy.Request) (*http.Response, error) {
	if err := p.Rewrite(req.Raw()); err != nil {
		return nil, err
	}
	return req.Next()
}

// Rewrite points req at the proxy. Its error is final (not retried).
func (p *ProxyPolicy) Rewrite(req *http.Request) error {
	u := req.URL
	rel := strings.TrimPrefix(u.EscapedPath(), p.service.EscapedPath())
	raw := strings.TrimRight(p.proxy.EscapedPath(), "/") + rel
	path, err := url.PathUnescape(raw)
	if err != nil {
		return &nonRetriable{errors.New("webpubsub: cannot build the reverse-proxy URL")}
	}
	u.Scheme = p.proxy.Scheme
	u.Host = p.proxy.Host
	u.Path = path
	u.RawPath = raw
	req.Host = p.proxy.Host
	return nil
}
