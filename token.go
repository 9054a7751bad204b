package webpubsub

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/golang-jwt/jwt/v5"
)

// ClientProtocol selects the client endpoint a client access URL points at.
type ClientProtocol string

const (
	// ClientProtocolDefault is the Web PubSub endpoint /client/hubs/{hub}
	// (raw WebSocket and the json.webpubsub.azure.v1 subprotocols).
	ClientProtocolDefault ClientProtocol = "default"
	// ClientProtocolMQTT is the MQTT endpoint /clients/mqtt/hubs/{hub}.
	ClientProtocolMQTT ClientProtocol = "mqtt"
	// ClientProtocolSocketIO is the Socket.IO endpoint /clients/socketio/hubs/{hub}.
	ClientProtocolSocketIO ClientProtocol = "socketio"
)

// PossibleClientProtocolValues returns every ClientProtocol.
func PossibleClientProtocolValues() []ClientProtocol {
	return []ClientProtocol{ClientProtocolDefault, ClientProtocolMQTT, ClientProtocolSocketIO}
}

// DefaultClientTokenLifetime is the lifetime of a client access token when
// neither ExpiresAfter nor ExpiresAt is set.
const DefaultClientTokenLifetime = time.Hour

// ClientAccessTokenOptions are the optional parameters of
// ServiceClient.GetClientAccessToken. The zero value (or nil) gives an
// anonymous token for the default endpoint, valid for one hour.
type ClientAccessTokenOptions struct {
	// UserID is the user the connection is authenticated as ("sub"); "" for
	// an anonymous connection.
	UserID string
	// Roles are the roles of the connection, for example
	// "webpubsub.joinLeaveGroup" or "webpubsub.sendToGroup.chat". Entries
	// must not be blank.
	Roles []string
	// Groups are joined by the connection as soon as it connects. Entries
	// follow the group-name rules (1..1024 characters, not blank).
	Groups []string
	// ExpiresAfter is the token's lifetime; zero means one hour. It must not
	// be negative, and may not be combined with ExpiresAt. With Entra ID the
	// service counts in whole minutes: the lifetime is rounded down to
	// minutes, and a lifetime under a minute becomes one minute.
	ExpiresAfter time.Duration
	// ExpiresAt, when non-zero, is the token's expiry instead of
	// ExpiresAfter. It must be in the future.
	ExpiresAt time.Time
	// ClientProtocol selects the endpoint; "" means ClientProtocolDefault.
	ClientProtocol ClientProtocol
	// JWTHeaders are extra JOSE header fields of a token signed with an
	// access key, for example {"kid": "key1"}. "alg" and "typ" cannot be set.
	// They cannot be used with Entra ID, where the service signs the token.
	JWTHeaders map[string]any
}

// ClientAccessToken is what a client needs to connect. Token and URL are
// secrets (URL carries the token in its access_token query parameter):
// String and GoString redact them.
type ClientAccessToken struct {
	// Token is the signed client access token (a JWT).
	Token string
	// BaseURL is the WebSocket URL without the token, for example
	// "wss://contoso.webpubsub.azure.com/client/hubs/chat".
	BaseURL string
	// URL is BaseURL + "?access_token=" + Token.
	URL string
	// ExpiresOn is when the token expires.
	ExpiresOn time.Time
}

// String returns BaseURL and ExpiresOn; the token is redacted.
func (t ClientAccessToken) String() string {
	return "ClientAccessToken{BaseURL: " + t.BaseURL + ", Token: REDACTED, ExpiresOn: " + t.ExpiresOn.UTC().Format(time.RFC3339) + "}"
}

// GoString is String, so %#v cannot reveal the token.
func (t ClientAccessToken) GoString() string { return t.String() }

// clientClaims are the claims of a client access token signed with a key,
// in the order they are written.
type clientClaims struct {
	Audience  string   `json:"aud"`
	IssuedAt  int64    `json:"iat"`
	ExpiresAt int64    `json:"exp"`
	Subject   string   `json:"sub,omitempty"`
	Roles     []string `json:"role,omitempty"`
	Groups    []string `json:"webpubsub.group,omitempty"`
}

func (c *clientClaims) GetExpirationTime() (*jwt.NumericDate, error) {
	return jwt.NewNumericDate(time.Unix(c.ExpiresAt, 0)), nil
}
func (c *clientClaims) GetIssuedAt() (*jwt.NumericDate, error) {
	return jwt.NewNumericDate(time.Unix(c.IssuedAt, 0)), nil
}
func (*clientClaims) GetNotBefore() (*jwt.NumericDate, error) { return nil, nil }
func (*clientClaims) GetIssuer() (string, error)              { return "", nil }
func (c *clientClaims) GetSubject() (string, error)           { return c.Subject, nil }
func (c *clientClaims) GetAudience() (jwt.ClaimStrings, error) {
	return jwt.ClaimStrings{c.Audience}, nil
}

