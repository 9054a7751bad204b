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
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gowebpubsub/webpubsub/emulator/internal/core"
	"github.com/gowebpubsub/webpubsub/internal/names"
)

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

	// core holds the hubs and connections.
	core *core.Service

	mu      sync.RWMutex
	closing bool
	servers []*http.Server
	// fresh holds the accepted connections (net.Conn keys) that have not
	// sent a request yet, which http.Server.Shutdown would wait for. A
	// sync.Map, as every request's state change removes its connection.
	fresh   sync.Map
	url     string
	started bool

	wg        sync.WaitGroup // serving goroutines, handlers, writers
	closeOnce sync.Once
	closeErr  error

	// Timings of keep-alive and of the close procedure.
	pingInterval, idleTimeout, closeFlush time.Duration
	// HTTP server limits.
	readHeaderTimeout, httpIdleTimeout time.Duration
	// clockSkew is the tolerance of token lifetimes.
	clockSkew      time.Duration
	maxHeaderBytes int
	maxLogField    int // Options.MaxLogFieldBytes, or its default
	// onEvent is Options.OnConnectionEvent, or nil.
	onEvent func(ConnectionEvent)

	// retention is the reliable retention; handlerTimeout bounds each
	// upstream call.
	retention, handlerTimeout time.Duration
	// retryDelays are the waits between attempts of a non-blocking
	// upstream event.
	retryDelays []time.Duration

	// trace writes the traffic trace; nil unless Options.Trace or
	// Options.Dashboard.
	trace *tracer
	// faults holds the injected REST and handshake faults.
	faults faultQueues
	// messages is the bounded log of delivered messages.
	messages messageLog
	// changes wakes Wait when the emulator's state changes.
	changes core.Notifier
	// writers run the transports' writes.
	writers *writerPool

	// hubsMu guards opts.Hubs and handlers, which SetHubs replaces.
	hubsMu sync.RWMutex
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

// New returns an Emulator configured by opts. It fails with a
// *ValidationError (wrapping ErrInvalidArgument) naming the option when an
// option is invalid; the error never contains a key or a URL.
func New(opts Options) (*Emulator, error) {
	e := &Emulator{
		opts:           opts,
		key:            opts.AccessKey,
		secondaryKey:   opts.SecondaryAccessKey,
		log:            opts.Logger,
		clock:          opts.Clock,
		maxBody:        opts.MaxRESTBodyBytes,
		pingInterval:   opts.PingInterval,
		idleTimeout:    opts.IdleTimeout,
		closeFlush:     opts.CloseTimeout,
		retention:      opts.ReliableRetention,
		retryDelays:    append([]time.Duration(nil), opts.EventHandlerRetryDelays...),
		onEvent:        opts.OnConnectionEvent,
		shutdown:       make(chan struct{}),
		handlerTimeout: opts.EventHandlerTimeout,
		validated:      map[validationKey]bool{},
	}
	e.writers = newWriterPool(e)
	if e.key == "" {
		e.key = DefaultAccessKey
	}
	if err := validateKey("AccessKey", e.key); err != nil {
		return nil, err
	}
	if e.secondaryKey != "" {
		if err := validateKey("SecondaryAccessKey", e.secondaryKey); err != nil {
			return nil, err
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
	budget := opts.MaxBufferedBytes
	if budget == 0 {
		budget = DefaultMaxBufferedBytes
	}
	maxGroups := opts.MaxGroupsPerConnection
	if maxGroups == 0 {
		maxGroups = DefaultMaxGroupsPerConnection
	}
	cfg := core.Config{Clock: e.clock, Retention: e.retention, Log: e.log,
		Tracker: tracker{e}, Changes: &e.changes, OnDeliver: e.logDelivery, BufferBudget: budget,
		MaxGroupsPerConnection: maxGroups}
	if opts.Trace || opts.Dashboard {
		e.trace = &tracer{maxField: e.maxLogField}
		if opts.Trace {
			e.trace.log = e.log
		}
		if opts.Dashboard {
			e.trace.feed = &traceFeed{now: e.now}
		}
		cfg.OnFanout = e.trace.delivery
	}
	e.core = core.NewService(cfg)
	if e.maxBody <= 0 {
		e.maxBody = DefaultMaxRESTBodyBytes
	}
	if opts.Port < 0 || opts.Port > 65535 {
		return nil, &ValidationError{Name: "Port", Value: strconv.Itoa(opts.Port), Reason: "must be in 0..65535 (0 picks a free port)"}
	}
	if opts.PublicEndpoint != "" {
		ep, err := normalizeEndpoint(opts.PublicEndpoint)
		if err != nil {
			return nil, err
		}
		e.opts.PublicEndpoint = ep
	}
	hubs, handlers, err := compileHubs(opts.Hubs)
	if err != nil {
		return nil, err
	}
	e.opts.Hubs, e.handlers = hubs, handlers
	e.upstreamCtx, e.upstreamCancel = context.WithCancel(context.Background())
	e.upTransport, e.upClient = newUpstreamClient()
	if opts.AllowUnvalidatedEntraTokens {
		e.log.Warn("Entra ID tokens are accepted without signature validation (AllowUnvalidatedEntraTokens)")
	}
	e.handler = http.HandlerFunc(e.route)
	return e, nil
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
		ReadHeaderTimeout: e.readHeaderTimeout,
		IdleTimeout:       e.httpIdleTimeout,
		MaxHeaderBytes:    e.maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(e.log.Handler(), slog.LevelDebug),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, netConnKey{}, c) // for CutConnection
		},
		ConnState: e.trackFresh,
	}
	e.servers = append(e.servers, srv)
	e.wg.Add(1)
	return srv, nil
}

