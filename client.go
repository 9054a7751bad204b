package webpubsub

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/gowebpubsub/webpubsub/internal/auth"
	"github.com/gowebpubsub/webpubsub/internal/names"
	"github.com/gowebpubsub/webpubsub/internal/payload"
)

const (
	moduleName    = "github.com/gowebpubsub/webpubsub"
	moduleVersion = "v0.1.0"

	// DefaultAPIVersion is the REST api-version a ServiceClient sends unless
	// ClientOptions.APIVersion says otherwise.
	DefaultAPIVersion = "2024-12-01"

	// EntraScope is the OAuth scope requested from an azcore.TokenCredential.
	EntraScope = "https://webpubsub.azure.com/.default"

	tracingNamespace = "Microsoft.SignalRService"
)

// ClientOptions configures a ServiceClient. A nil *ClientOptions means all
// defaults.
//
// The embedded azcore.ClientOptions carries the transport, retry, logging,
// telemetry and tracing settings, and APIVersion: the REST api-version sent
// on every request, DefaultAPIVersion ("2024-12-01") when empty. Set
// InsecureAllowCredentialWithHTTP to send Entra ID bearer tokens to a plain
// http:// endpoint (an emulator); access-key clients sign every request with
// a short-lived token (valid 5 minutes; the same URL's token is sent again
// for at most a minute) and need no opt-in.
type ClientOptions struct {
	azcore.ClientOptions

	// ReverseProxyEndpoint, when set, is where requests are sent instead of
	// the service endpoint: an absolute http(s) URL whose scheme, host, port
	// and path prefix replace the endpoint's (for example an API Management
	// gateway "https://apim.example.com/wps"). The signed audience stays the
	// service URL, and client access URLs are not affected.
	ReverseProxyEndpoint string

	// RetryAmbiguousSends makes the four Send operations retry like every
	// other operation: on 408, 500, 502, 503, 504 and on any transport error.
	// Such a failure may happen after the service accepted the message, so a
	// retried send may be delivered twice. By default (false) a send is retried
	// only when the service certainly did not take it: 429 Too Many Requests
	// and connection failures before the request was written. Each Send*Options
	// can override this per call.
	RetryAmbiguousSends bool

	// clock, when set by the package's tests, replaces time.Now for signing.
	clock auth.Clock
}

// ServiceClient sends messages and manages connections, groups and
// permissions of one hub of an Azure Web PubSub service (or of the local
// emulator). Create one per hub with NewServiceClientFromConnectionString,
// NewServiceClientWithKey or NewServiceClient, and reuse it: it is safe for
// concurrent use by many goroutines.
//
// Every method takes a context first, required parameters next and a
// pointer to its options last (nil means defaults). Service failures are
// returned as *azcore.ResponseError with ErrorCode taken from the
// x-ms-error-code header or the body; invalid arguments are rejected before
// any request is made with a *ValidationError.
type ServiceClient struct {
	hub        string
	endpoint   serviceURL // service endpoint (audience base)
	origin     string     // scheme://host[:port] of endpoint
	host       string     // host[:port] of endpoint, as in a parsed URL
	hubURL     string     // endpoint + "/api/hubs/" + escaped hub
	apiQuery   string     // "?api-version=" + escaped apiVersion
	clientBase serviceURL // base of client access URLs (ClientEndpoint or endpoint)
	apiVersion string
	key        *auth.KeySource // nil for Entra ID
	signing    *auth.KeyPolicy // nil for Entra ID; its Signer signs client tokens too
	clock      auth.Clock
	retrySends bool
	// deferQuery: a request's query is added on each try (tryPolicy)
	// rather than at creation, so that azcore's retry policy, which
	// sanitizes the URL for a log line whether or not a listener is set,
	// has no query to parse and encode. Only without user per-call
	// policies, which would see the URL without its query.
	deferQuery bool
	// userAgent is the telemetry User-Agent value every request carries,
	// set by newRequest instead of azcore's telemetry policy (one policy
	// less per request); nil when telemetry is disabled or when user
	// per-call policies run, which keep azcore's policy (see
	// newServiceClient).
	userAgent []string
	internal  *azcore.Client
	// clientURLs maps each client endpoint path (auth.ClientPath) to the
	// client access base URL and the token audience, built once.
	clientURLs map[string]clientURL
}

type clientURL struct{ base, aud string }

