package emulator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// DefaultAccessKey is the well-known development key of the Web PubSub
// and SignalR emulators and of the SDK test suites. It is public: never use
// it to protect real data.
const DefaultAccessKey = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGH"

// DefaultHost is the host the emulator listens on when Options.Host is
// empty.
const DefaultHost = "localhost"

// DefaultMaxRESTBodyBytes is the default limit of a REST request body
// (16 MiB).
const DefaultMaxRESTBodyBytes = 16 << 20

// Options configure an Emulator. The zero value is ready to use: the
// well-known key, localhost, a free port.
type Options struct {
	// Host is the host name or IP address to listen on; empty means
	// "localhost". For "localhost" the emulator listens on 127.0.0.1 and,
	// when the machine has IPv6, on [::1] with the same port, so clients
	// that resolve localhost either way reach it. Use "0.0.0.0" in
	// containers.
	Host string
	// Port is the TCP port to listen on; 0 picks a free port.
	Port int
	// AccessKey signs and verifies every token; empty means
	// DefaultAccessKey. A custom key must be at least 32 bytes of UTF-8
	// without ';', control characters, or leading or trailing whitespace.
	AccessKey string
	// SecondaryAccessKey, when set, is accepted as well as AccessKey, for
	// testing key rotation. Same rules as AccessKey.
	SecondaryAccessKey string
	// PublicEndpoint is the http(s) URL clients use to reach the emulator,
	// e.g. "http://emulator:8080" behind docker-compose. It is the
	// Endpoint of ConnectionString and the base of the audience of tokens
	// from :generateToken. Empty means URL() once started, or the request's
	// own host when the emulator is used only through Handler.
	PublicEndpoint string
	// RelaxedAudience skips the host part of every audience check, for
	// tokens minted for another host name than the one clients dial.
	RelaxedAudience bool
	// Hubs holds per-hub settings, keyed by hub name (case-insensitive).
	// The key "*" applies to hubs without an entry of their own. Nil
	// means defaults for every hub.
	Hubs map[string]HubOptions
	// MaxRESTBodyBytes limits REST request bodies; larger ones get 413.
	// Zero means DefaultMaxRESTBodyBytes.
	MaxRESTBodyBytes int64
	// Logger receives the emulator's diagnostics; nil discards them. No
	// message ever contains a key or a token.
	Logger *slog.Logger
	// Clock is the emulator's source of time and of the timers of the
	// service's behaviour (see Clock); nil means the real clock. A
	// FakeClock lets tests move time on demand.
	Clock Clock
	// AllowUnvalidatedEntraTokens makes the REST API accept a Microsoft
	// Entra ID access token whose audience is https://webpubsub.azure.com
	// after checking only that audience and its lifetime (exp required,
	// nbf, five minutes of skew): its signature and issuer are not
	// verified. It exists so that SDK code paths built on an
	// azcore.TokenCredential can run against the emulator. Anyone who can reach the emulator can then forge such a
	// token: never enable it on a shared network. Default false.
	AllowUnvalidatedEntraTokens bool
	// ReliableRetention is how long a reliable connection whose transport
	// dropped without a close frame is kept for a recovery; zero means
	// DefaultReliableRetention (30 s). Negative values are an error.
	ReliableRetention time.Duration
	// EventHandlerTimeout bounds each upstream call, including the
	// abuse-protection check; zero means DefaultEventHandlerTimeout
	// (100 s). Negative values are an error.
	EventHandlerTimeout time.Duration
	// EventHandlerRetryDelays are the waits between the attempts of a
	// connected or disconnected event after a network error, 408, 429 or
	// 5xx: one retry per entry. Nil means DefaultEventHandlerRetryDelays
	// (1 s, 3 s, 5 s); an empty non-nil slice means no retry. Negative
	// entries are an error.
	EventHandlerRetryDelays []time.Duration
	// PingInterval is the outbound silence after which the emulator sends
	// a connection a WebSocket Ping; zero means DefaultPingInterval
	// (30 s). Negative values are an error.
	PingInterval time.Duration
	// IdleTimeout is the inbound silence (no frame, no Pong) after which
	// a connection counts as dropped: a reliable one is detached, any
	// other ends. It is checked at each ping tick; zero means
	// DefaultIdleTimeout (120 s). Negative values are an error.
	IdleTimeout time.Duration
	// CloseTimeout bounds the close procedure of one connection (flushing
	// its queue, the disconnected message, the close handshake) before
	// its TCP connection is dropped, and how long Close waits for REST
	// requests and upstream calls; zero means DefaultCloseTimeout (5 s).
	// It runs on real time whatever Clock is. Negative values are an
	// error.
	CloseTimeout time.Duration
	// MessageLogSize is how many delivered messages Messages keeps, the
	// oldest dropped first; zero means DefaultMessageLogSize (1,000), a
	// negative value disables the log.
	MessageLogSize int
	// OnConnectionEvent, when set, is called for every change in the life
	// of a client connection (see ConnectionEvent), in order for each
	// connection, with no emulator lock held: it may call the emulator's
	// inspection and fault-injection methods but must not block, and must
	// not call Close. ConnectionConnected is reported after the connection
	// is registered and before any frame is written to it, so a callback
	// may PauseOutbound to hold back even the connected message.
	OnConnectionEvent func(ConnectionEvent)
}

