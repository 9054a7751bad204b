// Package recording is the record/replay HTTP transport of the SDK's
// recorded tests.
//
// A test calls Start, builds its client from the Recorder's connection string
// (or Endpoint and AccessKey) and passes the Recorder as the client's
// transport (it satisfies azcore's policy.Transporter):
//
//	rec := recording.Start(t, recording.Options{
//		LiveConnectionString: func(tb testing.TB) string {
//			cs := os.Getenv("AZURE_WEBPUBSUB_CONNECTION_STRING")
//			if cs == "" {
//				tb.Skip("AZURE_WEBPUBSUB_CONNECTION_STRING is not set")
//			}
//			return cs
//		},
//	})
//	client, err := webpubsub.NewServiceClientFromConnectionString(rec.ConnectionString(), "hub",
//		&webpubsub.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: rec}})
//
// The mode comes from the environment variable WEBPUBSUB_TEST_MODE (see
// EnvMode), unless Options.Mode overrides it:
//
//   - playback (the default): requests are answered from the fixture
//     testdata/recordings/<TestName>.json; the network is never used.
//   - record: requests go to the live endpoint, and the sanitized exchange is
//     written to the fixture when the test ends, if it passed.
//   - live: requests go to the live endpoint; nothing is written.
//
// # Fixtures
//
// A fixture is indented JSON, {"interactions": [...]}, each interaction a
// "request" (method, url, headers, body, bodyIsBase64) and a "response"
// (status, headers, body, bodyIsBase64). Bodies that are valid UTF-8 are
// stored as strings, others as standard base64 with bodyIsBase64 set. Only
// the Accept and Content-Type request headers are kept; volatile response
// headers (Date, request ids, Content-Length, ...) are dropped. The output is
// deterministic: recording the same exchange twice gives identical bytes.
//
// Before anything is written, every JWT (wherever it appears) and every
// access_token query value becomes SanitizedJWT, the access key and the
// caller's Options.Secrets become SanitizedSecret, and the live endpoint
// (scheme, host, port and path prefix) becomes FakeEndpoint. Authorization
// headers are never stored.
//
// # Playback matching
//
// Each request is sanitized the same way and compared with the unused
// recorded requests, in recorded order; the first that matches is consumed
// and its response returned. Two requests match when they have the same
// method, escaped path, query (the order of distinct keys does not matter;
// the order of repeated keys and each escaped value do), Content-Type media
// type (parameters such as charset are ignored) and body (semantically for JSON content types, bytewise otherwise).
// The host is not compared. A request without a match fails the test with a
// diff against the closest unused interaction; an interaction still unused
// when a passing test ends fails it too.
package recording

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// EnvMode is the environment variable that selects the Mode: "playback"
// (also when unset or empty), "record" or "live", case-insensitive.
const EnvMode = "WEBPUBSUB_TEST_MODE"

// DefaultDir is where fixtures live when Options.Dir is empty, relative to
// the working directory of the test, which go test sets to the package's
// directory.
const DefaultDir = "testdata/recordings"

// Mode says whether a Recorder replays fixtures or talks to a live endpoint.
type Mode string

const (
	// ModePlayback answers requests from the fixture and never uses the network.
	ModePlayback Mode = "playback"
	// ModeRecord forwards requests to the live endpoint and writes the fixture
	// when the test passes.
	ModeRecord Mode = "record"
	// ModeLive forwards requests to the live endpoint and writes nothing.
	ModeLive Mode = "live"
)

// PossibleModeValues returns the valid Modes.
func PossibleModeValues() []Mode { return []Mode{ModePlayback, ModeRecord, ModeLive} }

// ParseMode reads a mode name as found in EnvMode. Surrounding white space
// and case are ignored, and the empty string means ModePlayback. Any other
// value gives an error naming the accepted values.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(strings.ToLower(strings.TrimSpace(s))); m {
	case "":
		return ModePlayback, nil
	case ModePlayback, ModeRecord, ModeLive:
		return m, nil
	}
	return "", fmt.Errorf("recording: invalid test mode %q: want %q, %q or %q", s, ModePlayback, ModeRecord, ModeLive)
}

