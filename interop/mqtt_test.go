package interop

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not in PATH; install Node.js 20 or later, then run: (cd interop/js && npm ci)")
	}
	for _, pkg := range []string{"mqtt", "@azure/web-pubsub", "@azure/web-pubsub-client"} {
		if _, err := os.Stat(filepath.Join("js", "node_modules", filepath.FromSlash(pkg), "package.json")); err != nil {
			t.Skipf("interop/js/node_modules has no %s; run: (cd interop/js && npm ci)", pkg)
		}
	}
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

	cmd := exec.CommandContext(ctx, node, "mqtt.mjs")
	cmd.Dir = "js"
	cmd.Env = append(scriptEnv(),
		"WEBPUBSUB_CONNECTION_STRING="+e.ConnectionString(),
		"WEBPUBSUB_HUB="+hub,
		"WEBPUBSUB_MQTT_URL_V3="+urls[0],
		"WEBPUBSUB_MQTT_URL_V5="+urls[1],
	)
	cmd.WaitDelay = 5 * time.Second
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	runErr := cmd.Run()
	output := out.String()
	if leak := secretIn(output, e.AccessKey()); leak != "" {
		t.Errorf("the script printed %s; its output is withheld", leak)
		output = "(withheld)"
	}
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		t.Fatalf("node mqtt.mjs did not finish within %v\noutput:\n%s", jsTimeout, output)
	case runErr != nil:
		t.Fatalf("node mqtt.mjs: %v\noutput:\n%s", runErr, output)
	}
	if !strings.Contains(output, "all checks passed") {
		t.Fatalf("node mqtt.mjs exited 0 without passing every check\noutput:\n%s", output)
	}
	t.Logf("node mqtt.mjs:\n%s", output)
	// The script's clients are gone: the emulator has ended every
	// connection of the hub.
	if err := e.Wait(ctx, func() bool { return len(e.Connections(hub)) == 0 }); err != nil {
		t.Errorf("connections left after the script: %v", e.Connections(hub))
	}
}
