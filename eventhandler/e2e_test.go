package eventhandler_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"

	"github.com/gowebpubsub/webpubsub/emulator"
	"github.com/gowebpubsub/webpubsub/eventhandler"
	"github.com/gowebpubsub/webpubsub/internal/testclient"
)

// These tests run the emulator with its hub "chat" pointed at an
// eventhandler.Handler served by httptest, so every event crosses a real
// HTTP hop with real ce-* headers, signatures and connection state.

const e2eTimeout = 10 * time.Second

// e2e is an emulator wired to a Handler.
type e2e struct {
	t *testing.T
	e *emulator.Emulator
}

// startE2E serves a Handler for hub "chat" built from opts (its access key
// is the emulator's) and starts an emulator whose hub sends it every
// system event and every user event, after the abuse-protection check.
func startE2E(t *testing.T, opts eventhandler.Options) *e2e {
	t.Helper()
	if opts.AccessKeys == nil {
		opts.AccessKeys = []string{emulator.DefaultAccessKey}
	}
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	h, err := eventhandler.New("chat", &opts)
	if err != nil {
		t.Fatalf("eventhandler.New: %v", err)
	}
	mux := http.NewServeMux()
	mux.Handle(eventhandler.DefaultPath("chat"), h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close) // after the emulator's Close, which sends disconnected events
	e, err := emulator.New(emulator.Options{Hubs: map[string]emulator.HubOptions{"chat": {EventHandlers: []emulator.EventHandler{{
		URLTemplate:      srv.URL + "/api/webpubsub/hubs/{hub}/",
		UserEventPattern: "*",
		SystemEvents:     emulator.PossibleSystemEventValues(),
	}}}}})
	if err != nil {
		t.Fatalf("emulator.New: %v", err)
	}
	if err := e.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return &e2e{t: t, e: e}
}

func (x *e2e) sign(claims jwt.MapClaims) string {
	x.t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(emulator.DefaultAccessKey))
	if err != nil {
		x.t.Fatal(err)
	}
	return tok
}

// url returns a client access URL of hub chat with the given token
// claims (aud and exp are added).
func (x *e2e) url(claims jwt.MapClaims) string {
	x.t.Helper()
	c := jwt.MapClaims{"aud": x.e.URL() + "/client/hubs/chat", "exp": time.Now().Add(time.Hour).Unix()}
	for k, v := range claims {
		c[k] = v
	}
	return x.e.ClientURL("chat") + "?access_token=" + x.sign(c)
}

// pubsub dials a json.webpubsub.azure.v1 client, which has read its
// connected frame.
func (x *e2e) pubsub(claims jwt.MapClaims) *testclient.Conn {
	x.t.Helper()
	return testclient.Dial(x.t, x.url(claims), &testclient.Options{Subprotocols: []string{testclient.JSON}})
}

// rest sends a signed REST request to the emulator.
func (x *e2e) rest(method, pathAndQuery, contentType, body string) int {
	x.t.Helper()
	u := x.e.URL() + pathAndQuery
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+x.sign(jwt.MapClaims{"aud": u, "exp": time.Now().Add(time.Minute).Unix()}))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		x.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func receive[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(e2eTimeout):
		t.Fatal("the handler was not called")
		var zero T
		return zero
	}
}

