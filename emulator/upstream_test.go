package emulator

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"
	"github.com/gowebpubsub/webpubsub/internal/auth"
	"github.com/gowebpubsub/webpubsub/internal/cloudevents"
)

// TestUpstreamAbuseProtection: before its first event a handler gets the
// OPTIONS check; a success is remembered, a refusal is not and keeps the
// handler from being called; 404 and 405 fall back to GET.
func TestUpstreamAbuseProtection(t *testing.T) {
	var allow atomic.Value // the WebHook-Allowed-Origin lines to answer with
	allow.Store([]string{})
	var optionsStatus atomic.Int32
	optionsStatus.Store(200)
	up := newFakeUpstream(t, func(r *recordedRequest) fakeResponse {
		switch r.method {
		case http.MethodOptions:
			if s := int(optionsStatus.Load()); s != 200 {
				return fakeResponse{status: s}
			}
			fallthrough
		case http.MethodGet:
			return fakeResponse{status: 200, header: http.Header{"Webhook-Allowed-Origin": allow.Load().([]string)}}
		}
		return fakeResponse{status: 204}
	})
	opts := Options{Hubs: map[string]HubOptions{"*": {EventHandlers: []EventHandler{{
		URLTemplate: up.url(), UserEventPattern: "*", SystemEvents: []string{"connect"},
	}}}}}
	te := startEmulator(t, opts)
	origin := te.hostPort()

	// Refused: no allowed origin. The connect fails with 500 and the
	// handler is not called.
	_, resp, err := te.dialRaw(dialOptions{token: te.clientToken("chat", nil)})
	if err == nil || resp.StatusCode != 500 {
		t.Fatalf("refused handler: %v %v", resp, err)
	}
	r := up.next(t, "")
	if r.method != http.MethodOptions || r.path != "/upstream/chat/validate?code=secret-code" ||
		r.header.Get("WebHook-Request-Origin") != origin || r.header.Get("ce-awpsversion") != "1.0" || len(r.body) != 0 {
		t.Fatalf("check = %s %s %v", r.method, r.path, r.header)
	}
	up.expectNone(t, 100*time.Millisecond, ceTypeConnect)

	// Another origin only: still refused, and checked again (a failure is
	// not remembered).
	allow.Store([]string{"elsewhere:1", "other.example"})
	if _, resp, err := te.dialRaw(dialOptions{token: te.clientToken("chat", nil)}); err == nil || resp.StatusCode != 500 {
		t.Fatalf("wrong origin: %v", err)
	}
	if r := up.next(t, ""); r.method != http.MethodOptions {
		t.Fatalf("got %s; want a new check", r.method)
	}

	// Allowed on the second of two header lines, in a list: accepted, and
	// the connect follows.
	allow.Store([]string{"elsewhere:1", "x, " + strings.ToUpper(origin)})
	te.raw(nil)
	if r := up.next(t, ""); r.method != http.MethodOptions {
		t.Fatalf("got %s; want the check", r.method)
	}
	up.next(t, ceTypeConnect)
	// Remembered: the next connection goes straight to connect.
	te.raw(nil)
	if r := up.next(t, ""); r.ceType() != ceTypeConnect {
		t.Fatalf("got %s %s; want connect without a check", r.method, r.ceType())
	}

	// Another hub resolves to another validation URL: checked again; a
	// 405 to OPTIONS falls back to GET, which allows "*".
	optionsStatus.Store(405)
	allow.Store([]string{"*"})
	te.dial(dialOptions{hub: "other", token: te.clientToken("other", nil)})
	if r := up.next(t, ""); r.method != http.MethodOptions || r.path != "/upstream/other/validate?code=secret-code" {
		t.Fatalf("got %s %s", r.method, r.path)
	}
	if r := up.next(t, ""); r.method != http.MethodGet || r.header.Get("WebHook-Request-Origin") != origin {
		t.Fatalf("got %s %v; want the GET fallback", r.method, r.header)
	}
	up.next(t, ceTypeConnect)
}

// TestUpstreamValidationRefusedUserEvent: a user event whose handler
// refuses the check fails as class U; the handler is never called.
func TestUpstreamValidationRefusedUserEvent(t *testing.T) {
	up := newFakeUpstream(t, func(r *recordedRequest) fakeResponse {
		if r.method == http.MethodOptions {
			return fakeResponse{status: 403}
		}
		return fakeResponse{status: 200, header: http.Header{"Content-Type": {"text/plain"}}, body: []byte("called")}
	})
	te := startEmulator(t, Options{Hubs: map[string]HubOptions{"chat": {EventHandlers: []EventHandler{{URLTemplate: up.url(), UserEventPattern: "*"}}}}})
	c := te.pubsub(nil)
	c.SendText(`{"type":"event","event":"e","ackId":1,"dataType":"text","data":"x"}`)
	c.ExpectJSON(`{"type":"ack","ackId":1,"success":false,"error":{"name":"InternalServerError","message":"The event handler did not pass the abuse-protection check."}}`)
	if r := up.nextMethod(t, http.MethodOptions); r.path != "/upstream/chat/validate?code=secret-code" {
		t.Fatalf("check path %s", r.path)
	}
	up.expectNone(t, 100*time.Millisecond, ceTypeUserPrefix+"e")
}

