package webpubsubclient

import (
	"context"
	"time"

	"errors"
	"fmt"
	"github.com/gowebpubsub/webpubsub/emulator"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/gowebpubsub/webpubsub"
)

var (
	publisherToken  = webpubsub.GetClientAccessTokenOptions{UserID: "pub", Roles: []string{"webpubsub.sendToGroup", "webpubsub.joinLeaveGroup"}}
	subscriberToken = webpubsub.GetClientAccessTokenOptions{UserID: "sub", Roles: []string{"webpubsub.joinLeaveGroup"}}
)

// streamsOf registers an OnGroupStream handler on c that hands every
// stream to the returned channel.
func streamsOf(c *Client, opts *OnGroupStreamOptions) <-chan *GroupStream {
	ch := make(chan *GroupStream, 100)
	c.OnGroupStream(func(s *GroupStream) { ch <- s }, opts)
	return ch
}

// readAll reads s to its end and returns the fragments' data and the
// error that ended it.
func readAll(t testing.TB, s *GroupStream) ([]string, error) {
	t.Helper()
	ctx := testContext(t)
	var got []string
	for {
		m, err := s.Next(ctx)
		if err != nil {
			return got, err
		}
		if m.Stream == nil || m.Stream.StreamID != s.StreamID() || m.Group != s.Group() {
			t.Fatalf("fragment %+v does not belong to stream %s in %s", m, s.StreamID(), s.Group())
		}
		if want := uint64(len(got) + 1); m.Stream.StreamSequenceID != want {
			t.Fatalf("fragment at position %d, want %d", m.Stream.StreamSequenceID, want)
		}
		got = append(got, string(m.Data))
	}
}

func sameStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// streamPair starts a publisher and a subscriber on protocol p; the
// subscriber has joined group.
func streamPair(t *testing.T, e *testEnv, p Protocol, group string, opts *OnGroupStreamOptions) (pub, sub *Client, subRec *recorder, streams <-chan *GroupStream) {
	t.Helper()
	pub, _, _ = e.startClient(t, p, publisherToken, nil)
	sub, subRec, _ = e.startClient(t, p, subscriberToken, nil)
	streams = streamsOf(sub, opts)
	if _, err := sub.JoinGroup(testContext(t), group, nil); err != nil {
		t.Fatal(err)
	}
	return pub, sub, subRec, streams
}

// fastRecovery returns options that retry a recovery every 5 ms, with
// handshakes on connections of their own: a keep-alive pool could keep a
// connection dialed for an attempt that another one served, which the
// emulator's shutdown then waits for.
func fastRecovery() *Options {
	return &Options{RecoveryInterval: 5 * time.Millisecond,
		HTTPClient: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}}
}

