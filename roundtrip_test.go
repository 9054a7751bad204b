package webpubsub

import (
	"context"
	"errors"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/gowebpubsub/webpubsub/emulator"
	"github.com/gowebpubsub/webpubsub/internal/protocol"
	"github.com/gowebpubsub/webpubsub/internal/testclient"
)

// Round trips: ServiceClient -> in-process emulator -> real WebSocket clients.

func startEmulator(t *testing.T, hub string) *ServiceClient {
	t.Helper()
	e := emulator.NewTest(t)
	c, err := NewServiceClientFromConnectionString(e.ConnectionString(), hub, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// dial connects a json.webpubsub.azure.v1 client with a client access URL
// from c.
func dial(t *testing.T, c *ServiceClient, opts *GetClientAccessTokenOptions) *testclient.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tok, err := c.GetClientAccessToken(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	return testclient.Dial(t, tok.URL, &testclient.Options{Subprotocols: []string{testclient.JSON}})
}

// marker proves that nothing else was queued for the clients before it:
// a message sent to all after the operation under test must be the next
// frame each client reads.
func marker(t *testing.T, c *ServiceClient, clients ...*testclient.Conn) {
	t.Helper()
	if _, err := c.SendToAll(context.Background(), TextMessage("marker"), nil); err != nil {
		t.Fatal(err)
	}
	for _, w := range clients {
		w.ExpectMessage(protocol.DataTypeText, "marker")
	}
}

func TestRoundTripSends(t *testing.T) {
	c := startEmulator(t, "sends")
	ctx := context.Background()
	alice := dial(t, c, &GetClientAccessTokenOptions{UserID: "alice", Groups: []string{"room"}})
	bob := dial(t, c, &GetClientAccessTokenOptions{UserID: "bob"})
	anon := dial(t, c, nil)
	all := []*testclient.Conn{alice, bob, anon}

	must(t, errOf(c.SendToAll(ctx, TextMessage("to all"), nil)))
	for _, w := range all {
		w.ExpectMessage(protocol.DataTypeText, "to all")
	}

	must(t, errOf(c.SendToAll(ctx, JSONMessage(map[string]int{"n": 1}), &SendToAllOptions{Excluded: []string{bob.ConnectionID()}})))
	for _, w := range []*testclient.Conn{alice, anon} {
		w.ExpectMessage(protocol.DataTypeJSON, `{"n":1}`)
	}
	marker(t, c, all...)

	f, _ := FormatFilter("userId eq {}", "bob")
	must(t, errOf(c.SendToAll(ctx, TextMessage("filtered"), &SendToAllOptions{Filter: f, MessageTTLSeconds: ptr(30)})))
	bob.ExpectMessage(protocol.DataTypeText, "filtered")
	marker(t, c, all...)

	must(t, errOf(c.SendToUser(ctx, "alice", BinaryMessage([]byte{1, 2, 3}), nil)))
	alice.ExpectMessage(protocol.DataTypeBinary, "\x01\x02\x03")
	marker(t, c, all...)

	must(t, errOf(c.SendToGroup(ctx, "room", TextMessage("to room"), nil)))
	alice.ExpectMessage(protocol.DataTypeText, "to room")
	marker(t, c, all...)

	must(t, errOf(c.SendToConnection(ctx, anon.ConnectionID(), TextMessage("to anon"), nil)))
	anon.ExpectMessage(protocol.DataTypeText, "to anon")
	marker(t, c, all...)

	// An invalid filter is the service's 400 and delivers nothing.
	_, err := c.SendToAll(ctx, TextMessage("never"), &SendToAllOptions{Filter: "userId eq"})
	wantResponseError(t, err, 400, "Error.BadRequest")
	marker(t, c, all...)
}

func errOf[T any](_ T, err error) error { return err }

func TestRoundTripGroupsAndExistence(t *testing.T) {
	c := startEmulator(t, "groups")
	ctx := context.Background()
	a := dial(t, c, &GetClientAccessTokenOptions{UserID: "alice"})
	b := dial(t, c, &GetClientAccessTokenOptions{UserID: "bob"})
	check := func(name string, got bool, err error, want bool) {
		t.Helper()
		if err != nil || got != want {
			t.Fatalf("%s: (%v, %v), want %v", name, got, err, want)
		}
	}
	ok, err := c.ConnectionExists(ctx, a.ConnectionID(), nil)
	check("connection exists", ok, err, true)
	ok, err = c.UserExists(ctx, "alice", nil)
	check("user exists", ok, err, true)
	ok, err = c.GroupExists(ctx, "g", nil)
	check("group exists before", ok, err, false)

	must(t, errOf(c.AddConnectionToGroup(ctx, "g", a.ConnectionID(), nil)))
	must(t, errOf(c.AddUserToGroup(ctx, "g", "bob", nil)))
	ok, err = c.GroupExists(ctx, "g", nil)
	check("group exists after", ok, err, true)
	members, err := listAll(ctx, c, "g", &ListConnectionsInGroupOptions{MaxPageSize: 1})
	must(t, err)
	sort.Slice(members, func(i, j int) bool { return members[i].UserID < members[j].UserID })
	if len(members) != 2 || members[0] != (GroupMember{a.ConnectionID(), "alice"}) || members[1] != (GroupMember{b.ConnectionID(), "bob"}) {
		t.Fatalf("members %v", members)
	}
	must(t, errOf(c.SendToGroup(ctx, "g", TextMessage("both"), nil)))
	a.ExpectMessage(protocol.DataTypeText, "both")
	b.ExpectMessage(protocol.DataTypeText, "both")

	must(t, errOf(c.RemoveConnectionFromGroup(ctx, "g", a.ConnectionID(), nil)))
	must(t, errOf(c.SendToGroup(ctx, "g", TextMessage("bob only"), nil)))
	b.ExpectMessage(protocol.DataTypeText, "bob only")
	marker(t, c, a, b)

	must(t, errOf(c.RemoveUserFromGroup(ctx, "g", "bob", nil)))
	ok, err = c.GroupExists(ctx, "g", nil)
	check("group exists when empty", ok, err, false)

	// Batch by filter.
	must(t, errOf(c.AddConnectionsToGroups(ctx, []string{"x", "y"}, "userId eq 'alice'", nil)))
	must(t, errOf(c.SendToGroup(ctx, "y", TextMessage("y"), nil)))
	a.ExpectMessage(protocol.DataTypeText, "y")
	marker(t, c, a, b)
	must(t, errOf(c.RemoveConnectionsFromGroups(ctx, []string{"x"}, "", nil)))
	ok, err = c.GroupExists(ctx, "x", nil)
	check("x after batch removal", ok, err, false)
	must(t, errOf(c.RemoveConnectionFromAllGroups(ctx, a.ConnectionID(), nil)))
	ok, err = c.GroupExists(ctx, "y", nil)
	check("y after removal from all", ok, err, false)
	must(t, errOf(c.AddUserToGroup(ctx, "z", "alice", nil)))
	must(t, errOf(c.RemoveUserFromAllGroups(ctx, "alice", nil)))
	ok, err = c.GroupExists(ctx, "z", nil)
	check("z after user removal from all", ok, err, false)

	_, err = c.AddConnectionToGroup(ctx, "g", "no-such-connection", nil)
	wantResponseError(t, err, 404, "Error.Connection.NotExisted")
}

func TestRoundTripPermissions(t *testing.T) {
	c := startEmulator(t, "perms")
	ctx := context.Background()
	w := dial(t, c, &GetClientAccessTokenOptions{UserID: "u"})
	if e := w.JoinGroup("g").ErrorName(); e != "Forbidden" {
		t.Fatalf("join before grant: %q, want Forbidden", e)
	}
	ok, err := c.CheckPermission(ctx, PermissionJoinLeaveGroup, w.ConnectionID(), &CheckPermissionOptions{TargetName: "g"})
	if ok || err != nil {
		t.Fatalf("check before grant: (%v, %v)", ok, err)
	}
	must(t, errOf(c.GrantPermission(ctx, PermissionJoinLeaveGroup, w.ConnectionID(), &GrantPermissionOptions{TargetName: "g"})))
	ok, err = c.CheckPermission(ctx, PermissionJoinLeaveGroup, w.ConnectionID(), &CheckPermissionOptions{TargetName: "g"})
	if !ok || err != nil {
		t.Fatalf("check after grant: (%v, %v)", ok, err)
	}
	if e := w.JoinGroup("g").ErrorName(); e != "" {
		t.Fatalf("join after grant: %q", e)
	}
	if e := w.SendToGroup("g", protocol.DataTypeText, []byte("x"), false).ErrorName(); e != "Forbidden" {
		t.Fatalf("send without sendToGroup: %q", e)
	}
	must(t, errOf(c.GrantPermission(ctx, PermissionSendToGroup, w.ConnectionID(), &GrantPermissionOptions{TargetName: "g"})))
	if e := w.SendToGroup("g", protocol.DataTypeText, []byte("x"), true).ErrorName(); e != "" {
		t.Fatalf("send after grant: %q", e)
	}
	must(t, errOf(c.RevokePermission(ctx, PermissionJoinLeaveGroup, w.ConnectionID(), &RevokePermissionOptions{TargetName: "g"})))
	if e := w.LeaveGroup("g").ErrorName(); e != "Forbidden" {
		t.Fatalf("leave after revoke: %q, want Forbidden", e)
	}
	_, err = c.GrantPermission(ctx, PermissionSendToGroup, "no-such-connection", nil)
	wantResponseError(t, err, 404, "Info.Connection.NotExisted")
}

func TestRoundTripClose(t *testing.T) {
	c := startEmulator(t, "closing")
	ctx := context.Background()
	expectClosed := func(w *testclient.Conn, reason string) {
		t.Helper()
		if f := w.ExpectSystem(protocol.EventDisconnected); f.Message != reason {
			t.Fatalf("disconnected %q, want %q", f.Message, reason)
		}
		w.ExpectClose(websocket.StatusNormalClosure)
	}
	a := dial(t, c, &GetClientAccessTokenOptions{UserID: "a", Groups: []string{"g"}})
	must(t, errOf(c.CloseConnection(ctx, a.ConnectionID(), &CloseConnectionOptions{Reason: "bye"})))
	expectClosed(a, "bye")

	u1 := dial(t, c, &GetClientAccessTokenOptions{UserID: "u"})
	u2 := dial(t, c, &GetClientAccessTokenOptions{UserID: "u"})
	must(t, errOf(c.CloseUserConnections(ctx, "u", &CloseUserConnectionsOptions{Excluded: []string{u2.ConnectionID()}, Reason: "user"})))
	expectClosed(u1, "user")
	marker(t, c, u2)

	g := dial(t, c, &GetClientAccessTokenOptions{Groups: []string{"g"}})
	must(t, errOf(c.CloseGroupConnections(ctx, "g", &CloseGroupConnectionsOptions{Reason: "group"})))
	expectClosed(g, "group")

	rest := dial(t, c, nil)
	must(t, errOf(c.CloseAllConnections(ctx, &CloseAllConnectionsOptions{Excluded: []string{rest.ConnectionID()}, Reason: "all"})))
	expectClosed(u2, "all")
	ok, err := c.ConnectionExists(ctx, rest.ConnectionID(), nil)
	if !ok || err != nil {
		t.Fatalf("excluded connection: (%v, %v)", ok, err)
	}
	if ok, _ := c.ConnectionExists(ctx, u2.ConnectionID(), nil); ok {
		t.Fatal("closed connection still exists")
	}
	if _, err := c.GetServiceStatus(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(errOf(c.CloseConnection(ctx, "", nil)), ErrInvalidArgument) {
		t.Fatal("empty id accepted")
	}
}

// A hub with every punctuation the hub pattern allows: the client URL and
// audience carry it escaped, the REST path too, and the emulator routes all
// of them to the same hub.
func TestRoundTripPunctuatedHub(t *testing.T) {
	c := startEmulator(t, "Hub_1.a,b[c]`d")
	tok, err := c.GetClientAccessToken(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(tok.BaseURL, "/client/hubs/Hub_1.a%2Cb%5Bc%5D%60d") {
		t.Fatalf("BaseURL %s", tok.BaseURL)
	}
	w := dial(t, c, &GetClientAccessTokenOptions{UserID: "u"})
	must(t, errOf(c.SendToUser(context.Background(), "u", TextMessage("punctuated"), nil)))
	w.ExpectMessage(protocol.DataTypeText, "punctuated")
}
