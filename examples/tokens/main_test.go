package main

import (
	"testing"

	"github.com/gowebpubsub/webpubsub/examples/internal/exampleenv"
)

// TestTokens runs the example against the in-process emulator and checks
// its output: what each client received, and nothing secret.
func TestTokens(t *testing.T) {
	exampleenv.RunAndCheck(t, "tokens", run, want)
}

const want = `Using the in-process emulator at http://localhost:* hub tokens
Token for the default endpoint (signed with the access key):
  URL:     ws://localhost:*
  expires: in 30m0s
  claim aud: http://localhost:*
  claim role: [webpubsub.sendToGroup.room1]
  claim sub: alice
  claim webpubsub.group: [room1]
  connected as user alice
  received from group room1: text "Welcome to room1"
  sendToGroup room1 (allowed by her role): ack 1: success
Token for the mqtt endpoint:
  URL:     ws://localhost:*
  expires: in 1h0m0s
  claim aud: http://localhost:*
  claim role: [webpubsub.joinLeaveGroup webpubsub.sendToGroup]
  claim sub: device-1
Token for the socketio endpoint:
  URL:     ws://localhost:*
  expires: in 1h0m0s
  claim aud: http://localhost:*
  claim role: [webpubsub.joinLeaveGroup webpubsub.sendToGroup]
  claim sub: device-1
  (an MQTT client connects to its URL over WebSocket; a Socket.IO client to the host, with the path and the token)
A token that expired before it was issued: invalid argument: true
Skipping Microsoft Entra ID: AZURE_WEBPUBSUB_ENDPOINT is not set. That part needs a Web PubSub resource
and an identity that DefaultAzureCredential can use, with the Web PubSub Service Owner role on it.
Done.
`
