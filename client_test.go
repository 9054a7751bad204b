package webpubsub

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	azlog "github.com/Azure/azure-sdk-for-go/sdk/azcore/log"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/tracing"
	"github.com/gowebpubsub/webpubsub/internal/auth"
)

// noRequests fails the test when any request is made.
func noRequests(t *testing.T) policy.Transporter {
	return transportFunc(func(r *http.Request) (*http.Response, error) {
		t.Errorf("unexpected request %s %s", r.Method, r.URL.Path)
		return nil, errors.New("unexpected request")
	})
}

func TestValidationBeforeAnyRequest(t *testing.T) {
	ctx := context.Background()
	long := strings.Repeat("g", 1025)
	tests := []struct {
		name string
		call func(c *ServiceClient) error
		want string // part of the message
	}{
		{"empty message", func(c *ServiceClient) error { _, err := c.SendToAll(ctx, TextMessage(""), nil); return err }, "empty"},
		{"zero message", func(c *ServiceClient) error { _, err := c.SendToAll(ctx, Message{}, nil); return err }, "zero Message"},
		{"empty binary", func(c *ServiceClient) error { _, err := c.SendToAll(ctx, BinaryMessage(nil), nil); return err }, "empty"},
		{"bad json", func(c *ServiceClient) error { _, err := c.SendToAll(ctx, JSONMessage(make(chan int)), nil); return err }, "JSON"},
		{"json null", func(c *ServiceClient) error { _, err := c.SendToUser(ctx, "u", JSONMessage(nil), nil); return err }, "JSON null"},
		{"ttl negative", func(c *ServiceClient) error {
			_, err := c.SendToAll(ctx, TextMessage("x"), &SendToAllOptions{MessageTTLSeconds: ptr(-1)})
			return err
		}, "0..300"},
		{"ttl too large", func(c *ServiceClient) error {
			_, err := c.SendToGroup(ctx, "g", TextMessage("x"), &SendToGroupOptions{MessageTTLSeconds: ptr(301)})
			return err
		}, "0..300"},
		{"empty user", func(c *ServiceClient) error { _, err := c.SendToUser(ctx, "", TextMessage("x"), nil); return err }, "userID"},
		{"empty connection", func(c *ServiceClient) error { _, err := c.SendToConnection(ctx, "", TextMessage("x"), nil); return err }, "connectionID"},
		{"empty group", func(c *ServiceClient) error { _, err := c.SendToGroup(ctx, "", TextMessage("x"), nil); return err }, "1..1024"},
		{"blank group", func(c *ServiceClient) error { _, err := c.AddUserToGroup(ctx, " \t ", "u", nil); return err }, "white space"},
		{"group with line feed", func(c *ServiceClient) error { _, err := c.GroupExists(ctx, "a\nb", nil); return err }, "line feed"},
		{"group too long", func(c *ServiceClient) error { _, err := c.RemoveConnectionFromGroup(ctx, long, "c", nil); return err }, "1024"},
		{"no groups", func(c *ServiceClient) error { _, err := c.AddConnectionsToGroups(ctx, nil, "", nil); return err }, "at least one"},
		{"blank group in batch", func(c *ServiceClient) error {
			_, err := c.RemoveConnectionsFromGroups(ctx, []string{"a", " "}, "", nil)
			return err
		}, "white space"},
		{"empty permission", func(c *ServiceClient) error { _, err := c.GrantPermission(ctx, "", "c", nil); return err }, "permission"},
		{"blank target", func(c *ServiceClient) error {
			_, err := c.CheckPermission(ctx, PermissionSendToGroup, "c", &CheckPermissionOptions{TargetName: "  "})
			return err
		}, "TargetName"},
		{"empty user exists", func(c *ServiceClient) error { _, err := c.UserExists(ctx, "", nil); return err }, "userID"},
		{"empty close", func(c *ServiceClient) error { _, err := c.CloseConnection(ctx, "", nil); return err }, "connectionID"},
		{"bad page size", func(c *ServiceClient) error {
			_, err := c.NewListConnectionsInGroupPager("g", &ListConnectionsInGroupOptions{MaxPageSize: 201}).NextPage(ctx)
			return err
		}, "1..200"},
		{"bad top", func(c *ServiceClient) error {
			_, err := c.NewListConnectionsInGroupPager("g", &ListConnectionsInGroupOptions{Top: -1}).NextPage(ctx)
			return err
		}, "Top"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call(newTestClient(t, noRequests(t)))
			var ve *ValidationError
			if !errors.As(err, &ve) || !errors.Is(err, ErrInvalidArgument) {
				t.Fatalf("want *ValidationError, got %T %v", err, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
		})
	}
}

func TestHubValidation(t *testing.T) {
	good := []string{"h", "Hub_1.a,b[c]`d", "A" + strings.Repeat("b", 127)}
	bad := []string{"", "1hub", "_h", "hub-1", "hub 1", "hüb", "A" + strings.Repeat("b", 128), "h/1"}
	cs := "Endpoint=https://x;AccessKey=k"
	for _, h := range good {
		if _, err := NewServiceClientFromConnectionString(cs, h, nil); err != nil {
			t.Errorf("%q: %v", h, err)
		}
	}
	for _, h := range bad {
		_, err := NewServiceClientFromConnectionString(cs, h, nil)
		if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "^[A-Za-z]") {
			t.Errorf("%q: want an error naming the pattern, got %v", h, err)
		}
	}
}

