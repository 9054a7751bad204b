package main

import (
	"testing"

	"github.com/gowebpubsub/webpubsub/examples/internal/exampleenv"
)

// TestGroups runs the example against the in-process emulator and checks
// its output: what each client received, and nothing secret.
func TestGroups(t *testing.T) {
	exampleenv.RunAndCheck(t, "groups", run, want)
}

const want = `Using the in-process emulator at http://localhost:* hub groups
Connected: alice, bob, and carol (group lobby)
Added user alice and bob's connection to room1
GroupExists room1: true
Members of room1: alice, bob (pages: 2)
SendToGroup room1: to all members, excluding bob, filtered to bob
AddConnectionsToGroups room2, room3 with filter userId in ('bob','carol')
Members of room2: bob, carol (pages: 2)
RemoveConnectionsFromGroups room2, room3 with filter userId eq 'carol'
Members of room2: bob (pages: 1)
Removed alice and bob's connection from room1, bob from all groups, carol's connection from all groups
GroupExists room1: false
GroupExists room2: false
GroupExists room3: false
GroupExists lobby: false
alice received:
  from group room1: text "Hello, room1"
  from group room1: text "Not for bob"
bob received:
  from group room1: text "Hello, room1"
  from group room1: json {"to":"bob"}
  from group room2: text "Hello, room2"
  from group room2: text "Hello again, room2"
carol received:
  from group room2: text "Hello, room2"
Done.
`
