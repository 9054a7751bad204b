package webpubsub_test

import (
	"context"
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/gowebpubsub/webpubsub"
)

// A fixed development key: the same well-known key the emulators use.
const exampleConnStr = "Endpoint=https://contoso.webpubsub.azure.com;AccessKey=ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGH;Version=1.0;"

// redactToken hides the token so that the output is stable.
func redactToken(url string) string {
	base, _, _ := strings.Cut(url, "access_token=")
	return base + "access_token=<token>"
}

func ExampleServiceClient_GetClientAccessToken() {
	client, err := webpubsub.NewServiceClientFromConnectionString(exampleConnStr, "chat", nil)
	if err != nil {
		log.Fatal(err)
	}
	tok, err := client.GetClientAccessToken(context.Background(), &webpubsub.GetClientAccessTokenOptions{
		UserID:    "alice",
		Roles:     []string{"webpubsub.joinLeaveGroup.room1", "webpubsub.sendToGroup.room1"},
		Groups:    []string{"room1"},
		ExpiresAt: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC),
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(tok.BaseURL)
	fmt.Println(redactToken(tok.URL))
	fmt.Println(tok.ExpiresOn.UTC())
	// Output:
	// wss://contoso.webpubsub.azure.com/client/hubs/chat
	// wss://contoso.webpubsub.azure.com/client/hubs/chat?access_token=<token>
	// 2030-01-01 00:00:00 +0000 UTC
}

func ExampleServiceClient_GetClientAccessToken_protocols() {
	client, err := webpubsub.NewServiceClientFromConnectionString(exampleConnStr, "chat", nil)
	if err != nil {
		log.Fatal(err)
	}
	for _, p := range webpubsub.PossibleClientProtocolValues() {
		tok, err := client.GetClientAccessToken(context.Background(), &webpubsub.GetClientAccessTokenOptions{ClientProtocol: p})
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%-8s %s\n", p, tok.BaseURL)
	}
	// Output:
	// default  wss://contoso.webpubsub.azure.com/client/hubs/chat
	// mqtt     wss://contoso.webpubsub.azure.com/clients/mqtt/hubs/chat
	// socketio wss://contoso.webpubsub.azure.com/clients/socketio/hubs/chat
}

func ExampleServiceClient_GetClientAccessToken_clientEndpoint() {
	// A ClientEndpoint (a CDN or gateway in front of the client endpoint)
	// becomes the base of client URLs; tokens stay valid for the service.
	connStr := exampleConnStr + "ClientEndpoint=https://ws.example.com/wps;"
	client, err := webpubsub.NewServiceClientFromConnectionString(connStr, "chat", nil)
	if err != nil {
		log.Fatal(err)
	}
	tok, err := client.GetClientAccessToken(context.Background(), nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(tok.BaseURL)
	fmt.Println(strings.Contains(fmt.Sprint(tok), tok.Token)) // String redacts the token
	// Output:
	// wss://ws.example.com/wps/client/hubs/chat
	// false
}
