package webpubsubclient

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/gowebpubsub/webpubsub/internal/protocol"
)

// run is one Start…Stop cycle of a Client. Its supervisor goroutine owns
// the connection lifecycle: it attaches transports, recovers reliable
// connections, opens new ones and finally raises Stopped.
type run struct {
	c      *Client
	ctx    context.Context // canceled by Stop, or when the run ends
	cancel context.CancelFunc
	events *dispatcher
	wg     sync.WaitGroup // read loops, keep-alive loops, rejoins
	done   chan struct{}  // closed when the run has fully ended
	seq    sequence

	// Guarded by c.mu.
	tr                    *transport    // the ready transport, or nil
	ready                 chan struct{} // closed when tr is set; replaced when it is cleared
	pending               map[uint64]*pendingAck
	invocations           map[string]*pendingInvoke
	writers               map[string]*GroupStreamWriter // open outbound streams, by id
	stopping              bool                          // set by finish before it waits for wg; no wg.Add after it
	url                   string                        // client access URL of the logical connection
	connectionID          string
	userID                string
	reconnectionToken     string
	lastDisconnectMessage string
	rejoinCancel          context.CancelFunc
	rejoinDone            chan struct{}
}

func newRun(c *Client, prevEvents <-chan struct{}) *run {
	ctx, cancel := context.WithCancel(context.Background())
	return &run{
		c: c, ctx: ctx, cancel: cancel,
		events:  newDispatcher(c, prevEvents),
		done:    make(chan struct{}),
		ready:   make(chan struct{}),
		pending: map[uint64]*pendingAck{},

		invocations: map[string]*pendingInvoke{},
		writers:     map[string]*GroupStreamWriter{},
	}
}

// attachLocked makes t the ready transport and starts its goroutines. For
// a new connection it records info and starts the rejoin of groups, which
// raises Connected when it is done. c.mu must be held.
func (r *run) attachLocked(t *transport, info connInfo, newConnection bool) {
	c := r.c
	if newConnection {
		// The service forgot the invocations of the previous connection.
		r.loseInvocationsLocked(nil)
		r.url = info.url
		r.connectionID = info.connectionID
		r.userID = info.userID
		r.reconnectionToken = info.reconnectionToken
		r.lastDisconnectMessage = ""
	}
	r.tr = t
	close(r.ready)
	c.state = StateConnected
	if !newConnection && c.cfg.reliable {
		// Acknowledge at once what was received before the drop.
		r.seq.unconfirm()
		t.quickAck <- struct{}{}
	}
	r.wg.Add(2)
	go r.readLoop(t)
	go r.keepAlive(t)
	if !newConnection {
		return
	}
	var groups []string
	if c.cfg.autoRejoin {
		groups = c.groups.list()
	}
	ctx, cancel := context.WithCancel(r.ctx)
	done := make(chan struct{})
	r.rejoinCancel, r.rejoinDone = cancel, done
	connected := ConnectedEvent{ConnectionID: info.connectionID, UserID: info.userID}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer close(done)
		r.rejoin(ctx, groups)
		r.events.push(event{kind: evConnected, connected: connected})
	}()
}

// detach clears the ready transport t and fails the acks waiting on it.
func (r *run) detach(t *transport) {
	c := r.c
	c.mu.Lock()
	writers := r.writersLocked()
	defer func() {
		c.mu.Unlock()
		// Streams pause until the next transport; one whose start was not
		// acknowledged yet fails.
		for _, w := range writers {
			w.transportLost(t)
		}
	}()
	if r.tr == t {
		r.tr = nil
		r.ready = make(chan struct{})
	}
	for id, p := range r.pending {
		if p.tr == t {
			delete(r.pending, id)
			p.ch <- ackOutcome{lost: true}
		}
	}
	if !c.cfg.reliable {
		// Without recovery, the invocations end with the transport; a
		// reliable connection may recover and get their answers.
		r.loseInvocationsLocked(t)
	}
}

func (r *run) setState(s State) {
	r.c.mu.Lock()
	r.c.state = s
	r.c.mu.Unlock()
}