// TestE2EConnectAppliesUserAndGroups: the Connect callback sees the token's
// claims and replaces the user, the groups and the roles.
func TestE2EConnectAppliesUserAndGroups(t *testing.T) {
	seen := make(chan *eventhandler.ConnectRequest, 1)
	x := startE2E(t, eventhandler.Options{
		Connect: func(_ context.Context, req *eventhandler.ConnectRequest) (*eventhandler.ConnectResponse, error) {
			seen <- req
			return &eventhandler.ConnectResponse{UserID: "zoe", Groups: []string{"lobby"}, Roles: []string{"webpubsub.sendToGroup.lobby"}}, nil
		},
	})
	ws := x.pubsub(jwt.MapClaims{"sub": "alice", "webpubsub.group": []string{"room1"}, "role": []string{"webpubsub.joinLeaveGroup"}})
	req := receive(t, seen)
	if req.UserID != "alice" || strings.Join(req.Claims["webpubsub.group"], ",") != "room1" || req.Query.Get("access_token") == "" ||
		strings.Join(req.Subprotocols, ",") != "json.webpubsub.azure.v1" || req.Hub != "chat" || req.ID != "0" {
		t.Fatalf("connect request %+v", req)
	}
	if ws.UserID() != "zoe" || ws.ConnectionID() != req.ConnectionID {
		t.Fatalf("connected frame %+v", ws.Connected())
	}
	if got := x.rest("HEAD", "/api/hubs/chat/groups/room1?api-version=2024-12-01", "", ""); got != 404 {
		t.Fatalf("token group room1: %d; want 404 (replaced)", got)
	}
	if got := x.rest("POST", "/api/hubs/chat/groups/lobby/:send?api-version=2024-12-01", "text/plain", "welcome"); got != 202 {
		t.Fatalf("send: %d", got)
	}
	ws.ExpectJSON(`{"type":"message","from":"group","group":"lobby","fromUserId":null,"dataType":"text","data":"welcome"}`)
	// The roles were replaced: joinLeaveGroup is gone, sendToGroup.lobby works.
	ws.SendText(`{"type":"joinGroup","group":"x","ackId":1}`)
	ws.ExpectJSON(`{"type":"ack","ackId":1,"success":false,"error":{"name":"Forbidden","message":"The client has no permission to join group 'x'."}}`)
	ws.SendText(`{"type":"sendToGroup","group":"lobby","ackId":2,"dataType":"text","data":"hi"}`)
	ws.ExpectJSON(`{"type":"message","from":"group","group":"lobby","fromUserId":"zoe","dataType":"text","data":"hi"}`)
	ws.ExpectJSON(`{"type":"ack","ackId":2,"success":true}`)
	if got := x.rest("HEAD", "/api/hubs/chat/users/zoe?api-version=2024-12-01", "", ""); got != 200 {
		t.Fatalf("user zoe: %d", got)
	}
}

// TestE2EConnectRejected: a rejection reaches the client as the HTTP status
// of its upgrade, with the detail as body, and no connected or
// disconnected event follows.
func TestE2EConnectRejected(t *testing.T) {
	events := make(chan string, 8) // "<event> <user>"
	x := startE2E(t, eventhandler.Options{
		Connect: func(_ context.Context, req *eventhandler.ConnectRequest) (*eventhandler.ConnectResponse, error) {
			switch req.UserID {
			case "":
				return nil, eventhandler.Reject(http.StatusUnauthorized, "sign in first")
			case "mallory":
				return nil, eventhandler.Reject(http.StatusForbidden, "not you")
			}
			return nil, nil
		},
		Connected: func(_ context.Context, req *eventhandler.ConnectedRequest) error {
			events <- "connected " + req.UserID
			return nil
		},
		Disconnected: func(_ context.Context, req *eventhandler.DisconnectedRequest) error {
			events <- "disconnected " + req.UserID
			return nil
		},
	})
	for _, tc := range []struct {
		claims jwt.MapClaims
		status int
		body   string
	}{{nil, 401, "sign in first"}, {jwt.MapClaims{"sub": "mallory"}, 403, "not you"}} {
		_, err := testclient.TryDial(t, x.url(tc.claims), &testclient.Options{Subprotocols: []string{testclient.JSON}})
		var he *testclient.HandshakeError
		if !errors.As(err, &he) || he.StatusCode != tc.status {
			t.Fatalf("dial: %v; want status %d", err, tc.status)
		}
		if he.Body != tc.body {
			t.Fatalf("body %q; want %q", he.Body, tc.body)
		}
	}
	// An accepted client gets its events; the rejected ones got none.
	ws := x.pubsub(jwt.MapClaims{"sub": "carol"})
	if ev := receive(t, events); ev != "connected carol" {
		t.Fatalf("first event %q; want carol's connected", ev)
	}
	if err := ws.Close(websocket.StatusNormalClosure, ""); err != nil {
		t.Fatal(err)
	}
	if ev := receive(t, events); ev != "disconnected carol" {
		t.Fatalf("second event %q; want carol's disconnected", ev)
	}
}

