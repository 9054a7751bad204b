package main

import (
	"testing"

	"github.com/gowebpubsub/webpubsub/examples/internal/exampleenv"
)

// TestMQTT runs the example against the in-process emulator and checks its
// output: the telemetry the backend read, the command the device got, and
// nothing secret.
func TestMQTT(t *testing.T) {
	exampleenv.RunAndCheck(t, "mqtt", run, want)
}

const want = `Using the in-process emulator at http://localhost:* hub mqtt
Connected: backend, in group telemetry
Connected: device thermostat1 over MQTT 5
Device published to topic telemetry; PUBACK received
Backend received: from group telemetry: json {"temperature":21.5}
SendToConnection thermostat1: JSON command
Device received on topic $webpubsub/server/messages (application/json): {"setpoint":20}
Done.
`