// Options configures Start. The zero value replays the test's fixture from
// DefaultDir, or fails the test in record and live modes, which need
// LiveConnectionString.
type Options struct {
	// Mode overrides the EnvMode environment variable when non-empty.
	Mode Mode

	// LiveConnectionString returns the connection string of the endpoint to
	// record from or test against (for example from the environment, or of an
	// in-process emulator it starts and registers for cleanup with tb). It is
	// called once, from Start, only in record and live modes, and may call
	// tb.Skip. The string must contain Endpoint and AccessKey, and may
	// contain Port.
	LiveConnectionString func(tb testing.TB) string

	// Secrets are extra literal strings to scrub from fixtures and from the
	// Recorder's messages, besides the access key. Empty strings are ignored.
	Secrets []string

	// Dir is the fixture directory; DefaultDir when empty.
	Dir string

	// Transport sends requests to the live endpoint in record and live modes;
	// http.DefaultClient when nil. It is never used in playback.
	Transport policy.Transporter
}

// String describes the options without revealing Secrets.
func (o Options) String() string {
	return fmt.Sprintf("recording.Options{Mode: %q, Dir: %q, Secrets: %d redacted}", o.Mode, o.Dir, len(o.Secrets))
}

// GoString is String, so %#v does not reveal Secrets either.
func (o Options) GoString() string { return o.String() }

// Recorder is the transport of one test, created by Start. It implements
// azcore's policy.Transporter and is safe for concurrent use.
type Recorder struct {
	t         testing.TB
	mode      Mode
	path      string
	connStr   string
	info      connInfo
	san       *sanitizer
	transport policy.Transporter
	startErr  error

	mu       sync.Mutex
	requests int           // requests seen so far, for messages
	recorded []interaction // record mode: the exchanges so far
	replay   []interaction // playback mode: the fixture
	keys     []requestKey  // playback mode: comparable form of replay[i].Request
	used     []bool        // playback mode: replay[i] has been consumed
}

