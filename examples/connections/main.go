// Command connections checks which connections, users and groups exist and
// closes connections from the server with a reason: one connection, every
// connection of a user, of a group less an excluded one, and of the whole
// hub less an excluded one. Each client (a webpubsubclient.Client that does
// not reconnect) prints the Disconnected event it gets, with the reason, and
// that it stopped.
//
// It runs against the in-process emulator, or against Azure when
// AZURE_WEBPUBSUB_CONNECTION_STRING (and optionally AZURE_WEBPUBSUB_HUB) are
// set. CloseAllConnections closes every other connection of the hub too, so
// use a hub of its own:
//
//	go run ./examples/connections
package main

import (
	"context"
	"fmt"

	"github.com/gowebpubsub/webpubsub"
	"github.com/gowebpubsub/webpubsub/examples/internal/exampleenv"
	"github.com/gowebpubsub/webpubsub/webpubsubclient"
)

func run(ctx context.Context, env *exampleenv.Env) error {
	// alice connects from two devices, bob and carol are in group
	// "lobby", dave is on his own.
	alice := &webpubsub.GetClientAccessTokenOptions{UserID: "alice"}
	lobby := []string{"lobby"}
	clients, err := env.ConnectAll(ctx, "alice twice (phone and laptop), bob and carol (group lobby), dave",
		exampleenv.ClientSpec{Name: "alice's phone", Token: alice},
		exampleenv.ClientSpec{Name: "alice's laptop", Token: alice},
		exampleenv.ClientSpec{Name: "bob", Token: &webpubsub.GetClientAccessTokenOptions{UserID: "bob", Groups: lobby}},
		exampleenv.ClientSpec{Name: "carol", Token: &webpubsub.GetClientAccessTokenOptions{UserID: "carol", Groups: lobby}},
		exampleenv.ClientSpec{Name: "dave", Token: &webpubsub.GetClientAccessTokenOptions{UserID: "dave"}},
	)
	if err != nil {
		return err
	}
	phone, laptop, bob, carol, dave := clients[0], clients[1], clients[2], clients[3], clients[4]

	client := env.Service
	// A stopped client has no connection id: keep the phone's.
	phoneID := phone.ConnectionID()

	// 1. Existence checks answer true or false; a 404 is not an error.
	if err := printExists(ctx, client, phone.Name, phoneID, "alice", "lobby"); err != nil {
		return err
	}
	ok, err := client.ConnectionExists(ctx, "no-such-connection", nil)
	if err != nil {
		return err
	}
	fmt.Printf("ConnectionExists no-such-connection: %v\n", ok)

	// 2. One connection. The client receives the reason.
	fmt.Println("CloseConnection alice's phone")
	if _, err := client.CloseConnection(ctx, phoneID, &webpubsub.CloseConnectionOptions{
		Reason: "Signed in on another device",
	}); err != nil {
		return err
	}
	if err := printClosed(ctx, phone); err != nil {
		return err
	}
	if err := printExists(ctx, client, phone.Name, phoneID, "alice", "lobby"); err != nil {
		return err
	}

	// 3. Every connection of a user; 4. of a group, except bob's; 5. of
	// the hub, except dave's. The client each one closes prints what it
	// receives.
	for _, step := range []struct {
		title  string
		close  func() error
		closed *exampleenv.Client
	}{
		{"CloseUserConnections alice", func() error {
			_, err := client.CloseUserConnections(ctx, "alice", &webpubsub.CloseUserConnectionsOptions{Reason: "Account signed out"})
			return err
		}, laptop},
		{"CloseGroupConnections lobby, excluding bob", func() error {
			_, err := client.CloseGroupConnections(ctx, "lobby", &webpubsub.CloseGroupConnectionsOptions{
				Excluded: []string{bob.ConnectionID()},
				Reason:   "Lobby closed",
			})
			return err
		}, carol},
		{"CloseAllConnections, excluding dave", func() error {
			_, err := client.CloseAllConnections(ctx, &webpubsub.CloseAllConnectionsOptions{
				Excluded: []string{dave.ConnectionID()},
				Reason:   "Server maintenance",
			})
			return err
		}, bob},
	} {
		fmt.Println(step.title)
		if err := step.close(); err != nil {
			return err
		}
		if err := printClosed(ctx, step.closed); err != nil {
			return err
		}
	}
	for _, user := range []string{"alice", "bob", "carol", "dave"} {
		ok, err := client.UserExists(ctx, user, nil)
		if err != nil {
			return err
		}
		fmt.Printf("UserExists %s: %v\n", user, ok)
	}
	return nil
}

// printExists prints whether a connection (of the client named name), a
// user and a group exist.
func printExists(ctx context.Context, client *webpubsub.ServiceClient, name, connectionID, user, group string) error {
	conn, err := client.ConnectionExists(ctx, connectionID, nil)
	if err != nil {
		return err
	}
	usr, err := client.UserExists(ctx, user, nil)
	if err != nil {
		return err
	}
	grp, err := client.GroupExists(ctx, group, nil)
	if err != nil {
		return err
	}
	fmt.Printf("ConnectionExists %s: %v, UserExists %s: %v, GroupExists %s: %v\n", name, conn, user, usr, group, grp)
	return nil
}

// printClosed prints what a client receives when the service closes it: a
// Disconnected event with the reason, then, since it does not reconnect,
// its Stopped event.
func printClosed(ctx context.Context, c *exampleenv.Client) error {
	for {
		ev, err := c.Next(ctx)
		if err != nil {
			return err
		}
		fmt.Printf("  %s: %s\n", c.Name, exampleenv.Describe(ev))
		if _, ok := ev.(webpubsubclient.StoppedEvent); ok {
			return nil
		}
	}
}

func main() { exampleenv.Main("connections", run) }
