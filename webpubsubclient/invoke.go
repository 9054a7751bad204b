package webpubsubclient

import (
	"context"
	"crypto/rand"
	"encoding/hex"

	"github.com/gowebpubsub/webpubsub/internal/names"
	"github.com/gowebpubsub/webpubsub/internal/protocol"
)

// InvokeEventOptions are the optional parameters of InvokeEvent.
type InvokeEventOptions struct {
	// InvocationID identifies the invocation; "" generates a unique one.
	// It must not be in use by another invocation in flight.
	InvocationID string
}

// InvokeResult is the answer of the application server to InvokeEvent.
type InvokeResult struct {
	// InvocationID is the id the invocation used, on every attempt.
	InvocationID string
	// DataType says how Data is encoded; "" when the server answered
	// without a body.
	DataType DataType
	// Data is the answer's payload, as in ServerMessage; nil without a
	// body. The caller owns it.
	Data []byte
}

// InvocationError is the failure of an invocation that the service
// reports: the application server failed or answered too late, no
// handler takes the event, or the request was invalid.
type InvocationError struct {
	// InvocationID is the invocation's id.
	InvocationID string
	// Name is the service's error name, e.g. InternalServerError or
	// BadRequest.
	Name string
	// Message is the service's description.
	Message string
}

// Error returns "webpubsubclient: invocation <id> failed: <name>: <message>".
func (e *InvocationError) Error() string {
	return "webpubsubclient: invocation " + e.InvocationID + " failed: " + e.Name + ": " + e.Message
}

// pendingInvoke is an InvokeEvent waiting for its invokeResponse.
type pendingInvoke struct {
	tr *transport
	ch chan invokeOutcome // buffered; receives exactly one outcome
}

// invokeOutcome is what ended the wait for an invokeResponse.
type invokeOutcome struct {
	lost bool // the connection that ran the invocation is gone
	resp protocol.ServiceFrame
}

// InvokeEvent sends event with msg to the application server through the
// service and waits for its answer: a request and response, where
// SendEvent only acknowledges. It waits for a connection as SendEvent
// does. When the connection that carried the invocation is lost for good
// (a new connection replaces it), the invocation is sent again, with the
// same id, under Options.MessageRetry; a reliable connection that recovers
// keeps it, and the service delivers the answer after the recovery. When
// ctx ends, the client sends cancelInvocation (the service stops waiting
// and sends nothing more) on the connection's current transport, after the
// recovery when one is under way, and returns ctx.Err() at once. A failure
// the service reports is an *InvocationError; other errors are those of
// SendEvent. The protobuf protocols cannot carry an invocation, nor can
// any protocol carry a ProtobufMessage in one: both return an
// *UnsupportedError before anything is sent.
func (c *Client) InvokeEvent(ctx context.Context, event string, msg Message, options *InvokeEventOptions) (InvokeResult, error) {
	if r := names.Event(event); r != "" {
		return InvokeResult{}, &ValidationError{Name: "event", Value: event, Reason: r}
	}
	if err := msg.validate(); err != nil {
		return InvokeResult{}, err
	}
	if c.cfg.pbuf {
		return InvokeResult{}, &UnsupportedError{Feature: "InvokeEvent", Protocol: c.cfg.protocol}
	}
	if msg.DataType() == DataTypeProtobuf {
		return InvokeResult{}, &UnsupportedError{Feature: "ProtobufMessage", Protocol: c.cfg.protocol}
	}
	if options == nil {
		options = &InvokeEventOptions{}
	}
	id := options.InvocationID
	if id == "" {
		var b [16]byte
		_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
		id = hex.EncodeToString(b[:])
	}
	c.mu.Lock()
	r := c.run
	c.mu.Unlock()
	if r == nil {
		return InvokeResult{}, ErrNotStarted
	}
	f := protocol.ClientFrame{Type: protocol.TypeInvoke, InvocationID: id, Target: "event", Event: event,
		DataType: protocol.DataType(msg.p.DataType()), Data: msg.p.Data(), HasData: true}
	frame := f.AppendJSON(nil)
	policy := c.cfg.message
	for n := 1; ; n++ {
		res, err := r.invokeAttempt(ctx, id, frame)
		if err != ErrConnectionClosed || !policy.allows(n) {
			return res, err
		}
		if err := r.sleep(ctx, policy.wait(n)); err != nil {
			if r.ctx.Err() != nil {
				return res, ErrStopped
			}
			return res, err
		}
	}
}

// invokeAttempt sends one invoke frame and waits for its outcome.
func (r *run) invokeAttempt(ctx context.Context, id string, frame []byte) (InvokeResult, error) {
	res := InvokeResult{InvocationID: id}
	p := &pendingInvoke{ch: make(chan invokeOutcome, 1)}
	t, err := r.waitTransport(ctx, nil, func(t *transport) error {
		if _, busy := r.invocations[id]; busy {
			return &ValidationError{Name: "InvocationID", Value: id, Reason: "is in use by an invocation in flight"}
		}
		p.tr = t
		r.invocations[id] = p
		return nil
	})
	if err != nil {
		return res, err
	}
	drop := func() {
		r.c.mu.Lock()
		if r.invocations[id] == p {
			delete(r.invocations, id)
		}
		r.c.mu.Unlock()
	}
	if err := r.write(t, frame); err != nil {
		drop()
		return res, ErrConnectionClosed
	}
	select {
	case out := <-p.ch:
		switch {
		case out.lost:
			return res, ErrConnectionClosed
		case !out.resp.Success:
			e := &InvocationError{InvocationID: id, Name: "Unknown", Message: "the service reported a failure without an error"}
			if d := out.resp.Error; d != nil {
				e.Name, e.Message = d.Name, d.Message
			}
			return res, e
		}
		if out.resp.HasData {
			res.DataType = DataType(out.resp.DataType)
			if res.DataType == "" {
				res.DataType = DataTypeJSON
			}
			res.Data = append([]byte(nil), out.resp.Data...)
		}
		return res, nil
	case <-ctx.Done():
		// The cancel goes to the connection's current transport: after a
		// reliable recovery the one that carried the invoke is gone, but
		// the service still runs the invocation. One that was answered or
		// lost meanwhile has nothing to cancel.
		r.c.mu.Lock()
		inFlight := r.invocations[id] == p
		if inFlight {
			delete(r.invocations, id)
		}
		connID := r.connectionID
		r.c.mu.Unlock()
		if inFlight {
			cancel := protocol.ClientFrame{Type: protocol.TypeCancelInvocation, InvocationID: id}
			r.writeToConnection(connID, cancel.AppendJSON(nil))
		}
		return res, ctx.Err()
	case <-r.ctx.Done():
		drop()
		return res, ErrStopped
	}
}

// resolveInvocation hands an invokeResponse to the call waiting for it;
// an answer nobody waits for (canceled, or replayed twice) is ignored.
func (r *run) resolveInvocation(f protocol.ServiceFrame) {
	r.c.mu.Lock()
	p := r.invocations[f.InvocationID]
	if p != nil {
		delete(r.invocations, f.InvocationID)
	}
	r.c.mu.Unlock()
	if p != nil {
		p.ch <- invokeOutcome{resp: f}
	}
}

// loseInvocationsLocked fails the invocations carried by t (every one,
// when t is nil) as lost. c.mu must be held.
func (r *run) loseInvocationsLocked(t *transport) {
	for id, p := range r.invocations {
		if t == nil || p.tr == t {
			delete(r.invocations, id)
			p.ch <- invokeOutcome{lost: true}
		}
	}
}
