package emulator

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/gowebpubsub/webpubsub/internal/protocol"
	"github.com/gowebpubsub/webpubsub/internal/testclient"
)

// dashboardCall sends a request to the dashboard of te (path below
// DashboardPath) and returns the status, the headers and the body.
func dashboardCall(t *testing.T, te *testEmulator, method, path, contentType, body string, header http.Header) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, te.URL()+DashboardPath+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if h := header.Get("Host"); h != "" {
		req.Host = h
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := sharedClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

// noSecretIn fails when body holds the access key, a JWT or an
// access_token parameter.
func noSecretIn(t *testing.T, what, body string) {
	t.Helper()
	for _, s := range []string{DefaultAccessKey, "eyJ", "access_token"} {
		if strings.Contains(body, s) {
			t.Errorf("%s holds %q: %s", what, s, body)
		}
	}
}

func TestDashboardOffByDefault(t *testing.T) {
	te := startEmulator(t, Options{})
	if u := te.DashboardURL(); u != "" {
		t.Errorf("DashboardURL = %q without Options.Dashboard", u)
	}
	for _, p := range []string{"", "api/state", "api/events"} {
		if status, _, _ := dashboardCall(t, te, http.MethodGet, p, "", "", nil); status != http.StatusNotFound {
			t.Errorf("GET %s%s: %d, want 404", DashboardPath, p, status)
		}
	}
}

func TestDashboardState(t *testing.T) {
	te := startEmulator(t, Options{Dashboard: true, Hubs: map[string]HubOptions{
		"configured": {EventHandlers: []EventHandler{{URLTemplate: "http://localhost:1/eh/{event}?code=secret-code", SystemEvents: []string{"connected"}}}},
	}})
	if got, want := te.DashboardURL(), te.URL()+"/dashboard/"; got != want {
		t.Errorf("DashboardURL = %q, want %q", got, want)
	}
	alice := te.pubsub(jwt.MapClaims{"sub": "alice", "role": []string{"webpubsub.joinLeaveGroup"}, "webpubsub.group": []string{"room1"}})
	status, _, body := dashboardCall(t, te, http.MethodGet, "api/state", "", "", nil)
	if status != http.StatusOK {
		t.Fatalf("GET api/state: %d %s", status, body)
	}
	noSecretIn(t, "the state", body)
	if strings.Contains(body, "secret-code") {
		t.Errorf("the state holds an event handler's query: %s", body)
	}
	var st dashboardStateJSON
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatal(err)
	}
	if !st.DefaultKey || st.Endpoint != te.URL() {
		t.Errorf("defaultKey %v, endpoint %q", st.DefaultKey, st.Endpoint)
	}
	var names []string
	for _, h := range st.Hubs {
		names = append(names, h.Name)
	}
	if !slices.Equal(names, []string{"chat", "configured"}) {
		t.Fatalf("hubs %v, want [chat configured]", names)
	}
	chat, configured := st.Hubs[0], st.Hubs[1]
	if !slices.Equal(configured.EventHandlers, []string{"http://localhost:1/eh/{event}"}) || len(configured.Connections) != 0 {
		t.Errorf("configured hub: %+v", configured)
	}
	if len(chat.Connections) != 1 {
		t.Fatalf("chat connections: %+v", chat.Connections)
	}
	c := chat.Connections[0]
	if c.ID != alice.id || c.UserID != "alice" || !slices.Equal(c.Groups, []string{"room1"}) ||
		!slices.Equal(c.Roles, []string{"webpubsub.joinLeaveGroup"}) || c.Subprotocol != "json.webpubsub.azure.v1" ||
		c.ConnectedAt.IsZero() || c.Reliable || c.Detached {
		t.Errorf("connection: %+v", c)
	}
	if len(chat.Groups) != 1 || chat.Groups[0].Name != "room1" || !slices.Equal(chat.Groups[0].Members, []string{alice.id}) {
		t.Errorf("groups: %+v", chat.Groups)
	}
}

