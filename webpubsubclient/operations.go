package webpubsubclient

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/gowebpubsub/webpubsub/internal/names"
	"github.com/gowebpubsub/webpubsub/internal/protocol"
)

// AckResult is the outcome of an acknowledged call.
type AckResult struct {
	// AckID is the ack id the call used, on every attempt.
	AckID uint64
	// Duplicated reports that the service had already executed a request
	// with this ack id on this connection, so this one was not executed
	// again (a Duplicate ack). This happens when a retry follows an
	// attempt whose ack was lost, or when a caller reuses an ack id.
	Duplicated bool
}

// JoinGroupOptions are the optional parameters of JoinGroup.
type JoinGroupOptions struct {
	// AckID is the ack id to use, 1 to MaxAckID; 0 allocates the next one.
	AckID uint64
}

// LeaveGroupOptions are the optional parameters of LeaveGroup.
type LeaveGroupOptions struct {
	// AckID is the ack id to use, 1 to MaxAckID; 0 allocates the next one.
	AckID uint64
}

// SendToGroupOptions are the optional parameters of SendToGroup.
type SendToGroupOptions struct {
	// NoEcho asks the service not to deliver the message back to this
	// connection (other connections of the same user still get it).
	NoEcho bool
	// FireAndForget sends without an ack id: the call returns once the
	// frame is written, with a zero AckResult, and the service reports no
	// failure (a missing permission silently drops the message).
	FireAndForget bool
	// AckID is the ack id to use, 1 to MaxAckID; 0 allocates the next one.
	// It must be 0 with FireAndForget.
	AckID uint64
}

// SendEventOptions are the optional parameters of SendEvent.
type SendEventOptions struct {
	// FireAndForget sends without an ack id, as in SendToGroupOptions.
	FireAndForget bool
	// AckID is the ack id to use, 1 to MaxAckID; 0 allocates the next one.
	// It must be 0 with FireAndForget.
	AckID uint64
}

// JoinGroup adds the connection to group and waits for the service's ack.
// On success the group is remembered and, unless
// Options.DisableAutoRejoinGroups is set, joined again on every new
// connection. The connection needs the role webpubsub.joinLeaveGroup (or
// one for this group), otherwise the call fails with an *AckError named
// Forbidden.
//
// Every acknowledged call (JoinGroup, LeaveGroup, SendToGroup, SendEvent)
// works the same way: it waits for a connection (during a recovery or a
// reconnect), sends the request with its ack id and waits for the ack.
// After a lost connection, an AckTimeout or an InternalServerError ack it
// retries under Options.MessageRetry with the same ack id, so that the
// service executes the request at most once per connection (a retry of a
// request that was executed gets a Duplicate ack: success with
// AckResult.Duplicated set). Other ack errors are returned at once as an
// *AckError. The call fails with ctx.Err() when ctx ends, ErrStopped when
// the client stops, ErrNotStarted when it is not started, and
// ErrConnectionClosed or ErrAckTimeout when the retries are exhausted.
//
// Writes are synchronous, also with FireAndForget: nothing is queued in
// the client. While the service does not read (its back-pressure), a call
// waits for the frames before its own to be written, and ctx (and, for an
// acknowledged call, AckTimeout) bounds that wait: a call that ends while
// waiting sent nothing. A frame whose writing has begun is written whole
// (interrupting it would close the connection), so the call writing it
// returns when the service has taken it or the connection is lost.
func (c *Client) JoinGroup(ctx context.Context, group string, options *JoinGroupOptions) (AckResult, error) {
	return c.groupCall(ctx, protocol.TypeJoinGroup, group, orZero(options).AckID, c.groups.add)
}

// LeaveGroup removes the connection from group and waits for the ack (see
// JoinGroup for how acknowledged calls behave). On success the group is no
// longer rejoined automatically.
func (c *Client) LeaveGroup(ctx context.Context, group string, options *LeaveGroupOptions) (AckResult, error) {
	return c.groupCall(ctx, protocol.TypeLeaveGroup, group, orZero(options).AckID, c.groups.remove)
}