// NewServiceClientFromConnectionString returns a ServiceClient for hub
// authenticated with the access key of connStr (see ParseConnectionString
// for the grammar; a ClientEndpoint in it becomes the base of client access
// URLs). Errors are *ConnectionStringError or *ValidationError; none contains
// the key.
func NewServiceClientFromConnectionString(connStr, hub string, options *ClientOptions) (*ServiceClient, error) {
	cs, err := ParseConnectionString(connStr)
	if err != nil {
		return nil, err
	}
	ep, _ := parseServiceURL(cs.Endpoint)
	base := ep
	if cs.ClientEndpoint != "" {
		base, _ = parseServiceURL(cs.ClientEndpoint)
	}
	return newServiceClient(ep, base, hub, auth.NewKeySource(azcore.NewKeyCredential(cs.AccessKey)), nil, options)
}

// NewServiceClientWithKey returns a ServiceClient for hub at endpoint (an
// absolute http or https URL, optionally with a port and path prefix)
// authenticated with the access key in cred. The key is read on every
// request, so cred.Update takes effect on the next request.
func NewServiceClientWithKey(endpoint, hub string, cred *azcore.KeyCredential, options *ClientOptions) (*ServiceClient, error) {
	if cred == nil {
		return nil, &ValidationError{Name: "cred", Reason: "must not be nil"}
	}
	ep, err := parseServiceURL(endpoint)
	if err != nil {
		return nil, &ValidationError{Name: "endpoint", Reason: "must be an absolute http:// or https:// URL with a host and no query, fragment or user info"}
	}
	return newServiceClient(ep, ep, hub, auth.NewKeySource(cred), nil, options)
}

// NewServiceClient returns a ServiceClient for hub at endpoint authenticated
// with Microsoft Entra ID: cred is asked for tokens of scope EntraScope. Over
// plain http:// (an emulator) set ClientOptions.InsecureAllowCredentialWithHTTP.
func NewServiceClient(endpoint, hub string, cred azcore.TokenCredential, options *ClientOptions) (*ServiceClient, error) {
	if cred == nil {
		return nil, &ValidationError{Name: "cred", Reason: "must not be nil"}
	}
	ep, err := parseServiceURL(endpoint)
	if err != nil {
		return nil, &ValidationError{Name: "endpoint", Reason: "must be an absolute http:// or https:// URL with a host and no query, fragment or user info"}
	}
	return newServiceClient(ep, ep, hub, nil, cred, options)
}

// newServiceClient is the funnel of the three constructors.
func newServiceClient(ep, clientBase serviceURL, hub string, key *auth.KeySource, tokenCred azcore.TokenCredential, options *ClientOptions) (*ServiceClient, error) {
	if err := validateHub(hub); err != nil {
		return nil, err
	}
	var opts ClientOptions
	if options != nil {
		opts = *options
	}
	c := &ServiceClient{
		hub:        hub,
		endpoint:   ep,
		clientBase: clientBase,
		apiVersion: opts.APIVersion,
		key:        key,
		clock:      opts.clock,
		retrySends: opts.RetryAmbiguousSends,
	}
	if c.apiVersion == "" {
		c.apiVersion = DefaultAPIVersion
	}
	c.host = ep.HostPort()
	c.origin = ep.Scheme + "://" + c.host
	c.hubURL = ep.String() + "/api/hubs/" + seg(hub)
	c.apiQuery = "?api-version=" + escapeComponent(c.apiVersion, true)
	// The hub is percent-escaped as a path segment, the same way
	// in the URL and in the token audience; for hubs of letters, digits, "_"
	// and "." that is the hub itself.
	c.clientURLs = map[string]clientURL{}
	escHub := seg(hub)
	for _, p := range PossibleClientProtocolValues() {
		path, _ := auth.ClientPath(string(p))
		c.clientURLs[path] = clientURL{base: clientBase.WSString() + path + escHub, aud: ep.String() + path + escHub}
	}
	// The api-version is written by this package, in its own escaping; keep
	// azcore from adding another.
	opts.APIVersion = ""
	// One policy does this package's work on each try (signing, the
	// reverse proxy, the in-memory body, the send retry guard): azcore
	// allocates a request copy per policy and try, so fewer policies cost
	// less. With Entra ID azcore's bearer policy signs, before it.
	try := &tryPolicy{}
	var perRetry []policy.Policy
	if key != nil {
		c.signing = auth.NewKeyPolicy(key, opts.clock)
		try.signing = c.signing
	} else {
		perRetry = append(perRetry, runtime.NewBearerTokenPolicy(tokenCred, []string{EntraScope}, &policy.BearerTokenOptions{
			InsecureAllowCredentialWithHTTP: opts.InsecureAllowCredentialWithHTTP,
		}))
	}
	if opts.ReverseProxyEndpoint != "" {
		p, err := parseServiceURL(opts.ReverseProxyEndpoint)
		if err != nil {
			return nil, &ValidationError{Name: "ReverseProxyEndpoint", Reason: "must be an absolute http:// or https:// URL with a host and no query, fragment or user info"}
		}
		pp, err := auth.NewProxyPolicy(ep.String(), p.String())
		if err != nil {
			return nil, &ValidationError{Name: "ReverseProxyEndpoint", Reason: "cannot be used"}
		}
		try.proxy = pp
	}
	perRetry = append(perRetry, try)
	c.deferQuery = len(opts.PerCallPolicies) == 0
	// Without user per-call policies nothing can see or set a User-Agent
	// before azcore's telemetry policy would set it, so this client sets
	// the same value when it builds the request and azcore's policy, one
	// request copy and one header allocation per request, is left out.
	// A per-call policy may set its own User-Agent, which azcore's policy
	// extends; with one, that policy stays.
	if !opts.Telemetry.Disabled && len(opts.PerCallPolicies) == 0 {
		c.userAgent = []string{telemetryValue(opts.Telemetry)}
		opts.Telemetry.Disabled = true
	}
	if opts.Retry.StatusCodes == nil {
		opts.Retry.StatusCodes = defaultRetryStatusCodes()
	}
	opts.Logging.AllowedQueryParams = append(opts.Logging.AllowedQueryParams, "api-version", "messageTtlSeconds", "maxpagesize", "top", "minutesToExpire", "clientType")
	client, err := azcore.NewClient(moduleName, moduleVersion, runtime.PipelineOptions{
		PerRetry: perRetry,
		Tracing:  runtime.TracingOptions{Namespace: tracingNamespace},
	}, &opts.ClientOptions)
	if err != nil {
		return nil, err
	}
	c.internal = client
	return c, nil
}

