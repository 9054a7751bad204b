package recording

import (
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// rq and rs build fixture interactions by hand.
func rq(method, path, contentType, body string) recordedRequest {
	r := recordedRequest{Method: method, URL: FakeEndpoint + path, Body: body}
	if contentType != "" {
		r.Headers = http.Header{"Content-Type": {contentType}}
	}
	return r
}

func rs(status int, body string) recordedResponse {
	return recordedResponse{Status: status, Body: body, Headers: http.Header{"Content-Type": {"text/plain"}}}
}

// playbackFixture writes interactions as the fixture of a fake test named
// name and returns the directory.
func playbackFixture(t *testing.T, name string, its ...interaction) string {
	t.Helper()
	dir := t.TempDir()
	if err := writeFixture(filepath.Join(dir, fixtureFileName(name)), &fixture{Interactions: its}); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestPlaybackMatching(t *testing.T) {
	const sendPath = "/api/hubs/hub/:send?api-version=2024-12-01&filter=a&group=g1&group=g2"
	recorded := []interaction{
		{Request: rq("POST", sendPath, "application/json", `{"a":1,"b":[true,null,"x"]}`), Response: rs(202, "json")},
		{Request: rq("POST", "/api/hubs/hub/users/u%201/:send?api-version=2024-12-01", "text/plain; charset=utf-8", `{"a":1}`), Response: rs(202, "text")},
	}
	tests := []struct {
		name string
		call call
		// wantBody is the replayed body; empty means a mismatch is expected
		// and wantDiff lists what its report must contain.
		wantBody string
		wantDiff []string
	}{
		{name: "exact",
			call:     call{method: "POST", path: sendPath, contentType: "application/json", body: []byte(`{"a":1,"b":[true,null,"x"]}`)},
			wantBody: "json"},
		{name: "distinct query keys in another order",
			call:     call{method: "POST", path: "/api/hubs/hub/:send?group=g1&filter=a&group=g2&api-version=2024-12-01", contentType: "application/json", body: []byte(`{"a":1,"b":[true,null,"x"]}`)},
			wantBody: "json"},
		{name: "JSON body reformatted, keys reordered, number respelled",
			call:     call{method: "POST", path: sendPath, contentType: "application/json; charset=utf-8", body: []byte("{\n  \"b\": [true, null, \"x\"],\n  \"a\": 1.0\n}")},
			wantBody: "json"},
		{name: "content type parameters spelled differently",
			call:     call{method: "POST", path: "/api/hubs/hub/users/u%201/:send?api-version=2024-12-01", contentType: "text/plain;charset=UTF-8", body: []byte(`{"a":1}`)},
			wantBody: "text"},
		{name: "wrong method",
			call:     call{method: "PUT", path: sendPath, contentType: "application/json", body: []byte(`{"a":1,"b":[true,null,"x"]}`)},
			wantDiff: []string{"closest unused interaction is #1", "- method:          POST", "+ method:          PUT", "  body:            "}},
		{name: "wrong path",
			call:     call{method: "POST", path: "/api/hubs/other/:send?api-version=2024-12-01&filter=a&group=g1&group=g2", contentType: "application/json", body: []byte(`{"a":1,"b":[true,null,"x"]}`)},
			wantDiff: []string{"- path:            /api/hubs/hub/:send", "+ path:            /api/hubs/other/:send", "- url:", "+ url:             " + FakeEndpoint + "/api/hubs/other/"}},
		{name: "path escaped differently",
			call:     call{method: "POST", path: "/api/hubs/hub/users/u+1/:send?api-version=2024-12-01", contentType: "text/plain; charset=utf-8", body: []byte(`{"a":1}`)},
			wantDiff: []string{"closest unused interaction is #2", "- path:            /api/hubs/hub/users/u%201/:send", "+ path:            /api/hubs/hub/users/u+1/:send"}},
		{name: "wrong query value",
			call:     call{method: "POST", path: "/api/hubs/hub/:send?api-version=2024-12-01&filter=b&group=g1&group=g2", contentType: "application/json", body: []byte(`{"a":1,"b":[true,null,"x"]}`)},
			wantDiff: []string{"- query (sorted):  api-version=2024-12-01&filter=a&group=g1&group=g2", "+ query (sorted):  api-version=2024-12-01&filter=b&group=g1&group=g2"}},
		{name: "missing query key",
			call:     call{method: "POST", path: "/api/hubs/hub/:send?api-version=2024-12-01&group=g1&group=g2", contentType: "application/json", body: []byte(`{"a":1,"b":[true,null,"x"]}`)},
			wantDiff: []string{"- query (sorted):  api-version=2024-12-01&filter=a&group=g1&group=g2", "+ query (sorted):  api-version=2024-12-01&group=g1&group=g2"}},
		{name: "repeated query keys in another order",
			call:     call{method: "POST", path: "/api/hubs/hub/:send?api-version=2024-12-01&filter=a&group=g2&group=g1", contentType: "application/json", body: []byte(`{"a":1,"b":[true,null,"x"]}`)},
			wantDiff: []string{"+ query (sorted):  api-version=2024-12-01&filter=a&group=g2&group=g1"}},
		{name: "different JSON body",
			call:     call{method: "POST", path: sendPath, contentType: "application/json", body: []byte(`{"a":2,"b":[true,null,"x"]}`)},
			wantDiff: []string{`- body:            "{\"a\":1,\"b\":[true,null,\"x\"]}"`, `+ body:            "{\"a\":2,\"b\":[true,null,\"x\"]}"`}},
		{name: "text body is compared bytewise",
			call:     call{method: "POST", path: "/api/hubs/hub/users/u%201/:send?api-version=2024-12-01", contentType: "text/plain; charset=utf-8", body: []byte(`{ "a": 1 }`)},
			wantDiff: []string{`- body:            "{\"a\":1}"`, `+ body:            "{ \"a\": 1 }"`}},
		{name: "different content type",
			call:     call{method: "POST", path: sendPath, contentType: "text/plain", body: []byte(`{"a":1,"b":[true,null,"x"]}`)},
			wantDiff: []string{"- content-type:    application/json", "+ content-type:    text/plain"}},
		{name: "binary body shown as base64",
			call:     call{method: "POST", path: sendPath, contentType: "application/json", body: []byte{0xff, 0xfe}},
			wantDiff: []string{"+ body:            base64://4="}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := playbackFixture(t, "TestMatch", recorded...)
			tb := newFakeTB(t, "TestMatch")
			var got result
			var err error
			tb.run(func(tb *fakeTB) {
				rec := Start(tb, Options{Mode: ModePlayback, Dir: dir})
				got, err = send(tb, rec, rec.Endpoint(), tt.call, "")
			})
			if tt.wantBody != "" {
				if err != nil {
					t.Fatalf("no match: %v\n%s", err, tb.allErrors())
				}
				if string(got.body) != tt.wantBody {
					t.Errorf("replayed %q, want %q", got.body, tt.wantBody)
				}
				// The other interaction is unused, which must fail the test.
				tb.mustFailWith(t, "1 of 2 recorded interactions", "were never requested")
				return
			}
			if !errors.Is(err, ErrNoMatch) {
				t.Errorf("Do error = %v, want one wrapping ErrNoMatch", err)
			}
			tb.mustFailWith(t, append([]string{"request #1 matches no unused interaction", "(- recorded, + actual)", "WEBPUBSUB_TEST_MODE=record"}, tt.wantDiff...)...)
			if strings.Contains(tb.allErrors(), "were never requested") {
				t.Errorf("unused interactions reported on top of the mismatch:\n%s", tb.allErrors())
			}
		})
	}
}

func TestPlaybackSequence(t *testing.T) {
	get := rq("GET", "/api/hubs/hub/users/u/groups?api-version=2024-12-01", "", "")
	other := rq("GET", "/api/health", "", "")
	dir := playbackFixture(t, "TestSequence",
		interaction{Request: get, Response: rs(200, "first")},
		interaction{Request: other, Response: rs(200, "health")},
		interaction{Request: get, Response: rs(503, "second")},
	)
	tb := newFakeTB(t, "TestSequence")
	var bodies []string
	var statuses []int
	var lastErr error
	tb.run(func(tb *fakeTB) {
		rec := Start(tb, Options{Mode: ModePlayback, Dir: dir})
		c := call{method: "GET", path: "/api/hubs/hub/users/u/groups?api-version=2024-12-01"}
		for range 2 {
			res := mustSend(tb, rec, rec.Endpoint(), c, "")
			bodies = append(bodies, string(res.body))
			statuses = append(statuses, res.status)
		}
		_, lastErr = send(tb, rec, rec.Endpoint(), c, "")
		// The health check, recorded between the two, is still available.
		res := mustSend(tb, rec, rec.Endpoint(), call{method: "GET", path: "/api/health"}, "")
		bodies = append(bodies, string(res.body))
	})
	if strings.Join(bodies, ",") != "first,second,health" || statuses[0] != 200 || statuses[1] != 503 {
		t.Errorf("replayed %v %v, want [first second health] [200 503]", bodies, statuses)
	}
	if !errors.Is(lastErr, ErrNoMatch) {
		t.Errorf("third identical request: error %v, want ErrNoMatch", lastErr)
	}
	tb.mustFailWith(t, "request #3 matches no unused interaction", "closest unused interaction is #2", "- path:            /api/health")
}

func TestUnusedInteractionFails(t *testing.T) {
	tests := []struct {
		name     string
		requests []call
		wantFail []string
	}{
		{name: "none used", wantFail: []string{"2 of 2 recorded interactions", "#1 GET " + FakeEndpoint + "/a", "#2 DELETE " + FakeEndpoint + "/b"}},
		{name: "second unused", requests: []call{{method: "GET", path: "/a"}}, wantFail: []string{"1 of 2 recorded interactions", "#2 DELETE " + FakeEndpoint + "/b"}},
		{name: "all used", requests: []call{{method: "DELETE", path: "/b"}, {method: "GET", path: "/a"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := playbackFixture(t, "TestUnused",
				interaction{Request: rq("GET", "/a", "", ""), Response: rs(200, "a")},
				interaction{Request: rq("DELETE", "/b", "", ""), Response: rs(204, "")},
			)
			tb := newFakeTB(t, "TestUnused")
			tb.run(func(tb *fakeTB) {
				rec := Start(tb, Options{Mode: ModePlayback, Dir: dir})
				for _, c := range tt.requests {
					mustSend(tb, rec, rec.Endpoint(), c, "")
				}
			})
			if tt.wantFail == nil {
				tb.mustPass(t)
				return
			}
			tb.mustFailWith(t, tt.wantFail...)
		})
	}
}

func TestCanonicalQuery(t *testing.T) {
	tests := []struct{ a, b string }{
		{"", ""},
		{"a=1&b=2", "b=2&a=1"},
		{"role=x&userId=u&role=y", "userId=u&role=x&role=y"},
		{"f%69lter=1&a=2", "a=2&f%69lter=1"},
	}
	for _, tt := range tests {
		if canonicalQuery(tt.a) != canonicalQuery(tt.b) {
			t.Errorf("canonicalQuery(%q) = %q, canonicalQuery(%q) = %q; want equal", tt.a, canonicalQuery(tt.a), tt.b, canonicalQuery(tt.b))
		}
	}
	different := []struct{ a, b string }{
		{"role=x&role=y", "role=y&role=x"},
		{"a=%27x%27", "a='x'"},
		{"a=1", "a=1&a=1"},
	}
	for _, tt := range different {
		if canonicalQuery(tt.a) == canonicalQuery(tt.b) {
			t.Errorf("canonicalQuery(%q) == canonicalQuery(%q) = %q; want different", tt.a, tt.b, canonicalQuery(tt.a))
		}
	}
}

func TestJSONEqual(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{`{"a":1,"b":2}`, `{"b":2,"a":1}`, true},
		{`1`, `1.0`, true},
		{`1e2`, `100`, true},
		{`12345678901234567890`, `12345678901234567891`, false},
		{`[1,2]`, `[2,1]`, false},
		{`{"a":null}`, `{}`, false},
		{`"x"`, `"x"`, true},
		{`"1"`, `1`, false},
		{`{"a":[{"b":true}]}`, `{"a":[{"b":false}]}`, false},
	}
	for _, tt := range tests {
		a, okA := decodeJSON([]byte(tt.a))
		b, okB := decodeJSON([]byte(tt.b))
		if !okA || !okB {
			t.Fatalf("decodeJSON(%q/%q) failed", tt.a, tt.b)
		}
		if got := jsonEqual(a, b); got != tt.want {
			t.Errorf("jsonEqual(%s, %s) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
	for _, bad := range []string{`{"a":1} x`, `{`, ``} {
		if _, ok := decodeJSON([]byte(bad)); ok {
			t.Errorf("decodeJSON(%q) accepted invalid JSON", bad)
		}
	}
}