// TestGroupStreamRoundTrip: fragments written by one client reach
// another in order, ending with io.EOF after Close; OnGroupMessage sees
// the same fragments with their metadata and the terminal message.
func TestGroupStreamRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		n    int
		msg  func(i int) Message
		want func(i int) string
	}{
		{"text", 100, func(i int) Message { return TextMessage("f" + strconv.Itoa(i)) }, func(i int) string { return "f" + strconv.Itoa(i) }},
		{"json", 20, func(i int) Message { return JSONMessage(map[string]int{"i": i}) }, func(i int) string { return fmt.Sprintf(`{"i":%d}`, i) }},
		{"binary", 20, func(i int) Message { return BinaryMessage([]byte{byte(i), 0}) }, func(i int) string { return string([]byte{byte(i), 0}) }},
	}
	e := newEnv(t)
	jsonProtocols(t, func(t *testing.T, p Protocol) {
		pub, _, subRec, streams := streamPair(t, e, p, "room", nil)
		ctx := testContext(t)
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				w, err := pub.OpenGroupStream(ctx, "room", &OpenGroupStreamOptions{StreamID: "s-" + tt.name})
				if err != nil {
					t.Fatal(err)
				}
				if w.StreamID() != "s-"+tt.name || w.Group() != "room" {
					t.Fatalf("writer %s in %s", w.StreamID(), w.Group())
				}
				var want []string
				for i := 1; i <= tt.n; i++ {
					if err := w.Write(ctx, tt.msg(i)); err != nil {
						t.Fatalf("Write %d: %v", i, err)
					}
					want = append(want, tt.want(i))
				}
				if err := w.Close(ctx); err != nil {
					t.Fatalf("Close: %v", err)
				}
				select {
				case <-w.Done():
				default:
					t.Fatal("Done is open after Close")
				}
				if w.Err() != nil {
					t.Fatalf("Err after Close = %v", w.Err())
				}
				if err := w.Write(ctx, TextMessage("late")); !errors.Is(err, ErrStreamClosed) {
					t.Fatalf("Write after Close = %v, want ErrStreamClosed", err)
				}
				s := next(t, streams, "the inbound stream")
				if s.StreamID() != "s-"+tt.name || s.Group() != "room" || s.FromUserID() != "pub" {
					t.Fatalf("inbound stream %s in %s from %s", s.StreamID(), s.Group(), s.FromUserID())
				}
				got, err := readAll(t, s)
				if err != io.EOF || !sameStrings(got, want) {
					t.Fatalf("read %d fragments %q…, %v; want %d, io.EOF", len(got), got[:min(3, len(got))], err, len(want))
				}
				// The group message handler saw every fragment and the end.
				for i := 1; i <= tt.n; i++ {
					m := next(t, subRec.group, "group message")
					if m.Stream == nil || m.Stream.StreamSequenceID != uint64(i) || m.Stream.EndOfStream || string(m.Data) != tt.want(i) {
						t.Fatalf("group message %d = %+v", i, m)
					}
				}
				end := next(t, subRec.group, "the terminal group message")
				if end.Stream == nil || !end.Stream.EndOfStream || end.Stream.StreamSequenceID != uint64(tt.n+1) || end.Stream.Error != nil || len(end.Data) != 0 {
					t.Fatalf("terminal message = %+v", end)
				}
			})
		}
	})
}

// TestOpenGroupStreamRefused: the service's refusal is a *StreamError with
// its name; invalid arguments are *ValidationErrors.
func TestOpenGroupStreamRefused(t *testing.T) {
	e := newEnv(t)
	jsonProtocols(t, func(t *testing.T, p Protocol) {
		ctx := testContext(t)
		noSend, _, _ := e.startClient(t, p, subscriberToken, nil)
		_, err := noSend.OpenGroupStream(ctx, "room", &OpenGroupStreamOptions{StreamID: "s1"})
		var se *StreamError
		if !errors.As(err, &se) || se.Name != ErrorNameForbidden || se.StreamID != "s1" || se.Group != "room" || se.Message == "" {
			t.Fatalf("OpenGroupStream without permission = %v; want a *StreamError named Forbidden", err)
		}
		// The id is free again.
		if _, err := noSend.OpenGroupStream(ctx, "room", &OpenGroupStreamOptions{StreamID: "s1"}); !errors.As(err, &se) || se.Name != ErrorNameForbidden {
			t.Fatalf("second refused start = %v", err)
		}

		pub, _, _ := e.startClient(t, p, publisherToken, nil)
		w, err := pub.OpenGroupStream(ctx, "room", nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(w.StreamID()) != 36 {
			t.Errorf("generated stream id %q; want a UUID", w.StreamID())
		}
		for _, tc := range []struct {
			name  string
			group string
			opts  *OpenGroupStreamOptions
		}{
			{"bad group", "", nil},
			{"negative idle timeout", "room", &OpenGroupStreamOptions{IdleTimeout: -1}},
			{"stream id in use", "room", &OpenGroupStreamOptions{StreamID: w.StreamID()}},
		} {
			if _, err := pub.OpenGroupStream(ctx, tc.group, tc.opts); !errors.Is(err, ErrInvalidArgument) {
				t.Errorf("%s: %v; want a *ValidationError", tc.name, err)
			}
		}
		if err := w.Write(ctx, Message{}); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("Write of the zero Message = %v", err)
		}
		if err := w.KeepAlive(ctx); err != nil {
			t.Errorf("KeepAlive = %v", err)
		}
		if err := w.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if err := w.KeepAlive(ctx); !errors.Is(err, ErrStreamClosed) {
			t.Errorf("KeepAlive after Close = %v", err)
		}
		if err := w.Close(ctx); err != nil {
			t.Errorf("second Close = %v", err)
		}
		stopOnly(t, pub)
		if _, err := pub.OpenGroupStream(ctx, "room", nil); !errors.Is(err, ErrNotStarted) {
			t.Errorf("OpenGroupStream on a stopped client = %v", err)
		}
	})
}

