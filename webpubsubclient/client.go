package webpubsubclient

import (
	"context"
	"sync"
	"sync/atomic"
)

// State is the lifecycle state of a Client.
type State string

const (
	// StateStopped: not started, or stopped. Start is allowed only here.
	StateStopped State = "Stopped"
	// StateConnecting: opening a new connection.
	StateConnecting State = "Connecting"
	// StateConnected: a connection is ready.
	StateConnected State = "Connected"
	// StateRecovering: the reliable protocol is recovering a dropped
	// connection; operations wait for it.
	StateRecovering State = "Recovering"
	// StateDisconnected: the connection was lost for good; the client waits
	// before opening a new one (ReconnectRetry).
	StateDisconnected State = "Disconnected"
)

// PossibleStateValues returns every State.
func PossibleStateValues() []State {
	return []State{StateStopped, StateConnecting, StateConnected, StateRecovering, StateDisconnected}
}

// Client is a Web PubSub WebSocket client, the Go counterpart of the
// Python WebPubSubClient and the JavaScript @azure/web-pubsub-client.
// Create one with New, register handlers, then Start it. All methods are
// safe for concurrent use.
//
// A Client can be started again after it stopped. Groups joined through
// JoinGroup are remembered across connections and runs and, unless
// Options.DisableAutoRejoinGroups is set, joined again on every new
// connection.
type Client struct {
	cred     Credential
	cfg      config
	clock    clock
	handlers handlerSet
	ackIDs   atomic.Uint64 // the last ack id allocated

	mu      sync.Mutex
	state   State
	run     *run // the active run; nil when stopped
	lastRun *run // the most recent run that got connected
	groups  groupSet
}

// New returns a stopped Client that gets its client access URL from
// credential (see Credential, StaticURL and URLFunc). A nil options means
// the defaults. It fails with a *ValidationError when credential is nil or
// an option is invalid. New does not connect; Start does.
func New(credential Credential, options *Options) (*Client, error) {
	if credential == nil {
		return nil, &ValidationError{Name: "credential", Reason: "must not be nil"}
	}
	if f, ok := credential.(URLFunc); ok && f == nil {
		return nil, &ValidationError{Name: "credential", Reason: "must not be a nil URLFunc"}
	}
	cfg, err := resolveOptions(options)
	if err != nil {
		return nil, err
	}
	return &Client{cred: credential, cfg: cfg, clock: realClock{}, state: StateStopped}, nil
}

// Start opens a connection and returns once the service's connected
// message has arrived (ConnectedEvent follows, after groups are rejoined).
// It is allowed only in StateStopped, and fails with ErrAlreadyStarted
// otherwise. ctx bounds the connection attempt only; the connection lives
// until Stop. Start does not retry: it fails with the credential's error, a
// *HandshakeError when the service refused the connection, ErrStopped when
// Stop interrupted it, or another error (never holding the URL) when the
// connection could not be made; the client is then stopped again and
// raises no event.
func (c *Client) Start(ctx context.Context) error {
	c.mu.Lock()
	if c.run != nil {
		c.mu.Unlock()
		return ErrAlreadyStarted
	}
	var prev <-chan struct{}
	if c.lastRun != nil {
		prev = c.lastRun.events.done
	}
	r := newRun(c, prev)
	c.run = r
	c.state = StateConnecting
	c.mu.Unlock()

	cctx, cancel := context.WithCancel(ctx)
	stopAfter := context.AfterFunc(r.ctx, cancel)
	tr, info, err := r.connectNew(cctx)
	stopAfter()
	cancel()

	c.mu.Lock()
	if err == nil && r.ctx.Err() != nil {
		err = ErrStopped
		c.mu.Unlock()
		tr.closeGracefully()
		c.mu.Lock()
	}
	if err != nil {
		if r.ctx.Err() != nil && ctx.Err() == nil {
			err = ErrStopped
		}
		r.cancel()
		c.run = nil
		c.state = StateStopped
		c.mu.Unlock()
		close(r.done)
		return err
	}
	r.attachLocked(tr, info, true)
	c.mu.Unlock()

	go r.events.loop()
	go r.supervise(tr)
	return nil
}

