package emulator

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"
	"github.com/mochi-mqtt/server/v2/packets"
)

// records is a slog.Handler that keeps the trace lines' attributes.
type records struct {
	mu    sync.Mutex
	lines []map[string]string
	raw   strings.Builder
}

func (r *records) Enabled(context.Context, slog.Level) bool { return true }
func (r *records) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *records) WithGroup(string) slog.Handler            { return r }
func (r *records) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.raw.WriteString(rec.Message)
	if rec.Message != "trace" {
		return nil
	}
	m := map[string]string{}
	rec.Attrs(func(a slog.Attr) bool {
		m[a.Key] = a.Value.String()
		r.raw.WriteString(" " + a.Key + "=" + a.Value.String())
		return true
	})
	r.lines = append(r.lines, m)
	return nil
}

// find returns the first trace line of kind whose attributes include
// every pair of want.
func (r *records) find(kind string, want map[string]string) map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, l := range r.lines {
		if l["kind"] != kind {
			continue
		}
		ok := true
		for k, v := range want {
			ok = ok && l[k] == v
		}
		if ok {
			return l
		}
	}
	return nil
}

// findExact returns the first trace line of kind whose attributes are
// exactly those of want besides kind, field by field: the value "<ms>"
// stands for any whole number of milliseconds.
func (r *records) findExact(kind string, want map[string]string) map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, l := range r.lines {
		if exactly(l, kind, want) {
			return l
		}
	}
	return nil
}

// exactly reports whether line l is of kind with exactly the attributes
// of want besides kind (see findExact).
func exactly(l map[string]string, kind string, want map[string]string) bool {
	if l["kind"] != kind || len(l) != len(want)+1 {
		return false
	}
	for k, v := range want {
		got, present := l[k]
		if !present {
			return false
		}
		if v == "<ms>" {
			if n, err := strconv.ParseInt(got, 10, 64); err != nil || n < 0 {
				return false
			}
		} else if got != v {
			return false
		}
	}
	return true
}

