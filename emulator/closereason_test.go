package emulator

import (
	"io"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"
)

func TestTruncateReason(t *testing.T) {
	long := strings.Repeat("a", 122) + "é" // é straddles byte 123
	tests := []struct{ in, want string }{
		{"", ""},
		{"bye", "bye"},
		{"\xff\xfe", "\uFFFD"}, // a run of invalid bytes becomes one U+FFFD
		{"ok\xffok", "ok\uFFFDok"},
		{strings.Repeat("a", 123), strings.Repeat("a", 123)},
		{strings.Repeat("a", 200), strings.Repeat("a", 123)},
		{long, strings.Repeat("a", 122)},
		{strings.Repeat("€", 50), strings.Repeat("€", 41)},
		{"\xff" + strings.Repeat("b", 130), "\uFFFD" + strings.Repeat("b", 120)},
	}
	for _, tt := range tests {
		got := truncateReason(tt.in)
		if got != tt.want || !utf8.ValidString(got) || len(got) > 123 {
			t.Errorf("truncateReason(%q) = %q (%d bytes); want %q", tt.in, got, len(got), tt.want)
		}
	}
}

// TestCloseReasonIsValidUTF8: a CloseConnection reason that is not valid
// UTF-8 reaches the client's disconnected message and close frame as
// valid UTF-8 (a close frame with an invalid reason is a protocol error
// that browsers answer with 1006).
func TestCloseReasonIsValidUTF8(t *testing.T) {
	te := startEmulator(t, Options{})
	for _, reason := range []string{"%FF%FE", url.QueryEscape(strings.Repeat("ü", 100) + "\xff")} {
		c := te.pubsub(jwt.MapClaims{"sub": "u"})
		r := te.rest("DELETE", "/api/hubs/chat/connections/"+c.id+"?api-version=2024-12-01&reason="+reason, "", nil)
		if r.status != 204 {
			t.Fatalf("close: %d %s", r.status, r.body)
		}
		f := c.ReadJSON()
		msg, _ := f["message"].(string)
		if f["event"] != "disconnected" || !utf8.ValidString(msg) || !strings.Contains(msg, "\uFFFD") {
			t.Fatalf("disconnected frame %v", f)
		}
		got := c.ExpectClose(websocket.StatusNormalClosure)
		if !utf8.ValidString(got) || len(got) > 123 || got == "" {
			t.Fatalf("close reason %q (%d bytes)", got, len(got))
		}
	}
}

// TestLoggedReasonIsCut: a close reason taken from a request reaches the
// log cut to a preview, however long it is.
func TestLoggedReasonIsCut(t *testing.T) {
	var logs strings.Builder
	var mu sync.Mutex
	te := startEmulator(t, Options{Logger: slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &mu}, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	c := te.pubsub(jwt.MapClaims{"sub": "u"})
	long := strings.Repeat("r", 5000)
	expectStatus(t, te.rest("DELETE", "/api/hubs/chat/connections/"+c.id+"?api-version=2024-12-01&reason="+long, "", nil), 204)
	te.waitEnded(c.id)
	mu.Lock()
	defer mu.Unlock()
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "connection ended") {
			if len(line) > 600 || !strings.Contains(line, "more bytes") {
				t.Fatalf("log line of %d bytes: %.200s", len(line), line)
			}
			return
		}
	}
	t.Fatal("no connection ended line")
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
