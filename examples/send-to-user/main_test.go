package main

import (
	"testing"

	"github.com/gowebpubsub/webpubsub/examples/internal/exampleenv"
)

// TestSendToUser runs the example against the in-process emulator and checks
// its output: what each client received, and nothing secret.
func TestSendToUser(t *testing.T) {
	exampleenv.RunAndCheck(t, "send_to_user", run, want)
}

const want = `Using the in-process emulator at http://localhost:* hub send_to_user
Connected: alice twice (phone and laptop), bob once
SendToUser alice: text
SendToUser alice with a filter on her phone's connection id: JSON
SendToConnection alice's laptop: binary
SendToUser carol: accepted, although carol has no connection
UserExists alice: true
UserExists carol: false
alice's phone received:
  from server: text "Hi alice, on all your devices"
  from server: json {"notification":"Your order has shipped"}
alice's laptop received:
  from server: text "Hi alice, on all your devices"
  from server: binary cafe
bob received nothing
Done.
`