// Start creates the Recorder of the test t in the mode given by opts.Mode or,
// when that is empty, by the EnvMode environment variable. The fixture is
// filepath.Join(opts.Dir, <t.Name() with unsafe characters replaced by '_'>
// + ".json").
//
// Start must be called from the test's goroutine. It fails the test with
// t.Fatalf when the mode is invalid, when playback finds no valid fixture,
// or when record or live mode has no valid live connection string. It
// registers a t.Cleanup that writes the fixture (record mode, passing tests
// only) or fails the test if recorded interactions were left unused
// (playback mode, passing tests only).
func Start(t testing.TB, opts Options) *Recorder {
	if t == nil {
		return &Recorder{
			mode:     ModePlayback,
			connStr:  FakeConnectionString,
			info:     connInfo{endpoint: FakeEndpoint, authority: fakeHost, accessKey: FakeAccessKey},
			startErr: errors.New("recording: Start was called with a nil testing.TB"),
		}
	}
	t.Helper()
	modeName := string(opts.Mode)
	if modeName == "" {
		modeName = os.Getenv(EnvMode)
	}
	mode, err := ParseMode(modeName)
	if err != nil {
		t.Fatalf("%v (set by %s or Options.Mode)", err, EnvMode)
		return nil
	}
	dir := opts.Dir
	if dir == "" {
		dir = DefaultDir
	}
	r := &Recorder{
		t:         t,
		mode:      mode,
		path:      filepath.Join(dir, fixtureFileName(t.Name())),
		transport: opts.Transport,
	}
	if r.transport == nil {
		r.transport = http.DefaultClient
	}
	secrets := append([]string{FakeAccessKey}, opts.Secrets...)

	if mode == ModePlayback {
		r.connStr = FakeConnectionString
		r.info = connInfo{endpoint: FakeEndpoint, authority: fakeHost, accessKey: FakeAccessKey}
		r.san = newSanitizer(secrets, "", "")
		f, err := loadFixture(r.path)
		if errors.Is(err, os.ErrNotExist) {
			t.Fatalf("recording: no recording for %s at %s; create it by running the test with %s=%s",
				t.Name(), r.path, EnvMode, ModeRecord)
			return nil
		}
		if err != nil {
			t.Fatalf("recording: %v; re-record it with %s=%s", err, EnvMode, ModeRecord)
			return nil
		}
		r.replay = f.Interactions
		r.used = make([]bool, len(f.Interactions))
		r.keys = make([]requestKey, len(f.Interactions))
		for i, it := range f.Interactions {
			body, _ := decodeBody(it.Request.Body, it.Request.BodyIsBase64) // validated by loadFixture
			k, err := newRequestKey(it.Request.Method, it.Request.URL, headerValue(it.Request.Headers, "Content-Type"), body)
			if err != nil {
				t.Fatalf("recording: %s: interaction #%d: %v", r.path, i+1, err)
				return nil
			}
			r.keys[i] = k
		}
		t.Cleanup(r.checkUnused)
		return r
	}

	if opts.LiveConnectionString == nil {
		t.Fatalf("recording: %s mode needs Options.LiveConnectionString", mode)
		return nil
	}
	r.connStr = opts.LiveConnectionString(t)
	if strings.TrimSpace(r.connStr) == "" {
		t.Fatalf("recording: Options.LiveConnectionString returned an empty connection string")
		return nil
	}
	r.info, err = parseConnectionString(r.connStr)
	if err != nil {
		t.Fatalf("recording: Options.LiveConnectionString: %v", err)
		return nil
	}
	r.san = newSanitizer(append(secrets, r.info.accessKey), r.info.endpoint, r.info.authority)
	if mode == ModeRecord {
		t.Cleanup(r.writeRecording)
	}
	return r
}

// Mode returns the mode the Recorder runs in.
func (r *Recorder) Mode() Mode { return r.mode }

// ConnectionString returns the connection string the test's client must be
// built from: FakeConnectionString in playback, the live connection string
// otherwise. It holds an access key: never log it.
func (r *Recorder) ConnectionString() string { return r.connStr }

// Endpoint returns the service endpoint the test's client must use:
// FakeEndpoint in playback, the normalized live endpoint otherwise
// (scheme://host[:port][/prefix], with Port applied, no trailing '/').
func (r *Recorder) Endpoint() string { return r.info.endpoint }

// AccessKey returns the access key of ConnectionString: FakeAccessKey in
// playback, the live key otherwise. Never log it.
func (r *Recorder) AccessKey() string { return r.info.accessKey }

// FixturePath returns the path of the test's fixture file.
func (r *Recorder) FixturePath() string { return r.path }

// String describes the Recorder without revealing its connection string or key.
func (r *Recorder) String() string {
	return fmt.Sprintf("recording.Recorder{mode: %s, fixture: %s}", r.mode, r.path)
}

// GoString is String, so %#v does not reveal secrets either.
func (r *Recorder) GoString() string { return r.String() }

// recorderError is an error of the Recorder itself (not of the network). It
// is marked non-retriable so that azcore's retry policy gives up at once.
type recorderError struct {
	msg string
	err error
}

func (e *recorderError) Error() string { return e.msg }
func (e *recorderError) Unwrap() error { return e.err }

// NonRetriable marks the error as permanent for azcore's retry policy.
func (e *recorderError) NonRetriable() {}

// forwardError is a failure to reach the live endpoint, with the URL
// redacted. It stays retriable, like the error of a real transport.
type forwardError struct {
	msg string
	err error
}

func (e *forwardError) Error() string { return e.msg }
func (e *forwardError) Unwrap() error { return e.err }

