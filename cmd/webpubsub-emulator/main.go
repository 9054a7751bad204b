// Command webpubsub-emulator runs a local Azure Web PubSub service: the
// REST data plane, the client WebSocket endpoint (raw clients,
// json.webpubsub.azure.v1 and json.reliable.webpubsub.azure.v1) and
// upstream event handlers, with all state in memory.
//
// Usage:
//
//	webpubsub-emulator [-host localhost] [-port 8080] [-key KEY] [flags]
//
// Flags:
//
//	-host                            host name or address to listen on (default localhost; 0.0.0.0 in containers)
//	-port                            TCP port (default 8080; 0 picks a free port)
//	-key                             access key (default the well-known development key)
//	-secondary-key                   a second access key, accepted as well
//	-public-endpoint                 http(s) URL clients use, when it differs from the listen address
//	-relaxed-audience                do not compare the host part of token audiences
//	-allow-unvalidated-entra-tokens  accept Entra ID tokens for https://webpubsub.azure.com without checking their signature
//	-clock-skew-seconds N            how far past exp, or before nbf, a token is still accepted (default 300)
//	-event-handler HUB=URL_TEMPLATE  an event handler for HUB ("*" for every other hub) that gets all system
//	                                 and user events; {hub} and {event} are filled in. Repeatable.
//	-config                          configuration file (default ./emulator.json when it exists)
//	-log-level                       debug, info (default), warn or error
//	-print-connection-string         print the connection string and exit
//	-trace                           log one line per REST call, delivery, upstream call and connection event
//	-dashboard                       serve the live dashboard at /dashboard/ (default true; -dashboard=false turns it off)
//	-health-check URL                GET URL (an emulator's /api/health), exit 0 on 200 and 1 otherwise, and serve
//	                                 nothing: the health check of a container image that has no other program
//
// Settings come from, in increasing precedence: built-in defaults, the
// configuration file, AWPS_EMULATOR_<SETTING> environment variables (the
// file's keys upper-cased, e.g. AWPS_EMULATOR_ACCESSKEY, plus HOST, PORT,
// LOGLEVEL and CONFIG), and flags. The limits (maxRestBodyBytes,
// maxHeaderBytes, maxLogFieldBytes: the bytes of a value taken from a
// request that a log or trace line keeps; maxGroupsPerConnection;
// maxBufferedBytes: the memory of all reliable buffers together) must be
// positive; maxGroupsPerConnection and maxBufferedBytes take -1 for no
// bound. The values shown are the defaults. The -event-handler flags of a hub
// replace that hub's handlers from the file.
//
// The configuration file is JSON with case-insensitive keys:
//
//	{
//	  "listen": "localhost:8080",
//	  "publicEndpoint": "http://localhost:8080",
//	  "accessKey": "...", "secondaryAccessKey": "",
//	  "relaxedAudience": false, "allowUnvalidatedEntraTokens": false, "trace": false, "dashboard": true,
//	  "reliableRetentionSeconds": 30, "eventHandlerTimeoutSeconds": 100,
//	  "maxRestBodyBytes": 16777216, "maxHeaderBytes": 1048576,
//	  "readHeaderTimeoutSeconds": 10, "httpIdleTimeoutSeconds": 60, "clockSkewSeconds": 300,
//	  "maxLogFieldBytes": 256, "maxGroupsPerConnection": 10000, "maxBufferedBytes": 268435456,
//	  "hubs": {
//	    "chat": {
//	      "anonymousConnectPolicy": "deny",
//	      "eventHandlers": [{
//	        "urlTemplate": "http://localhost:3000/api/webpubsub/hubs/{hub}/",
//	        "userEventPattern": "*",
//	        "systemEvents": ["connect", "connected", "disconnected"],
//	        "groupPresenceEvents": {"eventNames": ["joined", "left"], "groupFilters": []},
//	        "validate": true
//	      }]
//	    },
//	    "*": {"eventHandlers": []}
//	  }
//	}
//
// The official emulator's appsettings.json (a "WebPubSub" object with
// "AccessKey" and "Hubs.<hub>.EventHandlers[]" holding "UrlTemplate",
// "SystemEvents" and "EventPattern") loads as well; "_default" names the
// default hub. Its other top-level sections (Logging, AllowedHosts, ...)
// are ignored, and this file's own keys go inside its WebPubSub section:
// beside it they are an error.
//
// It prints the connection string to use with any Web PubSub SDK and the
// URL of its live dashboard (a page with the hubs, connections, groups and
// traffic, a send form and a test client; no login, so turn it off with
// -dashboard=false when others can reach the emulator), serves
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
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gowebpubsub/webpubsub/emulator"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// run starts the emulator with the settings of the configuration file,
// the environment (read through getenv) and args, prints where it listens
// to stdout, and serves until ctx is done. It returns the process exit
// code: 0 after a graceful stop, 1 when the emulator cannot start (or the
// configuration is invalid), 2 for bad flags.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("webpubsub-emulator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	host := fs.String("host", emulator.DefaultHost, "host name or address to listen on (0.0.0.0 in containers)")
	port := fs.Int("port", 8080, "TCP port to listen on (0 picks a free port)")
	key := fs.String("key", emulator.DefaultAccessKey, "access key that signs and verifies tokens (at least 32 characters)")
	secondary := fs.String("secondary-key", "", "optional second access key, accepted as well")
	public := fs.String("public-endpoint", "", "http(s) URL clients use to reach the emulator, when it differs from the listen address")
	relaxed := fs.Bool("relaxed-audience", false, "do not compare the host part of token audiences")
	entra := fs.Bool("allow-unvalidated-entra-tokens", false, "accept Entra ID tokens for https://webpubsub.azure.com on REST without checking their signature (local use only)")
	skew := fs.Float64("clock-skew-seconds", emulator.DefaultClockSkew.Seconds(), "`N`: how far past its exp, or before its nbf, a token is still accepted, in seconds (positive; an expired token accepted so is logged)")
	var handlers handlerFlags
	fs.Var(&handlers, "event-handler", "`HUB=URL_TEMPLATE`: an event handler for HUB (\"*\" for other hubs) with all system and user events; {hub} and {event} are filled in (repeatable)")
	configPath := fs.String("config", "", "configuration file (default ./emulator.json when it exists)")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	printOnly := fs.Bool("print-connection-string", false, "print the connection string and exit")
	trace := fs.Bool("trace", false, "log one line per REST call, delivery, upstream call and connection event (never a key, token or message body)")
	dashboard := fs.Bool("dashboard", true, "serve the live dashboard at /dashboard/ (no login: use -dashboard=false when others can reach the emulator)")
	healthCheck := fs.String("health-check", "", "`URL`: GET it (an emulator's /api/health), exit 0 on 200 OK and 1 otherwise, without serving (a container's health check)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: webpubsub-emulator [flags]")
		fmt.Fprintln(stderr)
		fmt.Fprintln(stderr, "A local Azure Web PubSub service. Flags:")
		fs.PrintDefaults()
		fmt.Fprint(stderr, usageDetails)
	}
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
	if *healthCheck != "" {
		return probe(ctx, *healthCheck, stdout, stderr)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	s := newSettings()
	path := *configPath
	if !set["config"] {
		path = getenv(envPrefix + "CONFIG")
	}
	if path == "" {
		if _, err := os.Stat("emulator.json"); err == nil {
			path = "emulator.json"
		}
	}
	var loaded []byte
	if path != "" {
		var err error
		if loaded, err = s.loadConfigFile(path); err != nil {
			fmt.Fprintln(stderr, "webpubsub-emulator:", err)
			return 1
		}
	}
	if err := s.applyEnv(getenv); err != nil {
		fmt.Fprintln(stderr, "webpubsub-emulator:", err)
		return 1
	}
	for name, apply := range map[string]func(){
		"host": func() { s.o.Host = *host }, "port": func() { s.o.Port = *port }, "key": func() { s.o.AccessKey = *key },
		"secondary-key": func() { s.o.SecondaryAccessKey = *secondary }, "public-endpoint": func() { s.o.PublicEndpoint = *public },
		"relaxed-audience": func() { s.o.RelaxedAudience = *relaxed }, "allow-unvalidated-entra-tokens": func() { s.o.AllowUnvalidatedEntraTokens = *entra },
		"log-level": func() { s.logLevel = *logLevel }, "trace": func() { s.o.Trace = *trace },
		"dashboard": func() { s.o.Dashboard = *dashboard },
	} {
		if set[name] {
			apply()
		}
	}
	if set["clock-skew-seconds"] {
		if *skew <= 0 {
			fmt.Fprintln(stderr, "webpubsub-emulator: -clock-skew-seconds must be positive")
			return 2
		}
		s.o.ClockSkew = time.Duration(*skew * float64(time.Second))
	}
	handlers.apply(&s)

	var level slog.Level
	if s.logLevel != "" {
		if err := level.UnmarshalText([]byte(s.logLevel)); err != nil {
			fmt.Fprintf(stderr, "webpubsub-emulator: the log level must be debug, info, warn or error\n")
			return 2
		}
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	opts := s.options()
	opts.Logger = logger
	e, err := emulator.New(opts)
	if err != nil {
		fmt.Fprintln(stderr, "webpubsub-emulator:", err)
		return 1
	}
	if *printOnly {
		if opts.PublicEndpoint == "" {
			// Without a listener the endpoint is the one -host and -port name.
			e, err = emulator.New(emulator.Options{AccessKey: opts.AccessKey, PublicEndpoint: "http://" + net.JoinHostPort(displayHost(opts.Host), strconv.Itoa(opts.Port))})
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
	if u := e.DashboardURL(); u != "" {
		fmt.Fprintf(stdout, "Dashboard: %s\n", u)
	}
	logHandlers(logger, opts.Hubs)
	watching := make(chan struct{})
	go func() {
		defer close(watching)
		if path != "" {
			watchConfig(ctx, path, loaded, e, &handlers, logger)
		}
	}()
	<-ctx.Done()
	<-watching
	fmt.Fprintln(stdout, "Shutting down.")
	if err := e.Close(); err != nil {
		fmt.Fprintln(stderr, "webpubsub-emulator:", err)
		return 1
	}
	return 0
}

// usageDetails follows the flags in -h.
const usageDetails = `
Settings come from, in increasing precedence: the configuration file, the
environment and the flags. Environment variables:

  AWPS_EMULATOR_CONFIG                       configuration file
  AWPS_EMULATOR_HOST, AWPS_EMULATOR_PORT     where to listen
  AWPS_EMULATOR_LISTEN                       host:port
  AWPS_EMULATOR_ACCESSKEY, AWPS_EMULATOR_SECONDARYACCESSKEY
  AWPS_EMULATOR_PUBLICENDPOINT               URL clients use
  AWPS_EMULATOR_RELAXEDAUDIENCE              true or false
  AWPS_EMULATOR_ALLOWUNVALIDATEDENTRATOKENS  true or false
  AWPS_EMULATOR_TRACE                        true or false: the traffic trace
  AWPS_EMULATOR_DASHBOARD                    true (default) or false: the dashboard
  AWPS_EMULATOR_RELIABLERETENTIONSECONDS, AWPS_EMULATOR_EVENTHANDLERTIMEOUTSECONDS,
  AWPS_EMULATOR_READHEADERTIMEOUTSECONDS, AWPS_EMULATOR_HTTPIDLETIMEOUTSECONDS
  AWPS_EMULATOR_CLOCKSKEWSECONDS             how far past exp, or before nbf, a
                                             token is accepted (default 300)
  AWPS_EMULATOR_MAXRESTBODYBYTES, AWPS_EMULATOR_MAXHEADERBYTES
  AWPS_EMULATOR_MAXLOGFIELDBYTES             bytes of a request value a log line keeps (default 256)
  AWPS_EMULATOR_MAXGROUPSPERCONNECTION       default 10000; -1 for no bound
  AWPS_EMULATOR_MAXBUFFEREDBYTES             all reliable buffers together (default 268435456); -1 for no bound
  AWPS_EMULATOR_LOGLEVEL                     debug, info, warn or error

The configuration file (-config, default ./emulator.json when it exists)
is JSON; keys are case-insensitive and an unknown key is an error:

  {
    "listen": "localhost:8080",
    "accessKey": "<at least 32 characters>",
    "reliableRetentionSeconds": 30,
    "clockSkewSeconds": 300,
    "hubs": {
      "chat": {
        "anonymousConnectPolicy": "deny",
        "eventHandlers": [{
          "urlTemplate": "http://localhost:3000/api/webpubsub/hubs/{hub}/",
          "userEventPattern": "*",
          "systemEvents": ["connect", "connected", "disconnected"]
        }]
      }
    }
  }

The official emulator's appsettings.json (a "WebPubSub" section) loads too:
its other sections are ignored and the keys above go inside WebPubSub.
Changes to the hubs' settings in the file apply to new connections without
a restart (checked every 2 s; an edit that does not parse or validate keeps
the previous settings and logs why).

Examples:

  # every event of hub chat to an app listening on port 3000
  webpubsub-emulator -event-handler 'chat=http://localhost:3000/api/webpubsub/hubs/{hub}/'

  # in a container, with a key of your own
  AWPS_EMULATOR_ACCESSKEY=... webpubsub-emulator -host 0.0.0.0 -port 8080
`

// probeTimeout bounds a -health-check request.
const probeTimeout = 5 * time.Second

// probe GETs rawURL and returns 0 when it answers 200 OK, else 1, saying
// why on stderr.
func probe(ctx context.Context, rawURL string, stdout, stderr io.Writer) int {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		fmt.Fprintln(stderr, "webpubsub-emulator: -health-check needs an http or https URL, such as http://localhost:8080/api/health")
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		fmt.Fprintln(stderr, "webpubsub-emulator: health check:", err)
		return 1
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintln(stderr, "webpubsub-emulator: health check:", err)
		return 1
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintln(stderr, "webpubsub-emulator: health check:", resp.Status)
		return 1
	}
	fmt.Fprintln(stdout, "healthy")
	return 0
}

// logHandlers logs each configured event handler, without the URL's
// query, which may hold a ?code= secret.
func logHandlers(l *slog.Logger, hubs map[string]emulator.HubOptions) {
	names := make([]string, 0, len(hubs))
	for name := range hubs {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		for _, h := range hubs[name].EventHandlers {
			u, _, _ := strings.Cut(h.URLTemplate, "?")
			l.Info("event handler", "hub", name, "url", u, "userEvents", h.UserEventPattern, "systemEvents", strings.Join(h.SystemEvents, ","), "validate", !h.SkipValidation)
		}
	}
}

// displayHost is the host clients use for a listen host: localhost for
// the unspecified addresses.
func displayHost(h string) string {
	if ip := net.ParseIP(h); ip != nil && ip.IsUnspecified() {
		return "localhost"
	}
	return h
}
