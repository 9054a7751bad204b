package emulator

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"
)

const v = "?api-version=2024-12-01"

func expectStatus(t *testing.T, r restResponse, want int) {
	t.Helper()
	if r.status != want {
		t.Fatalf("status %d %s; want %d", r.status, r.body, want)
	}
}

// TestRESTSendsReachClients covers the four send operations end to end,
// with every content type and both kinds of client.
func TestRESTSendsReachClients(t *testing.T) {
	te := startEmulator(t, Options{})
	alice1 := te.pubsub(jwt.MapClaims{"sub": "alice", "webpubsub.group": []string{"room1"}})
	alice2 := te.raw(jwt.MapClaims{"sub": "alice"})
	bob := te.pubsub(jwt.MapClaims{"sub": "bob", "webpubsub.group": []string{"room1"}})
	anon := te.pubsub(nil)

	tests := []struct {
		name, path, ct, body string
		pubsub               map[*wsClient]string // expected JSON per PubSub recipient
		raw                  map[*wsClient]string // expected text per raw recipient
		silent               []*wsClient
	}{
		{
			name: "all text", path: "/api/hubs/chat/:send" + v, ct: "text/plain", body: "hi",
			pubsub: map[*wsClient]string{
				alice1: `{"type":"message","from":"server","dataType":"text","data":"hi"}`,
				bob:    `{"type":"message","from":"server","dataType":"text","data":"hi"}`,
				anon:   `{"type":"message","from":"server","dataType":"text","data":"hi"}`,
			},
			raw: map[*wsClient]string{alice2: "hi"},
		},
		{
			name: "all excluded", path: "/api/hubs/CHAT/:send" + v + "&excluded=" + bob.id + "&excluded=" + anon.id, ct: "application/json", body: `{"a":1}`,
			pubsub: map[*wsClient]string{alice1: `{"type":"message","from":"server","dataType":"json","data":{"a":1}}`},
			raw:    map[*wsClient]string{alice2: `{"a":1}`},
			silent: []*wsClient{bob, anon},
		},
		{
			name: "group", path: "/api/hubs/chat/groups/room1/:send" + v, ct: "application/json; charset=utf-8", body: `"x"`,
			pubsub: map[*wsClient]string{
				alice1: `{"type":"message","from":"group","group":"room1","fromUserId":null,"dataType":"json","data":"x"}`,
				bob:    `{"type":"message","from":"group","group":"room1","fromUserId":null,"dataType":"json","data":"x"}`,
			},
			silent: []*wsClient{alice2, anon},
		},
		{
			name: "group excluded", path: "/api/hubs/chat/groups/room1/:send" + v + "&excluded=" + alice1.id, ct: "text/plain", body: "y",
			pubsub: map[*wsClient]string{bob: `{"type":"message","from":"group","group":"room1","fromUserId":null,"dataType":"text","data":"y"}`},
			silent: []*wsClient{alice1, alice2, anon},
		},
		{
			name: "user", path: "/api/hubs/chat/users/alice/:send" + v, ct: "text/plain", body: "u",
			pubsub: map[*wsClient]string{alice1: `{"type":"message","from":"server","dataType":"text","data":"u"}`},
			raw:    map[*wsClient]string{alice2: "u"},
			silent: []*wsClient{bob, anon},
		},
		{
			name: "connection", path: "/api/hubs/chat/connections/" + bob.id + "/:send" + v, ct: "", body: "\x01\x02",
			pubsub: map[*wsClient]string{bob: `{"type":"message","from":"server","dataType":"binary","data":"AQI="}`},
			silent: []*wsClient{alice1, alice2, anon},
		},
	}
	parent := te
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			te := parent.with(t)
			expectStatus(t, te.rest("POST", tt.path, tt.ct, []byte(tt.body)), http.StatusAccepted)
			for c, want := range tt.pubsub {
				c.with(t).ExpectJSON(want)
			}
			for c, want := range tt.raw {
				if _, b := c.with(t).Read(); string(b) != want {
					t.Fatalf("raw got %q; want %q", b, want)
				}
			}
			for _, c := range tt.silent {
				if c.ws.Subprotocol() == "" {
					te.rawBarrier(c.with(t))
				} else {
					c.with(t).Barrier()
				}
			}
		})
	}
}

