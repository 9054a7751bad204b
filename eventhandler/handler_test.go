package eventhandler

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/gowebpubsub/webpubsub/internal/cloudevents"
	"github.com/gowebpubsub/webpubsub/internal/names"
)

const (
	emptyConnectBody = `{"claims":{},"query":{},"headers":{},"subprotocols":[],"clientCertificates":[]}`
	jsonCT           = "application/json; charset=utf-8"
)

func TestNewValidation(t *testing.T) {
	ok := func(context.Context, *UserEventRequest) (*UserEventResponse, error) { return nil, nil }
	tests := []struct {
		name string
		hub  string
		opts *Options
		// wantErr is the whole message; "" means success.
		wantErr string
		// wantName is the Name of the *ValidationError, or "" for a
		// *ConnectionStringError.
		wantName string
	}{
		{"nil options", "chat", nil, "", ""},
		{"hub with allowed punctuation", "a_b`,.[]", &Options{}, "", ""},
		{"empty hub", "", nil, "invalid hub: " + names.HubReason, "hub"},
		{"hub starting with a digit", "1chat", nil, `invalid hub "1chat": ` + names.HubReason, "hub"},
		{"hub with a slash", "a/b", nil, `invalid hub "a/b": ` + names.HubReason, "hub"},
		{"hub too long", "h" + strings.Repeat("x", 128), nil, `invalid hub "h` + strings.Repeat("x", 79) + `...": ` + names.HubReason, "hub"},
		{"valid event names", "chat", &Options{UserEvents: map[string]UserEventFunc{"message": ok, "a.b-c_d": ok}}, "", ""},
		{"invalid event name", "chat", &Options{UserEvents: map[string]UserEventFunc{"bad name": ok}}, `invalid UserEvents key "bad name": ` + names.EventReason, "UserEvents key"},
		{"nil event callback", "chat", &Options{UserEvents: map[string]UserEventFunc{"echo": nil}}, `invalid UserEvents["echo"]: must not be a nil callback`, `UserEvents["echo"]`},
		{"negative body limit", "chat", &Options{MaxBodyBytes: -1}, `invalid MaxBodyBytes "-1": must not be negative (0 means DefaultMaxBodyBytes)`, "MaxBodyBytes"},
		{"empty access key", "chat", &Options{AccessKeys: []string{primaryKey, " "}}, "invalid AccessKeys[1]: must not be empty or only white space", "AccessKeys[1]"},
		{"bad connection string", "chat", &Options{ConnectionString: "Endpoint=http://x;" + primaryKey},
			"invalid connection string: segment 2 is not of the form Key=Value; expected Endpoint=<http or https URL>;AccessKey=<key>, with optional Port (1..65535), Version (1.0) and ClientEndpoint", ""},
		{"connection string without key", "chat", &Options{ConnectionString: "Endpoint=http://x"},
			"invalid connection string: AccessKey is missing or empty; expected Endpoint=<http or https URL>;AccessKey=<key>, with optional Port (1..65535), Version (1.0) and ClientEndpoint", ""},
		{"connection string with a bad endpoint", "chat", &Options{ConnectionString: "AccessKey=" + primaryKey + ";Endpoint=ftp://x"},
			"invalid connection string: Endpoint must be an absolute http or https URL with a host, an optional port 1..65535 and path, and no query, fragment or user info", ""},
		{"empty origin", "chat", &Options{AllowedOrigins: []string{""}}, `invalid AllowedOrigins[0]: must not be empty; use "*", an endpoint URL such as https://contoso.webpubsub.azure.com or a host such as localhost:8080`, "AllowedOrigins[0]"},
		{"origin URL without host", "chat", &Options{AllowedOrigins: []string{"https://"}}, `invalid AllowedOrigins[0] "https://": must be an absolute URL with a host`, "AllowedOrigins[0]"},
		{"origin URL with a password", "chat", &Options{AllowedOrigins: []string{"https://u:" + primaryKey + "@"}}, `invalid AllowedOrigins[0]: must be an absolute URL with a host`, "AllowedOrigins[0]"},
		{"origin host with a path", "chat", &Options{AllowedOrigins: []string{"*", "host/path"}}, `invalid AllowedOrigins[1] "host/path": must be "*", an absolute URL or a host name with an optional port`, "AllowedOrigins[1]"},
		{"origin with a space", "chat", &Options{AllowedOrigins: []string{"a b"}}, `invalid AllowedOrigins[0] "a b": must be "*", an absolute URL or a host name with an optional port`, "AllowedOrigins[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts
			if opts != nil {
				lg, _ := testLogger()
				opts.Logger = lg
			}
			h, err := New(tt.hub, opts)
			if tt.wantErr == "" {
				if err != nil || h == nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if h != nil || err == nil || err.Error() != tt.wantErr {
				t.Fatalf("New error %v,\nwant %s", err, tt.wantErr)
			}
			if !errors.Is(err, ErrInvalidArgument) {
				t.Fatalf("%v does not wrap ErrInvalidArgument", err)
			}
			var ve *ValidationError
			var ce *ConnectionStringError
			switch {
			case tt.wantName == "" && !errors.As(err, &ce):
				t.Fatalf("%T is not a *ConnectionStringError", err)
			case tt.wantName == "" && !errors.Is(err, ErrInvalidConnectionString):
				t.Fatalf("%v does not wrap ErrInvalidConnectionString", err)
			case tt.wantName != "" && (!errors.As(err, &ve) || ve.Name != tt.wantName):
				t.Fatalf("%#v is not a *ValidationError named %s", err, tt.wantName)
			}
			if strings.Contains(err.Error(), primaryKey) {
				t.Fatalf("the error contains the access key: %v", err)
			}
		})
	}
}

