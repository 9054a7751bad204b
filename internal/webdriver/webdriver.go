// Package webdriver is a minimal client of the W3C WebDriver protocol
// (https://www.w3.org/TR/webdriver2/) for tests: it starts chromedriver,
// which drives a headless Chromium, and skips the test when either is
// missing. It is internal to this module's tests.
package webdriver

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// chromiumArgs are the browser's flags. The machine may have no network:
// without the background-networking flags Chromium waits on connections
// that never succeed.
var chromiumArgs = []string{
	"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
	"--disable-background-networking", "--disable-component-update", "--disable-sync",
}

// Driver is a WebDriver session. Its methods fail the test on error.
type Driver struct {
	t       *testing.T
	base    string // http://127.0.0.1:<port>
	session string
}

// Start starts chromedriver on a free loopback port and opens a
// session with a headless Chromium. It skips the test when Chromium or
// chromedriver is not installed. The session, chromedriver and Chromium
// end with the test, whether it passes or not.
func Start(t *testing.T) *Driver {
	t.Helper()
	driverPath, err := exec.LookPath("chromedriver")
	if err != nil {
		t.Skip("chromium/chromedriver not installed: chromedriver is not in PATH (Debian: apt-get install chromium chromium-driver)")
	}
	var browserPath string
	for _, name := range []string{"chromium", "chromium-browser"} {
		if browserPath, err = exec.LookPath(name); err == nil {
			break
		}
	}
	if browserPath == "" {
		t.Skip("chromium/chromedriver not installed: chromium is not in PATH (Debian: apt-get install chromium chromium-driver)")
	}

	// Created before the process is started, so removed after it is killed
	// (cleanups run last-in first-out).
	profile := t.TempDir()

	// Port 0: chromedriver picks a free port and prints it.
	cmd := exec.Command(driverPath, "--port=0")
	prepareCommand(cmd) // its own process group, Chromium included
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var output lockedBuffer
	cmd.Stderr = &output
	cmd.WaitDelay = 5 * time.Second // do not hang on a pipe a stray child holds
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting chromedriver: %v", err)
	}
	exited := make(chan struct{})
	t.Cleanup(func() {
		killCommand(cmd) // chromedriver and every browser process it started
		<-exited
		if t.Failed() {
			t.Logf("chromedriver output:\n%s", output.String())
		}
	})

	port := make(chan string, 1)
	go func() {
		defer close(exited)
		started := regexp.MustCompile(`started successfully on port (\d+)`)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			output.Write(append(sc.Bytes(), '\n'))
			if m := started.FindSubmatch(sc.Bytes()); m != nil {
				port <- string(m[1])
			}
		}
		io.Copy(io.Discard, stdout)
		cmd.Wait()
	}()
	select {
	case p := <-port:
		t.Logf("chromedriver on port %s, browser %s", p, browserPath)
		d := &Driver{t: t, base: "http://127.0.0.1:" + p}
		d.newSession(browserPath, profile)
		return d
	case <-exited:
		t.Fatalf("chromedriver exited before it was ready:\n%s", output.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("chromedriver did not start in 30s:\n%s", output.String())
	}
	return nil
}

func (d *Driver) newSession(browserPath, profile string) {
	caps := map[string]any{"capabilities": map[string]any{"alwaysMatch": map[string]any{
		"goog:chromeOptions": map[string]any{
			"binary": browserPath,
			"args":   append(append([]string(nil), chromiumArgs...), "--user-data-dir="+profile),
		},
	}}}
	var created struct {
		SessionID string `json:"sessionId"`
	}
	if err := d.call(http.MethodPost, "/session", caps, &created, time.Minute); err != nil {
		d.t.Fatalf("starting the browser: %v", err)
	}
	d.session = created.SessionID
	// Registered after the kill, so it runs first: end the session cleanly
	// (Chromium exits) while chromedriver still runs.
	d.t.Cleanup(func() {
		if err := d.call(http.MethodDelete, "/session/"+d.session, nil, nil, 10*time.Second); err != nil {
			d.t.Logf("ending the WebDriver session: %v", err)
		}
	})
}

// webDriverError is an error answer of the WebDriver server.
type webDriverError struct {
	Code    string `json:"error"`
	Message string `json:"message"`
}

func (e *webDriverError) Error() string {
	msg, _, _ := strings.Cut(e.Message, "\n")
	return e.Code + ": " + msg
}