// TestUpstreamConnectRequest checks the connect event's headers and body.
func TestUpstreamConnectRequest(t *testing.T) {
	up := newFakeUpstream(t, nil)
	te := startEmulator(t, up.handlerOptions("", "connect"))
	token := te.clientToken("chat", jwt.MapClaims{"sub": "alice", "role": []string{"r1", "r2"}, "webpubsub.group": "g1",
		"n": 1.5, "b": true, "o": map[string]any{"k": []any{1, "x"}}, "nul": nil})
	te.dial(dialOptions{hub: "Chat", token: token, subprotocols: []string{"json.webpubsub.azure.v1", "custom"}, query: "lang=en&lang=fr"})
	r := up.next(t, ceTypeConnect)
	for name, want := range map[string]string{
		"Content-Type": "application/json; charset=utf-8", "ce-specversion": "1.0", "ce-awpsversion": "1.0",
		"ce-type": ceTypeConnect, "ce-id": "0", "ce-hub": "chat", "ce-eventName": "connect", "ce-userId": "alice",
		"WebHook-Request-Origin": te.hostPort(),
	} {
		if got := r.header.Get(name); got != want {
			t.Errorf("%s = %q; want %q", name, got, want)
		}
	}
	id := r.header.Get("ce-connectionId")
	if r.header.Get("ce-source") != "/hubs/chat/client/"+id || r.path != "/upstream/chat/connect?code=secret-code" {
		t.Errorf("ce-source %q, path %q", r.header.Get("ce-source"), r.path)
	}
	if !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`).MatchString(r.header.Get("ce-time")) {
		t.Errorf("ce-time %q", r.header.Get("ce-time"))
	}
	for _, h := range []string{"ce-subprotocol", "ce-connectionState", "Authorization"} {
		if _, ok := r.header[http.CanonicalHeaderKey(h)]; ok {
			t.Errorf("connect has %s", h)
		}
	}
	var body struct {
		Claims             map[string][]string `json:"claims"`
		Query              map[string][]string `json:"query"`
		Headers            map[string][]string `json:"headers"`
		Subprotocols       []string            `json:"subprotocols"`
		ClientCertificates []any               `json:"clientCertificates"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil || bytes.HasSuffix(r.body, []byte("\n")) {
		t.Fatalf("body %s: %v", r.body, err)
	}
	wantClaims := map[string][]string{
		"sub": {"alice"}, "nameid": {"alice"}, auth.ClaimNameIDLong: {"alice"},
		"role": {"r1", "r2"}, auth.ClaimRoleLong: {"r1", "r2"}, "webpubsub.group": {"g1"},
		"n": {"1.5"}, "b": {"true"}, "o": {`{"k":[1,"x"]}`},
	}
	for k, want := range wantClaims {
		if got := body.Claims[k]; strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("claims[%s] = %q; want %q", k, got, want)
		}
	}
	if len(body.Claims["aud"]) != 1 || len(body.Claims["exp"]) != 1 || strings.ContainsAny(body.Claims["exp"][0], ".e") {
		t.Errorf("aud/exp claims %q %q", body.Claims["aud"], body.Claims["exp"])
	}
	if _, ok := body.Claims["nul"]; ok {
		t.Errorf("null claim forwarded")
	}
	if strings.Join(body.Query["lang"], ",") != "en,fr" || len(body.Query["access_token"]) != 1 {
		t.Errorf("query %v", body.Query)
	}
	if body.Headers["Sec-Websocket-Protocol"] == nil || body.Headers["Host"][0] != "127.0.0.1:"+strings.Split(te.hostPort(), ":")[1] || body.Headers["Upgrade"] == nil {
		t.Errorf("headers %v", body.Headers)
	}
	if strings.Join(body.Subprotocols, ",") != "json.webpubsub.azure.v1,custom" || body.ClientCertificates == nil || len(body.ClientCertificates) != 0 {
		t.Errorf("subprotocols %v, certificates %v", body.Subprotocols, body.ClientCertificates)
	}

	// Anonymous, with the token in the header: claims {}, no ce-userId,
	// Authorization forwarded.
	te2 := startEmulator(t, Options{Hubs: map[string]HubOptions{"chat": {AllowAnonymous: true, EventHandlers: []EventHandler{{URLTemplate: up.url(), SystemEvents: []string{"connect"}, SkipValidation: true}}}}})
	te2.dial(dialOptions{})
	r = up.next(t, ceTypeConnect)
	if _, ok := r.header["Ce-Userid"]; ok || !bytes.Contains(r.body, []byte(`"claims":{}`)) || !bytes.Contains(r.body, []byte(`"subprotocols":[]`)) {
		t.Errorf("anonymous connect: %v %s", r.header, r.body)
	}
	te2.dial(dialOptions{token: te2.clientToken("chat", nil), tokenHeader: true})
	if r = up.next(t, ceTypeConnect); !bytes.Contains(r.body, []byte(`"Authorization":["Bearer `)) {
		t.Errorf("Authorization not forwarded: %s", r.body)
	}
}

