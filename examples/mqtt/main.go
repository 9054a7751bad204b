// Command mqtt shows an MQTT device next to a Go backend: a thermostat
// speaks MQTT 5 over WebSocket (its packets encoded by an MQTT library,
// github.com/mochi-mqtt/server/v2/packets) and publishes telemetry to the
// topic "telemetry", which is the group "telemetry"; the backend, a
// WebSocket client in that group, reads it as a JSON group message; the
// backend's service client then pushes a command to the device with
// SendToConnection, which the device receives as a PUBLISH on the topic
// $webpubsub/server/messages. The device's MQTT client id is its
// connection id.
//
// It runs against the in-process emulator, or against Azure when
// AZURE_WEBPUBSUB_CONNECTION_STRING (and optionally AZURE_WEBPUBSUB_HUB) are
// set:
//
//	go run ./examples/mqtt
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/coder/websocket"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/gowebpubsub/webpubsub"
	"github.com/gowebpubsub/webpubsub/examples/internal/exampleenv"
	"github.com/gowebpubsub/webpubsub/webpubsubclient"
)

const deviceID = "thermostat1"

func run(ctx context.Context, env *exampleenv.Env) error {
	// The backend listens to the telemetry group.
	backend, err := env.Connect(ctx, "backend", &webpubsub.GetClientAccessTokenOptions{Groups: []string{"telemetry"}})
	if err != nil {
		return err
	}
	fmt.Println("Connected: backend, in group telemetry")

	// The device gets an MQTT client URL that lets it publish telemetry.
	tok, err := env.Service.GetClientAccessToken(ctx, &webpubsub.GetClientAccessTokenOptions{
		ClientProtocol: webpubsub.ClientProtocolMQTT,
		Roles:          []string{"webpubsub.sendToGroup.telemetry"},
	})
	if err != nil {
		return err
	}
	dev, err := dialDevice(ctx, tok.URL, deviceID)
	if err != nil {
		return err
	}
	defer dev.close()
	fmt.Println("Connected: device", deviceID, "over MQTT 5")

	// 1. The device publishes telemetry with QoS 1 and a JSON content type.
	if err := dev.publish(ctx, "telemetry", []byte(`{"temperature":21.5}`), "application/json"); err != nil {
		return err
	}
	fmt.Println("Device published to topic telemetry; PUBACK received")

	// 2. The backend reads it as a group message.
	ev, err := backend.Next(ctx)
	if err != nil {
		return err
	}
	fmt.Println("Backend received:", exampleenv.Describe(ev))
	if m, ok := ev.(webpubsubclient.GroupMessage); !ok || m.Group != "telemetry" {
		return fmt.Errorf("the backend got %s; want the telemetry", exampleenv.Describe(ev))
	}

	// 3. The backend pushes a command to the device by its client id.
	if ok, err := env.Service.ConnectionExists(ctx, deviceID, nil); err != nil || !ok {
		return fmt.Errorf("ConnectionExists %s: %v, %w", deviceID, ok, err)
	}
	if _, err := env.Service.SendToConnection(ctx, deviceID, webpubsub.JSONMessage(map[string]float64{"setpoint": 20}), nil); err != nil {
		return err
	}
	fmt.Println("SendToConnection", deviceID+": JSON command")
	pk, err := dev.next(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("Device received on topic %s (%s): %s\n", pk.TopicName, pk.Properties.ContentType, pk.Payload)
	return nil
}

// device is a minimal MQTT 5 client over WebSocket: enough for the
// example, not a library.
type device struct {
	ws     *websocket.Conn
	buf    []byte
	nextID uint16
}

func dialDevice(ctx context.Context, url, clientID string) (*device, error) {
	ws, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"mqtt"}})
	if err != nil {
		return nil, errors.New("the device could not connect") // the error would repeat the URL and its token
	}
	d := &device{ws: ws}
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: 5}
	pk.Connect.ProtocolName, pk.Connect.ClientIdentifier, pk.Connect.Keepalive, pk.Connect.Clean = []byte("MQTT"), clientID, 60, true
	if err := d.write(ctx, &pk, pk.ConnectEncode); err != nil {
		return nil, err
	}
	ack, err := d.read(ctx)
	if err != nil {
		return nil, err
	}
	if ack.FixedHeader.Type != packets.Connack || ack.ReasonCode != 0 {
		return nil, fmt.Errorf("the device's CONNECT was refused with %#x", ack.ReasonCode)
	}
	return d, nil
}