func TestDashboardSend(t *testing.T) {
	te := startEmulator(t, Options{Dashboard: true})
	alice := te.pubsub(jwt.MapClaims{"sub": "alice", "webpubsub.group": []string{"room1"}})
	for _, tc := range []struct {
		name, body string
		status     int    // of the REST call
		detail     string // in the answer of a failed REST call
		want       string // received by alice ("" = nothing)
		group      string
		dataType   protocol.DataType
	}{
		{"all", `{"hub":"chat","target":"all","data":"to all"}`, 202, "", "to all", "", protocol.DataTypeText},
		{"user", `{"hub":"chat","target":"user","id":"alice","dataType":"json","data":"{\"n\":1}"}`, 202, "", `{"n":1}`, "", protocol.DataTypeJSON},
		{"group", `{"hub":"chat","target":"group","id":"room1","data":"to room1"}`, 202, "", "to room1", "room1", protocol.DataTypeText},
		{"connection", `{"hub":"chat","target":"connection","id":"` + alice.id + `","data":"to alice's connection"}`, 202, "", "to alice's connection", "", protocol.DataTypeText},
		{"invalid JSON payload", `{"hub":"chat","target":"all","dataType":"json","data":"{"}`, 400, "not valid JSON", "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, _, body := dashboardCall(t, te, http.MethodPost, "api/send", "application/json", tc.body, nil)
			if status != http.StatusOK {
				t.Fatalf("POST api/send: %d %s", status, body)
			}
			var answer struct {
				Status int
				Detail string
			}
			if err := json.Unmarshal([]byte(body), &answer); err != nil {
				t.Fatal(err)
			}
			if answer.Status != tc.status || !strings.Contains(answer.Detail, tc.detail) {
				t.Fatalf("answer %+v, want status %d with %q", answer, tc.status, tc.detail)
			}
			if tc.want != "" {
				f := alice.with(t).ExpectMessage(tc.dataType, tc.want)
				if f.Group != tc.group {
					t.Errorf("group %q, want %q", f.Group, tc.group)
				}
			}
		})
	}
	for _, tc := range []struct{ name, body, want string }{
		{"bad hub", `{"hub":"1chat","target":"all","data":"x"}`, "hub name"},
		{"bad target", `{"hub":"chat","target":"everyone","data":"x"}`, "target must be"},
		{"missing id", `{"hub":"chat","target":"user","data":"x"}`, "needs the user's id"},
		{"bad data type", `{"hub":"chat","target":"all","dataType":"binary","data":"x"}`, "dataType must be"},
		{"unknown field", `{"hub":"chat","target":"all","data":"x","key":"k"}`, "not the expected JSON object"},
		{"not JSON", `hub=chat`, "not the expected JSON object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, _, body := dashboardCall(t, te, http.MethodPost, "api/send", "application/json", tc.body, nil)
			if status != http.StatusBadRequest || !strings.Contains(body, tc.want) {
				t.Errorf("POST api/send %s: %d %s, want 400 with %q", tc.body, status, body, tc.want)
			}
		})
	}
	// Alice got what the table sent her and nothing else: a last send
	// arrives next.
	if status, _, body := dashboardCall(t, te, http.MethodPost, "api/send", "application/json", `{"hub":"chat","target":"all","data":"last"}`, nil); status != 200 {
		t.Fatalf("POST api/send: %d %s", status, body)
	}
	alice.ExpectMessage(protocol.DataTypeText, "last")
}

