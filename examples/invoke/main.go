// Command invoke shows a request/response call from a client to the
// application server: the client's InvokeEvent sends a user event, the
// service forwards it to the server's eventhandler.Handler, and the
// handler's answer comes back to the waiting call. A handler that fails
// makes the call fail with an *webpubsubclient.InvocationError.
//
// It runs against the in-process emulator, which calls the handler on a
// loopback port:
//
//	go run ./examples/invoke
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/gowebpubsub/webpubsub"
	"github.com/gowebpubsub/webpubsub/eventhandler"
	"github.com/gowebpubsub/webpubsub/examples/internal/exampleenv"
	"github.com/gowebpubsub/webpubsub/webpubsubclient"
)

func run(ctx context.Context, env *exampleenv.Env) error {
	// 1. The application server: an event handler that answers the user
	// event "shout" with the text in capitals, and refuses to shout "shh".
	handler, err := eventhandler.New(env.Hub, &eventhandler.Options{
		ConnectionString: env.ConnectionString(), // its key checks each event's signature
		UserEvents: map[string]eventhandler.UserEventFunc{
			"shout": func(_ context.Context, r *eventhandler.UserEventRequest) (*eventhandler.UserEventResponse, error) {
				if string(r.Data) == "shh" {
					return nil, eventhandler.Reject(http.StatusBadRequest, "one does not shout shh")
				}
				return eventhandler.Text(strings.ToUpper(string(r.Data)) + "!"), nil
			},
		},
	})
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: handler}
	go srv.Serve(l) //nolint:errcheck // ends with Close below
	defer srv.Close()
	if err := env.RouteUserEvents("http://"+l.Addr().String()+eventhandler.DefaultPath(env.Hub), "shout"); err != nil {
		return err
	}
	fmt.Println("Application server listening on", l.Addr())

	// 2. A client connects; any client may send events, so it needs no role.
	tok, err := env.Service.GetClientAccessToken(ctx, &webpubsub.GetClientAccessTokenOptions{UserID: "alice"})
	if err != nil {
		return err
	}
	client, err := webpubsubclient.New(webpubsubclient.StaticURL(tok.URL), nil)
	if err != nil {
		return err
	}
	if err := client.Start(ctx); err != nil {
		return err
	}
	defer client.Stop(context.Background())

	// 3. The client invokes "shout" and waits for the server's answer.
	res, err := client.InvokeEvent(ctx, "shout", webpubsubclient.TextMessage("hello"), nil)
	if err != nil {
		return err
	}
	fmt.Println("shout(hello) answered:", exampleenv.Payload(res.DataType, res.Data))

	// 4. A handler failure comes back as an InvocationError.
	_, err = client.InvokeEvent(ctx, "shout", webpubsubclient.TextMessage("shh"), nil)
	var ie *webpubsubclient.InvocationError
	if !errors.As(err, &ie) {
		return fmt.Errorf("shout(shh): got %v; want an InvocationError", err)
	}
	fmt.Println("shout(shh) failed:", ie.Name)
	return nil
}

func main() { exampleenv.Main("invoke", run) }
