package webpubsubclient

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/gowebpubsub/webpubsub"
	"github.com/gowebpubsub/webpubsub/emulator"
	"github.com/gowebpubsub/webpubsub/internal/protocol"
	"github.com/gowebpubsub/webpubsub/internal/testclient"
)

// scriptConn is the service side of a scripted connection.
type scriptConn struct {
	t   *testing.T
	ctx context.Context
	ws  *websocket.Conn
}

func (s scriptConn) send(f *protocol.ServiceFrame) bool {
	return s.ws.Write(s.ctx, websocket.MessageText, f.AppendJSON(nil)) == nil
}

// read returns the client's next frame other than ping and sequenceAck.
func (s scriptConn) read() (protocol.ClientFrame, bool) {
	for {
		_, b, err := s.ws.Read(s.ctx)
		if err != nil {
			return protocol.ClientFrame{}, false
		}
		f, err := protocol.ParseClientFrame(b)
		if err != nil {
			s.t.Errorf("the client sent an invalid frame %s: %v", b, err)
			return protocol.ClientFrame{}, false
		}
		if f.Type != protocol.TypePing && f.Type != protocol.TypeSequenceAck {
			f.Data = append([]byte(nil), f.Data...)
			return f, true
		}
	}
}

// expectData reads a streamData frame and checks its position.
func (s scriptConn) expectData(seq uint64) bool {
	f, ok := s.read()
	if !ok {
		return false
	}
	if f.Type != protocol.TypeStreamData || f.StreamSequenceID != seq {
		s.t.Errorf("the client sent %s at %d, want streamData at %d", f.Type, f.StreamSequenceID, seq)
		return false
	}
	return true
}

// startScripted starts a ProtocolJSON client against a service that runs
// script after the connected message of its first connection.
func startScripted(t *testing.T, script func(s scriptConn)) *Client {
	t.Helper()
	first := make(chan struct{}, 1)
	first <- struct{}{}
	u := scriptedService(t, []string{string(ProtocolJSON)}, func(ctx context.Context, ws *websocket.Conn) {
		s := scriptConn{t: t, ctx: ctx, ws: ws}
		if !s.send(&protocol.ServiceFrame{Type: protocol.TypeSystem, Event: protocol.EventConnected, ConnectionID: "c1", UserID: "u"}) {
			return
		}
		select {
		case <-first:
			script(s)
		default:
		}
		// Read until the client closes, so that its close handshake
		// completes at once.
		for {
			if _, _, err := ws.Read(ctx); err != nil {
				return
			}
		}
	})
	c, err := New(StaticURL(u), &Options{Protocol: ProtocolJSON})
	if err != nil {
		t.Fatal(err)
	}
	mustStart(t, c)
	return c
}

