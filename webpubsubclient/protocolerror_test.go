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

// TestFrameMissingRequiredFieldIsAProtocolError: a message without from
// or with an unknown from, and an ack without ackId, are not dropped in
// silence (nor read as ack id 0): each is reported to OnProtocolError,
// the connection stays open and later frames arrive.
func TestFrameMissingRequiredFieldIsAProtocolError(t *testing.T) {
	tests := []struct {
		frame, typ, reason string
	}{
		{`{"type":"message","dataType":"text","data":"no from"}`, "message", "the message has no from"},
		{`{"type":"message","from":"elsewhere","dataType":"text","data":"x"}`, "message", `the message has the unknown from "elsewhere"`},
		{`{"type":"message","from":"","dataType":"text","data":"x"}`, "message", "the message has no from"},
		{`{"type":"ack","success":true}`, "ack", "the ack has no ackId"},
		{`{"type":"ack","ackId":null,"success":false}`, "ack", "the ack has no ackId"},
	}
	u := scriptedService(t, []string{string(ProtocolJSON)}, func(ctx context.Context, ws *websocket.Conn) {
		_ = ws.Write(ctx, websocket.MessageText, []byte(`{"type":"system","event":"connected","connectionId":"c1"}`))
		for _, tt := range tests {
			if ws.Write(ctx, websocket.MessageText, []byte(tt.frame)) != nil {
				return
			}
		}
		_ = ws.Write(ctx, websocket.MessageText, []byte(`{"type":"message","from":"server","dataType":"text","data":"after"}`))
		_, _, _ = ws.Read(ctx)
	})
	c, err := New(StaticURL(u), &Options{Protocol: ProtocolJSON})
	if err != nil {
		t.Fatal(err)
	}
	rec := record(c)
	errs := make(chan *ProtocolError, len(tests))
	c.OnProtocolError(func(e ProtocolErrorEvent) { errs <- e.Err })
	mustStart(t, c)
	next(t, rec.connected, "Connected")
	for _, tt := range tests {
		e := next(t, errs, "protocol error for "+tt.frame)
		if e.Type != tt.typ || e.Reason != tt.reason {
			t.Errorf("%s: protocol error %+v; want type %q, reason %q", tt.frame, e, tt.typ, tt.reason)
		}
	}
	if s := next(t, rec.server, "server message"); string(s.Data) != "after" {
		t.Errorf("first delivered message %+v; want the valid one", s)
	}
	if s := c.State(); s != StateConnected {
		t.Errorf("State = %s", s)
	}
	stopClient(t, c)
}
