package main

import (
	"testing"

	"github.com/gowebpubsub/webpubsub/examples/internal/exampleenv"
)

// TestClient runs the example against the in-process emulator and checks
// its output: the client's events in order, and nothing secret.
func TestClient(t *testing.T) {
	exampleenv.RunAndCheck(t, "client", run, want)
}

const want = `Using the in-process emulator at http://localhost:* hub client
Connected: connectionId=* userId=alice
Started; state: Connected
Joined group demo (ack 1)
Group message in demo from alice (text): Hello from the Go client
Sent to group demo (ack 2, duplicate: false)
Server message (json): {"greeting":"Hello, alice"}
Disconnected: connectionId=*
Stopped
Done.
`
