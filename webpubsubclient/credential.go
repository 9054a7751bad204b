package webpubsubclient

import (
	"context"
	"net/url"
	"strings"
)

// Credential gives the client the client access URL to connect with, for
// example "wss://contoso.webpubsub.azure.com/client/hubs/chat?access_token=…".
// The client calls ClientAccessURL for every new connection (Start, and
// each reconnect after an unrecoverable drop), but not to recover a
// reliable connection, which reuses the URL of the connection it recovers.
//
// Use URLFunc to mint a fresh token for every connection, typically with
// webpubsub.ServiceClient.GetClientAccessToken on your server; use
// StaticURL for a fixed URL.
type Credential interface {
	// ClientAccessURL returns a client access URL. ctx is the context of
	// Start, or the client's own context for reconnects (canceled by Stop).
	ClientAccessURL(ctx context.Context) (string, error)
}

// StaticURL is a Credential that always returns the same client access
// URL. Its token expires (after one hour by default): once it has, every
// new connection fails with a *HandshakeError of status 401, so a client
// that must survive reconnects after that should use URLFunc instead.
// String and GoString redact the token.
type StaticURL string

// ClientAccessURL returns u.
func (u StaticURL) ClientAccessURL(context.Context) (string, error) { return string(u), nil }

// String returns the URL without its query, which holds the token.
func (u StaticURL) String() string { return "StaticURL(" + redactURL(string(u)) + ")" }

// GoString is String, so %#v cannot reveal the token.
func (u StaticURL) GoString() string { return u.String() }

// URLFunc is a Credential backed by a function, called for every new
// connection so that tokens stay fresh:
//
//	cred := webpubsubclient.URLFunc(func(ctx context.Context) (string, error) {
//		tok, err := serviceClient.GetClientAccessToken(ctx, &webpubsub.GetClientAccessTokenOptions{UserID: "alice"})
//		return tok.URL, err
//	})
//
// The function may be called from any goroutine, but never concurrently by
// one Client.
type URLFunc func(ctx context.Context) (string, error)

// ClientAccessURL calls f.
func (f URLFunc) ClientAccessURL(ctx context.Context) (string, error) { return f(ctx) }

// parseClientURL checks a client access URL and returns it with a ws or
// wss scheme. Its errors never contain the URL.
func parseClientURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", &ValidationError{Name: "client access URL", Reason: "is not a valid URL"}
	}
	switch strings.ToLower(u.Scheme) {
	case "ws", "http":
		u.Scheme = "ws"
	case "wss", "https":
		u.Scheme = "wss"
	default:
		return "", &ValidationError{Name: "client access URL", Reason: "must be an absolute ws, wss, http or https URL"}
	}
	if u.Host == "" {
		return "", &ValidationError{Name: "client access URL", Reason: "has no host"}
	}
	if u.User != nil {
		return "", &ValidationError{Name: "client access URL", Reason: "must not contain user information"}
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return "", &ValidationError{Name: "client access URL", Reason: "has a malformed query"}
	}
	if q.Has("awps_connection_id") || q.Has("awps_reconnection_token") {
		return "", &ValidationError{Name: "client access URL", Reason: "must not carry awps_connection_id or awps_reconnection_token; the client adds them to recover a connection"}
	}
	u.Fragment = ""
	u.RawFragment = ""
	return u.String(), nil
}

// recoveryURL is base plus the recovery parameters (awps_connection_id,
// awps_reconnection_token), appended so that the original query stays as it was.
func recoveryURL(base, connectionID, reconnectionToken string) string {
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + "awps_connection_id=" + url.QueryEscape(connectionID) +
		"&awps_reconnection_token=" + url.QueryEscape(reconnectionToken)
}
