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

// DefaultClockSkew is the default of Options.ClockSkew.
const DefaultClockSkew = 5 * time.Minute

// maxTokenLength bounds the size of a token the emulator is willing to
// parse. REST tokens carry the whole request URL, which may hold a filter
// of up to 64 KiB, percent-encoded.
const maxTokenLength = 512 << 10

// tokenError is why a token was refused, in words safe to return to the
// caller: it never holds the token, a key or a signature.
type tokenError struct{ reason string }

func (e *tokenError) Error() string { return e.reason }

// unauthorizedReason is the reason of err, a verifyToken error.
func unauthorizedReason(err error) string {
	var te *tokenError
	if errors.As(err, &te) {
		return te.reason
	}
	return "The access token is invalid."
}

// verifyToken checks the signature (HS256 with the primary or secondary
// key), exp (required) and nbf with the clock skew, then returns the
// claims and the token's audiences. Its errors are *tokenError with a
// reason: malformed, wrong signature, expired (and by how much), not yet
// valid, no exp. It never includes the token in an error.
func (e *Emulator) verifyToken(token string) (jwt.MapClaims, []string, error) {
	if token == "" {
		return nil, nil, &tokenError{"An access token is required."}
	}
	if len(token) > maxTokenLength {
		return nil, nil, &tokenError{"The access token is longer than 512 KiB."}
	}
	keys := jwt.VerificationKeySet{Keys: []jwt.VerificationKey{[]byte(e.key)}}
	if e.secondaryKey != "" {
		keys.Keys = append(keys.Keys, []byte(e.secondaryKey))
	}
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(e.clockSkew),
		jwt.WithTimeFunc(e.now),
		jwt.WithJSONNumber(),
	)
	claims := jwt.MapClaims{}
	if _, err := parser.ParseWithClaims(token, claims, func(*jwt.Token) (any, error) { return keys, nil }); err != nil {
		return nil, nil, e.tokenFailure(err, claims)
	}
	if exp, err := claims.GetExpirationTime(); err == nil && exp != nil {
		if late := e.now().Sub(exp.Time); late > 0 {
			e.log.Info("accepting an expired access token within the clock skew", "expiredFor", late.Round(time.Second).String(), "clockSkew", e.clockSkew.String())
		}
	}
	aud, err := claims.GetAudience()
	if err != nil {
		return nil, nil, &tokenError{"The access token's aud claim is not a string or an array of strings."}
	}
	return claims, aud, nil
}

// tokenFailure words a parse or validation error of the token whose
// claims are claims (as far as they were read).
func (e *Emulator) tokenFailure(err error, claims jwt.MapClaims) error {
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		if exp, cerr := claims.GetExpirationTime(); cerr == nil && exp != nil {
			ago := e.now().Sub(exp.Time).Round(time.Second)
			return &tokenError{"The access token expired " + ago.String() + " ago (at " + exp.UTC().Format(time.RFC3339) +
				"), beyond the clock skew of " + e.clockSkew.String() + "."}
		}
		return &tokenError{"The access token expired."}
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		if nbf, cerr := claims.GetNotBefore(); cerr == nil && nbf != nil {
			return &tokenError{"The access token is not valid before " + nbf.UTC().Format(time.RFC3339) +
				" (in " + nbf.Sub(e.now()).Round(time.Second).String() + "), beyond the clock skew of " + e.clockSkew.String() + "."}
		}
		return &tokenError{"The access token is not valid yet."}
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return &tokenError{"The access token has no exp claim."}
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		return &tokenError{"The access token's signature does not match the access key (HS256 with the UTF-8 bytes of the key is required)."}
	case errors.Is(err, jwt.ErrTokenMalformed):
		return &tokenError{"The access token is malformed: it is not a JWT."}
	}
	return &tokenError{"The access token is invalid."}
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
	v := jwt.NewValidator(jwt.WithExpirationRequired(), jwt.WithLeeway(e.clockSkew), jwt.WithTimeFunc(e.now))
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
	// A token for the MQTT endpoint names it; one for the client endpoint
	// is accepted there too.
	wantMQTT := ""
	if strings.HasPrefix(r.URL.Path, "/clients/mqtt/") {
		wantMQTT = "/clients/mqtt/hubs/" + hub
	}
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
		if strings.EqualFold(p, want) || (wantMQTT != "" && strings.EqualFold(p, wantMQTT)) {
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
