package webpubsub

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
)

// TestRetriesResendTheSameBody sends through real net/http to a server that
// fails the first tries: every try carries the whole body, byte for byte,
// with a Content-Length, and a token that verifies with the key, names the
// exact URL and has not expired at the time of the try (a retry may reuse
// the first try's token, see TestRESTTokenReuse).
func TestRetriesResendTheSameBody(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB, more than one write buffer
	ctx := context.Background()
	tests := []struct {
		name     string
		failWith []int // statuses of the tries before the one that succeeds
		call     func(*ServiceClient) error
		want     []byte
	}{
		{"send after 429", []int{http.StatusTooManyRequests}, func(c *ServiceClient) error {
			_, err := c.SendToAll(ctx, BinaryMessage(body), nil)
			return err
		}, body},
		{"send after two 503s, opted in", []int{http.StatusServiceUnavailable, http.StatusServiceUnavailable}, func(c *ServiceClient) error {
			_, err := c.SendToGroup(ctx, "g", BinaryMessage(body), &SendToGroupOptions{RetryAmbiguousSends: ptr(true)})
			return err
		}, body},
		{"batch groups after 500", []int{http.StatusInternalServerError}, func(c *ServiceClient) error {
			_, err := c.AddConnectionsToGroups(ctx, []string{"a", "b"}, "userId eq 'u'", nil)
			return err
		}, []byte(`{"groups":["a","b"],"filter":"userId eq 'u'"}`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			var bodies [][]byte
			var auths, lengths, urls []string
			var times []int64
			now := time.Unix(1_700_000_000, 0)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, err := io.ReadAll(r.Body)
				if err != nil {
					t.Errorf("reading the body: %v", err)
				}
				mu.Lock()
				n := len(bodies)
				bodies = append(bodies, b)
				auths = append(auths, r.Header.Get("Authorization"))
				urls = append(urls, "http://"+r.Host+r.URL.RequestURI())
				times = append(times, now.Unix())
				lengths = append(lengths, r.Header.Get("Content-Length"))
				mu.Unlock()
				if n < len(tt.failWith) {
					w.WriteHeader(tt.failWith[n])
					return
				}
				w.WriteHeader(http.StatusAccepted)
			}))
			defer srv.Close()
			opts := &ClientOptions{clock: func() time.Time { mu.Lock(); defer mu.Unlock(); now = now.Add(time.Second); return now }}
			opts.Retry.RetryDelay = time.Millisecond
			opts.Retry.MaxRetryDelay = time.Millisecond
			c, err := NewServiceClientFromConnectionString("Endpoint="+srv.URL+";AccessKey="+testKey, "hub", opts)
			if err != nil {
				t.Fatal(err)
			}
			if err := tt.call(c); err != nil {
				t.Fatal(err)
			}
			if len(bodies) != len(tt.failWith)+1 {
				t.Fatalf("%d tries, want %d", len(bodies), len(tt.failWith)+1)
			}
			for i, b := range bodies {
				if !bytes.Equal(b, tt.want) {
					t.Errorf("try %d: body of %d bytes differs from the %d sent", i+1, len(b), len(tt.want))
				}
				if lengths[i] == "" {
					t.Errorf("try %d: no Content-Length", i+1)
				}
				if !strings.Contains(urls[i], "?api-version=2024-12-01") {
					t.Errorf("try %d: URL %s has no api-version", i+1, urls[i])
				}
				claims := verifyTestJWT(t, auths[i], testKey)
				if claims["aud"] != urls[i] {
					t.Errorf("try %d: aud %v, want %s", i+1, claims["aud"], urls[i])
				}
				if exp, _ := claims["exp"].(float64); int64(exp) <= times[i] {
					t.Errorf("try %d: token expired at %v, sent at %d", i+1, claims["exp"], times[i])
				}
			}
		})
	}
}

// policyFunc is a policy.Policy of a function.
type policyFunc func(*policy.Request) (*http.Response, error)

func (f policyFunc) Do(req *policy.Request) (*http.Response, error) { return f(req) }

