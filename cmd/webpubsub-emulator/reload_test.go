package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/gowebpubsub/webpubsub/internal/testclient"
)

// TestConfigHotReload: a change of the configuration file's hubs is
// applied without a restart, and a new connection's events reach the new
// handler; a broken change keeps the old settings (events still reach the
// old handler) and says why.
func TestConfigHotReload(t *testing.T) {
	old := reloadInterval
	reloadInterval = 10 * time.Millisecond
	defer func() { reloadInterval = old }()
	paths := make(chan string, 16)
	handler := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		paths <- r.URL.Path
		w.WriteHeader(http.StatusNoContent)
	}))
	defer handler.Close()
	path := filepath.Join(t.TempDir(), "emulator.json")
	writeFile(t, path, `{"hubs": {"chat": {"anonymousConnectPolicy": "deny"}}}`)
	ctx, cancel := context.WithCancel(context.Background())
	stderr := &notifyBuffer{wrote: make(chan struct{}, 1)}
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"-port", "0", "-config", path}, noEnv, stderr, stderr) }()
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("exit code %d; stderr %s", code, stderr.String())
		}
	}()
	waitCount := func(want string, n int) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for strings.Count(stderr.String(), want) < n {
			select {
			case <-stderr.wrote:
			case <-deadline:
				t.Fatalf("the output never said %q %d times:\n%s", want, n, stderr.String())
			}
		}
	}
	waitLog := func(want string) { t.Helper(); waitCount(want, 1) }
	// connect opens and closes a client of hub chat and returns the path
	// its connected event was posted to.
	connect := func() string {
		t.Helper()
		m := regexp.MustCompile(`listening on (http://localhost:(\d+))`).FindStringSubmatch(stderr.String())
		if m == nil {
			t.Fatalf("no listen address in:\n%s", stderr.String())
		}
		ws := testclient.Dial(t, "ws://localhost:"+m[2]+"/client/hubs/chat?access_token="+testToken(t, m[1]+"/client/hubs/chat"), nil)
		_ = ws.Close(websocket.StatusNormalClosure, "")
		select {
		case p := <-paths:
			return p
		case <-time.After(10 * time.Second):
			t.Fatal("no event handler was called")
			return ""
		}
	}
	handlerFile := func(p string) string {
		return `{"hubs": {"chat": {"eventHandlers": [{"urlTemplate": "` + handler.URL + p + `", "systemEvents": ["connected"], "validate": false}]}}}`
	}
	// Wait until the watcher has read the first version.
	waitLog("Connection string")
	writeFile(t, path, handlerFile("/first/{event}"))
	waitCount("configuration reloaded", 1)
	waitLog(`url=` + handler.URL + `/first/{event}`)
	if got := connect(); got != "/first/connected" {
		t.Fatalf("after the first reload the connected event went to %s; want /first/connected", got)
	}

	writeFile(t, path, `{"hubs": {"chat": {"eventHandlers": [{"urlTemplate": "`+handler.URL+`/broken/{event}", "sytemEvents": []}]}}}`)
	waitLog(`did you mean \"systemEvents\"?`)
	if !strings.Contains(stderr.String(), "the previous settings stay") {
		t.Error("a broken change was not reported as keeping the old settings")
	}
	if got := connect(); got != "/first/connected" {
		t.Fatalf("after a broken change the connected event went to %s; want the old handler's /first/connected", got)
	}

	writeFile(t, path, handlerFile("/second/{event}"))
	waitCount("configuration reloaded", 2)
	if got := connect(); got != "/second/connected" {
		t.Fatalf("after the second reload the connected event went to %s; want /second/connected", got)
	}
	_ = os.Remove(path) // a vanished file keeps the settings too
}

// notifyBuffer is a syncBuffer that signals each write.
type notifyBuffer struct {
	syncBuffer
	wrote chan struct{}
}

func (b *notifyBuffer) Write(p []byte) (int, error) {
	n, err := b.syncBuffer.Write(p)
	select {
	case b.wrote <- struct{}{}:
	default:
	}
	return n, err
}
