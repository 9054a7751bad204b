package main

import (
	"testing"

	"github.com/gowebpubsub/webpubsub/examples/internal/exampleenv"
)

// TestPermissions runs the example against the in-process emulator and checks
// its output: what each client received, and nothing secret.
func TestPermissions(t *testing.T) {
	exampleenv.RunAndCheck(t, "permissions", run, want)
}

const want = `Using the in-process emulator at http://localhost:* hub permissions
Connected: alice (no roles), bob (group room1)
alice joinGroup room1: ack 1: Forbidden (The client has no permission to join group 'room1'.)
CheckPermission joinLeaveGroup on room1 for alice: false
GrantPermission joinLeaveGroup on room1 to alice
CheckPermission joinLeaveGroup on room1 for alice: true
alice joinGroup room1: ack 2: success
alice sendToGroup room1: ack 3: Forbidden (The client has no permission to send message to group 'room1'.)
GrantPermission sendToGroup on room1 to alice
CheckPermission sendToGroup on room1 for alice: true
alice sendToGroup room1: ack 4: success
RevokePermission sendToGroup on room1 from alice
CheckPermission sendToGroup on room1 for alice: false
alice sendToGroup room1: ack 5: Forbidden (The client has no permission to send message to group 'room1'.)
GrantPermission to no-such-connection: status 404, error code Info.Connection.NotExisted
bob received:
  from group room1 (sent by alice): text "Hi room1, it's alice"
alice received nothing
Done.
`
