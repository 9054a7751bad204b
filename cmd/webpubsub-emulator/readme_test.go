package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/gowebpubsub/webpubsub/emulator"
	"github.com/gowebpubsub/webpubsub/eventhandler"
	"github.com/gowebpubsub/webpubsub/internal/protocol"
	"github.com/gowebpubsub/webpubsub/internal/testclient"
)

// readmeSection returns the text of the README's section that starts with
// the heading, up to the next heading of the same level.
func readmeSection(t *testing.T, heading string) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	i := strings.Index(text, "\n"+heading+"\n")
	if i < 0 {
		t.Fatalf("the README has no section %q", heading)
	}
	rest := text[i+len(heading)+2:]
	level := heading[:strings.IndexByte(heading, ' ')+1]
	if j := strings.Index(rest, "\n"+level); j >= 0 {
		rest = rest[:j]
	}
	return rest
}

// codeBlocks returns the bodies of the fenced blocks of lang in text.
func codeBlocks(text, lang string) []string {
	var out []string
	for _, part := range strings.Split(text, "```"+lang+"\n")[1:] {
		body, _, _ := strings.Cut(part, "```")
		out = append(out, body)
	}
	return out
}

// shellWords splits a command line of plain words and single-quoted
// strings, as the README writes them.
func shellWords(t *testing.T, line string) []string {
	t.Helper()
	var words []string
	for line = strings.TrimSpace(line); line != ""; line = strings.TrimSpace(line) {
		if line[0] == '\'' {
			end := strings.IndexByte(line[1:], '\'')
			if end < 0 {
				t.Fatalf("unclosed quote in %q", line)
			}
			words, line = append(words, line[1:end+1]), line[end+2:]
			continue
		}
		word, rest, _ := strings.Cut(line, " ")
		words, line = append(words, word), rest
	}
	return words
}

