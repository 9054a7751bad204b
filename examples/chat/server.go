package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/gowebpubsub/webpubsub"
	"github.com/gowebpubsub/webpubsub/emulator"
	"github.com/gowebpubsub/webpubsub/eventhandler"
)

// indexHTML is the chat page: plain HTML and JavaScript, no build step.
//
//go:embed index.html
var indexHTML []byte

// Names of users and rooms: short, and safe to show anywhere.
var (
	userPattern = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,32}$`)
	roomPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
)

// maxChatRunes limits the length of one chat line.
const maxChatRunes = 500

// roomState is the name of the connection state value that holds the room
// a connection is in. The service keeps it with the connection and sends it
// back with every later event, so the server itself keeps no session.
const roomState = "room"

// chatMessage is what the server sends, as JSON: to a room, or as the reply
// to a user event that it refuses. The page and the demo render it as one
// line (see line).
type chatMessage struct {
	// Kind is "chat", "joined", "left", or "error" for a reply that only the
	// sender of an event gets.
	Kind string `json:"kind"`
	User string `json:"user,omitempty"`
	Room string `json:"room,omitempty"`
	Text string `json:"text,omitempty"`
}

// line renders m as the page shows it.
func (m chatMessage) line() string {
	switch m.Kind {
	case "chat":
		return m.User + ": " + m.Text
	case "joined":
		return "* " + m.User + " joined " + m.Room
	case "left":
		return "* " + m.User + " left " + m.Room
	case "error":
		return "! " + m.Text
	}
	return "? " + m.Kind
}

// config says where the chat server listens and which service it uses.
type config struct {
	// addr is the TCP address to listen on, e.g. "127.0.0.1:8080" or
	// "127.0.0.1:0" for a free port.
	addr string
	// hub is the Web PubSub hub.
	hub string
	// connectionString is the Azure service's connection string; "" starts
	// the emulator in-process.
	connectionString string
	// logf, when non-nil, is told what the event handler did, one line per
	// call ("alice joined lobby"). It must be safe for concurrent use.
	logf func(format string, args ...any)
}

// chatServer is the application server: it serves the page, hands out
// client access URLs and handles the hub's events.
type chatServer struct {
	// URL is the page's URL, e.g. "http://127.0.0.1:8080/".
	URL string
	// HandlerURL is the event handler's URL, where the service must send
	// the hub's events.
	HandlerURL string
	// Service describes the Web PubSub service in use, without secrets.
	Service string
	// Emulated reports whether the service is the in-process emulator.
	Emulated bool

	client  *webpubsub.ServiceClient
	emu     *emulator.Emulator
	httpSrv *http.Server
	served  chan error
	logf    func(format string, args ...any)

	closing   atomic.Bool // set by Close: nobody is left to tell
	closeOnce sync.Once
	closeErr  error
}

// startServer starts the HTTP server and, without a connection string, the
// emulator, whose event handler for the hub points at the HTTP server: the
// listener comes first so that its port is known. Close stops both.
func startServer(cfg config) (*chatServer, error) {
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return nil, err
	}
	base := "http://" + reachableAddr(ln.Addr())
	s := &chatServer{URL: base + "/", served: make(chan error, 1), logf: cfg.logf}
	if s.logf == nil {
		s.logf = func(string, ...any) {}
	}
	s.HandlerURL = base + eventhandler.DefaultPath(cfg.hub)

	connStr := cfg.connectionString
	if connStr == "" {
		s.emu, err = emulator.New(emulator.Options{
			Hubs: map[string]emulator.HubOptions{
				cfg.hub: {EventHandlers: []emulator.EventHandler{{
					URLTemplate:      s.HandlerURL,
					UserEventPattern: "*",
					SystemEvents:     []string{"connect", "connected", "disconnected"},
				}}},
			},
		})
		if err == nil {
			err = s.emu.Start()
		}
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("starting the emulator: %w", err)
		}
		connStr = s.emu.ConnectionString()
		s.Service = "the in-process emulator at " + s.emu.URL()
		s.Emulated = true
	} else {
		s.Service = "the service in AZURE_WEBPUBSUB_CONNECTION_STRING"
	}

	s.client, err = webpubsub.NewServiceClientFromConnectionString(connStr, cfg.hub, nil)
	if err != nil {
		s.closeEmulator()
		ln.Close()
		return nil, err
	}
	// The connection string gives the handler the access key that every
	// event's ce-signature is checked against.
	h, err := eventhandler.New(cfg.hub, &eventhandler.Options{
		ConnectionString: connStr,
		Connect:          s.onConnect,
		Connected:        s.onConnected,
		Disconnected:     s.onDisconnected,
		UserEvents: map[string]eventhandler.UserEventFunc{
			"join": s.onJoin,
			"chat": s.onChat,
		},
		// Answer connected and disconnected events after their callback:
		// the service then sends a connection's disconnected event only
		// after its connected callback is done, and a service that shuts
		// down waits for the callbacks.
		WaitForNonBlockingCallbacks: true,
	})
	if err != nil {
		s.closeEmulator()
		ln.Close()
		return nil, err
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", servePage)
	mux.HandleFunc("GET /negotiate", s.negotiate)
	mux.Handle(h.Path(), h)
	// No request is logged: the negotiate response carries a token.
	s.httpSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { s.served <- s.httpSrv.Serve(ln) }()
	return s, nil
}

// reachableAddr returns addr, with a loopback address in place of an
// unspecified one (":8080" listens on every address; 127.0.0.1 is one).
func reachableAddr(addr net.Addr) string {
	if a, ok := addr.(*net.TCPAddr); ok && a.IP.IsUnspecified() {
		return net.JoinHostPort("127.0.0.1", strconv.Itoa(a.Port))
	}
	return addr.String()
}

// Close stops the emulator, then the HTTP server: the emulator delivers
// the events it still has (the disconnected events of the connections it
// closes) to the event handler before it stops. Later calls return the
// first call's result.
func (s *chatServer) Close() error {
	s.closeOnce.Do(func() {
		s.closing.Store(true)
		err := s.closeEmulator()
		// No event comes any more. What may be left are a browser's
		// connections, some opened in advance and never used, which
		// Shutdown would wait for: give it a second, then close them.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if serr := s.httpSrv.Shutdown(ctx); errors.Is(serr, context.DeadlineExceeded) {
			s.httpSrv.Close()
		} else if err == nil {
			err = serr
		}
		if serr := <-s.served; !errors.Is(serr, http.ErrServerClosed) && err == nil {
			err = serr
		}
		s.closeErr = err
	})
	return s.closeErr
}

func (s *chatServer) closeEmulator() error {
	if s.emu == nil {
		return nil
	}
	return s.emu.Close()
}

func servePage(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.Write(indexHTML)
}

// README negotiate: begin

// negotiate answers GET /negotiate?user=NAME with {"url": "<client access
// URL>"}. The token names the user and grants no role: the client cannot
// join a group or publish on its own, it asks the server through events.
// (A real application authenticates the user before this point.)
func (s *chatServer) negotiate(w http.ResponseWriter, r *http.Request) {
	user := r.URL.Query().Get("user")
	if !userPattern.MatchString(user) {
		http.Error(w, "the user name must be 1 to 32 letters, digits, '.', '_' or '-'", http.StatusBadRequest)
		return
	}
	tok, err := s.client.GetClientAccessToken(r.Context(), &webpubsub.GetClientAccessTokenOptions{UserID: user})
	if err != nil {
		http.Error(w, "cannot issue a client access token", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store") // the URL carries the token
	json.NewEncoder(w).Encode(map[string]string{"url": tok.URL})
}

// README negotiate: end

// onConnect accepts only connections with a user: tokens from negotiate.
func (s *chatServer) onConnect(_ context.Context, req *eventhandler.ConnectRequest) (*eventhandler.ConnectResponse, error) {
	if req.UserID == "" {
		return nil, eventhandler.Reject(http.StatusUnauthorized, "connect with a URL from /negotiate")
	}
	return nil, nil
}

func (s *chatServer) onConnected(_ context.Context, req *eventhandler.ConnectedRequest) error {
	s.logf("%s connected", req.UserID)
	return nil
}

// onDisconnected tells the connection's room that its user left. The room
// comes from the connection state that onJoin stored.
func (s *chatServer) onDisconnected(ctx context.Context, req *eventhandler.DisconnectedRequest) error {
	var room string
	if ok, err := req.State(roomState, &room); err != nil || !ok || s.closing.Load() {
		s.logf("%s disconnected", req.UserID)
		return err
	}
	if err := s.announce(ctx, chatMessage{Kind: "left", User: req.UserID, Room: room}); err != nil {
		return err
	}
	s.logf("%s left %s", req.UserID, room)
	return nil
}

// onJoin handles the user event "join" (text data: the room). It moves the
// connection into the room's group, remembers the room in the connection
// state and tells the room. The announcement reaches the room before the
// client's ack, since the service acks after this handler answers.
func (s *chatServer) onJoin(ctx context.Context, req *eventhandler.UserEventRequest) (*eventhandler.UserEventResponse, error) {
	room := strings.TrimSpace(string(req.Data))
	if req.DataType != eventhandler.DataTypeText || !roomPattern.MatchString(room) {
		return refuse("the room name must be 1 to 64 letters, digits, '_' or '-'")
	}
	var prev string
	if _, err := req.State(roomState, &prev); err != nil {
		return nil, err
	}
	if prev == room {
		return nil, nil
	}
	if prev != "" {
		if _, err := s.client.RemoveConnectionFromGroup(ctx, prev, req.ConnectionID, nil); err != nil {
			return nil, err
		}
		if err := s.announce(ctx, chatMessage{Kind: "left", User: req.UserID, Room: prev}); err != nil {
			return nil, err
		}
		s.logf("%s left %s", req.UserID, prev)
	}
	if _, err := s.client.AddConnectionToGroup(ctx, room, req.ConnectionID, nil); err != nil {
		return nil, err
	}
	if err := req.SetState(roomState, room); err != nil {
		return nil, err
	}
	if err := s.announce(ctx, chatMessage{Kind: "joined", User: req.UserID, Room: room}); err != nil {
		return nil, err
	}
	s.logf("%s joined %s", req.UserID, room)
	return nil, nil
}

// onChat handles the user event "chat" (text data: the line) and sends the
// line to the connection's room, sender included.
func (s *chatServer) onChat(ctx context.Context, req *eventhandler.UserEventRequest) (*eventhandler.UserEventResponse, error) {
	var room string
	if ok, err := req.State(roomState, &room); err != nil {
		return nil, err
	} else if !ok {
		return refuse("join a room first")
	}
	text := strings.TrimSpace(string(req.Data))
	if req.DataType != eventhandler.DataTypeText || text == "" || !utf8.ValidString(text) {
		return refuse("a chat line is non-empty text")
	}
	if utf8.RuneCountInString(text) > maxChatRunes {
		return refuse(fmt.Sprintf("a chat line has at most %d characters", maxChatRunes))
	}
	if err := s.announce(ctx, chatMessage{Kind: "chat", User: req.UserID, Room: room, Text: text}); err != nil {
		return nil, err
	}
	s.logf("%s said %q in %s", req.UserID, text, room)
	return nil, nil
}

// refuse answers a user event with an error message for its sender only.
// The event itself succeeds: an event handler that fails (a RejectError)
// makes the service ack the event with a generic InternalServerError, and
// the client would not learn why.
func refuse(text string) (*eventhandler.UserEventResponse, error) {
	return eventhandler.JSON(chatMessage{Kind: "error", Text: text})
}

// announce sends m to its room.
func (s *chatServer) announce(ctx context.Context, m chatMessage) error {
	_, err := s.client.SendToGroup(ctx, m.Room, webpubsub.JSONMessage(m), nil)
	return err
}

// syncLogger prints log lines to a writer, one at a time.
type syncLogger struct {
	mu  sync.Mutex
	out io.Writer
}

func (l *syncLogger) logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.out, "  [event handler] "+format+"\n", args...)
}
