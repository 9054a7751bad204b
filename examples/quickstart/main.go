// Command quickstart shows Azure Web PubSub end to end: a ServiceClient gets
// a client access URL, a WebSocket client connects with the JSON subprotocol
// and joins a group, and the server sends to all, to the user, to the group
// and to the connection. Everything the client receives is printed.
//
// It runs against the in-process emulator, or against Azure when
// AZURE_WEBPUBSUB_CONNECTION_STRING (and optionally AZURE_WEBPUBSUB_HUB) are set:
//
//	go run ./examples/quickstart
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/coder/websocket"
	"github.com/gowebpubsub/webpubsub"
	"github.com/gowebpubsub/webpubsub/examples/internal/exampleenv"
)

func main() {
	if err := run(); err != nil {
		log.Printf("quickstart: %v", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	env, err := exampleenv.Setup("quickstart")
	if err != nil {
		return err
	}
	defer env.Close()
	fmt.Println("Using", env.Describe(), "hub", env.Hub)

	// 1. The server side: a ServiceClient bound to the hub.
	client, err := webpubsub.NewServiceClientFromConnectionString(env.ConnectionString, env.Hub, nil)
	if err != nil {
		return err
	}

	// 2. A client access URL for user "alice", allowed to join and leave groups.
	tok, err := client.GetClientAccessToken(ctx, &webpubsub.GetClientAccessTokenOptions{
		UserID: "alice",
		Roles:  []string{"webpubsub.joinLeaveGroup"},
	})
	if err != nil {
		return err
	}
	fmt.Println("Client URL:", tok.BaseURL+"?access_token=...")

	// 3. A WebSocket client connects with the JSON subprotocol.
	conn, _, err := websocket.Dial(ctx, tok.URL, &websocket.DialOptions{Subprotocols: []string{"json.webpubsub.azure.v1"}})
	if err != nil {
		return fmt.Errorf("connecting: %w", err)
	}
	defer conn.CloseNow()

	connected, err := readFrame(ctx, conn)
	if err != nil {
		return err
	}
	connID, _ := connected["connectionId"].(string)
	fmt.Printf("Connected: connectionId=%s userId=%v\n", connID, connected["userId"])

	// 4. The client joins group "demo" and waits for the ack.
	if err := writeFrame(ctx, conn, map[string]any{"type": "joinGroup", "group": "demo", "ackId": 1}); err != nil {
		return err
	}
	ack, err := readFrame(ctx, conn)
	if err != nil {
		return err
	}
	fmt.Printf("Joined group demo: ack %v success=%v\n", ack["ackId"], ack["success"])

	// 5. The server sends four messages, one per kind of target.
	if _, err := client.SendToAll(ctx, webpubsub.TextMessage("Hello, everyone"), nil); err != nil {
		return err
	}
	if _, err := client.SendToUser(ctx, "alice", webpubsub.JSONMessage(map[string]string{"greeting": "Hello, alice"}), nil); err != nil {
		return err
	}
	if _, err := client.SendToGroup(ctx, "demo", webpubsub.TextMessage("Hello, group demo"), nil); err != nil {
		return err
	}
	if _, err := client.SendToConnection(ctx, connID, webpubsub.BinaryMessage([]byte{0xCA, 0xFE}), nil); err != nil {
		return err
	}

	// 6. The client receives them.
	for i := 0; i < 4; i++ {
		m, err := readFrame(ctx, conn)
		if err != nil {
			return err
		}
		from := m["from"]
		if g, ok := m["group"]; ok {
			from = fmt.Sprintf("group %v", g)
		}
		fmt.Printf("Received from %v (%v): %s\n", from, m["dataType"], compact(m["data"]))
	}

	// 7. The server closes the connection; the client sees why.
	if _, err := client.CloseConnection(ctx, connID, &webpubsub.CloseConnectionOptions{Reason: "quickstart done"}); err != nil {
		return err
	}
	if m, err := readFrame(ctx, conn); err == nil {
		fmt.Printf("Received %v/%v: %v\n", m["type"], m["event"], m["message"])
	}
	fmt.Println("Done.")
	return nil
}

func writeFrame(ctx context.Context, c *websocket.Conn, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.Write(ctx, websocket.MessageText, b)
}

func readFrame(ctx context.Context, c *websocket.Conn) (map[string]any, error) {
	_, b, err := c.Read(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading: %w", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("decoding %q: %w", b, err)
	}
	return m, nil
}

func compact(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
