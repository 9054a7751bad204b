// Command webpubsub-emulator runs a local Azure Web PubSub service: the
// REST data plane and the client WebSocket endpoint, with all state in
// memory.
//
// Usage:
//
//	webpubsub-emulator [-host localhost] [-port 8080] [-key KEY] [flags]
//
// Flags:
//
//	-host                     host name or address to listen on (default localhost; 0.0.0.0 in containers)
//	-port                     TCP port (default 8080; 0 picks a free port)
//	-key                      access key (default the well-known development key)
//	-secondary-key            a second access key, accepted as well
//	-public-endpoint          http(s) URL clients use, when it differs from the listen address
//	-relaxed-audience         do not compare the host part of token audiences
//	-log-level                debug, info (default), warn or error
//	-print-connection-string  print the connection string and exit
//
// It prints the connection string to use with any Web PubSub SDK, serves
// until it receives SIGINT or SIGTERM, and then shuts down gracefully:
// every PubSub client gets a disconnected message and every client a close
// frame before the program exits.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/gowebpubsub/webpubsub/emulator"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run starts the emulator with the flags in args, prints where it listens
// to stdout, and serves until ctx is done. It returns the process exit
// code: 0 after a graceful stop, 1 when the emulator cannot start, 2 for
// bad flags.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("webpubsub-emulator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	host := fs.String("host", emulator.DefaultHost, "host name or address to listen on (0.0.0.0 in containers)")
	port := fs.Int("port", 8080, "TCP port to listen on (0 picks a free port)")
	key := fs.String("key", emulator.DefaultAccessKey, "access key that signs and verifies tokens (at least 32 characters)")
	secondary := fs.String("secondary-key", "", "optional second access key, accepted as well")
	public := fs.String("public-endpoint", "", "http(s) URL clients use to reach the emulator, when it differs from the listen address")
	relaxed := fs.Bool("relaxed-audience", false, "do not compare the host part of token audiences")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	printOnly := fs.Bool("print-connection-string", false, "print the connection string and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "webpubsub-emulator: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(stderr, "webpubsub-emulator: -log-level must be debug, info, warn or error\n")
		return 2
	}
	e, err := emulator.New(emulator.Options{
		Host:               *host,
		Port:               *port,
		AccessKey:          *key,
		SecondaryAccessKey: *secondary,
		PublicEndpoint:     *public,
		RelaxedAudience:    *relaxed,
		Logger:             slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})),
	})
	if err != nil {
		fmt.Fprintln(stderr, "webpubsub-emulator:", err)
		return 1
	}
	if *printOnly {
		if *public == "" {
			// Without a listener the endpoint is the one -host and -port name.
			e, err = emulator.New(emulator.Options{AccessKey: *key, PublicEndpoint: "http://" + net.JoinHostPort(displayHost(*host), strconv.Itoa(*port))})
			if err != nil {
				fmt.Fprintln(stderr, "webpubsub-emulator:", err)
				return 1
			}
		}
		fmt.Fprintln(stdout, e.ConnectionString())
		return 0
	}
	if err := e.Start(); err != nil {
		fmt.Fprintln(stderr, "webpubsub-emulator:", err)
		return 1
	}
	fmt.Fprintf(stdout, "Azure Web PubSub emulator listening on %s\n", e.URL())
	fmt.Fprintf(stdout, "Connection string: %s\n", e.ConnectionString())
	fmt.Fprintf(stdout, "Client endpoint:   %s\n", e.ClientURL("{hub}"))
	<-ctx.Done()
	fmt.Fprintln(stdout, "Shutting down.")
	if err := e.Close(); err != nil {
		fmt.Fprintln(stderr, "webpubsub-emulator:", err)
		return 1
	}
	return 0
}

// displayHost is the host clients use for a listen host: localhost for
// the unspecified addresses.
func displayHost(h string) string {
	if ip := net.ParseIP(h); ip != nil && ip.IsUnspecified() {
		return "localhost"
	}
	return h
}