// TestUpstreamConnectResponses: what the connect answer does to the
// upgrade and to the connection.
func TestUpstreamConnectResponses(t *testing.T) {
	var answer atomic.Value
	up := newFakeUpstream(t, func(r *recordedRequest) fakeResponse {
		if r.ceType() == ceTypeConnect {
			return answer.Load().(fakeResponse)
		}
		return fakeResponse{status: 204}
	})
	te := startEmulator(t, up.handlerOptions("", "connect", "connected"))
	token := te.clientToken("chat", jwt.MapClaims{"sub": "alice", "role": "webpubsub.joinLeaveGroup", "webpubsub.group": "room1"})
	jsonAnswer := func(status int, body string, state ...string) fakeResponse {
		h := http.Header{"Content-Type": {"application/json"}}
		if len(state) > 0 {
			h["Ce-Connectionstate"] = state
		}
		return fakeResponse{status: status, header: h, body: []byte(body)}
	}

	t.Run("overrides", func(t *testing.T) {
		te := te.with(t)
		answer.Store(jsonAnswer(200, `{"userId":"zoe","groups":["lobby","g2"],"roles":["webpubsub.sendToGroup.lobby"],"unknown":1}`, "s1", "s2"))
		c := te.dial(dialOptions{token: token, subprotocols: []string{"json.webpubsub.azure.v1"}})
		expectStatus(t, te.rest("HEAD", "/api/hubs/chat/users/zoe"+v, "", nil), 200)
		expectStatus(t, te.rest("HEAD", "/api/hubs/chat/users/alice"+v, "", nil), 404)
		expectStatus(t, te.rest("HEAD", "/api/hubs/chat/groups/lobby"+v, "", nil), 200)
		expectStatus(t, te.rest("HEAD", "/api/hubs/chat/groups/room1"+v, "", nil), 404)
		expectStatus(t, te.rest("HEAD", "/api/hubs/chat/permissions/sendToGroup/connections/"+c.id+v+"&targetName=lobby", "", nil), 200)
		expectStatus(t, te.rest("HEAD", "/api/hubs/chat/permissions/joinLeaveGroup/connections/"+c.id+v+"&targetName=x", "", nil), 404)
		// The last ce-connectionState wins and goes with connected.
		r := up.nextFor(t, ceTypeConnected, c.id)
		if r.header.Get("ce-connectionState") != "s2" || r.header.Get("ce-userId") != "zoe" || r.header.Get("ce-id") != "1" {
			t.Fatalf("connected headers %v", r.header)
		}
	})
	t.Run("defaults", func(t *testing.T) {
		te := te.with(t)
		for _, a := range []fakeResponse{{status: 204}, jsonAnswer(200, ""), jsonAnswer(200, "null"), jsonAnswer(200, `{"userId":"","roles":null,"groups":[],"subprotocol":" "}`)} {
			answer.Store(a)
			c := te.dial(dialOptions{token: token, subprotocols: []string{"json.webpubsub.azure.v1"}})
			expectStatus(t, te.rest("HEAD", "/api/hubs/chat/users/alice"+v, "", nil), 200)
			expectStatus(t, te.rest("HEAD", "/api/hubs/chat/groups/room1"+v, "", nil), 200)
			c.SendText(`{"type":"joinGroup","group":"any","ackId":1}`)
			c.ExpectJSON(`{"type":"ack","ackId":1,"success":true}`)
			if r := up.nextFor(t, ceTypeConnected, c.id); r.header.Get("ce-connectionState") != "" {
				t.Fatalf("state %q", r.header.Get("ce-connectionState"))
			}
			_ = c.ws.CloseNow()
			te.waitEnded(c.id)
		}
	})
	t.Run("empty roles replace", func(t *testing.T) {
		te := te.with(t)
		answer.Store(jsonAnswer(200, `{"roles":[]}`))
		c := te.dial(dialOptions{token: token, subprotocols: []string{"json.webpubsub.azure.v1"}})
		c.SendText(`{"type":"joinGroup","group":"any","ackId":1}`)
		c.ExpectJSON(`{"type":"ack","ackId":1,"success":false,"error":{"name":"Forbidden","message":"The client has no permission to join group 'any'."}}`)
		up.nextFor(t, ceTypeConnected, c.id)
	})
	t.Run("custom subprotocol", func(t *testing.T) {
		te := te.with(t)
		answer.Store(jsonAnswer(200, `{"subprotocol":"chat.v2"}`))
		ws, _, err := te.dialRaw(dialOptions{token: token, subprotocols: []string{"json.webpubsub.azure.v1", "chat.v2"}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ws.CloseNow() })
		c := wrapWS(t, ws)
		c.id = te.waitRegistered()
		if c.ws.Subprotocol() != "chat.v2" {
			t.Fatalf("subprotocol %q", c.ws.Subprotocol())
		}
		te.rawBarrier(c) // a raw client: no connected frame, payload frames
		if r := up.nextFor(t, ceTypeConnected, c.id); r.header.Get("ce-subprotocol") != "chat.v2" {
			t.Fatalf("ce-subprotocol %q", r.header.Get("ce-subprotocol"))
		}
	})
	t.Run("rejections", func(t *testing.T) {
		te := te.with(t)
		long := strings.Repeat("x", 5000)
		for _, tc := range []struct {
			answer   fakeResponse
			status   int
			body     string
			protocol []string
		}{
			{fakeResponse{status: 401, header: http.Header{"Content-Type": {"text/plain"}}, body: []byte("Invalid credentials")}, 401, "Invalid credentials", nil},
			{fakeResponse{status: 403, body: []byte("no")}, 403, "no", nil},
			{fakeResponse{status: 429, body: []byte(long)}, 429, long[:4096], nil},
			{fakeResponse{status: 503}, 503, "", nil},
			{fakeResponse{status: 302, header: http.Header{"Location": {"/elsewhere"}}}, 500, "", nil},
			{jsonAnswer(200, `{"userId":`), 500, "", nil},
			{jsonAnswer(200, `[1]`), 500, "", nil},
			{jsonAnswer(200, `{"userId":5}`), 500, "", nil},
			{jsonAnswer(200, `{"roles":"r"}`), 500, "", nil},
			{jsonAnswer(200, `{"groups":["ok","\n"]}`), 500, "", nil},
			{jsonAnswer(200, `{"subprotocol":"JSON.webpubsub.azure.v1"}`), 500, "", []string{"json.webpubsub.azure.v1"}},
			{jsonAnswer(200, `{"subprotocol":"mqtt"}`), 500, "", []string{"json.webpubsub.azure.v1", "mqtt"}},
			{jsonAnswer(200, `{}`, strings.Repeat("s", 16<<10+1)), 500, "", nil},
		} {
			answer.Store(tc.answer)
			// A plain upgrade request, so that the whole body is seen.
			req, _ := http.NewRequest("GET", "http://"+te.hostPort()+"/client/hubs/chat?access_token="+token, nil)
			for k, v := range map[string]string{"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="} {
				req.Header.Set(k, v)
			}
			if tc.protocol != nil {
				req.Header.Set("Sec-WebSocket-Protocol", strings.Join(tc.protocol, ", "))
			}
			resp, err := sharedClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Errorf("answer %d %.40s: status %d; want %d", tc.answer.status, tc.answer.body, resp.StatusCode, tc.status)
				continue
			}
			if tc.body != "" && string(body) != tc.body {
				t.Errorf("answer %d: client body %.60q; want %.60q", tc.answer.status, body, tc.body)
			}
			if tc.status < 500 && resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
				t.Errorf("Content-Type %q", resp.Header.Get("Content-Type"))
			}
		}
		// No connected or disconnected event follows a failed connect.
		up.expectNone(t, 100*time.Millisecond, ceTypeConnected, ceTypeDisconnected)
	})
}

