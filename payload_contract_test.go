package webpubsub_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/gowebpubsub/webpubsub"
	"github.com/gowebpubsub/webpubsub/emulator"
	"github.com/gowebpubsub/webpubsub/eventhandler"
	"github.com/gowebpubsub/webpubsub/webpubsubclient"
)

// TestPayloadContract: the service client's, the WebSocket client's and
// the event handler's message builders follow one set of rules: the same
// JSON text (no HTML escaping, RawMessage compacted), the same refusals
// (JSON null, values that cannot be encoded, empty sends), and a copy of
// the caller's bytes.
func TestPayloadContract(t *testing.T) {
	type built struct {
		data []byte
		err  error
	}
	// For sends, the error is the one sending reports.
	e := emulator.NewTest(t)
	sc, err := webpubsub.NewServiceClientFromConnectionString(e.ConnectionString(), "chat", nil)
	if err != nil {
		t.Fatal(err)
	}
	rest := func(m webpubsub.Message) built {
		_, err := sc.SendToAll(t.Context(), m, nil)
		return built{m.Bytes(), err}
	}
	client := func(m webpubsubclient.Message) built {
		c, err := webpubsubclient.New(webpubsubclient.StaticURL("ws://localhost:1/client/hubs/chat"), nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.SendEvent(t.Context(), "e", m, nil)
		if !errors.Is(err, webpubsubclient.ErrInvalidArgument) {
			err = nil // not connected: validation passed
		}
		return built{m.Bytes(), err}
	}
	reply := func(r *eventhandler.UserEventResponse, err error) built {
		if err != nil {
			return built{nil, err}
		}
		return built{r.Data, nil}
	}
	html := map[string]any{"h": "<b>&</b>"}
	tests := []struct {
		name               string
		rest, client, hand built
		wantData           string
		refused            bool
	}{
		{"json object", rest(webpubsub.JSONMessage(html)), client(webpubsubclient.JSONMessage(html)), reply(eventhandler.JSON(html)), `{"h":"<b>&</b>"}`, false},
		{"raw json", rest(webpubsub.JSONMessage(json.RawMessage(`{ "a" : 1 }`))), client(webpubsubclient.JSONMessage(json.RawMessage(`{ "a" : 1 }`))),
			reply(eventhandler.JSON(json.RawMessage(`{ "a" : 1 }`))), `{"a":1}`, false},
		{"json null", rest(webpubsub.JSONMessage(nil)), client(webpubsubclient.JSONMessage(nil)), reply(eventhandler.JSON(nil)), "", true},
		{"json unencodable", rest(webpubsub.JSONMessage(make(chan int))), client(webpubsubclient.JSONMessage(make(chan int))), reply(eventhandler.JSON(make(chan int))), "", true},
		{"text", rest(webpubsub.TextMessage("<b>")), client(webpubsubclient.TextMessage("<b>")), reply(eventhandler.Text("<b>"), nil), "<b>", false},
	}
	for _, tt := range tests {
		for side, b := range map[string]built{"service client": tt.rest, "WebSocket client": tt.client, "event handler": tt.hand} {
			if tt.refused {
				if !errors.Is(b.err, webpubsub.ErrInvalidArgument) {
					t.Errorf("%s: %s accepted it (%v)", tt.name, side, b.err)
				}
				continue
			}
			if b.err != nil || string(b.data) != tt.wantData {
				t.Errorf("%s: %s built %q, %v; want %q", tt.name, side, b.data, b.err, tt.wantData)
			}
		}
	}
	// Empty sends are refused by both clients; an empty reply is no reply.
	if rest(webpubsub.TextMessage("")).err == nil || client(webpubsubclient.TextMessage("")).err == nil ||
		rest(webpubsub.BinaryMessage(nil)).err == nil || client(webpubsubclient.BinaryMessage(nil)).err == nil {
		t.Error("an empty send was accepted")
	}
	// The caller's slice is copied by all three.
	buf := []byte{1, 2, 3}
	r, c, h := webpubsub.BinaryMessage(buf), webpubsubclient.BinaryMessage(buf), eventhandler.Binary(buf)
	buf[0] = 9
	if r.Bytes()[0] != 1 || c.Bytes()[0] != 1 || h.Data[0] != 1 {
		t.Error("a builder kept the caller's slice")
	}
}
