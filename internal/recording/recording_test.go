package recording

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/golden from a fresh recording")

// The Recorder is an azcore transport.
var _ policy.Transporter = (*Recorder)(nil)

// roundTripCalls covers text, JSON, binary, error and body-less responses,
// a text and a binary request body, and a repeated request.
var roundTripCalls = []call{
	{method: http.MethodPost, path: "/api/hubs/hub/:send?api-version=2024-12-01", contentType: "text/plain", accept: "application/json", body: []byte("héllo")},
	{method: http.MethodGet, path: "/api/hubs/hub/groups/g/connections?api-version=2024-12-01&maxpagesize=1", accept: "application/json"},
	{method: http.MethodGet, path: "/api/hubs/hub/blob?api-version=2024-12-01"},
	{method: http.MethodPost, path: "/api/hubs/hub/echo?api-version=2024-12-01", contentType: "application/octet-stream", body: []byte{0x00, 0xff, 0x10, 0xfe}},
	{method: http.MethodPost, path: "/api/hubs/hub/echo?api-version=2024-12-01", contentType: "application/json", body: []byte(`{"b":[1,2],"a":"x"}`)},
	{method: http.MethodDelete, path: "/api/hubs/hub/connections/missing?api-version=2024-12-01", accept: "application/json"},
	{method: http.MethodHead, path: "/api/hubs/hub/users/nobody?api-version=2024-12-01"},
	{method: http.MethodPost, path: "/api/hubs/hub/:send?api-version=2024-12-01", contentType: "text/plain", accept: "application/json", body: []byte("héllo")},
}

// keptHeaders are response headers a replay must reproduce.
var keptHeaders = []string{"Content-Type", "X-Ms-Error-Code", "Retry-After", "Api-Supported-Versions"}

// recordCalls records calls against svc into dir under the fake test name
// and returns what the live service answered.
func recordCalls(t *testing.T, svc *fakeService, dir, name string, calls []call) []result {
	t.Helper()
	tb := newFakeTB(t, name)
	var results []result
	tb.run(func(tb *fakeTB) {
		rec := Start(tb, Options{Mode: ModeRecord, Dir: dir,
			LiveConnectionString: func(testing.TB) string { return svc.connectionString(liveKey) }})
		for _, c := range calls {
			results = append(results, mustSend(tb, rec, rec.Endpoint(), c, testJWT(tb, "record")))
		}
	})
	tb.mustPass(t)
	return results
}

func TestRecordThenPlayback(t *testing.T) {
	for _, prefix := range []string{"", "/prefix"} {
		t.Run("prefix="+prefix, func(t *testing.T) {
			svc := newFakeService(t, prefix)
			dir := t.TempDir()
			recorded := recordCalls(t, svc, dir, "TestRoundTrip/case", roundTripCalls)
			if _, err := os.Stat(filepath.Join(dir, "TestRoundTrip_case.json")); err != nil {
				t.Fatalf("fixture not written: %v", err)
			}
			svc.Close() // playback must not need the network

			var calls atomic.Int64
			tb := newFakeTB(t, "TestRoundTrip/case")
			var replayed []result
			tb.run(func(tb *fakeTB) {
				rec := Start(tb, Options{Mode: ModePlayback, Dir: dir, Transport: countingTransport{&calls}})
				if rec.Endpoint() != FakeEndpoint || rec.ConnectionString() != FakeConnectionString || rec.AccessKey() != FakeAccessKey {
					tb.Errorf("playback endpoint/connection string/key = %q/%q/%q", rec.Endpoint(), rec.ConnectionString(), rec.AccessKey())
				}
				for _, c := range roundTripCalls {
					replayed = append(replayed, mustSend(tb, rec, rec.Endpoint(), c, testJWT(tb, "playback")))
				}
			})
			tb.mustPass(t)
			if n := calls.Load(); n != 0 {
				t.Errorf("playback used the transport %d times", n)
			}

			for i, c := range roundTripCalls {
				want, got := recorded[i], replayed[i]
				name := c.method + " " + c.path
				if got.status != want.status {
					t.Errorf("%s: status %d, recorded %d", name, got.status, want.status)
				}
				wantBody := bytes.ReplaceAll(want.body, []byte(svc.endpoint()), []byte(FakeEndpoint))
				if !bytes.Equal(got.body, wantBody) {
					t.Errorf("%s: body %q, want %q", name, got.body, wantBody)
				}
				for _, h := range keptHeaders {
					if got.header.Get(h) != want.header.Get(h) {
						t.Errorf("%s: header %s = %q, recorded %q", name, h, got.header.Get(h), want.header.Get(h))
					}
				}
				for _, h := range []string{"Date", "X-Ms-Request-Id"} {
					if got.header.Get(h) != "" {
						t.Errorf("%s: volatile header %s replayed as %q", name, h, got.header.Get(h))
					}
				}
			}
			// Spot checks that the data exercised what it claims to.
			if recorded[2].header.Get("Content-Type") != "application/octet-stream" || recorded[5].status != http.StatusNotFound ||
				recorded[5].header.Get("X-Ms-Error-Code") == "" || recorded[6].header.Get("X-Ms-Error-Code") == "" {
				t.Errorf("fake service answered unexpectedly: %+v", recorded)
			}
			if !bytes.Contains(replayed[1].body, []byte(FakeEndpoint+"/api/hubs/hub/groups/g/connections?")) {
				t.Errorf("nextLink not rewritten to the fake endpoint: %s", replayed[1].body)
			}
		})
	}
}

