package main

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gowebpubsub/webpubsub/internal/webdriver"
)

// webDriver is a browser session with the chat page's actions.
type webDriver struct {
	*webdriver.Driver
	t *testing.T
}

// startBrowser starts a headless Chromium, or skips the test when it is
// not installed.
func startBrowser(t *testing.T) *webDriver { return &webDriver{webdriver.Start(t), t} }

// TestBrowser chats in the page with a real browser: two tabs of a headless
// Chromium join the same room as alice and bob, and each sees the other's
// lines, which went from the page to the service, to the Go event handler,
// and back through the ServiceClient. It is skipped when Chromium or
// chromedriver is not installed.
func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser; skipped with -short")
	}
	noAzure(t)
	d := startBrowser(t)
	s := startTestServer(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()

	aliceTab := d.Window()
	d.Navigate(s.URL)
	d.join(ctx, "alice", "lobby")
	d.waitLog(ctx, "* alice joined lobby")

	bobTab := d.NewTab()
	d.SwitchTo(bobTab)
	d.Navigate(s.URL)
	d.join(ctx, "bob", "lobby")
	d.say(ctx, "Hi Alice, Bob here.")

	d.SwitchTo(aliceTab)
	d.waitLog(ctx, "* alice joined lobby", "* bob joined lobby", "bob: Hi Alice, Bob here.")
	d.say(ctx, "Hi Bob! <b>not bold</b>") // shown as text, not HTML

	d.SwitchTo(bobTab)
	d.waitLog(ctx, "* bob joined lobby", "bob: Hi Alice, Bob here.", "alice: Hi Bob! <b>not bold</b>")
	var bold int
	if err := d.Script(`return document.querySelectorAll("#log b").length`, &bold); err != nil || bold != 0 {
		t.Errorf("a chat line was rendered as HTML: %d <b> elements, %v", bold, err)
	}
	d.CloseWindow() // bob's page unloads: its WebSocket closes

	d.SwitchTo(aliceTab)
	d.waitLog(ctx, "* alice joined lobby", "* bob joined lobby", "bob: Hi Alice, Bob here.",
		"alice: Hi Bob! <b>not bold</b>", "* bob left lobby")
}

// join fills the page's form with user and room, submits it, and waits
// until the page says that the user is in the room.
func (d *webDriver) join(ctx context.Context, user, room string) {
	d.t.Helper()
	d.Fill("#user", user)
	d.Fill("#room", room)
	d.Click("#join")
	want := user + " in room " + room
	d.WaitFor(ctx, "the status "+want, func() (bool, string, error) {
		var status string
		err := d.Script(`return document.getElementById("status").textContent`, &status)
		return status == want, status, err
	})
}

// say sends a chat line and waits for it to come back to the page from
// the room.
func (d *webDriver) say(ctx context.Context, text string) {
	d.t.Helper()
	d.Fill("#text", text)
	d.Click("#send")
	var user string
	if err := d.Script(`return document.getElementById("user").value`, &user); err != nil {
		d.t.Fatal(err)
	}
	line := user + ": " + text
	d.WaitFor(ctx, "the line "+line, func() (bool, string, error) {
		got, err := d.logLines()
		return slices.Contains(got, line), strings.Join(got, " | "), err
	})
}

// waitLog waits until the chat log of the current tab is exactly want.
func (d *webDriver) waitLog(ctx context.Context, want ...string) {
	d.t.Helper()
	d.WaitFor(ctx, "the log "+strings.Join(want, " | "), func() (bool, string, error) {
		got, err := d.logLines()
		return slices.Equal(got, want), strings.Join(got, " | "), err
	})
}

// logLines returns the lines of the page's chat log.
func (d *webDriver) logLines() ([]string, error) {
	var lines []string
	err := d.Script(`return Array.from(document.querySelectorAll("#log li"), (li) => li.textContent)`, &lines)
	return lines, err
}