func TestRESTSendValidation(t *testing.T) {
	te := startEmulator(t, Options{MaxRESTBodyBytes: 8})
	a := te.pubsub(jwt.MapClaims{"sub": "a"})
	tests := []struct {
		name, path, ct, body string
		status               int
		code, target         string
	}{
		{"bad json", "/api/hubs/chat/:send" + v, "application/json", "{", 400, "Error.BadRequest", "message"},
		{"unsupported type", "/api/hubs/chat/:send" + v, "text/html", "x", 415, "Error.UnsupportedMediaType", "Content-Type"},
		{"too large", "/api/hubs/chat/:send" + v, "text/plain", "123456789", 413, "Error.PayloadTooLarge", "body"},
		{"ttl too big", "/api/hubs/chat/:send" + v + "&messageTtlSeconds=301", "text/plain", "x", 400, "Error.BadRequest", "messageTtlSeconds"},
		{"ttl not a number", "/api/hubs/chat/users/a/:send" + v + "&messageTtlSeconds=x", "text/plain", "x", 400, "Error.BadRequest", "messageTtlSeconds"},
		{"bad filter", "/api/hubs/chat/groups/g/:send" + v + "&filter=invalid%20filter", "text/plain", "x", 400, "Error.BadRequest", "filter"},
		{"bad group", "/api/hubs/chat/groups/%20%20/:send" + v, "text/plain", "x", 400, "Error.BadRequest", "group"},
		{"bad hub", "/api/hubs/1chat/:send" + v, "text/plain", "x", 400, "Error.BadRequest", "hub"},
		{"bad api-version", "/api/hubs/chat/:send?api-version=latest", "text/plain", "x", 400, "Error.BadRequest", "api-version"},
	}
	parent := te
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := parent.with(t).rest("POST", tt.path, tt.ct, []byte(tt.body))
			expectStatus(t, r, tt.status)
			if got := r.header.Get("x-ms-error-code"); got != tt.code {
				t.Fatalf("x-ms-error-code %q; want %q", got, tt.code)
			}
			var body map[string]any
			if err := json.Unmarshal(r.body, &body); err != nil {
				t.Fatalf("body %s: %v", r.body, err)
			}
			if body["code"] != tt.code || body["target"] != tt.target {
				t.Fatalf("body %s; want code %s target %s", r.body, tt.code, tt.target)
			}
			if tt.status == 400 {
				msg, _ := body["message"].(string)
				if !strings.HasSuffix(msg, " (Parameter '"+tt.target+"')") || r.header.Get("Content-Type") != "application/problem+json; charset=utf-8" {
					t.Fatalf("problem body %s", r.body)
				}
			}
		})
	}
	a.Barrier() // nothing was delivered by any failed request
	expectStatus(t, te.rest("POST", "/api/hubs/chat/:send"+v, "text/plain", []byte("12345678")), 202)
	a.ExpectJSON(`{"type":"message","from":"server","dataType":"text","data":"12345678"}`)
	// Text that is not UTF-8 reaches PubSub clients with U+FFFD.
	expectStatus(t, te.rest("POST", "/api/hubs/chat/:send"+v, "text/plain", []byte("a\xffb")), 202)
	a.ExpectJSON(`{"type":"message","from":"server","dataType":"text","data":"a\ufffdb"}`)
}

