package emulator

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gowebpubsub/webpubsub/internal/cloudevents"
)

// recordedRequest is one request that reached a fakeUpstream.
type recordedRequest struct {
	ctx    context.Context // the request's, canceled when the emulator gives up
	method string
	path   string // escaped path and query
	header http.Header
	body   []byte
}

func (r *recordedRequest) ceType() string { return r.header.Get(cloudevents.HeaderType) }

// Short names of the event types, for the upstream tests.
const (
	ceTypeConnect      = cloudevents.TypeConnect
	ceTypeConnected    = cloudevents.TypeConnected
	ceTypeDisconnected = cloudevents.TypeDisconnected
	ceTypeUserPrefix   = cloudevents.TypeUserPrefix
)

// fakeResponse is a fakeUpstream's answer. A nil body with status 0 means
// 204.
type fakeResponse struct {
	status int
	header http.Header
	body   []byte
	// hold makes the handler wait until the request is canceled (the
	// emulator's timeout) instead of answering.
	hold bool
}

// fakeUpstream is an event handler server that records every request on
// a channel and answers with respond.
type fakeUpstream struct {
	t    testing.TB
	srv  *httptest.Server
	reqs chan *recordedRequest
	// pending holds requests that next skipped, in arrival order; only
	// the test goroutine uses it.
	pending []*recordedRequest

	respond func(*recordedRequest) fakeResponse
}

// newFakeUpstream starts a fake handler; respond may be nil (204 to every
// POST, and OPTIONS allowed for every origin). It is closed when the test
// ends, after any emulator started later.
func newFakeUpstream(t testing.TB, respond func(*recordedRequest) fakeResponse) *fakeUpstream {
	t.Helper()
	fu := &fakeUpstream{t: t, reqs: make(chan *recordedRequest, 4096), respond: respond}
	fu.srv = httptest.NewServer(http.HandlerFunc(fu.serve))
	t.Cleanup(fu.srv.Close)
	return fu
}

func (fu *fakeUpstream) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rec := &recordedRequest{ctx: r.Context(), method: r.Method, path: r.URL.RequestURI(), header: r.Header.Clone(), body: body}
	select {
	case fu.reqs <- rec:
	default:
		fu.t.Errorf("fake upstream: too many requests")
	}
	respond := fu.respond
	var resp fakeResponse
	switch {
	case respond != nil:
		resp = respond(rec)
	case r.Method == http.MethodOptions:
		resp = fakeResponse{status: 200, header: http.Header{"Webhook-Allowed-Origin": {"*"}}}
	}
	if resp.hold {
		<-r.Context().Done()
		return
	}
	for k, vs := range resp.header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	if resp.status == 0 {
		resp.status = http.StatusNoContent
	}
	w.WriteHeader(resp.status)
	_, _ = w.Write(resp.body)
}

// url is the handler URL template with the {event} placeholder.
func (fu *fakeUpstream) url() string { return fu.srv.URL + "/upstream/{hub}/{event}?code=secret-code" }

// take returns the first request, pending or new, that match accepts;
// the others stay pending for later calls. It fails the test after
// testTimeout.
func (fu *fakeUpstream) take(t testing.TB, what string, match func(*recordedRequest) bool) *recordedRequest {
	t.Helper()
	for i, r := range fu.pending {
		if match(r) {
			fu.pending = append(fu.pending[:i], fu.pending[i+1:]...)
			return r
		}
	}
	deadline := time.After(testTimeout)
	for {
		select {
		case r := <-fu.reqs:
			if match(r) {
				return r
			}
			fu.pending = append(fu.pending, r)
		case <-deadline:
			t.Fatalf("no upstream request %s arrived", what)
			return nil
		}
	}
}

// next returns the next recorded request whose ce-type is ceType (any
// when empty); requests of other types are left for later calls.
func (fu *fakeUpstream) next(t testing.TB, ceType string) *recordedRequest {
	t.Helper()
	return fu.take(t, "of type "+ceType, func(r *recordedRequest) bool { return ceType == "" || r.ceType() == ceType })
}

// nextFor returns the next recorded request of ceType about connection
// id.
func (fu *fakeUpstream) nextFor(t testing.TB, ceType, id string) *recordedRequest {
	t.Helper()
	return fu.take(t, ceType+" for "+id, func(r *recordedRequest) bool {
		return r.ceType() == ceType && r.header.Get("ce-connectionId") == id
	})
}

// nextMethod returns the next recorded request with the given method.
func (fu *fakeUpstream) nextMethod(t testing.TB, method string) *recordedRequest {
	t.Helper()
	return fu.take(t, method, func(r *recordedRequest) bool { return r.method == method })
}

// expectNone fails when a request of one of ceTypes (any, when empty)
// arrives within the window. A window is inherent to a negative check; it
// can only let a failure pass, never fail a correct emulator.
func (fu *fakeUpstream) expectNone(t testing.TB, within time.Duration, ceTypes ...string) {
	t.Helper()
	check := func(r *recordedRequest) {
		t.Helper()
		if len(ceTypes) == 0 {
			t.Fatalf("unexpected upstream %s %s (%s)", r.method, r.path, r.ceType())
		}
		for _, ct := range ceTypes {
			if strings.EqualFold(ct, r.ceType()) {
				t.Fatalf("unexpected upstream %s", r.ceType())
			}
		}
	}
	for _, r := range fu.pending {
		check(r)
	}
	deadline := time.After(within)
	for {
		select {
		case r := <-fu.reqs:
			check(r)
			fu.pending = append(fu.pending, r)
		case <-deadline:
			return
		}
	}
}

// handlerOptions configures hub "chat" with one handler of fu.
func (fu *fakeUpstream) handlerOptions(userEvents string, system ...string) Options {
	return Options{Hubs: map[string]HubOptions{"chat": {EventHandlers: []EventHandler{{
		URLTemplate: fu.url(), UserEventPattern: userEvents, SystemEvents: system, SkipValidation: true,
	}}}}}
}
