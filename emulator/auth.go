package emulator

import (
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// clockSkew is the tolerance applied to exp and nbf.
const clockSkew = 5 * time.Minute

// maxTokenLength bounds the size of a token the emulator is willing to
// parse. REST tokens carry the whole request URL, which may hold a filter
// of up to 64 KiB, percent-encoded.
const maxTokenLength = 512 << 10

// errUnauthorized is the single, secret-free error of every token check.
var errUnauthorized = errors.New("emulator: the access token is missing or invalid")

// verifyToken checks the signature (HS256 with the primary or secondary
// key), exp (required) and nbf with five minutes of skew, then returns the
// claims and the token's audiences. It never includes the token in an
// error.
func (e *Emulator) verifyToken(token string) (jwt.MapClaims, []string, error) {
	if token == "" || len(token) > maxTokenLength {
		return nil, nil, errUnauthorized
	}
	keys := jwt.VerificationKeySet{Keys: []jwt.VerificationKey{[]byte(e.key)}}
	if e.secondaryKey != "" {
		keys.Keys = append(keys.Keys, []byte(e.secondaryKey))
	}
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(clockSkew),
		jwt.WithTimeFunc(e.now),
		jwt.WithJSONNumber(),
	)
	claims := jwt.MapClaims{}
	if _, err := parser.ParseWithClaims(token, claims, func(*jwt.Token) (any, error) { return keys, nil }); err != nil {
		return nil, nil, errUnauthorized
	}
	aud, err := claims.GetAudience()
	if err != nil {
		return nil, nil, errUnauthorized
	}
	return claims, aud, nil
}

// entraAudience is the audience of Microsoft Entra ID tokens for Web
// PubSub (scope https://webpubsub.azure.com/.default).
const entraAudience = "https://webpubsub.azure.com"

// entraTokenOK checks a token in the AllowUnvalidatedEntraTokens mode:
// only its audience and its lifetime (exp required,
// nbf, five minutes of skew). The signature and the issuer are not
// verified.
func (e *Emulator) entraTokenOK(token string) bool {
	if token == "" || len(token) > maxTokenLength {
		return false
	}
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser(jwt.WithJSONNumber()).ParseUnverified(token, claims); err != nil {
		return false
	}
	v := jwt.NewValidator(jwt.WithExpirationRequired(), jwt.WithLeeway(clockSkew), jwt.WithTimeFunc(e.now))
	if err := v.Validate(claims); err != nil {
		return false
	}
	auds, err := claims.GetAudience()
	if err != nil {
		return false
	}
	for _, a := range auds {
		if strings.EqualFold(strings.TrimSuffix(a, "/"), entraAudience) {
			return true
		}
	}
	return false
}