// TestRESTGroupOperations covers every group operation with real clients:
// the membership change is checked through a group send.
func TestRESTGroupOperations(t *testing.T) {
	te := startEmulator(t, Options{})
	a1 := te.pubsub(jwt.MapClaims{"sub": "ann"})
	a2 := te.pubsub(jwt.MapClaims{"sub": "ann"})
	b := te.pubsub(jwt.MapClaims{"sub": "ben"})
	all := []*wsClient{a1, a2, b}

	// groupSend sends to group g and checks exactly who receives it.
	groupSend := func(t *testing.T, g string, members ...*wsClient) {
		t.Helper()
		te := te.with(t)
		expectStatus(t, te.rest("POST", "/api/hubs/chat/groups/"+url.PathEscape(g)+"/:send"+v, "text/plain", []byte("to "+g)), 202)
		for _, c := range all {
			if slices.Contains(members, c) {
				c.with(t).ExpectJSON(`{"type":"message","from":"group","group":` + jsonString(g) + `,"fromUserId":null,"dataType":"text","data":` + jsonString("to "+g) + `}`)
			} else {
				c.with(t).Barrier()
			}
		}
	}
	exists := func(t *testing.T, path string, want int) {
		t.Helper()
		expectStatus(t, te.with(t).rest("HEAD", path+v, "", nil), want)
	}

	t.Run("add and remove connection", func(t *testing.T) {
		expectStatus(t, te.rest("PUT", "/api/hubs/chat/groups/g%201/connections/"+b.id+v, "", nil), 200)
		expectStatus(t, te.rest("PUT", "/api/hubs/chat/groups/g%201/connections/"+b.id+v, "", nil), 200) // idempotent
		exists(t, "/api/hubs/chat/groups/g%201", 200)
		groupSend(t, "g 1", b)
		expectStatus(t, te.rest("DELETE", "/api/hubs/chat/groups/g%201/connections/"+b.id+v, "", nil), 204)
		expectStatus(t, te.rest("DELETE", "/api/hubs/chat/groups/g%201/connections/"+b.id+v, "", nil), 204)
		exists(t, "/api/hubs/chat/groups/g%201", 404)
		groupSend(t, "g 1")
	})
	t.Run("add unknown connection", func(t *testing.T) {
		r := te.rest("PUT", "/api/hubs/chat/groups/g/connections/nope"+v, "", nil)
		expectStatus(t, r, 404)
		if r.header.Get("x-ms-error-code") != "Error.Connection.NotExisted" ||
			string(r.body) != "{\"code\":\"Error.Connection.NotExisted\",\"message\":\"Connection `nope` is not found.\",\"target\":\"Connection\",\"details\":null,\"innererror\":null}" {
			t.Fatalf("404 = %v %s", r.header, r.body)
		}
	})
	t.Run("user to group", func(t *testing.T) {
		expectStatus(t, te.rest("PUT", "/api/hubs/chat/users/ann/groups/ug"+v, "", nil), 200)
		groupSend(t, "ug", a1, a2)
		// Membership is per connection: a later connection of ann is not in ug.
		a3 := te.pubsub(jwt.MapClaims{"sub": "ann"})
		groupSend(t, "ug", a1, a2)
		a3.Barrier()
		expectStatus(t, te.rest("DELETE", "/api/hubs/chat/users/ann/groups/ug"+v, "", nil), 204)
		groupSend(t, "ug")
		a3.Barrier()
		r := te.rest("PUT", "/api/hubs/chat/users/nobody/groups/ug"+v, "", nil)
		if r.status != 404 || r.header.Get("x-ms-error-code") != "Warning.User.NotExisted" ||
			string(r.body) != "{\"code\":\"Warning.User.NotExisted\",\"message\":\"User `nobody` is not found.\",\"target\":\"User\",\"details\":null,\"innererror\":null}" {
			t.Fatalf("add unknown user = %d %v %s", r.status, r.header, r.body)
		}
	})
	t.Run("remove from all groups", func(t *testing.T) {
		for _, g := range []string{"x", "y"} {
			expectStatus(t, te.rest("PUT", "/api/hubs/chat/users/ann/groups/"+g+v, "", nil), 200)
			expectStatus(t, te.rest("PUT", "/api/hubs/chat/groups/"+g+"/connections/"+b.id+v, "", nil), 200)
		}
		expectStatus(t, te.rest("DELETE", "/api/hubs/chat/users/ann/groups"+v, "", nil), 204)
		groupSend(t, "x", b)
		expectStatus(t, te.rest("DELETE", "/api/hubs/chat/connections/"+b.id+"/groups"+v, "", nil), 204)
		groupSend(t, "y")
		exists(t, "/api/hubs/chat/groups/y", 404)
		expectStatus(t, te.rest("DELETE", "/api/hubs/chat/connections/unknown/groups"+v, "", nil), 204)
		expectStatus(t, te.rest("DELETE", "/api/hubs/chat/users/unknown/groups"+v, "", nil), 204)
	})
	t.Run("batch with filter", func(t *testing.T) {
		body := `{"groups":["p","q"],"filter":"userId eq 'ann'"}`
		expectStatus(t, te.rest("POST", "/api/hubs/chat/:addToGroups"+v, "application/json", []byte(body)), 200)
		groupSend(t, "p", a1, a2)
		groupSend(t, "q", a1, a2)
		// The filter sees membership before the operation: members of q
		// leave p.
		body = `{"Groups":["p"],"Filter":"'q' in groups"}`
		expectStatus(t, te.rest("POST", "/api/hubs/chat/:removeFromGroups"+v, "application/json", []byte(body)), 200)
		groupSend(t, "p")
		expectStatus(t, te.rest("POST", "/api/hubs/chat/:addToGroups"+v, "application/json", []byte(`{"groups":["all"]}`)), 200)
		groupSend(t, "all", a1, a2, b)
		expectStatus(t, te.rest("POST", "/api/hubs/chat/:removeFromGroups"+v, "application/json", []byte(`{"groups":["all","q"],"filter":null}`)), 200)
		groupSend(t, "all")
		groupSend(t, "q")
	})
	t.Run("batch validation", func(t *testing.T) {
		for _, tt := range []struct{ ct, body, target string }{
			{"application/json", `{"groups":["a"],"filter":"invalid filter"}`, "Filter"},
			{"application/json", `{"groups":["a"],"filter":5}`, "Filter"},
			{"application/json", `{"filter":"userId eq 'a'"}`, "Groups"},
			{"application/json", `{"groups":["  "]}`, "Groups"},
			{"application/json", `{"groups":"a"}`, "Groups"},
			{"application/json", `[]`, "body"},
		} {
			r := te.rest("POST", "/api/hubs/chat/:addToGroups"+v, tt.ct, []byte(tt.body))
			var p map[string]any
			_ = json.Unmarshal(r.body, &p)
			if r.status != 400 || p["target"] != tt.target {
				t.Errorf("%s: %d %s; want 400 target %s", tt.body, r.status, r.body, tt.target)
			}
		}
		expectStatus(t, te.rest("POST", "/api/hubs/chat/:addToGroups"+v, "text/plain", []byte(`{"groups":[]}`)), 415)
		groupSend(t, "a") // no side effects
	})
	t.Run("exists", func(t *testing.T) {
		exists(t, "/api/hubs/chat/connections/"+b.id, 200)
		exists(t, "/api/hubs/chat/users/ben", 200)
		for path, code := range map[string]string{
			"/api/hubs/chat/connections/nope": "Warning.Connection.NotExisted",
			"/api/hubs/chat/users/nobody":     "Warning.User.NotExisted",
			"/api/hubs/chat/groups/nothing":   "Warning.Group.NotExisted",
			"/api/hubs/other/users/ben":       "Warning.User.NotExisted",
		} {
			r := te.rest("HEAD", path+v, "", nil)
			if r.status != 404 || r.header.Get("x-ms-error-code") != code || len(r.body) != 0 {
				t.Errorf("HEAD %s = %d %q %q", path, r.status, r.header.Get("x-ms-error-code"), r.body)
			}
		}
	})
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestListConnectionsInGroupPaging(t *testing.T) {
	te := startEmulator(t, Options{})
	var ids []string
	for i := range 5 {
		claims := jwt.MapClaims{"webpubsub.group": []string{"room"}}
		if i%2 == 0 {
			claims["sub"] = "u" + string(rune('0'+i))
		}
		ids = append(ids, te.pubsub(claims).id)
	}
	slices.Sort(ids)

	type page struct {
		Value []struct {
			ConnectionID string  `json:"connectionId"`
			UserID       *string `json:"userId"`
		} `json:"value"`
		NextLink string `json:"nextLink"`
	}
	get := func(pathAndQuery string) page {
		t.Helper()
		r := te.rest("GET", pathAndQuery, "", nil)
		expectStatus(t, r, 200)
		var p page
		if err := json.Unmarshal(r.body, &p); err != nil {
			t.Fatalf("%s: %v", r.body, err)
		}
		return p
	}
	collect := func(first string) ([]string, int) {
		var got []string
		pages := 0
		next := first
		for next != "" {
			p := get(next)
			pages++
			for _, m := range p.Value {
				got = append(got, m.ConnectionID)
			}
			if p.NextLink == "" {
				break
			}
			u, err := url.Parse(p.NextLink)
			if err != nil || u.Host != te.hostPort() || u.Query().Has("api-version") {
				t.Fatalf("nextLink %q: want an absolute link on this host without api-version", p.NextLink)
			}
			// As JS does: follow the link verbatim, without api-version.
			next = u.RequestURI()
		}
		return got, pages
	}

	got, pages := collect("/api/hubs/chat/groups/room/connections" + v + "&maxpagesize=2")
	if !slices.Equal(got, ids) || pages != 3 {
		t.Fatalf("got %v in %d pages; want %v in 3", got, pages, ids)
	}
	got, pages = collect("/api/hubs/chat/groups/room/connections" + v + "&maxpagesize=2&top=3")
	if !slices.Equal(got, ids[:3]) || pages != 2 {
		t.Fatalf("top=3: got %v in %d pages; want %v in 2", got, pages, ids[:3])
	}
	p := get("/api/hubs/chat/groups/room/connections" + v)
	if len(p.Value) != 5 || p.NextLink != "" {
		t.Fatalf("one page: %+v", p)
	}
	anonymous := 0
	for _, m := range p.Value {
		if m.UserID == nil {
			anonymous++
		}
	}
	if anonymous != 2 {
		t.Fatalf("%d members without userId; want 2", anonymous)
	}
	if p := get("/api/hubs/chat/groups/empty/connections" + v); len(p.Value) != 0 || p.NextLink != "" {
		t.Fatalf("empty group: %+v", p)
	}
	for _, q := range []string{"&maxpagesize=0", "&maxpagesize=201", "&top=0", "&top=x", "&continuationToken=%25%25"} {
		expectStatus(t, te.rest("GET", "/api/hubs/chat/groups/room/connections"+v+q, "", nil), 400)
	}
}

// TestPermissionsAtRunTime shows Forbidden before a grant, success after
// it, and Forbidden again after a revoke, for both permissions.
func TestPermissionsAtRunTime(t *testing.T) {
	te := startEmulator(t, Options{})
	a := te.pubsub(jwt.MapClaims{"sub": "a"})
	b := te.pubsub(jwt.MapClaims{"sub": "b", "webpubsub.group": []string{"g1"}})
	perm := func(method, p, target string) restResponse {
		q := v
		if target != "" {
			q += "&targetName=" + target
		}
		return te.rest(method, "/api/hubs/chat/permissions/"+p+"/connections/"+a.id+q, "", nil)
	}
	ack := 0
	try := func(frame string, wantOK bool) {
		t.Helper()
		ack++
		a.SendText(strings.Replace(frame, "ACK", jsonNumber(ack), 1))
		if wantOK {
			a.ExpectJSON(`{"type":"ack","ackId":` + jsonNumber(ack) + `,"success":true}`)
			return
		}
		got := a.ReadJSON()
		e, _ := got["error"].(map[string]any)
		if got["success"] != false || e["name"] != "Forbidden" {
			t.Fatalf("got %v; want Forbidden", got)
		}
	}

	expectStatus(t, perm("HEAD", "joinLeaveGroup", "g1"), 404)
	try(`{"type":"joinGroup","group":"g1","ackId":ACK}`, false)
	expectStatus(t, perm("PUT", "joinLeaveGroup", "g1"), 200)
	expectStatus(t, perm("HEAD", "joinLeaveGroup", "g1"), 200)
	expectStatus(t, perm("HEAD", "joinLeaveGroup", ""), 404) // not all groups
	try(`{"type":"joinGroup","group":"g1","ackId":ACK}`, true)
	try(`{"type":"joinGroup","group":"g2","ackId":ACK}`, false)
	expectStatus(t, perm("DELETE", "joinLeaveGroup", "g1"), 204)
	expectStatus(t, perm("HEAD", "JOINLEAVEGROUP", "g1"), 404)
	try(`{"type":"leaveGroup","group":"g1","ackId":ACK}`, false)

	try(`{"type":"sendToGroup","group":"g1","dataType":"text","data":"x","ackId":ACK}`, false)
	b.Barrier()
	expectStatus(t, perm("PUT", "sendToGroup", ""), 200) // all groups
	expectStatus(t, perm("HEAD", "sendToGroup", ""), 200)
	try(`{"type":"sendToGroup","group":"g1","noEcho":true,"dataType":"text","data":"x","ackId":ACK}`, true)
	b.ExpectJSON(`{"type":"message","from":"group","group":"g1","fromUserId":"a","dataType":"text","data":"x"}`)
	expectStatus(t, perm("DELETE", "sendToGroup", "g1"), 204) // a deny wins over "all"
	try(`{"type":"sendToGroup","group":"g1","dataType":"text","data":"x","ackId":ACK}`, false)
	try(`{"type":"sendToGroup","group":"g9","noEcho":true,"dataType":"text","data":"x","ackId":ACK}`, true)
	expectStatus(t, perm("HEAD", "sendToGroup", ""), 404)
	expectStatus(t, perm("DELETE", "sendToGroup", ""), 204) // revoke everything
	try(`{"type":"sendToGroup","group":"g9","dataType":"text","data":"x","ackId":ACK}`, false)
	b.Barrier()

	// Unknown connections, bad permission names and bad targets.
	r := te.rest("PUT", "/api/hubs/chat/permissions/sendToGroup/connections/nope"+v, "", nil)
	if r.status != 404 || r.header.Get("x-ms-error-code") != "Info.Connection.NotExisted" {
		t.Fatalf("grant unknown: %d %v", r.status, r.header)
	}
	r = te.rest("HEAD", "/api/hubs/chat/permissions/sendToGroup/connections/nope"+v, "", nil)
	if r.status != 404 || r.header.Get("x-ms-error-code") != "Info.Connection.NotExisted" {
		t.Fatalf("check unknown: %d %v", r.status, r.header)
	}
	expectStatus(t, te.rest("DELETE", "/api/hubs/chat/permissions/sendToGroup/connections/nope"+v, "", nil), 204)
	expectStatus(t, te.rest("PUT", "/api/hubs/chat/permissions/admin/connections/"+a.id+v, "", nil), 400)
	expectStatus(t, te.rest("PUT", "/api/hubs/chat/permissions/sendToGroup/connections/"+a.id+v+"&targetName=%20", "", nil), 400)
}

func jsonNumber(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// TestRESTCloseOperations checks the close procedure: a PubSub client gets
// disconnected with the reason, then close 1000; a raw client only the
// close; the connection is gone when the call returns.
func TestRESTCloseOperations(t *testing.T) {
	te := startEmulator(t, Options{})
	closed := func(t *testing.T, c *wsClient, reason string) {
		t.Helper()
		if c.ws.Subprotocol() != "" {
			c.ExpectJSON(`{"type":"system","event":"disconnected","message":` + jsonString(reason) + `}`)
		}
		c.ExpectClose(websocket.StatusNormalClosure)
	}
	gone := func(t *testing.T, c *wsClient) {
		t.Helper()
		expectStatus(t, te.rest("HEAD", "/api/hubs/chat/connections/"+c.id+v, "", nil), 404)
	}

	t.Run("connection", func(t *testing.T) {
		a, r := te.pubsub(jwt.MapClaims{"sub": "a"}), te.raw(nil)
		expectStatus(t, te.rest("DELETE", "/api/hubs/chat/connections/"+a.id+v+"&reason=bye%20now", "", nil), 204)
		gone(t, a)
		closed(t, a, "bye now")
		expectStatus(t, te.rest("DELETE", "/api/hubs/chat/connections/"+r.id+v, "", nil), 204)
		gone(t, r)
		closed(t, r, "")
		expectStatus(t, te.rest("DELETE", "/api/hubs/chat/connections/"+a.id+v, "", nil), 204) // unknown: still 204
	})
	t.Run("user", func(t *testing.T) {
		u1, u2, other := te.pubsub(jwt.MapClaims{"sub": "u"}), te.pubsub(jwt.MapClaims{"sub": "u"}), te.pubsub(jwt.MapClaims{"sub": "v"})
		expectStatus(t, te.rest("POST", "/api/hubs/chat/users/u/:closeConnections"+v+"&excluded="+u2.id, "", nil), 204)
		closed(t, u1, "Closed by the application server.")
		u2.Barrier()
		other.Barrier()
		expectStatus(t, te.rest("POST", "/api/hubs/chat/users/u/:closeConnections"+v, "", nil), 204)
		closed(t, u2, "Closed by the application server.")
		expectStatus(t, te.rest("HEAD", "/api/hubs/chat/users/u"+v, "", nil), 404)
		expectStatus(t, te.rest("DELETE", "/api/hubs/chat/connections/"+other.id+v, "", nil), 204)
		closed(t, other, "Closed by the application server.")
	})
	t.Run("group and all", func(t *testing.T) {
		g1 := te.pubsub(jwt.MapClaims{"webpubsub.group": []string{"g"}})
		g2 := te.raw(jwt.MapClaims{"webpubsub.group": []string{"g"}})
		n := te.pubsub(nil)
		keep := te.pubsub(nil)
		expectStatus(t, te.rest("POST", "/api/hubs/chat/groups/g/:closeConnections"+v+"&reason=group", "", nil), 204)
		closed(t, g1, "group")
		closed(t, g2, "")
		n.Barrier()
		expectStatus(t, te.rest("HEAD", "/api/hubs/chat/groups/g"+v, "", nil), 404)
		expectStatus(t, te.rest("POST", "/api/hubs/chat/:closeConnections"+v+"&excluded="+keep.id, "", nil), 204)
		closed(t, n, "Closed by the application server.")
		keep.Barrier()
		expectStatus(t, te.rest("POST", "/api/hubs/nobody/:closeConnections"+v, "", nil), 204)
	})
}

// TestRESTAuthentication covers the audience, signature and lifetime rules
// of emulator.md §3.1.1.
func TestRESTAuthentication(t *testing.T) {
	te := startEmulator(t, Options{SecondaryAccessKey: "secondary-key-secondary-key-0123456789"})
	path := "/api/hubs/chat/users/user%201/:send?api-version=2024-12-01&filter=%27g%27%20in%20groups"
	port := strings.Split(te.hostPort(), ":")[1]
	now := time.Now()
	tests := []struct {
		name   string
		key    string
		claims jwt.MapClaims
		want   int
	}{
		{"exact url", DefaultAccessKey, jwt.MapClaims{"aud": te.URL() + path, "exp": now.Add(time.Minute).Unix()}, 202},
		{"without query", DefaultAccessKey, jwt.MapClaims{"aud": te.URL() + "/api/hubs/chat/users/user%201/:send", "exp": now.Add(time.Minute).Unix()}, 202},
		{"decoded", DefaultAccessKey, jwt.MapClaims{"aud": te.URL() + "/api/hubs/chat/users/user 1/:send?api-version=2024-12-01&filter='g' in groups", "exp": now.Add(time.Minute).Unix()}, 202},
		{"upper case and https", DefaultAccessKey, jwt.MapClaims{"aud": "HTTPS://LOCALHOST:" + port + strings.ToUpper(path), "exp": now.Add(time.Minute).Unix()}, 202},
		{"loopback alias", DefaultAccessKey, jwt.MapClaims{"aud": "http://127.0.0.1:" + port + path, "exp": now.Add(time.Minute).Unix()}, 202},
		{"audience array", DefaultAccessKey, jwt.MapClaims{"aud": []string{"x", te.URL() + path}, "exp": now.Add(time.Minute).Unix()}, 202},
		{"secondary key", "secondary-key-secondary-key-0123456789", jwt.MapClaims{"aud": te.URL() + path, "exp": now.Add(time.Minute).Unix()}, 202},
		{"expired within skew", DefaultAccessKey, jwt.MapClaims{"aud": te.URL() + path, "exp": now.Add(-4 * time.Minute).Unix()}, 202},
		{"expired", DefaultAccessKey, jwt.MapClaims{"aud": te.URL() + path, "exp": now.Add(-6 * time.Minute).Unix()}, 401},
		{"not yet valid", DefaultAccessKey, jwt.MapClaims{"aud": te.URL() + path, "exp": now.Add(time.Hour).Unix(), "nbf": now.Add(10 * time.Minute).Unix()}, 401},
		{"no exp", DefaultAccessKey, jwt.MapClaims{"aud": te.URL() + path}, 401},
		{"wrong key", "another-key-another-key-another-key-0", jwt.MapClaims{"aud": te.URL() + path, "exp": now.Add(time.Minute).Unix()}, 401},
		{"other path", DefaultAccessKey, jwt.MapClaims{"aud": te.URL() + "/api/hubs/chat/:send", "exp": now.Add(time.Minute).Unix()}, 401},
		{"other host", DefaultAccessKey, jwt.MapClaims{"aud": "http://example.com:" + port + path, "exp": now.Add(time.Minute).Unix()}, 401},
		{"other port", DefaultAccessKey, jwt.MapClaims{"aud": "http://localhost:1" + path, "exp": now.Add(time.Minute).Unix()}, 401},
		{"ws scheme", DefaultAccessKey, jwt.MapClaims{"aud": "ws://localhost:" + port + path, "exp": now.Add(time.Minute).Unix()}, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := doREST(t, te.URL(), tt.key, "POST", path, "text/plain", []byte("x"), tt.claims)
			expectStatus(t, r, tt.want)
			// Each 401 says why, without the token.
			reasons := map[string]string{
				"expired": "expired 6m", "not yet valid": "not valid before", "no exp": "no exp claim",
				"wrong key": "signature does not match", "other path": "audience", "other host": "audience",
				"other port": "audience", "ws scheme": "audience",
			}
			if tt.want == 401 && (!strings.Contains(string(r.body), reasons[tt.name]) || r.header.Get("WWW-Authenticate") != "Bearer" ||
				strings.Contains(string(r.body), "eyJ")) {
				t.Fatalf("401 with %q, WWW-Authenticate %q; want a reason with %q", r.body, r.header.Get("WWW-Authenticate"), reasons[tt.name])
			}
		})
	}
	t.Run("no token and alg none", func(t *testing.T) {
		for _, auth := range []string{"", "Bearer ", "Basic abc", "Bearer " + unsignedToken(te.URL()+path)} {
			req, _ := http.NewRequest("POST", te.URL()+path, strings.NewReader("x"))
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			resp, err := sharedClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 401 {
				t.Errorf("Authorization %.20q: %d; want 401", auth, resp.StatusCode)
			}
		}
	})
	t.Run("health needs no token", func(t *testing.T) {
		for _, m := range []string{"HEAD", "GET"} {
			req, _ := http.NewRequest(m, te.URL()+"/api/health?api-version=2021-08-01-preview", nil)
			resp, err := sharedClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 || resp.Header.Get("api-supported-versions") != "" {
				t.Errorf("%s health: %d %v", m, resp.StatusCode, resp.Header)
			}
		}
	})
}

func unsignedToken(aud string) string {
	tok, _ := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"aud": aud, "exp": time.Now().Add(time.Hour).Unix()}).
		SignedString(jwt.UnsafeAllowNoneSignatureType)
	return tok
}