// supervise watches the connection that Start attached, and every later
// one, until the run ends.
func (r *run) supervise(t *transport) {
	defer r.finish()
	log := r.c.cfg.log
	for {
		select {
		case <-t.done:
		case <-r.ctx.Done():
		}
		r.detach(t)
		if r.ctx.Err() != nil {
			// Stop: end the connection for good with a close frame.
			t.closeGracefully()
			<-t.done
			r.endConnection()
			return
		}
		code := websocket.CloseStatus(t.err)
		if reason := closeReason(t.err); reason != "" {
			log.Info("webpubsubclient: connection lost", "connectionId", r.currentID(), "closeStatus", int(code), "closeReason", reason)
		} else {
			log.Info("webpubsubclient: connection lost", "connectionId", r.currentID(), "closeStatus", int(code))
		}
		if r.recoverable(code) {
			if nt := r.recover(); nt != nil {
				r.c.mu.Lock()
				r.attachLocked(nt, connInfo{}, false)
				r.c.mu.Unlock()
				t = nt
				log.Info("webpubsubclient: connection recovered", "connectionId", r.currentID())
				continue
			}
		}
		r.endConnection()
		if r.ctx.Err() != nil || !r.c.cfg.autoReconnect {
			return
		}
		nt, info, ok := r.reconnect()
		if !ok {
			return
		}
		r.c.mu.Lock()
		r.attachLocked(nt, info, true)
		r.c.mu.Unlock()
		t = nt
		log.Info("webpubsubclient: connected", "connectionId", info.connectionID)
	}
}

// writeToConnection sends frame, best effort, on the ready transport of
// the logical connection connID: at once, or, while a reliable recovery
// is under way, on the recovered transport. Nothing is sent once a new
// connection has replaced connID (the service forgot its state) or the
// run ends.
func (r *run) writeToConnection(connID string, frame []byte) {
	c := r.c
	c.mu.Lock()
	t, ready := r.tr, r.ready
	if r.connectionID != connID || r.stopping {
		c.mu.Unlock()
		return
	}
	if t != nil {
		c.mu.Unlock()
		_ = r.write(t, frame)
		return
	}
	r.wg.Add(1)
	c.mu.Unlock()
	go func() {
		defer r.wg.Done()
		select {
		case <-ready:
		case <-r.ctx.Done():
			return
		}
		c.mu.Lock()
		t := r.tr
		same := r.connectionID == connID
		c.mu.Unlock()
		if same && t != nil {
			_ = r.write(t, frame)
		}
	}()
}

func (r *run) currentID() string {
	r.c.mu.Lock()
	defer r.c.mu.Unlock()
	return r.connectionID
}

// recoverable decides whether a dropped connection may be recovered: only a reliable
// connection with a known id and reconnection token, not closed with 1008,
// is recovered.
func (r *run) recoverable(code websocket.StatusCode) bool {
	if !r.c.cfg.reliable || r.c.cfg.recoveryWindow <= 0 || code == websocket.StatusPolicyViolation {
		return false
	}
	r.c.mu.Lock()
	defer r.c.mu.Unlock()
	return r.connectionID != "" && r.reconnectionToken != ""
}

// recover dials the recovery URL every RecoveryInterval until it succeeds
// or RecoveryWindow has passed. A 101 means recovered; if the service then
// refuses (1008), the supervisor sees that close and starts afresh.
func (r *run) recover() *transport {
	c := r.c
	c.mu.Lock()
	c.state = StateRecovering
	u := recoveryURL(r.url, r.connectionID, r.reconnectionToken)
	c.mu.Unlock()
	deadline := c.clock.Now().Add(c.cfg.recoveryWindow)
	for attempt := 1; ; attempt++ {
		remaining := deadline.Sub(c.clock.Now())
		if remaining <= 0 {
			break
		}
		ctx, cancel := context.WithTimeout(r.ctx, min(remaining, handshakeTimeout))
		t, err := r.dial(ctx, u)
		cancel()
		if err == nil {
			return t
		}
		if r.ctx.Err() != nil {
			return nil
		}
		c.cfg.log.Info("webpubsubclient: recovery attempt failed", "attempt", attempt, "error", err)
		if c.clock.Now().Add(c.cfg.recoveryInterval).After(deadline) {
			break
		}
		if r.sleep(r.ctx, c.cfg.recoveryInterval) != nil {
			return nil
		}
	}
	c.cfg.log.Info("webpubsubclient: the connection could not be recovered")
	return nil
}