// call sends a command and decodes its "value" into out (nil to ignore).
func (d *Driver) call(method, path string, in, out any, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, d.base+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	var answer struct {
		Value json.RawMessage `json:"value"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil {
		return fmt.Errorf("%s %s: %s, decoding the answer: %w", method, path, resp.Status, err)
	}
	if resp.StatusCode != http.StatusOK {
		var we webDriverError
		if json.Unmarshal(answer.Value, &we) != nil || we.Code == "" {
			return fmt.Errorf("%s %s: %s", method, path, resp.Status)
		}
		return fmt.Errorf("%s %s: %w", method, path, &we)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(answer.Value, out)
}

// do is call in the session, failing the test on error.
func (d *Driver) do(method, path string, in, out any) {
	d.t.Helper()
	if err := d.call(method, "/session/"+d.session+path, in, out, 30*time.Second); err != nil {
		d.t.Fatal(err)
	}
}

// Navigate loads url in the current window.
func (d *Driver) Navigate(url string) {
	d.t.Helper()
	d.do(http.MethodPost, "/url", map[string]string{"url": url}, nil)
}

// Window returns the current window's handle.
func (d *Driver) Window() string {
	d.t.Helper()
	var h string
	d.do(http.MethodGet, "/window", nil, &h)
	return h
}

// NewTab opens a tab and returns its handle; the current window stays.
func (d *Driver) NewTab() string {
	d.t.Helper()
	var w struct {
		Handle string `json:"handle"`
	}
	d.do(http.MethodPost, "/window/new", map[string]string{"type": "tab"}, &w)
	return w.Handle
}

// SwitchTo makes the window or tab handle the current one.
func (d *Driver) SwitchTo(handle string) {
	d.t.Helper()
	d.do(http.MethodPost, "/window", map[string]string{"handle": handle}, nil)
}

// CloseWindow closes the current window.
func (d *Driver) CloseWindow() {
	d.t.Helper()
	d.do(http.MethodDelete, "/window", nil, nil)
}

// Element finds the element that a CSS selector selects.
func (d *Driver) Element(css string) string {
	d.t.Helper()
	var ref map[string]string
	d.do(http.MethodPost, "/element", map[string]string{"using": "css selector", "value": css}, &ref)
	const key = "element-6066-11e4-a52e-4f735466cecf" // the W3C element reference
	if ref[key] == "" {
		d.t.Fatalf("finding %s: no element reference in %v", css, ref)
	}
	return ref[key]
}

// Fill replaces the value of the input that css selects with text.
func (d *Driver) Fill(css, text string) {
	d.t.Helper()
	el := d.Element(css)
	d.do(http.MethodPost, "/element/"+el+"/clear", map[string]any{}, nil)
	d.do(http.MethodPost, "/element/"+el+"/value", map[string]string{"text": text}, nil)
}

// Click clicks the element that css selects.
func (d *Driver) Click(css string) {
	d.t.Helper()
	d.do(http.MethodPost, "/element/"+d.Element(css)+"/click", map[string]any{}, nil)
}

// Script runs a synchronous script in the page and decodes its result.
func (d *Driver) Script(script string, out any, args ...any) error {
	if args == nil {
		args = []any{}
	}
	return d.call(http.MethodPost, "/session/"+d.session+"/execute/sync", map[string]any{"script": script, "args": args}, out, 30*time.Second)
}

// WaitFor evaluates cond every 50 ms until it reports true, fails or the
// deadline passes; it fails the test then, with what cond last said.
func (d *Driver) WaitFor(ctx context.Context, what string, cond func() (bool, string, error)) {
	d.t.Helper()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, state, err := cond()
		if err != nil {
			d.t.Fatalf("waiting for %s: %v", what, err)
		}
		if ok {
			return
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			d.t.Fatalf("waiting for %s: %v; last seen: %s", what, ctx.Err(), state)
		}
	}
}

// SetWindowSize sets the size of the current window, in CSS pixels.
func (d *Driver) SetWindowSize(width, height int) {
	d.t.Helper()
	d.do(http.MethodPost, "/window/rect", map[string]int{"width": width, "height": height}, nil)
}

// Screenshot returns a PNG image of the current page's viewport.
func (d *Driver) Screenshot() []byte {
	d.t.Helper()
	var b64 string
	d.do(http.MethodGet, "/screenshot", nil, &b64)
	png, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		d.t.Fatalf("decoding the screenshot: %v", err)
	}
	return png
}

// lockedBuffer is a bytes.Buffer safe for concurrent use.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
