package eventhandler_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/gowebpubsub/webpubsub/eventhandler"
)

// accessKey is a dummy key, as in the spec's test vectors.
const accessKey = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGH"

// signature computes ce-signature the way the service does.
func signature(key, connectionID string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(connectionID))
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// event builds a request as the service sends it.
func event(ceType, connectionID, contentType, body string, state string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, eventhandler.DefaultPath("chat"), strings.NewReader(body))
	r.Header.Set("Content-Type", contentType)
	r.Header.Set("WebHook-Request-Origin", "localhost:8080")
	r.Header.Set("ce-specversion", "1.0")
	r.Header.Set("ce-awpsversion", "1.0")
	r.Header.Set("ce-type", ceType)
	r.Header.Set("ce-hub", "chat")
	r.Header.Set("ce-connectionId", connectionID)
	r.Header.Set("ce-userId", "alice")
	r.Header.Set("ce-signature", signature(accessKey, connectionID))
	if state != "" {
		r.Header.Set("ce-connectionState", state)
	}
	return r
}

func show(h http.Handler, r *http.Request) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	body, _ := io.ReadAll(rec.Result().Body)
	fmt.Println(rec.Code, rec.Header().Get("Content-Type"), string(body))
}

// This example serves a chat hub: connect puts everyone in the lobby and
// rejects anonymous clients, and the "echo" event replies to the sender. It
// drives the handler with the requests the service would send.
func Example() {
	h, err := eventhandler.New("chat", &eventhandler.Options{
		AccessKeys: []string{accessKey}, // or ConnectionString: os.Getenv(...)
		Connect: func(ctx context.Context, req *eventhandler.ConnectRequest) (*eventhandler.ConnectResponse, error) {
			if req.UserID == "" {
				return nil, eventhandler.Reject(http.StatusUnauthorized, "sign in first")
			}
			return &eventhandler.ConnectResponse{Groups: []string{"lobby"}}, nil
		},
		UserEvents: map[string]eventhandler.UserEventFunc{
			"echo": func(ctx context.Context, req *eventhandler.UserEventRequest) (*eventhandler.UserEventResponse, error) {
				return eventhandler.Text("echo: " + string(req.Data)), nil
			},
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	mux := http.NewServeMux()
	mux.Handle(eventhandler.DefaultPath("chat"), h)

	connect := `{"claims":{"sub":["alice"]},"query":{},"headers":{},"subprotocols":[],"clientCertificates":[]}`
	show(mux, event("azure.webpubsub.sys.connect", "conn1", "application/json; charset=utf-8", connect, ""))

	anonymous := event("azure.webpubsub.sys.connect", "conn2", "application/json; charset=utf-8", `{}`, "")
	anonymous.Header.Del("ce-userId")
	show(mux, anonymous)

	show(mux, event("azure.webpubsub.user.echo", "conn1", "text/plain", "hi", ""))

	forged := event("azure.webpubsub.user.echo", "conn1", "text/plain", "hi", "")
	forged.Header.Set("ce-signature", signature("not the key", "conn1"))
	show(mux, forged)
	// Output:
	// 200 application/json; charset=utf-8 {"groups":["lobby"]}
	// 401 text/plain; charset=utf-8 sign in first
	// 200 text/plain; charset=utf-8 echo: hi
	// 401 text/plain; charset=utf-8 eventhandler: the ce-signature header matches no access key
}

// Connection state: the connect callback stores a counter, each message
// increments it, and the service carries it from one event to the next in
// the ce-connectionState header (base64 of a JSON object, as
// @azure/web-pubsub-express encodes it).
func ExampleConnectionContext_SetState() {
	h, err := eventhandler.New("chat", &eventhandler.Options{
		AccessKeys: []string{accessKey},
		Connect: func(ctx context.Context, req *eventhandler.ConnectRequest) (*eventhandler.ConnectResponse, error) {
			return nil, req.SetState("count", 0)
		},
		UserEvent: func(ctx context.Context, req *eventhandler.UserEventRequest) (*eventhandler.UserEventResponse, error) {
			var n int
			if _, err := req.State("count", &n); err != nil {
				return nil, err
			}
			if err := req.SetState("count", n+1); err != nil {
				return nil, err
			}
			return eventhandler.JSON(map[string]int{"count": n + 1})
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	state := ""
	for _, r := range []*http.Request{
		event("azure.webpubsub.sys.connect", "c1", "application/json", `{}`, ""),
		event("azure.webpubsub.user.message", "c1", "text/plain", "a", ""),
		event("azure.webpubsub.user.message", "c1", "text/plain", "b", ""),
	} {
		if state != "" {
			r.Header.Set("ce-connectionState", state) // what the service does
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		state = rec.Header().Get("ce-connectionState")
		fmt.Println(strings.TrimSpace(fmt.Sprint(rec.Code, " ", state, " ", rec.Body.String())))
	}
	// Output:
	// 204 eyJjb3VudCI6MH0=
	// 200 eyJjb3VudCI6MX0= {"count":1}
	// 200 eyJjb3VudCI6Mn0= {"count":2}
}

// The abuse-protection check: the service asks with OPTIONS whether the
// handler accepts its events.
func ExampleOptions_allowedOrigins() {
	h, err := eventhandler.New("chat", &eventhandler.Options{
		AccessKeys:     []string{accessKey},
		AllowedOrigins: []string{"https://contoso.webpubsub.azure.com", "localhost:8080"},
		Logger:         slog.New(slog.DiscardHandler),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, origin := range []string{"contoso.webpubsub.azure.com", "localhost:8080", "evil.example"} {
		r := httptest.NewRequest(http.MethodOptions, eventhandler.DefaultPath("chat"), nil)
		r.Header.Set("WebHook-Request-Origin", origin)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		fmt.Printf("%s: %d %q\n", origin, rec.Code, rec.Header().Get("WebHook-Allowed-Origin"))
	}
	// Output:
	// contoso.webpubsub.azure.com: 200 "contoso.webpubsub.azure.com"
	// localhost:8080: 200 "localhost:8080"
	// evil.example: 400 ""
}

// A connect callback rejects a client; the service returns the status and
// the detail to the client's WebSocket handshake.
func ExampleReject() {
	h, err := eventhandler.New("chat", &eventhandler.Options{
		AccessKeys: []string{accessKey},
		Connect: func(ctx context.Context, req *eventhandler.ConnectRequest) (*eventhandler.ConnectResponse, error) {
			if req.Query.Get("room") == "" {
				return nil, eventhandler.Reject(http.StatusBadRequest, "the room query parameter is required")
			}
			return &eventhandler.ConnectResponse{Groups: []string{req.Query.Get("room")}}, nil
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	show(h, event("azure.webpubsub.sys.connect", "c1", "application/json", `{"query":{}}`, ""))
	show(h, event("azure.webpubsub.sys.connect", "c2", "application/json", `{"query":{"room":["r1"]}}`, ""))
	// Output:
	// 400 text/plain; charset=utf-8 the room query parameter is required
	// 200 application/json; charset=utf-8 {"groups":["r1"]}
}
