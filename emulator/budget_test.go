package emulator

import (
	"bytes"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// TestReliableBuffersShareBroadcasts: the reliable buffers of clients
// that do not acknowledge hold one copy of each broadcast between them,
// not one each.
func TestReliableBuffersShareBroadcasts(t *testing.T) {
	te := startEmulator(t, Options{})
	const clients, sends, size = 5, 10, 16 << 10
	var cs []*wsClient
	for range clients {
		cs = append(cs, te.reliable(jwt.MapClaims{"sub": "u"}))
	}
	body := bytes.Repeat([]byte("x"), size)
	for range sends {
		expectStatus(t, te.rest("POST", "/api/hubs/chat/:send?api-version=2024-12-01", "text/plain", body), 202)
	}
	for _, c := range cs {
		for range sends {
			c.ReadJSON()
		}
	}
	got := te.core.BufferedBytes()
	if low, high := int64(sends*size), int64(sends*(size+200)+clients*sends*40); got < low || got > high {
		t.Fatalf("the reliable buffers hold %d bytes; want one copy of each send, %d to %d", got, low, high)
	}
}