// TestUpstreamSignature: ce-signature has one entry per key, each the
// HMAC-SHA256 of the connection id.
func TestUpstreamSignature(t *testing.T) {
	const secondary = "ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zyxwvu"
	up := newFakeUpstream(t, nil)
	opts := up.handlerOptions("", "connect")
	opts.SecondaryAccessKey = secondary
	te := startEmulator(t, opts)
	c := te.raw(nil)
	r := up.next(t, ceTypeConnect)
	parts := strings.Split(r.header.Get("ce-signature"), ",")
	if len(parts) != 2 {
		t.Fatalf("ce-signature %q", r.header.Get("ce-signature"))
	}
	for i, key := range []string{DefaultAccessKey, secondary} {
		m := hmac.New(sha256.New, []byte(key))
		m.Write([]byte(c.id))
		if parts[i] != "sha256="+hex.EncodeToString(m.Sum(nil)) {
			t.Errorf("entry %d %q does not verify with its key", i, parts[i])
		}
	}
	// The documented vector.
	if got := cloudevents.Sign(DefaultAccessKey, "0f1e2d3c4b5a69788796a5b4c3d2e1f0"); got != "sha256=31f8e6b3dc22eb05c140cfc25b924fe875f1f204a284234dc93f5c6cf81b4175" {
		t.Fatalf("vector: %s", got)
	}
}

// TestUpstreamConnectionState: the state set by connect travels with every
// later event, a user event's answer replaces it (an empty header clears
// it, an absent one keeps it, a failed event leaves it), and it survives a
// recovery.
func TestUpstreamConnectionState(t *testing.T) {
	var states []string // what each user event answers with; "-" = no header
	var n atomic.Int32
	up := newFakeUpstream(t, func(r *recordedRequest) fakeResponse {
		switch r.ceType() {
		case ceTypeConnect:
			return fakeResponse{status: 204, header: http.Header{"Ce-Connectionstate": {"c0"}}}
		case ceTypeUserPrefix + "set":
			s := states[n.Add(1)-1]
			if s == "-" {
				return fakeResponse{status: 204}
			}
			return fakeResponse{status: 204, header: http.Header{"Ce-Connectionstate": {s}}}
		case ceTypeUserPrefix + "fail":
			return fakeResponse{status: 500, header: http.Header{"Ce-Connectionstate": {"ignored"}}}
		}
		return fakeResponse{status: 200}
	})
	states = []string{"s1", "-", "", "s4", strings.Repeat("x", 16<<10+1)}
	te := startEmulator(t, up.handlerOptions("*", "connect", "connected", "disconnected"))
	c := te.reliable(nil)
	if r := up.nextFor(t, ceTypeConnected, c.id); r.header.Get("ce-connectionState") != "c0" {
		t.Fatalf("connected state %q", r.header.Get("ce-connectionState"))
	}
	event := func(name string, ack int) *recordedRequest {
		c.SendText(`{"type":"event","event":"` + name + `","ackId":` + jsonNumber(ack) + `,"dataType":"text","data":"x"}`)
		return up.nextFor(t, ceTypeUserPrefix+name, c.id)
	}
	want := []string{"c0", "s1", "s1", "", "s4"}
	for i, w := range want {
		r := event("set", i+1)
		got, present := r.header["Ce-Connectionstate"]
		if w == "" && present || w != "" && (len(got) != 1 || got[0] != w) {
			t.Fatalf("event %d carried %q; want %q", i, got, w)
		}
		if i < 4 {
			c.ExpectJSON(`{"type":"ack","ackId":` + jsonNumber(i+1) + `,"success":true}`)
		}
	}
	// The fifth answer's state is too long: the event fails, the state
	// stays s4.
	c.ExpectJSON(`{"type":"ack","ackId":5,"success":false,"error":{"name":"InternalServerError","message":"The event handler returned a connection state longer than 16 KiB."}}`)
	event("fail", 6)
	c.ExpectJSON(`{"type":"ack","ackId":6,"success":false,"error":{"name":"InternalServerError","message":"The event handler returned status code 500."}}`)
	te.drop(c)
	c = te.recover(c)
	if r := event("other", 7); r.header.Get("ce-connectionState") != "s4" {
		t.Fatalf("after recovery the state is %q", r.header.Get("ce-connectionState"))
	}
	c.ExpectJSON(`{"type":"ack","ackId":7,"success":true}`)
	if err := c.ws.Close(websocket.StatusNormalClosure, ""); err != nil {
		t.Fatal(err)
	}
	r := up.nextFor(t, ceTypeDisconnected, c.id)
	if r.header.Get("ce-connectionState") != "s4" || string(r.body) != `{"reason":"The connection ended."}` || r.header.Get("ce-subprotocol") != "json.reliable.webpubsub.azure.v1" {
		t.Fatalf("disconnected %v %s", r.header, r.body)
	}
}

