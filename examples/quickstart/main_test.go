package main

import (
	"testing"

	"github.com/gowebpubsub/webpubsub/examples/internal/exampleenv"
)

// TestQuickstart runs the example against the in-process emulator and
// checks its output: what the client received, and nothing secret.
func TestQuickstart(t *testing.T) {
	exampleenv.RunAndCheck(t, "quickstart", run, want)
}

const want = `Using the in-process emulator at http://localhost:* hub quickstart
Client URL: ws://localhost:*/client/hubs/quickstart?access_token=...
Connected: connectionId=*
Joined group demo: ack 1
Received from server: text "Hello, everyone"
Received from server: json {"greeting":"Hello, alice"}
Received from group demo: text "Hello, group demo"
Received from server: binary cafe
Received disconnected: "quickstart done"
Done.
`