// TestE2EUserEventReply: an event frame reaches the UserEvents callback and
// its reply reaches the client before the ack; a raw client's frame is the
// "message" event and its reply comes back as a frame.
func TestE2EUserEventReply(t *testing.T) {
	x := startE2E(t, eventhandler.Options{
		UserEvents: map[string]eventhandler.UserEventFunc{
			"echo": func(_ context.Context, req *eventhandler.UserEventRequest) (*eventhandler.UserEventResponse, error) {
				return eventhandler.Text("echo: " + string(req.Data)), nil
			},
			"sum": func(_ context.Context, req *eventhandler.UserEventRequest) (*eventhandler.UserEventResponse, error) {
				var nums []int
				if err := json.Unmarshal(req.Data, &nums); err != nil || req.DataType != eventhandler.DataTypeJSON {
					return nil, eventhandler.Reject(http.StatusBadRequest, "want a JSON array")
				}
				total := 0
				for _, n := range nums {
					total += n
				}
				return eventhandler.JSON(map[string]int{"sum": total})
			},
			"message": func(_ context.Context, req *eventhandler.UserEventRequest) (*eventhandler.UserEventResponse, error) {
				return eventhandler.Binary(append([]byte{0xff}, req.Data...)), nil
			},
		},
	})
	ws := x.pubsub(jwt.MapClaims{"sub": "alice"})
	ws.SendText(`{"type":"event","event":"echo","ackId":1,"dataType":"text","data":"hi"}`)
	ws.ExpectJSON(`{"type":"message","from":"server","dataType":"text","data":"echo: hi"}`)
	ws.ExpectJSON(`{"type":"ack","ackId":1,"success":true}`)
	ws.SendText(`{"type":"event","event":"sum","ackId":2,"dataType":"json","data":[1,2,3]}`)
	ws.ExpectJSON(`{"type":"message","from":"server","dataType":"json","data":{"sum":6}}`)
	ws.ExpectJSON(`{"type":"ack","ackId":2,"success":true}`)
	ws.SendText(`{"type":"event","event":"sum","ackId":3,"dataType":"text","data":"x"}`)
	ws.ExpectJSON(`{"type":"ack","ackId":3,"success":false,"error":{"name":"InternalServerError","message":"The event handler returned status code 400."}}`)

	raw := testclient.Dial(t, x.url(jwt.MapClaims{"sub": "bob"}), nil)
	raw.SendBinary([]byte{1, 2})
	if typ, b := raw.Read(); typ != websocket.MessageBinary || !bytes.Equal(b, []byte{0xff, 1, 2}) {
		t.Fatalf("raw reply %v %x", typ, b)
	}
}

