package emulator

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestHubsListsHubsInUse(t *testing.T) {
	te := startEmulator(t, Options{})
	if got := te.Hubs(); len(got) != 0 || got == nil {
		t.Fatalf("Hubs before any use = %#v, want an empty non-nil slice", got)
	}
	te.raw(nil)
	if got, want := te.Hubs(), []string{"chat"}; !slices.Equal(got, want) {
		t.Fatalf("Hubs = %v, want %v", got, want)
	}
}

// TestInspectConnections: Connections, Connection, Groups and
// GroupMembers describe the state as REST and the clients made it.
func TestInspectConnections(t *testing.T) {
	clock := NewFakeClock(time.Time{})
	te := startEmulator(t, Options{Clock: clock})
	if got := te.Connections("chat"); got == nil || len(got) != 0 {
		t.Fatalf("Connections of an unknown hub = %#v", got)
	}
	start := clock.Now()
	a := te.reliable(jwt.MapClaims{"sub": "alice", "role": []string{"webpubsub.joinLeaveGroup.g1", "webpubsub.sendToGroups.room-*"}, "webpubsub.group": []string{"g2", "g1"}})
	clock.Advance(time.Second)
	b := te.raw(nil)
	expectStatus(t, te.rest("PUT", "/api/hubs/chat/permissions/sendToGroup/connections/"+a.id+v+"&targetName=g9", "", nil), 200)
	expectStatus(t, te.rest("DELETE", "/api/hubs/chat/permissions/joinLeaveGroup/connections/"+a.id+v+"&targetName=g3", "", nil), 204)
	expectStatus(t, te.rest("PUT", "/api/hubs/chat/groups/g1/connections/"+b.id+v, "", nil), 200)

	got := te.Connections("CHAT")
	if len(got) != 2 || got[0].ID != a.id || got[1].ID != b.id {
		t.Fatalf("Connections = %+v", got)
	}
	ai := got[0]
	if ai.Hub != "chat" || ai.UserID != "alice" || !slices.Equal(ai.Groups, []string{"g1", "g2"}) ||
		ai.Subprotocol != "json.reliable.webpubsub.azure.v1" || !ai.Reliable || ai.Detached ||
		!ai.ConnectedAt.Equal(start) || !slices.Equal(ai.Roles, []string{"webpubsub.joinLeaveGroup.g1", "webpubsub.sendToGroups.room-*"}) {
		t.Fatalf("alice = %+v", ai)
	}
	wantPerms := []PermissionState{
		{Permission: "joinLeaveGroup", Groups: []string{"g1"}, Patterns: []string{}, Denied: []string{"g3"}},
		{Permission: "sendToGroup", Groups: []string{"g9"}, Patterns: []string{"room-*"}, Denied: []string{}},
	}
	if !permsEqual(ai.Permissions, wantPerms) {
		t.Fatalf("permissions = %+v, want %+v", ai.Permissions, wantPerms)
	}
	bi := got[1]
	if bi.UserID != "" || bi.Subprotocol != "" || bi.Reliable || !bi.ConnectedAt.Equal(start.Add(time.Second)) || len(bi.Permissions) != 0 {
		t.Fatalf("raw = %+v", bi)
	}
	if g := te.Groups("chat"); !slices.Equal(g, []string{"g1", "g2"}) {
		t.Fatalf("Groups = %v", g)
	}
	if m := te.GroupMembers("chat", "g1"); !slices.Equal(m, sortedIDs(a.id, b.id)) {
		t.Fatalf("members of g1 = %v", m)
	}
	if m := te.GroupMembers("chat", "G1"); len(m) != 0 || m == nil {
		t.Fatalf("group names compare exactly: %#v", m)
	}
	if m := te.GroupMembers("nohub", "g1"); len(m) != 0 || m == nil {
		t.Fatalf("members in an unknown hub = %#v", m)
	}

	te.drop(a)
	if ci, err := te.Connection("chat", a.id); err != nil || !ci.Detached || !ci.LastReceived.IsZero() {
		t.Fatalf("Connection of a detached one = %+v, %v", ci, err)
	}
	if _, err := te.Connection("chat", "nope"); !errors.Is(err, ErrConnectionNotFound) {
		t.Fatalf("Connection(nope) = %v", err)
	}
}

func sortedIDs(ids ...string) []string {
	slices.Sort(ids)
	return ids
}

func permsEqual(a, b []PermissionState) bool {
	return slices.EqualFunc(a, b, func(x, y PermissionState) bool {
		return x.Permission == y.Permission && x.AllGroups == y.AllGroups && slices.Equal(x.Groups, y.Groups) &&
			slices.Equal(x.Patterns, y.Patterns) && slices.Equal(x.Denied, y.Denied)
	})
}