// bearerToken returns the token of an "Authorization: Bearer" header.
func bearerToken(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// hostsMatch compares the host[:port] of a token audience with the
// request's Host header: case-insensitively, with default ports dropped
// (80 for http and ws, 443 for https and wss) and the loopback names
// localhost, 127.0.0.1 and [::1] treated as one.
func hostsMatch(audScheme, audHost, reqScheme, reqHost string) bool {
	ah, ap := splitHostPort(audHost, audScheme)
	rh, rp := splitHostPort(reqHost, reqScheme)
	if ap != rp {
		return false
	}
	if strings.EqualFold(ah, rh) {
		return true
	}
	return isLoopbackName(ah) && isLoopbackName(rh)
}

func splitHostPort(hostport, scheme string) (host, port string) {
	host = hostport
	if h, p, err := net.SplitHostPort(hostport); err == nil {
		host, port = h, p
	} else {
		host = strings.TrimSuffix(strings.TrimPrefix(hostport, "["), "]")
	}
	switch strings.ToLower(scheme) {
	case "http", "ws":
		if port == "80" {
			port = ""
		}
	case "https", "wss":
		if port == "443" {
			port = ""
		}
	}
	return host, port
}

func isLoopbackName(h string) bool {
	return strings.EqualFold(h, "localhost") || h == "127.0.0.1" || h == "::1"
}

// requestScheme is the scheme the request arrived on.
func requestScheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

// audienceAllowsREST reports whether one of the audiences names the REST
// request URL: scheme http or https; host per
// hostsMatch unless the audience check is relaxed; then the path and query
// as received, or the path alone, or the percent-decoded form of either,
// compared case-insensitively.
func (e *Emulator) audienceAllowsREST(auds []string, r *http.Request) bool {
	reqPQ := r.RequestURI
	if reqPQ == "" || reqPQ[0] != '/' {
		// An absolute-form request target; keep only its path and query.
		if u, err := url.ParseRequestURI(reqPQ); err == nil {
			reqPQ = u.RequestURI()
		}
	}
	reqPath, _, _ := strings.Cut(reqPQ, "?")
	candidates := []string{reqPQ, reqPath}
	for _, c := range []string{reqPQ, reqPath} {
		if d, err := url.PathUnescape(c); err == nil {
			candidates = append(candidates, d)
		}
	}
	for _, aud := range auds {
		scheme, rest, ok := strings.Cut(aud, "://")
		if !ok || !(strings.EqualFold(scheme, "http") || strings.EqualFold(scheme, "https")) {
			continue
		}
		host, pq := rest, "/"
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			host, pq = rest[:i], rest[i:]
		}
		if !e.opts.RelaxedAudience && !hostsMatch(scheme, host, requestScheme(r), r.Host) {
			continue
		}
		decoded, err := url.PathUnescape(pq)
		if err != nil {
			decoded = pq
		}
		for _, c := range candidates {
			if strings.EqualFold(pq, c) || strings.EqualFold(decoded, c) {
				return true
			}
		}
	}
	return false
}

// audienceAllowsClient reports whether one of the audiences names the
// client endpoint of hub: an absolute
// http, https, ws or wss URL, its host per hostsMatch unless relaxed, and
// its percent-decoded path, less one trailing '/', equal to
// /client/hubs/{hub} case-insensitively, with no query or fragment.
func (e *Emulator) audienceAllowsClient(auds []string, hub string, r *http.Request) bool {
	want := "/client/hubs/" + hub
	for _, aud := range auds {
		u, err := url.Parse(aud)
		if err != nil || u.Opaque != "" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.User != nil {
			continue
		}
		switch strings.ToLower(u.Scheme) {
		case "http", "https", "ws", "wss":
		default:
			continue
		}
		if !e.opts.RelaxedAudience && !hostsMatch(u.Scheme, u.Host, requestScheme(r), r.Host) {
			continue
		}
		p := strings.TrimSuffix(u.Path, "/") // u.Path is already decoded
		if strings.EqualFold(p, want) {
			return true
		}
	}
	return false
}

// stringClaim returns the first of names that holds a string.
func stringClaim(c jwt.MapClaims, names ...string) (string, bool) {
	for _, n := range names {
		if v, ok := c[n]; ok {
			s, isString := v.(string)
			return s, isString
		}
	}
	return "", false
}

// stringsClaim reads a claim that may be a string or an array of strings.
// ok is false when the claim holds something else, including an array with
// a non-string element.
func stringsClaim(c jwt.MapClaims, names ...string) (values []string, ok bool) {
	for _, n := range names {
		v, present := c[n]
		if !present {
			continue
		}
		switch t := v.(type) {
		case string:
			return []string{t}, true
		case []any:
			out := make([]string, 0, len(t))
			for _, x := range t {
				s, isString := x.(string)
				if !isString {
					return nil, false
				}
				out = append(out, s)
			}
			return out, true
		case nil:
			return nil, true
		default:
			return nil, false
		}
	}
	return nil, true
}

// Token facts of :generateToken.
const (
	tokenIssuer      = "https://webpubsub.azure.com"
	defaultTokenMins = 60
)