func TestNoKeyWarning(t *testing.T) {
	_, logs := mustNew(t, nil)
	if !strings.Contains(logs.String(), "no access key configured") {
		t.Fatalf("no warning logged: %q", logs.String())
	}
	_, logs = mustNew(t, &Options{AccessKeys: []string{primaryKey}})
	if strings.Contains(logs.String(), "no access key") {
		t.Fatalf("unexpected warning with a key: %q", logs.String())
	}
}

func TestPaths(t *testing.T) {
	if got := DefaultPath("Chat"); got != "/api/webpubsub/hubs/chat/" {
		t.Fatalf("DefaultPath = %q", got)
	}
	h, _ := mustNew(t, nil)
	if h.Hub() != "chat" || h.Path() != "/api/webpubsub/hubs/chat/" {
		t.Fatalf("Hub/Path = %q %q", h.Hub(), h.Path())
	}
	// Mounted on a ServeMux, the path matches sub-paths ({event} in the URL
	// template) and percent-encoded punctuation of valid hub names.
	for _, hub := range []string{"chat", "Room_1", "a_b`,.[]"} {
		lg, _ := testLogger()
		h, err := New(hub, &Options{Logger: lg})
		if err != nil {
			t.Fatal(err)
		}
		mux := http.NewServeMux()
		mux.Handle(h.Path(), h)
		escaped := "/api/webpubsub/hubs/" + url.PathEscape(strings.ToLower(hub))
		for _, p := range []string{escaped + "/", escaped + "/connect?code=1"} {
			r := httptest.NewRequest(http.MethodOptions, p, nil)
			r.Header.Set(HeaderRequestOrigin, "localhost:8080")
			if resp := serve(mux, r); resp.StatusCode != 200 {
				t.Fatalf("%s: status %d", p, resp.StatusCode)
			}
		}
	}
}

func TestSignature(t *testing.T) {
	conn1Primary := "sha256=8de7281e588e23b0a30a7180ffa240257b8176e983004c240c9f3f7a7233c993"
	secondarySig := "sha256=c0efcf1aa2c218015ed6294b68cce849e78eee4f7bf881239692eb2455e1eb89"
	tests := []struct {
		name    string
		keys    []string
		connStr string
		headers []string // ce-signature lines; nil means absent
		want    int
	}{
		{"valid, one key", []string{primaryKey}, "", []string{exampleSig}, 200},
		{"upper-case hex", []string{primaryKey}, "", []string{strings.ToUpper(exampleSig[:7]) + strings.ToUpper(exampleSig[7:])}, 200},
		{"second entry matches", []string{primaryKey}, "", []string{"sha256=deadbeef, " + exampleSig}, 200},
		{"tab around entries", []string{primaryKey}, "", []string{"\t" + exampleSig + "\t,sha256=00"}, 200},
		{"another connection's signature", []string{primaryKey}, "", []string{conn1Primary}, 401},
		{"secondary key matches", []string{primaryKey, secondaryKey}, "", []string{secondarySig}, 200},
		{"primary and secondary entries, secondary key only", []string{secondaryKey}, "", []string{exampleSig + "," + secondarySig}, 200},
		{"secondary signature, primary key only", []string{primaryKey}, "", []string{secondarySig}, 401},
		{"two header lines", []string{primaryKey}, "", []string{"sha256=00", exampleSig}, 200},
		{"missing header", []string{primaryKey}, "", nil, 401},
		{"empty header", []string{primaryKey}, "", []string{""}, 401},
		{"wrong algorithm", []string{primaryKey}, "", []string{"sha1=" + exampleSig[7:]}, 401},
		{"bare hex", []string{primaryKey}, "", []string{exampleSig[7:]}, 401},
		{"not hex", []string{primaryKey}, "", []string{"sha256=zz" + exampleSig[9:]}, 401},
		{"truncated", []string{primaryKey}, "", []string{exampleSig[:len(exampleSig)-2]}, 401},
		{"key from a connection string", nil, "Endpoint=http://localhost:8080;AccessKey=" + primaryKey + ";Version=1.0;", []string{exampleSig}, 200},
		{"connection string, wrong signature", nil, "Endpoint=http://localhost:8080;AccessKey=" + primaryKey, []string{secondarySig}, 401},
		{"connection string plus secondary key", []string{secondaryKey}, "Endpoint=http://localhost:8080;AccessKey=" + primaryKey, []string{secondarySig}, 200},
		{"no keys: missing header accepted", nil, "", nil, 200},
		{"no keys: wrong signature accepted", nil, "", []string{conn1Primary}, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			called := false
			h, logs := mustNew(t, &Options{
				AccessKeys: tt.keys, ConnectionString: tt.connStr, WaitForNonBlockingCallbacks: true,
				Connected: func(context.Context, *ConnectedRequest) error { called = true; return nil },
			})
			r := eventRequest(TypeConnected, jsonCT, "{}", HeaderSignature, "")
			for _, v := range tt.headers {
				r.Header.Add(HeaderSignature, v)
			}
			resp := serve(h, r)
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.want)
			}
			if called != (tt.want == 200) {
				t.Fatalf("callback called = %v", called)
			}
			body := readBody(t, resp)
			for _, secret := range append([]string{primaryKey, secondaryKey, exampleSig[7:], secondarySig[7:]}, tt.headers...) {
				if secret != "" && (strings.Contains(logs.String(), secret) || strings.Contains(body, secret)) {
					t.Fatalf("a key or signature leaked: logs %q, body %q", logs.String(), body)
				}
			}
		})
	}
}

