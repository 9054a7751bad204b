package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/gowebpubsub/webpubsub/emulator"
	"github.com/gowebpubsub/webpubsub/internal/testclient"
)

// TestRunServesAndStopsGracefully starts the program on a free port, checks
// what it prints and that it serves, then cancels its context as SIGINT
// would and checks that a connected client is closed with 1001.
func TestRunServesAndStopsGracefully(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	outR, outW := io.Pipe()
	var stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"-port", "0", "-host", "localhost", "-log-level", "debug"}, noEnv, outW, &stderr)
		outW.Close()
	}()
	lines := bufio.NewScanner(outR)
	var printed []string
	for len(printed) < 4 && lines.Scan() {
		printed = append(printed, lines.Text())
	}
	if len(printed) < 4 {
		t.Fatalf("printed %q; stderr %s", printed, stderr.String())
	}
	go func() { _, _ = io.Copy(io.Discard, outR) }()
	url, ok := strings.CutPrefix(printed[0], "Azure Web PubSub emulator listening on ")
	if !ok || !strings.HasPrefix(url, "http://localhost:") {
		t.Fatalf("first line %q", printed[0])
	}
	port := strings.TrimPrefix(url, "http://localhost:")
	want := "Connection string: Endpoint=http://localhost;Port=" + port + ";AccessKey=" + emulator.DefaultAccessKey + ";Version=1.0;"
	if printed[1] != want {
		t.Fatalf("second line %q; want %q", printed[1], want)
	}
	if printed[2] != "Client endpoint:   ws://localhost:"+port+"/client/hubs/{hub}" {
		t.Fatalf("third line %q", printed[2])
	}
	if printed[3] != "Dashboard: http://localhost:"+port+"/dashboard/" {
		t.Fatalf("fourth line %q", printed[3])
	}
	resp, err := http.Head(url + "/api/health")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("health %d", resp.StatusCode)
	}
	resp, err = http.Get(url + "/dashboard/api/state")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET /dashboard/api/state: %d", resp.StatusCode)
	}

	// A raw client with a token signed by the well-known key.
	ws := testclient.Dial(t, "ws://localhost:"+port+"/client/hubs/chat?access_token="+testToken(t, "http://localhost:"+port+"/client/hubs/chat"), nil)

	cancel() // what SIGINT or SIGTERM does
	ws.ExpectClose(websocket.StatusGoingAway)
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit code %d; stderr %s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after cancellation")
	}
}

func TestRunRejectsBadFlags(t *testing.T) {
	secret := strings.Repeat("s", 20) // too short to be accepted
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"-nope"}, 2},
		{[]string{"extra"}, 2},
		{[]string{"-port", "x"}, 2},
		{[]string{"-port", "70000"}, 1},
		{[]string{"-key", secret}, 1},
		{[]string{"-help"}, 0},
		{[]string{"-log-level", "loud"}, 2},
	} {
		var out, errOut bytes.Buffer
		if code := run(context.Background(), tc.args, noEnv, &out, &errOut); code != tc.code {
			t.Errorf("%v: exit %d; want %d (%s)", tc.args, code, tc.code, errOut.String())
		}
		if strings.Contains(errOut.String(), secret) || strings.Contains(out.String(), secret) {
			t.Errorf("%v: output contains the key", tc.args)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestPrintConnectionString(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-print-connection-string"}, "Endpoint=http://localhost;Port=8080;AccessKey=" + emulator.DefaultAccessKey + ";Version=1.0;\n"},
		{[]string{"-print-connection-string", "-host", "0.0.0.0", "-port", "9000"}, "Endpoint=http://localhost;Port=9000;AccessKey=" + emulator.DefaultAccessKey + ";Version=1.0;\n"},
		{[]string{"-print-connection-string", "-public-endpoint", "https://emu.example:8443"}, "Endpoint=https://emu.example;Port=8443;AccessKey=" + emulator.DefaultAccessKey + ";Version=1.0;\n"},
	} {
		var out, errOut bytes.Buffer
		if code := run(context.Background(), tc.args, noEnv, &out, &errOut); code != 0 || out.String() != tc.want {
			t.Errorf("%v: exit %d, printed %q; want %q (%s)", tc.args, code, out.String(), tc.want, errOut.String())
		}
	}
}

// noEnv is an empty environment.
func noEnv(string) string { return "" }

// TestHealthCheckFlag: -health-check probes a URL and serves nothing: 0
// for 200 OK (an emulator's /api/health), 1 for another status or no
// answer, 2 for a URL that is not http(s).
func TestHealthCheckFlag(t *testing.T) {
	e, err := emulator.New(emulator.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) }))
	t.Cleanup(failing.Close)
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	for _, tc := range []struct {
		url, stdout, stderr string
		code                int
	}{
		{e.URL() + "/api/health", "healthy\n", "", 0},
		{failing.URL + "/api/health", "", "503 Service Unavailable", 1},
		{closed.URL + "/api/health", "", "health check:", 1},
		{"localhost:8080/api/health", "", "needs an http or https URL", 2},
	} {
		var stdout, stderr bytes.Buffer
		code := run(t.Context(), []string{"-health-check", tc.url}, noEnv, &stdout, &stderr)
		if code != tc.code || stdout.String() != tc.stdout || !strings.Contains(stderr.String(), tc.stderr) {
			t.Errorf("-health-check %s: exit %d, stdout %q, stderr %q; want %d, %q, %q", tc.url, code, stdout.String(), stderr.String(), tc.code, tc.stdout, tc.stderr)
		}
	}
}
