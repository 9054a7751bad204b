// Command tokens issues client access tokens, the signed URLs that browsers
// and devices connect with: for the default Web PubSub endpoint (with a
// user id, roles, initial groups and a lifetime), for MQTT and for
// Socket.IO clients. A webpubsubclient client connects with the first one and
// shows that the token's user, group and role took effect. Tokens are
// secrets: the program prints URLs without their token, and a token's
// claims (its middle part, which is not the signature).
//
// With an access key (a connection string) the token is signed locally. It
// runs against the in-process emulator, or against Azure when
// AZURE_WEBPUBSUB_CONNECTION_STRING (and optionally AZURE_WEBPUBSUB_HUB) are
// set.
//
// With Microsoft Entra ID the service issues the token. That part runs when
// AZURE_WEBPUBSUB_ENDPOINT is set (for example
// https://contoso.webpubsub.azure.com) and DefaultAzureCredential finds an
// identity (az login, a managed identity, or AZURE_TENANT_ID, AZURE_CLIENT_ID
// and AZURE_CLIENT_SECRET) that has the Web PubSub Service Owner role on the
// resource:
//
//	go run ./examples/tokens
package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/gowebpubsub/webpubsub"
	"github.com/gowebpubsub/webpubsub/examples/internal/exampleenv"
	"github.com/gowebpubsub/webpubsub/webpubsubclient"
)

func run(ctx context.Context, env *exampleenv.Env) error {
	client := env.Service

	// 1. The default endpoint: user alice, who may send to room1 and
	// joins it on connecting, for 30 minutes.
	tok, err := client.GetClientAccessToken(ctx, &webpubsub.GetClientAccessTokenOptions{
		UserID:       "alice",
		Roles:        []string{"webpubsub.sendToGroup.room1"},
		Groups:       []string{"room1"},
		ExpiresAfter: 30 * time.Minute,
	})
	if err != nil {
		return err
	}
	fmt.Println("Token for the default endpoint (signed with the access key):")
	if err := describe(tok); err != nil {
		return err
	}

	// A client connects with the URL, as a browser or device would.
	alice, err := exampleenv.Dial(ctx, "alice", webpubsubclient.StaticURL(tok.URL))
	if err != nil {
		return err
	}
	defer alice.Close()
	fmt.Printf("  connected as user %s\n", alice.UserID)
	if _, err := client.SendToGroup(ctx, "room1", webpubsub.TextMessage("Welcome to room1"), nil); err != nil {
		return err
	}
	ev, err := alice.Next(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("  received %s\n", exampleenv.Describe(ev))
	res, err := alice.SendToGroup(ctx, "room1", webpubsubclient.TextMessage("Hi room1"), &webpubsubclient.SendToGroupOptions{NoEcho: true})
	if err != nil {
		return fmt.Errorf("the token's role did not allow sending to room1: %w", err)
	}
	ack, _ := exampleenv.DescribeAck(res, nil)
	fmt.Printf("  sendToGroup room1 (allowed by her role): %s\n", ack)

	// 2. MQTT and Socket.IO clients connect to endpoints of their own,
	// with tokens issued the same way.
	for _, p := range []webpubsub.ClientProtocol{webpubsub.ClientProtocolMQTT, webpubsub.ClientProtocolSocketIO} {
		tok, err := client.GetClientAccessToken(ctx, &webpubsub.GetClientAccessTokenOptions{
			UserID:         "device-1",
			Roles:          []string{"webpubsub.joinLeaveGroup", "webpubsub.sendToGroup"},
			ClientProtocol: p,
		})
		if err != nil {
			return err
		}
		fmt.Printf("Token for the %s endpoint:\n", p)
		if err := describe(tok); err != nil {
			return err
		}
	}
	fmt.Println("  (an MQTT client connects to its URL over WebSocket; a Socket.IO client to the host, with the path and the token)")

	// 3. Options are checked before anything is signed.
	_, err = client.GetClientAccessToken(ctx, &webpubsub.GetClientAccessTokenOptions{ExpiresAt: time.Now().Add(-time.Minute)})
	fmt.Printf("A token that expired before it was issued: invalid argument: %v\n", errors.Is(err, webpubsub.ErrInvalidArgument))

	// 4. Microsoft Entra ID: the service issues the token.
	if err := entraID(ctx, env.Hub); err != nil {
		return err
	}
	return nil
}

// entraID gets tokens through Microsoft Entra ID, when
// AZURE_WEBPUBSUB_ENDPOINT names a resource.
func entraID(ctx context.Context, hub string) error {
	endpoint := os.Getenv("AZURE_WEBPUBSUB_ENDPOINT")
	if endpoint == "" {
		fmt.Println("Skipping Microsoft Entra ID: AZURE_WEBPUBSUB_ENDPOINT is not set. That part needs a Web PubSub resource")
		fmt.Println("and an identity that DefaultAzureCredential can use, with the Web PubSub Service Owner role on it.")
		return nil
	}
	cred, err := azidentity.NewDefaultAzureCredential(nil)
	if err != nil {
		return err
	}
	client, err := webpubsub.NewServiceClient(endpoint, hub, cred, nil)
	if err != nil {
		return err
	}
	fmt.Println("Using Microsoft Entra ID at", client.Endpoint(), "hub", hub)
	for _, p := range webpubsub.PossibleClientProtocolValues() {
		tok, err := client.GetClientAccessToken(ctx, &webpubsub.GetClientAccessTokenOptions{
			UserID:         "alice",
			ClientProtocol: p,
			ExpiresAfter:   10 * time.Minute,
		})
		if err != nil {
			return err
		}
		fmt.Printf("Token for the %s endpoint (issued by the service):\n", p)
		if err := describe(tok); err != nil {
			return err
		}
		if p == webpubsub.ClientProtocolDefault {
			c, err := exampleenv.Dial(ctx, "alice", webpubsubclient.StaticURL(tok.URL))
			if err != nil {
				return err
			}
			fmt.Printf("  connected as user %s\n", c.UserID)
			c.Close()
		}
	}
	return nil
}

// describe prints where a token connects to, when it expires and its
// claims, never the token itself.
func describe(tok webpubsub.GetClientAccessTokenResponse) error {
	fmt.Printf("  URL:     %s?access_token=...\n", tok.BaseURL)
	fmt.Printf("  expires: in %v\n", time.Until(tok.ExpiresOn).Round(time.Minute))
	parts := strings.Split(tok.Token, ".")
	if len(parts) != 3 {
		return errors.New("the token is not a JWT")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return err
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		return err
	}
	names := make([]string, 0, len(claims))
	for name := range claims {
		if name != "iat" && name != "exp" && name != "nbf" {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Printf("  claim %s: %v\n", name, claims[name])
	}
	return nil
}

func main() { exampleenv.Main("tokens", run) }
