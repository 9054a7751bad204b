// Package interop runs the official Web PubSub SDKs of other languages,
// unchanged, against the emulator, to show that they accept it as if it
// were the service. It holds tests only.
//
// The JavaScript test needs Node.js and the pinned packages of js/:
//
//	(cd interop/js && npm ci)
//	go test ./interop/
//
// Without them it skips, saying so.
package interop

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gowebpubsub/webpubsub/emulator"
	"github.com/gowebpubsub/webpubsub/eventhandler"
)

// jsTimeout bounds the whole script run; the script bounds each of its
// waits itself and normally ends in a few seconds.
const jsTimeout = 2 * time.Minute

// TestJavaScriptSDKs runs js/interop.mjs, which drives @azure/web-pubsub
// (server SDK), @azure/web-pubsub-client (client SDK) and
// @azure/web-pubsub-express (event handler) against an in-process
// emulator, with a Go webpubsubclient as the peer of its group streams. The connection string and hub reach the script in
// its environment only.
func TestJavaScriptSDKs(t *testing.T) {
	node := requireNode(t, "@azure/web-pubsub", "@azure/web-pubsub-client", "@azure/web-pubsub-express")

	const hub = "interopJs" // mixed case: hub names are case-insensitive
	// The application server of invokeEvent: our event handler, called by
	// the emulator for the user events echo and fail.
	app, err := eventhandler.New(hub, &eventhandler.Options{
		AccessKeys: []string{emulator.DefaultAccessKey},
		UserEvents: map[string]eventhandler.UserEventFunc{
			"echo": func(_ context.Context, r *eventhandler.UserEventRequest) (*eventhandler.UserEventResponse, error) {
				return eventhandler.Text("echo: " + string(r.Data)), nil
			},
			"fail": func(context.Context, *eventhandler.UserEventRequest) (*eventhandler.UserEventResponse, error) {
				return nil, eventhandler.Reject(http.StatusBadRequest, "no such thing")
			},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	appServer := httptest.NewServer(app)
	defer appServer.Close()
	// The group presence events of presenceHub go to the script's
	// express handler, on a port chosen here.
	const streamHub, presenceHub = "interopStreams", "interopPresence"
	presencePort := freePort(t)
	e := emulator.NewTest(t,
		emulator.WithHub(hub, emulator.HubOptions{EventHandlers: []emulator.EventHandler{{
			URLTemplate: appServer.URL + eventhandler.DefaultPath(hub), UserEventPattern: "echo,fail",
		}}}),
		emulator.WithHub(presenceHub, emulator.HubOptions{EventHandlers: []emulator.EventHandler{{
			URLTemplate:         "http://127.0.0.1:" + presencePort + eventhandler.DefaultPath(presenceHub),
			GroupPresenceEvents: &emulator.GroupPresenceEvents{EventNames: []string{"joined", "left"}},
		}}}),
	)
	echo := startStreamEcho(t, e, streamHub)

	ctx, cancel := context.WithTimeout(context.Background(), jsTimeout)
	defer cancel()
	runScript(ctx, t, node, "interop.mjs", e.AccessKey(),
		"WEBPUBSUB_CONNECTION_STRING="+e.ConnectionString(),
		"WEBPUBSUB_HUB="+hub,
		"WEBPUBSUB_STREAM_HUB="+streamHub,
		"WEBPUBSUB_PRESENCE_HUB="+presenceHub,
		"WEBPUBSUB_PRESENCE_PORT="+presencePort,
	)
	if err := echo.stop(); err != nil {
		t.Errorf("the Go stream echo: %v", err)
	}

	// Every connection has ended, so the emulator must close within the
	// bound its documentation gives for one connection's close procedure:
	// nothing the SDKs did may leave a handler behind.
	closed := make(chan error, 1)
	start := time.Now()
	go func() { closed <- e.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("emulator.Close: %v", err)
		}
	case <-time.After(closeBound):
		err := <-closed
		t.Errorf("emulator.Close took %v (more than %v) after the script ended (error: %v): a handler was still running",
			time.Since(start).Round(time.Millisecond), closeBound, err)
	}
}

// requireNode returns the path of node, skipping the test when node or
// one of pkgs (installed by npm ci in interop/js) is missing.
func requireNode(t *testing.T, pkgs ...string) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not in PATH; install Node.js 20 or later, then run: (cd interop/js && npm ci)")
	}
	for _, pkg := range pkgs {
		if _, err := os.Stat(filepath.Join("js", "node_modules", filepath.FromSlash(pkg), "package.json")); err != nil {
			t.Skipf("interop/js/node_modules has no %s; run: (cd interop/js && npm ci)", pkg)
		}
	}
	return node
}

// runScript runs the node script of interop/js with the test's cleaned
// environment plus env, until it exits or ctx ends, and fails the test
// unless it exited 0 after printing "all checks passed". Its output is
// logged, or withheld when it holds key or another secret (the scripts
// redact what they print; this checks that they did, and never repeats a
// secret either).
func runScript(ctx context.Context, t *testing.T, node, script, key string, env ...string) {
	t.Helper()
	cmd := exec.CommandContext(ctx, node, script)
	cmd.Dir = "js"
	cmd.Env = append(scriptEnv(), env...)
	cmd.WaitDelay = 5 * time.Second
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	runErr := cmd.Run()
	output := out.String()
	if leak := secretIn(output, key); leak != "" {
		t.Errorf("the script printed %s; its output is withheld", leak)
		output = "(withheld)"
	}
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		t.Fatalf("node %s did not finish within %v\noutput:\n%s", script, jsTimeout, output)
	case runErr != nil:
		t.Fatalf("node %s: %v\noutput:\n%s", script, runErr, output)
	}
	if !strings.Contains(output, "all checks passed") {
		t.Fatalf("node %s exited 0 without passing every check\noutput:\n%s", script, output)
	}
	t.Logf("node %s:\n%s", script, output)
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

// closeBound is how long Close may take once no connection is left: the
// 5 s the emulator documents for a connection's close procedure.
const closeBound = 5 * time.Second

// scriptEnv is the test's environment without variables that would point
// the SDKs elsewhere or make them log requests.
func scriptEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(name, "WEBPUBSUB_"),
			strings.HasPrefix(name, "AZURE_WEBPUBSUB_"),
			name == "AZURE_LOG_LEVEL", name == "DEBUG",
			name == "NODE_OPTIONS":
			continue
		}
		env = append(env, kv)
	}
	return env
}

var jwtPattern = regexp.MustCompile(`eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+`)

// secretIn names the kind of secret s contains, or returns "".
func secretIn(s, key string) string {
	switch {
	case key != "" && strings.Contains(s, key):
		return "the access key"
	case strings.Contains(strings.ToLower(s), "access_token=") &&
		!strings.Contains(strings.ToLower(s), "access_token=<redacted>"):
		return "a URL with access_token"
	case jwtPattern.MatchString(s):
		return "a JWT"
	}
	return ""
}
