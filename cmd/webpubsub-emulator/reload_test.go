package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestConfigHotReload: a change of the configuration file's hubs is
// applied without a restart; a broken change keeps the old settings and
// says why.
func TestConfigHotReload(t *testing.T) {
	old := reloadInterval
	reloadInterval = 10 * time.Millisecond
	defer func() { reloadInterval = old }()
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
	waitLog := func(want string) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for !strings.Contains(stderr.String(), want) {
			select {
			case <-stderr.wrote:
			case <-deadline:
				t.Fatalf("the output never said %q:\n%s", want, stderr.String())
			}
		}
	}
	// Wait until the watcher has read the first version.
	waitLog("Connection string")
	writeFile(t, path, `{"hubs": {"chat": {"eventHandlers": [{"urlTemplate": "http://localhost:1/h", "systemEvents": ["connected"]}]}}}`)
	waitLog("configuration reloaded")
	waitLog(`url=http://localhost:1/h`)
	writeFile(t, path, `{"hubs": {"chat": {"eventHandlers": [{"urlTemplate": "http://localhost:1/h", "sytemEvents": []}]}}}`)
	waitLog(`did you mean \"systemEvents\"?`)
	if !strings.Contains(stderr.String(), "the previous settings stay") {
		t.Error("a broken change was not reported as keeping the old settings")
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