// TestDashboardGuards: the dashboard refuses what another web site could
// make a browser send it, and what a DNS-rebinding name addresses to it.
func TestDashboardGuards(t *testing.T) {
	te := startEmulator(t, Options{Dashboard: true})
	send := `{"hub":"chat","target":"all","data":"x"}`
	for _, tc := range []struct {
		name, method, path, ctype, body string
		header                          http.Header
		status                          int
	}{
		{"page", "GET", "", "", "", nil, 200},
		{"page by IP", "GET", "", "", "", http.Header{"Host": {"127.0.0.1:1"}}, 200},
		{"page by a .localhost name", "GET", "api/state", "", "", http.Header{"Host": {"app.localhost:80"}}, 200},
		{"rebinding name", "GET", "api/state", "", "", http.Header{"Host": {"attacker.example:80"}}, 403},
		{"a port that is not a number", "GET", "", "", "", http.Header{"Host": {"localhost:80x"}}, 403},
		{"rebinding name, send", "POST", "api/send", "application/json", send, http.Header{"Host": {"attacker.example"}}, 403},
		{"form post", "POST", "api/send", "application/x-www-form-urlencoded", "hub=chat", nil, 415},
		{"text post", "POST", "api/client-token", "text/plain", `{"hub":"chat"}`, nil, 415},
		{"foreign origin", "POST", "api/send", "application/json", send, http.Header{"Origin": {"http://attacker.example"}}, 403},
		{"cross-site fetch", "POST", "api/client-token", "application/json", `{"hub":"chat"}`, http.Header{"Sec-Fetch-Site": {"cross-site"}}, 403},
		{"own origin", "POST", "api/send", "application/json", send, http.Header{"Origin": {te.URL()}}, 200},
		{"GET send", "GET", "api/send", "", "", nil, 405},
		{"POST state", "POST", "api/state", "application/json", "{}", nil, 405},
		{"unknown file", "GET", "secret.txt", "", "", nil, 404},
		{"directory", "GET", "dashboard/index.html", "", "", nil, 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, h, body := dashboardCall(t, te, tc.method, tc.path, tc.ctype, tc.body, tc.header)
			if status != tc.status {
				t.Fatalf("%s %s: %d %s, want %d", tc.method, tc.path, status, body, tc.status)
			}
			if h.Get("X-Frame-Options") != "DENY" || h.Get("Cache-Control") != "no-store" || h.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("headers %v", h)
			}
			if tc.path == "" && status == 200 {
				if !strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") || !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
					t.Errorf("page headers %v", h)
				}
				if !strings.Contains(body, `<script src="dashboard.js"`) {
					t.Errorf("page: %.200s", body)
				}
			}
		})
	}
	// A host name that the configuration names is one the dashboard answers.
	named := startEmulator(t, Options{Dashboard: true, PublicEndpoint: "http://emulator:8080"})
	for host, want := range map[string]int{"emulator:8080": 200, "Emulator": 200, "emulator.example": 403} {
		if status, _, body := dashboardCall(t, named, "GET", "api/state", "", "", http.Header{"Host": {host}}); status != want {
			t.Errorf("Host %s with PublicEndpoint http://emulator:8080: %d %s, want %d", host, status, body, want)
		}
	}
	for _, asset := range []string{"dashboard.js", "dashboard.css"} {
		if status, h, body := dashboardCall(t, te, "GET", asset, "", "", nil); status != 200 || len(body) < 100 || h.Get("Content-Type") == "" {
			t.Errorf("GET %s: %d, %d bytes, %q", asset, status, len(body), h.Get("Content-Type"))
		}
	}
}

func TestDashboardClientToken(t *testing.T) {
	te := startEmulator(t, Options{Dashboard: true})
	status, h, body := dashboardCall(t, te, http.MethodPost, "api/client-token", "application/json", `{"hub":"chat","userId":"bob","groups":["room1"]}`, nil)
	if status != http.StatusOK || h.Get("Cache-Control") != "no-store" {
		t.Fatalf("POST api/client-token: %d %v %s", status, h, body)
	}
	if strings.Contains(body, DefaultAccessKey) {
		t.Errorf("the answer holds the access key")
	}
	var answer struct {
		URL       string
		ExpiresAt time.Time
	}
	if err := json.Unmarshal([]byte(body), &answer); err != nil {
		t.Fatal(err)
	}
	if want := "ws://" + te.hostPort() + "/client/hubs/chat?access_token="; !strings.HasPrefix(answer.URL, want) {
		t.Fatalf("url %.60s…, want the prefix %s", answer.URL, want)
	}
	u, err := url.Parse(answer.URL)
	if err != nil {
		t.Fatal(err)
	}
	claims := jwt.MapClaims{}
	if _, err := jwt.ParseWithClaims(u.Query().Get("access_token"), claims, func(*jwt.Token) (any, error) { return []byte(DefaultAccessKey), nil }); err != nil {
		t.Fatal(err)
	}
	exp, _ := claims.GetExpirationTime()
	iat, _ := claims.GetIssuedAt()
	if exp.Sub(iat.Time) != DashboardTokenLifetime || !exp.Time.Equal(answer.ExpiresAt.Truncate(time.Second)) {
		t.Errorf("iat %v exp %v expiresAt %v", iat, exp, answer.ExpiresAt)
	}
	c := testclient.Dial(t, answer.URL, &testclient.Options{Subprotocols: []string{"json.webpubsub.azure.v1"}})
	if c.UserID() != "bob" {
		t.Errorf("connected as %q", c.UserID())
	}
	info, err := te.Connection("chat", c.ConnectionID())
	if err != nil || !slices.Equal(info.Groups, []string{"room1"}) || !slices.Equal(info.Roles, []string{"webpubsub.joinLeaveGroup", "webpubsub.sendToGroup"}) {
		t.Errorf("the test client's connection: %+v, %v", info, err)
	}
	for _, tc := range []struct{ body, want string }{
		{`{"hub":"chat","groups":[""]}`, "group name"},
		{`{"hub":""}`, "hub name"},
		{`{"hub":"chat","userId":"` + strings.Repeat("u", 1025) + `"}`, "at most 1024"},
	} {
		if status, _, body := dashboardCall(t, te, http.MethodPost, "api/client-token", "application/json", tc.body, nil); status != 400 || !strings.Contains(body, tc.want) {
			t.Errorf("POST api/client-token %.40s: %d %s, want 400 with %q", tc.body, status, body, tc.want)
		}
	}
}

