// Command send-to-user sends messages to one user, who is connected from
// two devices: ServiceClient.SendToUser reaches every connection of the
// user, a filter narrows it to some of them, and SendToConnection reaches
// exactly one. A user without connections is not an error. Three WebSocket
// clients (alice's phone and laptop, and bob) print what each received.
//
// It runs against the in-process emulator, or against Azure when
// AZURE_WEBPUBSUB_CONNECTION_STRING (and optionally AZURE_WEBPUBSUB_HUB) are
// set:
//
//	go run ./examples/send-to-user
package main

import (
	"context"
	"fmt"

	"github.com/gowebpubsub/webpubsub"
	"github.com/gowebpubsub/webpubsub/examples/internal/exampleenv"
)

func run(ctx context.Context, env *exampleenv.Env) error {
	// alice connects from two devices with the same user id; bob from one.
	alice := &webpubsub.GetClientAccessTokenOptions{UserID: "alice"}
	clients, err := env.ConnectAll(ctx, "alice twice (phone and laptop), bob once",
		exampleenv.ClientSpec{Name: "alice's phone", Token: alice},
		exampleenv.ClientSpec{Name: "alice's laptop", Token: alice},
		exampleenv.ClientSpec{Name: "bob", Token: &webpubsub.GetClientAccessTokenOptions{UserID: "bob"}},
	)
	if err != nil {
		return err
	}
	phone, laptop, bob := clients[0], clients[1], clients[2]

	// 1. To every connection of alice.
	client := env.Service
	fmt.Println("SendToUser alice: text")
	if _, err := client.SendToUser(ctx, "alice", webpubsub.TextMessage("Hi alice, on all your devices"), nil); err != nil {
		return err
	}

	// 2. To the connections of alice that a filter selects: her phone.
	onPhone, err := webpubsub.FormatFilter("connectionId eq {}", phone.ConnectionID())
	if err != nil {
		return err
	}
	fmt.Println("SendToUser alice with a filter on her phone's connection id: JSON")
	if _, err := client.SendToUser(ctx, "alice", webpubsub.JSONMessage(map[string]string{"notification": "Your order has shipped"}), &webpubsub.SendToUserOptions{
		Filter: onPhone,
	}); err != nil {
		return err
	}

	// 3. To one connection: her laptop.
	fmt.Println("SendToConnection alice's laptop: binary")
	if _, err := client.SendToConnection(ctx, laptop.ConnectionID(), webpubsub.BinaryMessage([]byte{0xCA, 0xFE}), nil); err != nil {
		return err
	}

	// 4. A user without connections: the send is accepted and goes nowhere.
	if _, err := client.SendToUser(ctx, "carol", webpubsub.TextMessage("Hi carol"), nil); err != nil {
		return err
	}
	fmt.Println("SendToUser carol: accepted, although carol has no connection")
	for _, user := range []string{"alice", "carol"} {
		ok, err := client.UserExists(ctx, user, nil)
		if err != nil {
			return err
		}
		fmt.Printf("UserExists %s: %v\n", user, ok)
	}

	// 5. Each client prints what it received, up to the last message.
	if err := env.PrintReceived(ctx, phone, laptop, bob); err != nil {
		return err
	}
	return nil
}

func main() { exampleenv.Main("send_to_user", run) }