// groupCall sends a joinGroup or leaveGroup frame (typ) for group with
// ackID and, once it is acknowledged, applies it to the remembered groups
// with update.
func (c *Client) groupCall(ctx context.Context, typ protocol.FrameType, group string, ackID uint64, update func(string)) (AckResult, error) {
	if err := validateGroup(group); err != nil {
		return AckResult{}, err
	}
	f := newGroupFrame(typ, group)
	return c.call(ctx, &f, ackID, false, func() { update(group) })
}

// SendToGroup publishes msg to every connection in group (this one
// included, unless NoEcho) and waits for the ack (see JoinGroup for how
// acknowledged calls behave). The connection needs the role
// webpubsub.sendToGroup (or one for this group), but not membership. A
// nil options means an acknowledged send with echo.
func (c *Client) SendToGroup(ctx context.Context, group string, msg Message, options *SendToGroupOptions) (AckResult, error) {
	if err := validateGroup(group); err != nil {
		return AckResult{}, err
	}
	if err := c.checkMessage(msg); err != nil {
		return AckResult{}, err
	}
	o := orZero(options)
	f := newSendToGroupFrame(group, msg, o.NoEcho)
	return c.call(ctx, &f, o.AckID, o.FireAndForget, nil)
}

// SendEvent sends msg as the user event named event to the hub's event
// handler (the application server) and waits for the ack (see JoinGroup
// for how acknowledged calls behave). The event name must match
// ^[A-Za-z][A-Za-z0-9_.-]{0,127}$. The handler's reply, if any, arrives as
// a ServerMessage before the ack. No role is needed. A service without an
// event handler for the event answers InternalServerError.
func (c *Client) SendEvent(ctx context.Context, event string, msg Message, options *SendEventOptions) (AckResult, error) {
	if r := names.Event(event); r != "" {
		return AckResult{}, &ValidationError{Name: "event", Value: event, Reason: r}
	}
	if err := c.checkMessage(msg); err != nil {
		return AckResult{}, err
	}
	o := orZero(options)
	f := newEventFrame(event, msg)
	return c.call(ctx, &f, o.AckID, o.FireAndForget, nil)
}

// checkFrameSize refuses a frame larger than the service accepts.
func checkFrameSize(frame []byte) error {
	if len(frame) > protocol.MaxFrameSize {
		return &ValidationError{Name: "message", Reason: "makes a frame of " + strconv.Itoa(len(frame)) +
			" bytes; the service accepts at most " + strconv.Itoa(protocol.MaxFrameSize)}
	}
	return nil
}

// checkMessage validates msg and refuses a ProtobufMessage on the JSON
// protocols.
func (c *Client) checkMessage(msg Message) error {
	if err := msg.validate(); err != nil {
		return err
	}
	if msg.DataType() == DataTypeProtobuf && !c.cfg.pbuf {
		return &UnsupportedError{Feature: "ProtobufMessage", Protocol: c.cfg.protocol}
	}
	return nil
}

// newGroupFrame returns a joinGroup or leaveGroup frame, without ack id.
func newGroupFrame(typ protocol.FrameType, group string) protocol.ClientFrame {
	return protocol.ClientFrame{Type: typ, Group: group}
}

// newSendToGroupFrame returns a sendToGroup frame, without ack id.
func newSendToGroupFrame(group string, msg Message, noEcho bool) protocol.ClientFrame {
	return protocol.ClientFrame{Type: protocol.TypeSendToGroup, Group: group, NoEcho: noEcho,
		DataType: protocol.DataType(msg.p.DataType()), Data: msg.p.Data(), HasData: true}
}

// newEventFrame returns an event frame, without ack id.
func newEventFrame(event string, msg Message) protocol.ClientFrame {
	return protocol.ClientFrame{Type: protocol.TypeEvent, Event: event,
		DataType: protocol.DataType(msg.p.DataType()), Data: msg.p.Data(), HasData: true}
}

// validateGroup applies the group name rule of internal/names; the error
// shows the group (shortened), which is a name, not a secret.
func validateGroup(group string) error {
	if r := names.Group(group); r != "" {
		return &ValidationError{Name: "group", Value: group, Reason: r}
	}
	return nil
}

