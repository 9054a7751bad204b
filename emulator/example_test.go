package emulator_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/coder/websocket"

	"github.com/gowebpubsub/webpubsub/emulator"
)

// A local service for a test or a demo: start it, hand its connection
// string to any Web PubSub SDK, close it at the end.
func ExampleNew() {
	e, err := emulator.New(emulator.Options{}) // well-known key, localhost, a free port
	if err != nil {
		log.Fatal(err)
	}
	if err := e.Start(); err != nil {
		log.Fatal(err)
	}
	defer e.Close()

	fmt.Println(e.ConnectionString()) // Endpoint=http://localhost;Port=NNNNN;AccessKey=...;Version=1.0;
	fmt.Println(e.ClientURL("chat"))  // ws://localhost:NNNNN/client/hubs/chat
}

// An event handler for hub "chat": the emulator sends it every event of
// the hub's connections. Here a raw WebSocket client's frame is the user
// event "message", and the handler's answer comes back as a frame.
func ExampleEventHandler() {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions { // the abuse-protection check
			w.Header().Set("WebHook-Allowed-Origin", "*")
			return
		}
		if r.Header.Get("ce-type") == "azure.webpubsub.user.message" {
			body, _ := io.ReadAll(r.Body)
			w.Header().Set("Content-Type", "text/plain")
			fmt.Fprintf(w, "echo: %s", body)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer upstream.Close()

	e, err := emulator.New(emulator.Options{Hubs: map[string]emulator.HubOptions{
		"chat": {AllowAnonymous: true, EventHandlers: []emulator.EventHandler{{
			URLTemplate:      upstream.URL + "/eventhandler/{event}",
			UserEventPattern: "*",
			SystemEvents:     emulator.PossibleSystemEventValues(),
		}}},
	}})
	if err != nil {
		log.Fatal(err)
	}
	if err := e.Start(); err != nil {
		log.Fatal(err)
	}
	defer e.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, e.ClientURL("chat"), nil) // anonymous, raw
	if err != nil {
		log.Fatal(err)
	}
	defer ws.CloseNow()
	if err := ws.Write(ctx, websocket.MessageText, []byte("hi")); err != nil {
		log.Fatal(err)
	}
	_, reply, err := ws.Read(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(reply))
	// Output: echo: hi
}
