// Command quickstart shows Azure Web PubSub end to end: a ServiceClient gets
// a client access URL, a Go WebSocket client (package webpubsubclient)
// connects with it and joins a group, and the server sends to all, to the
// user, to the group and to the connection. Everything the client receives
// is printed.
//
// It runs against the in-process emulator, or against Azure when
// AZURE_WEBPUBSUB_CONNECTION_STRING (and optionally AZURE_WEBPUBSUB_HUB) are set:
//
//	go run ./examples/quickstart
package main

import (
	"context"
	"fmt"

	"github.com/gowebpubsub/webpubsub"
	"github.com/gowebpubsub/webpubsub/examples/internal/exampleenv"
	"github.com/gowebpubsub/webpubsub/webpubsubclient"
)

func run(ctx context.Context, env *exampleenv.Env) error {
	// 1. The server side: env.Service, a ServiceClient bound to the hub,
	// gets a client access URL for user "alice", allowed to join and leave groups.
	tok, err := env.Service.GetClientAccessToken(ctx, &webpubsub.GetClientAccessTokenOptions{
		UserID: "alice",
		Roles:  []string{"webpubsub.joinLeaveGroup"},
	})
	if err != nil {
		return err
	}
	fmt.Println("Client URL:", tok.BaseURL+"?access_token=...")

	// 2. A client connects with it, as a browser would, and prints what it
	// receives. It speaks the JSON subprotocol and does not reconnect.
	client, err := webpubsubclient.New(webpubsubclient.StaticURL(tok.URL), &webpubsubclient.Options{
		Protocol:             webpubsubclient.ProtocolJSON,
		DisableAutoReconnect: true,
	})
	if err != nil {
		return err
	}
	received := make(chan string, 8)
	client.OnServerMessage(func(m webpubsubclient.ServerMessage) {
		received <- "from server: " + exampleenv.Payload(m.DataType, m.Data)
	})
	client.OnGroupMessage(func(m webpubsubclient.GroupMessage) {
		received <- "from group " + m.Group + ": " + exampleenv.Payload(m.DataType, m.Data)
	})
	client.OnDisconnected(func(e webpubsubclient.DisconnectedEvent) {
		received <- fmt.Sprintf("disconnected: %q", e.Message)
	})
	if err := client.Start(ctx); err != nil {
		return err
	}
	defer client.Stop(context.Background())
	connID := client.ConnectionID()
	fmt.Println("Connected: connectionId=" + connID)

	// 3. The client joins group "demo" and waits for the ack.
	res, err := client.JoinGroup(ctx, "demo", nil)
	if err != nil {
		return err
	}
	fmt.Printf("Joined group demo: ack %d\n", res.AckID)

	// 4. The server sends four messages, one per kind of target.
	if _, err := env.Service.SendToAll(ctx, webpubsub.TextMessage("Hello, everyone"), nil); err != nil {
		return err
	}
	if _, err := env.Service.SendToUser(ctx, "alice", webpubsub.JSONMessage(map[string]string{"greeting": "Hello, alice"}), nil); err != nil {
		return err
	}
	if _, err := env.Service.SendToGroup(ctx, "demo", webpubsub.TextMessage("Hello, group demo"), nil); err != nil {
		return err
	}
	if _, err := env.Service.SendToConnection(ctx, connID, webpubsub.BinaryMessage([]byte{0xCA, 0xFE}), nil); err != nil {
		return err
	}
	if err := printReceived(ctx, received, 4); err != nil {
		return err
	}

	// 5. The server closes the connection; the client learns why.
	if _, err := env.Service.CloseConnection(ctx, connID, &webpubsub.CloseConnectionOptions{Reason: "quickstart done"}); err != nil {
		return err
	}
	return printReceived(ctx, received, 1)
}

// printReceived prints the next n things the client received.
func printReceived(ctx context.Context, received <-chan string, n int) error {
	for range n {
		select {
		case line := <-received:
			fmt.Println("Received", line)
		case <-ctx.Done():
			return fmt.Errorf("waiting for a message: %w", ctx.Err())
		}
	}
	return nil
}

func main() { exampleenv.Main("quickstart", run) }