// TestE2EConnectionStateRoundTrip: state set by Connect is seen by
// Connected, changed by user events, and seen by Disconnected; the emulator
// carries it between the calls.
func TestE2EConnectionStateRoundTrip(t *testing.T) {
	connectedState := make(chan int, 1)
	finalState := make(chan int, 1)
	counter := func(c *eventhandler.ConnectionContext) int {
		var n int
		if ok, err := c.State("counter", &n); !ok || err != nil {
			return -1
		}
		return n
	}
	x := startE2E(t, eventhandler.Options{
		Connect: func(_ context.Context, req *eventhandler.ConnectRequest) (*eventhandler.ConnectResponse, error) {
			return nil, req.SetState("counter", 1)
		},
		Connected: func(_ context.Context, req *eventhandler.ConnectedRequest) error {
			connectedState <- counter(&req.ConnectionContext)
			return nil
		},
		UserEvents: map[string]eventhandler.UserEventFunc{
			"inc": func(_ context.Context, req *eventhandler.UserEventRequest) (*eventhandler.UserEventResponse, error) {
				n := counter(&req.ConnectionContext) + 1
				if err := req.SetState("counter", n); err != nil {
					return nil, err
				}
				return eventhandler.JSON(n)
			},
			"peek": func(_ context.Context, req *eventhandler.UserEventRequest) (*eventhandler.UserEventResponse, error) {
				return eventhandler.JSON(counter(&req.ConnectionContext))
			},
		},
		Disconnected: func(_ context.Context, req *eventhandler.DisconnectedRequest) error {
			finalState <- counter(&req.ConnectionContext)
			return nil
		},
	})
	ws := x.pubsub(nil)
	if got := receive(t, connectedState); got != 1 {
		t.Fatalf("Connected saw counter %d; want 1", got)
	}
	for i, ev := range []string{"inc", "inc", "peek"} {
		ws.SendText(`{"type":"event","event":"` + ev + `","ackId":` + string(rune('1'+i)) + `,"dataType":"text","data":""}`)
		want := []string{"2", "3", "3"}[i]
		ws.ExpectJSON(`{"type":"message","from":"server","dataType":"json","data":` + want + `}`)
		ws.ExpectJSON(`{"type":"ack","ackId":` + string(rune('1'+i)) + `,"success":true}`)
	}
	if err := ws.Close(websocket.StatusNormalClosure, ""); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, finalState); got != 3 {
		t.Fatalf("Disconnected saw counter %d; want 3", got)
	}
}

// TestE2EDisconnectedReason: the Disconnected callback gets the reason of
// each way a connection ends, with its id and user.
func TestE2EDisconnectedReason(t *testing.T) {
	type ended struct{ id, user, reason string }
	got := make(chan ended, 8)
	x := startE2E(t, eventhandler.Options{
		Disconnected: func(_ context.Context, req *eventhandler.DisconnectedRequest) error {
			got <- ended{req.ConnectionID, req.UserID, req.Reason}
			return nil
		},
	})
	a := x.pubsub(jwt.MapClaims{"sub": "alice"})
	if code := x.rest("DELETE", "/api/hubs/chat/connections/"+a.ConnectionID()+"?api-version=2024-12-01&reason=bye", "", ""); code != 204 {
		t.Fatalf("close: %d", code)
	}
	a.ExpectJSON(`{"type":"system","event":"disconnected","message":"bye"}`)
	if e := receive(t, got); e.id != a.ConnectionID() || e.user != "alice" || e.reason != "bye" {
		t.Fatalf("REST close: %+v", e)
	}
	b := x.pubsub(nil)
	if err := b.Close(websocket.StatusNormalClosure, "client leaving"); err != nil {
		t.Fatal(err)
	}
	if e := receive(t, got); e.id != b.ConnectionID() || e.reason != "client leaving" {
		t.Fatalf("client close: %+v", e)
	}
	c := x.pubsub(nil)
	_ = c.CloseNow()
	if e := receive(t, got); e.id != c.ConnectionID() || e.reason != "The connection ended unexpectedly." {
		t.Fatalf("drop: %+v", e)
	}
}

// TestE2EWrongKeyIsRefused: a handler that expects another access key
// answers the emulator's signature with 401, which the client's upgrade
// gets.
func TestE2EWrongKeyIsRefused(t *testing.T) {
	x := startE2E(t, eventhandler.Options{AccessKeys: []string{strings.Repeat("z", 44)}})
	_, err := testclient.TryDial(t, x.url(nil), nil)
	var he *testclient.HandshakeError
	if !errors.As(err, &he) || he.StatusCode != http.StatusUnauthorized {
		t.Fatalf("dial with a mismatched key: %v", err)
	}
}
