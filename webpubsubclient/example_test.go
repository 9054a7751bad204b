package webpubsubclient_test

import (
	"context"
	"fmt"
	"io"
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

// A client streams three fragments to a group; another reads them in
// order until the end of the stream (io.EOF), against the in-process
// emulator.
func ExampleClient_OpenGroupStream() {
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
	start := func(user string, roles ...string) *webpubsubclient.Client {
		cred := webpubsubclient.URLFunc(func(ctx context.Context) (string, error) {
			tok, err := service.GetClientAccessToken(ctx, &webpubsub.GetClientAccessTokenOptions{UserID: user, Roles: roles})
			return tok.URL, err
		})
		c, err := webpubsubclient.New(cred, nil)
		if err != nil {
			log.Fatal(err)
		}
		return c
	}

	reader := start("reader", "webpubsub.joinLeaveGroup")
	finished := make(chan struct{})
	reader.OnGroupStream(func(s *webpubsubclient.GroupStream) {
		defer close(finished)
		for {
			m, err := s.Next(ctx)
			if err == io.EOF {
				fmt.Println("end of stream")
				return
			}
			if err != nil {
				fmt.Println("stream failed:", err)
				return
			}
			fmt.Printf("%d: %s\n", m.Stream.StreamSequenceID, m.Data)
		}
	}, nil)
	if err := reader.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer reader.Stop(context.Background())
	if _, err := reader.JoinGroup(ctx, "room", nil); err != nil {
		log.Fatal(err)
	}

	writer := start("writer", "webpubsub.sendToGroup")
	if err := writer.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer writer.Stop(context.Background())
	w, err := writer.OpenGroupStream(ctx, "room", nil)
	if err != nil {
		log.Fatal(err)
	}
	for _, part := range []string{"Hel", "lo,", " world"} {
		if err := w.Write(ctx, webpubsubclient.TextMessage(part)); err != nil {
			log.Fatal(err)
		}
	}
	if err := w.Close(ctx); err != nil {
		log.Fatal(err)
	}
	<-finished
	// Output:
	// 1: Hel
	// 2: lo,
	// 3:  world
	// end of stream
}
