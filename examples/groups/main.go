// Command groups manages group membership from the server: it adds a user
// and a connection to a group, lists the members page by page, sends to the
// group (all of it, less an excluded connection, through a filter), adds and
// removes connections in batch by a filter, and removes members until the
// groups are gone. Three WebSocket clients (alice, bob and carol, who joins
// group "lobby" through her token) print what each received.
//
// It runs against the in-process emulator, or against Azure when
// AZURE_WEBPUBSUB_CONNECTION_STRING (and optionally AZURE_WEBPUBSUB_HUB) are
// set:
//
//	go run ./examples/groups
package main

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/gowebpubsub/webpubsub"
	"github.com/gowebpubsub/webpubsub/examples/internal/exampleenv"
)

func run(ctx context.Context, env *exampleenv.Env) error {
	clients, err := env.ConnectAll(ctx, "alice, bob, and carol (group lobby)",
		exampleenv.ClientSpec{Name: "alice", Token: &webpubsub.GetClientAccessTokenOptions{UserID: "alice"}},
		exampleenv.ClientSpec{Name: "bob", Token: &webpubsub.GetClientAccessTokenOptions{UserID: "bob"}},
		exampleenv.ClientSpec{Name: "carol", Token: &webpubsub.GetClientAccessTokenOptions{UserID: "carol", Groups: []string{"lobby"}}},
	)
	if err != nil {
		return err
	}
	alice, bob, carol := clients[0], clients[1], clients[2]

	// 1. Add a user (all her connections) and a single connection.
	client := env.Service
	if _, err := client.AddUserToGroup(ctx, "room1", "alice", nil); err != nil {
		return err
	}
	if _, err := client.AddConnectionToGroup(ctx, "room1", bob.ConnectionID(), nil); err != nil {
		return err
	}
	fmt.Println("Added user alice and bob's connection to room1")
	if err := printGroups(ctx, client, "room1"); err != nil {
		return err
	}
	if err := listMembers(ctx, client, "room1"); err != nil {
		return err
	}

	// 2. Send to the group: to every member, less an excluded connection,
	// to the members a filter selects.
	fmt.Println("SendToGroup room1: to all members, excluding bob, filtered to bob")
	if _, err := client.SendToGroup(ctx, "room1", webpubsub.TextMessage("Hello, room1"), nil); err != nil {
		return err
	}
	if _, err := client.SendToGroup(ctx, "room1", webpubsub.TextMessage("Not for bob"), &webpubsub.SendToGroupOptions{
		Excluded: []string{bob.ConnectionID()},
	}); err != nil {
		return err
	}
	onlyBob, err := webpubsub.FormatFilter("userId eq {}", "bob")
	if err != nil {
		return err
	}
	if _, err := client.SendToGroup(ctx, "room1", webpubsub.JSONMessage(map[string]string{"to": "bob"}), &webpubsub.SendToGroupOptions{
		Filter: onlyBob,
	}); err != nil {
		return err
	}

	// 3. Batch: add every connection a filter selects to several groups at
	// once, then remove some of them again.
	bobAndCarol, err := webpubsub.FilterIn("userId", []string{"bob", "carol"})
	if err != nil {
		return err
	}
	onlyCarol, err := webpubsub.FormatFilter("userId eq {}", "carol")
	if err != nil {
		return err
	}
	if _, err := client.AddConnectionsToGroups(ctx, []string{"room2", "room3"}, bobAndCarol, nil); err != nil {
		return err
	}
	if err := showBatch(ctx, client, "AddConnectionsToGroups", bobAndCarol, "Hello, room2"); err != nil {
		return err
	}
	if _, err := client.RemoveConnectionsFromGroups(ctx, []string{"room2", "room3"}, onlyCarol, nil); err != nil {
		return err
	}
	if err := showBatch(ctx, client, "RemoveConnectionsFromGroups", onlyCarol, "Hello again, room2"); err != nil {
		return err
	}

	// 4. Remove members one way or another; a group without members is gone.
	if _, err := client.RemoveUserFromGroup(ctx, "room1", "alice", nil); err != nil {
		return err
	}
	if _, err := client.RemoveConnectionFromGroup(ctx, "room1", bob.ConnectionID(), nil); err != nil {
		return err
	}
	if _, err := client.RemoveUserFromAllGroups(ctx, "bob", nil); err != nil {
		return err
	}
	if _, err := client.RemoveConnectionFromAllGroups(ctx, carol.ConnectionID(), nil); err != nil {
		return err
	}
	fmt.Println("Removed alice and bob's connection from room1, bob from all groups, carol's connection from all groups")
	if err := printGroups(ctx, client, "room1", "room2", "room3", "lobby"); err != nil {
		return err
	}

	// 5. Each client prints what it received, up to the last message.
	if err := env.PrintReceived(ctx, alice, bob, carol); err != nil {
		return err
	}
	return nil
}

// printGroups prints whether each group exists (has at least one member).
func printGroups(ctx context.Context, client *webpubsub.ServiceClient, groups ...string) error {
	for _, g := range groups {
		ok, err := client.GroupExists(ctx, g, nil)
		if err != nil {
			return err
		}
		fmt.Printf("GroupExists %s: %v\n", g, ok)
	}
	return nil
}

// showBatch prints which batch operation (op, with filter) changed room2
// and room3, and shows its effect on room2: the members it lists, and a
// message, hello, that only they receive.
func showBatch(ctx context.Context, client *webpubsub.ServiceClient, op, filter, hello string) error {
	fmt.Printf("%s room2, room3 with filter %s\n", op, filter)
	if err := listMembers(ctx, client, "room2"); err != nil {
		return err
	}
	_, err := client.SendToGroup(ctx, "room2", webpubsub.TextMessage(hello), nil)
	return err
}

// listMembers lists the members of group with the pager, one connection
// per page to show the paging; a real application asks for up to 200.
func listMembers(ctx context.Context, client *webpubsub.ServiceClient, group string) error {
	pager := client.NewListConnectionsInGroupPager(group, &webpubsub.ListConnectionsInGroupOptions{MaxPageSize: 1})
	var users []string
	pages := 0
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return err
		}
		pages++
		for _, m := range page.Connections {
			users = append(users, m.UserID)
		}
	}
	sort.Strings(users) // the service lists members in no particular order
	fmt.Printf("Members of %s: %s (pages: %d)\n", group, strings.Join(users, ", "), pages)
	return nil
}

func main() { exampleenv.Main("groups", run) }