// HubOptions are the settings of one hub.
type HubOptions struct {
	// AllowAnonymous accepts client connections without any token (the
	// hub's anonymousConnectPolicy "allow"). A request with an invalid
	// token is still rejected. Default false.
	AllowAnonymous bool
	// EventHandlers are the hub's upstream event handlers, in priority
	// order: each event goes to the first handler whose filter matches it.
	// Nil means none: connect is skipped (the token
	// decides), connected and disconnected are not sent, an event frame
	// gets an InternalServerError ack and a raw client that sends a frame
	// is closed with 1000.
	EventHandlers []EventHandler
}

// Emulator is a local, in-memory Azure Web PubSub service: the REST data
// plane at /api and the client WebSocket endpoint at /client. Create one
// with New, start it with Start (or Serve, or mount Handler), and stop it
// with Close. Its methods are safe for concurrent use.
type Emulator struct {
	opts         Options
	key          string
	secondaryKey string
	log          *slog.Logger
	clock        Clock
	maxBody      int64
	handler      http.Handler

	mu      sync.RWMutex
	hubs    map[string]*hub
	closing bool
	servers []*http.Server
	url     string
	started bool

	wg        sync.WaitGroup // serving goroutines, handlers, writers
	closeOnce sync.Once
	closeErr  error

	// Timings of keep-alive and of the close procedure.
	pingInterval, idleTimeout, closeFlush time.Duration
	// onEvent is Options.OnConnectionEvent, or nil.
	onEvent func(ConnectionEvent)

	// retention is the reliable retention; handlerTimeout bounds each
	// upstream call.
	retention, handlerTimeout time.Duration
	// retryDelays are the waits between attempts of a non-blocking
	// upstream event.
	retryDelays []time.Duration

	// faults holds the injected REST and handshake faults.
	faults faultQueues
	// messages is the bounded log of delivered messages.
	messages messageLog
	// changes wakes Wait when the emulator's state changes.
	changes notifier

	// handlers holds the compiled event handlers by Hubs key, lower case.
	handlers map[string][]*eventHandler
	// shutdown is closed when Close begins.
	shutdown chan struct{}
	// upstreamCtx is canceled when Close gives up on upstream calls.
	upstreamCtx    context.Context
	upstreamCancel context.CancelFunc
	upTransport    *http.Transport
	upClient       *http.Client
	validMu        sync.Mutex
	validated      map[validationKey]bool
}

