package webpubsub_test

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/gowebpubsub/webpubsub"
	"github.com/gowebpubsub/webpubsub/emulator"
	"github.com/gowebpubsub/webpubsub/webpubsubclient"
)

// These examples run against the in-process emulator (package emulator), a
// local Web PubSub service; against Azure only the connection string
// differs. WebSocket clients (package webpubsubclient) stand in for
// browsers and print what they receive.

// The whole round trip: a local service, a ServiceClient, a client access
// URL, a WebSocket client (package webpubsubclient) that connects with it,
// and a message.
func Example() {
	// A local Web PubSub service on a free port.
	e, err := emulator.New(emulator.Options{})
	if err != nil {
		log.Fatal(err)
	}
	if err := e.Start(); err != nil {
		log.Fatal(err)
	}
	defer e.Close()

	ctx := context.Background()
	client, err := webpubsub.NewServiceClientFromConnectionString(e.ConnectionString(), "chat", nil)
	if err != nil {
		log.Fatal(err)
	}

	// The application server hands a client access URL to the browser...
	tok, err := client.GetClientAccessToken(ctx, &webpubsub.GetClientAccessTokenOptions{UserID: "alice"})
	if err != nil {
		log.Fatal(err)
	}
	// ...which connects with it: here the Go client, webpubsubclient.
	ws, err := webpubsubclient.New(webpubsubclient.StaticURL(tok.URL), nil)
	if err != nil {
		log.Fatal(err)
	}
	received := make(chan webpubsubclient.ServerMessage, 1)
	ws.OnServerMessage(func(m webpubsubclient.ServerMessage) { received <- m })
	if err := ws.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer ws.Stop(ctx)
	fmt.Println("connected:", ws.ConnectionID() != "")

	if _, err := client.SendToUser(ctx, "alice", webpubsub.TextMessage("Hello, alice"), nil); err != nil {
		log.Fatal(err)
	}
	m := <-received
	fmt.Println(m.DataType, string(m.Data))
	// Output:
	// connected: true
	// text Hello, alice
}

func ExampleNewServiceClientFromConnectionString() {
	e, err := emulator.New(emulator.Options{})
	if err != nil {
		log.Fatal(err)
	}
	if err := e.Start(); err != nil {
		log.Fatal(err)
	}
	defer e.Close()

	// The emulator's connection string has the form of the Azure portal's:
	// Endpoint=...;AccessKey=...;Version=1.0;
	client, err := webpubsub.NewServiceClientFromConnectionString(e.ConnectionString(), "chat", nil)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := client.GetServiceStatus(context.Background(), nil); err != nil {
		log.Fatal(err)
	}
	fmt.Println("connected to hub", client.Hub())
	// Output:
	// connected to hub chat
}

func ExampleNewServiceClientWithKey() {
	// A service that accepts a second key, as a resource does while its
	// keys are rotated.
	const newKey = "ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210abcdefgh"
	e, err := emulator.New(emulator.Options{SecondaryAccessKey: newKey})
	if err != nil {
		log.Fatal(err)
	}
	if err := e.Start(); err != nil {
		log.Fatal(err)
	}
	defer e.Close()

	cred := azcore.NewKeyCredential(emulator.DefaultAccessKey)
	client, err := webpubsub.NewServiceClientWithKey(e.URL(), "chat", cred, nil)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	_, err = client.SendToAll(ctx, webpubsub.TextMessage("signed with the old key"), nil)
	fmt.Println("old key:", err)

	// Update takes effect on the next request.
	cred.Update(newKey)
	_, err = client.SendToAll(ctx, webpubsub.TextMessage("signed with the new key"), nil)
	fmt.Println("new key:", err)

	cred.Update("a key that the service does not know, 32+ bytes")
	_, err = client.SendToAll(ctx, webpubsub.TextMessage("rejected"), nil)
	var respErr *azcore.ResponseError
	if errors.As(err, &respErr) {
		fmt.Println("unknown key:", respErr.StatusCode)
	}
	// Output:
	// old key: <nil>
	// new key: <nil>
	// unknown key: 401
}

// Microsoft Entra ID: any azcore.TokenCredential, here the credential that
// tries the environment, a managed identity and the Azure CLI in turn. The
// identity needs the Web PubSub Service Owner role on the resource.
func ExampleNewServiceClient() {
	cred, err := azidentity.NewDefaultAzureCredential(nil)
	if err != nil {
		log.Fatal(err)
	}
	client, err := webpubsub.NewServiceClient("https://contoso.webpubsub.azure.com", "chat", cred, nil)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := client.SendToAll(context.Background(), webpubsub.TextMessage("Hello"), nil); err != nil {
		log.Fatal(err)
	}
}

