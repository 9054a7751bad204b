package webpubsub

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// parseClientToken verifies tok independently with golang-jwt: signature
// with key, HS256 only, and returns header and claims.
func parseClientToken(t *testing.T, tok, key string) (map[string]any, jwt.MapClaims) {
	t.Helper()
	claims := jwt.MapClaims{}
	p := jwt.NewParser(jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}), jwt.WithTimeFunc(fixedClock), jwt.WithIssuedAt(), jwt.WithExpirationRequired())
	parsed, err := p.ParseWithClaims(tok, claims, func(tk *jwt.Token) (any, error) { return []byte(key), nil })
	if err != nil || !parsed.Valid {
		t.Fatalf("token does not verify: %v", err)
	}
	return parsed.Header, claims
}

func TestClientAccessTokenKeyPath(t *testing.T) {
	now := fixedClock()
	tests := []struct {
		name       string
		connStr    string
		hub        string
		opts       *GetClientAccessTokenOptions
		wantBase   string
		wantClaims jwt.MapClaims
		wantHeader map[string]any
	}{
		{
			name: "nil options", connStr: "Endpoint=http://localhost:8080", hub: "hub", opts: nil,
			wantBase:   "ws://localhost:8080/client/hubs/hub",
			wantClaims: jwt.MapClaims{"aud": "http://localhost:8080/client/hubs/hub", "iat": float64(now.Unix()), "exp": float64(now.Unix() + 3600)},
		},
		{
			name: "all claims", connStr: "Endpoint=https://svc.example.com/prefix/", hub: "Chat",
			opts:       &GetClientAccessTokenOptions{UserID: "user 1", Roles: []string{"webpubsub.sendToGroup"}, Groups: []string{"g 1"}, ExpiresAfter: 90 * time.Second},
			wantBase:   "wss://svc.example.com/prefix/client/hubs/Chat",
			wantClaims: jwt.MapClaims{"aud": "https://svc.example.com/prefix/client/hubs/Chat", "iat": float64(now.Unix()), "exp": float64(now.Unix() + 90), "sub": "user 1", "role": []any{"webpubsub.sendToGroup"}, "webpubsub.group": []any{"g 1"}},
		},
		{
			name: "mqtt with ExpiresAt", connStr: "Endpoint=http://[::1];Port=8082", hub: "hub",
			opts:       &GetClientAccessTokenOptions{ClientProtocol: ClientProtocolMQTT, ExpiresAt: now.Add(2 * time.Hour)},
			wantBase:   "ws://[::1]:8082/clients/mqtt/hubs/hub",
			wantClaims: jwt.MapClaims{"aud": "http://[::1]:8082/clients/mqtt/hubs/hub", "iat": float64(now.Unix()), "exp": float64(now.Unix() + 7200)},
		},
		{
			name: "socketio on a ClientEndpoint", connStr: "Endpoint=https://svc.example.com;ClientEndpoint=https://edge.example.com/wps", hub: "hub",
			opts:       &GetClientAccessTokenOptions{ClientProtocol: ClientProtocolSocketIO, UserID: "u"},
			wantBase:   "wss://edge.example.com/wps/clients/socketio/hubs/hub",
			wantClaims: jwt.MapClaims{"aud": "https://svc.example.com/clients/socketio/hubs/hub", "iat": float64(now.Unix()), "exp": float64(now.Unix() + 3600), "sub": "u"},
		},
		{
			name: "kid header", connStr: "Endpoint=https://Svc.Example.com", hub: "hub",
			opts:       &GetClientAccessTokenOptions{JWTHeaders: map[string]any{"kid": "key1"}},
			wantBase:   "wss://Svc.Example.com/client/hubs/hub",
			wantClaims: jwt.MapClaims{"aud": "https://Svc.Example.com/client/hubs/hub", "iat": float64(now.Unix()), "exp": float64(now.Unix() + 3600)},
			wantHeader: map[string]any{"alg": "HS256", "typ": "JWT", "kid": "key1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewServiceClientFromConnectionString(tt.connStr+";AccessKey="+testKey, tt.hub, &ClientOptions{clock: fixedClock, ReverseProxyEndpoint: "https://apim.example.com/x"})
			if err != nil {
				t.Fatal(err)
			}
			tok, err := c.GetClientAccessToken(context.Background(), tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if tok.BaseURL != tt.wantBase || tok.URL != tt.wantBase+"?access_token="+tok.Token {
				t.Errorf("BaseURL %s URL %s, want base %s", tok.BaseURL, strings.Split(tok.URL, "?")[0], tt.wantBase)
			}
			header, claims := parseClientToken(t, tok.Token, testKey)
			if !reflect.DeepEqual(claims, tt.wantClaims) {
				t.Errorf("claims %v, want %v", claims, tt.wantClaims)
			}
			wantHeader := tt.wantHeader
			if wantHeader == nil {
				wantHeader = map[string]any{"alg": "HS256", "typ": "JWT"}
			}
			if !reflect.DeepEqual(header, wantHeader) {
				t.Errorf("header %v, want %v", header, wantHeader)
			}
			if !tok.ExpiresOn.Equal(time.Unix(int64(tt.wantClaims["exp"].(float64)), 0)) {
				t.Errorf("ExpiresOn %v", tok.ExpiresOn)
			}
			// A wrong key does not verify.
			if _, err := jwt.Parse(tok.Token, func(*jwt.Token) (any, error) { return []byte("other"), nil }, jwt.WithTimeFunc(fixedClock)); err == nil {
				t.Error("token verifies with another key")
			}
		})
	}
}

func TestClientAccessTokenErrors(t *testing.T) {
	now := fixedClock()
	tests := []struct {
		name string
		opts GetClientAccessTokenOptions
		want string
	}{
		{"negative", GetClientAccessTokenOptions{ExpiresAfter: -time.Second}, "ExpiresAfter"},
		{"past", GetClientAccessTokenOptions{ExpiresAt: now.Add(-time.Second)}, "future"},
		{"now", GetClientAccessTokenOptions{ExpiresAt: now}, "future"},
		{"both", GetClientAccessTokenOptions{ExpiresAt: now.Add(time.Hour), ExpiresAfter: time.Hour}, "ExpiresAfter"},
		{"blank role", GetClientAccessTokenOptions{Roles: []string{"a", " "}}, "Roles"},
		{"empty role", GetClientAccessTokenOptions{Roles: []string{""}}, "Roles"},
		{"blank group", GetClientAccessTokenOptions{Groups: []string{"\t"}}, "white space"},
		{"empty group", GetClientAccessTokenOptions{Groups: []string{""}}, "Groups"},
		{"protocol", GetClientAccessTokenOptions{ClientProtocol: "signalr"}, "ClientProtocol"},
		{"alg header", GetClientAccessTokenOptions{JWTHeaders: map[string]any{"alg": "none"}}, "alg"},
		{"bad header value", GetClientAccessTokenOptions{JWTHeaders: map[string]any{"kid": make(chan int)}}, "JWTHeaders"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestClient(t, noRequests(t))
			_, err := c.GetClientAccessToken(context.Background(), &tt.opts)
			if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error about %s", err, tt.want)
			}
			if strings.Contains(err.Error(), testKey) {
				t.Error("error reveals the key")
			}
		})
	}
}

