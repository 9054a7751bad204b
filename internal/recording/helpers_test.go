package recording

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// liveKey is the access key of the "live" test service. It contains
// characters that URL and JSON encoding change, to exercise every spelling.
const liveKey = "LiveKey/Plus+Equals=0123456789abcdefghij"

// testJWT signs a throw-away token that the sanitizer must catch.
func testJWT(t testing.TB, subject string) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": subject,
		"aud": "http://127.0.0.1/client/hubs/hub",
		"iat": time.Now().Unix(),
	})
	s, err := tok.SignedString([]byte("test-signing-key"))
	if err != nil {
		t.Fatalf("signing test JWT: %v", err)
	}
	return s
}

// fakeService is an httptest server that answers like a small part of the
// Web PubSub REST API, optionally under a path prefix. Every response carries
// volatile headers (Date, X-Ms-Request-Id) that differ between runs.
type fakeService struct {
	*httptest.Server
	prefix   string
	requests atomic.Int64
	// tokenFor is returned by :generateToken; set before use.
	token string
}

func newFakeService(t *testing.T, prefix string) *fakeService {
	t.Helper()
	s := &fakeService{prefix: prefix}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// endpoint is the service endpoint including its path prefix.
func (s *fakeService) endpoint() string { return s.URL + s.prefix }

func (s *fakeService) connectionString(key string) string {
	return "Endpoint=" + s.endpoint() + ";AccessKey=" + key + ";Version=1.0;"
}

func (s *fakeService) serve(w http.ResponseWriter, r *http.Request) {
	n := s.requests.Add(1)
	w.Header().Set("X-Ms-Request-Id", fmt.Sprintf("req-%d-%d", n, time.Now().UnixNano()))
	w.Header().Set("Date", time.Now().Add(time.Duration(n)*time.Hour).UTC().Format(http.TimeFormat))
	body, _ := io.ReadAll(r.Body)
	path, ok := strings.CutPrefix(r.URL.Path, s.prefix)
	if !ok {
		http.Error(w, "wrong prefix", http.StatusBadGateway)
		return
	}
	switch {
	case r.Method == http.MethodPost && path == "/api/hubs/hub/:send":
		w.Header().Set("Api-Supported-Versions", "2021-10-01, 2024-12-01")
		w.WriteHeader(http.StatusAccepted)
	case r.Method == http.MethodGet && path == "/api/hubs/hub/groups/g/connections":
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		next := ""
		if r.URL.Query().Get("continuationToken") == "" {
			next = fmt.Sprintf(`,"nextLink":"%s/api/hubs/hub/groups/g/connections?api-version=2024-12-01&continuationToken=page2"`, s.endpoint())
		}
		fmt.Fprintf(w, `{"value":[{"connectionId":"c%d","userId":"u1"}]%s}`, len(r.URL.RawQuery), next)
	case r.Method == http.MethodGet && path == "/api/hubs/hub/blob":
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write([]byte{0xff, 0x00, 0xfe, 0x80, 'b', 'i', 'n', 0xc3})
	case r.Method == http.MethodPost && path == "/api/hubs/hub/echo":
		w.Header().Set("Content-Type", r.Header.Get("Content-Type"))
		w.Write(body)
	case r.Method == http.MethodDelete && path == "/api/hubs/hub/connections/missing":
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Ms-Error-Code", "Error.Connection.NotExisted")
		w.Header().Set("Retry-After", "7")
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"code":"Error.Connection.NotExisted","message":"Connection does not exist."}`)
	case r.Method == http.MethodHead && path == "/api/hubs/hub/users/nobody":
		w.Header().Set("X-Ms-Error-Code", "Info.User.NotExisted")
		w.WriteHeader(http.StatusNotFound)
	case r.Method == http.MethodPost && path == "/api/hubs/hub/:generateToken":
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Location", s.endpoint()+"/client/hubs/hub?access_token="+s.token)
		fmt.Fprintf(w, `{"token":%q,"url":"%s/client/hubs/hub?access_token=%s"}`, s.token, s.endpoint(), s.token)
	default:
		http.Error(w, "no route for "+r.Method+" "+path, http.StatusNotImplemented)
	}
}

// call is one request a test sends through a Recorder.
type call struct {
	method      string
	path        string // path and query, relative to the endpoint
	contentType string
	accept      string
	body        []byte
}

// result is what a call got back.
type result struct {
	status int
	header http.Header
	body   []byte
}

// send builds the request the way an SDK pipeline would (with headers that
// must not be recorded) and sends it through rec.
func send(t testing.TB, rec *Recorder, endpoint string, c call, bearer string) (result, error) {
	t.Helper()
	var body io.Reader
	if c.body != nil {
		body = bytes.NewReader(c.body)
	}
	req, err := http.NewRequest(c.method, endpoint+c.path, body)
	if err != nil {
		t.Fatalf("building request: %v", err)
	}
	if c.contentType != "" {
		req.Header.Set("Content-Type", c.contentType)
	}
	if c.accept != "" {
		req.Header.Set("Accept", c.accept)
	}
	req.Header.Set("User-Agent", "azsdk-go-webpubsub/v0.0.0 (go1.99; linux)")
	req.Header.Set("X-Ms-Client-Request-Id", fmt.Sprintf("id-%d", time.Now().UnixNano()))
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := rec.Do(req)
	if err != nil {
		return result{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading response: %v", err)
	}
	return result{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// mustSend is send for requests that must succeed at the transport level.
func mustSend(t testing.TB, rec *Recorder, endpoint string, c call, bearer string) result {
	t.Helper()
	res, err := send(t, rec, endpoint, c, bearer)
	if err != nil {
		t.Fatalf("%s %s: %v", c.method, c.path, err)
	}
	return res
}
