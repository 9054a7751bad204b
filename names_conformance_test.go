package webpubsub_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"

	"github.com/gowebpubsub/webpubsub"
	"github.com/gowebpubsub/webpubsub/emulator"
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
	if names.Event("a.b-c") != "" || names.Event("a b") == "" || names.Hub("chat") != "" || names.Hub("a-b") == "" {
		t.Error("event or hub rule changed")
	}
}

// TestGroupNameConformance feeds the same group names to the root client,
// the emulator's REST and WebSocket endpoints and webpubsubclient: all
// accept a name or all refuse it, as internal/names says.
func TestGroupNameConformance(t *testing.T) {
	e := emulator.NewTest(t)
	svc, err := webpubsub.NewServiceClientFromConnectionString(e.ConnectionString(), "chat", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*conformanceTimeout)
	defer cancel()
	ws := dialJSON(ctx, t, svc)
	wc := startClient(ctx, t, svc)
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
