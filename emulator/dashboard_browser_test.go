package emulator

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/gowebpubsub/webpubsub/internal/protocol"
	"github.com/gowebpubsub/webpubsub/internal/webdriver"
)

// TestDashboardInBrowser opens the dashboard in a headless Chromium, 400
// pixels wide: a client connects and joins a group, a REST send reaches
// it, and the page shows the connection, the group and the send in its
// live trace without a click; the send form reaches the client; the
// page's test client connects and gets a group message. It writes a
// screenshot to a temporary directory. It is skipped when Chromium or
// chromedriver is not installed.
func TestDashboardInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser; skipped with -short")
	}
	d := webdriver.Start(t)
	te := startEmulator(t, Options{Dashboard: true})
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()

	d.SetWindowSize(400, 1000)
	d.Navigate(te.DashboardURL())
	text := func(css string) (string, error) {
		var s string
		err := d.Script(`const e = document.querySelector(arguments[0]); return e ? e.textContent : "";`, &s, css)
		return s, err
	}
	waitText := func(what, css string, ok func(string) bool) {
		t.Helper()
		d.WaitFor(ctx, what, func() (bool, string, error) {
			s, err := text(css)
			return ok(s), s, err
		})
	}
	waitText("the page to go live", "#status", func(s string) bool { return s == "live" })

	// A client connects and joins a group; the page shows both.
	alice := te.pubsub(jwt.MapClaims{"sub": "alice", "role": []string{"webpubsub.joinLeaveGroup"}})
	if r := alice.JoinGroup("room1"); r.ErrorName() != "" {
		t.Fatalf("joinGroup: %s", r.ErrorName())
	}
	row := `tr[data-connection-id="` + alice.id + `"]`
	waitText("alice's connection in room1", row, func(s string) bool {
		return strings.Contains(s, "alice") && strings.Contains(s, "room1") && strings.Contains(s, "json.webpubsub.azure.v1")
	})
	waitText("the group room1 with alice's connection", `li[data-group="room1"]`, func(s string) bool {
		return s == "room1: "+alice.id
	})

	// A REST send: the live trace shows the call and the delivery.
	if r := te.rest("POST", "/api/hubs/chat/groups/room1/:send?api-version=2024-12-01", "text/plain", []byte("hello from REST")); r.status != 202 {
		t.Fatalf("REST send: %d %s", r.status, r.body)
	}
	alice.ExpectMessage(protocol.DataTypeText, "hello from REST")
	feed := func() ([]string, error) {
		var lines []string
		err := d.Script(`return Array.from(document.querySelectorAll("#feed li"), (li) => li.textContent)`, &lines)
		return lines, err
	}
	waitFeed := func(what string, parts ...string) {
		t.Helper()
		d.WaitFor(ctx, what, func() (bool, string, error) {
			lines, err := feed()
			return slices.ContainsFunc(lines, func(l string) bool {
				for _, p := range parts {
					if !strings.Contains(l, p) {
						return false
					}
				}
				return true
			}), strings.Join(lines, " | "), err
		})
	}
	waitFeed("the REST call in the trace", "rest", "operation=SendToGroup", "target=room1", "status=202")
	waitFeed("the delivery in the trace", "delivery", "group=room1", "recipients=1", `preview="hello from REST"`)
	waitFeed("alice's join in the trace", "connection", "event=joined", "group=room1")

	// The send form reaches alice's connection.
	d.Fill("#send-hub", "chat")
	d.Click(`#send-target option[value="connection"]`)
	d.Fill("#send-id", alice.id)
	d.Fill("#send-data", "hello from the form")
	d.Click("#send-button")
	alice.ExpectMessage(protocol.DataTypeText, "hello from the form")
	waitText("the form's result", "#send-result", func(s string) bool { return strings.Contains(s, "202 Accepted") })

	// The page's test client connects as bob into room1, and gets a
	// message sent to the group.
	d.Fill("#tc-hub", "chat")
	d.Fill("#tc-user", "bob")
	d.Fill("#tc-group", "room1")
	d.Click("#tc-connect")
	waitText("the test client to connect", "#tc-status", func(s string) bool { return strings.HasPrefix(s, "connected to hub chat as bob") })
	bob, err := te.WaitConnection(ctx, "chat", func(c ConnectionInfo) bool { return c.UserID == "bob" })
	if err != nil || !slices.Equal(bob.Groups, []string{"room1"}) {
		t.Fatalf("bob's connection: %+v, %v", bob, err)
	}
	if r := te.rest("POST", "/api/hubs/chat/groups/room1/:send?api-version=2024-12-01", "text/plain", []byte("hi room1")); r.status != 202 {
		t.Fatalf("REST send: %d", r.status)
	}
	d.WaitFor(ctx, "the test client to receive the group message", func() (bool, string, error) {
		var lines []string
		err := d.Script(`return Array.from(document.querySelectorAll("#tc-log li"), (li) => li.textContent)`, &lines)
		return slices.Contains(lines, "from group room1: hi room1"), strings.Join(lines, " | "), err
	})
	waitText("both connections in room1", `li[data-group="room1"]`, func(s string) bool {
		return strings.Contains(s, alice.id) && strings.Contains(s, bob.ID)
	})

	// Usable at 400 pixels: nothing wider than the window.
	var overflow int
	if err := d.Script(`return document.documentElement.scrollWidth - document.documentElement.clientWidth`, &overflow); err != nil || overflow > 0 {
		t.Errorf("the page is %d pixels wider than the window (%v)", overflow, err)
	}

	dir, err := os.MkdirTemp("", "dashboard-screenshot-")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "dashboard.png")
	if err := d.Script(`window.scrollTo(0, 0); return null`, nil); err != nil {
		t.Fatal(err)
	}
	png := d.Screenshot()
	if len(png) < 8 || string(png[1:4]) != "PNG" {
		t.Fatalf("the screenshot is not a PNG (%d bytes)", len(png))
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot of the dashboard: %s", path)
}