// orZero returns options, or zero options when it is nil: a nil
// *<Method>Options means the defaults.
func orZero[T any](options *T) *T {
	if options == nil {
		return new(T)
	}
	return options
}

// call runs an operation on the active run. onSuccess, when not nil, runs
// under the client lock after a successful ack.
func (c *Client) call(ctx context.Context, f *protocol.ClientFrame, ackID uint64, fireAndForget bool, onSuccess func()) (AckResult, error) {
	if fireAndForget && ackID != 0 {
		return AckResult{}, &ValidationError{Name: "AckID", Reason: "must be 0 for a fire-and-forget call"}
	}
	if ackID > MaxAckID {
		return AckResult{}, &ValidationError{Name: "AckID", Value: strconv.FormatUint(ackID, 10), Reason: "must be at most 2^53"}
	}
	c.mu.Lock()
	r := c.run
	c.mu.Unlock()
	if r == nil {
		return AckResult{}, ErrNotStarted
	}
	res, err := r.invoke(ctx, f, ackID, fireAndForget)
	if err == nil && onSuccess != nil {
		c.mu.Lock()
		onSuccess()
		c.mu.Unlock()
	}
	return res, err
}

// pendingAck is a call waiting for its ack on transport tr.
type pendingAck struct {
	tr *transport
	ch chan ackOutcome // buffered; receives exactly one outcome
}

// ackOutcome is what ended the wait for an ack.
type ackOutcome struct {
	lost    bool // the transport was lost
	success bool
	err     *protocol.ErrorDetail
}

var framePool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// invoke sends f (with ackID, or a new ack id when it is 0, unless
// fireAndForget) and waits for the outcome, retrying as JoinGroup
// describes.
func (r *run) invoke(ctx context.Context, f *protocol.ClientFrame, ackID uint64, fireAndForget bool) (AckResult, error) {
	c := r.c
	if !fireAndForget {
		if ackID == 0 {
			ackID = c.ackIDs.Add(1)
		}
		f.AckID, f.HasAckID = ackID, true
	}
	bp := framePool.Get().(*[]byte)
	frame, err := c.cfg.appendFrame((*bp)[:0], f)
	if err != nil {
		return AckResult{}, &ValidationError{Name: "message", Reason: "cannot be encoded for " + string(c.cfg.protocol) + ": " + err.Error()}
	}
	defer func() {
		if cap(frame) <= 64<<10 {
			*bp = frame[:0]
			framePool.Put(bp)
		}
	}()
	if err := checkFrameSize(frame); err != nil {
		return AckResult{}, err
	}
	if fireAndForget {
		return AckResult{}, r.sendOnce(ctx, frame)
	}
	policy := c.cfg.message
	for n := 1; ; n++ {
		res, err := r.attempt(ctx, ackID, frame)
		if err == nil || !retriable(err) {
			return res, err
		}
		if !policy.allows(n) {
			return res, err
		}
		d := policy.wait(n)
		c.cfg.log.Debug("webpubsubclient: retrying", "type", string(f.Type), "ackId", ackID, "retry", n, "delay", d, "error", err)
		if err := r.sleep(ctx, d); err != nil {
			if r.ctx.Err() != nil {
				return res, ErrStopped
			}
			return res, err
		}
		if r.ctx.Err() != nil {
			return res, ErrStopped
		}
	}
}

// retriable reports whether a failed attempt may be retried: a lost
// connection, an ack timeout or InternalServerError.
func retriable(err error) bool {
	var ae *AckError
	if errors.As(err, &ae) {
		return ae.Name == protocol.ErrorNameInternalServerError
	}
	return errors.Is(err, ErrConnectionClosed) || errors.Is(err, ErrAckTimeout)
}

// attemptTimer returns the channel of the per-attempt timeout, and the
// function that stops it.
func (r *run) attemptTimer() (<-chan time.Time, func()) {
	if r.c.cfg.ackTimeout <= 0 {
		return nil, func() {}
	}
	t := r.c.clock.NewTimer(r.c.cfg.ackTimeout)
	return t.C(), func() { t.Stop() }
}