func TestRESTRouting(t *testing.T) {
	te := startEmulator(t, Options{})
	tests := []struct {
		method, path string
		want         int
		allow        string // the Allow header of a 405
	}{
		{"GET", "/api/hubs/chat/:send" + v, 405, "POST"},
		{"POST", "/api/hubs/chat/connections/c1" + v, 405, "DELETE, HEAD"},
		{"GET", "/api/hubs/chat/permissions/sendToGroup/connections/c1" + v, 405, "DELETE, HEAD, PUT"},
		{"GET", "/api/hubs/chat/unknown" + v, 404, ""},
		{"GET", "/api/hubs" + v, 404, ""},
		{"DELETE", "/api/hubs/chat/connections//groups" + v, 404, ""},
		{"GET", "/nothing", 404, ""},
		{"POST", "/api/health", 405, ""},
		{"POST", "/api/hubs/chat/:send", 202, ""}, // api-version is optional
		{"POST", "/api/hubs/chat/:send?api-version=2099-01-01-preview", 202, ""},
		{"HEAD", "/api/hubs/chat/users/a%2Fb" + v, 404, ""}, // one segment
	}
	for _, tt := range tests {
		r := te.rest(tt.method, tt.path, "text/plain", nil)
		if r.status != tt.want {
			t.Errorf("%s %s = %d %s; want %d", tt.method, tt.path, r.status, r.body, tt.want)
		}
		if tt.allow != "" && r.header.Get("Allow") != tt.allow {
			t.Errorf("%s %s: Allow = %q; want %q", tt.method, tt.path, r.header.Get("Allow"), tt.allow)
		}
		if tt.want == 202 && r.header.Get("api-supported-versions") != supportedVersions {
			t.Errorf("api-supported-versions = %q", r.header.Get("api-supported-versions"))
		}
	}
}