// Do sends req: in playback it returns the recorded response of the first
// unused matching interaction, or fails the test (t.Errorf, safe from any
// goroutine) and returns an error wrapping ErrNoMatch; in record and live
// modes it forwards req to the live endpoint through Options.Transport. It
// reads and closes req.Body. Errors never contain secrets.
func (r *Recorder) Do(req *http.Request) (*http.Response, error) {
	if r == nil || (r.startErr == nil && r.t == nil) {
		return nil, &recorderError{msg: "recording: Recorder was not created by Start"}
	}
	if r.startErr != nil {
		return nil, &recorderError{msg: r.startErr.Error(), err: r.startErr}
	}
	if req == nil || req.URL == nil {
		if req != nil && req.Body != nil {
			req.Body.Close()
		}
		return nil, &recorderError{msg: "recording: Do needs a non-nil request with a URL"}
	}
	body, err := readBody(req)
	if err != nil {
		return nil, &recorderError{msg: "recording: reading the request body: " + r.san.redact(err.Error()), err: err}
	}
	if r.mode == ModePlayback {
		return r.play(req, body)
	}
	return r.forward(req, body)
}

func readBody(req *http.Request) ([]byte, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return nil, nil
	}
	defer req.Body.Close()
	return io.ReadAll(req.Body)
}

// forward sends the request to the live endpoint and, in record mode, keeps
// the sanitized exchange.
func (r *Recorder) forward(req *http.Request, body []byte) (*http.Response, error) {
	out := req.Clone(req.Context())
	if req.Body != nil && req.Body != http.NoBody {
		out.Body = io.NopCloser(bytes.NewReader(body))
		out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		out.ContentLength = int64(len(body))
	}
	resp, err := r.transport.Do(out)
	if err != nil {
		inner := err
		var ue *url.Error
		if errors.As(err, &ue) {
			inner = ue.Err
		}
		return nil, &forwardError{
			msg: fmt.Sprintf("recording: forwarding %s %s: %s", req.Method, r.san.redact(req.URL.String()), r.san.redact(fmt.Sprint(inner))),
			err: inner,
		}
	}
	respBody, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, &forwardError{
			msg: fmt.Sprintf("recording: reading the response of %s %s: %s", req.Method, r.san.redact(req.URL.String()), r.san.redact(err.Error())),
			err: err,
		}
	}
	if r.mode == ModeRecord {
		it := r.sanitizeInteraction(req, body, resp, respBody)
		r.mu.Lock()
		r.recorded = append(r.recorded, it)
		r.mu.Unlock()
	}
	resp.Body = io.NopCloser(bytes.NewReader(respBody))
	resp.ContentLength = int64(len(respBody))
	return resp, nil
}

// sanitizeInteraction builds the fixture form of an exchange.
func (r *Recorder) sanitizeInteraction(req *http.Request, body []byte, resp *http.Response, respBody []byte) interaction {
	var it interaction
	it.Request.Method = req.Method
	it.Request.URL = r.san.scrub(req.URL.String())
	for _, name := range recordedRequestHeaders {
		for _, v := range req.Header.Values(name) {
			if it.Request.Headers == nil {
				it.Request.Headers = http.Header{}
			}
			it.Request.Headers.Add(name, r.san.scrub(v))
		}
	}
	it.Request.Body, it.Request.BodyIsBase64 = encodeBody([]byte(r.san.scrub(string(body))))

	it.Response.Status = resp.StatusCode
	volatile := map[string]bool{}
	for _, h := range volatileResponseHeaders {
		volatile[h] = true
	}
	for k, vs := range resp.Header {
		k = http.CanonicalHeaderKey(k)
		if volatile[k] {
			continue
		}
		for _, v := range vs {
			if it.Response.Headers == nil {
				it.Response.Headers = http.Header{}
			}
			it.Response.Headers.Add(k, r.san.scrub(v))
		}
	}
	it.Response.Body, it.Response.BodyIsBase64 = encodeBody([]byte(r.san.scrub(string(respBody))))
	return it
}

