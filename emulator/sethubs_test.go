package emulator

import (
	"errors"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// TestSetHubs: new connections use replaced hub settings; a bad
// replacement changes nothing.
func TestSetHubs(t *testing.T) {
	fu := newFakeUpstream(t, nil)
	te := startEmulator(t, Options{})
	te.pubsub(jwt.MapClaims{"sub": "before"}) // no handler: no connect event
	opts := fu.handlerOptions("", "connect")
	if err := te.SetHubs(opts.Hubs); err != nil {
		t.Fatal(err)
	}
	te.pubsub(jwt.MapClaims{"sub": "after"})
	if r := fu.next(t, "azure.webpubsub.sys.connect"); r.header.Get("ce-userId") != "after" {
		t.Fatalf("connect event for %q", r.header.Get("ce-userId"))
	}
	err := te.SetHubs(map[string]HubOptions{"chat": {EventHandlers: []EventHandler{{URLTemplate: "ftp://nope"}}}})
	if !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("SetHubs(bad) = %v; want an ErrInvalidArgument", err)
	}
	te.pubsub(jwt.MapClaims{"sub": "still"})
	if r := fu.next(t, "azure.webpubsub.sys.connect"); r.header.Get("ce-userId") != "still" {
		t.Fatalf("connect event for %q; the good settings must stay", r.header.Get("ce-userId"))
	}
	if err := te.SetHubs(map[string]HubOptions{"AnonHub": {AllowAnonymous: true}}); err != nil {
		t.Fatal(err)
	}
	if !te.hubOptions("anonhub").AllowAnonymous || len(te.handlersFor("chat")) != 0 {
		t.Error("the replacement did not take effect")
	}
}