func TestAbuseProtection(t *testing.T) {
	tests := []struct {
		name        string
		allowed     []string
		origin      string // "" means no header
		wantStatus  int
		wantAllowed string // "" means no WebHook-Allowed-Origin header
	}{
		{"no list", nil, "localhost:8080", 200, "*"},
		{"no list, service host", nil, "xxx.webpubsub.azure.com", 200, "*"},
		{"missing origin", nil, "", 400, ""},
		{"missing origin with a list", []string{"localhost:8080"}, "", 400, ""},
		{"star", []string{"*"}, "anything.example", 200, "*"},
		{"host with port", []string{"localhost:8080"}, "localhost:8080", 200, "localhost:8080"},
		{"other port", []string{"localhost:8080"}, "localhost:8081", 400, ""},
		{"endpoint URL", []string{"https://a.webpubsub.azure.com"}, "a.webpubsub.azure.com", 200, "a.webpubsub.azure.com"},
		{"case-insensitive", []string{"https://a.webpubsub.azure.com"}, "A.WebPubSub.Azure.COM", 200, "A.WebPubSub.Azure.COM"},
		{"URL with default port and path", []string{"https://b.webpubsub.azure.com:443/x"}, "b.webpubsub.azure.com", 200, "b.webpubsub.azure.com"},
		{"http URL with default port", []string{"http://localhost:80"}, "localhost", 200, "localhost"},
		{"URL with other port", []string{"http://localhost:8080/"}, "localhost:8080", 200, "localhost:8080"},
		{"not allowed", []string{"https://a.webpubsub.azure.com", "localhost:8080"}, "evil.example", 400, ""},
		{"suffix is not a match", []string{"a.webpubsub.azure.com"}, "xa.webpubsub.azure.com", 400, ""},
		{"list and star", []string{"localhost:8080", "*"}, "evil.example", 200, "*"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, _ := mustNew(t, &Options{AllowedOrigins: tt.allowed, AccessKeys: []string{primaryKey}})
			r := httptest.NewRequest(http.MethodOptions, DefaultPath("chat"), nil)
			if tt.origin != "" {
				r.Header.Set(HeaderRequestOrigin, tt.origin)
			}
			resp := serve(h, r)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			got := resp.Header.Values(HeaderAllowedOrigin)
			switch {
			case tt.wantAllowed == "" && len(got) != 0:
				t.Fatalf("WebHook-Allowed-Origin = %q, want none", got)
			case tt.wantAllowed != "" && (len(got) != 1 || got[0] != tt.wantAllowed):
				t.Fatalf("WebHook-Allowed-Origin = %q, want %q", got, tt.wantAllowed)
			}
		})
	}
}