// TestGroupStreamWriterFlowControl: against a scripted service, the
// writer resends from the position of a streamNack, drops what a
// streamAck accepts, and fails with ProtocolViolation (ending the stream
// with that code) on an ack outside the unacknowledged range.
func TestGroupStreamWriterFlowControl(t *testing.T) {
	scriptDone, acked, wrote := make(chan struct{}), make(chan struct{}), make(chan struct{})
	violationEnd := make(chan protocol.ClientFrame, 1)
	c := startScripted(t, func(s scriptConn) {
		defer close(scriptDone)
		f, ok := s.read()
		if !ok || f.Type != protocol.TypeSendToGroup || f.StreamID != "s" || f.Group != "g" || !f.HasIdleTimeout || f.IdleTimeoutMs != 1500 || !f.NoEcho {
			t.Errorf("stream start = %+v", f)
			return
		}
		s.send(&protocol.ServiceFrame{Type: protocol.TypeStreamAck, StreamID: "s", ExpectedSequenceID: 1})
		for seq := uint64(1); seq <= 3; seq++ {
			if !s.expectData(seq) {
				return
			}
		}
		// Fragment 2 "was lost": the client sends 2 and 3 again.
		s.send(&protocol.ServiceFrame{Type: protocol.TypeStreamNack, StreamID: "s", Name: protocol.StreamErrorInvalidSequenceID, ExpectedSequenceID: 2})
		for seq := uint64(2); seq <= 3; seq++ {
			if !s.expectData(seq) {
				return
			}
		}
		s.send(&protocol.ServiceFrame{Type: protocol.TypeStreamAck, StreamID: "s", ExpectedSequenceID: 4})
		close(acked)
		if !s.expectData(4) {
			return
		}
		select { // the Write of fragment 4 has returned
		case <-wrote:
		case <-s.ctx.Done():
			return
		}
		s.send(&protocol.ServiceFrame{Type: protocol.TypeStreamAck, StreamID: "s", ExpectedSequenceID: 9})
		if f, ok := s.read(); ok {
			violationEnd <- f
		}
	})
	ctx := testContext(t)
	w, err := c.OpenGroupStream(ctx, "g", &OpenGroupStreamOptions{StreamID: "s", NoEcho: true, IdleTimeout: 1499500 * 1000})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := w.Write(ctx, TextMessage(string(rune('a'+i)))); err != nil {
			t.Fatal(err)
		}
	}
	// Once the script has acked 3 fragments the buffer empties.
	select {
	case <-acked:
	case <-scriptDone:
		t.Fatal("the script failed")
	}
	if err := w.Write(ctx, TextMessage("d")); err != nil {
		t.Fatal(err)
	}
	close(wrote)
	<-w.Done()
	var se *StreamError
	if !errors.As(w.Err(), &se) || se.Name != ErrorNameProtocolViolation {
		t.Fatalf("Err = %v; want ProtocolViolation", w.Err())
	}
	end := next(t, violationEnd, "the streamEnd after the violation")
	if end.Type != protocol.TypeStreamEnd || end.StreamID != "s" || end.StreamError == nil || end.StreamError.UserErrorCode != ErrorNameProtocolViolation {
		t.Fatalf("after the violation the client sent %+v", end)
	}
	<-scriptDone
}

// TestGroupStreamReaderSequence: against a scripted service, a gap and a
// duplicate end the stream with InvalidSequenceId (its later fragments
// are ignored), a terminal message's error ends it with that error, and a
// stream seen only at its end is delivered empty.
func TestGroupStreamReaderSequence(t *testing.T) {
	msg := func(id string, seq uint64, data string, end bool, e *protocol.ErrorDetail) *protocol.ServiceFrame {
		return &protocol.ServiceFrame{Type: protocol.TypeMessage, From: protocol.FromGroup, Group: "g", FromUserID: "p",
			DataType: protocol.DataTypeText, Data: []byte(data),
			Stream: &protocol.StreamInfo{StreamID: id, StreamSequenceID: seq, EndOfStream: end, Error: e}}
	}
	frames := []*protocol.ServiceFrame{
		msg("gap", 1, "1", false, nil), msg("gap", 2, "2", false, nil), msg("gap", 4, "4", false, nil), msg("gap", 5, "5", false, nil), msg("gap", 6, "", true, nil),
		msg("dup", 1, "1", false, nil), msg("dup", 1, "1", false, nil), msg("dup", 2, "", true, nil),
		msg("user", 1, "1", false, nil), msg("user", 2, "", true, &protocol.ErrorDetail{Name: "UserError", Message: "boom", UserErrorCode: "E1"}),
		msg("empty", 1, "", true, nil),
		msg("nodata", 1, "1", false, nil), {Type: protocol.TypeMessage, From: protocol.FromGroup, Group: "g", // a terminal message with data null
			Stream: &protocol.StreamInfo{StreamID: "nodata", StreamSequenceID: 2, EndOfStream: true}},
		msg("shortend", 1, "1", false, nil), msg("shortend", 3, "", true, nil),
	}
	started := make(chan struct{})
	var c *Client
	streams := make(chan *GroupStream, 10)
	c = startScripted(t, func(s scriptConn) {
		select {
		case <-started:
		case <-s.ctx.Done():
			return
		}
		for _, f := range frames {
			if !s.send(f) {
				return
			}
		}
	})
	c.OnGroupStream(func(s *GroupStream) { streams <- s }, nil)
	close(started)
	tests := []struct {
		id       string
		want     []string
		wantErr  string // a StreamError name; "" for io.EOF
		wantCode string
	}{
		{"gap", []string{"1", "2"}, ErrorNameInvalidSequenceID, ""},
		{"dup", []string{"1"}, ErrorNameInvalidSequenceID, ""},
		{"user", []string{"1"}, ErrorNameUserError, "E1"},
		{"empty", nil, "", ""},
		{"nodata", []string{"1"}, "", ""},
		{"shortend", []string{"1"}, ErrorNameInvalidSequenceID, ""},
	}
	got := map[string]*GroupStream{}
	for range tests {
		s := next(t, streams, "stream")
		got[s.StreamID()] = s
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			s := got[tt.id]
			if s == nil {
				t.Fatal("not delivered")
			}
			data, err := readAll(t, s)
			if !sameStrings(data, tt.want) {
				t.Errorf("fragments %q, want %q", data, tt.want)
			}
			if tt.wantErr == "" {
				if err != io.EOF {
					t.Errorf("end = %v, want io.EOF", err)
				}
				return
			}
			var se *StreamError
			if !errors.As(err, &se) || se.Name != tt.wantErr || se.UserErrorCode != tt.wantCode || se.Group != "g" || se.StreamID != tt.id {
				t.Errorf("end = %v, want %s", err, tt.wantErr)
			}
		})
	}
	expectEmpty(t, streams, "a stream delivered twice")
}

