package emulator

import (
	"slices"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// TestGroupsPerConnectionLimit: no route adds a connection to more than
// MaxGroupsPerConnection groups.
func TestGroupsPerConnectionLimit(t *testing.T) {
	te := startEmulator(t, Options{MaxGroupsPerConnection: 3})
	c := te.pubsub(jwt.MapClaims{"sub": "u", "role": []string{"webpubsub.joinLeaveGroup"}})
	for i, g := range []string{"g1", "g2", "g3"} {
		c.SendText(`{"type":"joinGroup","group":"` + g + `","ackId":` + string(rune('1'+i)) + `}`)
		c.ExpectJSON(`{"type":"ack","ackId":` + string(rune('1'+i)) + `,"success":true}`)
	}
	c.SendText(`{"type":"joinGroup","group":"g4","ackId":9}`)
	c.ExpectJSON(`{"type":"ack","ackId":9,"success":false,"error":{"name":"BadRequest","message":"The connection is already in the maximum of 3 groups."}}`)
	c.SendText(`{"type":"joinGroup","group":"g1","ackId":10}`) // already a member
	c.ExpectJSON(`{"type":"ack","ackId":10,"success":true}`)

	v := "?api-version=2024-12-01"
	expectStatus(t, te.rest("PUT", "/api/hubs/chat/groups/g5/connections/"+c.id+v, "", nil), 400)
	expectStatus(t, te.rest("PUT", "/api/hubs/chat/users/u/groups/g6"+v, "", nil), 200)
	expectStatus(t, te.rest("POST", "/api/hubs/chat/:addToGroups"+v, "application/json", []byte(`{"groups":["g7"]}`)), 200)
	info, err := te.Connection("chat", c.id)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(info.Groups, []string{"g1", "g2", "g3"}) {
		t.Errorf("groups %v; want g1..g3", info.Groups)
	}

	// A token's initial groups stop at the limit too.
	d := te.pubsub(jwt.MapClaims{"sub": "v", "webpubsub.group": []string{"a", "b", "c", "d", "e"}})
	info, err = te.Connection("chat", d.id)
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Groups) != 3 {
		t.Errorf("initial groups %v; want 3 of them", info.Groups)
	}
}