func (d *device) write(ctx context.Context, pk *packets.Packet, encode func(*bytes.Buffer) error) error {
	var b bytes.Buffer
	if err := encode(&b); err != nil {
		return err
	}
	return d.ws.Write(ctx, websocket.MessageBinary, b.Bytes())
}

// read returns the next packet, reading WebSocket messages until one is
// complete.
func (d *device) read(ctx context.Context) (packets.Packet, error) {
	for {
		if pk, n, ok, err := decode(d.buf); err != nil {
			return pk, err
		} else if ok {
			d.buf = d.buf[n:]
			return pk, nil
		}
		_, b, err := d.ws.Read(ctx)
		if err != nil {
			return packets.Packet{}, err
		}
		d.buf = append(d.buf, b...)
	}
}

// decode reads one MQTT 5 packet from the start of buf; ok is false when
// buf holds only part of one.
func decode(buf []byte) (pk packets.Packet, n int, ok bool, err error) {
	if len(buf) < 2 {
		return pk, 0, false, nil
	}
	remaining, used, err := packets.DecodeLength(bytes.NewReader(buf[1:]))
	if err != nil {
		if len(buf) > 5 {
			return pk, 0, false, err
		}
		return pk, 0, false, nil
	}
	n = 1 + used + remaining
	if len(buf) < n {
		return pk, 0, false, nil
	}
	if err := pk.FixedHeader.Decode(buf[0]); err != nil {
		return pk, 0, false, err
	}
	pk.FixedHeader.Remaining, pk.ProtocolVersion = remaining, 5
	body := buf[1+used : n]
	switch pk.FixedHeader.Type {
	case packets.Connack:
		err = pk.ConnackDecode(body)
	case packets.Puback:
		err = pk.PubackDecode(body)
	case packets.Publish:
		err = pk.PublishDecode(body)
	case packets.Disconnect:
		err = pk.DisconnectDecode(body)
	case packets.Pingresp:
	default:
		err = fmt.Errorf("unexpected packet type %d", pk.FixedHeader.Type)
	}
	return pk, n, err == nil, err
}

// publish sends payload to topic with QoS 1 and waits for the PUBACK.
func (d *device) publish(ctx context.Context, topic string, payload []byte, contentType string) error {
	d.nextID++
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, ProtocolVersion: 5,
		TopicName: topic, PacketID: d.nextID, Payload: payload}
	pk.Properties.ContentType = contentType
	if err := d.write(ctx, &pk, pk.PublishEncode); err != nil {
		return err
	}
	ack, err := d.read(ctx)
	if err != nil {
		return err
	}
	if ack.FixedHeader.Type != packets.Puback || ack.ReasonCode != 0 {
		return fmt.Errorf("the PUBLISH got packet %d with code %#x; want a successful PUBACK", ack.FixedHeader.Type, ack.ReasonCode)
	}
	return nil
}

// next returns the next PUBLISH, acknowledging it when its QoS asks.
func (d *device) next(ctx context.Context) (packets.Packet, error) {
	pk, err := d.read(ctx)
	if err != nil {
		return pk, err
	}
	if pk.FixedHeader.Type != packets.Publish {
		return pk, fmt.Errorf("the device got packet %d; want a PUBLISH", pk.FixedHeader.Type)
	}
	if pk.FixedHeader.Qos == 1 {
		ack := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, ProtocolVersion: 5, PacketID: pk.PacketID}
		return pk, d.write(ctx, &ack, ack.PubackEncode)
	}
	return pk, nil
}

// close sends DISCONNECT and closes the WebSocket.
func (d *device) close() {
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}, ProtocolVersion: 5}
	_ = d.write(context.Background(), &pk, pk.DisconnectEncode)
	_ = d.ws.Close(websocket.StatusNormalClosure, "")
}

func main() { exampleenv.Main("mqtt", run) }
