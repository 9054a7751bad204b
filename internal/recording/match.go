package recording

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"mime"
	"net/url"
	"sort"
	"strings"
	"unicode/utf8"
)

// ErrNoMatch is wrapped by the error a playback Recorder returns when a
// request matches no unused recorded interaction.
var ErrNoMatch = errors.New("recording: no recorded interaction matches the request")

// requestKey is the sanitized form of a request that playback compares.
type requestKey struct {
	method      string
	url         string // sanitized URL, for display
	path        string // escaped path
	query       string // canonical query: pairs stably sorted by key
	contentType string
	body        []byte
}

// parseRequestURL parses a recorded or sanitized request URL.
func parseRequestURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, errors.New("request URL is not a valid URL")
	}
	return u, nil
}

// newRequestKey builds the comparable form of a sanitized request.
func newRequestKey(method, rawURL, contentType string, body []byte) (requestKey, error) {
	u, err := parseRequestURL(rawURL)
	if err != nil {
		return requestKey{}, err
	}
	return requestKey{
		method:      strings.ToUpper(method),
		url:         rawURL,
		path:        u.EscapedPath(),
		query:       canonicalQuery(u.RawQuery),
		contentType: contentType,
		body:        body,
	}, nil
}

// canonicalQuery sorts the raw key=value pairs of a query by key, keeping the
// relative order of pairs with the same key, so that the order of distinct
// keys does not matter but the order of repeated keys does. Values are
// compared in their escaped form: the encoding on the wire is part of the
// contract.
func canonicalQuery(raw string) string {
	if raw == "" {
		return ""
	}
	pairs := strings.Split(raw, "&")
	keyOf := func(p string) string {
		k, _, _ := strings.Cut(p, "=")
		if dk, err := url.QueryUnescape(k); err == nil {
			return dk
		}
		return k
	}
	sort.SliceStable(pairs, func(i, j int) bool { return keyOf(pairs[i]) < keyOf(pairs[j]) })
	return strings.Join(pairs, "&")
}

// isJSONMediaType reports whether a Content-Type names JSON.
func isJSONMediaType(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return mt == "application/json" || mt == "text/json" || strings.HasSuffix(mt, "+json")
}

// sameMediaType compares the media types (type/subtype, case-insensitive) of
// two Content-Type values; parameters such as charset are ignored.
func sameMediaType(a, b string) bool {
	if a == b {
		return true
	}
	ma, _, errA := mime.ParseMediaType(a)
	mb, _, errB := mime.ParseMediaType(b)
	return errA == nil && errB == nil && ma == mb
}

// sameBody compares request bodies: semantically when both sides are JSON,
// bytewise otherwise.
func sameBody(recorded, actual requestKey) bool {
	if bytes.Equal(recorded.body, actual.body) {
		return true
	}
	if !isJSONMediaType(recorded.contentType) || !isJSONMediaType(actual.contentType) {
		return false
	}
	a, okA := decodeJSON(recorded.body)
	b, okB := decodeJSON(actual.body)
	return okA && okB && jsonEqual(a, b)
}

func decodeJSON(b []byte) (any, bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, false // trailing data
	}
	return v, true
}

// jsonEqual compares decoded JSON values; numbers compare by value, so 1,
// 1.0 and 1e0 are equal, and object key order does not matter.
func jsonEqual(a, b any) bool {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !jsonEqual(v, w) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !jsonEqual(x[i], y[i]) {
				return false
			}
		}
		return true
	case json.Number:
		y, ok := b.(json.Number)
		if !ok {
			return false
		}
		if x == y {
			return true
		}
		rx, okX := new(big.Rat).SetString(string(x))
		ry, okY := new(big.Rat).SetString(string(y))
		return okX && okY && rx.Cmp(ry) == 0
	default: // string, bool, nil
		return a == b
	}
}

// matchScore says how closely a recorded request resembles an actual one;
// matchAll means it matches.
const matchAll = 6

func matchScore(recorded, actual requestKey) int {
	score := 0
	if recorded.method == actual.method {
		score++
	}
	if recorded.path == actual.path {
		score += 2 // the path names the operation: weigh it most when choosing what to diff
	}
	if recorded.query == actual.query {
		score++
	}
	if sameMediaType(recorded.contentType, actual.contentType) {
		score++
	}
	if sameBody(recorded, actual) {
		score++
	}
	return score
}

// maxDisplayedBody bounds how much of a body a diff shows.
const maxDisplayedBody = 2048

func displayBody(b []byte) string {
	if len(b) == 0 {
		return "(empty)"
	}
	var s string
	if utf8.Valid(b) {
		s = fmt.Sprintf("%q", b)
	} else {
		s = "base64:" + base64.StdEncoding.EncodeToString(b)
	}
	if len(s) > maxDisplayedBody {
		s = s[:maxDisplayedBody] + fmt.Sprintf("... (%d bytes in all)", len(b))
	}
	return s
}

// diffRequests renders recorded against actual, one line per field, marking
// differing fields with "-" (recorded) and "+" (actual).
func diffRequests(recorded, actual requestKey) string {
	var b strings.Builder
	line := func(name, want, got string, same bool) {
		if same {
			fmt.Fprintf(&b, "  %-16s %s\n", name+":", got)
			return
		}
		fmt.Fprintf(&b, "- %-16s %s\n", name+":", want)
		fmt.Fprintf(&b, "+ %-16s %s\n", name+":", got)
	}
	line("method", recorded.method, actual.method, recorded.method == actual.method)
	line("url", recorded.url, actual.url, recorded.path == actual.path && recorded.query == actual.query)
	if recorded.path != actual.path {
		line("path", recorded.path, actual.path, false)
	}
	if recorded.query != actual.query {
		line("query (sorted)", recorded.query, actual.query, false)
	}
	line("content-type", recorded.contentType, actual.contentType, sameMediaType(recorded.contentType, actual.contentType))
	line("body", displayBody(recorded.body), displayBody(actual.body), sameBody(recorded, actual))
	return b.String()
}