// TestQueryOnEveryTry: the query of a request (which this package puts on
// each try, after azcore's retry policy) reaches the service on every
// try, and a user's per-call policy sees the whole URL.
func TestQueryOnEveryTry(t *testing.T) {
	for _, withPolicy := range []bool{false, true} {
		t.Run(map[bool]string{false: "no user policy", true: "per-call policy"}[withPolicy], func(t *testing.T) {
			var mu sync.Mutex
			var queries, seen []string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				n := len(queries)
				queries = append(queries, r.URL.RawQuery)
				mu.Unlock()
				if n == 0 {
					w.WriteHeader(http.StatusServiceUnavailable)
					return
				}
				w.WriteHeader(http.StatusOK)
			}))
			defer srv.Close()
			opts := &ClientOptions{}
			opts.Retry.RetryDelay = time.Millisecond
			opts.Retry.MaxRetryDelay = time.Millisecond
			if withPolicy {
				opts.PerCallPolicies = []policy.Policy{policyFunc(func(req *policy.Request) (*http.Response, error) {
					mu.Lock()
					seen = append(seen, req.Raw().URL.RawQuery)
					mu.Unlock()
					return req.Next()
				})}
			}
			c, err := NewServiceClientFromConnectionString("Endpoint="+srv.URL+";AccessKey="+testKey, "hub", opts)
			if err != nil {
				t.Fatal(err)
			}
			for _, call := range []func() error{
				func() error { _, err := c.AddUserToGroup(context.Background(), "g", "u", nil); return err },
				func() error {
					_, err := c.SendToAll(context.Background(), TextMessage("x"), &SendToAllOptions{Filter: "userId eq 'u'"})
					return err
				},
			} {
				mu.Lock()
				queries = queries[:0]
				mu.Unlock()
				if err := call(); err != nil && !strings.Contains(err.Error(), "503") {
					t.Fatal(err)
				}
				for i, q := range queries {
					if !strings.HasPrefix(q, "api-version=2024-12-01") {
						t.Errorf("try %d: query %q; want the api-version first", i+1, q)
					}
				}
			}
			if len(queries) != 1 {
				t.Errorf("the send was tried %d times; want once (a 503 of a send is not retried by default)", len(queries))
			}
			if withPolicy {
				if len(seen) != 2 {
					t.Fatalf("the per-call policy ran %d times; want 2", len(seen))
				}
				for i, q := range seen {
					if !strings.HasPrefix(q, "api-version=2024-12-01") {
						t.Errorf("call %d: the per-call policy saw the query %q", i+1, q)
					}
				}
			}
		})
	}
}

// TestOneSpanPerCall checks that every call, a send, a group operation and
// a client token, opens exactly one span named after it.
func TestOneSpanPerCall(t *testing.T) {
	var tr capturingTracer
	var rec recorder
	opts := &ClientOptions{clock: fixedClock}
	opts.Transport = rec.transport(http.StatusAccepted)
	opts.TracingProvider = tr.provider()
	c, err := NewServiceClientFromConnectionString("Endpoint=https://svc.example.com;AccessKey="+testKey, "hub", opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for range 2 {
		if _, err := c.SendToAll(ctx, TextMessage("x"), nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.AddUserToGroup(ctx, "g", "u", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetClientAccessToken(ctx, nil); err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, n := range tr.names {
		count[n]++
	}
	for name, want := range map[string]int{"ServiceClient.SendToAll": 2, "ServiceClient.AddUserToGroup": 1, "ServiceClient.GetClientAccessToken": 1} {
		if count[name] != want {
			t.Errorf("%d spans %s, want %d (all: %v)", count[name], name, want, tr.names)
		}
	}
}

// TestSendSuccessBodyIsDiscarded sends through real net/http to a server
// whose successes carry a body: every send reuses the one connection (the
// body was read to its end and closed), and a response captured with
// policy.WithCaptureResponse has an empty, readable body.
func TestSendSuccessBodyIsDiscarded(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
	}{
		{"202 without a body", http.StatusAccepted, ""},
		{"202 with a body", http.StatusAccepted, `{"note":"accepted"}`},
		{"200 with a body", http.StatusOK, strings.Repeat("x", 5000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var conns atomic.Int32
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.body)
			}))
			srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
				if s == http.StateNew {
					conns.Add(1)
				}
			}
			srv.Start()
			defer srv.Close()
			c, err := NewServiceClientFromConnectionString("Endpoint="+srv.URL+";AccessKey="+testKey, "hub", nil)
			if err != nil {
				t.Fatal(err)
			}
			for i := range 3 {
				var resp *http.Response
				ctx := policy.WithCaptureResponse(context.Background(), &resp)
				if _, err := c.SendToGroup(ctx, "g", TextMessage("x"), nil); err != nil {
					t.Fatal(err)
				}
				if resp == nil || resp.StatusCode != tt.status {
					t.Fatalf("send %d: captured %v", i, resp)
				}
				if b, err := io.ReadAll(resp.Body); err != nil || len(b) != 0 {
					t.Errorf("send %d: captured body %q, %v", i, b, err)
				}
			}
			if n := conns.Load(); n != 1 {
				t.Errorf("%d connections for 3 sends, want 1", n)
			}
		})
	}
}

