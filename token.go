package webpubsub

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/golang-jwt/jwt/v5"
	"github.com/gowebpubsub/webpubsub/internal/auth"
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

// GetClientAccessTokenOptions are the optional parameters of
// ServiceClient.GetClientAccessToken. The zero value (or nil) gives an
// anonymous token for the default endpoint, valid for one hour.
type GetClientAccessTokenOptions struct {
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

// GetClientAccessTokenResponse is what a client needs to connect. Token and URL are
// secrets (URL carries the token in its access_token query parameter):
// String and GoString redact them.
type GetClientAccessTokenResponse struct {
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
func (t GetClientAccessTokenResponse) String() string {
	return "GetClientAccessTokenResponse{BaseURL: " + t.BaseURL + ", Token: REDACTED, ExpiresOn: " + t.ExpiresOn.UTC().Format(time.RFC3339) + "}"
}

// GoString is String, so %#v cannot reveal the token.
func (t GetClientAccessTokenResponse) GoString() string { return t.String() }

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
func (c *ServiceClient) GetClientAccessToken(ctx context.Context, options *GetClientAccessTokenOptions) (GetClientAccessTokenResponse, error) {
	options = orZero(options)
	var out GetClientAccessTokenResponse
	err := c.call(ctx, "ServiceClient.GetClientAccessToken", func(ctx context.Context) error {
		path, ok := auth.ClientPath(string(options.ClientProtocol))
		if !ok {
			return &ValidationError{Name: "ClientProtocol", Value: string(options.ClientProtocol), Reason: "must be default, mqtt or socketio"}
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
		urls := c.clientURLs[path]
		out.BaseURL = urls.base
		if c.signing != nil {
			return c.signClientToken(&out, options, urls.aud, now, lifetime)
		}
		if len(options.JWTHeaders) > 0 {
			return &ValidationError{Name: "JWTHeaders", Reason: "cannot be used with Entra ID: the service signs the token"}
		}
		out.Token, out.ExpiresOn, err = c.generateToken(ctx, options, now, lifetime)
		if err != nil {
			return err
		}
		out.URL = out.BaseURL + "?access_token=" + out.Token
		return nil
	})
	if err != nil {
		return GetClientAccessTokenResponse{}, err
	}
	return out, nil
}

// tokenLifetime resolves ExpiresAfter / ExpiresAt.
func tokenLifetime(o *GetClientAccessTokenOptions, now time.Time) (time.Duration, error) {
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

// signClientToken signs a client token with the access key and fills
// out's Token, URL and ExpiresOn.
func (c *ServiceClient) signClientToken(out *GetClientAccessTokenResponse, o *GetClientAccessTokenOptions, aud string, now time.Time, lifetime time.Duration) error {
	exp := now.Add(lifetime)
	if !o.ExpiresAt.IsZero() {
		exp = o.ExpiresAt
	}
	claims := auth.Claims{
		Audience:  aud,
		IssuedAt:  now.Unix(),
		ExpiresAt: exp.Unix(),
		Subject:   o.UserID,
		Roles:     o.Roles,
		Groups:    o.Groups,
	}
	s := c.signing.Signer()
	if s == nil {
		return errors.New("webpubsub: cannot sign the client access token: the access key cannot be read")
	}
	out.ExpiresOn = time.Unix(claims.ExpiresAt, 0)
	if len(o.JWTHeaders) == 0 {
		out.URL, out.Token = s.SignURL(out.BaseURL, &claims)
		return nil
	}
	for k := range o.JWTHeaders {
		if k == "alg" || k == "typ" {
			return &ValidationError{Name: "JWTHeaders", Value: k, Reason: "cannot override alg or typ"}
		}
	}
	tok, err := s.SignWithHeader(&claims, o.JWTHeaders)
	if err != nil {
		return &ValidationError{Name: "JWTHeaders", Reason: "must hold values that encode as JSON"}
	}
	out.Token = tok
	out.URL = out.BaseURL + "?access_token=" + tok
	return nil
}

// generateToken asks the service for a client token (Entra ID path).
func (c *ServiceClient) generateToken(ctx context.Context, o *GetClientAccessTokenOptions, now time.Time, lifetime time.Duration) (string, time.Time, error) {
	minutes := int(lifetime / time.Minute)
	if minutes < 1 {
		minutes = 1
	}
	q := &query{}
	q.addOpt("userId", o.UserID)
	q.addAll("role", o.Roles)
	q.add("minutesToExpire", strconv.Itoa(minutes))
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
