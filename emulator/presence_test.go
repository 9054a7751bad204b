package emulator

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// TestGroupPresenceEvents: every route that joins or leaves a group sends
// the matching gp.joined / gp.left event, filtered by GroupFilters, in
// order after connected and before disconnected.
func TestGroupPresenceEvents(t *testing.T) {
	fu := newFakeUpstream(t, nil)
	opts := fu.handlerOptions("", "connected", "disconnected")
	h := opts.Hubs["chat"]
	h.EventHandlers[0].GroupPresenceEvents = &GroupPresenceEvents{EventNames: []string{"joined", "Left"}, GroupFilters: []string{"room*"}}
	opts.Hubs["chat"] = h
	te := startEmulator(t, opts)
	c := te.pubsub(jwt.MapClaims{"sub": "u", "role": []string{"webpubsub.joinLeaveGroup"}, "webpubsub.group": []string{"room0", "other"}})
	v := "?api-version=2024-12-01"

	next := func(want string) {
		t.Helper()
		r := fu.take(t, "for "+c.id, func(r *recordedRequest) bool { return r.header.Get("ce-connectionId") == c.id })
		got := r.ceType()
		if got == "azure.webpubsub.gp.joined" || got == "azure.webpubsub.gp.left" {
			got += " " + string(r.body)
		}
		if got != want {
			t.Fatalf("upstream event %q; want %q", got, want)
		}
	}
	next("azure.webpubsub.sys.connected")
	next(`azure.webpubsub.gp.joined {"group":"room0"}`) // the token's; "other" is filtered out

	c.SendText(`{"type":"joinGroup","group":"room1","ackId":1}`)
	c.ExpectJSON(`{"type":"ack","ackId":1,"success":true}`)
	next(`azure.webpubsub.gp.joined {"group":"room1"}`)
	expectStatus(t, te.rest("PUT", "/api/hubs/chat/groups/room2/connections/"+c.id+v, "", nil), 200)
	next(`azure.webpubsub.gp.joined {"group":"room2"}`)
	expectStatus(t, te.rest("PUT", "/api/hubs/chat/users/u/groups/room3"+v, "", nil), 200)
	next(`azure.webpubsub.gp.joined {"group":"room3"}`)
	expectStatus(t, te.rest("POST", "/api/hubs/chat/:addToGroups"+v, "application/json", []byte(`{"groups":["room4","nope"]}`)), 200)
	next(`azure.webpubsub.gp.joined {"group":"room4"}`)
	c.SendText(`{"type":"joinGroup","group":"room1","ackId":2}`) // already in: no event
	c.ExpectJSON(`{"type":"ack","ackId":2,"success":true}`)
	c.SendText(`{"type":"leaveGroup","group":"room1","ackId":3}`)
	c.ExpectJSON(`{"type":"ack","ackId":3,"success":true}`)
	next(`azure.webpubsub.gp.left {"group":"room1"}`)
	expectStatus(t, te.rest("DELETE", "/api/hubs/chat/groups/room2/connections/"+c.id+v, "", nil), 204)
	next(`azure.webpubsub.gp.left {"group":"room2"}`)

	// Closing leaves the remaining groups, then disconnected comes last.
	expectStatus(t, te.rest("DELETE", "/api/hubs/chat/connections/"+c.id+v, "", nil), 204)
	var left []string
	for range 3 {
		r := fu.nextFor(t, "azure.webpubsub.gp.left", c.id)
		left = append(left, string(r.body))
	}
	slices.Sort(left)
	if !slices.Equal(left, []string{`{"group":"room0"}`, `{"group":"room3"}`, `{"group":"room4"}`}) {
		t.Fatalf("left events at close %v", left)
	}
	next("azure.webpubsub.sys.disconnected")
	fu.expectNone(t, 0, "azure.webpubsub.gp.joined", "azure.webpubsub.gp.left")
}