// TestMessageLog: one entry per recipient, bounded, with sequence ids of
// reliable connections; ClearMessages empties it; a negative size
// disables it.
func TestMessageLog(t *testing.T) {
	clock := NewFakeClock(time.Time{})
	te := startEmulator(t, Options{Clock: clock, MessageLogSize: 3})
	r := te.reliable(jwt.MapClaims{"sub": "r", "webpubsub.group": []string{"g"}, "role": []string{"webpubsub.sendToGroup"}})
	p := te.pubsub(jwt.MapClaims{"sub": "p", "webpubsub.group": []string{"g"}})
	expectStatus(t, te.rest("POST", "/api/hubs/chat/:send"+v, "application/json", []byte(`{"n":1}`)), 202)
	r.SendText(`{"type":"sendToGroup","group":"g","dataType":"binary","data":"AAE=","ackId":1}`)
	r.ExpectJSON(`{"type":"message","from":"server","dataType":"json","data":{"n":1},"sequenceId":1}`)
	r.ExpectJSON(`{"type":"message","from":"group","group":"g","fromUserId":"r","dataType":"binary","data":"AAE=","sequenceId":2}`)
	r.ExpectJSON(`{"type":"ack","ackId":1,"success":true}`)

	got := te.Messages()
	if len(got) != 3 {
		t.Fatalf("log = %+v; want the 3 most recent of 4 entries", got)
	}
	// The oldest entry (the first REST send to one of them) was dropped.
	last := got[1:]
	slices.SortFunc(last, func(x, y DeliveredMessage) int { return strings.Compare(x.ConnectionID, y.ConnectionID) })
	for _, m := range last {
		if m.Hub != "chat" || m.From != "group" || m.Group != "g" || m.FromUserID != "r" || m.DataType != "binary" ||
			string(m.Data) != "\x00\x01" || !m.Time.Equal(clock.Now()) {
			t.Fatalf("group entry = %+v", m)
		}
		want := uint64(0)
		if m.ConnectionID == r.id {
			want = 2
		}
		if m.SequenceID != want {
			t.Fatalf("entry for %s has sequence id %d, want %d", m.ConnectionID, m.SequenceID, want)
		}
	}
	if got[0].From != "server" || string(got[0].Data) != `{"n":1}` || got[0].DataType != "json" {
		t.Fatalf("server entry = %+v", got[0])
	}
	got[0].Data[0] = 'X'
	if te.Messages()[0].Data[0] != '{' {
		t.Fatal("Messages returned the log's own slice")
	}
	p.ExpectJSON(`{"type":"message","from":"server","dataType":"json","data":{"n":1}}`)
	p.ExpectJSON(`{"type":"message","from":"group","group":"g","fromUserId":"r","dataType":"binary","data":"AAE="}`)
	te.ClearMessages()
	if got := te.Messages(); len(got) != 0 {
		t.Fatalf("after ClearMessages: %+v", got)
	}

	off := startEmulator(t, Options{MessageLogSize: -1})
	c := off.pubsub(nil)
	expectStatus(t, off.rest("POST", "/api/hubs/chat/:send"+v, "text/plain", []byte("x")), 202)
	c.ExpectJSON(`{"type":"message","from":"server","dataType":"text","data":"x"}`)
	if got := off.Messages(); len(got) != 0 {
		t.Fatalf("disabled log = %+v", got)
	}
}

// TestWaitConnection: WaitConnection returns once a matching connection
// exists, Wait follows group changes, and both end with ctx or Close.
func TestWaitConnection(t *testing.T) {
	te := startEmulator(t, Options{})
	found := make(chan ConnectionInfo, 1)
	go func() {
		ctx, cancel := contextWithTimeout()
		defer cancel()
		ci, err := te.WaitConnection(ctx, "Chat", func(ci ConnectionInfo) bool { return ci.UserID == "late" })
		if err != nil {
			t.Errorf("WaitConnection: %v", err)
		}
		found <- ci
	}()
	te.raw(jwt.MapClaims{"sub": "early"})
	c := te.raw(jwt.MapClaims{"sub": "late"})
	if ci := <-found; ci.ID != c.id {
		t.Fatalf("WaitConnection found %+v, want %s", ci, c.id)
	}

	joined := make(chan error, 1)
	go func() {
		ctx, cancel := contextWithTimeout()
		defer cancel()
		joined <- te.Wait(ctx, func() bool { return len(te.GroupMembers("chat", "g")) == 1 })
	}()
	expectStatus(t, te.rest("PUT", "/api/hubs/chat/groups/g/connections/"+c.id+v, "", nil), 200)
	if err := <-joined; err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := te.WaitConnection(ctx, "chat", func(ConnectionInfo) bool { return false }); !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitConnection with a canceled ctx = %v", err)
	}

	e := NewTest(t)
	closed := make(chan error, 1)
	go func() { closed <- e.Wait(context.Background(), func() bool { return false }) }()
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-closed; err == nil {
		t.Fatal("Wait did not end with Close")
	}
}

