package recording

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// fixture is the on-disk form of one test's recording.
type fixture struct {
	Interactions []interaction `json:"interactions"`
}

// interaction is one request and the response it got.
type interaction struct {
	Request  recordedRequest  `json:"request"`
	Response recordedResponse `json:"response"`
}

// recordedRequest is a sanitized request. Only recordedRequestHeaders are kept.
type recordedRequest struct {
	Method       string      `json:"method"`
	URL          string      `json:"url"`
	Headers      http.Header `json:"headers,omitempty"`
	Body         string      `json:"body"`
	BodyIsBase64 bool        `json:"bodyIsBase64,omitempty"`
}

// recordedResponse is a sanitized response without its volatile headers.
type recordedResponse struct {
	Status       int         `json:"status"`
	Headers      http.Header `json:"headers,omitempty"`
	Body         string      `json:"body"`
	BodyIsBase64 bool        `json:"bodyIsBase64,omitempty"`
}

// recordedRequestHeaders are the request headers a fixture keeps. All others
// (Authorization, User-Agent, x-ms-client-request-id, tracing headers) vary
// between runs or carry credentials.
var recordedRequestHeaders = []string{"Accept", "Content-Type"}

// volatileResponseHeaders are the response headers a fixture drops because
// they change on every run (dates, request ids, routing references), are
// recomputed on replay (Content-Length) or describe the connection rather
// than the response. Every other response header, such as Content-Type,
// x-ms-error-code, Retry-After or api-supported-versions, is kept.
var volatileResponseHeaders = []string{
	"Age",
	"Connection",
	"Content-Length",
	"Date",
	"Expires",
	"Keep-Alive",
	"Last-Modified",
	"Request-Id",
	"Set-Cookie",
	"Traceparent",
	"Transfer-Encoding",
	"X-Azure-Ref",
	"X-Cache",
	"X-Ms-Client-Request-Id",
	"X-Ms-Correlation-Request-Id",
	"X-Ms-Request-Id",
	"X-Msedge-Ref",
}

// encodeBody stores UTF-8 text as is and anything else as standard base64.
func encodeBody(b []byte) (body string, isBase64 bool) {
	if utf8.Valid(b) {
		return string(b), false
	}
	return base64.StdEncoding.EncodeToString(b), true
}

// decodeBody reverses encodeBody.
func decodeBody(body string, isBase64 bool) ([]byte, error) {
	if !isBase64 {
		return []byte(body), nil
	}
	b, err := base64.StdEncoding.DecodeString(body)
	if err != nil {
		return nil, fmt.Errorf("body flagged bodyIsBase64 is not valid base64: %w", err)
	}
	return b, nil
}

// fixtureFileName turns a test name into a safe file name: every byte other
// than an ASCII letter, digit, '-', '_' or '.' becomes '_', so subtest
// "TestX/a b" is stored as "TestX_a_b.json".
func fixtureFileName(testName string) string {
	b := []byte(testName)
	for i, c := range b {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_', c == '.':
		default:
			b[i] = '_'
		}
	}
	name := string(b)
	if strings.Trim(name, ".") == "" {
		name = "_" + name
	}
	return name + ".json"
}

// marshalFixture renders f deterministically: struct fields in declaration
// order, header names sorted, two-space indentation, no HTML escaping, and a
// final newline.
func marshalFixture(f *fixture) ([]byte, error) {
	if f.Interactions == nil {
		f.Interactions = []interaction{}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(f); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// loadFixture reads and validates a fixture file.
func loadFixture(path string) (*fixture, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f fixture
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%s is not a valid recording: %w", path, err)
	}
	for i, it := range f.Interactions {
		if it.Request.Method == "" || it.Request.URL == "" {
			return nil, fmt.Errorf("%s: interaction #%d has no request method or URL", path, i+1)
		}
		if it.Response.Status < 100 || it.Response.Status > 999 {
			return nil, fmt.Errorf("%s: interaction #%d has invalid status %d", path, i+1, it.Response.Status)
		}
		if _, err := decodeBody(it.Request.Body, it.Request.BodyIsBase64); err != nil {
			return nil, fmt.Errorf("%s: interaction #%d request: %w", path, i+1, err)
		}
		if _, err := decodeBody(it.Response.Body, it.Response.BodyIsBase64); err != nil {
			return nil, fmt.Errorf("%s: interaction #%d response: %w", path, i+1, err)
		}
		if _, err := parseRequestURL(it.Request.URL); err != nil {
			return nil, fmt.Errorf("%s: interaction #%d: %w", path, i+1, err)
		}
	}
	return &f, nil
}

// writeFixture writes f to path, creating parent directories.
func writeFixture(path string, f *fixture) error {
	data, err := marshalFixture(f)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}
