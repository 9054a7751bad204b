package main

import (
	"testing"

	"github.com/gowebpubsub/webpubsub/examples/internal/exampleenv"
)

// TestStream runs the example against the in-process emulator and checks
// that the reader printed the whole answer, in order.
func TestStream(t *testing.T) {
	exampleenv.RunAndCheck(t, "stream", run, want)
}

const want = `Using the in-process emulator at http://localhost:* hub stream
Bot: opened a stream to group answers
Reader: a stream from bot in group answers
Reader: Group streams deliver fragments in order, exactly once, even across a reconnect.
Reader: the answer is complete (12 tokens)
Bot: wrote 12 tokens and closed the stream
Done.
`
