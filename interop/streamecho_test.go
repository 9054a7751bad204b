package interop

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/gowebpubsub/webpubsub"
	"github.com/gowebpubsub/webpubsub/emulator"
	"github.com/gowebpubsub/webpubsub/webpubsubclient"
)

// streamEcho is the Go side of the script's group-stream step: a
// webpubsubclient in group "to-go" of its hub that answers every stream
// it receives with a stream of the same fragments to group "from-go".
type streamEcho struct {
	client *webpubsubclient.Client
	done   chan struct{} // closed when the first echo ended

	mu        sync.Mutex
	err       error // the first failure
	fragments int   // fragments echoed by the finished echoes
	streams   int   // echoes finished
}

// startStreamEcho connects the echo client to hub as user go-echo.
func startStreamEcho(t *testing.T, e *emulator.Emulator, hub string) *streamEcho {
	t.Helper()
	service, err := webpubsub.NewServiceClientFromConnectionString(e.ConnectionString(), hub, nil)
	if err != nil {
		t.Fatal(err)
	}
	cred := webpubsubclient.URLFunc(func(ctx context.Context) (string, error) {
		tok, err := service.GetClientAccessToken(ctx, &webpubsub.GetClientAccessTokenOptions{
			UserID: "go-echo",
			Roles:  []string{"webpubsub.joinLeaveGroup.to-go", "webpubsub.sendToGroup.from-go"},
		})
		return tok.URL, err
	})
	client, err := webpubsubclient.New(cred, nil)
	if err != nil {
		t.Fatal(err)
	}
	echo := &streamEcho{client: client, done: make(chan struct{})}
	client.OnGroupStream(echo.echo, &webpubsubclient.OnGroupStreamOptions{Groups: []string{"to-go"}, FromStart: true})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := client.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := client.JoinGroup(ctx, "to-go", nil); err != nil {
		_ = client.Stop(context.Background())
		t.Fatal(err)
	}
	return echo
}

// echo copies one inbound stream, fragment by fragment as they arrive,
// to a stream of its own.
func (s *streamEcho) echo(in *webpubsubclient.GroupStream) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n, err := s.copyStream(ctx, in)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil && s.err == nil {
		s.err = fmt.Errorf("echo of stream %s after %d fragments: %w", in.StreamID(), n, err)
	}
	s.fragments += n
	if s.streams++; s.streams == 1 {
		close(s.done)
	}
}

func (s *streamEcho) copyStream(ctx context.Context, in *webpubsubclient.GroupStream) (int, error) {
	out, err := s.client.OpenGroupStream(ctx, "from-go", nil)
	if err != nil {
		return 0, err
	}
	n := 0
	for {
		m, err := in.Next(ctx)
		if errors.Is(err, io.EOF) {
			return n, out.Close(ctx)
		}
		if err != nil {
			_ = out.CloseWithError(ctx, err.Error(), "EchoInputFailed")
			return n, err
		}
		msg, err := messageOf(m)
		if err != nil {
			return n, err
		}
		if err := out.Write(ctx, msg); err != nil {
			return n, err
		}
		n++
	}
}

// messageOf is the message that carries m's payload again.
func messageOf(m webpubsubclient.GroupMessage) (webpubsubclient.Message, error) {
	switch m.DataType {
	case webpubsubclient.DataTypeText:
		return webpubsubclient.TextMessage(string(m.Data)), nil
	case webpubsubclient.DataTypeJSON:
		return webpubsubclient.JSONMessage(json.RawMessage(m.Data)), nil
	case webpubsubclient.DataTypeBinary:
		return webpubsubclient.BinaryMessage(m.Data), nil
	}
	return webpubsubclient.Message{}, fmt.Errorf("fragment of data type %q", m.DataType)
}

// stop stops the client and reports what went wrong: a failed echo, or
// anything but exactly one echoed stream of 1,000 fragments.
func (s *streamEcho) stop() error {
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
	}
	stopErr := s.client.Stop(context.Background())
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.err != nil:
		return s.err
	case s.streams != 1 || s.fragments != 1000:
		return fmt.Errorf("echoed %d streams with %d fragments in all; want 1 with 1000", s.streams, s.fragments)
	}
	return stopErr
}