func TestRequestRejections(t *testing.T) {
	huge := strings.Repeat("a", 2000)
	tests := []struct {
		name       string
		req        func() *http.Request
		wantStatus int
		wantBody   string // substring of the response body
	}{
		{"GET", func() *http.Request { return httptest.NewRequest(http.MethodGet, DefaultPath("chat"), nil) }, 405, "only OPTIONS and POST"},
		{"PUT", func() *http.Request {
			r := eventRequest(TypeConnected, jsonCT, "{}")
			r.Method = http.MethodPut
			return r
		}, 405, ""},
		{"another hub", func() *http.Request { return eventRequest(TypeConnected, jsonCT, "{}", cloudevents.HeaderHub, "other") }, 404, "does not serve"},
		{"hub in another case", func() *http.Request { return eventRequest(TypeConnected, jsonCT, "{}", cloudevents.HeaderHub, "CHAT") }, 200, ""},
		{"missing ce-hub", func() *http.Request { return eventRequest(TypeConnected, jsonCT, "{}", cloudevents.HeaderHub, "") }, 400, "ce-hub"},
		{"missing ce-type", func() *http.Request { return eventRequest(TypeConnected, jsonCT, "{}", cloudevents.HeaderType, "") }, 400, "ce-type"},
		{"unknown ce-type", func() *http.Request { return eventRequest("azure.webpubsub.other.x", jsonCT, `{}`) }, 400, "unsupported ce-type"},
		{"presence without a group", func() *http.Request { return eventRequest(TypeGroupJoined, jsonCT, `{}`) }, 400, "no group"},
		{"user prefix without a name", func() *http.Request { return eventRequest(TypeUserPrefix, "text/plain", "x") }, 400, "unsupported ce-type"},
		{"missing ce-connectionId", func() *http.Request {
			return eventRequest(TypeConnected, jsonCT, "{}", cloudevents.HeaderConnectionID, "")
		}, 400, "ce-connectionId"},
		{"connect: empty body", func() *http.Request { return eventRequest(TypeConnect, jsonCT, "") }, 400, "empty"},
		{"connect: truncated JSON", func() *http.Request { return eventRequest(TypeConnect, jsonCT, `{"claims":`) }, 400, "not valid JSON"},
		{"connect: array", func() *http.Request { return eventRequest(TypeConnect, jsonCT, `[]`) }, 400, "not a JSON object"},
		{"connect: null", func() *http.Request { return eventRequest(TypeConnect, jsonCT, `null`) }, 400, "not a JSON object"},
		{"connect: trailing data", func() *http.Request { return eventRequest(TypeConnect, jsonCT, `{} {}`) }, 400, "not valid JSON"},
		{"connect: claim value is a number", func() *http.Request {
			return eventRequest(TypeConnect, jsonCT, `{"claims":{"SECRET-CLAIM":[1]}}`)
		}, 400, "not a string or a list of strings"},
		{"connect: subprotocols is a string", func() *http.Request { return eventRequest(TypeConnect, jsonCT, `{"subprotocols":"x"}`) }, 400, "subprotocols"},
		{"connect: certificates wrong", func() *http.Request {
			return eventRequest(TypeConnect, jsonCT, `{"clientCertificates":[{"thumbprint":1}]}`)
		}, 400, "wrong type"},
		{"connect: MQTT password not base64", func() *http.Request {
			return eventRequest(TypeConnect, jsonCT, `{"mqtt":{"protocolVersion":4,"password":"%%%"}}`)
		}, 400, "mqtt.password"},
		{"connect: MQTT protocolVersion not an integer", func() *http.Request {
			return eventRequest(TypeConnect, jsonCT, `{"mqtt":{"protocolVersion":4.5}}`)
		}, 400, "wrong type"},
		{"connected: not JSON", func() *http.Request { return eventRequest(TypeConnected, jsonCT, "nope") }, 400, "not a JSON object"},
		{"connected: empty body is fine", func() *http.Request { return eventRequest(TypeConnected, jsonCT, "") }, 200, ""},
		{"disconnected: reason is a number", func() *http.Request { return eventRequest(TypeDisconnected, jsonCT, `{"reason":5}`) }, 400, "reason"},
		{"disconnected: broken JSON", func() *http.Request { return eventRequest(TypeDisconnected, jsonCT, `{"reason":"x"`) }, 400, "not valid JSON"},
		{"disconnected: empty body is fine", func() *http.Request { return eventRequest(TypeDisconnected, jsonCT, "") }, 200, ""},
		{"user event: invalid JSON", func() *http.Request { return eventRequest(TypeUserPrefix+"echo", "application/json", "{oops") }, 400, "not valid JSON"},
		{"user event: HTML", func() *http.Request { return eventRequest(TypeUserPrefix+"echo", "text/html", "<p>") }, 415, "Content-Type"},
		{"user event: no content type", func() *http.Request { return eventRequest(TypeUserPrefix+"echo", "", "x") }, 415, "Content-Type"},
		{"user event: unparsable content type", func() *http.Request { return eventRequest(TypeUserPrefix+"echo", "text/plain; ;;=", "x") }, 415, ""},
		{"body over the limit, Content-Length", func() *http.Request { return eventRequest(TypeUserPrefix+"echo", "text/plain", huge) }, 413, "larger than 1024 bytes"},
		{"body over the limit, streamed", func() *http.Request {
			r := eventRequest(TypeUserPrefix+"echo", "text/plain", huge)
			r.ContentLength = -1
			return r
		}, 413, "larger than 1024 bytes"},
		{"body at the limit", func() *http.Request { return eventRequest(TypeUserPrefix+"echo", "text/plain", huge[:1024]) }, 204, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			h, _ := mustNew(t, &Options{
				AccessKeys: []string{primaryKey}, MaxBodyBytes: 1024, WaitForNonBlockingCallbacks: true,
				Connect:      func(context.Context, *ConnectRequest) (*ConnectResponse, error) { calls++; return nil, nil },
				Connected:    func(context.Context, *ConnectedRequest) error { calls++; return nil },
				Disconnected: func(context.Context, *DisconnectedRequest) error { calls++; return nil },
				UserEvent:    func(context.Context, *UserEventRequest) (*UserEventResponse, error) { calls++; return nil, nil },
			})
			resp := serve(h, tt.req())
			body := readBody(t, resp)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d (body %q)", resp.StatusCode, tt.wantStatus, body)
			}
			if !strings.Contains(body, tt.wantBody) {
				t.Fatalf("body %q, want it to contain %q", body, tt.wantBody)
			}
			if resp.StatusCode >= 400 {
				if calls != 0 {
					t.Fatal("a callback ran for a refused request")
				}
				if ct := resp.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
					t.Fatalf("Content-Type %q", ct)
				}
				if strings.Contains(body, "SECRET") || strings.Contains(body, exampleSig[7:]) {
					t.Fatalf("the body echoes request content: %q", body)
				}
			}
			if tt.name == "GET" && resp.Header.Get("Allow") != "OPTIONS, POST" {
				t.Fatalf("Allow = %q", resp.Header.Get("Allow"))
			}
		})
	}
}

func TestDefaultBodyLimit(t *testing.T) {
	h, _ := mustNew(t, nil)
	r := eventRequest(TypeUserPrefix+"echo", "application/octet-stream", "")
	r.ContentLength = DefaultMaxBodyBytes + 1
	if resp := serve(h, r); resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d, want 413", resp.StatusCode)
	}
}

