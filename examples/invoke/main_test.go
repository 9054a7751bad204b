package main

import (
	"testing"

	"github.com/gowebpubsub/webpubsub/examples/internal/exampleenv"
)

// TestInvoke runs the example against the in-process emulator and checks
// its output: the answer of the application server and the failure.
func TestInvoke(t *testing.T) {
	exampleenv.RunAndCheck(t, "invoke", run, want)
}

const want = `Using the in-process emulator at http://localhost:* hub invoke
Application server listening on 127.0.0.1:*
shout(hello) answered: text "HELLO!"
shout(shh) failed: InternalServerError
Done.
`