// TestGroupStreamCloseWithError: a stream ended with an error reaches its
// receivers as a *StreamError named UserError with the message and code.
func TestGroupStreamCloseWithError(t *testing.T) {
	e := newEnv(t)
	jsonProtocols(t, func(t *testing.T, p Protocol) {
		pub, _, subRec, streams := streamPair(t, e, p, "room", nil)
		ctx := testContext(t)
		w, err := pub.OpenGroupStream(ctx, "room", nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			if err := w.Write(ctx, TextMessage(strconv.Itoa(i))); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.CloseWithError(ctx, "model overloaded", "E42"); err != nil {
			t.Fatalf("CloseWithError = %v", err)
		}
		if err := w.Write(ctx, TextMessage("x")); !errors.Is(err, ErrStreamClosed) {
			t.Fatalf("Write after CloseWithError = %v", err)
		}
		got, err := readAll(t, next(t, streams, "stream"))
		var se *StreamError
		if len(got) != 3 || !errors.As(err, &se) || se.Name != ErrorNameUserError || se.Message != "model overloaded" || se.UserErrorCode != "E42" || se.StreamID != w.StreamID() {
			t.Fatalf("read %q, %v; want 3 fragments and UserError", got, err)
		}
		for range 3 {
			next(t, subRec.group, "fragment")
		}
		end := next(t, subRec.group, "terminal message")
		if end.Stream == nil || !end.Stream.EndOfStream || end.Stream.Error == nil || end.Stream.Error.Name != ErrorNameUserError || end.Stream.Error.UserErrorCode != "E42" {
			t.Fatalf("terminal message %+v", end.Stream)
		}
	})
}

// TestGroupStreamNoEcho: with NoEcho the publisher's own connection, a
// member of the group, does not get the stream; without it, it does.
func TestGroupStreamNoEcho(t *testing.T) {
	e := newEnv(t)
	for _, noEcho := range []bool{true, false} {
		t.Run(strconv.FormatBool(noEcho), func(t *testing.T) {
			ctx := testContext(t)
			pub, pubRec, _ := e.startClient(t, ProtocolReliableJSON, publisherToken, nil)
			own := streamsOf(pub, nil)
			if _, err := pub.JoinGroup(ctx, "echo", nil); err != nil {
				t.Fatal(err)
			}
			w, err := pub.OpenGroupStream(ctx, "echo", &OpenGroupStreamOptions{NoEcho: noEcho})
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Write(ctx, TextMessage("a")); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(ctx); err != nil {
				t.Fatal(err)
			}
			// A marker after the stream: the connection gets messages in
			// order, so the first one tells whether the stream came back.
			if _, err := pub.SendToGroup(ctx, "echo", TextMessage("marker"), nil); err != nil {
				t.Fatal(err)
			}
			first := next(t, pubRec.group, "first group message")
			if noEcho {
				if string(first.Data) != "marker" || first.Stream != nil {
					t.Fatalf("with NoEcho the publisher got %+v first", first)
				}
				expectEmpty(t, own, "own stream")
				return
			}
			if first.Stream == nil || string(first.Data) != "a" {
				t.Fatalf("without NoEcho the publisher got %+v first", first)
			}
			got, err := readAll(t, next(t, own, "own stream"))
			if err != io.EOF || !sameStrings(got, []string{"a"}) {
				t.Fatalf("own stream %q, %v", got, err)
			}
		})
	}
}

// TestGroupStreamIdleTimeout: a stream silent past its idle timeout on
// the emulator's clock is closed: the publisher's writer fails with
// IdleTimeout, and the receivers' stream ends with IdleTimeout.
func TestGroupStreamIdleTimeout(t *testing.T) {
	clk := emulator.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	e := newEnv(t, emulator.WithClock(clk))
	pub, _, _, streams := streamPair(t, e, ProtocolReliableJSON, "room", nil)
	ctx := testContext(t)
	const idle = 10 * time.Second // below the emulator's keep-alive timeouts
	w, err := pub.OpenGroupStream(ctx, "room", &OpenGroupStreamOptions{IdleTimeout: idle})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(ctx, TextMessage("only")); err != nil {
		t.Fatal(err)
	}
	s := next(t, streams, "stream")
	if m, err := s.Next(ctx); err != nil || string(m.Data) != "only" {
		t.Fatalf("Next = %+v, %v", m, err)
	}
	waitTimer(t, clk, idle)
	clk.Advance(idle)
	select {
	case <-w.Done():
	case <-ctx.Done():
		t.Fatal("the writer did not end")
	}
	var se *StreamError
	if err := w.Err(); !errors.As(err, &se) || se.Name != ErrorNameIdleTimeout {
		t.Fatalf("writer Err = %v; want IdleTimeout", err)
	}
	if err := w.Write(ctx, TextMessage("late")); !errors.As(err, &se) || se.Name != ErrorNameIdleTimeout {
		t.Fatalf("Write after the timeout = %v", err)
	}
	if _, err := s.Next(ctx); !errors.As(err, &se) || se.Name != ErrorNameIdleTimeout {
		t.Fatalf("receiver's end = %v; want IdleTimeout", err)
	}
}

// TestGroupStreamAcrossRecovery: the publisher's and then the
// subscriber's connection are cut mid-stream; both recover, and the
// subscriber reads every fragment once, in order.
func TestGroupStreamAcrossRecovery(t *testing.T) {
	const total = 600
	e := newEnv(t)
	pub, _, _ := e.startClient(t, ProtocolReliableJSON, publisherToken, fastRecovery())
	sub, _, _ := e.startClient(t, ProtocolReliableJSON, subscriberToken, fastRecovery())
	streams := streamsOf(sub, &OnGroupStreamOptions{FromStart: true})
	ctx := testContext(t)
	if _, err := sub.JoinGroup(ctx, "room", nil); err != nil {
		t.Fatal(err)
	}
	pubID, subID := pub.ConnectionID(), sub.ConnectionID()
	w, err := pub.OpenGroupStream(ctx, "room", nil)
	if err != nil {
		t.Fatal(err)
	}
	writeErr := make(chan error, 1)
	go func() {
		for i := 1; i <= total; i++ {
			if err := w.Write(ctx, TextMessage("f"+strconv.Itoa(i))); err != nil {
				writeErr <- fmt.Errorf("Write %d: %w", i, err)
				return
			}
		}
		writeErr <- w.Close(ctx)
	}()
	s := next(t, streams, "stream")
	for i := 1; ; i++ {
		m, err := s.Next(ctx)
		if err == io.EOF && i == total+1 {
			break
		}
		if err != nil {
			t.Fatalf("Next after %d fragments: %v", i-1, err)
		}
		if string(m.Data) != "f"+strconv.Itoa(i) || m.Stream.StreamSequenceID != uint64(i) {
			t.Fatalf("fragment %d = %q at %d", i, m.Data, m.Stream.StreamSequenceID)
		}
		switch i {
		case 100:
			if err := e.emu.CutConnection("chat", pubID); err != nil {
				t.Fatal(err)
			}
		case 300:
			if err := e.emu.CutConnection("chat", subID); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := <-writeErr; err != nil {
		t.Fatal(err)
	}
	if pub.ConnectionID() != pubID || sub.ConnectionID() != subID {
		t.Errorf("connections %s, %s; want %s, %s recovered", pub.ConnectionID(), sub.ConnectionID(), pubID, subID)
	}
}

// TestGroupStreamConnectionLost: when a connection ends for good (every
// drop with ProtocolJSON; a refused recovery with the reliable protocol),
// its outbound streams fail and its inbound streams end, with
// ErrStreamConnectionLost; receivers of a lost publisher's stream see
// Cancelled.
func TestGroupStreamConnectionLost(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name    string
		p       Protocol
		cutPub  bool
		refused bool
	}{
		{"json publisher", ProtocolJSON, true, false},
		{"json subscriber", ProtocolJSON, false, false},
		{"reliable publisher, recovery refused", ProtocolReliableJSON, true, true},
		{"reliable subscriber, recovery refused", ProtocolReliableJSON, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pub, pubRec, _ := e.startClient(t, tt.p, publisherToken, nil)
			sub, subRec, _ := e.startClient(t, tt.p, subscriberToken, nil)
			streams := streamsOf(sub, nil)
			if _, err := sub.JoinGroup(testContext(t), "lost", nil); err != nil {
				t.Fatal(err)
			}
			ctx := testContext(t)
			w, err := pub.OpenGroupStream(ctx, "lost", nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Write(ctx, TextMessage("one")); err != nil {
				t.Fatal(err)
			}
			s := next(t, streams, "stream")
			if _, err := s.Next(ctx); err != nil {
				t.Fatal(err)
			}
			victim, victimRec := sub, subRec
			if tt.cutPub {
				victim, victimRec = pub, pubRec
			}
			next(t, victimRec.connected, "the first Connected")
			// The test ends once the victim has a new connection, so that
			// stopping it never interrupts a dial.
			defer next(t, victimRec.connected, "Connected of the new connection")
			id := victim.ConnectionID()
			if tt.refused {
				if err := e.emu.RefuseNextRecovery("chat", id); err != nil {
					t.Fatal(err)
				}
			}
			if err := e.emu.CutConnection("chat", id); err != nil {
				t.Fatal(err)
			}
			if tt.cutPub {
				select {
				case <-w.Done():
				case <-ctx.Done():
					t.Fatal("the writer did not fail")
				}
				if !errors.Is(w.Err(), ErrStreamConnectionLost) {
					t.Fatalf("writer Err = %v", w.Err())
				}
				if err := w.Write(ctx, TextMessage("x")); !errors.Is(err, ErrStreamConnectionLost) {
					t.Fatalf("Write after the loss = %v", err)
				}
				var se *StreamError
				if _, err := s.Next(ctx); !errors.As(err, &se) || se.Name != ErrorNameCancelled {
					t.Fatalf("receiver's end = %v; want Cancelled", err)
				}
				return
			}
			if _, err := s.Next(ctx); !errors.Is(err, ErrStreamConnectionLost) {
				t.Fatalf("receiver's end = %v; want ErrStreamConnectionLost", err)
			}
			if err := w.Close(ctx); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestGroupStreamBackPressure: with the service's acks held back, Write
// blocks once StreamBufferFragments fragments are unacknowledged, and
// goes on when the acks arrive.
func TestGroupStreamBackPressure(t *testing.T) {
	// fill is how many fragments of size bytes fit before a limit is hit.
	big := StreamBufferBytes / 16 // with the frame around it, 16 such fragments pass StreamBufferBytes
	cases := []struct {
		name       string
		size, fill int
	}{
		{"StreamBufferFragments", 1, StreamBufferFragments},
		{"StreamBufferBytes", big, 16 - 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			pub, _, _, streams := streamPair(t, e, ProtocolReliableJSON, "room", nil)
			ctx := testContext(t)
			w, err := pub.OpenGroupStream(ctx, "room", nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := e.emu.PauseOutbound("chat", pub.ConnectionID()); err != nil {
				t.Fatal(err)
			}
			pad := strings.Repeat("x", tc.size)
			fragment := func(i int) string { return strconv.Itoa(i) + ":" + pad }
			for i := 1; i <= tc.fill; i++ {
				if err := w.Write(ctx, TextMessage(fragment(i))); err != nil {
					t.Fatalf("Write %d: %v", i, err)
				}
			}
			w.mu.Lock()
			buffered, bytes := len(w.frames), w.bytes
			w.mu.Unlock()
			if buffered != tc.fill || bytes > StreamBufferBytes {
				t.Fatalf("%d fragments (%d bytes) buffered, want %d (at most %d bytes)", buffered, bytes, tc.fill, StreamBufferBytes)
			}
			// The buffer is full: a Write waits, and gives up with its
			// context without taking a position. (The service holds the
			// acknowledgements back, so nothing can make room meanwhile.)
			short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
			err = w.Write(short, TextMessage("refused:"+pad))
			cancel()
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Write on a full buffer = %v; want it to block until its deadline", err)
			}
			if err := e.emu.ResumeOutbound("chat", pub.ConnectionID()); err != nil {
				t.Fatal(err)
			}
			if err := w.Write(ctx, TextMessage(fragment(tc.fill+1))); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(ctx); err != nil {
				t.Fatal(err)
			}
			got, err := readAll(t, next(t, streams, "stream"))
			if err != io.EOF || len(got) != tc.fill+1 {
				t.Fatalf("read %d fragments, %v; want %d, io.EOF", len(got), err, tc.fill+1)
			}
			for i, f := range got {
				if f != fragment(i+1) {
					t.Fatalf("fragment %d is %.20q…, want %.20q…", i+1, f, fragment(i+1))
				}
			}
		})
	}
}

// TestOnGroupStreamFromStart: a subscriber that joins mid-stream gets the
// rest of it, from the position it joined at, unless FromStart is set.
func TestOnGroupStreamFromStart(t *testing.T) {
	e := newEnv(t)
	pub, _, _, early := streamPair(t, e, ProtocolReliableJSON, "room", nil)
	ctx := testContext(t)
	late, _, _ := e.startClient(t, ProtocolReliableJSON, subscriberToken, nil)
	fromStart := streamsOf(late, &OnGroupStreamOptions{FromStart: true, Groups: []string{"room"}})
	midway := streamsOf(late, &OnGroupStreamOptions{Groups: []string{"room", "other"}})
	otherOnly := streamsOf(late, &OnGroupStreamOptions{Groups: []string{"other"}})
	w, err := pub.OpenGroupStream(ctx, "room", nil)
	if err != nil {
		t.Fatal(err)
	}
	var s *GroupStream
	for i := 1; i <= 3; i++ {
		if err := w.Write(ctx, TextMessage("f"+strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
		if s == nil {
			s = next(t, early, "early stream")
		}
		if m, err := s.Next(ctx); err != nil || m.Stream.StreamSequenceID != uint64(i) {
			t.Fatalf("early Next = %+v, %v", m, err)
		}
	}
	if _, err := late.JoinGroup(ctx, "room", nil); err != nil {
		t.Fatal(err)
	}
	for i := 4; i <= 5; i++ {
		if err := w.Write(ctx, TextMessage("f"+strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	ms := next(t, midway, "the midway stream")
	var got []uint64
	for {
		m, err := ms.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, m.Stream.StreamSequenceID)
	}
	if len(got) != 2 || got[0] != 4 || got[1] != 5 {
		t.Fatalf("the midway reader got positions %v, want [4 5]", got)
	}
	// The registrations are routed in order on the reader: FromStart's
	// had the stream before midway's ended, and ignored it.
	expectEmpty(t, fromStart, "stream joined midway with FromStart")
	expectEmpty(t, otherOnly, "stream of a filtered-out group")

	// A stream the late subscriber sees from its start reaches FromStart.
	w2, err := pub.OpenGroupStream(ctx, "room", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := w2.Write(ctx, TextMessage("x")); err != nil {
		t.Fatal(err)
	}
	if err := w2.Close(ctx); err != nil {
		t.Fatal(err)
	}
	fs := next(t, fromStart, "the stream from its start")
	if fs.StreamID() != w2.StreamID() {
		t.Fatalf("FromStart got stream %s, want %s", fs.StreamID(), w2.StreamID())
	}
	if got, err := readAll(t, fs); err != io.EOF || !sameStrings(got, []string{"x"}) {
		t.Fatalf("read %q, %v", got, err)
	}
}

// TestOnGroupStreamIdleTimeout: a stream silent for the registration's
// idle timeout, on the client's clock, ends with IdleTimeout; its later
// fragments are ignored; removing the registration ends its streams.
func TestOnGroupStreamIdleTimeout(t *testing.T) {
	e := newEnv(t)
	clk := emulator.NewFakeClock(time.Now())
	pub, _, _ := e.startClient(t, ProtocolReliableJSON, publisherToken, nil)
	sub, _, _ := e.newClient(t, subscriberToken, nil, nil, clk)
	const idle = 10 * time.Second
	streams := streamsOf(sub, &OnGroupStreamOptions{IdleTimeout: idle})
	other := make(chan *GroupStream, 1)
	remove := sub.OnGroupStream(func(s *GroupStream) { other <- s }, nil)
	mustStart(t, sub)
	ctx := testContext(t)
	if _, err := sub.JoinGroup(ctx, "room", nil); err != nil {
		t.Fatal(err)
	}
	w, err := pub.OpenGroupStream(ctx, "room", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(ctx, TextMessage("one")); err != nil {
		t.Fatal(err)
	}
	s := next(t, streams, "stream")
	if _, err := s.Next(ctx); err != nil {
		t.Fatal(err)
	}
	waitTimer(t, clk, idle)
	clk.Advance(idle)
	var se *StreamError
	if _, err := s.Next(ctx); !errors.As(err, &se) || se.Name != ErrorNameIdleTimeout {
		t.Fatalf("Next after the idle timeout = %v", err)
	}
	// The other registration still has the stream open; removing it ends
	// it.
	o := next(t, other, "stream of the other registration")
	if m, err := o.Next(ctx); err != nil || string(m.Data) != "one" {
		t.Fatalf("other Next = %+v, %v", m, err)
	}
	remove()
	if _, err := o.Next(ctx); !errors.Is(err, ErrStreamClosed) {
		t.Fatalf("Next after remove = %v", err)
	}
	if err := w.Write(ctx, TextMessage("two")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	expectEmpty(t, streams, "the timed-out stream again")
}

// TestGroupStreamCloseAcrossRecovery: the service closes the stream but
// its streamClosed is lost with the transport; after the recovery the
// writer sends its frames again, and takes the StreamNotFound answer as
// the normal close it was.
func TestGroupStreamCloseAcrossRecovery(t *testing.T) {
	e := newEnv(t)
	pub, _, _ := e.startClient(t, ProtocolReliableJSON, publisherToken, fastRecovery())
	sub, _, _ := e.startClient(t, ProtocolReliableJSON, subscriberToken, nil)
	streams := streamsOf(sub, nil)
	ctx := testContext(t)
	if _, err := sub.JoinGroup(ctx, "room", nil); err != nil {
		t.Fatal(err)
	}
	w, err := pub.OpenGroupStream(ctx, "room", nil)
	if err != nil {
		t.Fatal(err)
	}
	id := pub.ConnectionID()
	if err := e.emu.PauseOutbound("chat", id); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		if err := w.Write(ctx, TextMessage("f"+strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	closed := make(chan error, 1)
	go func() { closed <- w.Close(ctx) }()
	// The subscriber sees the end: the service has closed the stream; its
	// acks and streamClosed wait on the paused transport.
	if got, err := readAll(t, next(t, streams, "stream")); err != io.EOF || len(got) != 3 {
		t.Fatalf("read %q, %v", got, err)
	}
	if err := e.emu.CutConnection("chat", id); err != nil {
		t.Fatal(err)
	}
	if err := <-closed; err != nil {
		t.Fatalf("Close across the recovery = %v", err)
	}
	if pub.ConnectionID() != id {
		t.Errorf("connection %s replaced %s; want a recovery", pub.ConnectionID(), id)
	}
	expectEmpty(t, streams, "a second stream")
}

// TestGroupStreamStop: Stop ends open streams, outbound and inbound, with
// ErrStopped.
func TestGroupStreamStop(t *testing.T) {
	e := newEnv(t)
	pub, sub, _, streams := streamPair(t, e, ProtocolReliableJSON, "room", nil)
	ctx := testContext(t)
	w, err := pub.OpenGroupStream(ctx, "room", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(ctx, TextMessage("one")); err != nil {
		t.Fatal(err)
	}
	s := next(t, streams, "stream")
	if _, err := s.Next(ctx); err != nil {
		t.Fatal(err)
	}
	stopOnly(t, sub)
	if _, err := s.Next(ctx); !errors.Is(err, ErrStopped) {
		t.Fatalf("inbound Next after Stop = %v", err)
	}
	stopOnly(t, pub)
	if err := w.Err(); !errors.Is(err, ErrStopped) {
		t.Fatalf("writer Err after Stop = %v", err)
	}
	if err := w.Close(ctx); !errors.Is(err, ErrStopped) {
		t.Fatalf("Close after Stop = %v", err)
	}
}