func TestConstructorErrors(t *testing.T) {
	if _, err := NewServiceClientWithKey("https://x", "h", nil, nil); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("nil key: %v", err)
	}
	if _, err := NewServiceClient("https://x", "h", nil, nil); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("nil credential: %v", err)
	}
	for _, ep := range []string{"", "x", "ftp://x", "https://x?q=1", "https://u:p@x"} {
		if _, err := NewServiceClientWithKey(ep, "h", azcore.NewKeyCredential("k"), nil); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("endpoint %q: %v", ep, err)
		}
	}
	if _, err := NewServiceClientWithKey("https://x", "h", azcore.NewKeyCredential("k"), &ClientOptions{ReverseProxyEndpoint: "apim"}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("bad proxy: %v", err)
	}
}

// recorder captures requests and answers with a fixed status.
type recorder struct {
	mu   sync.Mutex
	reqs []*http.Request
}

func (r *recorder) transport(status int) policy.Transporter {
	return transportFunc(func(req *http.Request) (*http.Response, error) {
		r.mu.Lock()
		r.reqs = append(r.reqs, req)
		r.mu.Unlock()
		return &http.Response{StatusCode: status, Header: http.Header{}, Body: http.NoBody, Request: req}, nil
	})
}

func TestKeyRotationTakesEffectOnNextRequest(t *testing.T) {
	var rec recorder
	cred := azcore.NewKeyCredential("first-key-0123456789")
	opts := &ClientOptions{clock: fixedClock}
	opts.Transport = rec.transport(http.StatusAccepted)
	c, err := NewServiceClientWithKey("https://svc.example.com", "hub", cred, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := c.SendToAll(ctx, TextMessage("a"), nil); err != nil {
		t.Fatal(err)
	}
	cred.Update("second-key-9876543210")
	if _, err := c.SendToAll(ctx, TextMessage("b"), nil); err != nil {
		t.Fatal(err)
	}
	verifyTestJWT(t, rec.reqs[0].Header.Get("Authorization"), "first-key-0123456789")
	verifyTestJWT(t, rec.reqs[1].Header.Get("Authorization"), "second-key-9876543210")
	for _, r := range rec.reqs {
		for k, v := range r.Header {
			if strings.Contains(strings.Join(v, ","), "key-") || strings.EqualFold(k, "Key") {
				t.Errorf("header %s carries the key", k)
			}
		}
	}
	tok, err := c.GetClientAccessToken(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	verifyTestJWT(t, "Bearer "+tok.Token, "second-key-9876543210")
}

func TestEntraIDOverHTTPNeedsOptIn(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.Header.Get("Authorization") != "Bearer fake-entra-access-token" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	cred := &fakeTokenCredential{}
	c, err := NewServiceClient(srv.URL, "hub", cred, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SendToAll(context.Background(), TextMessage("x"), nil); err == nil || calls.Load() != 0 {
		t.Fatalf("bearer token over http without opt-in: err=%v calls=%d", err, calls.Load())
	}
	opts := &ClientOptions{}
	opts.InsecureAllowCredentialWithHTTP = true
	c, err = NewServiceClient(srv.URL, "hub", cred, opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SendToAll(context.Background(), TextMessage("x"), nil); err != nil {
		t.Fatal(err)
	}
	if len(cred.scopes) == 0 || len(cred.scopes[0]) != 1 || cred.scopes[0][0] != EntraScope {
		t.Errorf("scopes %v, want [%s]", cred.scopes, EntraScope)
	}
}

func TestEntraIDThroughReverseProxy(t *testing.T) {
	var got *http.Request
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		w.WriteHeader(http.StatusAccepted)
	}))
	defer proxy.Close()
	opts := &ClientOptions{ReverseProxyEndpoint: proxy.URL + "/gw/"}
	opts.InsecureAllowCredentialWithHTTP = true
	c, err := NewServiceClient("https://svc.example.com/p", "hub", &fakeTokenCredential{}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SendToUser(context.Background(), "u 1", TextMessage("x"), nil); err != nil {
		t.Fatal(err)
	}
	if got.RequestURI != "/gw/api/hubs/hub/users/u%201/:send?api-version=2024-12-01" || got.Header.Get("Authorization") != "Bearer fake-entra-access-token" {
		t.Errorf("sent %s with %q", got.RequestURI, got.Header.Get("Authorization"))
	}
}

// scripted answers each request with the next status (and headers).
type scripted struct {
	mu    sync.Mutex
	steps []func(*http.Request) (*http.Response, error)
	n     int
}

func (s *scripted) Do(r *http.Request) (*http.Response, error) {
	s.mu.Lock()
	i := s.n
	s.n++
	s.mu.Unlock()
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
	}
	if i >= len(s.steps) {
		return &http.Response{StatusCode: http.StatusTeapot, Header: http.Header{}, Body: http.NoBody, Request: r}, nil
	}
	return s.steps[i](r)
}

func status(code int, hdr ...string) func(*http.Request) (*http.Response, error) {
	return func(r *http.Request) (*http.Response, error) {
		h := http.Header{}
		for i := 0; i+1 < len(hdr); i += 2 {
			h.Set(hdr[i], hdr[i+1])
		}
		return &http.Response{StatusCode: code, Header: h, Body: http.NoBody, Request: r}, nil
	}
}

func fail(err error) func(*http.Request) (*http.Response, error) {
	return func(*http.Request) (*http.Response, error) { return nil, err }
}

func retryClient(t *testing.T, s *scripted, retrySends bool) *ServiceClient {
	opts := &ClientOptions{clock: fixedClock, RetryAmbiguousSends: retrySends}
	opts.Transport = s
	opts.Retry.MaxRetries = 3
	opts.Retry.RetryDelay = time.Millisecond
	opts.Retry.MaxRetryDelay = 2 * time.Second
	c, err := NewServiceClientFromConnectionString("Endpoint=https://svc.example.com;AccessKey="+testKey, "hub", opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRetryPolicy(t *testing.T) {
	dial := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	reset := &net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset by peer")}
	ctx := context.Background()
	send := func(c *ServiceClient) error { _, err := c.SendToAll(ctx, TextMessage("x"), nil); return err }
	sendRetry := func(c *ServiceClient) error {
		_, err := c.SendToGroup(ctx, "g", TextMessage("x"), &SendToGroupOptions{RetryAmbiguousSends: ptr(true)})
		return err
	}
	sendNoRetry := func(c *ServiceClient) error {
		_, err := c.SendToUser(ctx, "u", TextMessage("x"), &SendToUserOptions{RetryAmbiguousSends: ptr(false)})
		return err
	}
	add := func(c *ServiceClient) error { _, err := c.AddConnectionToGroup(ctx, "g", "c", nil); return err }
	tests := []struct {
		name       string
		retrySends bool
		steps      []func(*http.Request) (*http.Response, error)
		call       func(*ServiceClient) error
		wantTries  int
		wantStatus int // 0: success
	}{
		{"send: 429 with Retry-After is retried", false, steps(status(429, "Retry-After", "1"), status(202)), send, 2, 0},
		{"send: 500 is not retried by default", false, steps(status(500), status(202)), send, 1, 500},
		{"send: 503 is not retried by default", false, steps(status(503), status(202)), send, 1, 503},
		{"send: 500 retried when the client opts in", true, steps(status(500), status(202)), send, 2, 0},
		{"send: 500 retried when the call opts in", false, steps(status(500), status(202)), sendRetry, 2, 0},
		{"send: call opts out over a client opt-in", true, steps(status(500), status(202)), sendNoRetry, 1, 500},
		{"send: connection refused is retried", false, steps(fail(dial), status(202)), send, 2, 0},
		{"send: reset after the request is not retried", false, steps(fail(reset), status(202)), send, 1, -1},
		{"group op: 500 is retried", false, steps(status(500), status(200)), add, 2, 0},
		{"group op: reset is retried", false, steps(fail(reset), status(200)), add, 2, 0},
		{"400 is never retried", false, steps(status(400), status(200)), add, 1, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &scripted{steps: tt.steps}
			err := tt.call(retryClient(t, s, tt.retrySends))
			if s.n != tt.wantTries {
				t.Errorf("%d tries, want %d", s.n, tt.wantTries)
			}
			switch tt.wantStatus {
			case 0:
				if err != nil {
					t.Errorf("unexpected error %v", err)
				}
			case -1:
				if err == nil || !errors.Is(err, reset) {
					t.Errorf("want the transport error, got %v", err)
				}
			default:
				var re *azcore.ResponseError
				if !errors.As(err, &re) || re.StatusCode != tt.wantStatus {
					t.Errorf("want ResponseError %d, got %v", tt.wantStatus, err)
				}
			}
		})
	}
}

func steps(s ...func(*http.Request) (*http.Response, error)) []func(*http.Request) (*http.Response, error) {
	return s
}

// capturingTracer records span names.
type capturingTracer struct {
	mu    sync.Mutex
	names []string
}

func (c *capturingTracer) provider() tracing.Provider {
	return tracing.NewProvider(func(name, version string) tracing.Tracer {
		return tracing.NewTracer(func(ctx context.Context, spanName string, options *tracing.SpanOptions) (context.Context, tracing.Span) {
			c.mu.Lock()
			c.names = append(c.names, spanName)
			c.mu.Unlock()
			return ctx, tracing.Span{}
		}, nil)
	}, nil)
}

type apiNamePolicy struct{ names *[]string }

func (p apiNamePolicy) Do(req *policy.Request) (*http.Response, error) {
	if v, ok := req.Raw().Context().Value(runtime.CtxAPINameKey{}).(string); ok {
		*p.names = append(*p.names, v)
	}
	return req.Next()
}

// TestTracingSpanAndAPIName checks, for a group operation and a send, that
// per-call policies see the operation name under runtime.CtxAPINameKey and
// that a span of that name is opened.
func TestTracingSpanAndAPIName(t *testing.T) {
	tests := []struct {
		name   string
		status int
		call   func(*ServiceClient) error
	}{
		{"ServiceClient.AddUserToGroup", http.StatusOK, func(c *ServiceClient) error {
			_, err := c.AddUserToGroup(context.Background(), "g", "u", nil)
			return err
		}},
		{"ServiceClient.SendToUser", http.StatusAccepted, func(c *ServiceClient) error {
			_, err := c.SendToUser(context.Background(), "u", TextMessage("x"), &SendToUserOptions{RetryAmbiguousSends: ptr(true)})
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tr capturingTracer
			var names []string
			var rec recorder
			opts := &ClientOptions{clock: fixedClock}
			opts.Transport = rec.transport(tt.status)
			opts.TracingProvider = tr.provider()
			opts.PerCallPolicies = []policy.Policy{apiNamePolicy{&names}}
			c, err := NewServiceClientFromConnectionString("Endpoint=https://svc.example.com;AccessKey="+testKey, "hub", opts)
			if err != nil {
				t.Fatal(err)
			}
			if err := tt.call(c); err != nil {
				t.Fatal(err)
			}
			if len(names) != 1 || names[0] != tt.name {
				t.Errorf("API names %v", names)
			}
			found := false
			for _, n := range tr.names {
				if n == tt.name {
					found = true
				}
			}
			if !found {
				t.Errorf("spans %v have no %s", tr.names, tt.name)
			}
		})
	}
}

func TestLogsNeverContainSecrets(t *testing.T) {
	var mu sync.Mutex
	var lines []string
	azlog.SetListener(func(ev azlog.Event, msg string) {
		mu.Lock()
		lines = append(lines, msg)
		mu.Unlock()
	})
	defer azlog.SetListener(nil)
	var rec recorder
	opts := &ClientOptions{clock: fixedClock}
	opts.Transport = rec.transport(http.StatusAccepted)
	opts.Logging.IncludeBody = true
	c, err := NewServiceClientFromConnectionString("Endpoint=https://svc.example.com;AccessKey="+testKey, "hub", opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SendToAll(context.Background(), TextMessage("x"), &SendToAllOptions{Filter: "userId eq 'a'"}); err != nil {
		t.Fatal(err)
	}
	tok, err := c.GetClientAccessToken(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(lines) == 0 {
		t.Fatal("nothing was logged")
	}
	all := strings.Join(lines, "\n")
	for _, secret := range []string{testKey, "eyJ", tok.Token, "access_token"} {
		if strings.Contains(all, secret) {
			t.Errorf("log contains %.12s...", secret)
		}
	}
	if !strings.Contains(all, "Authorization: REDACTED") {
		t.Errorf("log does not show the redacted Authorization header:\n%s", all)
	}
}

func TestStringersRedact(t *testing.T) {
	c := newTestClient(t, noRequests(t))
	tok, err := c.GetClientAccessToken(context.Background(), &GetClientAccessTokenOptions{UserID: "u"})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{c.String(), tok.String(), tok.GoString(), fmtAll(c), fmtAll(tok)} {
		for _, secret := range []string{testKey, tok.Token, "access_token="} {
			if strings.Contains(s, secret) {
				t.Errorf("%q reveals a secret", s)
			}
		}
	}
}

func TestPagerStopsOnBadNextLinks(t *testing.T) {
	page := func(next string) func(*http.Request) (*http.Response, error) {
		return func(r *http.Request) (*http.Response, error) {
			h := http.Header{"Content-Type": {"application/json"}}
			body := `{"value":[{"connectionId":"c"}],"nextLink":"` + next + `"}`
			return &http.Response{StatusCode: 200, Header: h, Body: io.NopCloser(strings.NewReader(body)), Request: r}, nil
		}
	}
	ctx := context.Background()
	t.Run("same nextLink twice", func(t *testing.T) {
		link := "https://svc/api/hubs/hub/groups/g/connections?continuationToken=a"
		s := &scripted{steps: steps(page(link), page(link))}
		_, err := listAll(ctx, retryClient(t, s, false), "g", nil)
		if err == nil || !strings.Contains(err.Error(), "same nextLink") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("nextLink for another operation", func(t *testing.T) {
		s := &scripted{steps: steps(page("https://svc/api/hubs/other/groups/g/connections?continuationToken=a"))}
		_, err := listAll(ctx, retryClient(t, s, false), "g", nil)
		if err == nil || !strings.Contains(err.Error(), "another operation") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("continuation token exposed", func(t *testing.T) {
		s := &scripted{steps: steps(page("https://svc/api/hubs/hub/groups/g/connections?api-version=2024-12-01&continuationToken=t%2B1"), page(""))}
		p := retryClient(t, s, false).NewListConnectionsInGroupPager("g", nil)
		first, err := p.NextPage(ctx)
		if err != nil || first.ContinuationToken != "t+1" {
			t.Fatalf("token %q, err %v", first.ContinuationToken, err)
		}
	})
}

func fmtAll(v any) string {
	return strings.Join([]string{sprint("%v", v), sprint("%+v", v), sprint("%#v", v), sprint("%s", v)}, " ")
}

// TestOwnURLIsURLParse checks that the request URLs the client builds are
// parsed exactly as url.Parse parses them, and that other URLs are left
// to url.Parse.
func TestOwnURLIsURLParse(t *testing.T) {
	tests := []struct {
		endpoint, rawURL string
		own              bool
	}{
		{"http://localhost:8080", "http://localhost:8080/api/hubs/hub/:send?api-version=2024-12-01", true},
		{"https://h.example.com/p%20x", "https://h.example.com/p%20x/api/hubs/Hub_1.a%2Cb/users/u%201%2Fx'%C3%BC(2)!*~/:send?api-version=2024-12-01&filter=%27g%27%20in%20groups", true},
		{"http://[::1]:8082", "http://[::1]:8082/api/hubs/hub/groups/g/connections?api-version=2024-12-01&top=5", true},
		{"http://h", "http://h/api/health", true},
		{"http://h", "http://h/api/hubs/hub/%zz", false},
		{"http://h", "http://h/api/hubs/hub?", false},
		{"http://h", "http://h/a#f", false},
		{"http://h", "http://h/a b", false},
		{"http://h", "http://h:80/api/health", false},
		{"http://h", "https://h/api/health", false},
		{"http://h", "http://hx/api/health", false},
		{"http://h", "http://h", false},
	}
	for _, tt := range tests {
		ep, err := parseServiceURL(tt.endpoint)
		if err != nil {
			t.Fatal(err)
		}
		c, err := newServiceClient(ep, ep, "hub", auth.NewKeySource(azcore.NewKeyCredential(testKey)), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		got := c.ownURL(tt.rawURL)
		if (got != nil) != tt.own {
			t.Errorf("%s: own %v, want %v", tt.rawURL, got != nil, tt.own)
			continue
		}
		if got == nil {
			continue
		}
		want, err := url.Parse(tt.rawURL)
		if err != nil {
			t.Fatal(err)
		}
		if *got != *want {
			t.Errorf("%s:\n got %#v\nwant %#v", tt.rawURL, *got, *want)
		}
	}
}

// FuzzOwnURL checks ownURL against url.Parse for any path and query after
// the endpoint.
func FuzzOwnURL(f *testing.F) {
	for _, s := range []string{"/api/hubs/hub/:send?api-version=2024-12-01", "/a%2Fb%20c/!*'()?x=%27&y", "//x", "/%", "/?"} {
		f.Add(s)
	}
	ep, err := parseServiceURL("http://[::1]:8082/pre")
	if err != nil {
		f.Fatal(err)
	}
	c, err := newServiceClient(ep, ep, "hub", auth.NewKeySource(azcore.NewKeyCredential(testKey)), nil, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, rest string) {
		raw := "http://[::1]:8082" + rest
		got := c.ownURL(raw)
		if got == nil {
			return
		}
		want, err := url.Parse(raw)
		if err != nil {
			t.Fatalf("%q: ownURL accepts what url.Parse rejects: %v", raw, err)
		}
		if *got != *want {
			t.Fatalf("%q:\n got %#v\nwant %#v", raw, *got, *want)
		}
	})
}

// TestDefaultRetryStatusCodesAreAzcores checks that the list the client
// gives azcore retries exactly the statuses azcore retries by default.
func TestDefaultRetryStatusCodesAreAzcores(t *testing.T) {
	tries := func(status int, codes []int) int {
		n := 0
		opts := &policy.ClientOptions{Transport: transportFunc(func(req *http.Request) (*http.Response, error) {
			n++
			return &http.Response{StatusCode: status, Header: http.Header{}, Body: http.NoBody, Request: req}, nil
		})}
		opts.Retry = policy.RetryOptions{MaxRetries: 1, RetryDelay: time.Nanosecond, MaxRetryDelay: time.Nanosecond, StatusCodes: codes}
		pl := runtime.NewPipeline("test", "v0.0.1", runtime.PipelineOptions{}, opts)
		req, err := runtime.NewRequest(context.Background(), http.MethodGet, "https://h/")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = pl.Do(req)
		return n
	}
	for status := 400; status < 600; status++ {
		if got, want := tries(status, defaultRetryStatusCodes()), tries(status, nil); got != want {
			t.Errorf("status %d: %d tries, azcore's default %d", status, got, want)
		}
	}
}
