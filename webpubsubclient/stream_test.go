package webpubsubclient

import (
	"errors"
	"fmt"
	"io"
	"strconv"
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

func fragments(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = "f" + strconv.Itoa(i+1)
	}
	return out
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
	protocols(t, func(t *testing.T, p Protocol) {
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