// telemetryValue returns the User-Agent value azcore's telemetry policy
// writes for this module with options t (its ApplicationID normalized as
// azcore does), read from the policy itself on a private request.
func telemetryValue(t policy.TelemetryOptions) string {
	req, err := runtime.NewRequest(context.Background(), http.MethodGet, "https://telemetry.invalid/")
	if err != nil {
		return ""
	}
	// The request belongs to no pipeline: the policy's Next fails with
	// "no more policies" after it has set the header. That is expected.
	_, _ = runtime.NewTelemetryPolicy(moduleName, moduleVersion, &t).Do(req)
	return req.Raw().Header.Get("User-Agent")
}

// defaultRetryStatusCodes returns azcore's default retried statuses, to be
// given explicitly: with none set, azcore's retry policy builds this list
// on every request.
func defaultRetryStatusCodes() []int {
	return []int{
		http.StatusRequestTimeout,
		http.StatusTooManyRequests,
		http.StatusInternalServerError,
		http.StatusBadGateway,
		http.StatusServiceUnavailable,
		http.StatusGatewayTimeout,
	}
}

// Hub returns the hub this client is bound to.
func (c *ServiceClient) Hub() string { return c.hub }

// Endpoint returns the normalized service endpoint, for example
// "https://contoso.webpubsub.azure.com".
func (c *ServiceClient) Endpoint() string { return c.endpoint.String() }

// String describes the client without any secret.
func (c *ServiceClient) String() string {
	a := "Entra ID"
	if c.key != nil {
		a = "access key (redacted)"
	}
	return fmt.Sprintf("webpubsub.ServiceClient{endpoint: %s, hub: %s, auth: %s}", c.endpoint.String(), c.hub, a)
}

// GoString is String, so %#v cannot reveal internals.
func (c *ServiceClient) GoString() string { return c.String() }

func validateHub(hub string) error {
	if r := names.Hub(hub); r != "" {
		return &ValidationError{Name: "hub", Value: hub, Reason: r}
	}
	return nil
}

// ---- request building ----

// escapeComponent percent-encodes s like JavaScript's encodeURIComponent,
// with upper-case hex; in query values "'" is escaped too. This is the exact
// form the service and the golden vectors expect.
func escapeComponent(s string, query bool) string {
	const hex = "0123456789ABCDEF"
	n := 0
	for i := 0; i < len(s); i++ {
		if !unreserved(s[i], query) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	b := make([]byte, 0, len(s)+2*n)
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if unreserved(ch, query) {
			b = append(b, ch)
		} else {
			b = append(b, '%', hex[ch>>4], hex[ch&15])
		}
	}
	return string(b)
}