// TestUpstreamUserEventReplies covers the answer mapping of
// cloudevents.md §7.2 for PubSub and raw clients.
func TestUpstreamUserEventReplies(t *testing.T) {
	replies := map[string]fakeResponse{
		"text":    {status: 200, header: http.Header{"Content-Type": {"Text/Plain; charset=utf-8"}}, body: []byte("hi")},
		"json":    {status: 200, header: http.Header{"Content-Type": {"application/json"}}, body: []byte(`[1,{"a":"b"}]`)},
		"badjson": {status: 200, header: http.Header{"Content-Type": {"application/json"}}, body: []byte(`{`)},
		"bin":     {status: 201, header: http.Header{"Content-Type": {"application/octet-stream"}}, body: []byte{0, 1}},
		"none":    {status: 200, header: http.Header{"Content-Type": {""}}, body: []byte{9}},
		"empty":   {status: 200, header: http.Header{"Content-Type": {"application/octet-stream"}}},
		"xml":     {status: 200, header: http.Header{"Content-Type": {"application/xml"}}, body: []byte("<a/>")},
		"moved":   {status: 307, header: http.Header{"Location": {"/x"}}},
	}
	up := newFakeUpstream(t, func(r *recordedRequest) fakeResponse {
		if r.ceType() == ceTypeUserPrefix+"message" {
			return replies[string(r.body)]
		}
		return replies[strings.ToLower(r.header.Get("ce-eventName"))]
	})
	te := startEmulator(t, Options{Hubs: map[string]HubOptions{"chat": {EventHandlers: []EventHandler{
		{URLTemplate: up.url(), UserEventPattern: " text, JSON ,badjson,bin,none,empty,xml,moved,message", SkipValidation: true},
	}}}})
	c := te.pubsub(nil)
	for i, tc := range []struct{ event, frames string }{
		{"text", `{"type":"message","from":"server","dataType":"text","data":"hi"}`},
		{"Json", `{"type":"message","from":"server","dataType":"json","data":[1,{"a":"b"}]}`},
		{"bin", `{"type":"message","from":"server","dataType":"binary","data":"AAE="}`},
		{"none", `{"type":"message","from":"server","dataType":"binary","data":"CQ=="}`},
		{"empty", ``},
		{"badjson", `{"type":"ack","ackId":{{ack}},"success":false,"error":{"name":"InternalServerError","message":"The event handler returned invalid JSON."}}`},
		{"xml", `{"type":"ack","ackId":{{ack}},"success":false,"error":{"name":"InternalServerError","message":"The event handler returned an unsupported content type."}}`},
		{"moved", `{"type":"ack","ackId":{{ack}},"success":false,"error":{"name":"InternalServerError","message":"The event handler answered with a redirect."}}`},
		{"unmatched", `{"type":"ack","ackId":{{ack}},"success":false,"error":{"name":"InternalServerError","message":"No event handler is configured for event 'unmatched'."}}`},
	} {
		ack := jsonNumber(i + 1)
		c.SendText(`{"type":"event","event":"` + tc.event + `","ackId":` + ack + `,"dataType":"text","data":"x"}`)
		if tc.frames != "" {
			c.ExpectJSON(strings.ReplaceAll(tc.frames, "{{ack}}", ack))
		}
		if !strings.Contains(tc.frames, `"type":"ack"`) {
			c.ExpectJSON(`{"type":"ack","ackId":` + ack + `,"success":true}`)
		}
	}
	// Raw clients: text and binary frames back, 1011 on failure.
	r := te.raw(nil)
	for _, tc := range []struct {
		send string
		typ  websocket.MessageType
		want []byte
	}{{"text", websocket.MessageText, []byte("hi")}, {"json", websocket.MessageText, []byte(`[1,{"a":"b"}]`)}, {"badjson", websocket.MessageText, []byte("{")}, {"bin", websocket.MessageBinary, []byte{0, 1}}} {
		if err := r.ws.Write(t.Context(), websocket.MessageText, []byte(tc.send)); err != nil {
			t.Fatal(err)
		}
		if typ, b := r.Read(); typ != tc.typ || !bytes.Equal(b, tc.want) {
			t.Fatalf("%s: got %v %q", tc.send, typ, b)
		}
	}
	if err := r.ws.Write(t.Context(), websocket.MessageText, []byte("xml")); err != nil {
		t.Fatal(err)
	}
	r.ExpectClose(websocket.StatusInternalError)
}