// Stop closes the connection (with a close frame, so the service ends it
// at once), fails the calls in flight with ErrStopped, raises Disconnected
// (if a connection was up) and then Stopped, and returns once every
// goroutine of the client has ended and every queued event has been
// delivered. On a stopped client it waits for the previous run to finish
// and returns nil.
//
// Because Stop waits for event delivery, calling it from an event handler
// blocks until ctx is done; from a handler, call it in a new goroutine. If
// ctx ends first Stop returns ctx.Err(), and the client still stops in the
// background.
func (c *Client) Stop(ctx context.Context) error {
	c.mu.Lock()
	r := c.run
	if r == nil {
		r = c.lastRun
	}
	c.mu.Unlock()
	if r == nil {
		return nil
	}
	r.cancel()
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// State returns the client's current state.
func (c *Client) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// ConnectionID returns the id of the current connection, or "" when there
// is none. It stays the same across a recovery.
func (c *Client) ConnectionID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.run == nil {
		return ""
	}
	return c.run.connectionID
}

// String describes the client (protocol, state and connection id) without
// any secret.
func (c *Client) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := "webpubsubclient.Client{protocol: " + string(c.cfg.protocol) + ", state: " + string(c.state)
	if c.run != nil && c.run.connectionID != "" {
		s += ", connectionId: " + c.run.connectionID
	}
	return s + "}"
}

// OnConnected registers fn for ConnectedEvent and returns a function that
// removes it. Handlers of all kinds run one at a time on one goroutine per
// run, in the order the client observed the events (see the package
// documentation); they must not block for long.
func (c *Client) OnConnected(fn func(ConnectedEvent)) (remove func()) {
	return addHandler(&c.handlers, &c.handlers.connected, fn)
}

// OnDisconnected registers fn for DisconnectedEvent; see OnConnected.
func (c *Client) OnDisconnected(fn func(DisconnectedEvent)) (remove func()) {
	return addHandler(&c.handlers, &c.handlers.disconnected, fn)
}

// OnStopped registers fn for StoppedEvent; see OnConnected.
func (c *Client) OnStopped(fn func(StoppedEvent)) (remove func()) {
	return addHandler(&c.handlers, &c.handlers.stopped, fn)
}

// OnServerMessage registers fn for messages from the server; see
// OnConnected.
func (c *Client) OnServerMessage(fn func(ServerMessage)) (remove func()) {
	return addHandler(&c.handlers, &c.handlers.server, fn)
}

// OnGroupMessage registers fn for group messages; see OnConnected.
func (c *Client) OnGroupMessage(fn func(GroupMessage)) (remove func()) {
	return addHandler(&c.handlers, &c.handlers.group, fn)
}

// OnRejoinGroupFailed registers fn for RejoinGroupFailedEvent; see
// OnConnected.
func (c *Client) OnRejoinGroupFailed(fn func(RejoinGroupFailedEvent)) (remove func()) {
	return addHandler(&c.handlers, &c.handlers.rejoin, fn)
}

// groupSet is the set of groups joined through the client, in join order.
type groupSet struct {
	names []string
	index map[string]int
}

func (g *groupSet) add(name string) {
	if _, ok := g.index[name]; ok {
		return
	}
	if g.index == nil {
		g.index = map[string]int{}
	}
	g.index[name] = len(g.names)
	g.names = append(g.names, name)
}

func (g *groupSet) remove(name string) {
	i, ok := g.index[name]
	if !ok {
		return
	}
	g.names = append(g.names[:i], g.names[i+1:]...)
	delete(g.index, name)
	for j := i; j < len(g.names); j++ {
		g.index[g.names[j]] = j
	}
}

func (g *groupSet) list() []string { return append([]string(nil), g.names...) }
