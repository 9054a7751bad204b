package emulator

import (
	"net/http"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TestInvoke: an invoke frame becomes a user event upstream, the
// handler's answer its invokeResponse; every failure is an invokeResponse
// with success false; cancelInvocation silences an invocation; a second
// invocation with an id in flight is refused.
func TestInvoke(t *testing.T) {
	fu := newFakeUpstream(t, func(r *recordedRequest) fakeResponse {
		switch r.header.Get("ce-eventName") {
		case "echo":
			return fakeResponse{status: 200, header: http.Header{"Content-Type": {"text/plain"}}, body: append([]byte("echo:"), r.body...)}
		case "json":
			return fakeResponse{status: 200, header: http.Header{"Content-Type": {"application/json"}}, body: []byte(`{"ok":true}`)}
		case "empty":
			return fakeResponse{status: 204}
		case "fail":
			return fakeResponse{status: 500, body: []byte("boom")}
		case "slow":
			return fakeResponse{hold: true}
		case "denied":
			return fakeResponse{status: 403, header: http.Header{"Content-Type": {"text/plain"}}, body: []byte("sign in first\n")}
		case "unauthorized":
			return fakeResponse{status: 401}
		}
		return fakeResponse{status: 400}
	})
	te := startEmulator(t, fu.handlerOptions("echo,json,empty,fail,slow,denied,unauthorized"))
	c := te.pubsub(jwt.MapClaims{"sub": "u"})

	tests := []struct {
		name, send, want string
	}{
		{"text reply", `{"type":"invoke","invocationId":"1","target":"event","event":"echo","dataType":"text","data":"hi"}`,
			`{"type":"invokeResponse","invocationId":"1","success":true,"dataType":"text","data":"echo:hi"}`},
		{"json reply", `{"type":"invoke","invocationId":"2","target":"event","event":"json","dataType":"json","data":{"a":1}}`,
			`{"type":"invokeResponse","invocationId":"2","success":true,"dataType":"json","data":{"ok":true}}`},
		{"no body", `{"type":"invoke","invocationId":"3","target":"event","event":"empty"}`,
			`{"type":"invokeResponse","invocationId":"3","success":true}`},
		{"handler failure", `{"type":"invoke","invocationId":"4","target":"event","event":"fail","dataType":"text","data":"x"}`,
			`{"type":"invokeResponse","invocationId":"4","success":false,"error":{"name":"InternalServerError","message":"The event handler returned status code 500."}}`},
		{"permission denied with a reason", `{"type":"invoke","invocationId":"4a","target":"event","event":"denied"}`,
			`{"type":"invokeResponse","invocationId":"4a","success":false,"error":{"name":"Forbidden","message":"The event handler returned status code 403: sign in first"}}`},
		{"permission denied", `{"type":"invoke","invocationId":"4b","target":"event","event":"unauthorized"}`,
			`{"type":"invokeResponse","invocationId":"4b","success":false,"error":{"name":"Forbidden","message":"The event handler returned status code 401."}}`},
		{"no handler", `{"type":"invoke","invocationId":"5","target":"event","event":"other"}`,
			`{"type":"invokeResponse","invocationId":"5","success":false,"error":{"name":"InternalServerError","message":"No event handler is configured for event 'other'."}}`},
		{"bad target", `{"type":"invoke","invocationId":"6","target":"group","event":"echo"}`,
			`{"type":"invokeResponse","invocationId":"6","success":false,"error":{"name":"BadRequest","message":"The invocation target 'group' is not supported; use 'event'."}}`},
		{"bad event name", `{"type":"invoke","invocationId":"7","target":"event","event":"1bad"}`,
			`{"type":"invokeResponse","invocationId":"7","success":false,"error":{"name":"BadRequest","message":"Invalid event name '1bad'."}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := c.with(t)
			c.SendText(tt.send)
			c.ExpectJSON(tt.want)
		})
	}
	// The upstream request is the event frame's CloudEvent.
	r := fu.next(t, "azure.webpubsub.user.echo")
	if r.header.Get("ce-eventName") != "echo" || r.header.Get("Content-Type") != "text/plain" || string(r.body) != "hi" {
		t.Errorf("upstream %v %q", r.header, r.body)
	}

	t.Run("duplicate in flight, then cancel", func(t *testing.T) {
		c := c.with(t)
		c.SendText(`{"type":"invoke","invocationId":"s","target":"event","event":"slow"}`)
		held := fu.next(t, "azure.webpubsub.user.slow")
		c.SendText(`{"type":"invoke","invocationId":"s","target":"event","event":"slow"}`)
		c.ExpectJSON(`{"type":"invokeResponse","invocationId":"s","success":false,"error":{"name":"BadRequest","message":"The invocation 's' is already in progress."}}`)
		c.SendText(`{"type":"cancelInvocation","invocationId":"s"}`)
		<-held.ctx.Done() // the upstream call is canceled
		// Nothing follows for "s": the next frame is the pong.
		c.Barrier()
		// The id is free again.
		c.SendText(`{"type":"invoke","invocationId":"s","target":"event","event":"empty"}`)
		c.ExpectJSON(`{"type":"invokeResponse","invocationId":"s","success":true}`)
	})
}

// TestInvokeReliable: on the reliable subprotocol the invokeResponse has
// a sequenceId and is replayed after a recovery until acknowledged.
func TestInvokeReliable(t *testing.T) {
	fu := newFakeUpstream(t, func(r *recordedRequest) fakeResponse {
		return fakeResponse{status: 200, header: http.Header{"Content-Type": {"text/plain"}}, body: []byte("ok")}
	})
	te := startEmulator(t, fu.handlerOptions("*"))
	c := te.reliable(jwt.MapClaims{"sub": "u"})
	c.SendText(`{"type":"invoke","invocationId":"r1","target":"event","event":"e"}`)
	want := `{"type":"invokeResponse","invocationId":"r1","success":true,"dataType":"text","data":"ok","sequenceId":1}`
	c.ExpectJSON(want)
	te.drop(c)
	d := te.recover(c)
	d.ExpectJSON(want)
	d.SendText(`{"type":"sequenceAck","sequenceId":1}`)
	d.Barrier()
	if got := te.Messages(); len(got) != 0 {
		t.Errorf("the message log holds the invoke response: %v", got)
	}
}

// TestInvokeTimeout: an invocation whose handler does not answer within
// EventHandlerTimeout, on the emulator's clock, fails.
func TestInvokeTimeout(t *testing.T) {
	fu := newFakeUpstream(t, func(*recordedRequest) fakeResponse { return fakeResponse{hold: true} })
	clock := NewFakeClock(time.Unix(1_700_000_000, 0))
	opts := fu.handlerOptions("*")
	opts.Clock, opts.EventHandlerTimeout = clock, 5*time.Second
	te := startEmulator(t, opts)
	c := te.pubsub(jwt.MapClaims{"sub": "u"})
	c.SendText(`{"type":"invoke","invocationId":"t","target":"event","event":"e"}`)
	fu.next(t, "azure.webpubsub.user.e")
	ctx, cancel := contextWithTimeout()
	defer cancel()
	if err := clock.WaitTimers(ctx, 5*time.Second, 1); err != nil {
		t.Fatal(err)
	}
	clock.Advance(5 * time.Second)
	f := c.ReadJSON()
	if f["type"] != "invokeResponse" || f["invocationId"] != "t" || f["success"] != false {
		t.Fatalf("got %v; want a failed invokeResponse", f)
	}
}