// TestTelemetryHeader: every request carries the User-Agent that azcore's
// telemetry policy writes for this module, as azcore itself writes it (a
// pipeline of azcore.NewClient with the same options is the oracle), on
// every try, whether this client sets it or azcore's policy does (with a
// user per-call policy); none when telemetry is disabled; a header of
// policy.WithHTTPHeader replaces it, as it does in azcore.
func TestTelemetryHeader(t *testing.T) {
	// azcoreUA is what azcore's own pipeline sends with telemetry t and,
	// when perCallUA is set, a per-call policy that sets that User-Agent.
	azcoreUA := func(t *testing.T, tel policy.TelemetryOptions, perCallUA string) []string {
		var rec recorder
		opts := policy.ClientOptions{Telemetry: tel, Transport: rec.transport(http.StatusOK)}
		if perCallUA != "" {
			opts.PerCallPolicies = []policy.Policy{setUA(perCallUA)}
		}
		cl, err := azcore.NewClient(moduleName, moduleVersion, runtime.PipelineOptions{}, &opts)
		if err != nil {
			t.Fatal(err)
		}
		req, err := runtime.NewRequest(context.Background(), http.MethodGet, "https://svc.example.com/")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cl.Pipeline().Do(req); err != nil {
			t.Fatal(err)
		}
		return rec.reqs[0].Header.Values("User-Agent")
	}
	for _, tc := range []struct {
		name      string
		tel       policy.TelemetryOptions
		perCallUA string
		ctxUA     string
		want      func(t *testing.T) []string
	}{
		{name: "default", want: func(t *testing.T) []string { return azcoreUA(t, policy.TelemetryOptions{}, "") }},
		{name: "application id", tel: policy.TelemetryOptions{ApplicationID: "my app with a long name"}},
		{name: "disabled", tel: policy.TelemetryOptions{Disabled: true}},
		{name: "per-call policy sets its own", perCallUA: "mine/1.0"},
		{name: "WithHTTPHeader replaces it", ctxUA: "custom/2.0", want: func(*testing.T) []string { return []string{"custom/2.0"} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := azcoreUA(t, tc.tel, tc.perCallUA)
			if tc.want != nil {
				want = tc.want(t)
			}
			if tc.name == "default" && (len(want) != 1 || !strings.HasPrefix(want[0], "azsdk-go-webpubsub/"+moduleVersion+" (")) {
				t.Fatalf("azcore's own User-Agent is %q", want)
			}
			if tc.tel.Disabled && len(want) != 0 {
				t.Fatalf("azcore sends %q with telemetry disabled", want)
			}
			var rec recorder
			var tries atomic.Int32
			opts := &ClientOptions{clock: fixedClock}
			opts.Telemetry = tc.tel
			opts.Retry.RetryDelay = time.Millisecond
			opts.Retry.MaxRetryDelay = time.Millisecond
			inner := rec.transport(http.StatusOK)
			// The first try of each call fails with 503, so that the
			// header is checked on a retried try too.
			opts.Transport = transportFunc(func(req *http.Request) (*http.Response, error) {
				resp, err := inner.Do(req)
				if tries.Add(1)%2 == 1 {
					resp.StatusCode = http.StatusServiceUnavailable
				}
				return resp, err
			})
			if tc.perCallUA != "" {
				opts.PerCallPolicies = []policy.Policy{setUA(tc.perCallUA)}
			}
			c, err := NewServiceClientFromConnectionString("Endpoint=https://svc.example.com;AccessKey="+testKey, "hub", opts)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if tc.ctxUA != "" {
				ctx = policy.WithHTTPHeader(ctx, http.Header{"User-Agent": {tc.ctxUA}})
			}
			if _, err := c.AddUserToGroup(ctx, "g", "u", nil); err != nil {
				t.Fatal(err)
			}
			if _, err := c.GroupExists(ctx, "g", nil); err != nil {
				t.Fatal(err)
			}
			if len(rec.reqs) != 4 {
				t.Fatalf("%d tries; want 4", len(rec.reqs))
			}
			for i, r := range rec.reqs {
				if got := r.Header.Values("User-Agent"); !slices.Equal(got, want) {
					t.Errorf("try %d (%s): User-Agent %q; want %q", i+1, r.Method, got, want)
				}
			}
		})
	}
}

// setUA is a per-call policy that sets the User-Agent to ua.
func setUA(ua string) policy.Policy {
	return policyFunc(func(req *policy.Request) (*http.Response, error) {
		req.Raw().Header.Set("User-Agent", ua)
		return req.Next()
	})
}