func TestConnectResponses(t *testing.T) {
	tests := []struct {
		name      string
		connect   ConnectFunc // nil: no callback
		wantCode  int
		wantCT    string
		wantBody  string // JSON compared by value when wantCT is JSON
		wantState string // "" means no ce-connectionState
		wantLog   string
	}{
		{"no callback", nil, 204, "", "", "", ""},
		{"nil response", func(context.Context, *ConnectRequest) (*ConnectResponse, error) { return nil, nil }, 204, "", "", "", ""},
		{"empty response", func(context.Context, *ConnectRequest) (*ConnectResponse, error) {
			return &ConnectResponse{Groups: []string{}}, nil
		}, 204, "", "", "", ""},
		{"user id", func(context.Context, *ConnectRequest) (*ConnectResponse, error) {
			return &ConnectResponse{UserID: "u1"}, nil
		}, 200, jsonCT, `{"userId":"u1"}`, "", ""},
		{"empty roles are sent", func(context.Context, *ConnectRequest) (*ConnectResponse, error) {
			return &ConnectResponse{Roles: []string{}}, nil
		}, 200, jsonCT, `{"roles":[]}`, "", ""},
		{"all fields", func(context.Context, *ConnectRequest) (*ConnectResponse, error) {
			return &ConnectResponse{UserID: "u", Groups: []string{"g"}, Roles: []string{"r"}, Subprotocol: "json.webpubsub.azure.v1"}, nil
		}, 200, jsonCT, `{"userId":"u","groups":["g"],"roles":["r"],"subprotocol":"json.webpubsub.azure.v1"}`, "", ""},
		{"state only", func(_ context.Context, r *ConnectRequest) (*ConnectResponse, error) {
			return nil, r.SetState("k", map[string]int{"n": 1})
		}, 204, "", "", "eyJrIjp7Im4iOjF9fQ==", ""},
		{"clear states", func(_ context.Context, r *ConnectRequest) (*ConnectResponse, error) {
			r.ClearStates()
			return nil, nil
		}, 204, "", "", "e30=", ""},
		{"delete of an absent state", func(_ context.Context, r *ConnectRequest) (*ConnectResponse, error) {
			r.DeleteState("nope")
			return nil, nil
		}, 204, "", "", "", ""},
		{"reject 401", func(context.Context, *ConnectRequest) (*ConnectResponse, error) {
			return nil, Reject(401, "Invalid credentials")
		}, 401, "text/plain; charset=utf-8", "Invalid credentials", "", ""},
		{"reject 403", func(context.Context, *ConnectRequest) (*ConnectResponse, error) { return nil, Reject(403, "no") }, 403, "text/plain; charset=utf-8", "no", "", ""},
		{"reject 400", func(context.Context, *ConnectRequest) (*ConnectResponse, error) { return nil, Reject(400, "bad") }, 400, "text/plain; charset=utf-8", "bad", "", ""},
		{"reject 500", func(context.Context, *ConnectRequest) (*ConnectResponse, error) { return nil, Reject(500, "down") }, 500, "text/plain; charset=utf-8", "down", "", ""},
		{"reject default status", func(context.Context, *ConnectRequest) (*ConnectResponse, error) {
			return nil, &RejectError{Detail: "who?"}
		}, 401, "text/plain; charset=utf-8", "who?", "", ""},
		{"reject wrapped", func(context.Context, *ConnectRequest) (*ConnectResponse, error) {
			return nil, fmt.Errorf("auth: %w", Reject(403, "banned"))
		}, 403, "text/plain; charset=utf-8", "banned", "", ""},
		{"reject with a status not allowed", func(context.Context, *ConnectRequest) (*ConnectResponse, error) {
			return nil, Reject(418, "teapot")
		}, 500, "text/plain; charset=utf-8", genericFailure, "", "not 400, 401, 403 or 500"},
		{"rejection drops state changes", func(_ context.Context, r *ConnectRequest) (*ConnectResponse, error) {
			_ = r.SetState("k", 1)
			return nil, Reject(401, "x")
		}, 401, "text/plain; charset=utf-8", "x", "", ""},
		{"other error", func(context.Context, *ConnectRequest) (*ConnectResponse, error) {
			return nil, errors.New("token store at 10.0.0.7 unreachable")
		}, 500, "text/plain; charset=utf-8", genericFailure, "", "10.0.0.7 unreachable"},
		{"panic", func(context.Context, *ConnectRequest) (*ConnectResponse, error) {
			panic(fmt.Sprintf("boom %d", 1))
		}, 500, "text/plain; charset=utf-8", genericFailure, "", "callback panicked"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, logs := mustNew(t, &Options{AccessKeys: []string{primaryKey}, Connect: tt.connect})
			resp := serve(h, eventRequest(TypeConnect, jsonCT, emptyConnectBody))
			body := readBody(t, resp)
			if resp.StatusCode != tt.wantCode {
				t.Fatalf("status %d, want %d (body %q)", resp.StatusCode, tt.wantCode, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != tt.wantCT {
				t.Fatalf("Content-Type %q, want %q", ct, tt.wantCT)
			}
			if tt.wantCT == jsonCT {
				if !jsonEqual([]byte(body), []byte(tt.wantBody)) {
					t.Fatalf("body %s, want %s", body, tt.wantBody)
				}
			} else if body != tt.wantBody {
				t.Fatalf("body %q, want %q", body, tt.wantBody)
			}
			if got := resp.Header.Get(HeaderConnectionState); got != tt.wantState {
				t.Fatalf("ce-connectionState %q, want %q", got, tt.wantState)
			}
			if tt.wantLog != "" && !strings.Contains(logs.String(), tt.wantLog) {
				t.Fatalf("log %q, want it to contain %q", logs.String(), tt.wantLog)
			}
		})
	}
}

func TestConnectRequestFields(t *testing.T) {
	var got *ConnectRequest
	h, _ := mustNew(t, &Options{Connect: func(_ context.Context, r *ConnectRequest) (*ConnectResponse, error) {
		got = r
		return nil, nil
	}})
	body := `{"claims":{"sub":"bob","role":["a","b"]},"query":{"lang":["en","fr"]},` +
		`"headers":{"sec-websocket-protocol":["p1"],"Sec-WebSocket-Protocol":["p2"],"X-Empty":null},` +
		`"subprotocols":["p1","p2"],"clientCertificates":[{"thumbprint":"3ce9","content":"-----BEGIN CERTIFICATE-----"}],"unknown":1}`
	resp := serve(h, eventRequest(TypeConnect, jsonCT, body, cloudevents.HeaderUserID, ""))
	if resp.StatusCode != 204 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if got.UserID != "" || got.EventName != "connect" || got.ConnectionID != exampleConn {
		t.Fatalf("context %+v", got.ConnectionContext)
	}
	if fmt.Sprint(got.Claims["sub"]) != "[bob]" || fmt.Sprint(got.Claims["role"]) != "[a b]" {
		t.Fatalf("claims %v", got.Claims)
	}
	if got.Query.Get("lang") != "en" || len(got.Query["lang"]) != 2 {
		t.Fatalf("query %v", got.Query)
	}
	// Names are canonicalized and merged in sorted order of the original names.
	if v := got.Headers.Values("Sec-Websocket-Protocol"); fmt.Sprint(v) != "[p2 p1]" {
		t.Fatalf("headers %v", got.Headers)
	}
	if fmt.Sprint(got.Subprotocols) != "[p1 p2]" || len(got.ClientCertificates) != 1 || got.ClientCertificates[0].Thumbprint != "3ce9" {
		t.Fatalf("subprotocols %v, certificates %v", got.Subprotocols, got.ClientCertificates)
	}
	if got.MQTT != nil || got.MQTTProperties != nil {
		t.Fatal("MQTT fields set for a non-MQTT request")
	}
}

func TestUserEvents(t *testing.T) {
	echo := func(_ context.Context, r *UserEventRequest) (*UserEventResponse, error) {
		switch string(r.Data) {
		case "text":
			return Text("hello"), nil
		case "json":
			return JSON(map[string]any{"a": 1, "b": "<x>"})
		case "binary":
			return Binary([]byte{1, 2, 3}), nil
		case "bad json":
			return JSON(make(chan int))
		case "json null":
			return JSON(nil)
		case "zero":
			return &UserEventResponse{}, nil
		case "reused buffer":
			buf := []byte{1, 2, 3}
			resp := Binary(buf)
			buf[0] = 9
			return resp, nil
		case "invalid UTF-8":
			return Text("a\xffb"), nil
		case "empty text":
			return Text(""), nil
		case "empty binary":
			return Binary(nil), nil
		case "reject 503":
			return nil, Reject(503, "busy")
		case "reject 0":
			return nil, Reject(0, "zero")
		case "reject 302":
			return nil, Reject(302, "elsewhere")
		case "panic":
			panic("boom")
		case "state":
			return nil, r.SetState("seen", true)
		case "state and reject":
			_ = r.SetState("seen", true)
			return nil, Reject(400, "no")
		}
		return nil, nil
	}
	fallback := func(_ context.Context, r *UserEventRequest) (*UserEventResponse, error) {
		return Text("fallback " + r.EventName), nil
	}
	tests := []struct {
		name      string
		event     string
		data      string
		fallback  bool
		wantCode  int
		wantCT    string
		wantBody  string
		wantState string
	}{
		{"text", "echo", "text", false, 200, "text/plain; charset=utf-8", "hello", ""},
		{"json", "echo", "json", false, 200, "application/json; charset=utf-8", `{"a":1,"b":"<x>"}`, ""},
		{"binary", "echo", "binary", false, 200, "application/octet-stream", "\x01\x02\x03", ""},
		{"binary copied", "echo", "reused buffer", false, 200, "application/octet-stream", "\x01\x02\x03", ""},
		{"invalid UTF-8 replaced", "echo", "invalid UTF-8", false, 200, "text/plain; charset=utf-8", "a\uFFFDb", ""},
		{"empty text is no reply", "echo", "empty text", false, 204, "", "", ""},
		{"empty binary is no reply", "echo", "empty binary", false, 204, "", "", ""},
		{"zero response is no reply", "echo", "zero", false, 204, "", "", ""},
		{"no reply", "echo", "nothing", false, 204, "", "", ""},
		{"JSON marshal error", "echo", "bad json", false, 500, "text/plain; charset=utf-8", genericFailure, ""},
		{"JSON null", "echo", "json null", false, 500, "text/plain; charset=utf-8", genericFailure, ""},
		{"reject 503", "echo", "reject 503", false, 503, "text/plain; charset=utf-8", "busy", ""},
		{"reject without status", "echo", "reject 0", false, 500, "text/plain; charset=utf-8", "zero", ""},
		{"reject with 3xx", "echo", "reject 302", false, 500, "text/plain; charset=utf-8", genericFailure, ""},
		{"panic", "echo", "panic", false, 500, "text/plain; charset=utf-8", genericFailure, ""},
		{"state", "echo", "state", false, 204, "", "", "eyJzZWVuIjp0cnVlfQ=="},
		{"state dropped on rejection", "echo", "state and reject", false, 400, "text/plain; charset=utf-8", "no", ""},
		{"unregistered event without fallback", "other", "text", false, 204, "", "", ""},
		{"unregistered event with fallback", "other", "text", true, 200, "text/plain; charset=utf-8", "fallback other", ""},
		{"registered event wins over fallback", "echo", "text", true, 200, "text/plain; charset=utf-8", "hello", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := &Options{UserEvents: map[string]UserEventFunc{"echo": echo}}
			if tt.fallback {
				opts.UserEvent = fallback
			}
			h, _ := mustNew(t, opts)
			resp := serve(h, eventRequest(TypeUserPrefix+tt.event, "text/plain", tt.data))
			body := readBody(t, resp)
			if resp.StatusCode != tt.wantCode || resp.Header.Get("Content-Type") != tt.wantCT || body != tt.wantBody {
				t.Fatalf("got %d %q %q, want %d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), body, tt.wantCode, tt.wantCT, tt.wantBody)
			}
			if got := resp.Header.Get(HeaderConnectionState); got != tt.wantState {
				t.Fatalf("ce-connectionState %q, want %q", got, tt.wantState)
			}
			if resp.StatusCode == 200 && resp.Header.Get("Content-Length") != strconv.Itoa(len(body)) {
				t.Fatalf("Content-Length %q", resp.Header.Get("Content-Length"))
			}
		})
	}
}

func TestUserEventDataTypes(t *testing.T) {
	tests := []struct {
		contentType string
		want        DataType
	}{
		{"text/plain", DataTypeText},
		{"Text/Plain; charset=utf-8", DataTypeText},
		{"application/json", DataTypeJSON},
		{"application/json; charset=utf-8", DataTypeJSON},
		{"application/octet-stream", DataTypeBinary},
	}
	for _, tt := range tests {
		t.Run(tt.contentType, func(t *testing.T) {
			var got *UserEventRequest
			h, _ := mustNew(t, &Options{UserEvent: func(_ context.Context, r *UserEventRequest) (*UserEventResponse, error) {
				got = r
				return nil, nil
			}})
			serve(h, eventRequest(TypeUserPrefix+"e", tt.contentType, `"x"`))
			if got == nil || got.DataType != tt.want || string(got.Data) != `"x"` || got.EventName != "e" {
				t.Fatalf("got %+v", got)
			}
		})
	}
	if fmt.Sprint(PossibleDataTypeValues()) != "[text json binary]" {
		t.Fatalf("PossibleDataTypeValues = %v", PossibleDataTypeValues())
	}
}

// flagWriter records whether the response was started.
type flagWriter struct {
	*httptest.ResponseRecorder
	started bool
}

func (w *flagWriter) WriteHeader(code int) {
	w.started = true
	w.ResponseRecorder.WriteHeader(code)
}

func TestNonBlockingWaitMode(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		panics   bool
		wantCode int
		wantLog  string
	}{
		{"success", nil, false, 200, ""},
		{"error is logged, not returned", errors.New("audit log full"), false, 200, "audit log full"},
		{"panic", nil, true, 500, "callback panicked"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &flagWriter{ResponseRecorder: httptest.NewRecorder()}
			startedBefore := true
			h, logs := mustNew(t, &Options{
				WaitForNonBlockingCallbacks: true,
				Disconnected: func(_ context.Context, r *DisconnectedRequest) error {
					startedBefore = w.started
					if tt.panics {
						panic("boom")
					}
					return tt.err
				},
			})
			h.ServeHTTP(w, eventRequest(TypeDisconnected, jsonCT, `{"reason":"bye"}`))
			if startedBefore {
				t.Fatal("the response was started before the callback ran")
			}
			if w.Code != tt.wantCode {
				t.Fatalf("status %d, want %d", w.Code, tt.wantCode)
			}
			if tt.wantLog != "" && !strings.Contains(logs.String(), tt.wantLog) {
				t.Fatalf("log %q lacks %q", logs.String(), tt.wantLog)
			}
		})
	}
}

