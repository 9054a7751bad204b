package webpubsub

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/gowebpubsub/webpubsub/emulator"
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

// wsClient is a json.webpubsub.azure.v1 client.
type wsClient struct {
	t      *testing.T
	conn   *websocket.Conn
	id     string
	userID string
	ackID  int
}

func dial(t *testing.T, c *ServiceClient, opts *GetClientAccessTokenOptions) *wsClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tok, err := c.GetClientAccessToken(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	conn, _, err := websocket.Dial(ctx, tok.URL, &websocket.DialOptions{Subprotocols: []string{"json.webpubsub.azure.v1"}})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { conn.CloseNow() })
	w := &wsClient{t: t, conn: conn}
	m := w.next()
	if m["type"] != "system" || m["event"] != "connected" {
		t.Fatalf("first frame %v", m)
	}
	w.id, _ = m["connectionId"].(string)
	w.userID, _ = m["userId"].(string)
	return w
}

// next reads the next frame (failing the test after 10 s).
func (w *wsClient) next() map[string]any {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, b, err := w.conn.Read(ctx)
	if err != nil {
		w.t.Fatalf("read: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		w.t.Fatalf("frame %q: %v", b, err)
	}
	return m
}

// data reads the next message frame and returns its dataType and data.
func (w *wsClient) data() (string, any) {
	w.t.Helper()
	m := w.next()
	if m["type"] != "message" {
		w.t.Fatalf("want a message, got %v", m)
	}
	dt, _ := m["dataType"].(string)
	return dt, m["data"]
}

func (w *wsClient) expectText(want string) {
	w.t.Helper()
	if dt, d := w.data(); dt != "text" || d != want {
		w.t.Fatalf("client %s got %s %v, want text %q", w.id, dt, d, want)
	}
}

// request sends a frame with a fresh ackId and returns the ack.
func (w *wsClient) request(frame map[string]any) map[string]any {
	w.t.Helper()
	w.ackID++
	frame["ackId"] = w.ackID
	b, _ := json.Marshal(frame)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.conn.Write(ctx, websocket.MessageText, b); err != nil {
		w.t.Fatalf("write: %v", err)
	}
	for {
		m := w.next()
		if m["type"] == "ack" && m["ackId"] == float64(w.ackID) {
			return m
		}
	}
}

func ackError(ack map[string]any) string {
	if ack["success"] == true {
		return ""
	}
	e, _ := ack["error"].(map[string]any)
	name, _ := e["name"].(string)
	return name
}

// marker proves that nothing else was queued for the clients before it:
// a message sent to all after the operation under test must be the next
// frame each client reads.
func marker(t *testing.T, c *ServiceClient, clients ...*wsClient) {
	t.Helper()
	if _, err := c.SendToAll(context.Background(), TextMessage("marker"), nil); err != nil {
		t.Fatal(err)
	}
	for _, w := range clients {
		w.expectText("marker")
	}
}

func TestRoundTripSends(t *testing.T) {
	c := startEmulator(t, "sends")
	ctx := context.Background()
	alice := dial(t, c, &GetClientAccessTokenOptions{UserID: "alice", Groups: []string{"room"}})
	bob := dial(t, c, &GetClientAccessTokenOptions{UserID: "bob"})
	anon := dial(t, c, nil)
	all := []*wsClient{alice, bob, anon}

	must(t, errOf(c.SendToAll(ctx, TextMessage("to all"), nil)))
	for _, w := range all {
		w.expectText("to all")
	}

	must(t, errOf(c.SendToAll(ctx, JSONMessage(map[string]int{"n": 1}), &SendToAllOptions{Excluded: []string{bob.id}})))
	for _, w := range []*wsClient{alice, anon} {
		if dt, d := w.data(); dt != "json" || d.(map[string]any)["n"] != float64(1) {
			t.Fatalf("got %s %v", dt, d)
		}
	}
	marker(t, c, all...)

	f, _ := FormatFilter("userId eq {}", "bob")
	must(t, errOf(c.SendToAll(ctx, TextMessage("filtered"), &SendToAllOptions{Filter: f, MessageTTLSeconds: ptr(30)})))
	bob.expectText("filtered")
	marker(t, c, all...)

	must(t, errOf(c.SendToUser(ctx, "alice", BinaryMessage([]byte{1, 2, 3}), nil)))
	if dt, d := alice.data(); dt != "binary" || d != "AQID" {
		t.Fatalf("got %s %v", dt, d)
	}
	marker(t, c, all...)

	must(t, errOf(c.SendToGroup(ctx, "room", TextMessage("to room"), nil)))
	alice.expectText("to room")
	marker(t, c, all...)

	must(t, errOf(c.SendToConnection(ctx, anon.id, TextMessage("to anon"), nil)))
	anon.expectText("to anon")
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
	ok, err := c.ConnectionExists(ctx, a.id, nil)
	check("connection exists", ok, err, true)
	ok, err = c.UserExists(ctx, "alice", nil)
	check("user exists", ok, err, true)
	ok, err = c.GroupExists(ctx, "g", nil)
	check("group exists before", ok, err, false)

	must(t, errOf(c.AddConnectionToGroup(ctx, "g", a.id, nil)))
	must(t, errOf(c.AddUserToGroup(ctx, "g", "bob", nil)))
	ok, err = c.GroupExists(ctx, "g", nil)
	check("group exists after", ok, err, true)
	members, err := listAll(ctx, c, "g", &ListConnectionsInGroupOptions{MaxPageSize: 1})
	must(t, err)
	sort.Slice(members, func(i, j int) bool { return members[i].UserID < members[j].UserID })
	if len(members) != 2 || members[0] != (GroupMember{a.id, "alice"}) || members[1] != (GroupMember{b.id, "bob"}) {
		t.Fatalf("members %v", members)
	}
	must(t, errOf(c.SendToGroup(ctx, "g", TextMessage("both"), nil)))
	a.expectText("both")
	b.expectText("both")

	must(t, errOf(c.RemoveConnectionFromGroup(ctx, "g", a.id, nil)))
	must(t, errOf(c.SendToGroup(ctx, "g", TextMessage("bob only"), nil)))
	b.expectText("bob only")
	marker(t, c, a, b)

	must(t, errOf(c.RemoveUserFromGroup(ctx, "g", "bob", nil)))
	ok, err = c.GroupExists(ctx, "g", nil)
	check("group exists when empty", ok, err, false)

	// Batch by filter.
	must(t, errOf(c.AddConnectionsToGroups(ctx, []string{"x", "y"}, "userId eq 'alice'", nil)))
	must(t, errOf(c.SendToGroup(ctx, "y", TextMessage("y"), nil)))
	a.expectText("y")
	marker(t, c, a, b)
	must(t, errOf(c.RemoveConnectionsFromGroups(ctx, []string{"x"}, "", nil)))
	ok, err = c.GroupExists(ctx, "x", nil)
	check("x after batch removal", ok, err, false)
	must(t, errOf(c.RemoveConnectionFromAllGroups(ctx, a.id, nil)))
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
	if e := ackError(w.request(map[string]any{"type": "joinGroup", "group": "g"})); e != "Forbidden" {
		t.Fatalf("join before grant: %q, want Forbidden", e)
	}
	ok, err := c.CheckPermission(ctx, PermissionJoinLeaveGroup, w.id, &CheckPermissionOptions{TargetName: "g"})
	if ok || err != nil {
		t.Fatalf("check before grant: (%v, %v)", ok, err)
	}
	must(t, errOf(c.GrantPermission(ctx, PermissionJoinLeaveGroup, w.id, &GrantPermissionOptions{TargetName: "g"})))
	ok, err = c.CheckPermission(ctx, PermissionJoinLeaveGroup, w.id, &CheckPermissionOptions{TargetName: "g"})
	if !ok || err != nil {
		t.Fatalf("check after grant: (%v, %v)", ok, err)
	}
	if e := ackError(w.request(map[string]any{"type": "joinGroup", "group": "g"})); e != "" {
		t.Fatalf("join after grant: %q", e)
	}
	if e := ackError(w.request(map[string]any{"type": "sendToGroup", "group": "g", "dataType": "text", "data": "x"})); e != "Forbidden" {
		t.Fatalf("send without sendToGroup: %q", e)
	}
	must(t, errOf(c.GrantPermission(ctx, PermissionSendToGroup, w.id, &GrantPermissionOptions{TargetName: "g"})))
	if e := ackError(w.request(map[string]any{"type": "sendToGroup", "group": "g", "dataType": "text", "data": "x", "noEcho": true})); e != "" {
		t.Fatalf("send after grant: %q", e)
	}
	must(t, errOf(c.RevokePermission(ctx, PermissionJoinLeaveGroup, w.id, &RevokePermissionOptions{TargetName: "g"})))
	if e := ackError(w.request(map[string]any{"type": "leaveGroup", "group": "g"})); e != "Forbidden" {
		t.Fatalf("leave after revoke: %q, want Forbidden", e)
	}
	_, err = c.GrantPermission(ctx, PermissionSendToGroup, "no-such-connection", nil)
	wantResponseError(t, err, 404, "Info.Connection.NotExisted")
}

func TestRoundTripClose(t *testing.T) {
	c := startEmulator(t, "closing")
	ctx := context.Background()
	expectClosed := func(w *wsClient, reason string) {
		t.Helper()
		m := w.next()
		if m["type"] != "system" || m["event"] != "disconnected" || (reason != "" && m["message"] != reason) {
			t.Fatalf("got %v, want disconnected %q", m, reason)
		}
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_, _, err := w.conn.Read(rctx)
		if status := websocket.CloseStatus(err); status != websocket.StatusNormalClosure {
			t.Fatalf("close status %v (%v), want 1000", status, err)
		}
	}
	a := dial(t, c, &GetClientAccessTokenOptions{UserID: "a", Groups: []string{"g"}})
	must(t, errOf(c.CloseConnection(ctx, a.id, &CloseConnectionOptions{Reason: "bye"})))
	expectClosed(a, "bye")

	u1 := dial(t, c, &GetClientAccessTokenOptions{UserID: "u"})
	u2 := dial(t, c, &GetClientAccessTokenOptions{UserID: "u"})
	must(t, errOf(c.CloseUserConnections(ctx, "u", &CloseUserConnectionsOptions{Excluded: []string{u2.id}, Reason: "user"})))
	expectClosed(u1, "user")
	marker(t, c, u2)

	g := dial(t, c, &GetClientAccessTokenOptions{Groups: []string{"g"}})
	must(t, errOf(c.CloseGroupConnections(ctx, "g", &CloseGroupConnectionsOptions{Reason: "group"})))
	expectClosed(g, "group")

	rest := dial(t, c, nil)
	must(t, errOf(c.CloseAllConnections(ctx, &CloseAllConnectionsOptions{Excluded: []string{rest.id}, Reason: "all"})))
	expectClosed(u2, "all")
	ok, err := c.ConnectionExists(ctx, rest.id, nil)
	if !ok || err != nil {
		t.Fatalf("excluded connection: (%v, %v)", ok, err)
	}
	if ok, _ := c.ConnectionExists(ctx, u2.id, nil); ok {
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
	w.expectText("punctuated")
}
