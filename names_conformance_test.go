package webpubsub_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"

	"github.com/gowebpubsub/webpubsub"
	"github.com/gowebpubsub/webpubsub/emulator"
	"github.com/gowebpubsub/webpubsub/eventhandler"
	"github.com/gowebpubsub/webpubsub/internal/names"
	"github.com/gowebpubsub/webpubsub/webpubsubclient"
)

// conformanceTimeout bounds every network wait; waits end as soon as their
// event happens.
const conformanceTimeout = 10 * time.Second

// nameCases returns the names every package must judge alike: empty,
// blank, every Unicode space alone and inside a name, invalid UTF-8, the
// length limit in one- and two-byte characters, and punctuation.
func nameCases() []string {
	cs := []string{
		"", " ", "a", " a ", "a\xffb", "\xff",
		strings.Repeat("g", 1024), strings.Repeat("g", 1025),
		strings.Repeat("é", 1024), strings.Repeat("é", 1025),
		"a/b", "a?b", "a#b", "a%b", "a b", "a.b", "a\nb", "a\rb", "a\tb", "ü",
		"a-b", "1a", "a_`,.[]9", "_a", "a" + strings.Repeat("b", 127), "a" + strings.Repeat("b", 128),
	}
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if unicode.IsSpace(r) {
			cs = append(cs, string(r), "a"+string(r)+"b")
		}
	}
	return cs
}

// TestNameRulesLiteral pins a few outcomes of internal/names so that the
// conformance tests below do not merely agree with a wrong rule.
func TestNameRulesLiteral(t *testing.T) {
	for _, tc := range []struct {
		group string
		ok    bool
	}{
		{"a", true}, {"a b", true}, {"a/b", true}, {strings.Repeat("é", 1024), true},
		{"", false}, {" ", false}, {"\u3000", false}, {"\u2003", false}, {"\u2028", false},
		{"a\xffb", false}, {"a\nb", false}, {strings.Repeat("é", 1025), false},
	} {
		if got := names.Group(tc.group) == ""; got != tc.ok {
			t.Errorf("names.Group(%q) ok = %v, want %v", short(tc.group), got, tc.ok)
		}
	}
	for _, tc := range []struct {
		event string
		ok    bool
	}{
		{"a", true}, {"a.b-c_D9", true}, {"connect", true}, {"disconnected", true}, {"a" + strings.Repeat("b", 127), true},
		{"", false}, {" ", false}, {"a b", false}, {"1a", false}, {"_a", false}, {"a:b", false}, {"événement", false},
		{"a\u3000b", false}, {"a\xffb", false}, {"a" + strings.Repeat("b", 128), false},
	} {
		if got := names.Event(tc.event) == ""; got != tc.ok {
			t.Errorf("names.Event(%q) ok = %v, want %v", short(tc.event), got, tc.ok)
		}
	}
	if names.Hub("chat") != "" || names.Hub("a-b") == "" {
		t.Error("hub rule changed")
	}
}

// TestGroupNameConformance feeds the same group names to the root client,
// the emulator's REST and WebSocket endpoints and webpubsubclient: all
// accept a name or all refuse it, as internal/names says.
func TestGroupNameConformance(t *testing.T) {
	e := emulator.NewTest(t)
	ctx, svc, ws, wc := connectAll(t, e)
	for i, g := range nameCases() {
		want := names.Group(g) == ""
		t.Run(fmt.Sprintf("%d_%s", i, short(g)), func(t *testing.T) {
			// (a) root client.
			_, err := svc.SendToGroup(ctx, g, webpubsub.TextMessage("x"), nil)
			checkOutcome(t, "root SendToGroup", want, err)
			// (b) REST endpoint, path escaped byte-exactly.
			status := restStatus(ctx, t, e, "chat", "/groups/"+url.PathEscape(g)+"/:send")
			if want && status != http.StatusAccepted || !want && status != http.StatusBadRequest && !(g == "" && status == http.StatusNotFound) {
				t.Errorf("REST send to group: status %d, want accepted=%v", status, want)
			}
			// (c) WebSocket endpoint. A text frame that is not UTF-8 ends the
			// connection (close status 1007), so such a name gets its own.
			conn := ws
			if !utf8.ValidString(g) {
				conn = dialJSON(ctx, t, svc)
			}
			if got := conn.ack(ctx, t, "joinGroup", "group", g); got != want {
				t.Errorf("WebSocket joinGroup: ack success = %v, want %v", got, want)
			}
			// (d) webpubsubclient.
			_, err = wc.JoinGroup(ctx, g, nil)
			checkOutcome(t, "webpubsubclient JoinGroup", want, err)
		})
	}
}