// trackFresh keeps e.fresh: the connections accepted that have not sent
// a request yet.
func (e *Emulator) trackFresh(c net.Conn, state http.ConnState) {
	if state == http.StateNew {
		e.fresh.Store(c, struct{}{})
		return
	}
	e.fresh.Delete(c)
}

// Close shuts the emulator down gracefully: it stops accepting requests
// (health checks, REST calls and new WebSocket connections get 503),
// delivers what is already queued, ends the open group streams (each
// publisher gets streamClosed InternalServerError, "The emulator is
// shutting down.", and the stream's group the terminal message with that
// error), sends every PubSub client a disconnected message and every
// client a close frame (1001, "The emulator is shutting down."), closes
// the connections that have not sent a request, waits up to 1 s for each
// client's close frame (5 s for the whole procedure of a connection)
// before dropping TCP, sends the upstream disconnected events (upstream
// calls still running 5 s after Close began are canceled), and returns
// when every goroutine the emulator started has ended. Detached reliable
// connections end too. It returns an error only when in-flight REST
// requests did not finish within 5 s; the emulator is closed anyway. Close
// is idempotent; later calls return the first call's result. A closed
// Emulator cannot be started again.
func (e *Emulator) Close() error {
	e.closeOnce.Do(func() {
		e.mu.Lock()
		e.closing = true
		servers := e.servers
		// A connection that has not sent a request has nothing to finish,
		// but Shutdown would wait for it: close it now.
		e.fresh.Range(func(c, _ any) bool {
			_ = c.(net.Conn).Close()
			return true
		})
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
		e.failStreams()
		e.core.Shutdown(core.Ending{Code: core.CodeGoingAway, Reason: reasonShutdown})
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
	e.hubsMu.RLock()
	defer e.hubsMu.RUnlock()
	if hs, ok := e.handlers[name]; ok {
		return hs
	}
	return e.handlers["*"]
}

// hubOptions returns the settings of the canonical hub name.
func (e *Emulator) hubOptions(name string) HubOptions {
	e.hubsMu.RLock()
	defer e.hubsMu.RUnlock()
	for k, v := range e.opts.Hubs {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return e.opts.Hubs["*"]
}

// SetHubs replaces Options.Hubs while the emulator runs, for example
// after its configuration file changed: new connections, their upstream
// calls and anonymous-connection checks use the new settings; connections
// already open keep the event handlers they connected with. hubs is
// checked as New checks Options.Hubs; on error nothing changes. The map
// is copied.
func (e *Emulator) SetHubs(hubs map[string]HubOptions) error {
	copied, handlers, err := compileHubs(hubs)
	if err != nil {
		return err
	}
	e.hubsMu.Lock()
	e.opts.Hubs, e.handlers = copied, handlers
	e.hubsMu.Unlock()
	return nil
}

// compileHubs checks and copies the per-hub settings and compiles their
// event handlers, by lower-case Hubs key.
func compileHubs(in map[string]HubOptions) (map[string]HubOptions, map[string][]*eventHandler, error) {
	hubs := make(map[string]HubOptions, len(in)) // a copy: the caller may reuse its map
	handlers := make(map[string][]*eventHandler, len(in))
	for name, ho := range in {
		if r := names.Hub(name); name != "*" && r != "" {
			return nil, nil, &ValidationError{Name: "Hubs key", Value: name, Reason: r + `, or be "*"`}
		}
		if _, dup := handlers[strings.ToLower(name)]; dup {
			return nil, nil, &ValidationError{Name: "Hubs", Value: strings.ToLower(name), Reason: "has two keys for this hub (keys are case-insensitive)"}
		}
		ho.EventHandlers = append([]EventHandler(nil), ho.EventHandlers...)
		hubs[name] = ho
		compiled := make([]*eventHandler, 0, len(ho.EventHandlers))
		for i, eh := range ho.EventHandlers {
			c, err := compileEventHandler(eh)
			if err != nil {
				return nil, nil, &ValidationError{Name: fmt.Sprintf("Hubs[%q].EventHandlers[%d]", name, i), Reason: err.Error()}
			}
			compiled = append(compiled, c)
		}
		handlers[strings.ToLower(name)] = compiled
	}
	return hubs, handlers, nil
}

// hubIfExists returns the hub named by the canonical name, or nil.
func (e *Emulator) hubIfExists(name string) *core.Hub { return e.core.Hub(name) }

// tracker lets the core's timers count as work Close waits for.
type tracker struct{ e *Emulator }

func (t tracker) Track() bool { return t.e.track() }
func (t tracker) Done()       { t.e.wg.Done() }

// route dispatches a request to the REST data plane or the client
// endpoint.
func (e *Emulator) route(w http.ResponseWriter, r *http.Request) {
	path := r.URL.EscapedPath()
	switch {
	case path == "/api/health" || strings.HasPrefix(path, "/api/"):
		e.serveREST(w, r)
	case e.opts.Dashboard && (path == "/dashboard" || strings.HasPrefix(path, DashboardPath)):
		if path == "/dashboard" {
			http.Redirect(w, r, DashboardPath, http.StatusMovedPermanently)
			return
		}
		e.serveDashboard(w, r)
	case path == "/client" || path == "/client/":
		e.handshake(w, r, r.URL.Query().Get("hub"), func(w http.ResponseWriter) { e.serveClient(w, r, "") })
	case strings.HasPrefix(path, "/client/hubs/"):
		if hubName, ok := hubSegment(path, "/client/hubs/"); ok {
			e.handshake(w, r, hubName, func(w http.ResponseWriter) { e.serveClient(w, r, hubName) })
		} else {
			http.NotFound(w, r)
		}
	case strings.HasPrefix(path, "/clients/mqtt/hubs/"):
		if hubName, ok := hubSegment(path, "/clients/mqtt/hubs/"); ok {
			e.handshake(w, r, hubName, func(w http.ResponseWriter) { e.serveMQTT(w, r, hubName) })
		} else {
			http.NotFound(w, r)
		}
	case strings.HasPrefix(path, "/clients/socketio/hubs/"):
		hubName, _ := hubSegment(path, "/clients/socketio/hubs/")
		e.handshake(w, r, hubName, func(w http.ResponseWriter) {
			plainError(w, http.StatusNotImplemented, "Socket.IO clients are not supported by this emulator.")
		})
	default:
		http.NotFound(w, r)
	}
}

// handshake runs serve, a WebSocket endpoint, on r for hub (as the
// request names it). With the trace on, a handshake that serve answers
// with an HTTP error instead of an upgrade (a 401 with its reason, a bad
// request, an injected fault, a connect event handler's refusal) is one
// trace line.
func (e *Emulator) handshake(w http.ResponseWriter, r *http.Request, hub string, serve func(http.ResponseWriter)) {
	if e.trace == nil {
		serve(w)
		return
	}
	sw := &statusWriter{ResponseWriter: w}
	defer func() {
		if sw.status >= 300 { // 0: nothing written; 101: upgraded
			e.trace.refused(strings.ToLower(hub), r.URL.Path, sw)
		}
	}()
	serve(sw)
}

// hubSegment returns the unescaped hub name of a client endpoint path
// prefix + "{hub}" (with or without a trailing slash); ok is false when
// the path has no such single segment.
func hubSegment(path, prefix string) (hub string, ok bool) {
	seg := strings.TrimSuffix(strings.TrimPrefix(path, prefix), "/")
	hub, err := url.PathUnescape(seg)
	if err != nil || hub == "" || strings.Contains(seg, "/") {
		return "", false
	}
	return hub, true
}
