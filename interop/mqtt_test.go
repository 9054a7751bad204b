package interop

import (
	"context"
	"strings"
	"testing"

	"github.com/gowebpubsub/webpubsub"
	"github.com/gowebpubsub/webpubsub/emulator"
)

// TestMQTTJS runs js/mqtt.mjs: MQTT.js clients of MQTT 3.1.1 and 5.0
// connect to an in-process emulator with client URLs from this module's
// ServiceClient, subscribe, publish to each other and to a JSON-subprotocol
// client of @azure/web-pubsub-client, and receive REST sends of
// @azure/web-pubsub. The connection string and the URLs reach the script
// in its environment only.
func TestMQTTJS(t *testing.T) {
	node := requireNode(t, "mqtt", "@azure/web-pubsub", "@azure/web-pubsub-client")
	const hub = "interopMqtt"
	e := emulator.NewTest(t)
	client, err := webpubsub.NewServiceClientFromConnectionString(e.ConnectionString(), hub, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), jsTimeout)
	defer cancel()
	urls := make([]string, 2)
	for i := range urls {
		tok, err := client.GetClientAccessToken(ctx, &webpubsub.GetClientAccessTokenOptions{
			ClientProtocol: webpubsub.ClientProtocolMQTT,
			Roles:          []string{"webpubsub.joinLeaveGroup", "webpubsub.sendToGroup"},
		})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(tok.BaseURL, "/clients/mqtt/hubs/") {
			t.Fatalf("MQTT base URL %q; want the MQTT endpoint", tok.BaseURL)
		}
		urls[i] = tok.URL
	}

	runScript(ctx, t, node, "mqtt.mjs", e.AccessKey(),
		"WEBPUBSUB_CONNECTION_STRING="+e.ConnectionString(),
		"WEBPUBSUB_HUB="+hub,
		"WEBPUBSUB_MQTT_URL_V3="+urls[0],
		"WEBPUBSUB_MQTT_URL_V5="+urls[1],
	)
	// The script's clients are gone: the emulator has ended every
	// connection of the hub.
	if err := e.Wait(ctx, func() bool { return len(e.Connections(hub)) == 0 }); err != nil {
		t.Errorf("connections left after the script: %v", e.Connections(hub))
	}
}