// connectAll connects to e's hub chat: a service client, a raw JSON
// WebSocket and a webpubsubclient, under a context that ends with the test.
func connectAll(t *testing.T, e *emulator.Emulator) (context.Context, *webpubsub.ServiceClient, *jsonConn, *webpubsubclient.Client) {
	t.Helper()
	svc, err := webpubsub.NewServiceClientFromConnectionString(e.ConnectionString(), "chat", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*conformanceTimeout)
	t.Cleanup(cancel)
	return ctx, svc, dialJSON(ctx, t, svc), startClient(ctx, t, svc)
}

// TestHubNameConformance compares the root constructor with the emulator's
// REST path.
func TestHubNameConformance(t *testing.T) {
	e := emulator.NewTest(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*conformanceTimeout)
	defer cancel()
	for i, h := range nameCases() {
		want := names.Hub(h) == ""
		t.Run(fmt.Sprintf("%d_%s", i, short(h)), func(t *testing.T) {
			_, err := webpubsub.NewServiceClientFromConnectionString(e.ConnectionString(), h, nil)
			checkOutcome(t, "NewServiceClientFromConnectionString", want, err)
			status := restStatus(ctx, t, e, h, "/:send")
			if want && status != http.StatusAccepted || !want && status != http.StatusBadRequest && !(h == "" && status == http.StatusNotFound) {
				t.Errorf("REST broadcast: status %d, want accepted=%v", status, want)
			}
		})
	}
}

// eventNameCases returns nameCases plus the names that matter to events:
// the system events' names, which a user event may take too, and the
// characters the event rule allows beside letters and digits.
func eventNameCases() []string {
	return append(nameCases(), "connect", "connected", "disconnected", "Connect", "message", "validate",
		"a.b-c_D9", "a-", "a.", "a:b", "a,b", "a`b", "a[b]", "événement")
}

// eventRecord keeps what reached the upstream event handler: the headers
// the emulator sent and the event name the eventhandler parsed.
type eventRecord struct {
	mu     sync.Mutex
	posts  [][2]string // ce-type, ce-eventName
	parsed []string    // UserEventRequest.EventName
}

func (r *eventRecord) counts() (int, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.posts), len(r.parsed)
}

// last returns the latest ce-type, ce-eventName and parsed name, and
// whether there is one past the given counts.
func (r *eventRecord) last(posts, parsed int) (ceType, ceEventName, name string, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.posts) <= posts || len(r.parsed) <= parsed {
		return "", "", "", false
	}
	p := r.posts[len(r.posts)-1]
	return p[0], p[1], r.parsed[len(r.parsed)-1], true
}

// lastParsed returns the latest parsed name, if there is one past parsed.
func (r *eventRecord) lastParsed(parsed int) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.parsed) <= parsed {
		return "", false
	}
	return r.parsed[len(r.parsed)-1], true
}

