// Command stream shows a group stream, the way an LLM chat streams an
// answer: a Go client (the "bot") publishes a generated text token by
// token as one stream to group "answers", and a second client (the
// "reader") prints each token as it arrives and learns when the answer is
// complete.
//
// It runs against the in-process emulator, or against Azure when
// AZURE_WEBPUBSUB_CONNECTION_STRING (and optionally AZURE_WEBPUBSUB_HUB) are set:
//
//	go run ./examples/stream
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/gowebpubsub/webpubsub"
	"github.com/gowebpubsub/webpubsub/examples/internal/exampleenv"
	"github.com/gowebpubsub/webpubsub/webpubsubclient"
)

// answer is the "generated" text; each word (with its space) is a token.
const answer = "Group streams deliver fragments in order, exactly once, even across a reconnect."

// connect returns a client for user with roles; its credential asks the
// service for a fresh token on every connection.
func connect(ctx context.Context, env *exampleenv.Env, user string, roles ...string) (*webpubsubclient.Client, error) {
	cred := webpubsubclient.URLFunc(func(ctx context.Context) (string, error) {
		tok, err := env.Service.GetClientAccessToken(ctx, &webpubsub.GetClientAccessTokenOptions{UserID: user, Roles: roles})
		return tok.URL, err
	})
	return webpubsubclient.New(cred, nil)
}

func run(ctx context.Context, env *exampleenv.Env) error {
	// 1. The reader joins the group and registers for its streams. The
	// handler runs on a goroutine of its own for each stream, so it may
	// read the stream to its end.
	reader, err := connect(ctx, env, "reader", "webpubsub.joinLeaveGroup")
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	reader.OnGroupStream(func(s *webpubsubclient.GroupStream) {
		fmt.Printf("Reader: a stream from %s in group %s\n", s.FromUserID(), s.Group())
		fmt.Print("Reader: ")
		n := 0
		for {
			m, err := s.Next(ctx)
			if errors.Is(err, io.EOF) {
				fmt.Printf("\nReader: the answer is complete (%d tokens)\n", n)
				done <- nil
				return
			}
			if err != nil {
				fmt.Println()
				done <- err
				return
			}
			n++
			fmt.Print(string(m.Data)) // as it arrives
		}
	}, &webpubsubclient.OnGroupStreamOptions{FromStart: true})
	if err := reader.Start(ctx); err != nil {
		return err
	}
	defer reader.Stop(context.Background())
	if _, err := reader.JoinGroup(ctx, "answers", nil); err != nil {
		return err
	}

	// 2. The bot opens a stream to the group and writes the answer token
	// by token. Each Write returns once the token is on the wire; the
	// writer keeps it until the service acknowledges it.
	bot, err := connect(ctx, env, "bot", "webpubsub.sendToGroup")
	if err != nil {
		return err
	}
	if err := bot.Start(ctx); err != nil {
		return err
	}
	defer bot.Stop(context.Background())
	w, err := bot.OpenGroupStream(ctx, "answers", nil)
	if err != nil {
		return err
	}
	fmt.Println("Bot: opened a stream to group answers")
	tokens := strings.SplitAfter(answer, " ")
	for _, tok := range tokens {
		if err := w.Write(ctx, webpubsubclient.TextMessage(tok)); err != nil {
			return err
		}
	}
	// 3. Close sends the end of the stream after every token and waits for
	// the service to confirm it.
	if err := w.Close(ctx); err != nil {
		return err
	}
	// The reader prints as tokens arrive; the bot reports once it is done,
	// so that the two never print at the same time.
	select {
	case err := <-done:
		if err != nil {
			return err
		}
	case <-ctx.Done():
		return ctx.Err()
	}
	fmt.Printf("Bot: wrote %d tokens and closed the stream\n", len(tokens))
	return nil
}

func main() { exampleenv.Main("stream", run) }
