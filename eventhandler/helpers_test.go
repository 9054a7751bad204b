package eventhandler

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/gowebpubsub/webpubsub/internal/cloudevents"
)

// Test vectors of spec/cloudevents.md §9.3.
const (
	primaryKey   = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGH"
	secondaryKey = "ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zyxwvu"
	exampleConn  = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
	exampleSig   = "sha256=31f8e6b3dc22eb05c140cfc25b924fe875f1f204a284234dc93f5c6cf81b4175"
)

func loadJSON(t testing.TB, name string, v any) {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// logBuffer collects log output; safe for concurrent use.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// testLogger returns a logger that records everything, debug included.
func testLogger() (*slog.Logger, *logBuffer) {
	lb := &logBuffer{}
	return slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug})), lb
}

// mustNew builds a handler for hub "chat" with a recording logger.
func mustNew(t testing.TB, opts *Options) (*Handler, *logBuffer) {
	t.Helper()
	if opts == nil {
		opts = &Options{}
	}
	lg, lb := testLogger()
	if opts.Logger == nil {
		opts.Logger = lg
	}
	h, err := New("chat", opts)
	if err != nil {
		t.Fatal(err)
	}
	return h, lb
}

// eventRequest builds a POST for hub chat, connection exampleConn, signed
// with the primary key, with the given ce-type, content type and body.
// Extra headers are set afterwards (an empty value deletes the header).
func eventRequest(ceType, contentType, body string, extra ...string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, DefaultPath("chat"), strings.NewReader(body))
	r.Header.Set("Content-Type", contentType)
	r.Header.Set(HeaderRequestOrigin, "localhost:8080")
	r.Header.Set(cloudevents.HeaderSpecVersion, "1.0")
	r.Header.Set(cloudevents.HeaderAWPSVersion, "1.0")
	r.Header.Set(cloudevents.HeaderType, ceType)
	r.Header.Set(cloudevents.HeaderSource, "/hubs/chat/client/"+exampleConn)
	r.Header.Set(cloudevents.HeaderID, "1")
	r.Header.Set(cloudevents.HeaderTime, "2026-01-01T00:00:00Z")
	r.Header.Set(HeaderSignature, exampleSig)
	r.Header.Set(cloudevents.HeaderUserID, "alice")
	r.Header.Set(cloudevents.HeaderConnectionID, exampleConn)
	r.Header.Set(cloudevents.HeaderHub, "chat")
	r.Header.Set(cloudevents.HeaderEventName, strings.TrimPrefix(strings.TrimPrefix(ceType, TypeUserPrefix), "azure.webpubsub.sys."))
	for i := 0; i+1 < len(extra); i += 2 {
		if extra[i+1] == "" {
			r.Header.Del(extra[i])
		} else {
			r.Header.Set(extra[i], extra[i+1])
		}
	}
	return r
}

func serve(h http.Handler, r *http.Request) *http.Response {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec.Result()
}

func readBody(t testing.TB, resp *http.Response) string {
	t.Helper()
	var b bytes.Buffer
	if _, err := b.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// jsonEqual compares two JSON texts by value.
func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

func equalStates(a, b map[string]json.RawMessage) bool {
	return maps.EqualFunc(a, b, func(x, y json.RawMessage) bool { return bytes.Equal(x, y) })
}

// encodeEvent is the sender's side of parseEvent, for round trips: it
// writes a parsed request back into headers and a body.
func encodeEvent(t testing.TB, req any) (http.Header, []byte) {
	t.Helper()
	var cc *ConnectionContext
	var body []byte
	h := http.Header{}
	marshal := func(v any) []byte {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	switch r := req.(type) {
	case *ConnectRequest:
		cc = &r.ConnectionContext
		m := map[string]any{
			"claims": r.Claims, "query": r.Query, "headers": r.Headers,
			"subprotocols": r.Subprotocols, "clientCertificates": r.ClientCertificates,
		}
		if p := r.MQTTProperties; p != nil {
			mq := map[string]any{"protocolVersion": p.ProtocolVersion, "cleanStart": p.CleanStart,
				"username": p.Username, "userProperties": p.UserProperties}
			if p.Password != nil {
				mq["password"] = p.Password // []byte marshals as base64
			}
			m["mqtt"] = mq
		}
		body = marshal(m)
		h.Set("Content-Type", "application/json; charset=utf-8")
	case *ConnectedRequest:
		cc = &r.ConnectionContext
		body = []byte("{}")
		h.Set("Content-Type", "application/json; charset=utf-8")
	case *DisconnectedRequest:
		cc = &r.ConnectionContext
		m := map[string]any{"reason": r.Reason}
		if p := r.MQTTProperties; p != nil {
			m["mqtt"] = map[string]any{"initiatedByClient": p.InitiatedByClient, "disconnectPacket": p.DisconnectPacket}
		}
		body = marshal(m)
		h.Set("Content-Type", "application/json; charset=utf-8")
	case *GroupJoinedRequest:
		cc = &r.ConnectionContext
		body = marshal(map[string]any{"group": r.Group})
		h.Set("Content-Type", "application/json; charset=utf-8")
	case *GroupLeftRequest:
		cc = &r.ConnectionContext
		body = marshal(map[string]any{"group": r.Group})
		h.Set("Content-Type", "application/json; charset=utf-8")
	case *otherSystemEvent:
		cc = &r.ConnectionContext
		body = []byte("{}")
		h.Set("Content-Type", "application/json; charset=utf-8")
	case *UserEventRequest:
		cc = &r.ConnectionContext
		body = r.Data
		h.Set("Content-Type", map[DataType]string{DataTypeText: "text/plain", DataTypeJSON: "application/json", DataTypeBinary: "application/octet-stream"}[r.DataType])
	default:
		t.Fatalf("encodeEvent: unexpected %T", req)
	}
	h.Set(cloudevents.HeaderType, cc.Type)
	h.Set(cloudevents.HeaderConnectionID, cc.ConnectionID)
	set := func(k, v string) {
		if v != "" {
			h.Set(k, v)
		}
	}
	set(cloudevents.HeaderHub, cc.Hub)
	set(cloudevents.HeaderUserID, cc.UserID)
	set(cloudevents.HeaderID, cc.ID)
	set(cloudevents.HeaderSource, cc.Source)
	if !cc.Time.IsZero() {
		h.Set(cloudevents.HeaderTime, cc.Time.Format("2006-01-02T15:04:05.999999999Z07:00"))
	}
	set(cloudevents.HeaderSubprotocol, cc.Subprotocol)
	set(HeaderRequestOrigin, cc.Origin)
	if cc.MQTT != nil {
		set(cloudevents.HeaderPhysicalConnectionID, cc.MQTT.PhysicalConnectionID)
		set(cloudevents.HeaderSessionID, cc.MQTT.SessionID)
	}
	if st := cc.States(); len(st) > 0 {
		h.Set(HeaderConnectionState, cc.stateOf().Encode())
	}
	return h, body
}