func unreserved(ch byte, query bool) bool {
	switch {
	case 'a' <= ch && ch <= 'z', 'A' <= ch && ch <= 'Z', '0' <= ch && ch <= '9':
		return true
	}
	switch ch {
	case '-', '_', '.', '!', '~', '*', '(', ')':
		return true
	case '\'':
		return !query
	}
	return false
}

// query builds a raw query string in insertion order.
type query struct{ b strings.Builder }

func (q *query) add(key, value string) {
	if q.b.Len() > 0 {
		q.b.WriteByte('&')
	}
	q.b.WriteString(key)
	q.b.WriteByte('=')
	q.b.WriteString(escapeComponent(value, true))
}

func (q *query) addAll(key string, values []string) {
	for _, v := range values {
		q.add(key, v)
	}
}

func (q *query) addOpt(key, value string) {
	if value != "" {
		q.add(key, value)
	}
}

// url joins "/api/hubs/{hub}" and segments (already escaped, see seg),
// then the api-version and q, in one allocation.
func (c *ServiceClient) url(q *query, segments ...string) string {
	n := len(c.hubURL) + len(c.apiQuery)
	for _, s := range segments {
		n += 1 + len(s)
	}
	hasQuery := q != nil && q.b.Len() > 0
	if hasQuery {
		n += 1 + q.b.Len()
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteString(c.hubURL)
	for _, s := range segments {
		b.WriteByte('/')
		b.WriteString(s)
	}
	b.WriteString(c.apiQuery)
	if hasQuery {
		b.WriteByte('&')
		b.WriteString(q.b.String())
	}
	return b.String()
}

// seg escapes one path segment.
func seg(s string) string { return escapeComponent(s, false) }

// orZero returns options, or zero options when it is nil: a nil
// *<Method>Options means the defaults.
func orZero[T any](options *T) *T {
	if options == nil {
		return new(T)
	}
	return options
}

// call is the shared frame of every operation: it tags the context with the
// operation name (name is "ServiceClient.<Method>"), opens a tracing span
// of that name and ends it with the result.
func (c *ServiceClient) call(ctx context.Context, name string, fn func(ctx context.Context) error) error {
	return c.callOp(ctx, name, notSend, fn)
}

// callOp is call for an operation that may be a send (see sendMode).
func (c *ServiceClient) callOp(ctx context.Context, name string, send sendMode, fn func(ctx context.Context) error) error {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx = &opContext{Context: ctx, name: name, send: send}
	ctx, end := runtime.StartSpan(ctx, name, c.internal.Tracer(), nil)
	err := fn(ctx)
	end(err)
	return err
}

// opContext is the context of one operation: the API name, read with
// runtime.CtxAPINameKey, and for a send whether its ambiguous failures may
// be retried (see guardSend), in one allocation, where context.WithValue
// takes two and a third for the name.
type opContext struct {
	context.Context
	name string
	send sendMode
	// query is the query of the operation's current request, which
	// tryPolicy puts back on each try (see ServiceClient.deferQuery). An
	// operation's requests are made one after the other.
	query string
}

// opKey is the context key that finds the *opContext itself.
type opKey struct{}

// sendMode tells guardSend whether an operation is a send and whether its
// ambiguous failures may be retried.
type sendMode int8

const (
	notSend sendMode = iota
	sendRetry
	sendNoRetry
)

// Value implements context.Context.
func (c *opContext) Value(key any) any {
	switch key.(type) {
	case runtime.CtxAPINameKey:
		return c.name
	case sendOpKey:
		if c.send != notSend {
			return c.send == sendRetry
		}
	case opKey:
		return c
	}
	return c.Context.Value(key)
}

// newRequest builds a request with the headers every operation sends.
// acceptJSON is the Accept header of every request but HEAD, shared: a
// header value slice is replaced, never written in place, by net/http and
// by Header.Set, and its capacity of one makes Header.Add copy it.
var acceptJSON = []string{"application/json"}

func (c *ServiceClient) newRequest(ctx context.Context, method, rawURL string) (*policy.Request, error) {
	var req *policy.Request
	var err error
	var oc *opContext
	if c.deferQuery {
		oc, _ = ctx.Value(opKey{}).(*opContext)
		if oc != nil {
			oc.query = "" // a request that does not defer its query
		}
	}
	if u := c.ownURL(rawURL); u != nil {
		if oc != nil {
			oc.query, u.RawQuery = u.RawQuery, ""
		}
		r := requestTemplate.WithContext(ctx)
		r.Method = method
		r.URL = u
		r.Host = u.Host
		r.Header = make(http.Header, 4)
		req, err = runtime.NewRequestFromRequest(r)
	} else {
		req, err = runtime.NewRequest(ctx, method, rawURL)
	}
	if err != nil {
		return nil, err
	}
	if method != http.MethodHead {
		req.Raw().Header["Accept"] = acceptJSON
	}
	if c.userAgent != nil {
		// Shared like acceptJSON.
		req.Raw().Header["User-Agent"] = c.userAgent
	}
	return req, nil
}

// requestTemplate holds the fields of a new client request that do not
// depend on the request, as http.NewRequest sets them.
var requestTemplate = &http.Request{Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}

// ownURL returns rawURL parsed, when it is one this client built (the
// endpoint's origin, then an escaped path and an optional query): the
// same URL that url.Parse returns, without parsing the origin again.
// It returns nil for any other URL, which the caller parses.
func (c *ServiceClient) ownURL(rawURL string) *url.URL {
	rest, ok := strings.CutPrefix(rawURL, c.origin)
	if !ok || !strings.HasPrefix(rest, "/") {
		return nil
	}
	// plain: the path has no byte that url.URL escapes or unescapes, so it
	// is its own Path and needs no RawPath.
	plain, inPath := true, true
	for i := 0; i < len(rest); i++ {
		b := rest[i]
		if b <= ' ' || b >= 0x7f || b == '#' {
			return nil
		}
		if b == '?' {
			inPath = false
		} else if inPath && !plainPathByte(b) {
			plain = false
		}
	}
	rawPath, rawQuery, hasQuery := strings.Cut(rest, "?")
	if hasQuery && rawQuery == "" {
		return nil
	}
	u := &url.URL{Scheme: c.endpoint.Scheme, Host: c.host, Path: rawPath, RawQuery: rawQuery}
	if plain {
		return u
	}
	path, err := url.PathUnescape(rawPath)
	if err != nil {
		return nil
	}
	u.Path = path
	// As url.Parse: RawPath only when the path is not escaped the default way.
	if u.EscapedPath() != rawPath {
		u.RawPath = rawPath
	}
	return u
}

// plainPathByte reports whether url.URL leaves b as it is in a path, both
// when escaping (EscapedPath) and when unescaping (it is not '%').
func plainPathByte(b byte) bool {
	switch {
	case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		return true
	}
	switch b {
	case '-', '_', '.', '~', '$', '&', '+', ',', '/', ':', ';', '=', '@':
		return true
	}
	return false
}

// do sends req and returns the response when its status is one of ok;
// otherwise it returns the *azcore.ResponseError.
func (c *ServiceClient) do(req *policy.Request, ok ...int) (*http.Response, error) {
	resp, err := c.internal.Pipeline().Do(req)
	if err != nil {
		var re *azcore.ResponseError
		if errors.As(err, &re) {
			return nil, re
		}
		return nil, err
	}
	if !runtime.HasStatusCode(resp, ok...) {
		return nil, newResponseError(resp)
	}
	return resp, nil
}

// exists runs a HEAD check: 200 is true, 404 is false, anything else an error.
func (c *ServiceClient) exists(ctx context.Context, rawURL string) (bool, error) {
	req, err := c.newRequest(ctx, http.MethodHead, rawURL)
	if err != nil {
		return false, err
	}
	resp, err := c.internal.Pipeline().Do(req)
	if err != nil {
		return false, err
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return true, nil
	case http.StatusNotFound:
		return false, nil
	}
	return false, newResponseError(resp)
}

// ---- request bodies ----

// memBody is a request body held in memory. azcore seeks it back to the
// start before each try; tryPolicy gives each try its own reader
// of data, first for the first try.
type memBody struct {
	bytes.Reader
	data  []byte
	first bytes.Reader
	tried bool // first was given to a try; tries run one after another
}

// Close implements io.Closer; there is nothing to release.
func (*memBody) Close() error { return nil }

// tryReader returns a reader of the whole body for a new try.
func (b *memBody) tryReader() *bytes.Reader {
	if b.tried {
		return bytes.NewReader(b.data)
	}
	b.tried = true
	return &b.first
}

// setBody makes data (not copied; it must not change while the request is
// in flight) the body of req, with Content-Type contentType.
func setBody(req *policy.Request, data []byte, contentType string) error {
	b := &memBody{data: data}
	b.Reset(data)
	b.first.Reset(data)
	if err := req.SetBody(b, ""); err != nil {
		return err
	}
	if contentType != "" {
		req.Raw().Header["Content-Type"] = contentTypeValue(contentType)
	}
	return nil
}

// Content-Type values of the bodies this package sends, shared like
// acceptJSON.
var (
	contentText   = []string{payload.MediaTypeText}
	contentJSON   = []string{payload.MediaTypeJSON}
	contentBinary = []string{payload.MediaTypeBinary}
)

// contentTypeValue returns the header value slice of Content-Type ct.
func contentTypeValue(ct string) []string {
	switch ct {
	case payload.MediaTypeText:
		return contentText
	case payload.MediaTypeJSON:
		return contentJSON
	case payload.MediaTypeBinary:
		return contentBinary
	}
	return []string{ct}
}

// tryPolicy runs once per try, inside azcore's retry loop, after the
// bearer-token policy (Entra ID) and before the user's per-try policies:
//   - with a key, it signs the try with a token for its exact URL (the
//     same URL's token of the last minute, see auth.KeyPolicy);
//   - with a reverse proxy, it points the try at the proxy (after signing,
//     so that aud stays the service URL);
//   - it replaces a memBody request body, which azcore's retry policy
//     wraps in a type net/http cannot see through, with an io.NopCloser
//     over a *bytes.Reader of the same bytes: net/http recognizes that as
//     in memory and writes the headers and the body in one write, where
//     it otherwise flushes the headers first and writes the body in a
//     second system call. Each try gets its own reader, because net/http
//     may still read the previous try's body after that try returned;
//   - for a send whose ambiguous failures must not be retried, it makes
//     such a failure final (see guardSend).
type tryPolicy struct {
	signing *auth.KeyPolicy   // nil with Entra ID
	proxy   *auth.ProxyPolicy // nil without a reverse proxy
}

func (p *tryPolicy) Do(req *policy.Request) (*http.Response, error) {
	raw := req.Raw()
	if raw.URL.RawQuery == "" {
		// This try's URL is a copy (the retry policy clones the request
		// per try): the query set here goes with it to the transport.
		if oc, ok := raw.Context().Value(opKey{}).(*opContext); ok && oc.query != "" {
			raw.URL.RawQuery = oc.query
		}
	}
	if p.signing != nil {
		if err := p.signing.Sign(raw); err != nil {
			return nil, err
		}
	}
	if p.proxy != nil {
		if err := p.proxy.Rewrite(raw); err != nil {
			return nil, err
		}
	}
	if b, ok := req.Body().(*memBody); ok {
		raw.Body = io.NopCloser(b.tryReader())
	}
	resp, err := req.Next()
	return guardSend(req, resp, err)
}

// ---- send retry guard ----

// sendOpKey is the context key of a send's retry mode: its value, set by
// opContext, is true when ambiguous failures may be retried.
type sendOpKey struct{}

// guardSend runs inside the retry loop, on the outcome of one try. For a
// send marked as not retryable on ambiguous failures it turns such
// failures into final ones: a response other than 429 that the retry
// policy would retry, and a transport error that is not a failure to
// connect.
func guardSend(req *policy.Request, resp *http.Response, err error) (*http.Response, error) {
	retry, isSend := req.Raw().Context().Value(sendOpKey{}).(bool)
	if !isSend || retry {
		return resp, err
	}
	if err != nil {
		if connectFailure(err) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return resp, err
		}
		return resp, &ambiguousSendError{err}
	}
	switch resp.StatusCode {
	case http.StatusRequestTimeout, http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return nil, &ambiguousSendError{newResponseError(resp)}
	}
	return resp, nil
}

// connectFailure reports whether err happened before the request could have
// reached the service (dial or DNS failure).
func connectFailure(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	return errors.As(err, &dns)
}

// ambiguousSendError stops the retry policy (it is NonRetriable) and unwraps
// to the underlying failure.
type ambiguousSendError struct{ err error }

func (e *ambiguousSendError) Error() string { return e.err.Error() }
func (e *ambiguousSendError) Unwrap() error { return e.err }
func (*ambiguousSendError) NonRetriable()   {}

// ---- small helpers ----

// nowFunc returns the client's clock.
func (c *ServiceClient) now() time.Time { return c.clock.Now() }
