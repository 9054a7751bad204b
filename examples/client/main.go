// Command client shows the Go Web PubSub client end to end: a token
// function backed by the service client, event handlers, Start, joining a
// group, publishing to it, receiving group and server messages, and Stop.
// Everything that happens is printed.
//
// It runs against the in-process emulator, or against Azure when
// AZURE_WEBPUBSUB_CONNECTION_STRING (and optionally AZURE_WEBPUBSUB_HUB) are
// set:
//
//	go run ./examples/client
package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/gowebpubsub/webpubsub"
	"github.com/gowebpubsub/webpubsub/examples/internal/exampleenv"
	"github.com/gowebpubsub/webpubsub/webpubsubclient"
)

func run(ctx context.Context, env *exampleenv.Env) error {
	// 1. The credential is a function: it is called for every new
	// connection, so a reconnect never uses an expired token. Here the
	// server side (env.Service, a ServiceClient) mints the client access
	// URL; a real application does this on its server and hands the URL to
	// the client over HTTPS.
	cred := webpubsubclient.URLFunc(func(ctx context.Context) (string, error) {
		tok, err := env.Service.GetClientAccessToken(ctx, &webpubsub.GetClientAccessTokenOptions{
			UserID: "alice",
			Roles:  []string{"webpubsub.joinLeaveGroup", "webpubsub.sendToGroup"},
		})
		return tok.URL, err
	})
	client, err := webpubsubclient.New(cred, nil) // the reliable protocol by default
	if err != nil {
		return err
	}

	// 2. Handlers run one at a time, in order, on the client's own goroutine.
	// The channels let this goroutine wait for them, so that the output
	// comes in a fixed order.
	connected := make(chan webpubsubclient.ConnectedEvent, 1)
	groupMessages := make(chan webpubsubclient.GroupMessage, 1)
	serverMessages := make(chan webpubsubclient.ServerMessage, 1)
	stopped := make(chan struct{})
	client.OnConnected(func(e webpubsubclient.ConnectedEvent) {
		fmt.Printf("Connected: connectionId=%s userId=%s\n", e.ConnectionID, e.UserID)
		connected <- e
	})
	client.OnDisconnected(func(e webpubsubclient.DisconnectedEvent) {
		fmt.Printf("Disconnected: connectionId=%s\n", e.ConnectionID)
	})
	client.OnStopped(func(webpubsubclient.StoppedEvent) {
		fmt.Println("Stopped")
		close(stopped)
	})
	client.OnGroupMessage(func(m webpubsubclient.GroupMessage) {
		fmt.Printf("Group message in %s from %s (%s): %s\n", m.Group, m.FromUserID, m.DataType, m.Data)
		groupMessages <- m
	})
	client.OnServerMessage(func(m webpubsubclient.ServerMessage) {
		fmt.Printf("Server message (%s): %s\n", m.DataType, m.Data)
		serverMessages <- m
	})
	client.OnRejoinGroupFailed(func(e webpubsubclient.RejoinGroupFailedEvent) {
		fmt.Printf("Could not rejoin group %s: %v\n", e.Group, e.Err)
	})

	// 3. Start returns once the service has said "connected".
	if err := client.Start(ctx); err != nil {
		var he *webpubsubclient.HandshakeError
		if errors.As(err, &he) {
			return fmt.Errorf("the service refused the connection (HTTP %d): %s", he.StatusCode, he.Message)
		}
		return err
	}
	if _, err := receive(ctx, connected); err != nil {
		return err
	}
	fmt.Println("Started; state:", client.State())

	// 4. Join a group and publish to it; both wait for the service's ack.
	res, err := client.JoinGroup(ctx, "demo", nil)
	if err != nil {
		return err
	}
	fmt.Printf("Joined group demo (ack %d)\n", res.AckID)
	res, err = client.SendToGroup(ctx, "demo", webpubsubclient.TextMessage("Hello from the Go client"), nil)
	if err != nil {
		return err
	}
	if _, err := receive(ctx, groupMessages); err != nil { // the echo
		return err
	}
	fmt.Printf("Sent to group demo (ack %d, duplicate: %v)\n", res.AckID, res.Duplicated)

	// 5. The server sends to this connection through the REST API.
	if _, err := env.Service.SendToConnection(ctx, client.ConnectionID(), webpubsub.JSONMessage(map[string]string{"greeting": "Hello, alice"}), nil); err != nil {
		return err
	}
	if _, err := receive(ctx, serverMessages); err != nil {
		return err
	}

	// 6. Stop closes the connection and waits for the last events.
	if err := client.Stop(ctx); err != nil {
		return err
	}
	<-stopped
	return nil
}

func receive[T any](ctx context.Context, ch <-chan T) (T, error) {
	select {
	case v := <-ch:
		return v, nil
	case <-ctx.Done():
		var zero T
		return zero, fmt.Errorf("waiting for a message: %w", ctx.Err())
	}
}

func main() { exampleenv.Main("client", run) }