// countingTransport counts calls and fails them; playback must never call it.
type countingTransport struct{ n *atomic.Int64 }

func (c countingTransport) Do(*http.Request) (*http.Response, error) {
	c.n.Add(1)
	return nil, errors.New("network used")
}

func TestFixtureFormat(t *testing.T) {
	svc := newFakeService(t, "")
	dir := t.TempDir()
	recordCalls(t, svc, dir, "TestFormat", roundTripCalls)
	data, err := os.ReadFile(filepath.Join(dir, "TestFormat.json"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := loadFixture(filepath.Join(dir, "TestFormat.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Interactions) != len(roundTripCalls) {
		t.Fatalf("%d interactions, want %d", len(f.Interactions), len(roundTripCalls))
	}
	tests := []struct {
		name string
		ok   bool
	}{
		{"indented with two spaces", bytes.HasPrefix(data, []byte("{\n  \"interactions\": [\n    {\n      \"request\": {"))},
		{"ends with a newline", bytes.HasSuffix(data, []byte("]\n}\n"))},
		{"no HTML escaping", !bytes.Contains(data, []byte(`\u0026`))},
		{"text request body stored as text", f.Interactions[0].Request.Body == "héllo" && !f.Interactions[0].Request.BodyIsBase64},
		{"kept request headers", f.Interactions[0].Request.Headers.Get("Content-Type") == "text/plain" && f.Interactions[0].Request.Headers.Get("Accept") == "application/json"},
		{"dropped request headers", len(f.Interactions[0].Request.Headers) == 2},
		{"binary response stored base64", f.Interactions[2].Response.BodyIsBase64 && f.Interactions[2].Response.Body == "/wD+gGJpbsM="},
		{"binary request stored base64", f.Interactions[3].Request.BodyIsBase64 && f.Interactions[3].Request.Body == "AP8Q/g=="},
		{"error code kept", f.Interactions[5].Response.Headers.Get("X-Ms-Error-Code") == "Error.Connection.NotExisted"},
		{"retry-after kept", f.Interactions[5].Response.Headers.Get("Retry-After") == "7"},
		{"volatile headers dropped", f.Interactions[5].Response.Headers.Get("Date") == "" && f.Interactions[5].Response.Headers.Get("X-Ms-Request-Id") == "" && f.Interactions[5].Response.Headers.Get("Content-Length") == ""},
		{"status kept", f.Interactions[5].Response.Status == 404 && f.Interactions[0].Response.Status == 202},
		{"url on the fake endpoint", f.Interactions[1].Request.URL == FakeEndpoint+"/api/hubs/hub/groups/g/connections?api-version=2024-12-01&maxpagesize=1"},
	}
	for _, tt := range tests {
		if !tt.ok {
			t.Errorf("%s: not so in\n%s", tt.name, data)
		}
	}
	for _, h := range []string{"Authorization", "User-Agent", "X-Ms-Client-Request-Id", "Bearer"} {
		if bytes.Contains(data, []byte(h)) {
			t.Errorf("fixture contains %q", h)
		}
	}
}

// TestDeterministicOutput records the same exchange twice against services
// whose volatile headers and ports differ, and gets identical bytes, equal to
// the checked-in golden file, which also replays.
func TestDeterministicOutput(t *testing.T) {
	const name = "TestGolden/round trip"
	var files [][]byte
	for i := 0; i < 2; i++ {
		svc := newFakeService(t, "/prefix")
		dir := t.TempDir()
		recordCalls(t, svc, dir, name, roundTripCalls)
		data, err := os.ReadFile(filepath.Join(dir, "TestGolden_round_trip.json"))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, data)
	}
	if !bytes.Equal(files[0], files[1]) {
		t.Fatalf("two recordings differ:\n%s\n---\n%s", files[0], files[1])
	}
	golden := filepath.Join("testdata", "golden", "TestGolden_round_trip.json")
	if *updateGolden {
		if err := os.WriteFile(golden, files[0], 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -run TestDeterministicOutput -update to create it)", err)
	}
	if !bytes.Equal(files[0], want) {
		t.Errorf("recording differs from %s; got:\n%s", golden, files[0])
	}

	tb := newFakeTB(t, name)
	tb.run(func(tb *fakeTB) {
		rec := Start(tb, Options{Mode: ModePlayback, Dir: filepath.Join("testdata", "golden")})
		for _, c := range roundTripCalls {
			mustSend(tb, rec, rec.Endpoint(), c, "")
		}
	})
	tb.mustPass(t)
}

func TestNoSecretReachesFixture(t *testing.T) {
	svc := newFakeService(t, "/prefix")
	svc.token = testJWT(t, "issued-by-service")
	const extraSecret = "caller-supplied-secret-42"
	bearer := testJWT(t, "bearer")
	urlToken := testJWT(t, "url")
	bodyToken := testJWT(t, "body")

	calls := func(endpoint, key string, tokens [3]string) []call {
		return []call{
			{method: http.MethodPost, path: "/api/hubs/hub/echo?api-version=2024-12-01&access_token=" + tokens[0] + "&sig=" + url.QueryEscape(key),
				contentType: "application/json",
				body:        []byte(fmt.Sprintf(`{"key":%q,"jwt":%q,"other":%q,"self":"%s/x"}`, key, tokens[1], extraSecret, endpoint))},
			{method: http.MethodPost, path: "/api/hubs/hub/echo?api-version=2024-12-01", contentType: "text/plain",
				body: []byte("key=" + key + " token=" + tokens[2])},
			{method: http.MethodPost, path: "/api/hubs/hub/:generateToken?api-version=2024-12-01&userId=u1", accept: "application/json, text/json"},
		}
	}
	dir := t.TempDir()
	tb := newFakeTB(t, "TestSecrets")
	var recorded []result
	tb.run(func(tb *fakeTB) {
		rec := Start(tb, Options{Mode: ModeRecord, Dir: dir, Secrets: []string{extraSecret, ""},
			LiveConnectionString: func(testing.TB) string { return svc.connectionString(liveKey) }})
		for _, c := range calls(rec.Endpoint(), rec.AccessKey(), [3]string{urlToken, bodyToken, bodyToken}) {
			recorded = append(recorded, mustSend(tb, rec, rec.Endpoint(), c, bearer))
		}
	})
	tb.mustPass(t)
	if !strings.Contains(string(recorded[2].body), svc.token) {
		t.Fatalf("record mode must return the real response; got %s", recorded[2].body)
	}

	data, err := os.ReadFile(filepath.Join(dir, "TestSecrets.json"))
	if err != nil {
		t.Fatal(err)
	}
	host := strings.TrimPrefix(svc.URL, "http://")
	forbidden := []string{
		liveKey, url.QueryEscape(liveKey), url.PathEscape(liveKey), extraSecret,
		bearer, urlToken, bodyToken, svc.token, "eyJ", "Bearer",
		svc.URL, host, "127.0.0.1", "/prefix",
	}
	for _, s := range forbidden {
		if bytes.Contains(data, []byte(s)) {
			t.Errorf("fixture contains secret or real host %q:\n%s", s, data)
		}
	}
	for _, s := range []string{SanitizedJWT, SanitizedSecret, "access_token=" + SanitizedJWT, FakeEndpoint + "/api/hubs/hub/echo", FakeEndpoint + "/client/hubs/hub"} {
		if !bytes.Contains(data, []byte(s)) {
			t.Errorf("fixture lacks %q:\n%s", s, data)
		}
	}

	// The sanitized fixture still replays, with other tokens and the fake
	// key, and hands out FakeJWT where the service issued a token.
	svc.Close()
	tb = newFakeTB(t, "TestSecrets")
	tb.run(func(tb *fakeTB) {
		rec := Start(tb, Options{Mode: ModePlayback, Dir: dir, Secrets: []string{extraSecret}})
		other := testJWT(tb, "other")
		var replayed []result
		for _, c := range calls(rec.Endpoint(), rec.AccessKey(), [3]string{other, other, other}) {
			replayed = append(replayed, mustSend(tb, rec, rec.Endpoint(), c, other))
		}
		if want := fmt.Sprintf(`{"token":%q,"url":"%s/client/hubs/hub?access_token=%s"}`, FakeJWT(), FakeEndpoint, FakeJWT()); string(replayed[2].body) != want {
			tb.Errorf("generateToken replayed %s, want %s", replayed[2].body, want)
		}
		if loc := replayed[2].header.Get("Location"); loc != FakeEndpoint+"/client/hubs/hub?access_token="+FakeJWT() {
			tb.Errorf("Location replayed as %q", loc)
		}
	})
	tb.mustPass(t)
}

func TestSecretsNeverInMessages(t *testing.T) {
	svc := newFakeService(t, "")
	svc.Close() // forwarding fails
	token := testJWT(t, "in-url")
	tb := newFakeTB(t, "TestMessages")
	opts := Options{Mode: ModeRecord, Dir: t.TempDir(), Secrets: []string{"extra-secret-value"},
		LiveConnectionString: func(testing.TB) string { return svc.connectionString(liveKey) }}
	var msgs []string
	tb.run(func(tb *fakeTB) {
		rec := Start(tb, opts)
		_, err := send(tb, rec, rec.Endpoint(), call{method: http.MethodGet,
			path: "/api/hubs/hub/x?access_token=" + token + "&k=" + url.QueryEscape(liveKey)}, token)
		if err == nil {
			tb.Errorf("forwarding to a closed server succeeded")
			return
		}
		msgs = append(msgs, err.Error(), fmt.Sprint(rec), fmt.Sprintf("%+v %#v", rec, rec), fmt.Sprint(opts), fmt.Sprintf("%#v", opts))
	})
	tb.mustPass(t)
	if !strings.Contains(msgs[0], "access_token="+SanitizedJWT) {
		t.Errorf("forwarding error does not show the redacted URL: %s", msgs[0])
	}
	for _, m := range msgs {
		for _, s := range []string{token, liveKey, url.QueryEscape(liveKey), "extra-secret-value", "eyJ"} {
			if strings.Contains(m, s) {
				t.Errorf("message %q contains secret %q", m, s)
			}
		}
	}
}

func TestModeSelection(t *testing.T) {
	tests := []struct {
		env      string
		setEnv   bool
		optMode  Mode
		want     Mode
		wantFail string
	}{
		{setEnv: false, want: ModePlayback},
		{env: "", setEnv: true, want: ModePlayback},
		{env: "playback", setEnv: true, want: ModePlayback},
		{env: " Record ", setEnv: true, want: ModeRecord},
		{env: "LIVE", setEnv: true, want: ModeLive},
		{env: "replay", setEnv: true, wantFail: `invalid test mode "replay": want "playback", "record" or "live" (set by WEBPUBSUB_TEST_MODE`},
		{env: "replay", setEnv: true, optMode: ModeLive, want: ModeLive},
		{env: "live", setEnv: true, optMode: ModePlayback, want: ModePlayback},
		{optMode: "bogus", wantFail: `invalid test mode "bogus"`},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("env=%q,set=%v,opt=%q", tt.env, tt.setEnv, tt.optMode), func(t *testing.T) {
			if tt.setEnv {
				t.Setenv(EnvMode, tt.env)
			} else {
				t.Setenv(EnvMode, "")
				os.Unsetenv(EnvMode)
			}
			dir := t.TempDir()
			if err := writeFixture(filepath.Join(dir, "TestMode.json"), &fixture{}); err != nil {
				t.Fatal(err)
			}
			tb := newFakeTB(t, "TestMode")
			var got Mode
			tb.run(func(tb *fakeTB) {
				rec := Start(tb, Options{Mode: tt.optMode, Dir: dir,
					LiveConnectionString: func(testing.TB) string { return "Endpoint=http://127.0.0.1:9;AccessKey=k" }})
				got = rec.Mode()
			})
			if tt.wantFail != "" {
				tb.mustFailWith(t, tt.wantFail)
				return
			}
			tb.mustPass(t)
			if got != tt.want {
				t.Errorf("mode %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseMode(t *testing.T) {
	tests := []struct {
		in      string
		want    Mode
		wantErr bool
	}{
		{"", ModePlayback, false},
		{"  ", ModePlayback, false},
		{"playback", ModePlayback, false},
		{"Record", ModeRecord, false},
		{"live\n", ModeLive, false},
		{"rec", "", true},
		{"playback,record", "", true},
	}
	for _, tt := range tests {
		got, err := ParseMode(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseMode(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
	if len(PossibleModeValues()) != 3 {
		t.Errorf("PossibleModeValues() = %v", PossibleModeValues())
	}
}

func TestStartFailures(t *testing.T) {
	dir := t.TempDir()
	corrupt := filepath.Join(dir, "TestCorrupt.json")
	if err := os.WriteFile(corrupt, []byte(`{"interactions": [{"request": {"method": "GET"`), 0o644); err != nil {
		t.Fatal(err)
	}
	badBase64 := filepath.Join(dir, "TestBadBase64.json")
	if err := os.WriteFile(badBase64, []byte(`{"interactions":[{"request":{"method":"GET","url":"https://fake.webpubsub.azure.com/a","body":"!!","bodyIsBase64":true},"response":{"status":200,"body":""}}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	live := func(cs string) func(testing.TB) string { return func(testing.TB) string { return cs } }
	tests := []struct {
		name     string
		opts     Options
		wantFail []string
		mustNot  []string
	}{
		{name: "TestMissing", opts: Options{Mode: ModePlayback, Dir: dir},
			wantFail: []string{"no recording for TestMissing", "TestMissing.json", "WEBPUBSUB_TEST_MODE=record"}},
		{name: "TestCorrupt", opts: Options{Mode: ModePlayback, Dir: dir},
			wantFail: []string{"TestCorrupt.json is not a valid recording", "re-record"}},
		{name: "TestBadBase64", opts: Options{Mode: ModePlayback, Dir: dir},
			wantFail: []string{"interaction #1 request", "not valid base64"}},
		{name: "TestNoLive", opts: Options{Mode: ModeRecord, Dir: dir},
			wantFail: []string{"record mode needs Options.LiveConnectionString"}},
		{name: "TestEmptyLive", opts: Options{Mode: ModeLive, Dir: dir, LiveConnectionString: live(" ")},
			wantFail: []string{"empty connection string"}},
		{name: "TestBadLive", opts: Options{Mode: ModeRecord, Dir: dir, LiveConnectionString: live("Endpoint=ftp://h;AccessKey=" + liveKey)},
			wantFail: []string{"Options.LiveConnectionString: invalid connection string", "http or https"}, mustNot: []string{liveKey, "ftp://h"}},
		{name: "TestKeyAsSegment", opts: Options{Mode: ModeRecord, Dir: dir, LiveConnectionString: live("Endpoint=https://h;" + "secretwithoutequals")},
			wantFail: []string{"segment 2"}, mustNot: []string{"secretwithoutequals"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb := newFakeTB(t, tt.name)
			if tb.run(func(tb *fakeTB) { Start(tb, tt.opts) }) {
				t.Errorf("Start returned instead of calling Fatalf")
			}
			tb.mustFailWith(t, tt.wantFail...)
			for _, s := range tt.mustNot {
				if strings.Contains(tb.allErrors(), s) {
					t.Errorf("failure reveals %q: %s", s, tb.allErrors())
				}
			}
		})
	}
}

func TestLiveConnectionStringMaySkip(t *testing.T) {
	tb := newFakeTB(t, "TestSkip")
	called := false
	tb.run(func(tb *fakeTB) {
		Start(tb, Options{Mode: ModeLive, LiveConnectionString: func(tb testing.TB) string {
			called = true
			tb.Skip("no live service")
			return ""
		}})
	})
	tb.mustPass(t)
	if !called || !tb.skipped {
		t.Errorf("LiveConnectionString called=%v, test skipped=%v; want both", called, tb.skipped)
	}
}

func TestRecordOnlyWritesPassingTests(t *testing.T) {
	svc := newFakeService(t, "")
	tests := []struct {
		name      string
		mode      Mode
		fail      bool
		wantFile  bool
		wantCalls int64
	}{
		{name: "record, pass", mode: ModeRecord, wantFile: true, wantCalls: 1},
		{name: "record, fail", mode: ModeRecord, fail: true, wantFile: false, wantCalls: 1},
		{name: "live, pass", mode: ModeLive, wantFile: false, wantCalls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "nested", "recordings")
			before := svc.requests.Load()
			tb := newFakeTB(t, "TestWrite")
			tb.run(func(tb *fakeTB) {
				rec := Start(tb, Options{Mode: tt.mode, Dir: dir,
					LiveConnectionString: func(testing.TB) string { return svc.connectionString(liveKey) }})
				res := mustSend(tb, rec, rec.Endpoint(), roundTripCalls[0], "")
				if res.status != http.StatusAccepted {
					tb.Errorf("status %d", res.status)
				}
				if tt.fail {
					tb.Errorf("the test itself fails")
				}
			})
			_, err := os.Stat(filepath.Join(dir, "TestWrite.json"))
			if gotFile := err == nil; gotFile != tt.wantFile {
				t.Errorf("fixture written = %v, want %v (stat: %v)", gotFile, tt.wantFile, err)
			}
			if n := svc.requests.Load() - before; n != tt.wantCalls {
				t.Errorf("service got %d requests, want %d", n, tt.wantCalls)
			}
		})
	}
}

// TestAzcorePipeline drives the Recorder through a real azcore pipeline, as
// the service client does, with a credential-like policy and retries on.
func TestAzcorePipeline(t *testing.T) {
	svc := newFakeService(t, "")
	dir := t.TempDir()
	bearer := testJWT(t, "pipeline")
	run := func(mode Mode) (statuses []int, bodies []string, failures string) {
		tb := newFakeTB(t, "TestPipeline")
		tb.run(func(tb *fakeTB) {
			rec := Start(tb, Options{Mode: mode, Dir: dir,
				LiveConnectionString: func(testing.TB) string { return svc.connectionString(liveKey) }})
			pl := runtime.NewPipeline("recording-test", "v0.0.0",
				runtime.PipelineOptions{PerRetry: []policy.Policy{authPolicy(bearer)}},
				&policy.ClientOptions{Transport: rec})
			for _, c := range []call{roundTripCalls[4], roundTripCalls[5], {method: http.MethodPost, path: "/api/hubs/hub/unknown?x=1"}} {
				req, err := runtime.NewRequest(context.Background(), c.method, rec.Endpoint()+c.path)
				if err != nil {
					tb.Fatalf("NewRequest: %v", err)
				}
				if c.body != nil {
					if err := req.SetBody(streaming.NopCloser(bytes.NewReader(c.body)), c.contentType); err != nil {
						tb.Fatalf("SetBody: %v", err)
					}
				}
				resp, err := pl.Do(req)
				if err != nil {
					statuses = append(statuses, -1)
					bodies = append(bodies, err.Error())
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				statuses = append(statuses, resp.StatusCode)
				bodies = append(bodies, string(b))
			}
		})
		return statuses, bodies, tb.allErrors()
	}
	recStatus, recBodies, fails := run(ModeRecord)
	if fails != "" {
		t.Fatalf("record: %s", fails)
	}
	playStatus, playBodies, fails := run(ModePlayback)
	if fails != "" {
		t.Fatalf("playback: %s", fails)
	}
	if fmt.Sprint(recStatus) != fmt.Sprint(playStatus) || fmt.Sprint(recBodies) != fmt.Sprint(playBodies) {
		t.Errorf("playback %v %q, recorded %v %q", playStatus, playBodies, recStatus, recBodies)
	}
	if want := "[200 404 501]"; fmt.Sprint(recStatus) != want {
		t.Errorf("statuses %v, want %s", recStatus, want)
	}
	if n := svc.requests.Load(); n != 3 {
		t.Errorf("service got %d requests; retries or playback reached it", n)
	}
}

func authPolicy(token string) policy.Policy {
	return policyFunc(func(req *policy.Request) (*http.Response, error) {
		req.Raw().Header.Set("Authorization", "Bearer "+token)
		return req.Next()
	})
}

type policyFunc func(*policy.Request) (*http.Response, error)

func (f policyFunc) Do(req *policy.Request) (*http.Response, error) { return f(req) }

// TestMismatchIsNotRetried checks that azcore's retry policy gives up at once
// on a playback mismatch, so the failure is reported once and quickly.
func TestMismatchIsNotRetried(t *testing.T) {
	dir := t.TempDir()
	if err := writeFixture(filepath.Join(dir, "TestNoRetry.json"), &fixture{}); err != nil {
		t.Fatal(err)
	}
	tb := newFakeTB(t, "TestNoRetry")
	tb.run(func(tb *fakeTB) {
		rec := Start(tb, Options{Mode: ModePlayback, Dir: dir})
		pl := runtime.NewPipeline("recording-test", "v0.0.0", runtime.PipelineOptions{}, &policy.ClientOptions{Transport: rec})
		req, err := runtime.NewRequest(context.Background(), http.MethodGet, rec.Endpoint()+"/api/health")
		if err != nil {
			tb.Fatalf("NewRequest: %v", err)
		}
		if _, err := pl.Do(req); !errors.Is(err, ErrNoMatch) {
			tb.Errorf("pipeline error %v, want ErrNoMatch", err)
		}
	})
	tb.mustFailWith(t, "request #1 matches no unused interaction", "all 0 recorded interactions are used")
	if n := strings.Count(tb.allErrors(), "matches no unused interaction"); n != 1 {
		t.Errorf("mismatch reported %d times, want once (no retries)", n)
	}
}

func TestConcurrentUse(t *testing.T) {
	svc := newFakeService(t, "")
	dir := t.TempDir()
	const n = 8
	calls := make([]call, n)
	for i := range calls {
		calls[i] = call{method: http.MethodPost, path: fmt.Sprintf("/api/hubs/hub/echo?i=%d", i), contentType: "text/plain", body: []byte(fmt.Sprintf("message %d", i))}
	}
	for _, mode := range []Mode{ModeRecord, ModePlayback} {
		tb := newFakeTB(t, "TestConcurrent")
		tb.run(func(tb *fakeTB) {
			rec := Start(tb, Options{Mode: mode, Dir: dir,
				LiveConnectionString: func(testing.TB) string { return svc.connectionString(liveKey) }})
			var wg sync.WaitGroup
			for i, c := range calls {
				wg.Add(1)
				go func() {
					defer wg.Done()
					res, err := send(tb, rec, rec.Endpoint(), c, "")
					if err != nil || string(res.body) != string(c.body) {
						tb.Errorf("%s call %d: body %q, error %v", mode, i, res.body, err)
					}
				}()
			}
			wg.Wait()
		})
		tb.mustPass(t)
	}
}

func TestNilInputs(t *testing.T) {
	rec := Start(nil, Options{})
	if rec.ConnectionString() != FakeConnectionString {
		t.Errorf("nil-t Recorder connection string %q", rec.ConnectionString())
	}
	req, _ := http.NewRequest(http.MethodGet, FakeEndpoint, nil)
	if _, err := rec.Do(req); err == nil || !strings.Contains(err.Error(), "nil testing.TB") {
		t.Errorf("Do on a nil-t Recorder: %v", err)
	}
	var zero Recorder
	if _, err := zero.Do(req); err == nil || !strings.Contains(err.Error(), "not created by Start") {
		t.Errorf("Do on a zero Recorder: %v", err)
	}

	dir := t.TempDir()
	if err := writeFixture(filepath.Join(dir, "TestNil.json"), &fixture{}); err != nil {
		t.Fatal(err)
	}
	tb := newFakeTB(t, "TestNil")
	tb.run(func(tb *fakeTB) {
		rec := Start(tb, Options{Mode: ModePlayback, Dir: dir})
		if _, err := rec.Do(nil); err == nil {
			tb.Errorf("Do(nil) returned no error")
		}
		if _, err := rec.Do(&http.Request{Method: http.MethodGet}); err == nil {
			tb.Errorf("Do without URL returned no error")
		}
	})
	tb.mustPass(t)
}