// clientPath returns the client endpoint path for p, without the hub.
func clientPath(p ClientProtocol) (string, error) {
	switch p {
	case "", ClientProtocolDefault:
		return "/client/hubs/", nil
	case ClientProtocolMQTT:
		return "/clients/mqtt/hubs/", nil
	case ClientProtocolSocketIO:
		return "/clients/socketio/hubs/", nil
	}
	return "", &ValidationError{Name: "ClientProtocol", Value: string(p), Reason: "must be default, mqtt or socketio"}
}

// GetClientAccessToken returns a token and the WebSocket URL a client
// connects with. A nil options means defaults (anonymous, one hour, default
// endpoint).
//
// With an access key the token is signed locally (HS256) and no request is
// made: aud is the http(s) URL of the client endpoint on the service
// endpoint, sub, role and webpubsub.group appear only when non-empty. With
// Entra ID the service issues the token (POST :generateToken). Either way
// BaseURL is built on ClientEndpoint when the connection string has one,
// else on the service endpoint; a reverse proxy does not change it. The
// endpoint keeps its case and path prefix, and the hub is percent-escaped
// as a path segment (identical to the hub for letters, digits, "_" and ".").
//
// Invalid options are a *ValidationError; a service failure (Entra ID) is
// an *azcore.ResponseError.
func (c *ServiceClient) GetClientAccessToken(ctx context.Context, options *ClientAccessTokenOptions) (ClientAccessToken, error) {
	if options == nil {
		options = &ClientAccessTokenOptions{}
	}
	var out ClientAccessToken
	err := c.call(ctx, "GetClientAccessToken", func(ctx context.Context) error {
		path, err := clientPath(options.ClientProtocol)
		if err != nil {
			return err
		}
		now := c.now()
		lifetime, err := tokenLifetime(options, now)
		if err != nil {
			return err
		}
		for _, r := range options.Roles {
			if strings.TrimSpace(r) == "" {
				return &ValidationError{Name: "Roles", Reason: "must not contain an empty or blank role"}
			}
		}
		for _, g := range options.Groups {
			if err := validateGroup("Groups", g); err != nil {
				return err
			}
		}
		out.BaseURL = c.clientURLs[path].base
		if c.key != nil {
			out.Token, out.ExpiresOn, err = c.signClientToken(options, c.clientURLs[path].aud, now, lifetime)
		} else {
			if len(options.JWTHeaders) > 0 {
				return &ValidationError{Name: "JWTHeaders", Reason: "cannot be used with Entra ID: the service signs the token"}
			}
			out.Token, out.ExpiresOn, err = c.generateToken(ctx, options, now, lifetime)
		}
		if err != nil {
			return err
		}
		out.URL = out.BaseURL + "?access_token=" + out.Token
		return nil
	})
	if err != nil {
		return ClientAccessToken{}, err
	}
	return out, nil
}

// tokenLifetime resolves ExpiresAfter / ExpiresAt.
func tokenLifetime(o *ClientAccessTokenOptions, now time.Time) (time.Duration, error) {
	switch {
	case !o.ExpiresAt.IsZero() && o.ExpiresAfter != 0:
		return 0, &ValidationError{Name: "ExpiresAt", Reason: "cannot be combined with ExpiresAfter; set one of them"}
	case !o.ExpiresAt.IsZero():
		d := o.ExpiresAt.Sub(now)
		if d <= 0 {
			return 0, &ValidationError{Name: "ExpiresAt", Value: o.ExpiresAt.UTC().Format(time.RFC3339), Reason: "must be in the future"}
		}
		return d, nil
	case o.ExpiresAfter < 0:
		return 0, &ValidationError{Name: "ExpiresAfter", Value: o.ExpiresAfter.String(), Reason: "must be positive (zero means one hour)"}
	case o.ExpiresAfter == 0:
		return DefaultClientTokenLifetime, nil
	}
	return o.ExpiresAfter, nil
}

