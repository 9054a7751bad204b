package emulator

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/gowebpubsub/webpubsub/emulator/internal/core"
	"github.com/gowebpubsub/webpubsub/internal/protocol"
	"github.com/gowebpubsub/webpubsub/internal/redact"
)

// invokeTargetEvent is the one invoke target the service defines: a user
// event answered by the application server.
const invokeTargetEvent = "event"

// invoke runs an invoke frame: the event goes upstream as a user event
// (the same CloudEvent as an event frame's), and the handler's answer
// comes back as an invokeResponse. The call runs in the background, so
// the connection's other frames, a cancelInvocation among them, are read
// meanwhile; an invocationId still in flight is refused.
func (c *conn) invoke(f *protocol.ClientFrame) {
	id := f.InvocationID
	if f.Target != invokeTargetEvent {
		c.invokeFailed(id, protocol.ErrorNameBadRequest, fmt.Sprintf("The invocation target '%s' is not supported; use 'event'.", f.Target))
		return
	}
	if err := f.Validate(); err != nil {
		c.invokeFailed(id, protocol.ErrorNameBadRequest, badRequestMessage(f, err))
		return
	}
	h := c.userHandler(f.Event)
	if h == nil {
		c.invokeFailed(id, protocol.ErrorNameInternalServerError, fmt.Sprintf("No event handler is configured for event '%s'.", f.Event))
		return
	}
	ctx, cancel := context.WithCancel(c.life)
	c.mu.Lock()
	_, dup := c.invocations[id]
	if !dup {
		if c.invocations == nil {
			c.invocations = map[string]context.CancelFunc{}
		}
		c.invocations[id] = cancel
	}
	c.mu.Unlock()
	if dup {
		cancel()
		c.invokeFailed(id, protocol.ErrorNameBadRequest, fmt.Sprintf("The invocation '%s' is already in progress.", id))
		return
	}
	event, dt, data := f.Event, f.DataType, bytes.Clone(f.Data) // f's data is a pooled read buffer
	c.e.goTracked(func() {
		defer cancel()
		reply, msg, failure := c.callUser(ctx, h, event, contentTypeOf(dt), data, true)
		if !c.endInvocation(id) || ctx.Err() != nil {
			return // canceled, or the connection ended: nothing is sent
		}
		if msg != "" {
			name, msg := invokeError(failure, msg)
			c.invokeFailed(id, name, msg)
			return
		}
		resp := &protocol.ServiceFrame{Type: protocol.TypeInvokeResponse, InvocationID: id, Success: true}
		if reply.has {
			resp.DataType, resp.Data = reply.dt, reply.data
			if reply.dt == protocol.DataTypeText {
				resp.Data = bytes.ToValidUTF8(reply.data, []byte("\uFFFD"))
			}
		}
		c.invokeResponse(resp)
	})
}

// invokeError is the error name and message of an invokeResponse whose
// upstream call failed with msg (failure is the call's own error, or nil
// when its answer was unusable). An application server that answers 401
// or 403 denies the caller the invocation: the client sees Forbidden, the
// name a missing permission has everywhere in the protocol, with the
// handler's reason (the start of its body) when it gave one. Every other failure is
// InternalServerError with msg.
func invokeError(failure *upstreamError, msg string) (string, string) {
	if failure == nil || (failure.status != http.StatusUnauthorized && failure.status != http.StatusForbidden) {
		return protocol.ErrorNameInternalServerError, msg
	}
	if reason := strings.TrimSpace(string(failure.body)); reason != "" {
		msg = strings.TrimSuffix(msg, ".") + ": " + redact.Preview(reason, maxInvokeReason)
	}
	return protocol.ErrorNameForbidden, msg
}

// maxInvokeReason bounds the handler's reason in a Forbidden
// invokeResponse, in bytes.
const maxInvokeReason = 256

// endInvocation removes invocation id; it reports false when a
// cancelInvocation removed it first.
func (c *conn) endInvocation(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.invocations[id]; !ok {
		return false
	}
	delete(c.invocations, id)
	return true
}

// cancelInvocation stops waiting for invocation id: its upstream call is
// canceled and no invokeResponse follows. An unknown id is ignored.
func (c *conn) cancelInvocation(id string) {
	c.mu.Lock()
	cancel := c.invocations[id]
	delete(c.invocations, id)
	c.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// invokeFailed answers invocation id with success false and an error.
func (c *conn) invokeFailed(id, name, msg string) {
	c.invokeResponse(&protocol.ServiceFrame{Type: protocol.TypeInvokeResponse, InvocationID: id,
		Error: &protocol.ErrorDetail{Name: name, Message: msg}})
}

// invokeResponse sends resp: on a reliable connection as a sequenced
// frame that waits in the reliable buffer for its sequenceAck, as
// messages do; otherwise as a reply.
func (c *conn) invokeResponse(resp *protocol.ServiceFrame) {
	if c.Reliable {
		c.DeliverTo(&core.Message{Reply: resp})
		return
	}
	c.reply(resp)
}
