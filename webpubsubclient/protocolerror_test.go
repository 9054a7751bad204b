package webpubsubclient

import (
	"context"
	"testing"

	"github.com/coder/websocket"
)

// TestMessageWithoutDataIsAProtocolError: a message frame with null or
// absent data is not delivered as an empty message (the emulator closes
// a client that sends that shape with 1007); it is reported to
// OnProtocolError, and the connection stays open.
func TestMessageWithoutDataIsAProtocolError(t *testing.T) {
	frames := []string{
		`{"type":"message","from":"server","dataType":"json","data":null}`,
		`{"type":"message","from":"group","group":"g","dataType":"text"}`,
		`{"type":"message","from":"server","dataType":"binary","data":null}`,
		`{"type":"message","from":"group","dataType":"text","data":"no group"}`,
		`{"type":"message","from":"server","dataType":"text","data":"after"}`,
	}
	u := scriptedService(t, []string{string(ProtocolJSON)}, func(ctx context.Context, ws *websocket.Conn) {
		_ = ws.Write(ctx, websocket.MessageText, []byte(`{"type":"system","event":"connected","connectionId":"c1"}`))
		for _, f := range frames {
			if ws.Write(ctx, websocket.MessageText, []byte(f)) != nil {
				return
			}
		}
		_, _, _ = ws.Read(ctx)
	})
	c, err := New(StaticURL(u), &Options{Protocol: ProtocolJSON})
	if err != nil {
		t.Fatal(err)
	}
	rec := record(c)
	errs := make(chan *ProtocolError, 8)
	c.OnProtocolError(func(e ProtocolErrorEvent) { errs <- e.Err })
	mustStart(t, c)
	next(t, rec.connected, "Connected")
	for _, want := range []string{"the message has no data, or null data", "the message has no data, or null data",
		"the message has no data, or null data", "the group message has no group"} {
		e := next(t, errs, "protocol error")
		if e.Type != "message" || e.Reason != want {
			t.Errorf("protocol error %+v; want %q", e, want)
		}
	}
	if s := next(t, rec.server, "server message"); string(s.Data) != "after" {
		t.Errorf("first delivered message %+v; want the one with data", s)
	}
	if s := c.State(); s != StateConnected {
		t.Errorf("State = %s", s)
	}
	stopClient(t, c)
}