// sseEvent is one server-sent event.
type sseEvent struct{ name, data string }

// readEvents reads the server-sent events of body onto a channel, which
// is closed when the stream ends.
func readEvents(body io.Reader) <-chan sseEvent {
	out := make(chan sseEvent, 64)
	go func() {
		defer close(out)
		sc := bufio.NewScanner(body)
		sc.Buffer(nil, 1<<20)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.name != "" {
					out <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "event: "):
				ev.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				ev.data = strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	return out
}

// TestDashboardEvents: the event stream starts with the state, pushes a
// new state when a connection comes and a trace line for each REST call
// and delivery, holds no secret, and ends when the emulator closes.
func TestDashboardEvents(t *testing.T) {
	te := newTestEmulator(t, Options{Dashboard: true})
	if err := te.Start(); err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			te.Close()
		}
	})
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, te.DashboardURL()+"api/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET api/events: %s %v", resp.Status, resp.Header)
	}
	events := readEvents(resp.Body)
	var all bytes.Buffer
	next := func(what string, match func(sseEvent) bool) sseEvent {
		t.Helper()
		for {
			select {
			case ev, ok := <-events:
				if !ok {
					t.Fatalf("the stream ended before %s", what)
				}
				all.WriteString(ev.data + "\n")
				if match(ev) {
					return ev
				}
			case <-ctx.Done():
				t.Fatalf("no %s: %v", what, ctx.Err())
			}
		}
	}
	first := next("a first state", func(ev sseEvent) bool { return true })
	if first.name != "state" || !strings.Contains(first.data, `"hubs":[]`) {
		t.Errorf("first event %s %s", first.name, first.data)
	}

	alice := te.pubsub(jwt.MapClaims{"sub": "alice"})
	next("a state with alice's connection", func(ev sseEvent) bool {
		return ev.name == "state" && strings.Contains(ev.data, `"id":"`+alice.id+`"`)
	})
	if r := te.rest("POST", "/api/hubs/chat/:send?api-version=2024-12-01", "text/plain", []byte("hello <all>")); r.status != 202 {
		t.Fatalf("send: %d", r.status)
	}
	alice.ExpectMessage(protocol.DataTypeText, "hello <all>")
	var lines []traceLine
	for len(lines) < 2 {
		ev := next("the trace of the send", func(ev sseEvent) bool { return ev.name == "trace" && !strings.Contains(ev.data, `"connection"`) })
		var l traceLine
		if err := json.Unmarshal([]byte(ev.data), &l); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, l)
	}
	fields := func(l traceLine) map[string]any {
		m := map[string]any{}
		for _, f := range l.Fields {
			m[f[0].(string)] = f[1]
		}
		return m
	}
	// The delivery is traced while the REST call runs, the call when it ends.
	d, r := fields(lines[0]), fields(lines[1])
	if lines[0].Kind != "delivery" || d["hub"] != "chat" || d["target"] != "all" || d["recipients"] != float64(1) || d["preview"] != "hello <all>" {
		t.Errorf("delivery line %+v", lines[0])
	}
	if lines[1].Kind != "rest" || r["operation"] != "SendToAll" || r["status"] != float64(202) || lines[1].Seq <= lines[0].Seq {
		t.Errorf("rest line %+v", lines[1])
	}
	noSecretIn(t, "the event stream", all.String())

	// Close ends the stream: it does not wait for the page to go.
	closed = true
	if err := te.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for range events {
	}
}
