package webpubsubclient

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gowebpubsub/webpubsub"
	"github.com/gowebpubsub/webpubsub/emulator"
	"github.com/gowebpubsub/webpubsub/eventhandler"
)

// invokeEnv is an emulator whose hub chat sends user events to an
// eventhandler.Handler with the given callbacks.
func invokeEnv(t *testing.T, events map[string]eventhandler.UserEventFunc, opts ...emulator.Option) *testEnv {
	t.Helper()
	h, err := eventhandler.New("chat", &eventhandler.Options{UserEvents: events, AccessKeys: []string{emulator.DefaultAccessKey}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return newEnv(t, append(opts, emulator.WithHub("chat", emulator.HubOptions{EventHandlers: []emulator.EventHandler{{
		URLTemplate: srv.URL + eventhandler.DefaultPath("chat"), UserEventPattern: "*",
	}}}))...)
}

// TestInvokeEvent: the application server's answer comes back as the
// result, its failure as an *InvocationError, on both protocols; a
// canceled invocation returns ctx.Err().
func TestInvokeEvent(t *testing.T) {
	release, entered := make(chan struct{}), make(chan struct{}, 4)
	e := invokeEnv(t, map[string]eventhandler.UserEventFunc{
		"echo": func(_ context.Context, r *eventhandler.UserEventRequest) (*eventhandler.UserEventResponse, error) {
			return eventhandler.Text("echo: " + string(r.Data)), nil
		},
		"order": func(context.Context, *eventhandler.UserEventRequest) (*eventhandler.UserEventResponse, error) {
			return eventhandler.JSON(map[string]int{"id": 7})
		},
		"nothing": func(context.Context, *eventhandler.UserEventRequest) (*eventhandler.UserEventResponse, error) {
			return nil, nil
		},
		"fail": func(context.Context, *eventhandler.UserEventRequest) (*eventhandler.UserEventResponse, error) {
			return nil, eventhandler.Reject(400, "no such order")
		},
		"admin": func(context.Context, *eventhandler.UserEventRequest) (*eventhandler.UserEventResponse, error) {
			return nil, eventhandler.Reject(403, "admins only")
		},
		"slow": func(ctx context.Context, _ *eventhandler.UserEventRequest) (*eventhandler.UserEventResponse, error) {
			entered <- struct{}{}
			select {
			case <-release:
			case <-ctx.Done():
			}
			return nil, nil
		},
	})
	defer close(release)
	jsonProtocols(t, func(t *testing.T, p Protocol) {
		c, _, _ := e.startClient(t, p, webpubsub.GetClientAccessTokenOptions{UserID: "u"}, nil)
		ctx := testContext(t)
		res, err := c.InvokeEvent(ctx, "echo", TextMessage("hi"), &InvokeEventOptions{InvocationID: "id-1"})
		if err != nil || res.InvocationID != "id-1" || res.DataType != DataTypeText || string(res.Data) != "echo: hi" {
			t.Fatalf("echo = %+v, %v", res, err)
		}
		res, err = c.InvokeEvent(ctx, "order", JSONMessage(map[string]int{"n": 1}), nil)
		if err != nil || res.InvocationID == "" || res.DataType != DataTypeJSON || string(res.Data) != `{"id":7}` {
			t.Fatalf("order = %+v, %v", res, err)
		}
		res, err = c.InvokeEvent(ctx, "nothing", TextMessage("x"), nil)
		if err != nil || res.DataType != "" || res.Data != nil {
			t.Fatalf("nothing = %+v, %v", res, err)
		}
		_, err = c.InvokeEvent(ctx, "fail", TextMessage("x"), nil)
		var ie *InvocationError
		if !errors.As(err, &ie) || ie.Name != "InternalServerError" {
			t.Fatalf("fail: %v; want an *InvocationError", err)
		}
		// An application server that denies the caller: Forbidden, with
		// its reason.
		_, err = c.InvokeEvent(ctx, "admin", TextMessage("x"), nil)
		if !errors.As(err, &ie) || ie.Name != "Forbidden" || !strings.Contains(ie.Message, "admins only") {
			t.Fatalf("admin: %v; want an *InvocationError named Forbidden with the handler's reason", err)
		}
		if _, err := c.InvokeEvent(ctx, "1bad", TextMessage("x"), nil); !errors.Is(err, ErrInvalidArgument) {
			t.Fatalf("bad event name: %v", err)
		}
		cctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() {
			_, err := c.InvokeEvent(cctx, "slow", TextMessage("x"), &InvokeEventOptions{InvocationID: "slow-" + string(p)})
			done <- err
		}()
		// The invocation is in flight once the handler has it; its id is
		// then in use.
		select {
		case <-entered:
		case <-ctx.Done():
			t.Fatal("the slow invocation never reached the handler")
		}
		if _, err := c.InvokeEvent(ctx, "slow", TextMessage("x"), &InvokeEventOptions{InvocationID: "slow-" + string(p)}); !errors.Is(err, ErrInvalidArgument) {
			t.Fatalf("a second invocation with the id in flight: %v", err)
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("canceled invocation: %v", err)
		}
		// The connection goes on.
		if _, err := c.InvokeEvent(ctx, "echo", TextMessage("again"), nil); err != nil {
			t.Fatal(err)
		}
	})
}

// TestInvokeEventSurvivesRecovery: a reliable connection that drops while
// an invocation is in flight recovers, and the answer arrives then.
func TestInvokeEventSurvivesRecovery(t *testing.T) {
	entered, release := make(chan struct{}, 1), make(chan struct{})
	e := invokeEnv(t, map[string]eventhandler.UserEventFunc{
		"hold": func(ctx context.Context, _ *eventhandler.UserEventRequest) (*eventhandler.UserEventResponse, error) {
			entered <- struct{}{}
			<-release
			return eventhandler.Text("after"), nil
		},
	})
	c, _, _ := e.startClient(t, ProtocolReliableJSON, webpubsub.GetClientAccessTokenOptions{UserID: "u"}, nil)
	ctx := testContext(t)
	done := make(chan error, 1)
	var res InvokeResult
	go func() {
		var err error
		res, err = c.InvokeEvent(ctx, "hold", TextMessage("x"), nil)
		done <- err
	}()
	<-entered
	id := c.ConnectionID()
	if err := e.emu.CutConnection("chat", id); err != nil {
		t.Fatal(err)
	}
	close(release)
	if err := <-done; err != nil || string(res.Data) != "after" {
		t.Fatalf("InvokeEvent = %+v, %v", res, err)
	}
	if c.ConnectionID() != id {
		t.Errorf("connection %s replaced %s; want a recovery", c.ConnectionID(), id)
	}
}

// holdHandler is a user event handler that reports each call on entered
// and then waits: for release, which it answers with its text, or for
// the end of its context (the emulator gave up the call), reported on
// canceled.
type holdHandler struct {
	entered  chan string // the call's connection id
	canceled chan struct{}
	release  chan string
}

// holdInvocation starts an InvokeEvent of "hold" on c, which h holds,
// and returns once h has it: the cancel of its context, the channel of
// its result, and the connection id h saw.
func holdInvocation(t *testing.T, ctx context.Context, c *Client, h *holdHandler) (context.CancelFunc, <-chan error, string) {
	t.Helper()
	cctx, cancel := context.WithCancel(ctx)
	t.Cleanup(cancel)
	done := make(chan error, 1)
	go func() {
		_, err := c.InvokeEvent(cctx, "hold", TextMessage("x"), nil)
		done <- err
	}()
	return cancel, done, next(t, h.entered, "the invocation at the handler")
}

func newHoldHandler() *holdHandler {
	return &holdHandler{entered: make(chan string, 4), canceled: make(chan struct{}, 4), release: make(chan string, 4)}
}

func (h *holdHandler) serve(ctx context.Context, r *eventhandler.UserEventRequest) (*eventhandler.UserEventResponse, error) {
	h.entered <- r.ConnectionID
	select {
	case text := <-h.release:
		return eventhandler.Text(text), nil
	case <-ctx.Done():
		h.canceled <- struct{}{}
		return nil, ctx.Err()
	}
}

// fastRetries make a lost connection's retries and reconnections quick.
func fastRetries(p Protocol) *Options {
	return &Options{Protocol: p, ReconnectRetry: RetryOptions{Delay: time.Millisecond}, MessageRetry: RetryOptions{Delay: time.Millisecond}}
}

// TestInvokeEventCancelSendsCancelInvocation: canceling InvokeEvent's
// context puts a cancelInvocation with the invocation's id on the wire,
// and the emulator cancels its call of the application server.
func TestInvokeEventCancelSendsCancelInvocation(t *testing.T) {
	h := newHoldHandler()
	e := invokeEnv(t, map[string]eventhandler.UserEventFunc{"hold": h.serve})
	jsonProtocols(t, func(t *testing.T, p Protocol) {
		tap := newWireTap(t, e)
		c, _, _ := e.newClient(t, webpubsub.GetClientAccessTokenOptions{UserID: "u"}, &Options{Protocol: p}, tap, nil)
		mustStart(t, c)
		ctx := testContext(t)
		cancel, done, _ := holdInvocation(t, ctx, c, h)
		cancel()
		if err := next(t, done, "InvokeEvent's return"); !errors.Is(err, context.Canceled) {
			t.Fatalf("InvokeEvent = %v; want context.Canceled", err)
		}
		next(t, h.canceled, "the cancellation of the handler's call")
		inv := tap.frameOf(t, "invoke")
		id, _ := inv.m["invocationId"].(string)
		if id == "" {
			t.Fatalf("invoke frame %v has no invocationId", inv.m)
		}
		if f := tap.frameOf(t, "cancelInvocation"); f.m["invocationId"] != id || f.conn != inv.conn {
			t.Fatalf("cancel frame %v on connection %d; want invocationId %s on %d", f.m, f.conn, id, inv.conn)
		}
	})
}

// TestInvokeEventRetryReusesID: when a new connection replaces the one
// that carried an invocation, the invocation is sent again on it with the
// same id (generated by the client), and its answer is the result.
func TestInvokeEventRetryReusesID(t *testing.T) {
	h := newHoldHandler()
	e := invokeEnv(t, map[string]eventhandler.UserEventFunc{"hold": h.serve})
	tap := newWireTap(t, e)
	c, _, _ := e.newClient(t, webpubsub.GetClientAccessTokenOptions{UserID: "u"}, fastRetries(ProtocolJSON), tap, nil)
	mustStart(t, c)
	ctx := testContext(t)
	type result struct {
		res InvokeResult
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := c.InvokeEvent(ctx, "hold", TextMessage("x"), nil)
		done <- result{res, err}
	}()
	first := next(t, h.entered, "the first attempt at the handler")
	if err := e.emu.CutConnection("chat", first); err != nil {
		t.Fatal(err)
	}
	// Without recovery the connection ends, and with it the call.
	next(t, h.canceled, "the end of the first attempt's call")
	second := next(t, h.entered, "the retry at the handler")
	if second == first {
		t.Fatalf("the retry came on connection %s again; want a new connection", first)
	}
	h.release <- "answer"
	r := next(t, done, "InvokeEvent's return")
	if r.err != nil || string(r.res.Data) != "answer" {
		t.Fatalf("InvokeEvent = %+v, %v", r.res, r.err)
	}
	a, b := tap.frameOf(t, "invoke"), tap.frameOf(t, "invoke")
	if a.conn == b.conn || a.m["invocationId"] != r.res.InvocationID || b.m["invocationId"] != r.res.InvocationID {
		t.Fatalf("invoke frames %v (connection %d) and %v (connection %d); want invocationId %s on two connections",
			a.m, a.conn, b.m, b.conn, r.res.InvocationID)
	}
}

// TestInvokeEventCancelAfterRecovery: an invocation whose transport
// dropped and was recovered is canceled on the recovered transport: the
// emulator, which kept the invocation, cancels its call of the
// application server.
func TestInvokeEventCancelAfterRecovery(t *testing.T) {
	h := newHoldHandler()
	evOpt, events := connEvents()
	e := invokeEnv(t, map[string]eventhandler.UserEventFunc{"hold": h.serve}, evOpt)
	c, _, _ := e.startClient(t, ProtocolReliableJSON, aliceTok, nil)
	ctx := testContext(t)
	cancel, done, id := holdInvocation(t, ctx, c, h)
	if err := e.emu.CutConnection("chat", id); err != nil {
		t.Fatal(err)
	}
	nextConnEvent(t, events, id, emulator.ConnectionConnected)
	nextRecovery(t, events, id)
	// An acknowledged call goes through once the client has the
	// recovered transport.
	if _, err := c.JoinGroup(ctx, "g", nil); err != nil {
		t.Fatal(err)
	}
	if c.ConnectionID() != id {
		t.Fatalf("connection %s replaced %s; want a recovery", c.ConnectionID(), id)
	}
	cancel()
	if err := next(t, done, "InvokeEvent's return"); !errors.Is(err, context.Canceled) {
		t.Fatalf("InvokeEvent = %v; want context.Canceled", err)
	}
	next(t, h.canceled, "the cancellation of the handler's call")
}

// TestInvokeEventCancelDuringRecovery: an invocation canceled while its
// reliable connection is recovering returns at once; its cancelInvocation
// goes out on the recovered transport, and the emulator cancels its call
// of the application server.
func TestInvokeEventCancelDuringRecovery(t *testing.T) {
	h := newHoldHandler()
	clock := emulator.NewFakeClock(time.Time{})
	e := invokeEnv(t, map[string]eventhandler.UserEventFunc{"hold": h.serve},
		emulator.WithClock(clock), emulator.WithKeepAlive(24*time.Hour, 48*time.Hour))
	c, _, _ := e.startClient(t, ProtocolReliableJSON, aliceTok, nil)
	ctx := testContext(t)
	cancel, done, id := holdInvocation(t, ctx, c, h)
	// The recovery's handshake waits on the emulator's clock.
	if err := e.emu.DelayNext(emulator.OperationRecover, 1, time.Second); err != nil {
		t.Fatal(err)
	}
	if err := e.emu.CutConnection("chat", id); err != nil {
		t.Fatal(err)
	}
	if err := clock.WaitTimers(ctx, time.Second, 1); err != nil {
		t.Fatalf("the recovery did not reach the emulator: %v", err)
	}
	cancel()
	if err := next(t, done, "InvokeEvent's return"); !errors.Is(err, context.Canceled) {
		t.Fatalf("InvokeEvent = %v; want context.Canceled", err)
	}
	select {
	case <-h.canceled:
		t.Fatal("the handler's call was canceled before the recovery")
	default:
	}
	clock.Advance(time.Second)
	next(t, h.canceled, "the cancellation of the handler's call")
	if c.ConnectionID() != id {
		t.Fatalf("connection %s replaced %s; want a recovery", c.ConnectionID(), id)
	}
}