// signClientToken signs a client token with the access key.
func (c *ServiceClient) signClientToken(o *ClientAccessTokenOptions, aud string, now time.Time, lifetime time.Duration) (string, time.Time, error) {
	exp := now.Add(lifetime)
	if !o.ExpiresAt.IsZero() {
		exp = o.ExpiresAt
	}
	claims := &clientClaims{
		Audience:  aud,
		IssuedAt:  now.Unix(),
		ExpiresAt: exp.Unix(),
		Subject:   o.UserID,
		Roles:     o.Roles,
		Groups:    o.Groups,
	}
	var s string
	if len(o.JWTHeaders) == 0 {
		var err error
		if s, err = signFast(claims, []byte(c.key.Key())); err != nil {
			return "", time.Time{}, err
		}
	} else {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
		for k, v := range o.JWTHeaders {
			if k == "alg" || k == "typ" {
				return "", time.Time{}, &ValidationError{Name: "JWTHeaders", Value: k, Reason: "cannot override alg or typ"}
			}
			tok.Header[k] = v
		}
		var err error
		s, err = tok.SignedString([]byte(c.key.Key()))
		if err != nil {
			// Only an unencodable JWTHeaders value can fail here; the error
			// text of the JSON encoder holds no secret.
			return "", time.Time{}, &ValidationError{Name: "JWTHeaders", Reason: "cannot be encoded: " + err.Error()}
		}
	}
	return s, time.Unix(claims.ExpiresAt, 0), nil
}

// generateToken asks the service for a client token (Entra ID path).
func (c *ServiceClient) generateToken(ctx context.Context, o *ClientAccessTokenOptions, now time.Time, lifetime time.Duration) (string, time.Time, error) {
	minutes := int(lifetime / time.Minute)
	if minutes < 1 {
		minutes = 1
	}
	q := &query{}
	q.addOpt("userId", o.UserID)
	q.addAll("role", o.Roles)
	q.add("minutesToExpire", itoa(minutes))
	q.addAll("group", o.Groups)
	switch o.ClientProtocol {
	case ClientProtocolMQTT:
		q.add("clientType", "mqtt")
	case ClientProtocolSocketIO:
		q.add("clientType", "socketio")
	}
	req, err := c.newRequest(ctx, http.MethodPost, c.url(q, ":generateToken"))
	if err != nil {
		return "", time.Time{}, err
	}
	req.Raw().Header.Set("Accept", "application/json, text/json")
	resp, err := c.do(req, http.StatusOK)
	if err != nil {
		return "", time.Time{}, err
	}
	var body struct {
		Token string `json:"token"`
	}
	if err := runtime.UnmarshalAsJSON(resp, &body); err != nil {
		return "", time.Time{}, err
	}
	if body.Token == "" {
		return "", time.Time{}, errors.New("webpubsub: the service returned no token")
	}
	exp := now.Add(time.Duration(minutes) * time.Minute)
	if t := tokenExpiry(body.Token); !t.IsZero() {
		exp = t
	}
	return body.Token, exp, nil
}

// tokenExpiry reads the exp claim of a JWT without verifying it (the
// service signed it with a key the client does not have); zero when absent.
func tokenExpiry(token string) time.Time {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return time.Time{}
	}
	payload, err := jwt.NewParser().DecodeSegment(parts[1])
	if err != nil {
		return time.Time{}
	}
	var c struct {
		Exp json.Number `json:"exp"`
	}
	if json.Unmarshal(payload, &c) != nil {
		return time.Time{}
	}
	n, err := c.Exp.Int64()
	if err != nil {
		return time.Time{}
	}
	return time.Unix(n, 0)
}

// hs256Header is the base64url form of {"alg":"HS256","typ":"JWT"}.
const hs256Header = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"

// signFast signs claims with the fixed HS256 header. It writes the claims'
// JSON by hand, in one buffer, and signs with golang-jwt's HS256 method: the
// same token bytes as jwt.NewWithClaims would give, at a fraction of the
// allocations.
func signFast(c *clientClaims, key []byte) (string, error) {
	var js [512]byte
	j := append(js[:0], `{"aud":`...)
	j = appendJSONString(j, c.Audience)
	j = append(j, `,"iat":`...)
	j = strconv.AppendInt(j, c.IssuedAt, 10)
	j = append(j, `,"exp":`...)
	j = strconv.AppendInt(j, c.ExpiresAt, 10)
	if c.Subject != "" {
		j = append(j, `,"sub":`...)
		j = appendJSONString(j, c.Subject)
	}
	j = appendJSONArray(j, `,"role":`, c.Roles)
	j = appendJSONArray(j, `,"webpubsub.group":`, c.Groups)
	j = append(j, '}')

	enc := base64.RawURLEncoding
	buf := make([]byte, 0, len(hs256Header)+1+enc.EncodedLen(len(j))+1+43)
	buf = append(buf, hs256Header...)
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, j)
	sig, err := jwt.SigningMethodHS256.Sign(string(buf), key)
	if err != nil {
		return "", errors.New("webpubsub: cannot sign the client access token")
	}
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, sig)
	return string(buf), nil
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

// appendJSONString appends s as a JSON string, as encoding/json writes it
// without HTML escaping: invalid UTF-8 becomes U+FFFD.
func appendJSONString(j []byte, s string) []byte {
	const hex = "0123456789abcdef"
	j = append(j, '"')
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
	return append(j, '"')
}