// waitFunc waits until a trace line that match accepts is written.
func (r *records) waitFunc(t *testing.T, what string, match func(map[string]string) bool) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for {
		r.mu.Lock()
		found := slices.ContainsFunc(r.lines, match)
		r.mu.Unlock()
		if found {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no matching trace line; lines:%s", what, r.dump())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// wait waits until a trace line of kind with every pair of want is
// written, and returns it.
func (r *records) wait(t *testing.T, kind string, want map[string]string) map[string]string {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for {
		if l := r.find(kind, want); l != nil {
			return l
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s trace line with %v; lines:%s", kind, want, r.dump())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// dump is every trace line, for a failure message.
func (r *records) dump() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	for _, l := range r.lines {
		fmt.Fprintf(&b, "\n  %v", l)
	}
	return b.String()
}

// TestTrace: with Options.Trace every REST call, delivery, upstream call
// and connection event (connect, join, leave, detach, recovery,
// disconnect) is one trace line, checked here field by field, and no line
// holds a secret or more than a preview of a message.
func TestTrace(t *testing.T) {
	rec := &records{}
	fu := newFakeUpstream(t, func(r *recordedRequest) fakeResponse {
		return fakeResponse{status: 200, header: http.Header{"Content-Type": {"text/plain"}}, body: []byte("pong")}
	})
	opts := fu.handlerOptions("ping")
	opts.Trace = true
	opts.Logger = slog.New(rec)
	te := startEmulator(t, opts)
	c := te.pubsub(jwt.MapClaims{"sub": "u", "role": []string{"webpubsub.joinLeaveGroup"}})
	c.SendText(`{"type":"joinGroup","group":"room","ackId":1}`)
	c.ExpectJSON(`{"type":"ack","ackId":1,"success":true}`)
	long := strings.Repeat("x", 500)
	expectStatus(t, te.rest("POST", "/api/hubs/chat/groups/room/:send?api-version=2024-12-01", "text/plain", []byte(long)), 202)
	c.ReadJSON()
	expectStatus(t, te.rest("POST", "/api/hubs/chat/users/nobody/:send?api-version=2024-12-01", "application/octet-stream", []byte{1, 2}), 202)
	expectStatus(t, te.rest("POST", "/api/hubs/chat/:send?api-version=bogus", "text/plain", []byte("x")), 400)
	c.SendText(`{"type":"event","event":"ping","ackId":2,"dataType":"text","data":"hi"}`)
	c.ReadJSON() // the reply
	c.ReadJSON() // the ack
	expectStatus(t, te.rest("DELETE", "/api/hubs/chat/connections/"+c.id+"?api-version=2024-12-01&reason=bye", "", nil), 204)
	te.waitEnded(c.id)

	// A reliable connection cut, then recovered.
	rc := te.reliable(jwt.MapClaims{"sub": "r"})
	if err := te.CutConnection("chat", rc.id); err != nil {
		t.Fatal(err)
	}
	te.waitDetached(rc.id)
	rc = te.recover(rc)
	rec.wait(t, "connection", map[string]string{"event": "recovered"})

	checks := []struct {
		kind string
		want map[string]string
	}{
		{"connection", map[string]string{"event": "connected", "hub": "chat", "connectionId": c.id}},
		{"connection", map[string]string{"event": "joined", "hub": "chat", "connectionId": c.id, "group": "room"}},
		{"rest", map[string]string{"operation": "SendToGroup", "hub": "chat", "target": "room", "status": "202",
			"durationMs": "<ms>", "errorCode": ""}},
		{"delivery", map[string]string{"hub": "chat", "source": "rest", "target": "group", "group": "room", "recipients": "1",
			"bytes": "500", "dataType": "text", "preview": strings.Repeat("x", 32) + "…(468 more bytes)"}},
		{"rest", map[string]string{"operation": "SendToUser", "hub": "chat", "target": "nobody", "status": "202",
			"durationMs": "<ms>", "errorCode": ""}},
		{"delivery", map[string]string{"hub": "chat", "source": "rest", "target": "user", "group": "", "recipients": "0",
			"bytes": "2", "dataType": "binary"}},
		{"rest", map[string]string{"operation": "SendToAll", "hub": "chat", "target": "", "status": "400",
			"durationMs": "<ms>", "errorCode": "Error.BadRequest"}},
		{"upstream", map[string]string{"hub": "chat", "connectionId": c.id, "event": "ping", "status": "200",
			"durationMs": "<ms>", "url": fu.srv.URL + "/upstream/chat/ping"}},
		{"delivery", map[string]string{"hub": "chat", "source": "upstream", "target": "connection", "group": "", "recipients": "1",
			"bytes": "4", "dataType": "text", "preview": "pong"}},
		{"rest", map[string]string{"operation": "CloseConnection", "hub": "chat", "target": c.id, "status": "204",
			"durationMs": "<ms>", "errorCode": ""}},
		{"connection", map[string]string{"event": "left", "hub": "chat", "connectionId": c.id, "group": "room"}},
		{"connection", map[string]string{"event": "disconnected", "hub": "chat", "connectionId": c.id, "reason": "bye"}},
		{"connection", map[string]string{"event": "connected", "hub": "chat", "connectionId": rc.id}},
		{"connection", map[string]string{"event": "detached", "hub": "chat", "connectionId": rc.id}},
		{"connection", map[string]string{"event": "recovered", "hub": "chat", "connectionId": rc.id}},
	}
	for _, ck := range checks {
		if rec.findExact(ck.kind, ck.want) == nil {
			t.Errorf("no %s trace line with exactly %v; lines:%s", ck.kind, ck.want, rec.dump())
		}
	}
	if l := rec.find("connection", map[string]string{"event": "refused"}); l != nil {
		t.Errorf("an accepted handshake is traced as refused: %v", l)
	}
	rec.mu.Lock()
	raw := rec.raw.String()
	rec.mu.Unlock()
	for _, secret := range []string{DefaultAccessKey, "secret-code", "code=", "eyJ", "sha256=", long, rc.reconnectionToken} {
		if strings.Contains(raw, secret) {
			t.Errorf("the trace holds %.20q", secret)
		}
	}
}

// TestTraceRefusals: a REST call refused with 401 and a refused WebSocket
// handshake (401 or another refusal) are each one trace line with the
// status and the reason the response gives, never the token.
func TestTraceRefusals(t *testing.T) {
	rec := &records{}
	te := startEmulator(t, Options{Trace: true, Logger: slog.New(rec), ClockSkew: time.Minute})
	now := time.Now()
	other := "another-key-another-key-another-key-0"
	path := "/api/hubs/chat/:send?api-version=2024-12-01"
	restAud := te.URL() + path
	clientAud := "http://" + te.hostPort() + "/client/hubs/chat"
	var tokens []string
	t.Run("REST", func(t *testing.T) {
		tests := []struct {
			name, key string
			claims    jwt.MapClaims
			want      string
		}{
			{"wrong key", other, jwt.MapClaims{"aud": restAud, "exp": now.Add(time.Hour).Unix()}, "signature does not match"},
			{"expired", DefaultAccessKey, jwt.MapClaims{"aud": restAud, "exp": now.Add(-3 * time.Minute).Unix()}, "expired 3m"},
			{"not yet valid", DefaultAccessKey, jwt.MapClaims{"aud": restAud, "exp": now.Add(time.Hour).Unix(), "nbf": now.Add(10 * time.Minute).Unix()}, "not valid before"},
			{"audience", DefaultAccessKey, jwt.MapClaims{"aud": "http://example.com/api/hubs/chat/:send", "exp": now.Add(time.Hour).Unix()},
				`audience "http://example.com/api/hubs/chat/:send" does not match the request URL`},
		}
		for _, tt := range tests {
			tokens = append(tokens, sign(t, tt.key, tt.claims))
			expectStatus(t, doREST(t, te.URL(), tt.key, "POST", path, "text/plain", []byte("x"), tt.claims), 401)
			rec.waitFunc(t, tt.name, func(l map[string]string) bool {
				return l["kind"] == "rest" && l["operation"] == "SendToAll" && l["status"] == "401" && strings.Contains(l["reason"], tt.want)
			})
		}
		req, _ := http.NewRequest("POST", te.URL()+path, strings.NewReader("x"))
		req.Header.Set("Authorization", "Bearer not-a-jwt")
		resp, err := sharedClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Fatalf("malformed token: status %d", resp.StatusCode)
		}
		rec.wait(t, "rest", map[string]string{"status": "401", "reason": "The access token is malformed: it is not a JWT."})
	})
	t.Run("handshake", func(t *testing.T) {
		tests := []struct {
			name, token, want string
		}{
			{"none", "", "An access token is required."},
			{"malformed", "not-a-jwt", "The access token is malformed: it is not a JWT."},
			{"wrong key", sign(t, other, jwt.MapClaims{"aud": clientAud, "exp": now.Add(time.Hour).Unix()}), "signature does not match"},
			{"expired", sign(t, DefaultAccessKey, jwt.MapClaims{"aud": clientAud, "exp": now.Add(-2 * time.Minute).Unix()}), "beyond the clock skew of 1m0s"},
			{"not yet valid", sign(t, DefaultAccessKey, jwt.MapClaims{"aud": clientAud, "exp": now.Add(time.Hour).Unix(), "nbf": now.Add(10 * time.Minute).Unix()}), "not valid before"},
			{"other hub", sign(t, DefaultAccessKey, jwt.MapClaims{"aud": "http://" + te.hostPort() + "/client/hubs/news", "exp": now.Add(time.Hour).Unix()}), `The access token is for hub "news", not "chat".`},
			{"audience", sign(t, DefaultAccessKey, jwt.MapClaims{"aud": "http://" + te.hostPort() + "/api/hubs/chat", "exp": now.Add(time.Hour).Unix()}), "does not name the client endpoint of hub"},
		}
		for _, tt := range tests {
			tokens = append(tokens, tt.token)
			_, resp, err := te.dialRaw(dialOptions{token: tt.token})
			if err == nil || resp == nil || resp.StatusCode != 401 {
				t.Fatalf("%s: dial: %v, %v; want 401", tt.name, err, resp)
			}
			rec.waitFunc(t, tt.name, func(l map[string]string) bool {
				return l["kind"] == "connection" && l["event"] == "refused" && l["hub"] == "chat" &&
					l["path"] == "/client/hubs/chat" && l["status"] == "401" && strings.Contains(l["reason"], tt.want)
			})
		}
		// Other refusals of the handshake: not an upgrade, Socket.IO.
		r, err := sharedClient.Get(te.URL() + "/client/hubs/Chat")
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		want := map[string]string{"event": "refused", "hub": "chat", "path": "/client/hubs/Chat", "status": "400",
			"reason": "The client endpoint accepts only WebSocket upgrade requests."}
		rec.waitFunc(t, "not an upgrade", func(l map[string]string) bool { return exactly(l, "connection", want) })
		r, err = sharedClient.Get(te.URL() + "/clients/socketio/hubs/chat")
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		rec.waitFunc(t, "Socket.IO", func(l map[string]string) bool {
			return l["kind"] == "connection" && l["event"] == "refused" && l["status"] == "501" && l["path"] == "/clients/socketio/hubs/chat"
		})
		// A recovery with a wrong reconnection token: accepted, then closed.
		rc := te.reliable(jwt.MapClaims{"sub": "r"})
		te.drop(rc)
		tokens = append(tokens, rc.reconnectionToken)
		if ws, _, err := te.recoverRaw(rc, "wrong-reconnection-token"); err == nil {
			ws.CloseNow()
		}
		rec.waitFunc(t, "recovery", func(l map[string]string) bool {
			return exactly(l, "connection", map[string]string{"event": "recoveryRefused", "hub": "chat", "connectionId": rc.id,
				"reason": "no recoverable connection with this id and reconnection token"})
		})
	})
	rec.mu.Lock()
	raw := rec.raw.String()
	rec.mu.Unlock()
	for _, tok := range tokens {
		if tok != "" && strings.Contains(raw, tok) {
			t.Errorf("the trace holds the token %.20q…", tok)
		}
	}
	for _, secret := range []string{DefaultAccessKey, other, "eyJ", "wrong-reconnection-token"} {
		if strings.Contains(raw, secret) {
			t.Errorf("the trace holds %.20q", secret)
		}
	}
}

// TestTraceMQTTRefusals shows that a CONNECT the MQTT endpoint refuses
// after the WebSocket upgrade is one trace line: event "refused" with
// the client id, the CONNACK code sent ("none" when the protocol sends
// none) and why, and no token.
func TestTraceMQTTRefusals(t *testing.T) {
	fu := newFakeUpstream(t, func(r *recordedRequest) fakeResponse {
		if r.header.Get("ce-connectionId") == "handlerno" {
			return fakeResponse{status: 401, body: []byte(`{"mqtt":{"code":134,"reason":"bad password"}}`)}
		}
		return fakeResponse{status: 200}
	})
	rec := &records{}
	opts := fu.handlerOptions("", "connect")
	opts.Trace, opts.Logger = true, slog.New(rec)
	te := startEmulator(t, opts)
	tests := []struct {
		name      string
		version   byte
		id        string
		edit      func(*packets.Packet)
		connack   string
		reason    string // the start of the trace's reason
		raw       []byte // sent instead of a CONNECT when set
		textFrame bool
	}{
		{name: "5.0 client id", version: mqttV5, id: "bad_id", connack: "0x85", reason: "The client id must have 1 to 128 characters"},
		{name: "3.1.1 client id", version: mqttV311, id: "bad_id", connack: "0x02", reason: "The client id must have 1 to 128 characters"},
		{name: "3.1.1 keep-alive", version: mqttV311, id: "ka", edit: func(p *packets.Packet) { p.Connect.Keepalive = 0 },
			connack: "none", reason: "An MQTT 3.1.1 keep-alive must be 1 to 180 seconds."},
		{name: "protocol level", version: mqttV311, id: "old", edit: func(p *packets.Packet) { p.ProtocolVersion = 3; p.Connect.ProtocolName = []byte("MQIsdp") },
			connack: "0x01", reason: "Only MQTT 3.1.1"},
		{name: "enhanced authentication", version: mqttV5, id: "auth", edit: func(p *packets.Packet) { p.Properties.AuthenticationMethod = "SCRAM-SHA-1" },
			connack: "0x8C", reason: reasonMQTTAuth},
		{name: "retained will", version: mqttV5, id: "will", edit: func(p *packets.Packet) { will("status", []byte("x"))(p); p.Connect.WillRetain = true },
			connack: "0x9A", reason: reasonMQTTRetain},
		{name: "connect handler", version: mqttV5, id: "handlerno", connack: "0x86",
			reason: `The connect event handler answered 401: {"mqtt":{"code":134,"reason":"bad password"}}`},
		{name: "not a CONNECT", raw: encodeMQTT(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pingreq}}),
			connack: "none", reason: reasonMQTTNotConnect},
		{name: "malformed", raw: []byte{0x10, 0x02, 0x00, 0x00}, connack: "none", reason: reasonMQTTMalformed},
		{name: "text frame", textFrame: true, connack: "none", reason: reasonMQTTTextFrame},
	}
	var tokens []string
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			te := te.with(t)
			if tc.raw == nil && !tc.textFrame {
				c, ack, ok := te.mqttConnect(tc.version, tc.id, nil, tc.edit)
				if tc.connack == "none" && ok {
					t.Fatalf("got a packet %+v; want the connection closed without CONNACK", ack.FixedHeader)
				}
				if tc.connack != "none" && (!ok || fmt.Sprintf("0x%02X", ack.ReasonCode) != tc.connack) {
					t.Fatalf("CONNACK %#x (ok %v); want %s", ack.ReasonCode, ok, tc.connack)
				}
				c.expectClosed()
			} else {
				token := te.mqttToken("chat", nil)
				tokens = append(tokens, token)
				ws, _, err := te.mqttDial("chat", token, false, "mqtt")
				if err != nil {
					t.Fatal(err)
				}
				defer ws.CloseNow()
				typ, msg := websocket.MessageBinary, tc.raw
				if tc.textFrame {
					typ, msg = websocket.MessageText, []byte("CONNECT")
				}
				ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
				defer cancel()
				if err := ws.Write(ctx, typ, msg); err != nil {
					t.Fatal(err)
				}
				if _, _, err := ws.Read(ctx); err == nil {
					t.Fatal("read a message; want the connection closed")
				}
			}
			rec.waitFunc(t, tc.name, func(l map[string]string) bool {
				return l["kind"] == "connection" && l["event"] == "refused" && l["hub"] == "chat" &&
					l["path"] == "/clients/mqtt/hubs/chat" && l["clientId"] == tc.id && l["connack"] == tc.connack &&
					strings.HasPrefix(l["reason"], tc.reason)
			})
		})
	}
	// A refused client's token never reaches the trace.
	rec.mu.Lock()
	raw := rec.raw.String()
	rec.mu.Unlock()
	for _, tok := range tokens {
		if strings.Contains(raw, tok) {
			t.Errorf("the trace holds the token %.20q…", tok)
		}
	}
	if strings.Contains(raw, "eyJ") || strings.Contains(raw, te.AccessKey()) {
		t.Error("the trace holds a token or the key")
	}
}
