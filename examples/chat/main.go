// Command chat is a chat room on Azure Web PubSub with a Go application
// server. The browser page gets a client access URL from the server
// (GET /negotiate?user=NAME), connects with the json.webpubsub.azure.v1
// subprotocol and talks to the server through user events, which the
// service forwards to the server's eventhandler.Handler:
//
//   - "join" (text: the room): the server adds the connection to the room's
//     group with the ServiceClient, keeps the room in the connection state
//     and tells the room "* alice joined lobby";
//   - "chat" (text: the line): the server sends the line to the room;
//   - when a connection ends, the disconnected event tells the room
//     "* alice left lobby".
//
// The client's token grants no role, so every message in a room has passed
// through the server, which can check it.
//
// By default the service is the emulator, started in-process with an event
// handler for the hub that points at this server:
//
//	go run ./examples/chat                 # serve; open the printed URL in two tabs
//	go run ./examples/chat -demo           # two scripted WebSocket clients, then exit
//	go run ./examples/chat -addr :9000     # another listen address
//
// With AZURE_WEBPUBSUB_CONNECTION_STRING (and optionally AZURE_WEBPUBSUB_HUB,
// default "chat") it uses Azure instead; the hub's event handler must then
// point at a public URL that reaches this server, which the program explains
// when it starts.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		log.Printf("chat: %v", err)
		os.Exit(1)
	}
}

// defaultAddr is where the server listens unless -addr says otherwise; the
// demo listens on a free port instead.
const defaultAddr = "127.0.0.1:8080"

// run serves the chat until ctx is done, or with -demo runs the scripted
// conversation and returns.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("chat", flag.ContinueOnError)
	demo := fs.Bool("demo", false, "run a scripted conversation between two WebSocket clients, print it and exit")
	addr := fs.String("addr", "", "`address` to listen on (default "+defaultAddr+", or a free port with -demo)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if *addr == "" {
		*addr = defaultAddr
		if *demo {
			*addr = "127.0.0.1:0"
		}
	}

	cfg := config{
		addr:             *addr,
		hub:              os.Getenv("AZURE_WEBPUBSUB_HUB"),
		connectionString: os.Getenv("AZURE_WEBPUBSUB_CONNECTION_STRING"),
	}
	if cfg.hub == "" {
		cfg.hub = "chat"
	}
	if *demo {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		events := newEventLog()
		cfg.logf = events.logf
		s, err := startServer(cfg)
		if err != nil {
			return err
		}
		defer s.Close()
		printStart(stdout, s, cfg.hub)
		if err := runDemo(ctx, s, events, stdout); err != nil {
			return err
		}
		return s.Close()
	}

	cfg.logf = (&syncLogger{out: stdout}).logf
	s, err := startServer(cfg)
	if err != nil && cfg.addr == defaultAddr && errors.Is(err, syscall.EADDRINUSE) {
		// Something else (the standalone emulator, say) has the default
		// port: take a free one rather than fail.
		fmt.Fprintf(stdout, "%s is in use; listening on a free port instead (-addr chooses one).\n", defaultAddr)
		cfg.addr = "127.0.0.1:0"
		s, err = startServer(cfg)
	}
	if err != nil {
		return err
	}
	defer s.Close()
	printStart(stdout, s, cfg.hub)
	fmt.Fprintf(stdout, "Open %s in two browser tabs, pick two names and the same room. Ctrl-C stops.\n", s.URL)
	<-ctx.Done()
	fmt.Fprintln(stdout, "Stopping.")
	return s.Close()
}

// printStart says where the server runs; with Azure, how to configure the
// hub's event handler to reach it.
func printStart(w io.Writer, s *chatServer, hub string) {
	fmt.Fprintf(w, "Chat server at %s, hub %s on %s\n", s.URL, hub, s.Service)
	if s.Emulated {
		fmt.Fprintf(w, "The emulator sends the hub's events to %s\n", s.HandlerURL)
		return
	}
	path := s.HandlerURL[len(s.URL)-1:]
	fmt.Fprintf(w, `The service must reach this server's event handler. Expose this server
on a public https URL (a tunnel, or a deployment), then add an event handler
to hub %[1]s (Azure portal: Settings, or the Azure CLI's webpubsub hub
commands) with:

  URL template:   https://<public host>%[2]s
  User events:    *
  System events:  connect, connected, disconnected

Events are signed with the access key of AZURE_WEBPUBSUB_CONNECTION_STRING;
this server rejects others.
`, hub, path)
}