// TestEventNameConformance feeds the same event names to webpubsubclient's
// SendEvent, the emulator's WebSocket endpoint (an event frame, sent
// upstream to an eventhandler.Handler) and eventhandler.New's UserEvents:
// all accept a name or all refuse it, as internal/names says. A name they
// accept reaches the handler as the emulator sent it, in ce-type and
// ce-eventName, and the handler dispatches it by that name.
//
// The handler's request parser is the one deliberate exception: it takes
// any non-empty name after the user event prefix and hands a name outside
// the rule to Options.UserEvent, because the service, not the handler,
// decides which names are sent (an MQTT client's PUBLISH topic may carry
// one) and a production handler must not start refusing events it used to
// take. The test pins that too.
func TestEventNameConformance(t *testing.T) {
	rec := &eventRecord{}
	h, err := eventhandler.New("chat", &eventhandler.Options{
		AccessKeys: []string{emulator.DefaultAccessKey},
		UserEvent: func(_ context.Context, req *eventhandler.UserEventRequest) (*eventhandler.UserEventResponse, error) {
			rec.mu.Lock()
			defer rec.mu.Unlock()
			rec.parsed = append(rec.parsed, req.EventName)
			return nil, nil
		},
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			rec.mu.Lock()
			rec.posts = append(rec.posts, [2]string{r.Header.Get("ce-type"), r.Header.Get("ce-eventName")})
			rec.mu.Unlock()
		}
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()
	e := emulator.NewTest(t, emulator.WithHub("chat", emulator.HubOptions{EventHandlers: []emulator.EventHandler{
		{URLTemplate: srv.URL + eventhandler.DefaultPath("chat"), UserEventPattern: "*"},
	}}))
	ctx, svc, ws, wc := connectAll(t, e)
	upstream := func(t *testing.T, op, name string, want bool, posts, parsed int) {
		t.Helper()
		ceType, ceEventName, got, ok := rec.last(posts, parsed)
		switch {
		case want && !ok:
			t.Errorf("%s: nothing reached the event handler", op)
		case want && (ceType != "azure.webpubsub.user."+name || ceEventName != name || got != name):
			t.Errorf("%s: the handler got ce-type %q, ce-eventName %q, parsed %q", op, ceType, ceEventName, got)
		case !want && ok:
			t.Errorf("%s: a refused name reached the event handler as %q", op, got)
		}
	}
	for i, name := range eventNameCases() {
		want := names.Event(name) == ""
		t.Run(fmt.Sprintf("%d_%s", i, short(name)), func(t *testing.T) {
			// (a) webpubsubclient.
			posts, parsed := rec.counts()
			_, err := wc.SendEvent(ctx, name, webpubsubclient.TextMessage("x"), nil)
			checkOutcome(t, "webpubsubclient SendEvent", want, err)
			upstream(t, "webpubsubclient SendEvent", name, want, posts, parsed)
			// (b) the emulator's WebSocket endpoint, and upstream. A text
			// frame that is not UTF-8 ends the connection (close status
			// 1007), so such a name gets its own.
			conn := ws
			if !utf8.ValidString(name) {
				conn = dialJSON(ctx, t, svc)
			}
			posts, parsed = rec.counts()
			if got := conn.ack(ctx, t, "event", "event", name); got != want {
				t.Errorf("WebSocket event: ack success = %v, want %v", got, want)
			}
			upstream(t, "WebSocket event", name, want, posts, parsed)
			// (c) eventhandler: a callback can be registered for the name
			// exactly when the name is valid, and then receives it.
			var named string
			nh, err := eventhandler.New("chat", &eventhandler.Options{
				UserEvents: map[string]eventhandler.UserEventFunc{name: func(_ context.Context, req *eventhandler.UserEventRequest) (*eventhandler.UserEventResponse, error) {
					named = req.EventName
					return nil, nil
				}},
				Logger: slog.New(slog.DiscardHandler),
			})
			checkOutcome(t, "eventhandler.New with UserEvents", want, err)
			if want && err == nil {
				if resp := serveUserEvent(nh, name); resp.StatusCode != http.StatusNoContent || named != name {
					t.Errorf("eventhandler: status %d, the named callback got %q", resp.StatusCode, named)
				}
			}
			// (d) eventhandler's request parser: lenient by design (see
			// above); only a type without a name is refused.
			_, parsed = rec.counts()
			resp := serveUserEvent(h, name)
			got, ok := rec.lastParsed(parsed)
			if name == "" {
				if resp.StatusCode != http.StatusBadRequest || ok {
					t.Errorf("eventhandler parser: an empty name got status %d", resp.StatusCode)
				}
			} else if resp.StatusCode != http.StatusNoContent || !ok || got != name {
				t.Errorf("eventhandler parser: status %d, parsed %q", resp.StatusCode, got)
			}
		})
	}
}

// serveUserEvent has h handle a text user event called name, signed with
// the emulator's default key, as the service would send it.
func serveUserEvent(h http.Handler, name string) *http.Response {
	const conn = "conformance"
	r := httptest.NewRequest(http.MethodPost, eventhandler.DefaultPath("chat"), strings.NewReader("x"))
	r.Header.Set("Content-Type", "text/plain")
	r.Header.Set("ce-specversion", "1.0")
	r.Header.Set("ce-awpsversion", "1.0")
	r.Header.Set("ce-type", "azure.webpubsub.user."+name)
	r.Header.Set("ce-eventName", name)
	r.Header.Set("ce-hub", "chat")
	r.Header.Set("ce-connectionId", conn)
	m := hmac.New(sha256.New, []byte(emulator.DefaultAccessKey))
	m.Write([]byte(conn))
	r.Header.Set("ce-signature", "sha256="+hex.EncodeToString(m.Sum(nil)))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Result()
}

func short(s string) string {
	if utf8.RuneCountInString(s) > 12 {
		return fmt.Sprintf("%dx%q", utf8.RuneCountInString(s), []rune(s)[0])
	}
	return fmt.Sprintf("%q", s)
}

// checkOutcome checks err against the expected outcome: nil when the name
// is valid, else a *ValidationError wrapping ErrInvalidArgument (one type
// and one sentinel, whichever package returned it).
func checkOutcome(t *testing.T, op string, want bool, err error) {
	t.Helper()
	var ve *webpubsubclient.ValidationError // the same type as webpubsub.ValidationError
	switch {
	case want && err != nil:
		t.Errorf("%s: %v, want success", op, err)
	case !want && !errors.As(err, &ve):
		t.Errorf("%s: %v, want a validation error", op, err)
	case !want && !errors.Is(err, webpubsub.ErrInvalidArgument):
		t.Errorf("%s: %v does not wrap ErrInvalidArgument", op, err)
	}
}

// restStatus posts a text message to path under hub with a token signed
// for the exact URL, and returns the status.
func restStatus(ctx context.Context, t *testing.T, e *emulator.Emulator, hub, path string) int {
	t.Helper()
	escaped := "/api/hubs/" + url.PathEscape(hub) + path
	raw := e.URL() + escaped + "?api-version=2024-01-01"
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("parse %q: %v", raw, err)
	}
	u.RawPath = escaped
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"aud": raw, "exp": time.Now().Add(time.Hour).Unix(),
	}).SignedString([]byte(e.AccessKey()))
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	req.URL = u
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "text/plain")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", escaped, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