// TestGroupStreamServiceSequenceRules: a raw publisher skips and repeats
// positions; the emulator answers streamNack InvalidSequenceId and a
// streamAck, publishes nothing twice, and the Go subscriber reads the
// accepted fragments in order.
func TestGroupStreamServiceSequenceRules(t *testing.T) {
	e := newEnv(t)
	sub, _, _ := e.startClient(t, ProtocolReliableJSON, subscriberToken, nil)
	streams := streamsOf(sub, nil)
	ctx := testContext(t)
	if _, err := sub.JoinGroup(ctx, "room", nil); err != nil {
		t.Fatal(err)
	}
	tok, err := e.svc.GetClientAccessToken(ctx, &webpubsub.GetClientAccessTokenOptions{UserID: "raw", Roles: []string{"webpubsub.sendToGroup"}})
	if err != nil {
		t.Fatal(err)
	}
	raw := testclient.Dial(t, tok.URL, &testclient.Options{Subprotocols: []string{testclient.JSON}})
	read := func(typ protocol.FrameType) protocol.ServiceFrame {
		t.Helper()
		for {
			f := raw.ReadFrame()
			if f.Type == typ {
				return f
			}
		}
	}
	data := func(seq uint64, d string) *protocol.ClientFrame {
		return &protocol.ClientFrame{Type: protocol.TypeStreamData, StreamID: "r", StreamSequenceID: seq, HasStreamSequenceID: true,
			DataType: protocol.DataTypeText, Data: []byte(d), HasData: true}
	}
	raw.Send(&protocol.ClientFrame{Type: protocol.TypeSendToGroup, Group: "room", StreamID: "r"})
	if f := read(protocol.TypeStreamAck); f.ExpectedSequenceID != 1 {
		t.Fatalf("start ack %+v", f)
	}
	raw.Send(data(1, "one"))
	raw.Send(data(3, "three-too-early"))
	if f := read(protocol.TypeStreamNack); f.Name != protocol.StreamErrorInvalidSequenceID || f.ExpectedSequenceID != 2 {
		t.Fatalf("gap answered with %+v", f)
	}
	raw.Send(data(1, "one-again"))
	if f := read(protocol.TypeStreamAck); f.ExpectedSequenceID != 2 {
		t.Fatalf("duplicate answered with %+v", f)
	}
	raw.Send(data(2, "two"))
	raw.Send(&protocol.ClientFrame{Type: protocol.TypeStreamEnd, StreamID: "r"})
	if f := read(protocol.TypeStreamClosed); f.StreamID != "r" || f.Error != nil {
		t.Fatalf("end answered with %+v", f)
	}
	got, err := readAll(t, next(t, streams, "stream"))
	if err != io.EOF || !sameStrings(got, []string{"one", "two"}) {
		t.Fatalf("read %q, %v", got, err)
	}
	// Frames for a stream that is not open.
	raw.Send(data(3, "late"))
	if f := read(protocol.TypeStreamClosed); f.Error == nil || f.Error.Name != protocol.StreamErrorNotFound {
		t.Fatalf("late fragment answered with %+v", f)
	}
}