// presenceEvents reads the upstream events of a connection as
// "joined <group>" / "left <group>" (checking the body is exactly
// {"group":...}), or the system event's name ("connect", "connected").
type presenceEvents struct {
	t  *testing.T
	fu *fakeUpstream
}

// take returns the next n events of connection c, sorted.
func (p presenceEvents) take(c *wsClient, n int) []string {
	p.t.Helper()
	var got []string
	for range n {
		r := p.fu.take(p.t, "for "+c.id, func(r *recordedRequest) bool { return r.header.Get("ce-connectionId") == c.id })
		var ev string
		switch r.ceType() {
		case "azure.webpubsub.gp.joined", "azure.webpubsub.gp.left":
			var body struct{ Group string }
			if err := json.Unmarshal(r.body, &body); err != nil || string(r.body) != `{"group":"`+body.Group+`"}` {
				p.t.Fatalf("presence event body %s", r.body)
			}
			ev = strings.TrimPrefix(r.ceType(), "azure.webpubsub.gp.") + " " + body.Group
		default:
			ev = strings.TrimPrefix(r.ceType(), "azure.webpubsub.sys.")
		}
		got = append(got, ev)
	}
	slices.Sort(got)
	return got
}

// expect checks that the next events of c are want, in any order.
func (p presenceEvents) expect(c *wsClient, want ...string) {
	p.t.Helper()
	w := slices.Clone(want)
	slices.Sort(w)
	if got := p.take(c, len(want)); !slices.Equal(got, w) {
		p.t.Fatalf("events of %s %q; want %q", c.id, got, w)
	}
}

// marker joins c to group g and expects its joined event next: the
// events of c before it, if any, would have come first.
func (p presenceEvents) marker(c *wsClient, g string) {
	p.t.Helper()
	joinRoom(c, g)
	p.expect(c, "joined "+g)
}

