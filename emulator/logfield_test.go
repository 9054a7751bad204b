package emulator

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// TestMaxLogFieldBytes: a close reason taken from a REST request reaches
// the log line and the trace line of the connection's end cut to
// Options.MaxLogFieldBytes bytes (DefaultMaxLogFieldBytes when zero).
func TestMaxLogFieldBytes(t *testing.T) {
	tests := []struct {
		limit, want int
	}{
		{0, DefaultMaxLogFieldBytes},
		{16, 16},
		{1000, 1000},
	}
	for _, tt := range tests {
		var logs syncBuffer
		te := startEmulator(t, Options{MaxLogFieldBytes: tt.limit, Trace: true,
			Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
		c := te.pubsub(jwt.MapClaims{"sub": "u"})
		long := strings.Repeat("r", 5000)
		expectStatus(t, te.rest("DELETE", "/api/hubs/chat/connections/"+c.id+"?api-version=2024-12-01&reason="+long, "", nil), 204)
		te.waitEnded(c.id)
		var cut int
		for _, line := range strings.Split(logs.String(), "\n") {
			if !strings.Contains(line, "rrr") {
				continue
			}
			if strings.Contains(line, strings.Repeat("r", tt.want+1)) || !strings.Contains(line, strings.Repeat("r", tt.want)+"…(") {
				t.Errorf("MaxLogFieldBytes %d: the reason is not cut to %d bytes: %.300s", tt.limit, tt.want, line)
			}
			cut++
		}
		if cut < 2 {
			t.Errorf("MaxLogFieldBytes %d: %d lines carry the reason; want the log line and the trace line:\n%s", tt.limit, cut, logs.String())
		}
	}
	if _, err := New(Options{MaxLogFieldBytes: -1}); err == nil || !strings.Contains(err.Error(), "MaxLogFieldBytes") {
		t.Errorf("MaxLogFieldBytes -1: err = %v; want an error naming it", err)
	}
}