// play answers req from the fixture.
func (r *Recorder) play(req *http.Request, body []byte) (*http.Response, error) {
	key, err := newRequestKey(req.Method, r.san.scrub(req.URL.String()),
		r.san.scrub(req.Header.Get("Content-Type")), []byte(r.san.scrub(string(body))))
	if err != nil {
		return nil, &recorderError{msg: "recording: " + err.Error(), err: err}
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests++
	n := r.requests
	best, bestScore := -1, -1
	for i := range r.replay {
		if r.used[i] {
			continue
		}
		score := matchScore(r.keys[i], key)
		if score == matchAll {
			r.used[i] = true
			return r.response(req, r.replay[i].Response), nil
		}
		if score > bestScore {
			best, bestScore = i, score
		}
	}

	var msg strings.Builder
	fmt.Fprintf(&msg, "recording: request #%d matches no unused interaction of %s\n", n, r.path)
	if best < 0 {
		fmt.Fprintf(&msg, "all %d recorded interactions are used; the request was:\n", len(r.replay))
		msg.WriteString(diffRequests(key, key))
	} else {
		fmt.Fprintf(&msg, "closest unused interaction is #%d (- recorded, + actual):\n", best+1)
		msg.WriteString(diffRequests(r.keys[best], key))
	}
	fmt.Fprintf(&msg, "if the change is intended, re-record with %s=%s", EnvMode, ModeRecord)
	r.t.Errorf("%s", msg.String())
	return nil, &recorderError{
		msg: fmt.Sprintf("%v: request #%d %s %s (the test log has a diff)", ErrNoMatch, n, key.method, key.url),
		err: ErrNoMatch,
	}
}

// response builds the replayed response, handing FakeJWT to the client in
// place of SanitizedJWT.
func (r *Recorder) response(req *http.Request, rr recordedResponse) *http.Response {
	h := http.Header{}
	for k, vs := range rr.Headers {
		for _, v := range vs {
			h.Add(k, strings.ReplaceAll(v, SanitizedJWT, fakeJWT))
		}
	}
	b, _ := decodeBody(rr.Body, rr.BodyIsBase64) // validated by loadFixture
	b = bytes.ReplaceAll(b, []byte(SanitizedJWT), []byte(fakeJWT))
	h.Set("Content-Length", strconv.Itoa(len(b)))
	return &http.Response{
		Status:        fmt.Sprintf("%d %s", rr.Status, http.StatusText(rr.Status)),
		StatusCode:    rr.Status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		Body:          io.NopCloser(bytes.NewReader(b)),
		ContentLength: int64(len(b)),
		Request:       req,
	}
}

// checkUnused fails a passing test whose fixture has unused interactions.
func (r *Recorder) checkUnused() {
	if r.t.Failed() {
		return // the unused interactions are a consequence, not the cause
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var unused []string
	for i, used := range r.used {
		if !used {
			unused = append(unused, fmt.Sprintf("  #%d %s %s", i+1, r.keys[i].method, r.keys[i].url))
		}
	}
	if len(unused) > 0 {
		r.t.Errorf("recording: %d of %d recorded interactions of %s were never requested:\n%s\nif the change is intended, re-record with %s=%s",
			len(unused), len(r.replay), r.path, strings.Join(unused, "\n"), EnvMode, ModeRecord)
	}
}

// writeRecording writes the fixture of a passing test.
func (r *Recorder) writeRecording() {
	if r.t.Failed() {
		r.t.Logf("recording: the test failed; %s was not written", r.path)
		return
	}
	r.mu.Lock()
	f := &fixture{Interactions: append([]interaction(nil), r.recorded...)}
	r.mu.Unlock()
	if err := writeFixture(r.path, f); err != nil {
		r.t.Errorf("recording: writing %s: %v", r.path, err)
	}
}

// headerValue returns the first value of name in h, whatever the case of
// the stored key.
func headerValue(h http.Header, name string) string {
	if v := h.Get(name); v != "" {
		return v
	}
	for k, vs := range h {
		if strings.EqualFold(k, name) && len(vs) > 0 {
			return vs[0]
		}
	}
	return ""
}
