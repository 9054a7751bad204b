package webpubsub

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestREADMESnippetsAreCompiled checks that every line of the README's Go
// snippets (between the "snippets" markers) is a line of compiled Go code in
// this repository (examples and Example functions), so the README cannot
// drift from the API.
func TestREADMESnippetsAreCompiled(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(readme)
	start := strings.Index(text, "<!-- snippets")
	end := strings.Index(text, "<!-- end snippets -->")
	if start < 0 || end < start {
		t.Fatal("README has no snippets markers")
	}
	code := map[string]bool{}
	err = filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, l := range strings.Split(string(b), "\n") {
			code[strings.TrimSpace(l)] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	blocks := strings.Split(text[start:end], "```go\n")[1:]
	if len(blocks) < 10 {
		t.Fatalf("only %d Go blocks", len(blocks))
	}
	for _, b := range blocks {
		b, _, _ = strings.Cut(b, "```")
		for _, l := range strings.Split(b, "\n") {
			l = strings.TrimSpace(l)
			if l == "" || strings.HasPrefix(l, "//") || strings.Trim(l, "{}()") == "" {
				continue
			}
			if !code[l] {
				t.Errorf("README line not found in any compiled example: %s", l)
			}
		}
	}
}

// TestREADMENegotiateIsTheChatExample checks that the README's negotiate
// snippet is, character for character, the region of examples/chat that
// the chat page calls.
func TestREADMENegotiateIsTheChatExample(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n### Negotiate: a client URL for the browser\n")
	if !ok {
		t.Fatal("the README has no negotiate section")
	}
	_, block, ok := strings.Cut(section, "```go\n")
	if !ok {
		t.Fatal("the negotiate section has no Go block")
	}
	block, _, _ = strings.Cut(block, "```")

	src, err := os.ReadFile(filepath.Join("examples", "chat", "server.go"))
	if err != nil {
		t.Fatal(err)
	}
	_, region, ok := strings.Cut(string(src), "// README negotiate: begin\n")
	if !ok {
		t.Fatal("examples/chat/server.go has no negotiate region")
	}
	region, _, ok = strings.Cut(region, "// README negotiate: end")
	if !ok {
		t.Fatal("the negotiate region of examples/chat/server.go does not end")
	}
	if want := strings.Trim(region, "\n") + "\n"; block != want {
		t.Errorf("the README's negotiate snippet differs from examples/chat/server.go:\nREADME:\n%s\nexample:\n%s", block, want)
	}
	if !strings.Contains(string(src), `mux.HandleFunc("GET /negotiate", s.negotiate)`) || !strings.Contains(section, `mux.HandleFunc("GET /negotiate", s.negotiate)`) {
		t.Error("the README and the example no longer agree on how negotiate is mounted")
	}
}