// TestConnectionEvents: OnConnectionEvent sees each connection's life in
// order: connected, detached, recovered, disconnected with its reason.
func TestConnectionEvents(t *testing.T) {
	var mu sync.Mutex
	var events []ConnectionEvent
	te := startEmulator(t, Options{OnConnectionEvent: func(ev ConnectionEvent) {
		mu.Lock()
		events = append(events, ev)
		mu.Unlock()
	}})
	c := te.reliable(nil)
	te.drop(c)
	c = te.recover(c)
	c.Barrier()
	expectStatus(t, te.rest("DELETE", "/api/hubs/chat/connections/"+c.id+v+"&reason=bye", "", nil), 204)
	te.waitEnded(c.id)
	mu.Lock()
	defer mu.Unlock()
	want := []ConnectionEvent{
		{Kind: ConnectionConnected, Hub: "chat", ConnectionID: c.id},
		{Kind: ConnectionDetached, Hub: "chat", ConnectionID: c.id},
		{Kind: ConnectionRecovered, Hub: "chat", ConnectionID: c.id},
		{Kind: ConnectionDisconnected, Hub: "chat", ConnectionID: c.id, Reason: "bye"},
	}
	if !slices.Equal(events, want) {
		t.Fatalf("events = %+v\nwant %+v", events, want)
	}
}

// TestNewTestOptions: NewTest applies its options in order.
func TestNewTestOptions(t *testing.T) {
	clock := NewFakeClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	var seen []ConnectionEventKind
	var mu sync.Mutex
	e := NewTest(t,
		WithOptions(Options{MessageLogSize: -1}),
		WithClock(clock),
		WithKeepAlive(time.Minute, 3*time.Minute),
		WithHub("open", HubOptions{AllowAnonymous: true}),
		WithConnectionEvents(func(ev ConnectionEvent) {
			mu.Lock()
			seen = append(seen, ev.Kind)
			mu.Unlock()
		}),
	)
	if e.opts.MessageLogSize != -1 || e.pingInterval != time.Minute || e.idleTimeout != 3*time.Minute || !e.hubOptions("open").AllowAnonymous {
		t.Fatalf("options not applied: %+v", e.opts)
	}
	if got := e.now(); !got.Equal(clock.Now()) {
		t.Fatalf("emulator time %v, want the fake clock's %v", got, clock.Now())
	}
	te := &testEmulator{Emulator: e, t: t}
	ws, _, err := te.dialRaw(dialOptions{hub: "open"})
	if err != nil {
		t.Fatalf("anonymous dial: %v", err)
	}
	t.Cleanup(func() { _ = ws.CloseNow() })
	ctx, cancel := contextWithTimeout()
	defer cancel()
	ci, err := e.WaitConnection(ctx, "open", nil)
	if err != nil || !ci.ConnectedAt.Equal(clock.Now()) {
		t.Fatalf("connection %+v, %v", ci, err)
	}
	// The event follows the registration that WaitConnection saw.
	if err := e.Wait(ctx, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) > 0
	}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(seen, []ConnectionEventKind{ConnectionConnected}) {
		t.Fatalf("events %v", seen)
	}
}

// TestInspectUnacknowledged: ConnectionInfo.Unacknowledged counts the
// messages a reliable connection has not acknowledged, and Wait sees it
// fall when a sequenceAck is applied.
func TestInspectUnacknowledged(t *testing.T) {
	te := startEmulator(t, Options{})
	c := te.reliable(jwt.MapClaims{"sub": "u"})
	for i := range 3 {
		expectStatus(t, te.rest("POST", "/api/hubs/chat/connections/"+c.id+"/:send"+v, "text/plain", []byte(fmt.Sprint("m", i))), 202)
	}
	for range 3 {
		c.ReadFrame()
	}
	info, err := te.Connection("chat", c.id)
	if err != nil || info.Unacknowledged != 3 {
		t.Fatalf("Connection = %+v, %v; want 3 unacknowledged", info, err)
	}
	c.SendText(`{"type":"sequenceAck","sequenceId":2}`)
	ctx, cancel := contextWithTimeout()
	defer cancel()
	if err := te.Wait(ctx, func() bool {
		info, err := te.Connection("chat", c.id)
		return err == nil && info.Unacknowledged == 1
	}); err != nil {
		t.Fatal(err)
	}
	p := te.pubsub(jwt.MapClaims{"sub": "p"})
	if info, _ := te.Connection("chat", p.id); info.Unacknowledged != 0 {
		t.Errorf("a non-reliable connection has %d unacknowledged", info.Unacknowledged)
	}
}
