package eventhandler

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// TestGroupPresenceEvents: gp.joined and gp.left reach GroupJoined and
// GroupLeft with the group, answered 200 as connected is; without a
// callback they are answered 200 too.
func TestGroupPresenceEvents(t *testing.T) {
	var mu sync.Mutex
	var got []string
	h, err := New("chat", &Options{AccessKeys: []string{primaryKey},
		GroupJoined: func(_ context.Context, r *GroupJoinedRequest) error {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, "joined "+r.Group+" by "+r.ConnectionID)
			return nil
		},
		GroupLeft: func(_ context.Context, r *GroupLeftRequest) error {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, "left "+r.Group)
			return nil
		},
		WaitForNonBlockingCallbacks: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ typ, body string }{
		{TypeGroupJoined, `{"group":"room1"}`},
		{TypeGroupLeft, `{"group":"room1"}`},
	} {
		resp := serve(h, eventRequest(tc.typ, "application/json", tc.body))
		if resp.StatusCode != 200 {
			t.Fatalf("%s: status %d", tc.typ, resp.StatusCode)
		}
	}
	mu.Lock()
	if strings.Join(got, "; ") != "joined room1 by "+exampleConn+"; left room1" {
		t.Errorf("callbacks saw %q", got)
	}
	mu.Unlock()

	bare, err := New("chat", &Options{AccessKeys: []string{primaryKey}})
	if err != nil {
		t.Fatal(err)
	}
	if resp := serve(bare, eventRequest(TypeGroupJoined, "application/json", `{"group":"g"}`)); resp.StatusCode != 200 {
		t.Errorf("without a callback: status %d", resp.StatusCode)
	}
}

// TestUnknownSystemEventIsAccepted: a well-formed system or presence
// event type this version does not know is answered 200, never 400, and
// logged once per type.
func TestUnknownSystemEventIsAccepted(t *testing.T) {
	var logs bytes.Buffer
	h, err := New("chat", &Options{AccessKeys: []string{primaryKey}, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		for _, typ := range []string{"azure.webpubsub.sys.reconnected", "azure.webpubsub.gp.renamed"} {
			if resp := serve(h, eventRequest(typ, "application/json", `{}`)); resp.StatusCode != 200 {
				t.Fatalf("%s: status %d", typ, resp.StatusCode)
			}
		}
	}
	if n := strings.Count(logs.String(), "does not know"); n != 2 {
		t.Errorf("%d log lines; want one per type:\n%s", n, logs.String())
	}
}

// TestHostileOriginIsCutInTheLog: a huge WebHook-Request-Origin reaches
// the log as a short preview.
func TestHostileOriginIsCutInTheLog(t *testing.T) {
	h, logs := mustNew(t, &Options{AccessKeys: []string{primaryKey}, AllowedOrigins: []string{"good.example"}})
	r := eventRequest(TypeConnected, "application/json", "{}")
	r.Method = "OPTIONS"
	r.Header.Set(HeaderRequestOrigin, strings.Repeat("x", 500_000))
	if resp := serve(h, r); resp.StatusCode != 400 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if n := len(logs.String()); n > 2000 {
		t.Fatalf("the log holds %d bytes for one refused origin", n)
	}
}
