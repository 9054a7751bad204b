package emulator_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/gowebpubsub/webpubsub/emulator"
)

// TestRefusedRecoveryWithDataFrameDoesNotStallClose: a reliable client
// sends a sequenceAck as soon as its recovery socket opens. The refusal
// (disconnected, then 1008) must still complete, and Close must not wait
// for the websocket library's 15 s close timeout. The interop test with
// the JavaScript client found such a stall (in about one run in three);
// this Go client does not hit the same timing, so it checks the behaviour
// rather than reproducing the race.
func TestRefusedRecoveryWithDataFrameDoesNotStallClose(t *testing.T) {
	e, err := emulator.New(emulator.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	u := strings.Replace(e.ClientURL("hub"), "http", "ws", 1) + "?awps_connection_id=unknown&awps_reconnection_token=" + url.QueryEscape("not-a-token")
	ws, _, err := websocket.Dial(ctx, u, &websocket.DialOptions{Subprotocols: []string{"json.reliable.webpubsub.azure.v1"}})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer ws.CloseNow()
	// The refusal starts with a disconnected message; the data frame
	// arrives while the emulator is already closing.
	if _, _, err := ws.Read(ctx); err != nil {
		t.Fatalf("want the disconnected message first: %v", err)
	}
	if err := ws.Write(ctx, websocket.MessageText, []byte(`{"type":"sequenceAck","sequenceId":1}`)); err != nil {
		t.Fatal(err)
	}
	for {
		if _, _, err = ws.Read(ctx); err != nil {
			break
		}
	}
	if got := websocket.CloseStatus(err); got != websocket.StatusPolicyViolation {
		t.Fatalf("close status %v (%v), want 1008", got, err)
	}
	closed := make(chan error, 1)
	go func() { closed <- e.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close took more than 5 s after a refused recovery")
	}
}
