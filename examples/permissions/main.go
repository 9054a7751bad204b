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

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/gowebpubsub/webpubsub"
	"github.com/gowebpubsub/webpubsub/examples/internal/exampleenv"
	"github.com/gowebpubsub/webpubsub/webpubsubclient"
)

// room1 is the group alice wants to join and send to.
const room1 = "room1"

func run(ctx context.Context, env *exampleenv.Env) error {
	// alice's token has no roles: she may not join or send to any group.
	clients, err := env.ConnectAll(ctx, "alice (no roles), bob (group room1)",
		exampleenv.ClientSpec{Name: "alice", Token: &webpubsub.GetClientAccessTokenOptions{UserID: "alice"}},
		exampleenv.ClientSpec{Name: "bob", Token: &webpubsub.GetClientAccessTokenOptions{UserID: "bob", Groups: []string{room1}}},
	)
	if err != nil {
		return err
	}
	alice, bob := clients[0], clients[1]

	// alice's two requests, made with her webpubsubclient.Client. Each
	// prints its ack and fails when the outcome is not the one expected.
	join := func(wantSuccess bool) error {
		res, err := alice.JoinGroup(ctx, room1, nil)
		return report(alice, "joinGroup "+room1, res, err, wantSuccess)
	}
	send := func(wantSuccess bool) error {
		res, err := alice.SendToGroup(ctx, room1, webpubsubclient.TextMessage("Hi room1, it's alice"), &webpubsubclient.SendToGroupOptions{NoEcho: true})
		return report(alice, "sendToGroup "+room1, res, err, wantSuccess)
	}
	// The server's side: grant or revoke a permission on room1, then check it.
	client := env.Service
	change := func(grant bool, p webpubsub.Permission) error {
		var err error
		if grant {
			_, err = client.GrantPermission(ctx, p, alice.ConnectionID(), &webpubsub.GrantPermissionOptions{TargetName: room1})
		} else {
			_, err = client.RevokePermission(ctx, p, alice.ConnectionID(), &webpubsub.RevokePermissionOptions{TargetName: room1})
		}
		switch {
		case err != nil:
			return err
		case grant:
			fmt.Printf("GrantPermission %s on room1 to alice\n", p)
		default:
			fmt.Printf("RevokePermission %s on room1 from alice\n", p)
		}
		return check(ctx, client, p, alice, room1)
	}

	for _, step := range []func() error{
		// 1. Without a permission the service refuses the request.
		func() error { return join(false) },
		func() error { return check(ctx, client, webpubsub.PermissionJoinLeaveGroup, alice, room1) },
		// 2. Grant joinLeaveGroup on room1: the next request succeeds.
		func() error { return change(true, webpubsub.PermissionJoinLeaveGroup) },
		func() error { return join(true) },
		// 3. Sending to the group needs sendToGroup as well.
		func() error { return send(false) },
		func() error { return change(true, webpubsub.PermissionSendToGroup) },
		func() error { return send(true) },
		// 4. Revoke sendToGroup: alice is refused again.
		func() error { return change(false, webpubsub.PermissionSendToGroup) },
		func() error { return send(false) },
	} {
		if err := step(); err != nil {
			return err
		}
	}

	// 5. A connection that does not exist is a service error with a code.
	_, err = client.GrantPermission(ctx, webpubsub.PermissionSendToGroup, "no-such-connection", nil)
	var respErr *azcore.ResponseError
	if !errors.As(err, &respErr) {
		return fmt.Errorf("GrantPermission to a missing connection: expected an *azcore.ResponseError, got %v", err)
	}
	fmt.Printf("GrantPermission to no-such-connection: status %d, error code %s\n", respErr.StatusCode, respErr.ErrorCode)

	// 6. bob received the one message alice was allowed to send.
	if err := env.PrintReceived(ctx, bob, alice); err != nil {
		return err
	}
	return nil
}

// report prints the outcome of c's request what, and fails when it is
// not the one expected.
func report(c *exampleenv.Client, what string, res webpubsubclient.AckResult, err error, wantSuccess bool) error {
	ack, err2 := exampleenv.DescribeAck(res, err)
	if err2 != nil {
		return err2
	}
	fmt.Printf("%s %s: %s\n", c.Name, what, ack)
	if (err == nil) != wantSuccess {
		return fmt.Errorf("%s %s: expected success=%v", c.Name, what, wantSuccess)
	}
	return nil
}

// check prints whether c has permission p on group.
func check(ctx context.Context, client *webpubsub.ServiceClient, p webpubsub.Permission, c *exampleenv.Client, group string) error {
	ok, err := client.CheckPermission(ctx, p, c.ConnectionID(), &webpubsub.CheckPermissionOptions{TargetName: group})
	if err != nil {
		return err
	}
	fmt.Printf("CheckPermission %s on %s for %s: %v\n", p, group, c.Name, ok)
	return nil
}

func main() { exampleenv.Main("permissions", run) }