// TestGroupPresenceRoutes: each route that joins or leaves groups sends
// the presence events of the groups GroupFilters selects (here "room*"),
// and nothing for the others; null or empty GroupFilters select every
// group.
func TestGroupPresenceRoutes(t *testing.T) {
	// claims is the token of user u in groups.
	claims := func(user string, groups ...string) jwt.MapClaims {
		return jwt.MapClaims{"sub": user, "role": []string{"webpubsub.joinLeaveGroup"}, "webpubsub.group": groups}
	}
	tests := []struct {
		name    string
		filters []string
		connect string // the connect handler's JSON answer; "" answers 204
		run     func(t *testing.T, te *testEmulator, p presenceEvents)
	}{
		{"connect answer's groups", []string{"room*"}, `{"groups":["room-a","lobby","room-b"]}`, func(t *testing.T, te *testEmulator, p presenceEvents) {
			c := te.pubsub(claims("u"))
			p.expect(c, "connect", "connected", "joined room-a", "joined room-b")
			p.marker(c, "room-m")
		}},
		{"REST leave by user", []string{"room*"}, "", func(t *testing.T, te *testEmulator, p presenceEvents) {
			c := te.pubsub(claims("u", "room1", "other"))
			p.expect(c, "connect", "connected", "joined room1")
			expectStatus(t, te.rest("DELETE", "/api/hubs/chat/users/u/groups/other"+v, "", nil), 204)
			expectStatus(t, te.rest("DELETE", "/api/hubs/chat/users/u/groups/room1"+v, "", nil), 204)
			p.expect(c, "left room1") // and nothing for other before it
			p.marker(c, "room-m")
		}},
		{"REST remove user from all groups", []string{"room*"}, "", func(t *testing.T, te *testEmulator, p presenceEvents) {
			c1, c2 := te.pubsub(claims("u", "room1", "room2", "other")), te.pubsub(claims("u", "room2"))
			p.expect(c1, "connect", "connected", "joined room1", "joined room2")
			p.expect(c2, "connect", "connected", "joined room2")
			expectStatus(t, te.rest("DELETE", "/api/hubs/chat/users/u/groups"+v, "", nil), 204)
			p.expect(c1, "left room1", "left room2")
			p.expect(c2, "left room2")
			p.marker(c1, "room-m")
			p.marker(c2, "room-m")
		}},
		{"REST removeFromGroups by filter", []string{"room*"}, "", func(t *testing.T, te *testEmulator, p presenceEvents) {
			c, w := te.pubsub(claims("u", "room1", "room2", "other")), te.pubsub(claims("w", "room1", "other"))
			p.expect(c, "connect", "connected", "joined room1", "joined room2")
			p.expect(w, "connect", "connected", "joined room1")
			body := `{"groups":["room1","other"],"filter":"userId eq 'u'"}`
			expectStatus(t, te.rest("POST", "/api/hubs/chat/:removeFromGroups"+v, "application/json", []byte(body)), 200)
			p.expect(c, "left room1")
			p.marker(c, "room-m")
			p.marker(w, "room-m") // w, not selected by the filter, left nothing
			// Without a filter, every connection leaves.
			expectStatus(t, te.rest("POST", "/api/hubs/chat/:removeFromGroups"+v, "application/json", []byte(`{"groups":["room-m"],"filter":null}`)), 200)
			p.expect(c, "left room-m")
			p.expect(w, "left room-m")
		}},
		{"REST remove connection from all groups", []string{"room*"}, "", func(t *testing.T, te *testEmulator, p presenceEvents) {
			c, other := te.pubsub(claims("u", "room1", "room2", "other")), te.pubsub(claims("u", "room1"))
			p.expect(c, "connect", "connected", "joined room1", "joined room2")
			p.expect(other, "connect", "connected", "joined room1")
			expectStatus(t, te.rest("DELETE", "/api/hubs/chat/connections/"+c.id+"/groups"+v, "", nil), 204)
			p.expect(c, "left room1", "left room2")
			p.marker(c, "room-m")
			p.marker(other, "room-m") // the same user's other connection stays in room1
		}},
		{"null filters select every group", nil, `{"groups":["lobby"]}`, func(t *testing.T, te *testEmulator, p presenceEvents) {
			c := te.pubsub(claims("u"))
			p.expect(c, "connect", "connected", "joined lobby")
			expectStatus(t, te.rest("PUT", "/api/hubs/chat/users/u/groups/other"+v, "", nil), 200)
			p.expect(c, "joined other")
			expectStatus(t, te.rest("DELETE", "/api/hubs/chat/connections/"+c.id+"/groups"+v, "", nil), 204)
			p.expect(c, "left lobby", "left other")
		}},
		{"empty filters select every group", []string{}, "", func(t *testing.T, te *testEmulator, p presenceEvents) {
			c := te.pubsub(claims("u", "a.b", "other"))
			p.expect(c, "connect", "connected", "joined a.b", "joined other")
			expectStatus(t, te.rest("DELETE", "/api/hubs/chat/users/u/groups"+v, "", nil), 204)
			p.expect(c, "left a.b", "left other")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fu := newFakeUpstream(t, func(r *recordedRequest) fakeResponse {
				if r.ceType() == ceTypeConnect && tt.connect != "" {
					return fakeResponse{status: 200, header: http.Header{"Content-Type": {"application/json"}}, body: []byte(tt.connect)}
				}
				return fakeResponse{status: 204}
			})
			opts := fu.handlerOptions("", "connect", "connected", "disconnected")
			h := opts.Hubs["chat"]
			h.EventHandlers[0].GroupPresenceEvents = &GroupPresenceEvents{EventNames: []string{"joined", "left"}, GroupFilters: tt.filters}
			opts.Hubs["chat"] = h
			te := startEmulator(t, opts)
			p := presenceEvents{t: t, fu: fu}
			tt.run(t, te.with(t), p)
			fu.expectNone(t, 0, "azure.webpubsub.gp.joined", "azure.webpubsub.gp.left")
		})
	}
}