// New returns an Emulator configured by opts. It fails when an option is
// invalid; the error never contains the key.
func New(opts Options) (*Emulator, error) {
	e := &Emulator{
		opts:           opts,
		key:            opts.AccessKey,
		secondaryKey:   opts.SecondaryAccessKey,
		log:            opts.Logger,
		clock:          opts.Clock,
		maxBody:        opts.MaxRESTBodyBytes,
		hubs:           map[string]*hub{},
		pingInterval:   opts.PingInterval,
		idleTimeout:    opts.IdleTimeout,
		closeFlush:     opts.CloseTimeout,
		retention:      opts.ReliableRetention,
		retryDelays:    append([]time.Duration(nil), opts.EventHandlerRetryDelays...),
		onEvent:        opts.OnConnectionEvent,
		handlers:       map[string][]*eventHandler{},
		shutdown:       make(chan struct{}),
		handlerTimeout: opts.EventHandlerTimeout,
		validated:      map[validationKey]bool{},
	}
	if e.key == "" {
		e.key = DefaultAccessKey
	}
	if err := validateKey(e.key); err != nil {
		return nil, fmt.Errorf("emulator: AccessKey %w", err)
	}
	if e.secondaryKey != "" {
		if err := validateKey(e.secondaryKey); err != nil {
			return nil, fmt.Errorf("emulator: SecondaryAccessKey %w", err)
		}
	}
	if e.log == nil {
		e.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if e.clock == nil {
		e.clock = realClock{}
	}
	if err := e.applyTimings(opts); err != nil {
		return nil, err
	}
	e.messages.init(opts.MessageLogSize)
	if e.maxBody <= 0 {
		e.maxBody = DefaultMaxRESTBodyBytes
	}
	if opts.Port < 0 || opts.Port > 65535 {
		return nil, fmt.Errorf("emulator: Port %d is outside 0..65535", opts.Port)
	}
	if opts.PublicEndpoint != "" {
		ep, err := normalizeEndpoint(opts.PublicEndpoint)
		if err != nil {
			return nil, err
		}
		e.opts.PublicEndpoint = ep
	}
	e.opts.Hubs = make(map[string]HubOptions, len(opts.Hubs)) // a copy: the caller may reuse its map
	for name, ho := range opts.Hubs {
		if name != "*" && !validHubName(name) {
			return nil, fmt.Errorf("emulator: Hubs key %q is not a valid hub name", name)
		}
		if _, dup := e.handlers[strings.ToLower(name)]; dup {
			return nil, fmt.Errorf("emulator: Hubs has two keys for hub %q", strings.ToLower(name))
		}
		ho.EventHandlers = append([]EventHandler(nil), ho.EventHandlers...)
		e.opts.Hubs[name] = ho
		compiled := make([]*eventHandler, 0, len(ho.EventHandlers))
		for i, eh := range ho.EventHandlers {
			c, err := compileEventHandler(eh)
			if err != nil {
				return nil, fmt.Errorf("emulator: Hubs[%q].EventHandlers[%d]: %w", name, i, err)
			}
			compiled = append(compiled, c)
		}
		e.handlers[strings.ToLower(name)] = compiled
	}
	e.upstreamCtx, e.upstreamCancel = context.WithCancel(context.Background())
	e.upTransport, e.upClient = newUpstreamClient()
	if opts.AllowUnvalidatedEntraTokens {
		e.log.Warn("Entra ID tokens are accepted without signature validation (AllowUnvalidatedEntraTokens)")
	}
	e.handler = http.HandlerFunc(e.route)
	return e, nil
}

// applyTimings checks the durations of opts and fills in the defaults.
func (e *Emulator) applyTimings(opts Options) error {
	for _, d := range []struct {
		name  string
		value time.Duration
		field *time.Duration
		def   time.Duration
	}{
		{"ReliableRetention", opts.ReliableRetention, &e.retention, DefaultReliableRetention},
		{"EventHandlerTimeout", opts.EventHandlerTimeout, &e.handlerTimeout, DefaultEventHandlerTimeout},
		{"PingInterval", opts.PingInterval, &e.pingInterval, DefaultPingInterval},
		{"IdleTimeout", opts.IdleTimeout, &e.idleTimeout, DefaultIdleTimeout},
		{"CloseTimeout", opts.CloseTimeout, &e.closeFlush, DefaultCloseTimeout},
	} {
		if d.value < 0 {
			return fmt.Errorf("emulator: %s must not be negative", d.name)
		}
		*d.field = d.value
		if d.value == 0 {
			*d.field = d.def
		}
	}
	if opts.EventHandlerRetryDelays == nil {
		e.retryDelays = slices.Clone(DefaultEventHandlerRetryDelays)
	}
	for i, d := range e.retryDelays {
		if d < 0 {
			return fmt.Errorf("emulator: EventHandlerRetryDelays[%d] must not be negative", i)
		}
	}
	return nil
}

// now is the emulator's current time.
func (e *Emulator) now() time.Time { return e.clock.Now() }

// validateKey applies the official emulator's key rules.
func validateKey(k string) error {
	if len(k) < 32 {
		return errors.New("must be at least 32 bytes long")
	}
	if strings.TrimSpace(k) != k {
		return errors.New("must not have leading or trailing whitespace")
	}
	for _, r := range k {
		if r == ';' || r < 0x20 || r == 0x7f {
			return errors.New("must not contain ';' or control characters")
		}
	}
	return nil
}

func normalizeEndpoint(ep string) (string, error) {
	scheme, rest, ok := strings.Cut(ep, "://")
	if !ok || rest == "" || !(strings.EqualFold(scheme, "http") || strings.EqualFold(scheme, "https")) ||
		strings.ContainsAny(rest, "?#@") {
		return "", errors.New("emulator: PublicEndpoint must be an absolute http or https URL without query, fragment or user info")
	}
	return strings.ToLower(scheme) + "://" + strings.TrimRight(rest, "/"), nil
}

// Start listens on Options.Host and Options.Port and serves in the
// background until Close. Use URL or ConnectionString afterwards to reach
// it. Start may be called once, and not after Close.
func (e *Emulator) Start() error {
	e.mu.Lock()
	already := e.started
	e.started = true
	e.mu.Unlock()
	if already {
		return errors.New("emulator: Start called twice")
	}
	host := e.opts.Host
	if host == "" {
		host = DefaultHost
	}
	first := host
	if strings.EqualFold(host, "localhost") {
		first = "127.0.0.1"
	}
	l, err := net.Listen("tcp", net.JoinHostPort(first, strconv.Itoa(e.opts.Port)))
	if err != nil {
		return fmt.Errorf("emulator: listen: %w", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	listeners := []net.Listener{l}
	if first != host {
		// Also serve [::1] on the same port when IPv6 is available, since
		// some clients resolve localhost to ::1 first.
		if l6, err := net.Listen("tcp", net.JoinHostPort("::1", strconv.Itoa(port))); err == nil {
			listeners = append(listeners, l6)
		}
	}
	urlHost := host
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		urlHost = "localhost"
	}
	if err := e.setURL("http://" + net.JoinHostPort(urlHost, strconv.Itoa(port))); err != nil {
		for _, l := range listeners {
			_ = l.Close()
		}
		return err
	}
	for _, l := range listeners {
		srv, err := e.addServer(l)
		if err != nil {
			return err
		}
		go func() {
			defer e.wg.Done()
			if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
				e.log.Error("serving stopped", "address", l.Addr().String(), "error", err)
			}
		}()
	}
	return nil
}

// Serve serves on l until Close, and returns nil after Close or the error
// that stopped serving. It takes ownership of l. When the emulator was not
// started with Start, URL reports l's address.
func (e *Emulator) Serve(l net.Listener) error {
	if a, ok := l.Addr().(*net.TCPAddr); ok {
		host := a.IP.String()
		if a.IP.IsLoopback() || a.IP.IsUnspecified() {
			host = "localhost"
		}
		_ = e.setURL("http://" + net.JoinHostPort(host, strconv.Itoa(a.Port)))
	}
	srv, err := e.addServer(l)
	if err != nil {
		return err
	}
	defer e.wg.Done()
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func (e *Emulator) setURL(u string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closing {
		return errors.New("emulator: closed")
	}
	if e.url == "" {
		e.url = u
	}
	return nil
}

// addServer registers a server for l and counts its Serve call, which
// must call e.wg.Done when it returns.
func (e *Emulator) addServer(l net.Listener) (*http.Server, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closing {
		_ = l.Close()
		return nil, errors.New("emulator: closed")
	}
	srv := &http.Server{
		Handler:           e.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(e.log.Handler(), slog.LevelDebug),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, netConnKey{}, c) // for CutConnection
		},
	}
	e.servers = append(e.servers, srv)
	e.wg.Add(1)
	return srv, nil
}