// TestGenerateToken checks the issued claims and that a client can connect
// with the token.
func TestGenerateToken(t *testing.T) {
	te := startEmulator(t, Options{})
	r := te.rest("POST", "/api/hubs/Chat/:generateToken"+v+"&userId=u%201&role=webpubsub.joinLeaveGroup&role=b&group=g%261&minutesToExpire=5", "", nil)
	expectStatus(t, r, 200)
	var body struct{ Token string }
	if err := json.Unmarshal(r.body, &body); err != nil || body.Token == "" {
		t.Fatalf("body %s: %v", r.body, err)
	}
	claims := jwt.MapClaims{}
	if _, err := jwt.ParseWithClaims(body.Token, claims, func(*jwt.Token) (any, error) { return []byte(DefaultAccessKey), nil }); err != nil {
		t.Fatalf("parse issued token: %v", err)
	}
	exp, _ := claims.GetExpirationTime()
	iat, _ := claims["iat"].(float64)
	if claims["aud"] != te.URL()+"/client/hubs/chat" || claims["sub"] != "u 1" || claims["iss"] != "https://webpubsub.azure.com" ||
		exp.Unix()-int64(iat) != 300 || claims["nbf"] == nil {
		t.Fatalf("claims %v", claims)
	}
	if roles, _ := claims["role"].([]any); len(roles) != 2 {
		t.Fatalf("role %v", claims["role"])
	}
	if groups, _ := claims["webpubsub.group"].([]any); len(groups) != 1 || groups[0] != "g&1" {
		t.Fatalf("groups %v", claims["webpubsub.group"])
	}
	c := te.dial(dialOptions{subprotocols: []string{"json.webpubsub.azure.v1"}, token: body.Token})
	c.SendText(`{"type":"joinGroup","group":"other","ackId":1}`)
	c.ExpectJSON(`{"type":"ack","ackId":1,"success":true}`)
	expectStatus(t, te.rest("HEAD", "/api/hubs/chat/groups/g%261"+v, "", nil), 200)

	for q, aud := range map[string]string{"&clientType=Default": "/client/hubs/chat", "&clientType=MQTT": "/clients/mqtt/hubs/chat", "&clientType=socketio": "/clients/socketio/hubs/chat"} {
		r := te.rest("POST", "/api/hubs/chat/:generateToken"+v+q, "", nil)
		expectStatus(t, r, 200)
		_ = json.Unmarshal(r.body, &body)
		claims := jwt.MapClaims{}
		_, _, _ = jwt.NewParser().ParseUnverified(body.Token, claims)
		if claims["aud"] != te.URL()+aud || claims["sub"] != nil || claims["role"] != nil {
			t.Errorf("%s: claims %v", q, claims)
		}
	}
	for _, q := range []string{"&minutesToExpire=0", "&minutesToExpire=-1", "&minutesToExpire=x", "&group=%0A", "&clientType=grpc"} {
		expectStatus(t, te.rest("POST", "/api/hubs/chat/:generateToken"+v+q, "", nil), 400)
	}
}
