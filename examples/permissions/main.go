// Command permissions grants, checks and revokes a connection's group
// permissions at run time. alice connects with a token that has no roles:
// her requests to join group "room1" and to send to it are Forbidden until
// the server grants her joinLeaveGroup and sendToGroup on room1, and
// Forbidden again once sendToGroup is revoked. bob, a member of room1
// through his token, prints the group message he receives.
//
// It runs against the in-process emulator, or against Azure when
// AZURE_WEBPUBSUB_CONNECTION_STRING (and optionally AZURE_WEBPUBSUB_HUB) are
// set:
//
//	go run ./examples/permissions
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/gowebpubsub/webpubsub"
	"github.com/gowebpubsub/webpubsub/examples/internal/exampleenv"
)

func main() {
	if err := run(); err != nil {
		log.Printf("permissions: %v", err)
		os.Exit(1)
	}
}

// endOfDemo is the last message sent: a client that reads it has received
// everything sent to it before.
const endOfDemo = "end of demo"

// room1 is the group alice wants to join and send to.
const room1 = "room1"

func run() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	env, err := exampleenv.Setup("permissions")
	if err != nil {
		return err
	}
	defer env.Close()
	fmt.Println("Using", env.Describe(), "hub", env.Hub)

	client, err := webpubsub.NewServiceClientFromConnectionString(env.ConnectionString, env.Hub, nil)
	if err != nil {
		return err
	}

	// alice's token has no roles: she may not join or send to any group.
	alice, err := exampleenv.Connect(ctx, client, "alice", &webpubsub.GetClientAccessTokenOptions{UserID: "alice"})
	if err != nil {
		return err
	}
	defer alice.Close()
	bob, err := exampleenv.Connect(ctx, client, "bob", &webpubsub.GetClientAccessTokenOptions{UserID: "bob", Groups: []string{room1}})
	if err != nil {
		return err
	}
	defer bob.Close()
	fmt.Println("Connected: alice (no roles), bob (group room1)")

	// The two requests alice makes, as frames of the JSON subprotocol.
	join := map[string]any{"type": "joinGroup", "group": room1}
	send := map[string]any{"type": "sendToGroup", "group": room1, "dataType": "text", "data": "Hi room1, it's alice", "noEcho": true}

	// 1. Without a permission the service refuses the request.
	if err := request(ctx, alice, 1, join, false); err != nil {
		return err
	}
	if err := check(ctx, client, webpubsub.PermissionJoinLeaveGroup, alice, room1); err != nil {
		return err
	}

	// 2. Grant joinLeaveGroup on room1: the next request succeeds.
	if _, err := client.GrantPermission(ctx, webpubsub.PermissionJoinLeaveGroup, alice.ConnectionID, &webpubsub.GrantPermissionOptions{
		TargetName: room1,
	}); err != nil {
		return err
	}
	fmt.Println("GrantPermission joinLeaveGroup on room1 to alice")
	if err := check(ctx, client, webpubsub.PermissionJoinLeaveGroup, alice, room1); err != nil {
		return err
	}
	if err := request(ctx, alice, 2, join, true); err != nil {
		return err
	}

	// 3. Sending to the group needs sendToGroup as well.
	if err := request(ctx, alice, 3, send, false); err != nil {
		return err
	}
	if _, err := client.GrantPermission(ctx, webpubsub.PermissionSendToGroup, alice.ConnectionID, &webpubsub.GrantPermissionOptions{
		TargetName: room1,
	}); err != nil {
		return err
	}
	fmt.Println("GrantPermission sendToGroup on room1 to alice")
	if err := check(ctx, client, webpubsub.PermissionSendToGroup, alice, room1); err != nil {
		return err
	}
	if err := request(ctx, alice, 4, send, true); err != nil {
		return err
	}

	// 4. Revoke sendToGroup: alice is refused again.
	if _, err := client.RevokePermission(ctx, webpubsub.PermissionSendToGroup, alice.ConnectionID, &webpubsub.RevokePermissionOptions{
		TargetName: room1,
	}); err != nil {
		return err
	}
	fmt.Println("RevokePermission sendToGroup on room1 from alice")
	if err := check(ctx, client, webpubsub.PermissionSendToGroup, alice, room1); err != nil {
		return err
	}
	if err := request(ctx, alice, 5, send, false); err != nil {
		return err
	}

	// 5. A connection that does not exist is a service error with a code.
	_, err = client.GrantPermission(ctx, webpubsub.PermissionSendToGroup, "no-such-connection", nil)
	var respErr *azcore.ResponseError
	if !errors.As(err, &respErr) {
		return fmt.Errorf("GrantPermission to a missing connection: expected an *azcore.ResponseError, got %v", err)
	}
	fmt.Printf("GrantPermission to no-such-connection: status %d, error code %s\n", respErr.StatusCode, respErr.ErrorCode)

	// 6. bob received the one message alice was allowed to send.
	if _, err := client.SendToAll(ctx, webpubsub.TextMessage(endOfDemo), nil); err != nil {
		return err
	}
	if err := exampleenv.PrintReceived(ctx, endOfDemo, bob, alice); err != nil {
		return err
	}
	fmt.Println("Done.")
	return nil
}

// request sends a client request with an ack id, waits for its ack, prints
// it, and fails when the outcome is not the one expected.
func request(ctx context.Context, c *exampleenv.Client, ackID uint64, frame map[string]any, wantSuccess bool) error {
	req := map[string]any{"ackId": ackID}
	for k, v := range frame {
		req[k] = v
	}
	if err := c.Write(ctx, req); err != nil {
		return err
	}
	for {
		f, err := c.Read(ctx)
		if err != nil {
			return err
		}
		if f.Type != "ack" || f.AckID == nil || *f.AckID != ackID {
			continue // not the answer to this request
		}
		fmt.Printf("%s %s %s: %s\n", c.Name, frame["type"], frame["group"], f)
		if f.Success != wantSuccess {
			return fmt.Errorf("%s %s: expected success=%v", c.Name, frame["type"], wantSuccess)
		}
		return nil
	}
}

// check prints whether c has permission p on group.
func check(ctx context.Context, client *webpubsub.ServiceClient, p webpubsub.Permission, c *exampleenv.Client, group string) error {
	ok, err := client.CheckPermission(ctx, p, c.ConnectionID, &webpubsub.CheckPermissionOptions{TargetName: group})
	if err != nil {
		return err
	}
	fmt.Printf("CheckPermission %s on %s for %s: %v\n", p, group, c.Name, ok)
	return nil
}