// Close shuts the emulator down gracefully: it stops accepting requests
// (health checks, REST calls and new WebSocket connections get 503),
// delivers what is already queued, sends every PubSub client a
// disconnected message and every client a close frame (1001, "The
// emulator is shutting down."), waits up to 1 s for each client's close
// frame (5 s for the whole procedure of a connection) before dropping TCP,
// sends the upstream disconnected events (upstream calls still running 5 s
// after Close began are canceled), and returns when every goroutine the
// emulator started has ended. Detached reliable connections end too. It
// returns an error only when in-flight REST requests did not finish within
// 5 s; the emulator is closed anyway. Close is idempotent; later calls
// return the first call's result. A closed Emulator cannot be started
// again.
func (e *Emulator) Close() error {
	e.closeOnce.Do(func() {
		e.mu.Lock()
		e.closing = true
		servers := e.servers
		hubs := make([]*hub, 0, len(e.hubs))
		for _, h := range e.hubs {
			hubs = append(hubs, h)
		}
		e.mu.Unlock()
		close(e.shutdown)
		giveUp := time.AfterFunc(e.closeFlush, e.upstreamCancel)

		var wg sync.WaitGroup
		errs := make([]error, len(servers))
		for i, srv := range servers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), e.closeFlush)
				defer cancel()
				if err := srv.Shutdown(ctx); err != nil {
					errs[i] = fmt.Errorf("emulator: shutdown: %w", err)
					_ = srv.Close()
				}
			}()
		}
		for _, h := range hubs {
			h.mu.Lock()
			for _, c := range h.conns {
				c.endLocked(websocket.StatusGoingAway, reasonShutdown, false)
			}
			h.mu.Unlock()
		}
		wg.Wait()
		e.wg.Wait()
		giveUp.Stop()
		e.upstreamCancel()
		e.upTransport.CloseIdleConnections()
		e.closeErr = errors.Join(errs...)
	})
	return e.closeErr
}

