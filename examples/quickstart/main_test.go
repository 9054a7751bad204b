package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
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

// TestREADMEShowsTheOutput checks that the output the README's Quickstart
// section shows is what the program prints, but for the port and the
// connection id, and that the section keeps its two commands.
func TestREADMEShowsTheOutput(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## Quickstart\n")
	if !ok {
		t.Fatal("the README has no Quickstart section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	if !strings.Contains(section, "```sh\ngo run ./examples/quickstart\ngo test ./...\n```\n") || strings.Count(section, "```sh") != 1 {
		t.Errorf("the Quickstart section no longer has exactly its two commands:\n%s", section)
	}
	_, shown, ok := strings.Cut(section, "```text\n")
	if !ok {
		t.Fatal("the Quickstart section shows no output")
	}
	shown, _, _ = strings.Cut(shown, "```")

	for _, k := range []string{"AZURE_WEBPUBSUB_CONNECTION_STRING", "AZURE_WEBPUBSUB_HUB", "AZURE_WEBPUBSUB_ENDPOINT"} {
		t.Setenv(k, "")
	}
	printed, err := exampleenv.CaptureStdout(func() error { return exampleenv.Run("quickstart", run) })
	if err != nil {
		t.Fatalf("run: %v\n%s", err, printed)
	}
	normalize := func(s string) string {
		s = regexp.MustCompile(`localhost:[0-9]+`).ReplaceAllString(s, "localhost:PORT")
		return regexp.MustCompile(`connectionId=[0-9a-f]+`).ReplaceAllString(s, "connectionId=ID")
	}
	if normalize(shown) != normalize(printed) {
		t.Errorf("the README shows:\n%s\nthe program prints:\n%s", shown, printed)
	}
}
