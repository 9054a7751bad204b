// Command connections checks which connections, users and groups exist and
// closes connections from the server with a reason: one connection, every
// connection of a user, of a group less an excluded one, and of the whole
// hub less an excluded one. Each WebSocket client prints the "disconnected"
// frame it receives, with the reason, and the WebSocket close.
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
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/gowebpubsub/webpubsub"
	"github.com/gowebpubsub/webpubsub/examples/internal/exampleenv"
)

func main() {
	if err := run(); err != nil {
		log.Printf("connections: %v", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	env, err := exampleenv.Setup("connections")
	if err != nil {
		return err
	}
	defer env.Close()
	fmt.Println("Using", env.Describe(), "hub", env.Hub)

	client, err := webpubsub.NewServiceClientFromConnectionString(env.ConnectionString, env.Hub, nil)
	if err != nil {
		return err
	}

	// alice connects from two devices, bob and carol are in group
	// "lobby", dave is on his own.
	var clients []*exampleenv.Client
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	connect := func(name string, opts *webpubsub.GetClientAccessTokenOptions) (*exampleenv.Client, error) {
		c, err := exampleenv.Connect(ctx, client, name, opts)
		if err == nil {
			clients = append(clients, c)
		}
		return c, err
	}
	alice := &webpubsub.GetClientAccessTokenOptions{UserID: "alice"}
	lobby := []string{"lobby"}
	phone, err := connect("alice's phone", alice)
	if err != nil {
		return err
	}
	laptop, err := connect("alice's laptop", alice)
	if err != nil {
		return err
	}
	bob, err := connect("bob", &webpubsub.GetClientAccessTokenOptions{UserID: "bob", Groups: lobby})
	if err != nil {
		return err
	}
	carol, err := connect("carol", &webpubsub.GetClientAccessTokenOptions{UserID: "carol", Groups: lobby})
	if err != nil {
		return err
	}
	dave, err := connect("dave", &webpubsub.GetClientAccessTokenOptions{UserID: "dave"})
	if err != nil {
		return err
	}
	fmt.Println("Connected: alice twice (phone and laptop), bob and carol (group lobby), dave")

	// 1. Existence checks answer true or false; a 404 is not an error.
	if err := printExists(ctx, client, phone, "alice", "lobby"); err != nil {
		return err
	}
	ok, err := client.ConnectionExists(ctx, "no-such-connection", nil)
	if err != nil {
		return err
	}
	fmt.Printf("ConnectionExists no-such-connection: %v\n", ok)

	// 2. One connection. The client receives the reason.
	fmt.Println("CloseConnection alice's phone")
	if _, err := client.CloseConnection(ctx, phone.ConnectionID, &webpubsub.CloseConnectionOptions{
		Reason: "Signed in on another device",
	}); err != nil {
		return err
	}
	if err := printClosed(ctx, phone); err != nil {
		return err
	}
	if err := printExists(ctx, client, phone, "alice", "lobby"); err != nil {
		return err
	}

	// 3. Every connection of a user.
	fmt.Println("CloseUserConnections alice")
	if _, err := client.CloseUserConnections(ctx, "alice", &webpubsub.CloseUserConnectionsOptions{
		Reason: "Account signed out",
	}); err != nil {
		return err
	}
	if err := printClosed(ctx, laptop); err != nil {
		return err
	}

	// 4. Every connection of a group, except bob's.
	fmt.Println("CloseGroupConnections lobby, excluding bob")
	if _, err := client.CloseGroupConnections(ctx, "lobby", &webpubsub.CloseGroupConnectionsOptions{
		Excluded: []string{bob.ConnectionID},
		Reason:   "Lobby closed",
	}); err != nil {
		return err
	}
	if err := printClosed(ctx, carol); err != nil {
		return err
	}

	// 5. Every connection of the hub, except dave's.
	fmt.Println("CloseAllConnections, excluding dave")
	if _, err := client.CloseAllConnections(ctx, &webpubsub.CloseAllConnectionsOptions{
		Excluded: []string{dave.ConnectionID},
		Reason:   "Server maintenance",
	}); err != nil {
		return err
	}
	if err := printClosed(ctx, bob); err != nil {
		return err
	}
	for _, user := range []string{"alice", "bob", "carol", "dave"} {
		ok, err := client.UserExists(ctx, user, nil)
		if err != nil {
			return err
		}
		fmt.Printf("UserExists %s: %v\n", user, ok)
	}
	fmt.Println("Done.")
	return nil
}

// printExists prints whether a connection, a user and a group exist.
func printExists(ctx context.Context, client *webpubsub.ServiceClient, c *exampleenv.Client, user, group string) error {
	conn, err := client.ConnectionExists(ctx, c.ConnectionID, nil)
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
	fmt.Printf("ConnectionExists %s: %v, UserExists %s: %v, GroupExists %s: %v\n", c.Name, conn, user, usr, group, grp)
	return nil
}

// printClosed prints what a client receives when the service closes it: a
// "disconnected" frame with the reason, then the WebSocket close.
func printClosed(ctx context.Context, c *exampleenv.Client) error {
	for {
		f, err := c.Read(ctx)
		var closed *exampleenv.ClosedError
		if errors.As(err, &closed) {
			fmt.Printf("  %s: WebSocket closed with status %d\n", c.Name, closed.Code)
			return nil
		}
		if err != nil {
			return err
		}
		fmt.Printf("  %s: %s\n", c.Name, f)
	}
}
