package emulator

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestHTTPServerLimits: an idle keep-alive connection and a client that
// never finishes its headers are closed, and oversized headers get 431.
func TestHTTPServerLimits(t *testing.T) {
	te := startEmulator(t, Options{HTTPIdleTimeout: 50 * time.Millisecond, ReadHeaderTimeout: 50 * time.Millisecond, MaxHeaderBytes: 4 << 10})
	addr := te.hostPort()
	dial := func(t *testing.T) net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		// The deadline only turns a hang into a failure; the server's
		// close ends each wait well before it.
		_ = c.SetDeadline(time.Now().Add(testTimeout))
		return c
	}
	// expectClosed reads until the server closes the connection.
	expectClosed := func(t *testing.T, r io.Reader) {
		t.Helper()
		_, err := io.Copy(io.Discard, r)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("the server kept the connection open")
		}
	}
	t.Run("idle keep-alive", func(t *testing.T) {
		c := dial(t)
		if _, err := io.WriteString(c, "GET /api/health HTTP/1.1\r\nHost: "+addr+"\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Close {
			t.Fatalf("health: %d, close=%v; want 200 kept alive", resp.StatusCode, resp.Close)
		}
		expectClosed(t, br)
	})
	t.Run("slow headers", func(t *testing.T) {
		c := dial(t)
		if _, err := io.WriteString(c, "GET /api/health HTTP/1.1\r\nHost: "+addr+"\r\n"); err != nil {
			t.Fatal(err)
		}
		expectClosed(t, c)
	})
	t.Run("large headers", func(t *testing.T) {
		c := dial(t)
		req := "GET /api/health HTTP/1.1\r\nHost: " + addr + "\r\nX-Big: " + strings.Repeat("a", 8<<10) + "\r\n\r\n"
		if _, err := io.WriteString(c, req); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("status %d; want 431", resp.StatusCode)
		}
	})
}

func TestHTTPServerLimitsValidation(t *testing.T) {
	for name, o := range map[string]Options{
		"ReadHeaderTimeout": {ReadHeaderTimeout: -1},
		"HTTPIdleTimeout":   {HTTPIdleTimeout: -1},
		"MaxHeaderBytes":    {MaxHeaderBytes: -1},
	} {
		if _, err := New(o); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s negative: err = %v; want an error naming it", name, err)
		}
	}
}
