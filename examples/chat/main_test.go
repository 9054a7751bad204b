package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gowebpubsub/webpubsub"
	"github.com/gowebpubsub/webpubsub/examples/internal/exampleenv"
	"github.com/gowebpubsub/webpubsub/webpubsubclient"
)

// noAzure makes the test use the in-process emulator.
func noAzure(t *testing.T) {
	t.Setenv("AZURE_WEBPUBSUB_CONNECTION_STRING", "")
	t.Setenv("AZURE_WEBPUBSUB_HUB", "")
	t.Setenv("AZURE_WEBPUBSUB_ENDPOINT", "")
}

// TestDemo runs the scripted conversation through the server, its event
// handler and the emulator, and checks the transcript: what each client
// saw, in order, and nothing secret.
func TestDemo(t *testing.T) {
	noAzure(t)
	var out bytes.Buffer
	if err := run(t.Context(), []string{"-demo"}, &out); err != nil {
		t.Fatalf("run -demo: %v\noutput:\n%s", err, out.String())
	}
	if err := exampleenv.CheckNoSecrets(out.String()); err != nil {
		t.Error(err)
	}
	if err := exampleenv.CheckOutput(out.String(), wantDemo); err != nil {
		t.Error(err)
	}
}

const wantDemo = `Chat server at http://127.0.0.1:*/, hub chat on the in-process emulator at http://localhost:*
The emulator sends the hub's events to http://127.0.0.1:*/api/webpubsub/hubs/chat/
alice connects as user alice
bob connects as user bob
alice sends join "lobby"
  alice sees: * alice joined lobby
bob sends chat "Is anybody here?"
  bob sees: ! join a room first
bob sends join "lobby"
  bob sees: * bob joined lobby
  alice sees: * bob joined lobby
alice sends chat "Hi Bob!"
  alice sees: alice: Hi Bob!
  bob sees: alice: Hi Bob!
bob sends chat "Hello Alice. Every line goes through the Go event handler."
  bob sees: bob: Hello Alice. Every line goes through the Go event handler.
  alice sees: bob: Hello Alice. Every line goes through the Go event handler.
bob sends chat "   "
  bob sees: ! a chat line is non-empty text
bob closes his connection
  alice sees: * bob left lobby
alice closes her connection
  the event handler saw: alice left lobby
Done.
`

// TestServe runs the program as "go run ./examples/chat -addr ..." does
// until it is interrupted (here: its context is cancelled), and checks that
// it serves the page in the meantime.
func TestServe(t *testing.T) {
	noAzure(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := run(ctx, []string{"-addr", "127.0.0.1:0"}, pw)
		pw.CloseWithError(err)
		done <- err
	}()
	out, err := readUntil(pr, "Ctrl-C stops.\n")
	if err != nil {
		t.Fatalf("reading the output: %v\n%s", err, out)
	}
	_, rest, ok := strings.Cut(out, "Open ")
	pageURL, _, _ := strings.Cut(rest, " ")
	if !ok || !strings.HasPrefix(pageURL, "http://127.0.0.1:") {
		t.Fatalf("no page URL in the output:\n%s", out)
	}
	resp, err := http.Get(pageURL)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Contains(page, []byte(`new WebSocket(url, "json.webpubsub.azure.v1")`)) {
		t.Errorf("GET %s: %s, page %.80q", pageURL, resp.Status, page)
	}

	cancel()
	go io.Copy(io.Discard, pr) // the rest of the output
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after its context was cancelled")
	}
}

// readUntil reads r until what it read ends with suffix.
func readUntil(r io.Reader, suffix string) (string, error) {
	var buf []byte
	b := make([]byte, 256)
	for !strings.HasSuffix(string(buf), suffix) {
		n, err := r.Read(b)
		buf = append(buf, b[:n]...)
		if err != nil {
			return string(buf), err
		}
	}
	return string(buf), nil
}

// TestNegotiate checks the endpoint the page gets its URL from: a valid
// user gets a URL that connects as that user; invalid users get 400.
func TestNegotiate(t *testing.T) {
	s := startTestServer(t)

	for _, user := range []string{"", "a b", strings.Repeat("x", 33), "<script>"} {
		resp, err := http.Get(s.URL + "negotiate?user=" + user)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("negotiate?user=%q: %s, want 400", user, resp.Status)
		}
	}
	if resp, err := http.Post(s.URL+"negotiate?user=alice", "text/plain", nil); err != nil {
		t.Fatal(err)
	} else if resp.Body.Close(); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST negotiate: %s, want 405", resp.Status)
	}

	resp, err := http.Get(s.URL + "negotiate?user=carol")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("negotiate: %s, Cache-Control %q", resp.Status, resp.Header.Get("Cache-Control"))
	}
	var body struct{ URL string }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	c, err := exampleenv.Dial(t.Context(), "carol", webpubsubclient.StaticURL(body.URL))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.UserID != "carol" {
		t.Errorf("connected as %q, want carol", c.UserID)
	}
}

// TestConnectNeedsUser checks the Connect callback: an anonymous token is
// refused with 401 during the WebSocket handshake.
func TestConnectNeedsUser(t *testing.T) {
	s := startTestServer(t)
	tok, err := s.client.GetClientAccessToken(t.Context(), &webpubsub.GetClientAccessTokenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := exampleenv.Dial(t.Context(), "anonymous", webpubsubclient.StaticURL(tok.URL))
	if err == nil {
		c.Close()
		t.Fatal("an anonymous client connected")
	}
	var he *webpubsubclient.HandshakeError
	if !errors.As(err, &he) || he.StatusCode != http.StatusUnauthorized {
		t.Errorf("Dial: %v, want a 401", err)
	}
}

// TestPrintStartAzure checks the instructions printed when the service is
// Azure: the event handler settings for the hub, and no secret.
func TestPrintStartAzure(t *testing.T) {
	var out bytes.Buffer
	printStart(&out, &chatServer{
		URL:        "http://127.0.0.1:8080/",
		HandlerURL: "http://127.0.0.1:8080/api/webpubsub/hubs/chat/",
		Service:    "the service in AZURE_WEBPUBSUB_CONNECTION_STRING",
	}, "chat")
	for _, want := range []string{
		"Chat server at http://127.0.0.1:8080/, hub chat on the service in AZURE_WEBPUBSUB_CONNECTION_STRING\n",
		"to hub chat ",
		"URL template:   https://<public host>/api/webpubsub/hubs/chat/\n",
		"User events:    *\n",
		"System events:  connect, connected, disconnected\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

// startTestServer starts the chat server on a free port with the emulator.
func startTestServer(t *testing.T) *chatServer {
	t.Helper()
	s, err := startServer(config{addr: "127.0.0.1:0", hub: "chat", logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("closing the server: %v", err)
		}
	})
	return s
}

// TestDefaultPortInUse: when 127.0.0.1:8080 is taken, the chat listens on
// a free port and says so.
func TestDefaultPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", defaultAddr)
	if err != nil {
		t.Skipf("cannot hold %s for the test: %v", defaultAddr, err)
	}
	defer ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	out := &lockedBuffer{wrote: make(chan struct{}, 1)}
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, out) }()
	deadline := time.After(10 * time.Second)
	for !strings.Contains(out.String(), "Open http://127.0.0.1:") {
		select {
		case <-out.wrote:
		case <-deadline:
			t.Fatalf("no start message:\n%s", out.String())
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "127.0.0.1:8080 is in use") || strings.Contains(out.String(), "Open http://127.0.0.1:8080/") {
		t.Errorf("output:\n%s", out.String())
	}
}