// TestUpstreamSlowOrDeadHandlerAffectsOnlyItsConnection: a handler that
// never answers times out (connect: 500; event: an InternalServerError
// ack) while every other connection carries on; an unreachable handler
// fails fast.
func TestUpstreamSlowOrDeadHandlerAffectsOnlyItsConnection(t *testing.T) {
	up := newFakeUpstream(t, func(r *recordedRequest) fakeResponse {
		if r.header.Get("ce-eventName") == "slow" || strings.Contains(string(r.body), `"slow":["1"]`) {
			return fakeResponse{hold: true}
		}
		return fakeResponse{status: 204}
	})
	opts := up.handlerOptions("*", "connect")
	opts.EventHandlerTimeout = 300 * time.Millisecond
	te := startEmulator(t, opts)
	a := te.pubsub(jwt.MapClaims{"sub": "a"})
	b := te.pubsub(jwt.MapClaims{"sub": "b"})
	a.SendText(`{"type":"event","event":"slow","ackId":1,"dataType":"text","data":"x"}`)
	up.nextFor(t, ceTypeUserPrefix+"slow", a.id) // a's event is now stuck upstream
	// b, REST and new connections are unaffected while a waits.
	b.Barrier()
	expectStatus(t, te.rest("POST", "/api/hubs/chat/users/b/:send"+v, "text/plain", []byte("rest")), 202)
	b.ExpectJSON(`{"type":"message","from":"server","dataType":"text","data":"rest"}`)
	te.pubsub(nil).Barrier()
	a.ExpectJSON(`{"type":"ack","ackId":1,"success":false,"error":{"name":"InternalServerError","message":"The event handler request timed out."}}`)
	a.Barrier()
	// A connect that hangs: 500 after the timeout.
	_, resp, err := te.dialRaw(dialOptions{token: te.clientToken("chat", nil), query: "slow=1"})
	if err == nil || resp.StatusCode != 500 {
		t.Fatalf("slow connect: %v", err)
	}

	// Nothing listens on a closed port.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + l.Addr().String() + "/eh/{event}"
	l.Close()
	te2 := startEmulator(t, Options{Hubs: map[string]HubOptions{
		"chat": {EventHandlers: []EventHandler{{URLTemplate: dead, UserEventPattern: "message", SystemEvents: []string{"connected", "disconnected"}, SkipValidation: true}}},
		"auth": {EventHandlers: []EventHandler{{URLTemplate: dead, SystemEvents: []string{"connect"}}}},
	}})
	if _, resp, err := te2.dialRaw(dialOptions{hub: "auth", token: te2.clientToken("auth", nil)}); err == nil || resp.StatusCode != 500 {
		t.Fatalf("unreachable connect: %v", err)
	}
	r := te2.raw(nil)
	if err := r.ws.Write(t.Context(), websocket.MessageText, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	r.ExpectClose(websocket.StatusInternalError)
}

// TestUpstreamNonBlockingOrderAndRetries: connected is retried after 5xx
// and 429; disconnected waits for it and comes last; ce-ids count up.
func TestUpstreamNonBlockingOrderAndRetries(t *testing.T) {
	var connectedTries atomic.Int32
	release := make(chan struct{})
	var releaseOnce sync.Once
	up := newFakeUpstream(t, func(r *recordedRequest) fakeResponse {
		switch r.ceType() {
		case ceTypeConnected:
			switch connectedTries.Add(1) {
			case 1:
				return fakeResponse{status: 500}
			case 2:
				return fakeResponse{status: 429}
			case 3:
				select { // the last attempt succeeds late
				case <-release:
				case <-r.ctx.Done():
				}
				return fakeResponse{status: 200}
			}
		case ceTypeUserPrefix + "e":
			return fakeResponse{status: 204}
		}
		return fakeResponse{status: 400} // not retried
	})
	t.Cleanup(func() { releaseOnce.Do(func() { close(release) }) })
	opts := up.handlerOptions("*", "connected", "disconnected")
	opts.EventHandlerRetryDelays = []time.Duration{time.Millisecond, time.Millisecond, time.Millisecond}
	te := startEmulator(t, opts)
	c := te.pubsub(jwt.MapClaims{"sub": "u"})
	c.SendText(`{"type":"event","event":"e","ackId":1,"dataType":"text","data":"x"}`)
	c.ExpectJSON(`{"type":"ack","ackId":1,"success":true}`)
	var ids []string
	for range 3 {
		ids = append(ids, up.nextFor(t, ceTypeConnected, c.id).header.Get("ce-id"))
	}
	if ev := up.nextFor(t, ceTypeUserPrefix+"e", c.id); ev.header.Get("ce-id") != "2" {
		t.Fatalf("user event ce-id %q", ev.header.Get("ce-id"))
	}
	if strings.Join(ids, ",") != "1,1,1" {
		t.Fatalf("connected ce-ids %v", ids)
	}
	expectStatus(t, te.rest("DELETE", "/api/hubs/chat/connections/"+c.id+v, "", nil), 204)
	// disconnected is held back until connected completes.
	up.expectNone(t, 100*time.Millisecond, ceTypeDisconnected)
	releaseOnce.Do(func() { close(release) })
	r := up.nextFor(t, ceTypeDisconnected, c.id)
	if r.header.Get("ce-id") != "3" || string(r.body) != `{"reason":"Closed by the application server."}` {
		t.Fatalf("disconnected %s %s", r.header.Get("ce-id"), r.body)
	}
	// A 400 is not retried.
	d := te.pubsub(nil)
	expectStatus(t, te.rest("DELETE", "/api/hubs/chat/connections/"+d.id+v, "", nil), 204)
	up.nextFor(t, ceTypeDisconnected, d.id)
	up.expectNone(t, 100*time.Millisecond, ceTypeDisconnected)
}

// TestUpstreamDisconnectedReasons: the reason of each way a connection
// ends, and exactly one disconnected event per accepted connection.
func TestUpstreamDisconnectedReasons(t *testing.T) {
	up := newFakeUpstream(t, nil)
	te := startEmulator(t, up.handlerOptions("", "disconnected"))
	reason := func(id string) string {
		t.Helper()
		var b struct{ Reason string }
		r := up.nextFor(t, ceTypeDisconnected, id)
		if err := json.Unmarshal(r.body, &b); err != nil {
			t.Fatal(err)
		}
		return b.Reason
	}
	a := te.pubsub(nil)
	if err := a.ws.Close(websocket.StatusNormalClosure, "see you"); err != nil {
		t.Fatal(err)
	}
	if got := reason(a.id); got != "see you" {
		t.Errorf("client close: %q", got)
	}
	b := te.pubsub(nil)
	_ = b.ws.CloseNow()
	if got := reason(b.id); got != "The connection ended unexpectedly." {
		t.Errorf("drop: %q", got)
	}
	c := te.raw(nil)
	if err := c.ws.Write(t.Context(), websocket.MessageText, []byte("x")); err != nil {
		t.Fatal(err)
	}
	c.ExpectClose(websocket.StatusNormalClosure)
	if got := reason(c.id); got != "" {
		t.Errorf("raw frame without handler: %q", got)
	}
	d := te.pubsub(nil)
	d.SendText(`{"type":"nope"}`)
	if got := reason(d.id); got != "The client message is not a valid JSON protocol message." {
		t.Errorf("protocol error: %q", got)
	}
	e := te.pubsub(nil)
	expectStatus(t, te.rest("POST", "/api/hubs/chat/:closeConnections"+v+"&reason=maintenance", "", nil), 204)
	if got := reason(e.id); got != "maintenance" {
		t.Errorf("REST close: %q", got)
	}
	up.expectNone(t, 100*time.Millisecond, ceTypeDisconnected)
}

// TestUpstreamCloseIsBounded: Close sends the disconnected events of the
// open and the detached connections, does not wait longer than its flush
// time for a handler that never answers, and leaves no goroutine.
func TestUpstreamCloseIsBounded(t *testing.T) {
	waitNoEmulatorGoroutines(t, "by earlier tests")
	up := newFakeUpstream(t, func(*recordedRequest) fakeResponse { return fakeResponse{hold: true} })
	opts := up.handlerOptions("", "disconnected")
	opts.CloseTimeout = 200 * time.Millisecond
	te := newTestEmulator(t, opts)
	e := te.Emulator
	if err := e.Start(); err != nil {
		t.Fatal(err)
	}
	c := te.pubsub(nil)
	r := te.reliable(nil)
	te.drop(r) // detached, with a retention timer running
	done := make(chan error, 1)
	go func() { done <- e.Close() }()
	up.nextFor(t, ceTypeDisconnected, c.id)
	if got := up.nextFor(t, ceTypeDisconnected, r.id); string(got.body) != `{"reason":"The emulator is shutting down."}` {
		t.Fatalf("detached connection's disconnected: %s", got.body)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(testTimeout):
		t.Fatal("Close waits for a handler that never answers")
	}
	waitNoEmulatorGoroutines(t, "after Close")
}

// TestUpstreamHandlerSelection: the first handler whose filter matches
// gets the event; {hub} and {event} are filled in; "*" serves other hubs.
func TestUpstreamHandlerSelection(t *testing.T) {
	first := newFakeUpstream(t, nil)
	second := newFakeUpstream(t, nil)
	te := startEmulator(t, Options{Hubs: map[string]HubOptions{
		"Chat": {EventHandlers: []EventHandler{
			{URLTemplate: first.srv.URL + "/a/{EVENT}", UserEventPattern: "one", SystemEvents: []string{"Connect"}, SkipValidation: true},
			{URLTemplate: second.srv.URL + "/b/{Hub}/{event}", UserEventPattern: "*", SystemEvents: []string{"connect", "connected"}, SkipValidation: true},
		}},
		"*": {EventHandlers: []EventHandler{{URLTemplate: second.srv.URL + "/star/{hub}", UserEventPattern: "*", SkipValidation: true}}},
	}})
	c := te.pubsub(nil)
	if r := first.next(t, ceTypeConnect); r.path != "/a/connect" {
		t.Fatalf("connect path %s", r.path)
	}
	if r := second.next(t, ceTypeConnected); r.path != "/b/chat/connected" {
		t.Fatalf("connected path %s", r.path)
	}
	c.SendText(`{"type":"event","event":"ONE","ackId":1,"dataType":"text","data":"x"}`)
	c.ExpectJSON(`{"type":"ack","ackId":1,"success":true}`)
	if r := first.next(t, ceTypeUserPrefix+"ONE"); r.path != "/a/ONE" {
		t.Fatalf("user event path %s", r.path)
	}
	c.SendText(`{"type":"event","event":"two","ackId":2,"dataType":"text","data":"x"}`)
	c.ExpectJSON(`{"type":"ack","ackId":2,"success":true}`)
	second.next(t, ceTypeUserPrefix+"two")
	o := te.dial(dialOptions{hub: "other", token: te.clientToken("other", nil), subprotocols: []string{"json.webpubsub.azure.v1"}})
	o.SendText(`{"type":"event","event":"x","ackId":1,"dataType":"json","data":{"k":1}}`)
	o.ExpectJSON(`{"type":"ack","ackId":1,"success":true}`)
	if r := second.next(t, ceTypeUserPrefix+"x"); r.path != "/star/other" || string(r.body) != `{"k":1}` {
		t.Fatalf("path %s body %s", r.path, r.body)
	}
}

// TestEventHandlerValidation: invalid handler settings fail New with a
// message that names the field but not the URL.
func TestEventHandlerValidation(t *testing.T) {
	for _, h := range []EventHandler{
		{},
		{URLTemplate: "ftp://h/x?code=secret"},
		{URLTemplate: "/relative?code=secret"},
		{URLTemplate: "http://{event}.example/?code=secret"},
		{URLTemplate: "http://u:p@h/?code=secret"},
		{URLTemplate: "http://h/?code=secret", SystemEvents: []string{"connecting"}},
	} {
		_, err := New(Options{Hubs: map[string]HubOptions{"chat": {EventHandlers: []EventHandler{h}}}})
		if err == nil {
			t.Errorf("%+v accepted", h)
			continue
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("error %q shows the URL", err)
		}
	}
	if _, err := New(Options{Hubs: map[string]HubOptions{"chat": {}, "CHAT": {}}}); err == nil {
		t.Error("two keys for one hub accepted")
	}
	for _, o := range []Options{{ReliableRetention: -1}, {EventHandlerTimeout: -1}} {
		if _, err := New(o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}

// TestUpstreamSecretsStayOut: failures are logged without the handler's
// ?code= query, and the access key never appears.
func TestUpstreamSecretsStayOut(t *testing.T) {
	var logs syncBuffer
	up := newFakeUpstream(t, func(r *recordedRequest) fakeResponse {
		if r.method == http.MethodOptions {
			return fakeResponse{status: 403}
		}
		return fakeResponse{status: 500}
	})
	te := startEmulator(t, Options{
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Hubs: map[string]HubOptions{
			"chat":  {EventHandlers: []EventHandler{{URLTemplate: up.url(), UserEventPattern: "*", SystemEvents: []string{"connected", "disconnected"}, SkipValidation: true}}},
			"check": {EventHandlers: []EventHandler{{URLTemplate: up.url(), SystemEvents: []string{"connect"}}}},
		},
	})
	c := te.pubsub(nil)
	c.SendText(`{"type":"event","event":"e","ackId":1,"dataType":"text","data":"x"}`)
	c.ExpectJSON(`{"type":"ack","ackId":1,"success":false,"error":{"name":"InternalServerError","message":"The event handler returned status code 500."}}`)
	_, _, _ = te.dialRaw(dialOptions{hub: "check", token: te.clientToken("check", nil)})
	up.nextMethod(t, http.MethodOptions)
	for _, out := range []string{logs.String()} {
		for _, secret := range []string{"secret-code", DefaultAccessKey, "access_token="} {
			if strings.Contains(out, secret) {
				t.Fatalf("log contains %q:\n%s", secret, out)
			}
		}
	}
	if !strings.Contains(logs.String(), "abuse-protection") {
		t.Fatalf("the refused check was not logged:\n%s", logs.String())
	}
}

// TestEntraTokens: with AllowUnvalidatedEntraTokens, a REST request with a
// token for https://webpubsub.azure.com is accepted on its audience and
// lifetime alone; without the option it is refused.
func TestEntraTokens(t *testing.T) {
	entra := func(claims jwt.MapClaims) string {
		h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT","kid":"k"}`))
		p, _ := json.Marshal(claims)
		return h + "." + base64.RawURLEncoding.EncodeToString(p) + "." + base64.RawURLEncoding.EncodeToString([]byte("not-checked"))
	}
	now := time.Now()
	valid := entra(jwt.MapClaims{"aud": "https://webpubsub.azure.com", "exp": now.Add(time.Hour).Unix(), "iss": "https://sts.windows.net/t/"})
	call := func(te *testEmulator, tok string) int {
		req, _ := http.NewRequest("POST", te.URL()+"/api/hubs/chat/:send"+v, strings.NewReader("x"))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "text/plain")
		resp, err := sharedClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	strict := startEmulator(t, Options{})
	if got := call(strict, valid); got != 401 {
		t.Fatalf("without the option: %d", got)
	}
	lax := startEmulator(t, Options{AllowUnvalidatedEntraTokens: true})
	for tok, want := range map[string]int{
		valid: 202,
		entra(jwt.MapClaims{"aud": []string{"x", "https://webpubsub.azure.com/"}, "exp": now.Add(time.Hour).Unix()}):                   202,
		entra(jwt.MapClaims{"aud": "https://webpubsub.azure.com", "exp": now.Add(-time.Hour).Unix()}):                                  401,
		entra(jwt.MapClaims{"aud": "https://webpubsub.azure.com"}):                                                                     401,
		entra(jwt.MapClaims{"aud": "https://management.azure.com", "exp": now.Add(time.Hour).Unix()}):                                  401,
		entra(jwt.MapClaims{"aud": "https://webpubsub.azure.com", "exp": now.Add(time.Hour).Unix(), "nbf": now.Add(time.Hour).Unix()}): 401,
		"garbage": 401,
	} {
		if got := call(lax, tok); got != want {
			t.Errorf("token %.60s: %d; want %d", tok, got, want)
		}
	}
	// :generateToken works with an Entra token too.
	req, _ := http.NewRequest("POST", lax.URL()+"/api/hubs/chat/:generateToken"+v+"&userId=u", nil)
	req.Header.Set("Authorization", "Bearer "+valid)
	resp, err := sharedClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf(":generateToken with Entra: %d", resp.StatusCode)
	}
}
