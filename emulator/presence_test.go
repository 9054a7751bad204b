package emulator

import (
	"slices"
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