// TestGroupStreamWriterKeepAlive: a silent stream sends a keepalive once
// half its idle timeout has passed on the client's clock.
func TestGroupStreamWriterKeepAlive(t *testing.T) {
	clk := emulator.NewFakeClock(time.Now())
	got := make(chan protocol.ClientFrame, 4)
	u := scriptedService(t, []string{string(ProtocolJSON)}, func(ctx context.Context, ws *websocket.Conn) {
		s := scriptConn{t: t, ctx: ctx, ws: ws}
		if !s.send(&protocol.ServiceFrame{Type: protocol.TypeSystem, Event: protocol.EventConnected, ConnectionID: "c1"}) {
			return
		}
		for {
			f, ok := s.read()
			if !ok {
				return
			}
			if f.Type == protocol.TypeSendToGroup {
				s.send(&protocol.ServiceFrame{Type: protocol.TypeStreamAck, StreamID: f.StreamID, ExpectedSequenceID: 1})
				continue
			}
			got <- f
		}
	})
	c, err := New(StaticURL(u), &Options{Protocol: ProtocolJSON})
	if err != nil {
		t.Fatal(err)
	}
	c.clock = clientClock{clk}
	mustStart(t, c)
	const idle = 10 * time.Second
	w, err := c.OpenGroupStream(testContext(t), "g", &OpenGroupStreamOptions{StreamID: "k", IdleTimeout: idle})
	if err != nil {
		t.Fatal(err)
	}
	waitTimer(t, clk, idle/2)
	clk.Advance(idle / 2)
	f := next(t, got, "keepalive")
	if f.Type != protocol.TypeStreamData || f.StreamID != "k" || f.HasStreamSequenceID || f.HasData {
		t.Fatalf("after half the idle timeout the client sent %+v; want a keepalive", f)
	}
	if err := w.Err(); err != nil {
		t.Fatalf("the stream failed: %v", err)
	}
}

// TestOpenGroupStreamWithoutStartAck: a start the service never
// acknowledges fails with ErrStreamConnectionLost when the connection
// drops, and with the context's error when it ends (the client then ends
// the stream on the service's side).
func TestOpenGroupStreamWithoutStartAck(t *testing.T) {
	tests := []struct {
		name string
		drop bool // the service drops the connection; otherwise ctx is canceled
		want error
	}{
		{"connection lost", true, ErrStreamConnectionLost},
		{"context canceled", false, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gotStart := make(chan struct{})
			after := make(chan protocol.ClientFrame, 1)
			c := startScripted(t, func(s scriptConn) {
				f, ok := s.read()
				if !ok || f.Type != protocol.TypeSendToGroup || f.StreamID == "" {
					t.Errorf("stream start = %+v", f)
					return
				}
				close(gotStart)
				if tt.drop {
					_ = s.ws.CloseNow()
					return
				}
				if f, ok := s.read(); ok {
					after <- f
				}
			})
			ctx, cancel := context.WithCancel(testContext(t))
			defer cancel()
			go func() {
				select {
				case <-gotStart:
					if !tt.drop {
						cancel()
					}
				case <-ctx.Done():
				}
			}()
			w, err := c.OpenGroupStream(ctx, "g", nil)
			if !errors.Is(err, tt.want) || w != nil {
				t.Fatalf("OpenGroupStream = %v, %v; want %v", w, err, tt.want)
			}
			if tt.drop {
				return
			}
			end := next(t, after, "the frame after the canceled start")
			if end.Type != protocol.TypeStreamEnd || end.StreamError == nil {
				t.Fatalf("after the canceled start the client sent %+v; want a streamEnd with an error", end)
			}
		})
	}
}
