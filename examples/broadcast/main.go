// Command broadcast sends messages to every connection of a hub with
// ServiceClient.SendToAll: a text, a JSON and a binary body, then sends
// narrowed by an excluded connection and by OData filters. Three WebSocket
// clients (alice, who is in group "vip", bob, and an anonymous guest) print
// what each of them received.
//
// It runs against the in-process emulator, or against Azure when
// AZURE_WEBPUBSUB_CONNECTION_STRING (and optionally AZURE_WEBPUBSUB_HUB) are
// set. Every connection of the hub receives the unfiltered sends, so use a
// hub of its own:
//
//	go run ./examples/broadcast
package main

import (
	"context"
	"fmt"

	"github.com/gowebpubsub/webpubsub"
	"github.com/gowebpubsub/webpubsub/examples/internal/exampleenv"
)

func run(ctx context.Context, env *exampleenv.Env) error {
	// Three clients: alice joins group "vip" through her token, bob has no
	// group, and the guest connects without a user id.
	clients, err := env.ConnectAll(ctx, "alice (group vip), bob, and an anonymous guest",
		exampleenv.ClientSpec{Name: "alice", Token: &webpubsub.GetClientAccessTokenOptions{UserID: "alice", Groups: []string{"vip"}}},
		exampleenv.ClientSpec{Name: "bob", Token: &webpubsub.GetClientAccessTokenOptions{UserID: "bob"}},
		exampleenv.ClientSpec{Name: "guest"},
	)
	if err != nil {
		return err
	}
	alice, bob, guest := clients[0], clients[1], clients[2]

	client := env.Service

	// 1. The three kinds of body. Everyone receives them.
	fmt.Println("SendToAll: text, JSON and binary")
	if _, err := client.SendToAll(ctx, webpubsub.TextMessage("Hello, everyone"), nil); err != nil {
		return err
	}
	score := map[string]any{"home": 2, "away": 1, "final": true}
	if _, err := client.SendToAll(ctx, webpubsub.JSONMessage(score), nil); err != nil {
		return err
	}
	if _, err := client.SendToAll(ctx, webpubsub.BinaryMessage([]byte{0xCA, 0xFE}), nil); err != nil {
		return err
	}

	// 2. Excluded connections do not receive the message.
	fmt.Println("SendToAll excluding bob's connection")
	if _, err := client.SendToAll(ctx, webpubsub.TextMessage("Not for bob"), &webpubsub.SendToAllOptions{
		Excluded: []string{bob.ConnectionID()},
	}); err != nil {
		return err
	}

	// 3. A filter selects the connections by userId, connectionId and
	// groups. FilterIn and FormatFilter quote the values.
	users, err := webpubsub.FilterIn("userId", []string{"alice", "bob"})
	if err != nil {
		return err
	}
	vip, err := webpubsub.FormatFilter("{} in groups", "vip")
	if err != nil {
		return err
	}
	for _, f := range []struct{ filter, text string }{
		{users, "For signed-in users"},
		{vip, "For VIPs"},
		{"not (" + vip + ")", "For everyone but VIPs"},
	} {
		fmt.Printf("SendToAll with filter %s\n", f.filter)
		if _, err := client.SendToAll(ctx, webpubsub.TextMessage(f.text), &webpubsub.SendToAllOptions{Filter: f.filter}); err != nil {
			return err
		}
	}

	// 4. Each client prints what it received, up to the last message.
	if err := env.PrintReceived(ctx, alice, bob, guest); err != nil {
		return err
	}
	return nil
}

func main() { exampleenv.Main("broadcast", run) }