// TestNonBlockingEarlyResponse checks over a real connection that the
// service gets its answer while the callback is still running, and that the
// callback's context outlives the request.
func TestNonBlockingEarlyResponse(t *testing.T) {
	release := make(chan struct{})
	done := make(chan error, 1)
	h, logs := mustNew(t, &Options{
		Connected: func(ctx context.Context, r *ConnectedRequest) error {
			<-release
			done <- ctx.Err()
			panic("late failure") // logged; the answer was already sent
		},
	})
	srv := httptest.NewServer(h)
	r := eventRequest(TypeConnected, jsonCT, "{}")
	req, err := http.NewRequest(http.MethodPost, srv.URL+DefaultPath("chat"), strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = r.Header
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body := readBody(t, resp)
	resp.Body.Close()
	if resp.StatusCode != 200 || body != "" || resp.ContentLength != 0 {
		t.Fatalf("got %d %q (length %d)", resp.StatusCode, body, resp.ContentLength)
	}
	srv.Client().CloseIdleConnections() // the service hangs up
	close(release)                      // the callback was blocked until now: the answer came first
	if err := <-done; err != nil {
		t.Fatalf("the callback's context was cancelled: %v", err)
	}
	// The server survives the callback's panic: the next request is served.
	resp2, err := srv.Client().Do(mustClone(t, req))
	if err != nil {
		t.Fatal(err)
	}
	resp2.Body.Close()
	if resp2.StatusCode != 200 {
		t.Fatalf("second request: %d", resp2.StatusCode)
	}
	if err := <-done; err != nil {
		t.Fatalf("second callback: %v", err)
	}
	srv.Close() // waits for both handlers, panics included
	if n := strings.Count(logs.String(), "late failure"); n != 2 {
		t.Fatalf("%d panics logged, want 2: %s", n, logs.String())
	}
}

func mustClone(t *testing.T, req *http.Request) *http.Request {
	t.Helper()
	r := req.Clone(context.Background())
	r.Body = http.NoBody
	r.ContentLength = 0
	return r
}

// TestAbortHandlerPanic: http.ErrAbortHandler is passed on to net/http.
func TestAbortHandlerPanic(t *testing.T) {
	h, _ := mustNew(t, &Options{Connect: func(context.Context, *ConnectRequest) (*ConnectResponse, error) {
		panic(http.ErrAbortHandler)
	}})
	defer func() {
		if p := recover(); p != http.ErrAbortHandler {
			t.Fatalf("recovered %v, want http.ErrAbortHandler", p)
		}
	}()
	h.ServeHTTP(httptest.NewRecorder(), eventRequest(TypeConnect, jsonCT, emptyConnectBody))
	t.Fatal("ServeHTTP returned")
}

// TestPanicOverRealServer: a panicking callback gets a 500 and the server
// keeps serving.
func TestPanicOverRealServer(t *testing.T) {
	n := 0
	h, logs := mustNew(t, &Options{UserEvent: func(context.Context, *UserEventRequest) (*UserEventResponse, error) {
		n++
		if n == 1 {
			panic("first call fails")
		}
		return Text("ok"), nil
	}})
	srv := httptest.NewServer(h)
	defer srv.Close()
	for i, want := range []int{500, 200} {
		r := eventRequest(TypeUserPrefix+"e", "text/plain", "x")
		req, err := http.NewRequest(http.MethodPost, srv.URL+DefaultPath("chat"), strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		req.Header = r.Header
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body := readBody(t, resp)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("request %d: status %d (%q), want %d", i, resp.StatusCode, body, want)
		}
	}
	if !strings.Contains(logs.String(), "first call fails") || !strings.Contains(logs.String(), "goroutine") {
		t.Fatalf("panic not logged with its stack: %q", logs.String())
	}
}

// TestConcurrentRequests serves many connections at once over a real
// server (run with -race): each request gets its own state and reply.
func TestConcurrentRequests(t *testing.T) {
	h, _ := mustNew(t, &Options{
		AccessKeys: []string{primaryKey, secondaryKey},
		UserEvent: func(_ context.Context, r *UserEventRequest) (*UserEventResponse, error) {
			var n int
			if _, err := r.State("n", &n); err != nil {
				return nil, err
			}
			if err := r.SetState("n", n+1); err != nil {
				return nil, err
			}
			return Text(r.ConnectionID + ":" + string(r.Data)), nil
		},
	})
	srv := httptest.NewServer(h)
	defer srv.Close()
	const workers = 16
	errs := make(chan error, workers)
	for i := range workers {
		go func() {
			conn := "conn" + strconv.Itoa(i)
			state := ""
			for j := range 5 {
				req, err := http.NewRequest(http.MethodPost, srv.URL+DefaultPath("chat"), strings.NewReader(strconv.Itoa(j)))
				if err != nil {
					errs <- err
					return
				}
				req.Header = eventRequest(TypeUserPrefix+"e", "text/plain", "").Header
				req.Header.Set(cloudevents.HeaderConnectionID, conn)
				key := primaryKey
				if i%2 == 1 {
					key = secondaryKey
				}
				req.Header.Set(HeaderSignature, cloudevents.Sign(key, conn))
				if state != "" {
					req.Header.Set(HeaderConnectionState, state)
				}
				resp, err := srv.Client().Do(req)
				if err != nil {
					errs <- err
					return
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 || string(b) != conn+":"+strconv.Itoa(j) {
					errs <- fmt.Errorf("%s/%d: %d %q %v", conn, j, resp.StatusCode, b, err)
					return
				}
				state = resp.Header.Get(HeaderConnectionState)
			}
			st, err := cloudevents.DecodeState(state)
			if n, _ := st.Get("n"); err != nil || string(n) != "5" {
				errs <- fmt.Errorf("%s: final state %v %v", conn, st.Values(), err)
				return
			}
			errs <- nil
		}()
	}
	for range workers {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// TestUserEventProtobuf: a protobuf client's protobuf_data arrives as
// DataTypeProtobuf with the encoded Any, and a Protobuf reply is written
// as application/x-protobuf.
func TestUserEventProtobuf(t *testing.T) {
	a, err := anypb.New(wrapperspb.String("x"))
	if err != nil {
		t.Fatal(err)
	}
	body, err := proto.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	var got *UserEventRequest
	h, _ := mustNew(t, &Options{UserEvent: func(_ context.Context, r *UserEventRequest) (*UserEventResponse, error) {
		got = r
		return Protobuf(wrapperspb.String("reply"))
	}})
	resp := serve(h, eventRequest(TypeUserPrefix+"e", "application/x-protobuf", string(body)))
	if got == nil || got.DataType != DataTypeProtobuf || !bytes.Equal(got.Data, body) {
		t.Fatalf("got %+v", got)
	}
	reply := readBody(t, resp)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-protobuf" {
		t.Fatalf("reply %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var back anypb.Any
	var s wrapperspb.StringValue
	if err := proto.Unmarshal([]byte(reply), &back); err != nil || back.UnmarshalTo(&s) != nil || s.GetValue() != "reply" {
		t.Fatalf("reply body %x: %v", reply, err)
	}
	if r, err := Protobuf(nil); r != nil || !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("Protobuf(nil) = %v, %v", r, err)
	}
	if resp := serve(h, eventRequest(TypeUserPrefix+"e", "application/xml", "x")); resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Fatalf("application/xml: %d", resp.StatusCode)
	}
}