// track counts a request handler that Close must wait for. It returns
// false once Close has begun; otherwise the caller must call e.wg.Done.
func (e *Emulator) track() bool {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closing {
		return false
	}
	e.wg.Add(1)
	return true
}

// goTracked runs f in a goroutine that Close waits for. The caller must
// itself be counted (a tracked handler or goroutine), so that the counter
// is never zero here while Close waits.
func (e *Emulator) goTracked(f func()) {
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		f()
	}()
}

// URL returns the emulator's base URL, "http://host:port", once Start or
// Serve has been called; before that it returns "".
func (e *Emulator) URL() string {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.url
}

// publicEndpoint is Options.PublicEndpoint, else URL, else the request's
// own scheme and host.
func (e *Emulator) publicEndpoint(r *http.Request) string {
	if e.opts.PublicEndpoint != "" {
		return e.opts.PublicEndpoint
	}
	if u := e.URL(); u != "" {
		return u
	}
	return requestScheme(r) + "://" + r.Host
}

// ConnectionString returns the connection string for the emulator, in the
// form the official emulator documents:
//
//	Endpoint=http://localhost;Port=8080;AccessKey=<key>;Version=1.0;
//
// The Endpoint is Options.PublicEndpoint or URL, with its port moved to
// the Port key. Before Start or Serve, without a PublicEndpoint, it
// returns "". The result contains the access key: treat it as a secret
// when the key is.
func (e *Emulator) ConnectionString() string {
	ep := e.opts.PublicEndpoint
	if ep == "" {
		ep = e.URL()
	}
	if ep == "" {
		return ""
	}
	scheme, rest, _ := strings.Cut(ep, "://")
	hostport, path, _ := strings.Cut(rest, "/")
	if path != "" {
		path = "/" + path
	}
	port := ""
	if h, p, err := net.SplitHostPort(hostport); err == nil {
		hostport, port = h, p
		if strings.Contains(h, ":") {
			hostport = "[" + h + "]"
		}
	}
	var b strings.Builder
	b.WriteString("Endpoint=" + scheme + "://" + hostport + path + ";")
	if port != "" {
		b.WriteString("Port=" + port + ";")
	}
	b.WriteString("AccessKey=" + e.key + ";Version=1.0;")
	return b.String()
}