func TestClientAccessTokenEntra(t *testing.T) {
	exp := fixedClock().Add(7 * time.Minute).Unix()
	svcToken := fakeServiceToken(t, exp)
	var got []*http.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r)
		if r.Header.Get("Authorization") != "Bearer fake-entra-access-token" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"token": svcToken})
	}))
	defer srv.Close()
	opts := &ClientOptions{clock: fixedClock, ReverseProxyEndpoint: srv.URL + "/gw"}
	opts.InsecureAllowCredentialWithHTTP = true
	c, err := NewServiceClient("http://svc.example.com", "hub", &fakeTokenCredential{}, opts)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		opts      *GetClientAccessTokenOptions
		wantQuery string
		wantBase  string
	}{
		{"nil options", nil, "api-version=2024-12-01&minutesToExpire=60", "ws://svc.example.com/client/hubs/hub"},
		{"sub-minute rounds up", &GetClientAccessTokenOptions{ExpiresAfter: 10 * time.Second}, "api-version=2024-12-01&minutesToExpire=1", "ws://svc.example.com/client/hubs/hub"},
		{"minutes round down", &GetClientAccessTokenOptions{ExpiresAfter: 150 * time.Second}, "api-version=2024-12-01&minutesToExpire=2", "ws://svc.example.com/client/hubs/hub"},
		{"ExpiresAt", &GetClientAccessTokenOptions{ExpiresAt: fixedClock().Add(30 * time.Minute)}, "api-version=2024-12-01&minutesToExpire=30", "ws://svc.example.com/client/hubs/hub"},
		{"all", &GetClientAccessTokenOptions{UserID: "u 1", Roles: []string{"a", "b"}, Groups: []string{"g&1"}, ClientProtocol: ClientProtocolSocketIO},
			"api-version=2024-12-01&userId=u%201&role=a&role=b&minutesToExpire=60&group=g%261&clientType=socketio", "ws://svc.example.com/clients/socketio/hubs/hub"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got = nil
			tok, err := c.GetClientAccessToken(context.Background(), tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0].Method != http.MethodPost || got[0].URL.Path != "/gw/api/hubs/hub/:generateToken" || got[0].URL.RawQuery != tt.wantQuery {
				t.Fatalf("request %s %s?%s", got[0].Method, got[0].URL.Path, got[0].URL.RawQuery)
			}
			if a := got[0].Header.Get("Accept"); a != "application/json, text/json" {
				t.Errorf("Accept %q", a)
			}
			if tok.Token != svcToken || tok.BaseURL != tt.wantBase || tok.URL != tt.wantBase+"?access_token="+svcToken {
				t.Errorf("token result %s", tok)
			}
			if tok.ExpiresOn.Unix() != exp {
				t.Errorf("ExpiresOn %v, want the token's exp", tok.ExpiresOn)
			}
		})
	}
	if _, err := c.GetClientAccessToken(context.Background(), &GetClientAccessTokenOptions{JWTHeaders: map[string]any{"kid": "k"}}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("JWTHeaders with Entra ID: %v", err)
	}
}