var conformanceRoles = []string{"webpubsub.joinLeaveGroup", "webpubsub.sendToGroup"}

// jsonConn is a raw json.webpubsub.azure.v1 connection.
type jsonConn struct {
	c     *websocket.Conn
	ackID int
}

func dialJSON(ctx context.Context, t *testing.T, svc *webpubsub.ServiceClient) *jsonConn {
	t.Helper()
	tok, err := svc.GetClientAccessToken(ctx, &webpubsub.GetClientAccessTokenOptions{UserID: "raw", Roles: conformanceRoles})
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := websocket.Dial(ctx, tok.URL, &websocket.DialOptions{Subprotocols: []string{"json.webpubsub.azure.v1"}})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	c.SetReadLimit(1 << 20)
	t.Cleanup(func() { _ = c.CloseNow() })
	jc := &jsonConn{c: c}
	if f := jc.read(ctx, t); f["event"] != "connected" {
		t.Fatalf("first frame %v, want connected", f)
	}
	return jc
}

func (jc *jsonConn) read(ctx context.Context, t *testing.T) map[string]any {
	t.Helper()
	_, b, err := jc.c.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	var f map[string]any
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("frame %q: %v", b, err)
	}
	return f
}

// ack sends a frame of type typ with field set to value (bytes kept as
// they are, even when not UTF-8) and an ack id, and reports whether the
// ack says success. A close with status 1007 (the frame is not UTF-8)
// counts as a refusal.
func (jc *jsonConn) ack(ctx context.Context, t *testing.T, typ, field, value string) bool {
	t.Helper()
	jc.ackID++
	v := jsonString(value)
	extra := ""
	if typ == "event" {
		extra = `,"dataType":"text","data":"x"`
	}
	frame := fmt.Sprintf(`{"type":%q,%q:%s,"ackId":%d%s}`, typ, field, v, jc.ackID, extra)
	if err := jc.c.Write(ctx, websocket.MessageText, []byte(frame)); err != nil {
		t.Fatalf("write: %v", err)
	}
	for {
		_, b, err := jc.c.Read(ctx)
		if websocket.CloseStatus(err) == websocket.StatusInvalidFramePayloadData {
			return false
		}
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		var f map[string]any
		if err := json.Unmarshal(b, &f); err != nil {
			t.Fatalf("frame %q: %v", b, err)
		}
		if f["type"] == "ack" && f["ackId"] == float64(jc.ackID) {
			return f["success"] == true
		}
	}
}

// jsonString encodes s as a JSON string; bytes that are not UTF-8 are
// written as they are, which encoding/json would replace.
func jsonString(s string) string {
	if !utf8.ValidString(s) {
		return `"` + s + `"`
	}
	b, _ := json.Marshal(s)
	return string(b)
}

func startClient(ctx context.Context, t *testing.T, svc *webpubsub.ServiceClient) *webpubsubclient.Client {
	t.Helper()
	cred := webpubsubclient.URLFunc(func(ctx context.Context) (string, error) {
		tok, err := svc.GetClientAccessToken(ctx, &webpubsub.GetClientAccessTokenOptions{UserID: "client", Roles: conformanceRoles})
		return tok.URL, err
	})
	c, err := webpubsubclient.New(cred, &webpubsubclient.Options{Protocol: webpubsubclient.ProtocolJSON})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), conformanceTimeout)
		defer cancel()
		_ = c.Stop(sctx)
	})
	return c
}
