package emulator

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/golang-jwt/jwt/v5"
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

// TestTrace: with Options.Trace every REST call, delivery, upstream call
// and connection event is one trace line with its fields, and no line
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
	c.SendText(`{"type":"event","event":"ping","ackId":2,"dataType":"text","data":"hi"}`)
	c.ReadJSON() // the reply
	c.ReadJSON() // the ack
	expectStatus(t, te.rest("DELETE", "/api/hubs/chat/connections/"+c.id+"?api-version=2024-12-01&reason=bye", "", nil), 204)
	te.waitEnded(c.id)

	checks := []struct {
		kind string
		want map[string]string
	}{
		{"connection", map[string]string{"event": "connected", "hub": "chat", "connectionId": c.id}},
		{"connection", map[string]string{"event": "joined", "group": "room", "connectionId": c.id}},
		{"rest", map[string]string{"operation": "SendToGroup", "hub": "chat", "target": "room", "status": "202"}},
		{"delivery", map[string]string{"source": "rest", "target": "group", "group": "room", "recipients": "1", "bytes": "500", "dataType": "text",
			"preview": strings.Repeat("x", 32) + "…(468 more bytes)"}},
		{"delivery", map[string]string{"target": "user", "recipients": "0", "bytes": "2", "dataType": "binary"}},
		{"upstream", map[string]string{"event": "ping", "status": "200", "url": fu.srv.URL + "/upstream/{hub}/{event}"}},
		{"delivery", map[string]string{"source": "upstream", "target": "connection", "recipients": "1", "preview": "pong"}},
		{"rest", map[string]string{"operation": "CloseConnection", "target": c.id, "status": "204"}},
		{"connection", map[string]string{"event": "left", "group": "room"}},
		{"connection", map[string]string{"event": "disconnected", "reason": "bye"}},
	}
	for _, ck := range checks {
		if rec.find(ck.kind, ck.want) == nil {
			t.Errorf("no %s trace line with %v", ck.kind, ck.want)
		}
	}
	if l := rec.find("delivery", map[string]string{"dataType": "binary"}); l != nil && l["preview"] != "" {
		t.Errorf("a binary delivery has a preview: %v", l)
	}
	if l := rec.find("rest", map[string]string{"operation": "SendToGroup"}); l == nil || l["durationMs"] == "" {
		t.Errorf("the REST line has no duration: %v", l)
	}
	rec.mu.Lock()
	raw := rec.raw.String()
	rec.mu.Unlock()
	for _, secret := range []string{DefaultAccessKey, "secret-code", "eyJ", "sha256=", long} {
		if strings.Contains(raw, secret) {
			t.Errorf("the trace holds %.20q", secret)
		}
	}
}
