package webpubsubclient_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/gowebpubsub/webpubsub"
	"github.com/gowebpubsub/webpubsub/emulator"
	"github.com/gowebpubsub/webpubsub/webpubsubclient"
)

// A client joins a group, publishes to it and receives its own message,
// against the in-process emulator.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	emu, err := emulator.New(emulator.Options{})
	if err != nil {
		log.Fatal(err)
	}
	if err := emu.Start(); err != nil {
		log.Fatal(err)
	}
	defer emu.Close()
	service, err := webpubsub.NewServiceClientFromConnectionString(emu.ConnectionString(), "chat", nil)
	if err != nil {
		log.Fatal(err)
	}

	// A token function: called for every new connection.
	cred := webpubsubclient.URLFunc(func(ctx context.Context) (string, error) {
		tok, err := service.GetClientAccessToken(ctx, &webpubsub.GetClientAccessTokenOptions{
			UserID: "alice",
			Roles:  []string{"webpubsub.joinLeaveGroup", "webpubsub.sendToGroup"},
		})
		return tok.URL, err
	})
	client, err := webpubsubclient.New(cred, nil)
	if err != nil {
		log.Fatal(err)
	}
	connected := make(chan webpubsubclient.ConnectedEvent, 1)
	received := make(chan webpubsubclient.GroupMessage, 1)
	client.OnConnected(func(e webpubsubclient.ConnectedEvent) { connected <- e })
	client.OnGroupMessage(func(m webpubsubclient.GroupMessage) { received <- m })
	// Stop returns after the last event, Stopped, has been handled.
	client.OnStopped(func(webpubsubclient.StoppedEvent) { fmt.Println("stopped") })

	if err := client.Start(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println("connected as", (<-connected).UserID)
	if _, err := client.JoinGroup(ctx, "room", nil); err != nil {
		log.Fatal(err)
	}
	res, err := client.SendToGroup(ctx, "room", webpubsubclient.TextMessage("hello"), nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("ack", res.AckID, "duplicate", res.Duplicated)
	m := <-received
	fmt.Printf("%s in %s: %s\n", m.FromUserID, m.Group, m.Data)
	if err := client.Stop(ctx); err != nil {
		log.Fatal(err)
	}
	// Output:
	// connected as alice
	// ack 2 duplicate false
	// alice in room: hello
	// stopped
}
