package main

import (
	"testing"

	"github.com/gowebpubsub/webpubsub/examples/internal/exampleenv"
)

// TestBroadcast runs the example against the in-process emulator and checks
// its output: what each client received, and nothing secret.
func TestBroadcast(t *testing.T) {
	exampleenv.RunAndCheck(t, "broadcast", run, want)
}

const want = `Using the in-process emulator at http://localhost:* hub broadcast
Connected: alice (group vip), bob, and an anonymous guest
SendToAll: text, JSON and binary
SendToAll excluding bob's connection
SendToAll with filter userId in ('alice','bob')
SendToAll with filter 'vip' in groups
SendToAll with filter not ('vip' in groups)
alice received:
  from server: text "Hello, everyone"
  from server: json {"away":1,"final":true,"home":2}
  from server: binary cafe
  from server: text "Not for bob"
  from server: text "For signed-in users"
  from server: text "For VIPs"
bob received:
  from server: text "Hello, everyone"
  from server: json {"away":1,"final":true,"home":2}
  from server: binary cafe
  from server: text "For signed-in users"
  from server: text "For everyone but VIPs"
guest received:
  from server: text "Hello, everyone"
  from server: json {"away":1,"final":true,"home":2}
  from server: binary cafe
  from server: text "Not for bob"
  from server: text "For everyone but VIPs"
Done.
`