// waitTransport returns the ready transport, waiting for one if needed.
// register, when not nil, runs under the client lock with the transport.
func (r *run) waitTransport(ctx context.Context, timeout <-chan time.Time, register func(*transport) error) (*transport, error) {
	c := r.c
	for {
		c.mu.Lock()
		if r.ctx.Err() != nil {
			c.mu.Unlock()
			return nil, ErrStopped
		}
		t, ready := r.tr, r.ready
		if t != nil {
			var err error
			if register != nil {
				err = register(t)
			}
			c.mu.Unlock()
			return t, err
		}
		c.mu.Unlock()
		select {
		case <-ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-timeout:
			return nil, ErrAckTimeout
		case <-r.ctx.Done():
			return nil, ErrStopped
		}
	}
}

// attempt makes one attempt of an acknowledged call.
func (r *run) attempt(ctx context.Context, ackID uint64, frame []byte) (AckResult, error) {
	res := AckResult{AckID: ackID}
	timeout, stopTimer := r.attemptTimer()
	defer stopTimer()
	p := &pendingAck{ch: make(chan ackOutcome, 1)}
	t, err := r.waitTransport(ctx, timeout, func(t *transport) error {
		if _, busy := r.pending[ackID]; busy {
			return ErrAckIDInUse
		}
		p.tr = t
		r.pending[ackID] = p
		return nil
	})
	if err != nil {
		return res, err
	}
	if err := r.writeBounded(ctx, timeout, t, frame); err != nil {
		r.dropPending(ackID, p)
		return res, writeError(ctx, err)
	}
	select {
	case out := <-p.ch:
		switch {
		case out.lost:
			if r.ctx.Err() != nil {
				return res, ErrStopped
			}
			return res, ErrConnectionClosed
		case out.success:
			return res, nil
		case out.err != nil && out.err.Name == protocol.ErrorNameDuplicate:
			res.Duplicated = true
			return res, nil
		case out.err != nil:
			return res, &AckError{AckID: ackID, Name: out.err.Name, Message: out.err.Message}
		default:
			return res, &AckError{AckID: ackID, Name: "Unknown", Message: "the service reported a failure without an error"}
		}
	case <-ctx.Done():
		r.dropPending(ackID, p)
		return res, ctx.Err()
	case <-timeout:
		r.dropPending(ackID, p)
		return res, ErrAckTimeout
	case <-r.ctx.Done():
		r.dropPending(ackID, p)
		return res, ErrStopped
	}
}

// sendOnce writes a fire-and-forget frame on the ready transport, waiting
// for one up to the ack timeout.
func (r *run) sendOnce(ctx context.Context, frame []byte) error {
	timeout, stopTimer := r.attemptTimer()
	defer stopTimer()
	t, err := r.waitTransport(ctx, timeout, nil)
	if err != nil {
		return err
	}
	if err := r.writeBounded(ctx, timeout, t, frame); err != nil {
		return writeError(ctx, err)
	}
	return nil
}

// writeError is the error of a call whose frame could not be written: the
// call's own context error or ErrAckTimeout when one of them ended the
// wait, ErrConnectionClosed otherwise.
func writeError(ctx context.Context, err error) error {
	if errors.Is(err, ErrAckTimeout) || ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return err
	}
	return ErrConnectionClosed
}

func (r *run) dropPending(ackID uint64, p *pendingAck) {
	r.c.mu.Lock()
	if r.pending[ackID] == p {
		delete(r.pending, ackID)
	}
	r.c.mu.Unlock()
}

// resolveAck hands an ack from the service to the call waiting for it.
// Acks nobody waits for (late, after a timeout) are ignored.
func (r *run) resolveAck(ackID uint64, success bool, detail *protocol.ErrorDetail) {
	r.c.mu.Lock()
	p := r.pending[ackID]
	if p != nil {
		delete(r.pending, ackID)
	}
	r.c.mu.Unlock()
	if p != nil {
		p.ch <- ackOutcome{success: success, err: detail}
	}
}
