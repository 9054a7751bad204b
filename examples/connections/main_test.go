package main

import (
	"testing"

	"github.com/gowebpubsub/webpubsub/examples/internal/exampleenv"
)

// TestConnections runs the example against the in-process emulator and checks
// its output: what each client received, and nothing secret.
func TestConnections(t *testing.T) {
	exampleenv.RunAndCheck(t, "connections", run, want)
}

const want = `Using the in-process emulator at http://localhost:* hub connections
Connected: alice twice (phone and laptop), bob and carol (group lobby), dave
ConnectionExists alice's phone: true, UserExists alice: true, GroupExists lobby: true
ConnectionExists no-such-connection: false
CloseConnection alice's phone
  alice's phone: disconnected: "Signed in on another device"
  alice's phone: stopped
ConnectionExists alice's phone: false, UserExists alice: true, GroupExists lobby: true
CloseUserConnections alice
  alice's laptop: disconnected: "Account signed out"
  alice's laptop: stopped
CloseGroupConnections lobby, excluding bob
  carol: disconnected: "Lobby closed"
  carol: stopped
CloseAllConnections, excluding dave
  bob: disconnected: "Server maintenance"
  bob: stopped
UserExists alice: false
UserExists bob: false
UserExists carol: false
UserExists dave: true
Done.
`