// TestREADMEEventHandlerEndToEnd runs the README's emulator command with
// its -event-handler flag, as written, against the README's event handler,
// as written, mounted on a server in place of the one on port 9000: a
// client without a user is refused with the handler's reason, a signed-in
// one lands in the lobby and its "echo" event is answered.
func TestREADMEEventHandlerEndToEnd(t *testing.T) {
	// The command line of the emulator section.
	var args []string
	for _, block := range codeBlocks(readmeSection(t, "## The emulator"), "sh") {
		if strings.Contains(block, "-event-handler") {
			words := shellWords(t, block)
			if len(words) < 3 || words[0] != "go" || words[1] != "run" || words[2] != "./cmd/webpubsub-emulator" {
				t.Fatalf("the README's command is %q", words)
			}
			args = words[3:]
		}
	}
	if len(args) != 2 || args[0] != "-event-handler" || !strings.HasPrefix(args[1], "chat=http://localhost:9000/") {
		t.Fatalf("the README's emulator flags are %q; want -event-handler chat=http://localhost:9000/...", args)
	}
	if !strings.Contains(readmeSection(t, "## The emulator"), "when your server listens on port 9000") {
		t.Error("the README no longer says that the event handler's server listens on port 9000")
	}

	// The handler of the event-handler section: this code is the
	// README's block, which the check below compares.
	accessKey := emulator.DefaultAccessKey
	// README event handler: begin
	h, err := eventhandler.New("chat", &eventhandler.Options{
		AccessKeys: []string{accessKey}, // or ConnectionString: os.Getenv(...)
		Connect: func(ctx context.Context, req *eventhandler.ConnectRequest) (*eventhandler.ConnectResponse, error) {
			if req.UserID == "" {
				return nil, eventhandler.Reject(http.StatusUnauthorized, "sign in first")
			}
			return &eventhandler.ConnectResponse{Groups: []string{"lobby"}}, nil
		},
		UserEvents: map[string]eventhandler.UserEventFunc{
			"echo": func(ctx context.Context, req *eventhandler.UserEventRequest) (*eventhandler.UserEventResponse, error) {
				return eventhandler.Text("echo: " + string(req.Data)), nil
			},
		},
	})
	mux := http.NewServeMux()
	mux.Handle(eventhandler.DefaultPath("chat"), h)
	// README event handler: end
	if err != nil {
		t.Fatal(err)
	}
	blocks := codeBlocks(readmeSection(t, "## The event handler"), "go")
	self, err := os.ReadFile("readme_test.go")
	if err != nil {
		t.Fatal(err)
	}
	region := codeRegion(t, string(self), "README event handler")
	if len(blocks) == 0 || blocks[0] != region {
		t.Fatalf("the README's event handler differs from the code this test runs:\nREADME:\n%s\ntest:\n%s", first(blocks), region)
	}

	// Port 9000 may be taken: the handler's server listens on a free
	// port, which replaces 9000 in the flag.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	args[1] = strings.Replace(args[1], "localhost:9000", "localhost:"+port, 1)

	ctx, cancel := context.WithCancel(context.Background())
	outR, outW := io.Pipe()
	var stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append([]string{"-port", "0"}, args...), noEnv, outW, &stderr)
		outW.Close()
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("exit code %d; stderr %s", code, stderr.String())
		}
	})
	lines := bufio.NewScanner(outR)
	if !lines.Scan() {
		t.Fatalf("no banner; stderr %s", stderr.String())
	}
	base, ok := strings.CutPrefix(lines.Text(), "Azure Web PubSub emulator listening on ")
	if !ok {
		t.Fatalf("banner %q", lines.Text())
	}
	go func() { _, _ = io.Copy(io.Discard, outR) }()

	clientURL := func(claims jwt.MapClaims) string {
		aud := base + "/client/hubs/chat"
		c := jwt.MapClaims{"aud": aud, "exp": time.Now().Add(time.Hour).Unix()}
		for k, v := range claims {
			c[k] = v
		}
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(emulator.DefaultAccessKey))
		if err != nil {
			t.Fatal(err)
		}
		return "ws" + strings.TrimPrefix(aud, "http") + "?access_token=" + tok
	}
	opts := &testclient.Options{Subprotocols: []string{testclient.JSON}}
	_, err = testclient.TryDial(t, clientURL(nil), opts)
	var he *testclient.HandshakeError
	if !errors.As(err, &he) || he.StatusCode != http.StatusUnauthorized || he.Body != "sign in first" {
		t.Fatalf("an anonymous client: %v; want 401 sign in first (stderr %s)", err, stderr.String())
	}

	alice := testclient.Dial(t, clientURL(jwt.MapClaims{"sub": "alice"}), opts)
	reply := alice.SendEvent("echo", protocol.DataTypeText, []byte("hi"))
	if reply.ErrorName() != "" || len(reply.Before) != 1 || string(reply.Before[0].Data) != "echo: hi" {
		t.Fatalf("echo: ack %s, frames %+v", reply.ErrorName(), reply.Before)
	}
	// Connect put alice in the lobby: a message to the group reaches her.
	status, body := restSend(t, base, "/api/hubs/chat/groups/lobby/:send?api-version=2024-12-01", "hello lobby")
	if status != http.StatusAccepted {
		t.Fatalf("send to the lobby: %d %s", status, body)
	}
	f := alice.ExpectMessage(protocol.DataTypeText, "hello lobby")
	if f.Group != "lobby" {
		t.Fatalf("the message came from %q, want the lobby", f.Group)
	}
}

// codeRegion returns the lines of src between "// <name>: begin" and
// "// <name>: end", with one tab of indentation less.
func codeRegion(t *testing.T, src, name string) string {
	t.Helper()
	_, rest, ok := strings.Cut(src, "// "+name+": begin\n")
	if !ok {
		t.Fatalf("no region %q", name)
	}
	body, _, ok := strings.Cut(rest, "// "+name+": end")
	if !ok {
		t.Fatalf("region %q does not end", name)
	}
	lines := strings.Split(strings.TrimRight(body, "\t"), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimPrefix(l, "\t")
	}
	return strings.Join(lines, "\n")
}

func first(s []string) string {
	if len(s) == 0 {
		return "(no block)"
	}
	return s[0]
}

// restSend sends text to pathAndQuery of the emulator at base, signed
// with the well-known key, and returns the status and body.
func restSend(t *testing.T, base, pathAndQuery, text string) (int, string) {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"aud": base + pathAndQuery, "exp": time.Now().Add(time.Minute).Unix()}).
		SignedString([]byte(emulator.DefaultAccessKey))
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, base+pathAndQuery, strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "text/plain")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