// fakeServiceToken is a token as the service issues one (signed with a key
// the client does not know).
func fakeServiceToken(t *testing.T, exp int64) string {
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"exp": exp, "aud": "https://svc/client/hubs/hub"}).SignedString([]byte("service-side-key"))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestClientAccessTokenEntraServiceError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("x-ms-error-code", "Error.BadRequest")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"code":"Error.BadRequest","message":"MinutesToExpire must be greater than 0"}`)
	}))
	defer srv.Close()
	opts := &ClientOptions{}
	opts.InsecureAllowCredentialWithHTTP = true
	opts.Retry.MaxRetries = -1
	c, _ := NewServiceClient(srv.URL, "hub", &fakeTokenCredential{}, opts)
	if _, err := c.GetClientAccessToken(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "Error.BadRequest") {
		t.Fatalf("got %v", err)
	}
}

// BenchmarkGetClientAccessToken signs a client token with a key.
func BenchmarkGetClientAccessToken(b *testing.B) {
	c := newTestClient(b, nil)
	opts := &GetClientAccessTokenOptions{UserID: "user1", Roles: []string{"webpubsub.sendToGroup"}, Groups: []string{"g1"}}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.GetClientAccessToken(ctx, opts); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRawHS256 is the physical limit of the above: HMAC-SHA256 and
// base64url over the same header and payload bytes, with nothing else.
func BenchmarkRawHS256(b *testing.B) {
	header := []byte(`{"alg":"HS256","typ":"JWT"}`)
	payload := []byte(`{"aud":"https://fake.webpubsub.azure.com/client/hubs/hub","iat":1700000000,"exp":1700003600,"sub":"user1","role":["webpubsub.sendToGroup"],"webpubsub.group":["g1"]}`)
	key := []byte(testKey)
	enc := base64.RawURLEncoding
	b.ReportAllocs()
	for b.Loop() {
		buf := make([]byte, 0, enc.EncodedLen(len(header))+enc.EncodedLen(len(payload))+46)
		buf = enc.AppendEncode(buf, header)
		buf = append(buf, '.')
		buf = enc.AppendEncode(buf, payload)
		m := hmac.New(sha256.New, key)
		m.Write(buf)
		buf = append(buf, '.')
		buf = enc.AppendEncode(buf, m.Sum(nil))
		_ = string(buf)
	}
}
