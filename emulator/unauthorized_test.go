package emulator

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TestClientUnauthorizedReasons: a refused WebSocket upgrade says why in
// its body, never quoting the token; ClockSkew sets the tolerance.
func TestClientUnauthorizedReasons(t *testing.T) {
	te := startEmulator(t, Options{ClockSkew: time.Minute})
	now := time.Now()
	aud := "http://" + te.hostPort() + "/client/hubs/chat"
	tests := []struct {
		name, token, want string
	}{
		{"none", "", "An access token is required."},
		{"malformed", "not-a-jwt", "malformed"},
		{"wrong key", sign(t, "another-key-another-key-another-key-0", jwt.MapClaims{"aud": aud, "exp": now.Add(time.Hour).Unix()}), "signature does not match"},
		{"expired beyond the skew", sign(t, DefaultAccessKey, jwt.MapClaims{"aud": aud, "exp": now.Add(-2 * time.Minute).Unix()}), "beyond the clock skew of 1m0s"},
		{"other hub", sign(t, DefaultAccessKey, jwt.MapClaims{"aud": "http://" + te.hostPort() + "/client/hubs/news", "exp": now.Add(time.Hour).Unix()}), `for hub "news", not "chat"`},
		{"other audience", sign(t, DefaultAccessKey, jwt.MapClaims{"aud": "http://" + te.hostPort() + "/api/hubs/chat", "exp": now.Add(time.Hour).Unix()}), "does not name the client endpoint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, resp, err := te.dialRaw(dialOptions{token: tt.token})
			if err == nil || resp == nil || resp.StatusCode != 401 {
				t.Fatalf("dial: %v, %v; want 401", err, resp)
			}
			b, _ := io.ReadAll(resp.Body)
			if !strings.Contains(string(b), tt.want) || (tt.token != "" && strings.Contains(string(b), tt.token)) {
				t.Fatalf("401 body %q; want %q and no token", b, tt.want)
			}
		})
	}
	// Within the skew, an expired token still connects.
	te.dial(dialOptions{token: sign(t, DefaultAccessKey, jwt.MapClaims{"aud": aud, "exp": now.Add(-30 * time.Second).Unix()})})
}