func ExampleServiceClient_SendToAll() {
	client, done := localService()
	defer done()
	alice := connect(client, "alice")
	defer alice.close()
	ctx := context.Background()

	for _, msg := range []webpubsub.Message{
		webpubsub.TextMessage("Hello, everyone"),
		webpubsub.JSONMessage(map[string]any{"temperature": 21.5, "unit": "C"}),
		webpubsub.BinaryMessage([]byte{0xCA, 0xFE}),
	} {
		if _, err := client.SendToAll(ctx, msg, nil); err != nil {
			log.Fatal(err)
		}
		fmt.Println(alice.receive())
	}
	// Output:
	// text "Hello, everyone"
	// json {"temperature":21.5,"unit":"C"}
	// binary cafe
}

// Excluded connections and filters narrow a send.
func ExampleServiceClient_SendToAll_filter() {
	client, done := localService()
	defer done()
	alice, bob := connect(client, "alice"), connect(client, "bob")
	defer alice.close()
	defer bob.close()
	ctx := context.Background()

	_, err := client.SendToAll(ctx, webpubsub.TextMessage("not for bob"), &webpubsub.SendToAllOptions{
		Excluded: []string{bob.connectionID},
	})
	if err != nil {
		log.Fatal(err)
	}
	filter, err := webpubsub.FormatFilter("userId eq {}", "bob")
	if err != nil {
		log.Fatal(err)
	}
	_, err = client.SendToAll(ctx, webpubsub.TextMessage("only for bob"), &webpubsub.SendToAllOptions{Filter: filter})
	if err != nil {
		log.Fatal(err)
	}
	_, err = client.SendToAll(ctx, webpubsub.TextMessage("bye"), nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("alice:", alice.receive(), "then", alice.receive())
	fmt.Println("bob:", bob.receive(), "then", bob.receive())
	// Output:
	// alice: text "not for bob" then text "bye"
	// bob: text "only for bob" then text "bye"
}

// A message to a user reaches each of the user's connections.
func ExampleServiceClient_SendToUser() {
	client, done := localService()
	defer done()
	phone, laptop := connect(client, "alice"), connect(client, "alice")
	defer phone.close()
	defer laptop.close()

	_, err := client.SendToUser(context.Background(), "alice", webpubsub.JSONMessage(map[string]string{"order": "A-1001", "status": "shipped"}), nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("phone: ", phone.receive())
	fmt.Println("laptop:", laptop.receive())
	// Output:
	// phone:  json {"order":"A-1001","status":"shipped"}
	// laptop: json {"order":"A-1001","status":"shipped"}
}

func ExampleServiceClient_SendToGroup() {
	client, done := localService()
	defer done()
	// The clients join group "room1" through their tokens.
	alice, bob := connect(client, "alice", "room1"), connect(client, "bob", "room1")
	defer alice.close()
	defer bob.close()
	ctx := context.Background()

	if _, err := client.SendToGroup(ctx, "room1", webpubsub.TextMessage("Hello, room1"), nil); err != nil {
		log.Fatal(err)
	}
	_, err := client.SendToGroup(ctx, "room1", webpubsub.TextMessage("Hello, everyone but bob"), &webpubsub.SendToGroupOptions{
		Excluded: []string{bob.connectionID},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("alice:", alice.receive())
	fmt.Println("alice:", alice.receive())
	fmt.Println("bob:  ", bob.receive())
	// Output:
	// alice: group room1: text "Hello, room1"
	// alice: group room1: text "Hello, everyone but bob"
	// bob:   group room1: text "Hello, room1"
}

func ExampleServiceClient_SendToConnection() {
	client, done := localService()
	defer done()
	device := connect(client, "")
	defer device.close()

	_, err := client.SendToConnection(context.Background(), device.connectionID, webpubsub.BinaryMessage([]byte{0x01, 0x02, 0x03}), nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(device.receive())
	// Output:
	// binary 010203
}

// Users and connections join and leave groups by the server's decision.
func ExampleServiceClient_AddUserToGroup() {
	client, done := localService()
	defer done()
	alice, bob := connect(client, "alice"), connect(client, "bob")
	defer alice.close()
	defer bob.close()
	ctx := context.Background()

	// Every connection of alice joins; one connection of bob does.
	if _, err := client.AddUserToGroup(ctx, "room1", "alice", nil); err != nil {
		log.Fatal(err)
	}
	if _, err := client.AddConnectionToGroup(ctx, "room1", bob.connectionID, nil); err != nil {
		log.Fatal(err)
	}
	if _, err := client.SendToGroup(ctx, "room1", webpubsub.TextMessage("Welcome"), nil); err != nil {
		log.Fatal(err)
	}
	fmt.Println("alice:", alice.receive())
	fmt.Println("bob:  ", bob.receive())

	if _, err := client.RemoveUserFromGroup(ctx, "room1", "alice", nil); err != nil {
		log.Fatal(err)
	}
	if _, err := client.RemoveConnectionFromGroup(ctx, "room1", bob.connectionID, nil); err != nil {
		log.Fatal(err)
	}
	exists, err := client.GroupExists(ctx, "room1", nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("room1 exists:", exists)
	// Output:
	// alice: group room1: text "Welcome"
	// bob:   group room1: text "Welcome"
	// room1 exists: false
}

// Leaving every group at once, by user or by connection.
func ExampleServiceClient_RemoveUserFromAllGroups() {
	client, done := localService()
	defer done()
	alice, bob := connect(client, "alice", "room1", "room2"), connect(client, "bob", "room2")
	defer alice.close()
	defer bob.close()
	ctx := context.Background()

	if _, err := client.RemoveUserFromAllGroups(ctx, "alice", nil); err != nil {
		log.Fatal(err)
	}
	if _, err := client.RemoveConnectionFromAllGroups(ctx, bob.connectionID, nil); err != nil {
		log.Fatal(err)
	}
	for _, g := range []string{"room1", "room2"} {
		exists, err := client.GroupExists(ctx, g, nil)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(g, "exists:", exists)
	}
	// Output:
	// room1 exists: false
	// room2 exists: false
}

// Batch membership: every connection a filter selects joins or leaves
// several groups in one request.
func ExampleServiceClient_AddConnectionsToGroups() {
	client, done := localService()
	defer done()
	alice, bob, carol := connect(client, "alice"), connect(client, "bob"), connect(client, "carol")
	defer alice.close()
	defer bob.close()
	defer carol.close()
	ctx := context.Background()

	staff, err := webpubsub.FilterIn("userId", []string{"alice", "bob"})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := client.AddConnectionsToGroups(ctx, []string{"staff", "announcements"}, staff, nil); err != nil {
		log.Fatal(err)
	}
	if _, err := client.SendToGroup(ctx, "staff", webpubsub.TextMessage("Staff meeting at 10"), nil); err != nil {
		log.Fatal(err)
	}
	fmt.Println("alice:", alice.receive())
	fmt.Println("bob:  ", bob.receive())

	// An empty filter selects every connection.
	if _, err := client.RemoveConnectionsFromGroups(ctx, []string{"staff", "announcements"}, "", nil); err != nil {
		log.Fatal(err)
	}
	exists, err := client.GroupExists(ctx, "staff", nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("staff exists:", exists)
	// Output:
	// alice: group staff: text "Staff meeting at 10"
	// bob:   group staff: text "Staff meeting at 10"
	// staff exists: false
}

func ExampleServiceClient_NewListConnectionsInGroupPager() {
	client, done := localService()
	defer done()
	for _, user := range []string{"alice", "bob", "carol"} {
		c := connect(client, user, "room1")
		defer c.close()
	}

	pager := client.NewListConnectionsInGroupPager("room1", &webpubsub.ListConnectionsInGroupOptions{MaxPageSize: 2})
	var users []string
	for pager.More() {
		page, err := pager.NextPage(context.Background())
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("page of", len(page.Connections))
		for _, m := range page.Connections {
			users = append(users, m.UserID) // and m.ConnectionID
		}
	}
	slices.Sort(users) // members come in no particular order
	fmt.Println(users)
	// Output:
	// page of 2
	// page of 1
	// [alice bob carol]
}

// Existence checks answer false, not an error, for what does not exist.
func ExampleServiceClient_ConnectionExists() {
	client, done := localService()
	defer done()
	alice := connect(client, "alice", "room1")
	defer alice.close()
	ctx := context.Background()

	for _, id := range []string{alice.connectionID, "no-such-connection"} {
		ok, err := client.ConnectionExists(ctx, id, nil)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("connection:", ok)
	}
	ok, err := client.UserExists(ctx, "alice", nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("user alice:", ok)
	ok, err = client.GroupExists(ctx, "room2", nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("group room2:", ok)
	// Output:
	// connection: true
	// connection: false
	// user alice: true
	// group room2: false
}

// A closed client receives the reason before the WebSocket closes.
func ExampleServiceClient_CloseConnection() {
	client, done := localService()
	defer done()
	alice := connect(client, "alice")
	defer alice.close()
	ctx := context.Background()

	_, err := client.CloseConnection(ctx, alice.connectionID, &webpubsub.CloseConnectionOptions{Reason: "Signed in elsewhere"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(alice.receive())
	ok, err := client.ConnectionExists(ctx, alice.connectionID, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("exists:", ok)
	// Output:
	// disconnected "Signed in elsewhere"
	// exists: false
}

// Closing many connections at once: of a user, of a group, of the hub,
// each with connections to keep open.
func ExampleServiceClient_CloseGroupConnections() {
	client, done := localService()
	defer done()
	alice, bob, carol := connect(client, "alice", "lobby"), connect(client, "bob", "lobby"), connect(client, "carol")
	defer alice.close()
	defer bob.close()
	defer carol.close()
	ctx := context.Background()

	_, err := client.CloseGroupConnections(ctx, "lobby", &webpubsub.CloseGroupConnectionsOptions{
		Excluded: []string{bob.connectionID},
		Reason:   "Lobby closed",
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("alice:", alice.receive())
	if _, err := client.CloseUserConnections(ctx, "bob", &webpubsub.CloseUserConnectionsOptions{Reason: "Signed out"}); err != nil {
		log.Fatal(err)
	}
	fmt.Println("bob:  ", bob.receive())
	if _, err := client.CloseAllConnections(ctx, &webpubsub.CloseAllConnectionsOptions{Reason: "Maintenance"}); err != nil {
		log.Fatal(err)
	}
	fmt.Println("carol:", carol.receive())
	// Output:
	// alice: disconnected "Lobby closed"
	// bob:   disconnected "Signed out"
	// carol: disconnected "Maintenance"
}

// Permissions granted at run time apply to the connection's next request.
func ExampleServiceClient_GrantPermission() {
	client, done := localService()
	defer done()
	alice := connect(client, "alice") // her token has no roles
	defer alice.close()
	ctx := context.Background()
	_, err := alice.JoinGroup(ctx, "room1", nil)
	fmt.Println("join:", outcome(err))

	opts := &webpubsub.GrantPermissionOptions{TargetName: "room1"}
	if _, err := client.GrantPermission(ctx, webpubsub.PermissionJoinLeaveGroup, alice.connectionID, opts); err != nil {
		log.Fatal(err)
	}
	ok, err := client.CheckPermission(ctx, webpubsub.PermissionJoinLeaveGroup, alice.connectionID, &webpubsub.CheckPermissionOptions{TargetName: "room1"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("granted:", ok)
	_, err = alice.JoinGroup(ctx, "room1", nil)
	fmt.Println("join:", outcome(err))

	_, err = client.RevokePermission(ctx, webpubsub.PermissionJoinLeaveGroup, alice.connectionID, &webpubsub.RevokePermissionOptions{TargetName: "room1"})
	if err != nil {
		log.Fatal(err)
	}
	_, err = alice.LeaveGroup(ctx, "room1", nil)
	fmt.Println("leave:", outcome(err))
	// Output:
	// join: Forbidden
	// granted: true
	// join: success
	// leave: Forbidden
}

func ExampleServiceClient_GetServiceStatus() {
	client, done := localService()
	defer done()

	// HEAD /api/health: nil when the service answers 200.
	_, err := client.GetServiceStatus(context.Background(), nil)
	fmt.Println("healthy:", err == nil)
	// Output:
	// healthy: true
}

// A gateway such as Azure API Management in front of the service: the
// client sends every request to ReverseProxyEndpoint, still signed for the
// service. Here the gateway is an httptest server that forwards to the
// emulator, without its "/webpubsub" prefix, and prints what it saw.
func Example_reverseProxy() {
	e, err := emulator.New(emulator.Options{})
	if err != nil {
		log.Fatal(err)
	}
	if err := e.Start(); err != nil {
		log.Fatal(err)
	}
	defer e.Close()

	service, err := url.Parse(e.URL())
	if err != nil {
		log.Fatal(err)
	}
	gateway := httptest.NewServer(&httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		fmt.Println("gateway:", r.In.Method, r.In.URL.Path)
		r.Out.URL.Path = strings.TrimPrefix(r.In.URL.Path, "/webpubsub")
		r.Out.URL.RawPath = ""
		r.SetURL(service)
	}})
	defer gateway.Close()

	client, err := webpubsub.NewServiceClientFromConnectionString(e.ConnectionString(), "chat", &webpubsub.ClientOptions{
		ReverseProxyEndpoint: gateway.URL + "/webpubsub",
	})
	if err != nil {
		log.Fatal(err)
	}
	_, err = client.SendToAll(context.Background(), webpubsub.TextMessage("Hello through the gateway"), nil)
	fmt.Println("sent:", err == nil)
	// Output:
	// gateway: POST /webpubsub/api/hubs/chat/:send
	// sent: true
}

// ---- helpers of the examples ----

// localService starts an in-process emulator (emulator.New and Start) and
// returns a ServiceClient for its hub "chat", and a function that stops it.
func localService() (*webpubsub.ServiceClient, func()) {
	e, err := emulator.New(emulator.Options{})
	if err != nil {
		log.Fatal(err)
	}
	if err := e.Start(); err != nil {
		log.Fatal(err)
	}
	client, err := webpubsub.NewServiceClientFromConnectionString(e.ConnectionString(), "chat", nil)
	if err != nil {
		log.Fatal(err)
	}
	return client, func() { e.Close() }
}

// wsClient is a client of the service, as a browser would connect: a
// webpubsubclient.Client that keeps what it receives, in order, for
// receive.
type wsClient struct {
	*webpubsubclient.Client
	connectionID string
	received     chan string
}

// connect starts a client as userID ("" for anonymous) that joins groups
// on connecting, with a client access URL from client. It does not
// reconnect, so that a connection the server closes stays closed.
func connect(client *webpubsub.ServiceClient, userID string, groups ...string) *wsClient {
	cred := webpubsubclient.URLFunc(func(ctx context.Context) (string, error) {
		tok, err := client.GetClientAccessToken(ctx, &webpubsub.GetClientAccessTokenOptions{UserID: userID, Groups: groups})
		return tok.URL, err
	})
	ws, err := webpubsubclient.New(cred, &webpubsubclient.Options{Protocol: webpubsubclient.ProtocolJSON, DisableAutoReconnect: true})
	if err != nil {
		log.Fatal(err)
	}
	c := &wsClient{Client: ws, received: make(chan string, 16)}
	ws.OnServerMessage(func(m webpubsubclient.ServerMessage) { c.received <- payload(m.DataType, m.Data) })
	ws.OnGroupMessage(func(m webpubsubclient.GroupMessage) {
		c.received <- fmt.Sprintf("group %s: %s", m.Group, payload(m.DataType, m.Data))
	})
	ws.OnDisconnected(func(e webpubsubclient.DisconnectedEvent) { c.received <- fmt.Sprintf("disconnected %q", e.Message) })
	if err := ws.Start(context.Background()); err != nil {
		log.Fatal(err)
	}
	c.connectionID = ws.ConnectionID()
	return c
}

// payload describes a message's data: its data type and the data (text
// quoted, binary in hexadecimal, JSON as is).
func payload(dt webpubsubclient.DataType, data []byte) string {
	switch dt {
	case webpubsubclient.DataTypeText:
		return fmt.Sprintf("text %q", data)
	case webpubsubclient.DataTypeBinary:
		return "binary " + hex.EncodeToString(data)
	}
	return fmt.Sprintf("%s %s", dt, data)
}

// receive describes what the client received next: a message, or the
// reason of a disconnection.
func (c *wsClient) receive() string {
	select {
	case s := <-c.received:
		return s
	case <-time.After(10 * time.Second):
		log.Fatal("nothing received")
		return ""
	}
}

// outcome describes the result of an acknowledged call: "success" or the
// name of the service's error.
func outcome(err error) string {
	var ackErr *webpubsubclient.AckError
	if errors.As(err, &ackErr) {
		return ackErr.Name
	}
	if err != nil {
		log.Fatal(err)
	}
	return "success"
}

func (c *wsClient) close() { c.Stop(context.Background()) }
