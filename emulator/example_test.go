package emulator_test

import (
	"fmt"
	"log"

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