// ClientURL returns the base WebSocket URL of hub's client endpoint,
// "ws://host:port/client/hubs/{hub}", without a token; "" before Start or
// Serve unless PublicEndpoint is set.
func (e *Emulator) ClientURL(hub string) string {
	ep := e.opts.PublicEndpoint
	if ep == "" {
		ep = e.URL()
	}
	if ep == "" {
		return ""
	}
	if rest, ok := strings.CutPrefix(ep, "https://"); ok {
		return "wss://" + rest + "/client/hubs/" + hub
	}
	return "ws://" + strings.TrimPrefix(ep, "http://") + "/client/hubs/" + hub
}

// AccessKey returns the primary access key. It is a secret when it is not
// DefaultAccessKey.
func (e *Emulator) AccessKey() string { return e.key }

// Handler returns the emulator's HTTP handler (REST and WebSocket
// endpoints), for mounting on a server of your own such as an
// httptest.Server. Close still ends the WebSocket connections it accepted.
func (e *Emulator) Handler() http.Handler { return e.handler }

// String describes the emulator without its key.
func (e *Emulator) String() string {
	if u := e.URL(); u != "" {
		return "emulator at " + u
	}
	return "emulator (not started)"
}

// handlersFor returns the compiled event handlers of the canonical hub
// name: its own entry, else the "*" entry, else none.
func (e *Emulator) handlersFor(name string) []*eventHandler {
	if hs, ok := e.handlers[name]; ok {
		return hs
	}
	return e.handlers["*"]
}

// hubOptions returns the settings of the canonical hub name.
func (e *Emulator) hubOptions(name string) HubOptions {
	for k, v := range e.opts.Hubs {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return e.opts.Hubs["*"]
}

// hubIfExists returns the hub named by the canonical name, or nil.
func (e *Emulator) hubIfExists(name string) *hub {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.hubs[name]
}

// route dispatches a request to the REST data plane or the client
// endpoint.
func (e *Emulator) route(w http.ResponseWriter, r *http.Request) {
	path := r.URL.EscapedPath()
	switch {
	case path == "/api/health" || strings.HasPrefix(path, "/api/"):
		e.serveREST(w, r)
	case path == "/client" || path == "/client/":
		e.serveClient(w, r, "")
	case strings.HasPrefix(path, "/client/hubs/"):
		seg := strings.TrimPrefix(path, "/client/hubs/")
		seg = strings.TrimSuffix(seg, "/")
		hubName, err := url.PathUnescape(seg)
		if err != nil || hubName == "" || strings.Contains(seg, "/") {
			http.NotFound(w, r)
			return
		}
		e.serveClient(w, r, hubName)
	case strings.HasPrefix(path, "/clients/mqtt/hubs/"):
		plainError(w, http.StatusNotImplemented, "MQTT clients are not supported by this emulator.")
	case strings.HasPrefix(path, "/clients/socketio/hubs/"):
		plainError(w, http.StatusNotImplemented, "Socket.IO clients are not supported by this emulator.")
	default:
		http.NotFound(w, r)
	}
}