// endConnection ends the logical connection: it waits for the rejoin
// (canceled), resets the sequence state and raises Disconnected.
func (r *run) endConnection() {
	c := r.c
	c.mu.Lock()
	cancel, done := r.rejoinCancel, r.rejoinDone
	r.rejoinCancel, r.rejoinDone = nil, nil
	c.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
	streamErr := ErrStreamConnectionLost
	if r.ctx.Err() != nil {
		streamErr = ErrStopped
	}
	c.mu.Lock()
	writers := r.writersLocked()
	c.mu.Unlock()
	for _, w := range writers {
		w.finish(streamErr)
	}
	c.handlers.endStreams(streamErr)
	c.mu.Lock()
	ev := DisconnectedEvent{ConnectionID: r.connectionID, Message: r.lastDisconnectMessage}
	r.connectionID, r.userID, r.reconnectionToken, r.lastDisconnectMessage, r.url = "", "", "", "", ""
	if r.ctx.Err() == nil {
		c.state = StateDisconnected
	}
	c.mu.Unlock()
	r.seq.reset()
	r.events.push(event{kind: evDisconnected, disconnected: ev})
}

// reconnect opens a new connection under the ReconnectRetry policy. It
// returns false when the run is stopping or the policy is exhausted.
func (r *run) reconnect() (*transport, connInfo, bool) {
	c := r.c
	for n := 1; ; n++ {
		r.setState(StateConnecting)
		t, info, err := r.connectNew(r.ctx)
		if err == nil {
			return t, info, true
		}
		if r.ctx.Err() != nil {
			return nil, connInfo{}, false
		}
		if !c.cfg.reconnect.allows(n) {
			c.cfg.log.Warn("webpubsubclient: giving up reconnecting", "attempts", n, "error", err)
			return nil, connInfo{}, false
		}
		d := c.cfg.reconnect.wait(n)
		c.cfg.log.Info("webpubsubclient: reconnect attempt failed", "attempt", n, "retryIn", d, "error", err)
		r.setState(StateDisconnected)
		if r.sleep(r.ctx, d) != nil {
			return nil, connInfo{}, false
		}
	}
}

// finish ends the run: it waits for the run's goroutines, moves the client
// to StateStopped, raises Stopped and waits for the events to be delivered.
func (r *run) finish() {
	r.cancel()
	r.c.mu.Lock()
	r.stopping = true
	r.c.mu.Unlock()
	r.wg.Wait()
	c := r.c
	c.mu.Lock()
	c.state = StateStopped
	c.run = nil
	c.lastRun = r
	c.mu.Unlock()
	r.events.push(event{kind: evStopped})
	r.events.close()
	<-r.events.done
	close(r.done)
}

// sleep waits d on the client's clock, or until ctx is done.
func (r *run) sleep(ctx context.Context, d time.Duration) error {
	t := r.c.clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// rejoin joins groups again on a new connection, all at once, and raises
// RejoinGroupFailed for each failure. Failures caused by the end of the
// connection (ctx canceled) are not reported.
func (r *run) rejoin(ctx context.Context, groups []string) {
	var wg sync.WaitGroup
	for _, g := range groups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f := newGroupFrame(protocol.TypeJoinGroup, g)
			_, err := r.invoke(ctx, &f, 0, false)
			if err != nil && ctx.Err() == nil {
				r.c.cfg.log.Warn("webpubsubclient: rejoining a group failed", "group", g, "error", err)
				r.events.push(event{kind: evRejoinFailed, rejoin: RejoinGroupFailedEvent{Group: g, Err: err}})
			}
		}()
	}
	wg.Wait()
}

// closeReason is the reason of the close frame that ended a transport,
// "" when it ended without one. The service writes it (a fixed sentence
// such as "The outbound message queue is full."); it is at most 123 bytes
// and carries no secret.
func closeReason(err error) string {
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		return ce.Reason
	}
	return ""
}
